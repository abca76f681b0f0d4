//! Decisions per second in memory on one core: withdrawal requests against a
//! policy with three velocity windows (10m, 1h, 24h) and a 10,000-entry
//! allowlist, each decision planning its changes, applying them and
//! computing proposals.
//!
//! Baselines in the same run: the same decisions with no windows; a bare
//! `HashSet` lookup of the destination (with the engine's allowlist hasher)
//! plus a std `HashMap<String, _>` insert of the id (the least any engine
//! must do, with the standard library's map); and the same floor with the
//! engine's own id map, whose keys carry the hash computed when each id was
//! made. After criterion's report, the bench measures the four workloads
//! interleaved and prints decisions per second and the ratios.
//!
//! `cargo bench -p kinko-policy --bench decide`
//!
//! Instructions per decision (independent of load): with `DECIDE_ONCE=1` the
//! binary decides one batch with three windows and exits, so that
//! `DECIDE_ONCE=1 valgrind --tool=callgrind --toggle-collect='decide::run_engine'
//! target/release/deps/decide-<hash>` counts just the 10,000 decisions.

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use kinko_policy::{
    decide, Amount, Config, Event, EventKind, IdMap, State, Timestamp, Wallet, WithdrawalId,
};

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
            asset: "BTC".parse().unwrap(),
            wallet: Wallet::Hot,
            amount: Amount::from_units(1 << 60),
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
                    id: format!("w{n}").parse().expect("valid id"),
                    user: format!("user{}", n % 1_000).parse().expect("valid user"),
                    asset: "BTC".parse().unwrap(),
                    destination: dest((n * 7_919) % ENTRIES)
                        .parse()
                        .expect("valid destination"),
                    amount: Amount::from_units(10_000 + (n % 1_000) as u64),
                },
            )
        })
        .collect()
}

/// Returns the state so that dropping it is not timed.
#[inline(never)]
fn run_engine(config: &Config, mut state: State, events: &[Event]) -> (usize, State) {
    let mut approved = 0;
    for e in events {
        let out = decide(config, &mut state, e).expect("accepted");
        approved += usize::from(matches!(
            out.decision,
            kinko_policy::Decision::Approved { .. }
        ));
    }
    (approved, state)
}

/// The baseline's allowlist: the set the engine looks destinations up in
/// (foldhash over trusted keys, see `Allowlist`), so the floor uses the same
/// primitive.
type AllowSet = HashSet<String, foldhash::fast::RandomState>;

/// The least any engine must do for each withdrawal: look its destination
/// up in the allowlist and record its id once, in the map `M` (`insert`
/// returns whether the id was new). Returns the map so that dropping it is
/// not timed.
fn run_floor<M: Default>(
    allow: &AllowSet,
    events: &[Event],
    mut insert: impl FnMut(&mut M, &WithdrawalId, Amount) -> bool,
) -> (usize, M) {
    let mut seen = M::default();
    let mut ok = 0;
    for e in events {
        if let EventKind::Withdrawal {
            id,
            destination,
            amount,
            ..
        } = &e.kind
        {
            if allow.contains(destination.as_str()) && insert(&mut seen, id, *amount) {
                ok += 1;
            }
        }
    }
    (ok, seen)
}

/// The baseline: std's `HashMap<String, u64>` (SipHash over the text, a
/// copy of the id), as the bare standard library does it.
fn run_baseline(allow: &AllowSet, events: &[Event]) -> (usize, HashMap<String, u64>) {
    run_floor(allow, events, |m: &mut HashMap<String, u64>, id, a| {
        !m.contains_key(id.as_str()) && m.insert(id.as_str().to_owned(), a.units()).is_none()
    })
}

/// The floor with the engine's own map ([`IdMap`]: the keyed hash each id
/// computed when it was made, a shared, not copied, id).
fn run_idmap(allow: &AllowSet, events: &[Event]) -> (usize, IdMap<WithdrawalId, Amount>) {
    run_floor(
        allow,
        events,
        |m: &mut IdMap<WithdrawalId, Amount>, id, a| {
            !m.contains_key(id) && m.insert(id.clone(), a).is_none()
        },
    )
}

fn bench(c: &mut Criterion) {
    let with = config(true);
    let without = config(false);
    let state_with = funded(&with);
    let state_without = funded(&without);
    let allow: AllowSet = (0..ENTRIES).map(dest).collect();
    let events = batch(0);
    assert_eq!(run_engine(&with, state_with.clone(), &events).0, BATCH);

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
        b.iter_batched(
            || (),
            |()| black_box(run_baseline(&allow, &events)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("floor_idmap", |b| {
        b.iter_batched(
            || (),
            |()| black_box(run_idmap(&allow, &events)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // Interleaved A/B/C rounds, median per workload, in wall time and in
    // this thread's CPU time; then the ratios.
    let rounds = 21;
    let mut wall = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (k, (wall_k, cpu_k)) in wall.iter_mut().zip(cpu.iter_mut()).enumerate() {
            let s = if k == 0 {
                state_with.clone()
            } else {
                state_without.clone()
            };
            let (c0, w0) = (cpu_ns(), Instant::now());
            let out = match k {
                0 => black_box(run_engine(&with, s, &events)).0,
                1 => black_box(run_engine(&without, s, &events)).0,
                2 => {
                    drop(s);
                    black_box(run_baseline(&allow, &events)).0
                }
                _ => {
                    drop(s);
                    black_box(run_idmap(&allow, &events)).0
                }
            };
            wall_k.push(w0.elapsed().as_secs_f64());
            if let (Some(a), Some(b)) = (c0, cpu_ns()) {
                cpu_k.push(b.saturating_sub(a) as f64 / 1e9);
            }
            black_box(out);
        }
    }
    let med = |v: &mut Vec<f64>| {
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let per_s = |secs: f64| BATCH as f64 / secs;
    println!();
    println!(
        "decisions/s, median of {rounds} interleaved rounds of {BATCH} (wall | thread CPU time):"
    );
    let names = [
        "engine, 3 windows + 10k allowlist ",
        "engine, no windows + 10k allowlist",
        "baseline HashSet get + HashMap insert",
        "floor, ids' hashes cached (IdMap)",
    ];
    let mut w = [0.0; 4];
    let mut c = [0.0; 4];
    for k in 0..4 {
        w[k] = med(&mut wall[k]);
        c[k] = med(&mut cpu[k]);
        println!(
            "  {:<38} {:>10.0} | {:>10.0}",
            names[k],
            per_s(w[k]),
            per_s(c[k])
        );
    }
    println!(
        "  ratio engine(3 windows) / engine(no windows) time: {:.2} | {:.2}",
        w[0] / w[1],
        c[0] / c[1]
    );
    println!(
        "  ratio engine(3 windows) / baseline time:           {:.2} | {:.2}",
        w[0] / w[2],
        c[0] / c[2]
    );
    println!(
        "  ratio engine(3 windows) / IdMap floor time:        {:.2} | {:.2}",
        w[0] / w[3],
        c[0] / c[3]
    );
}

/// Nanoseconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`): on
/// a shared machine, wall time counts other processes' turns too. (Not
/// `/proc/thread-self/schedstat`: for a running thread it moves only at
/// scheduler ticks, 4 ms here, a third of one round.)
fn cpu_ns() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(t.tv_sec).ok()?;
    let nanos = u64::try_from(t.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

criterion_group!(benches, bench);

fn main() {
    if std::env::var_os("DECIDE_ONCE").is_some() {
        let with = config(true);
        let events = batch(0);
        let (approved, state) = run_engine(&with, funded(&with), &events);
        assert_eq!(approved, BATCH);
        drop(black_box(state));
        println!("{BATCH} decisions (3 windows, 10k allowlist)");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
