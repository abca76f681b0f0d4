//! Decisions per second in memory on one core: withdrawal requests against a
//! policy with three velocity windows (10m, 1h, 24h) and a 10,000-entry
//! allowlist, each decision planning its changes, applying them and
//! computing proposals.
//!
//! Baselines in the same run: the same decisions with no windows, and a bare
//! `HashSet` lookup of the destination plus a `HashMap` insert of the id (the
//! least any engine must do). After criterion's report, the bench measures
//! the three workloads interleaved and prints decisions per second and the
//! ratios.
//!
//! `cargo bench -p kinko-policy --bench decide`

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use kinko_policy::{decide, Config, Event, EventKind, State, Timestamp, Wallet};

const BATCH: usize = 10_000;
const ENTRIES: usize = 10_000;

fn dest(i: usize) -> String {
    format!("bc1qallowlisted{i:08}xxxxxxxxxxxxxxxxxxxxxx")
}

fn config(windows: bool) -> Config {
    let entries: Vec<String> = (0..ENTRIES).map(|i| format!("\"{}\"", dest(i))).collect();
    let w = if windows {
        r#"
[[assets.BTC.windows]]
duration = "10m"
limit = 1_000_000_000_000
[[assets.BTC.windows]]
duration = "1h"
limit = 2_000_000_000_000
[[assets.BTC.windows]]
duration = "24h"
limit = 5_000_000_000_000
"#
    } else {
        ""
    };
    let text = format!(
        "[assets.BTC]\nhot_cap_share = \"100%\"\nmax_withdrawal = 100_000_000\n{w}\n[assets.BTC.allowlist]\nmode = \"deny\"\nactivation_delay = \"24h\"\nentries = [{}]\n",
        entries.join(", ")
    );
    Config::from_toml_str(&text).expect("the bench policy is valid")
}

const T0: i64 = 1_767_225_600;

fn funded(config: &Config) -> State {
    let mut state = State::default();
    let ev = Event::new(
        Timestamp::from_unix(T0),
        EventKind::Deposit {
            asset: "BTC".into(),
            wallet: Wallet::Hot,
            amount: 1 << 60,
        },
    );
    decide(config, &mut state, &ev).expect("deposit");
    state
}

/// A batch of withdrawal requests, one every 100 ms of engine time (whole
/// seconds: ten per second), 1,000 users, destinations from the allowlist.
fn batch(round: usize) -> Vec<Event> {
    (0..BATCH)
        .map(|i| {
            let n = round * BATCH + i;
            Event::new(
                Timestamp::from_unix(T0 + 1 + (i / 10) as i64),
                EventKind::Withdrawal {
                    id: format!("w{n}"),
                    user: format!("user{}", n % 1_000),
                    asset: "BTC".into(),
                    destination: dest((n * 7_919) % ENTRIES),
                    amount: 10_000 + (n % 1_000) as u64,
                },
            )
        })
        .collect()
}

fn run_engine(config: &Config, mut state: State, events: &[Event]) -> usize {
    let mut approved = 0;
    for e in events {
        let out = decide(config, &mut state, e).expect("accepted");
        approved += usize::from(matches!(
            out.decision,
            kinko_policy::Decision::Approved { .. }
        ));
    }
    approved
}

fn run_baseline(allow: &HashSet<String>, events: &[Event]) -> usize {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut ok = 0;
    for e in events {
        if let EventKind::Withdrawal {
            id,
            destination,
            amount,
            ..
        } = &e.kind
        {
            if allow.contains(destination.as_str()) && !seen.contains_key(id.as_str()) {
                seen.insert(id.clone(), *amount);
                ok += 1;
            }
        }
    }
    ok
}

fn bench(c: &mut Criterion) {
    let with = config(true);
    let without = config(false);
    let state_with = funded(&with);
    let state_without = funded(&without);
    let allow: HashSet<String> = (0..ENTRIES).map(dest).collect();
    let events = batch(0);
    assert_eq!(run_engine(&with, state_with.clone(), &events), BATCH);

    let mut g = c.benchmark_group("decide");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("engine_3_windows_10k_allowlist", |b| {
        b.iter_batched(
            || state_with.clone(),
            |s| black_box(run_engine(&with, s, &events)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("engine_no_windows_10k_allowlist", |b| {
        b.iter_batched(
            || state_without.clone(),
            |s| black_box(run_engine(&without, s, &events)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("baseline_hashmap", |b| {
        b.iter(|| black_box(run_baseline(&allow, &events)))
    });
    g.finish();

    // Interleaved A/B/C rounds, median per workload, then the ratios.
    let rounds = 15;
    let mut t = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        let s = state_with.clone();
        let start = Instant::now();
        black_box(run_engine(&with, s, &events));
        t[0].push(start.elapsed().as_secs_f64());
        let s = state_without.clone();
        let start = Instant::now();
        black_box(run_engine(&without, s, &events));
        t[1].push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        black_box(run_baseline(&allow, &events));
        t[2].push(start.elapsed().as_secs_f64());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [a, b, c2] = &mut t;
    let (a, b, c2) = (med(a), med(b), med(c2));
    let per_s = |secs: f64| BATCH as f64 / secs;
    println!();
    println!("decisions/s, median of {rounds} interleaved rounds of {BATCH}:");
    println!("  engine, 3 windows + 10k allowlist: {:>12.0}", per_s(a));
    println!("  engine, no windows + 10k allowlist: {:>11.0}", per_s(b));
    println!("  baseline HashSet+HashMap:          {:>12.0}", per_s(c2));
    println!(
        "  ratio engine(3 windows) / engine(no windows) time: {:.2}",
        a / b
    );
    println!(
        "  ratio engine(3 windows) / baseline time:           {:.2}",
        a / c2
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
