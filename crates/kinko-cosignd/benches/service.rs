//! Decisions through the service against decisions by the in-process
//! `Authority` it wraps, measured in the same run; the time per decision of
//! both, their ratio (goal: at most 1.5×), the p50 and p99 latency of a
//! decision through the service and the p99 of cosigning a 2-input
//! withdrawal PSBT through it are printed at the end.
//!
//! `cargo bench -p kinko-cosignd --bench service` (a short run:
//! `-- --quick`, or `KINKO_BENCH_QUICK=1`).
//!
//! Both sides decide over the same kind of ledger: a SQLite file in WAL
//! mode with `synchronous = FULL` (the ledger's own setting), under the
//! example set-up of the cosigner's test fixture with a policy whose limits
//! approve every request. Every decision writes: a new withdrawal id, a
//! small amount, approved and reserved.
//!
//! The cases:
//! - `authority_in_process`: one thread calls `Authority::request_withdrawal`
//!   (the baseline).
//! - `service_8_clients`: 8 client threads, each with its own keep-alive
//!   connection (mutual TLS), post `POST /v1/withdrawals` as fast as they
//!   are answered; an iteration is one decision, timed from the first
//!   request to the last answer.
//! - `cosign_2_inputs`: one client cosigns a withdrawal PSBT spending two
//!   hot coins. Every cosign is of a fresh reservation: its withdrawal is
//!   requested through the service and its PSBT made and signed by the
//!   exchange before the cosign, untimed.
//!
//! Every decision and cosign of the run is timed on its own for the
//! percentiles (warm-up included). After the 8-client case, one client
//! makes 300 decisions one at a time on a fresh ledger: the latency of an
//! unloaded service.
//!
//! The ledger grows with every decision, and a decision's checks read all
//! of its withdrawals (a decision on a ledger of 5,000 costs several times
//! one on a ledger of 500): every sample of the two decision cases starts
//! on a fresh ledger (made, and the service started and its clients
//! connected, before the clock runs), so that both decide on ledgers of the
//! same sizes; the largest a sample ended with is printed beside the
//! figures.

#![allow(clippy::print_stdout, missing_docs)]

#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../../../tests/criterion_estimate.rs"]
mod criterion_estimate;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use common::{outside, Fixture, COIN};
use criterion::{Criterion, Throughput};
use kinko_client::api::{CosignRequest, WithdrawalRequest};
use kinko_client::Client;
use kinko_policy::{Decision, Wallet};
use support::Service;

/// Concurrent clients of the service.
const CLIENTS: usize = 8;
/// The service's time per decision over the in-process authority's.
const GOAL_RATIO: f64 = 1.5;
/// A decision's amount: small, far below every limit.
const AMOUNT: u64 = 10_000;
/// A cosigned withdrawal: more than one hot coin ([`COIN`], 5 BTC), so
/// two inputs.
const COSIGN_AMOUNT: u64 = 600_000_000;

/// The example set-up's policy with limits no bench request reaches:
/// every withdrawal is approved without approvals.
const POLICY: &str = r#"[assets.BTC]
hot_cap = 900_000_000_000_000
max_withdrawal = 1_000_000_000

[[assets.BTC.windows]]
duration = "24h"
limit = 900_000_000_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 1_000_000_000
"#;

const GROUP: &str = "cosigner";

/// A short run: `--quick` on the command line or `KINKO_BENCH_QUICK` set.
fn quick() -> bool {
    std::env::args().any(|a| a == "--quick")
        || std::env::var("KINKO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Latencies of one case, and the withdrawals its ledger ended with.
#[derive(Default)]
struct Observed {
    latencies: Mutex<Vec<Duration>>,
    withdrawals: AtomicU64,
}

impl Observed {
    fn push(&self, d: Duration) {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(d);
    }

    fn extend(&self, v: Vec<Duration>) {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(v);
    }

    /// The `q` quantile (nearest rank) and the number of samples.
    fn quantile(&self, q: f64) -> Option<(Duration, usize)> {
        let mut v = self
            .latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some((v[rank - 1], v.len()))
    }
}

fn withdrawal(id: String, destination: &str, amount_sat: u64) -> WithdrawalRequest {
    WithdrawalRequest {
        request_id: id.clone(),
        id,
        user: "bench".into(),
        destination: destination.to_owned(),
        amount_sat,
    }
}

fn expect_approved(outcome: &str, id: &str) {
    assert_eq!(outcome, "approved", "withdrawal {id} was not approved");
}

/// Withdrawals in the fixture's ledger.
fn withdrawals(f: &mut Fixture) -> u64 {
    f.authority
        .ledger()
        .asset_state("BTC")
        .expect("read the state")
        .map_or(0, |s| s.withdrawals().len() as u64)
}

fn configure(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(GROUP);
    let (warm, measure) = if quick() { (1, 3) } else { (2, 10) };
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(warm))
        .measurement_time(Duration::from_secs(measure));
    g
}

fn bench(c: &mut Criterion, obs: &[Observed; 4]) {
    let [local, served, cosigned, single] = obs;
    let mut g = configure(c);
    let destination = outside(1).to_string();
    g.throughput(Throughput::Elements(1));

    // Baseline: the authority in this process, one caller.
    g.bench_function("authority_in_process", |b| {
        b.iter_custom(|iters| {
            // A fresh ledger for every sample (see the header).
            let mut f = Fixture::new(POLICY);
            let mut lat = Vec::with_capacity(iters as usize);
            let start = Instant::now();
            for n in 0..iters {
                let id = format!("local-{n}");
                let t = Instant::now();
                let c = f
                    .authority
                    .request_withdrawal(&id, "bench", &destination, AMOUNT)
                    .expect("decided");
                lat.push(t.elapsed());
                assert!(
                    matches!(c.outcome.decision, Decision::Approved { .. }),
                    "{id}: {:?}",
                    c.outcome.decision
                );
            }
            let elapsed = start.elapsed();
            local.extend(lat);
            local
                .withdrawals
                .fetch_max(withdrawals(&mut f), Ordering::Relaxed);
            elapsed
        })
    });

    // The service, 8 clients with a connection each.
    g.bench_function("service_8_clients", |b| {
        b.iter_custom(|iters| {
            let mut f = Fixture::new(POLICY);
            let svc = Service::start(&f);
            let clients: Vec<Client> = (0..CLIENTS)
                .map(|_| support::client(&svc.url(), &svc.certs))
                .collect();
            for cl in &clients {
                // Each client's connection (TLS handshake) before the clock runs.
                cl.health().expect("health");
            }
            let counter = AtomicU64::new(0);
            let start = Instant::now();
            std::thread::scope(|s| {
                for (k, cl) in clients.iter().enumerate() {
                    let share =
                        iters / CLIENTS as u64 + u64::from((k as u64) < iters % CLIENTS as u64);
                    let (counter, destination) = (&counter, &destination);
                    s.spawn(move || {
                        let mut lat = Vec::with_capacity(share as usize);
                        for _ in 0..share {
                            let n = counter.fetch_add(1, Ordering::Relaxed);
                            let req = withdrawal(format!("svc-{n}"), destination, AMOUNT);
                            let t = Instant::now();
                            let d = cl.request_withdrawal(&req).expect("decided");
                            lat.push(t.elapsed());
                            expect_approved(&d.outcome, &req.id);
                        }
                        served.extend(lat);
                    });
                }
            });
            let elapsed = start.elapsed();
            served
                .withdrawals
                .fetch_max(withdrawals(&mut f), Ordering::Relaxed);
            svc.running.shutdown().expect("shutdown");
            elapsed
        })
    });

    // Unloaded: one client, one request at a time (outside criterion), on
    // a fresh ledger.
    {
        let f = Fixture::new(POLICY);
        let svc = Service::start(&f);
        for n in 0..if quick() { 50 } else { 300 } {
            let req = withdrawal(format!("one-{n}"), &destination, AMOUNT);
            let t = Instant::now();
            let d = svc.client.request_withdrawal(&req).expect("decided");
            single.push(t.elapsed());
            expect_approved(&d.outcome, &req.id);
        }
        svc.running.shutdown().expect("shutdown");
    }

    // Cosigning a 2-input withdrawal, each of a fresh reservation.
    {
        let mut f = Fixture::new(POLICY);
        // Hot coins on the books for every reservation this case makes (the
        // PSBTs spend the fixture's four coins again and again: the cosigner
        // checks the payment, not the coins' history).
        f.authority
            .report_deposit(Wallet::Hot, 100_000 * COIN)
            .expect("deposit");
        let svc = Service::start(&f);
        svc.client.health().expect("health");
        let mut n = 0u64;
        g.sample_size(10)
            .measurement_time(Duration::from_secs(if quick() { 2 } else { 5 }));
        g.bench_function("cosign_2_inputs", |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let id = format!("cosign-{n}");
                    let to = outside((n % 200) as u8 + 1);
                    let amount = COSIGN_AMOUNT + n;
                    let d = svc
                        .client
                        .request_withdrawal(&withdrawal(id.clone(), &to.to_string(), amount))
                        .expect("decided");
                    expect_approved(&d.outcome, &id);
                    let psbt = f.psbt(&[(&to, amount)], 5);
                    assert_eq!(psbt.inputs.len(), 2, "a 2-input PSBT");
                    let req = CosignRequest {
                        psbt: base64::engine::general_purpose::STANDARD.encode(psbt.serialize()),
                    };
                    let t = Instant::now();
                    let done = svc.client.cosign_withdrawal(&id, &req).expect("cosigned");
                    let e = t.elapsed();
                    assert!(!done.again && done.signatures == 2, "{done:?}");
                    timed += e;
                    cosigned.push(e);
                }
                timed
            })
        });
        cosigned
            .withdrawals
            .store(withdrawals(&mut f), Ordering::Relaxed);
        svc.running.shutdown().expect("shutdown");
    }
    g.finish();
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let started = SystemTime::now();
    let load_before = loadavg();
    let obs: [Observed; 4] = Default::default();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &obs);
    c.final_summary();
    let mean = |case: &str| criterion_estimate::mean_ns(GROUP, case, started);
    let (local_ns, served_ns) = (mean("authority_in_process"), mean("service_8_clients"));
    println!();
    for (case, ns, o) in [
        ("authority_in_process", local_ns, &obs[0]),
        ("service_8_clients", served_ns, &obs[1]),
    ] {
        match ns {
            Some(ns) => println!(
                "{case:<22} {:>8.3} ms per decision ({:>6.0} decisions/s; samples' ledgers up to {} withdrawals)",
                ns / 1e6,
                1e9 / ns,
                o.withdrawals.load(Ordering::Relaxed)
            ),
            None => println!("{case:<22} not run"),
        }
    }
    if let (Some(l), Some(s)) = (local_ns, served_ns) {
        let r = s / l;
        println!(
            "service / in-process: {r:.2}x (goal <= {GOAL_RATIO}x: {})",
            if r <= GOAL_RATIO { "met" } else { "MISSED" }
        );
    }
    for (what, o) in [
        ("decision in process", &obs[0]),
        ("decision through the service, 8 clients", &obs[1]),
        ("decision through the service, 1 client", &obs[3]),
        ("2-input cosign through the service", &obs[2]),
    ] {
        if let (Some((p50, n)), Some((p99, _))) = (o.quantile(0.50), o.quantile(0.99)) {
            println!(
                "{what:<42} p50 {:>10} p99 {:>10} ({n} timed)",
                ms(p50),
                ms(p99)
            );
        }
    }
    println!(
        "cosign case: each cosign of a fresh reservation; its ledger ended with {} withdrawals",
        obs[2].withdrawals.load(Ordering::Relaxed)
    );
    println!("load average before: {load_before}; after: {}", loadavg());
}
