//! Durable decisions per second, with the bare in-memory engine as the
//! baseline measured in the same run; the figures, the ratios to the engine
//! and to issue #6's goals (SQLite, one worker: 2,000/s; PostgreSQL, 8
//! workers: 1,000/s), this disk's sync latency and the load average are
//! printed at the end.
//!
//! `cargo bench -p kinko-ledger --bench decisions` (PostgreSQL cases need
//! `DATABASE_URL`; they make and drop their own schema).
//!
//! Every decision is a withdrawal request approved and reserved (three
//! velocity windows, a maximum, an approval threshold it stays below), made
//! durable before the call returns (SQLite `synchronous = FULL`; PostgreSQL
//! `synchronous_commit = on`).
//!
//! The cases:
//! - `engine_in_memory`: the bare engine, no storage (the baseline).
//! - `sqlite_1_worker_commit_each`: one worker, one transaction (one WAL
//!   sync) per decision: bounded by the disk's sync latency.
//! - `sqlite_1_worker_group_commit_32`: one worker that decides the requests
//!   waiting in its queue, 32 at a time, in one transaction
//!   (`decide_batch`: one sync for 32; each decision durable when the batch
//!   returns).
//! - `postgres_8_workers_1_asset`: 8 workers (threads, a connection each),
//!   every request for one asset: fully serialized by the asset's row lock,
//!   which each decision holds through its commit's WAL flush.
//! - `postgres_8_workers_8_assets`: 8 workers, requests spread over 8 assets,
//!   each worker serving one asset's queue: assets decide in parallel and
//!   PostgreSQL flushes concurrent commits together.
//! - `..._group_commit_32`: the same, each worker deciding 32 waiting
//!   requests per transaction.

#![allow(clippy::print_stdout, missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use kinko_ledger::{Ledger, Policy, Request, TimeSource};
use kinko_policy::{decide, Config, Event, EventKind, State, Timestamp, Wallet};

const WORKERS: usize = 8;
const BATCH: usize = 32;
/// Issue #6: SQLite with one worker.
const GOAL_SQLITE: f64 = 2_000.0;
/// Issue #6: PostgreSQL with 8 workers.
const GOAL_POSTGRES: f64 = 1_000.0;

/// The cases, their decisions per iteration and their goal.
const CASES: &[(&str, usize, Option<f64>)] = &[
    ("engine_in_memory", 1, None),
    ("sqlite_1_worker_commit_each", 1, Some(GOAL_SQLITE)),
    ("sqlite_1_worker_group_commit_32", BATCH, Some(GOAL_SQLITE)),
    ("postgres_8_workers_1_asset", WORKERS, Some(GOAL_POSTGRES)),
    ("postgres_8_workers_8_assets", WORKERS, Some(GOAL_POSTGRES)),
    (
        "postgres_8_workers_1_asset_group_commit_32",
        WORKERS * BATCH,
        Some(GOAL_POSTGRES),
    ),
    (
        "postgres_8_workers_8_assets_group_commit_32",
        WORKERS * BATCH,
        Some(GOAL_POSTGRES),
    ),
];

/// Microseconds per 4 KiB write + `fdatasync` in `dir` (the floor under a
/// commit-each case: one sync per decision per serialized stream).
fn sync_latency_us(dir: &std::path::Path) -> f64 {
    use std::io::Write;
    let path = dir.join("sync-probe");
    let mut f = std::fs::File::create(&path).expect("probe file");
    let block = [7u8; 4096];
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    drop(f);
    let _ = std::fs::remove_file(path);
    us
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn policy_text(assets: usize) -> String {
    let mut s = String::new();
    for i in 0..assets {
        s.push_str(&format!(
            r#"
[assets.A{i}]
hot_cap = 9_000_000_000_000_000
max_withdrawal = 1_000_000
[[assets.A{i}.windows]]
duration = "10m"
limit = 9_000_000_000_000_000
[[assets.A{i}.windows]]
duration = "1h"
limit = 9_000_000_000_000_000
[[assets.A{i}.windows]]
duration = "24h"
limit = 1_000_000_000
per_user = true
[assets.A{i}.approvals]
approvers = ["alice", "bob"]
quorum = 2
threshold = 500_000
"#
        ));
    }
    s
}

fn withdrawal(asset: usize, n: u64) -> EventKind {
    EventKind::Withdrawal {
        id: format!("w{asset}_{n}").parse().expect("id"),
        user: format!("u{}", n % 1_000).parse().expect("user"),
        asset: format!("A{asset}").parse().expect("asset"),
        destination: format!("dest{}", n % 97).parse().expect("destination"),
        amount: kinko_policy::Amount::from_units(1 + n % 100),
    }
}

fn deposit(asset: usize) -> EventKind {
    EventKind::Deposit {
        asset: format!("A{asset}").parse().expect("asset"),
        wallet: Wallet::Hot,
        amount: kinko_policy::Amount::from_units(4_000_000_000_000_000),
    }
}

/// Simulated time: one second per call, shared by the workers of a case.
fn clock() -> TimeSource {
    let c = Arc::new(AtomicI64::new(1_767_225_600));
    TimeSource::Custom(Arc::new(move || {
        Timestamp::from_unix(c.fetch_add(1, Ordering::Relaxed))
    }))
}

fn open(url: &str, assets: usize, time: &TimeSource) -> Ledger {
    let policy = Policy::from_toml_str(&policy_text(assets)).expect("bench policy");
    Ledger::open(url)
        .expect("open ledger")
        .with_policy(policy)
        .with_time_source(time.clone())
}

struct PgSchema {
    base: String,
    schema: String,
}

impl PgSchema {
    fn new(case: &str) -> Option<Self> {
        let base = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let schema = format!("kinko_bench_{}_{case}", std::process::id());
        let mut c = postgres::Client::connect(&base, postgres::NoTls).ok()?;
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .ok()?;
        Some(PgSchema { base, schema })
    }
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.schema)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decisions");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));

    // Baseline: the bare engine in memory.
    {
        let config = Config::from_toml_str(&policy_text(1)).expect("policy");
        let mut state = State::default();
        let mut t = 1_767_225_600;
        decide(
            &config,
            &mut state,
            &Event::new(Timestamp::from_unix(t), deposit(0)),
        )
        .expect("deposit");
        let mut n = 0u64;
        g.throughput(Throughput::Elements(1));
        g.bench_function("engine_in_memory", |b| {
            b.iter(|| {
                n += 1;
                t += 1;
                let e = Event::new(Timestamp::from_unix(t), withdrawal(0, n));
                decide(&config, &mut state, &e).expect("decide")
            })
        });
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("bench.db").display());
    let time = clock();
    let mut l = open(&url, 1, &time);
    l.decide(deposit(0)).expect("deposit");
    let mut n = 0u64;
    g.throughput(Throughput::Elements(1));
    g.bench_function("sqlite_1_worker_commit_each", |b| {
        b.iter(|| {
            n += 1;
            l.decide(withdrawal(0, n)).expect("decide")
        })
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("sqlite_1_worker_group_commit_32", |b| {
        b.iter(|| {
            let reqs: Vec<Request> = (0..BATCH)
                .map(|_| {
                    n += 1;
                    Request {
                        at: None,
                        evidence: None,
                        kind: withdrawal(0, n),
                    }
                })
                .collect();
            l.decide_batch(&reqs).expect("batch")
        })
    });
    drop(l);

    if std::env::var("DATABASE_URL").map_or(true, |u| u.is_empty()) {
        println!("DATABASE_URL is unset: PostgreSQL cases skipped");
    }
    for (name, assets, batch) in [
        ("postgres_8_workers_1_asset", 1usize, 1usize),
        ("postgres_8_workers_8_assets", WORKERS, 1),
        ("postgres_8_workers_1_asset_group_commit_32", 1, BATCH),
        (
            "postgres_8_workers_8_assets_group_commit_32",
            WORKERS,
            BATCH,
        ),
    ] {
        let Some(pg) = PgSchema::new(&format!("{assets}_{batch}")) else {
            continue;
        };
        let time = clock();
        let mut ledgers: Vec<Ledger> = (0..WORKERS)
            .map(|_| open(&pg.url(), assets, &time))
            .collect();
        for a in 0..assets {
            ledgers[0].decide(deposit(a)).expect("deposit");
        }
        let counter = AtomicI64::new(0);
        g.throughput(Throughput::Elements((WORKERS * batch) as u64));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (w, l) in ledgers.iter_mut().enumerate() {
                        let counter = &counter;
                        s.spawn(move || {
                            for _ in 0..iters {
                                let reqs: Vec<Request> = (0..batch)
                                    .map(|_| {
                                        let k = counter.fetch_add(1, Ordering::Relaxed) as u64;
                                        Request {
                                            at: None,
                                            evidence: None,
                                            kind: withdrawal(w % assets, k),
                                        }
                                    })
                                    .collect();
                                for r in l.decide_batch(&reqs).expect("batch") {
                                    r.expect("decided");
                                }
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
        drop(ledgers);
        drop(pg);
    }
    g.finish();
}

criterion_group!(benches, bench);

#[path = "../../../tests/criterion_estimate.rs"]
mod criterion_estimate;

/// criterion's mean estimate (ns per iteration) of a case of this bench, in
/// the run that started at `since`.
fn mean_ns(case: &str, since: std::time::SystemTime) -> Option<f64> {
    criterion_estimate::mean_ns("decisions", case, since)
}

fn main() {
    let started = std::time::SystemTime::now();
    let load_before = loadavg();
    let sync_us = tempfile::tempdir().map(|d| sync_latency_us(d.path()));
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    // Decisions per second, the ratio to the in-memory engine, to the goal.
    let base = mean_ns("engine_in_memory", started);
    println!(
        "\n{:<44} {:>11} {:>12} {:>9} {:>8}",
        "case", "decisions/s", "engine/case", "goal/s", "x goal"
    );
    for &(case, per_iter, goal) in CASES {
        let Some(ns) = mean_ns(case, started) else {
            println!("{case:<44} not run");
            continue;
        };
        let per_iter = per_iter as f64;
        let rate = per_iter * 1e9 / ns;
        let ratio = base.map_or(f64::NAN, |b| (ns / per_iter) / b);
        let (goal_text, x_goal) = match goal {
            Some(g) => (format!("{g:.0}"), format!("{:.2}", rate / g)),
            None => (String::new(), String::new()),
        };
        println!("{case:<44} {rate:>11.0} {ratio:>11.0}x {goal_text:>9} {x_goal:>8}");
    }
    if let Ok(us) = sync_us {
        println!(
            "4 KiB write + fdatasync in the temporary directory: {us:.0} us \
             (at most {:.0} commits/s for one serialized stream)",
            1e6 / us
        );
    }
    println!("load average before: {load_before}; after: {}", loadavg());
}
