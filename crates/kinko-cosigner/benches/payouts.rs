//! Issue #13: cosigning one batch of 500 payouts against 500 single cosigns,
//! measured in the same run; the time per payout of each, their ratio
//! (goal: the batch at least 20× less time per payout) and the batch's
//! linearity (per payout in a batch of 500 over per payout in a batch of
//! 100; about 1 when linear) are printed at the end.
//!
//! `cargo bench -p kinko-cosigner --bench payouts`
//!
//! Every case cosigns on a ledger of the same size: a SQLite file (WAL,
//! `synchronous = FULL`, the ledger's own setting) under the example set-up
//! of the cosigner's test fixture, its hot wallet funded with 4 × 5 BTC,
//! holding [`RESERVATIONS`] reservations requested through
//! `Authority::request_withdrawal` (approved, each to its own destination
//! with its own amount). That ledger is made once; every iteration opens
//! an `Authority` over a fresh copy of it (`VACUUM INTO`), and the PSBTs,
//! made by the hot wallet and signed by the exchange's hot key, are made
//! once too: only the cosign calls are timed.
//!
//! The cases (an iteration is all the cosigns of the case):
//! - `single/500`: 500 `cosign_withdrawal` calls, one PSBT each (the
//!   baseline);
//! - `batch/500`: one `cosign_payout` of the 500 reservations;
//! - `batch/100`: one `cosign_payout` of 100 of them.
//!
//! Each case's first iteration checks what was signed: the exchange's and
//! the cosigner's signatures make a transaction Bitcoin Core's interpreter
//! accepts (libbitcoinconsensus), every reservation paid by its output.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "../../../tests/criterion_estimate.rs"]
mod criterion_estimate;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bitcoin::psbt::Psbt;
use bitcoin::{Address, Network, ScriptBuf};
use common::{create_psbt, Fixture, POLICY};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use kinko_cosigner::{Authority, Setup};
use kinko_policy::Decision;
use kinko_wallet::XprvSigner;

/// Reservations in every case's ledger.
const RESERVATIONS: u32 = 500;
/// Issue #13: a batch's time per payout at most 1/20 of a single cosign's.
const GOAL_RATIO: f64 = 20.0;
/// Fee rate of every PSBT (sat/vB).
const RATE: u64 = 5;
const GROUP: &str = "payouts";

/// How a case cosigns its payouts.
#[derive(Clone, Copy)]
enum Mode {
    /// One `cosign_withdrawal` per reservation.
    Single,
    /// One `cosign_payout` of all of them.
    Batch,
}

/// The cases: mode, name, payouts.
const CASES: [(Mode, &str, u32); 3] = [
    (Mode::Single, "single", 500),
    (Mode::Batch, "batch", 500),
    (Mode::Batch, "batch", 100),
];

/// A distinct regtest P2WSH destination per `i` (outside every wallet of
/// the set-up).
fn dest(i: u32) -> Address {
    let mut script = vec![0x04];
    script.extend_from_slice(&i.to_be_bytes());
    script.extend_from_slice(&[0x75, 0x51]);
    Address::p2wsh(&ScriptBuf::from_bytes(script), Network::Regtest)
}

/// Reservation `i`'s id and amount (amounts differ, so each output is
/// matched by destination and amount).
fn reservation(i: u32) -> (String, u64) {
    (format!("w{i}"), 50_000 + u64::from(i))
}

/// The ledger every iteration starts from, and the PSBTs of every case.
struct Template {
    f: Fixture,
    /// Reservation `i`'s PSBT paying it alone.
    singles: Vec<Psbt>,
    /// The PSBT paying reservations `0..n`, for each batch size `n`.
    batches: Vec<(u32, Psbt)>,
}

impl Template {
    fn new() -> Self {
        let mut f = Fixture::new(POLICY);
        for i in 0..RESERVATIONS {
            let (id, amount) = reservation(i);
            let d = f
                .authority
                .request_withdrawal(&id, "bench", &dest(i).to_string(), amount)
                .expect("decided")
                .outcome
                .decision;
            assert!(matches!(d, Decision::Approved { .. }), "{id}: {d:?}");
        }
        let signed = |to: &[(Address, u64)]| {
            let to: Vec<(&Address, u64)> = to.iter().map(|(a, s)| (a, *s)).collect();
            let mut psbt = create_psbt(&f.hot, &f.utxos, &to, RATE, 0);
            f.hot.sign(&mut psbt, &f.exchange).expect("exchange signs");
            psbt
        };
        let pay = |i: u32| (dest(i), reservation(i).1);
        let singles = (0..RESERVATIONS).map(|i| signed(&[pay(i)])).collect();
        let batches = CASES
            .iter()
            .filter(|(m, _, _)| matches!(m, Mode::Batch))
            .map(|(_, _, n)| (*n, signed(&(0..*n).map(pay).collect::<Vec<_>>())))
            .collect();
        Template {
            f,
            singles,
            batches,
        }
    }

    /// An authority over a fresh copy of the template's ledger (and the
    /// folder holding it).
    fn fresh(&self) -> (Authority<XprvSigner>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("l.db");
        self.f
            .sql()
            .execute("VACUUM INTO ?1", [db.to_str().expect("utf-8 path")])
            .expect("copy the ledger");
        let clock = Arc::new(AtomicI64::new(self.f.now().unix()));
        let setup: &Setup = &self.f.setup;
        let mut a = common::open(setup, &format!("sqlite:{}", db.display()), &clock)
            .expect("open the copy");
        // As a running service's: its state read and its ledger written
        // (the copy's first commit makes its WAL file) before the clock runs.
        a.tick().expect("tick");
        (a, dir)
    }

    fn batch(&self, n: u32) -> &Psbt {
        &self.batches.iter().find(|(m, _)| *m == n).expect("made").1
    }

    /// The cosigned PSBT pays what it must and, with the exchange's
    /// signatures, passes Bitcoin Core's interpreter.
    fn check(&self, psbt: &Psbt, paid: &[usize], first: u32) {
        for (k, o) in paid.iter().enumerate() {
            let (_, amount) = reservation(first + k as u32);
            let out = &psbt.unsigned_tx.output[*o];
            assert_eq!(out.value.to_sat(), amount);
            assert_eq!(out.script_pubkey, dest(first + k as u32).script_pubkey());
        }
        self.f.verify(psbt.clone());
    }
}

/// Cosigns the case once on a fresh ledger; the time of the cosign calls.
fn run(t: &Template, mode: Mode, n: u32, check: bool) -> Duration {
    let (mut a, _dir) = t.fresh();
    let ids: Vec<String> = (0..n).map(|i| reservation(i).0).collect();
    match mode {
        Mode::Single => {
            let mut psbts: Vec<Psbt> = t.singles[..n as usize].to_vec();
            let start = Instant::now();
            let done: Vec<_> = ids
                .iter()
                .zip(psbts.iter_mut())
                .map(|(id, p)| a.cosign_withdrawal(id, p).expect("cosigned"))
                .collect();
            let e = start.elapsed();
            assert_eq!(done.len(), n as usize);
            assert!(done.iter().all(|d| !d.again && d.signatures > 0));
            if check {
                t.check(&psbts[0], &[done[0].payment.payment_output], 0);
            }
            e
        }
        Mode::Batch => {
            let mut psbt = t.batch(n).clone();
            let start = Instant::now();
            let done = a.cosign_payout(&ids, &mut psbt).expect("cosigned");
            let e = start.elapsed();
            assert!(!done.again && done.signatures == psbt.inputs.len());
            assert_eq!(done.audit_seqs.1 - done.audit_seqs.0 + 1, u64::from(n));
            assert_eq!(done.payout.payment_outputs.len(), n as usize);
            if check {
                t.check(&psbt, &done.payout.payment_outputs, 0);
            }
            e
        }
    }
}

fn bench(c: &mut Criterion, t: &Template) {
    let mut g = c.benchmark_group(GROUP);
    // An iteration takes up to seconds: one warm-up, ten samples of as few
    // iterations as fit in 1 s (one, for the single case: criterion warns
    // that its samples take longer than asked).
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for (mode, name, n) in CASES {
        g.throughput(Throughput::Elements(u64::from(n)));
        let mut first = true;
        g.bench_function(BenchmarkId::new(name, n), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run(t, mode, n, std::mem::take(&mut first)))
                    .sum()
            })
        });
    }
    g.finish();
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let started = SystemTime::now();
    let load_before = loadavg();
    let made = Instant::now();
    let t = Template::new();
    let made = made.elapsed();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &t);
    c.final_summary();
    // criterion's mean per iteration, per payout.
    let per_payout = |name: &str, n: u32| {
        criterion_estimate::mean_ns(GROUP, &format!("{name}/{n}"), started)
            .map(|ns| ns / f64::from(n))
    };
    println!();
    println!(
        "ledger of {RESERVATIONS} reservations (made once in {:.1} s, copied for every iteration)",
        made.as_secs_f64()
    );
    let mut got = Vec::new();
    for (_, name, n) in CASES {
        let id = format!("{name}/{n}");
        let v = per_payout(name, n);
        match v {
            Some(ns) => println!(
                "{id:<11} {:>9.3} ms per payout ({:>8.1} ms per iteration of {n})",
                ns / 1e6,
                ns * f64::from(n) / 1e6
            ),
            None => println!("{id:<11} not run"),
        }
        got.push(v);
    }
    if let (Some(single), Some(batch)) = (got[0], got[1]) {
        let r = single / batch;
        println!(
            "single / batch per payout (500): {r:.1}x (goal >= {GOAL_RATIO}x: {})",
            if r >= GOAL_RATIO { "met" } else { "MISSED" }
        );
    }
    if let (Some(b500), Some(b100)) = (got[1], got[2]) {
        println!(
            "linearity, batch per payout 500 / 100: {:.2} (1 when proportional)",
            b500 / b100
        );
        // Two points of a line: the cost of one more payout in a batch, and
        // what a batch costs whatever its size.
        let (t500, t100) = (b500 * 500.0, b100 * 100.0);
        let marginal = (t500 - t100) / 400.0;
        println!(
            "batch as a line: {:.3} ms + {:.4} ms per payout",
            (t100 - 100.0 * marginal) / 1e6,
            marginal / 1e6
        );
    }
    println!("load average before: {load_before}; after: {}", loadavg());
}
