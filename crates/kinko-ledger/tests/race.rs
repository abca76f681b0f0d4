//! Concurrency: 8 workers (threads on both backends; processes on SQLite) ×
//! random requests against one ledger; then the invariants over the whole
//! audit log and the stored state.
//!
//! Counts: `KINKO_LEDGER_WORKERS` (8) × `KINKO_LEDGER_REQUESTS` (2,000).

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use kinko_ledger::{DecideError, Ledger, TimeSource};
use kinko_policy::{
    decide, Config, Decision, Event, EventKind, State, Timestamp, WithdrawalStatus,
};
use serde::Deserialize;

use crate::common::*;

/// Simulated time shared by threads and processes on this machine: the wall
/// clock sped up 1,000× (1 ms = 1 s), read inside the ledger's lock so it
/// only moves forward in commit order. 16,000 decisions span hours of
/// simulated windows.
fn fast_clock() -> TimeSource {
    TimeSource::Custom(Arc::new(|| {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp::from_unix(ms)
    }))
}

pub struct Tally {
    pub committed: u64,
    pub refused: u64,
}

/// One worker: `n` random requests, each decided in its own transaction.
pub fn worker(url: &str, seed: u64, n: u64, id_space: u64) -> Tally {
    let mut l = Ledger::open(url)
        .expect("open")
        .with_policy(policy())
        .with_time_source(fast_clock());
    let mut rng = Rng(seed);
    let mut tally = Tally {
        committed: 0,
        refused: 0,
    };
    for _ in 0..n {
        let asset = if rng.below(5) == 0 { "XEM" } else { "BTC" };
        // Ids are shared by all workers: the same id is requested by several.
        let id = format!("w{}", rng.below(id_space));
        let kind = match rng.below(20) {
            0..=1 => deposit(asset, 1 + rng.below(20_000_000)),
            2..=11 => {
                let dest = if asset == "XEM" && rng.below(2) == 0 {
                    "NXEMPARTNER".to_owned()
                } else {
                    format!("d{}", rng.below(5))
                };
                withdrawal(
                    asset,
                    &id,
                    &format!("u{}", rng.below(12)),
                    &dest,
                    1 + rng.below(6_000_000),
                )
            }
            12..=14 => EventKind::Confirmed {
                asset: asset.parse().unwrap(),
                id: id.parse().unwrap(),
            },
            15..=16 => EventKind::Failed {
                asset: asset.parse().unwrap(),
                id: id.parse().unwrap(),
            },
            _ => EventKind::Approval {
                asset: asset.parse().unwrap(),
                id: id.parse().unwrap(),
                approver: ["alice", "bob", "carol"][rng.below(3) as usize].into(),
            },
        };
        match l.decide(kind) {
            Ok(_) => tally.committed += 1,
            Err(DecideError::Refused(_) | DecideError::IdOfOtherAsset) => tally.refused += 1,
            Err(e) => panic!("worker {seed}: {e:?}"),
        }
    }
    tally
}

#[derive(Deserialize)]
struct Payload {
    event: Event,
    decision: Decision,
}

/// Every invariant the issue names, over the audit log and the stored state:
/// the audit log verifies; replayed serially through the pure engine it
/// gives every recorded decision and the stored state (books to the unit);
/// in every span of every window approved outflow ≤ the limit; no id is
/// approved twice; deposits − settled = hot + cold; reserved = Σ reserved.
pub fn check_invariants(db: &Db) -> Stats {
    let mut l = db.open();
    let summary = l.verify_audit().expect("audit chain verifies");
    let mut out = Vec::new();
    l.export_audit(&mut out).expect("export");
    let text = String::from_utf8(out).expect("utf-8");
    let config: Config = policy().config().clone();
    let mut replay = State::default();
    // asset -> [(time, id, user, amount)] of approvals.
    let mut approvals: BTreeMap<String, Vec<(i64, String, String, u64)>> = BTreeMap::new();
    let mut approved_ids: HashMap<String, u32> = HashMap::new();
    let mut deposits: HashMap<String, u64> = HashMap::new();
    let mut stats = Stats::default();
    for line in text.lines() {
        if serde_json::from_str::<kinko_ledger::audit::SignedHeadLine>(line).is_ok() {
            continue; // a signed head, after the records
        }
        let r: kinko_ledger::AuditRecord = serde_json::from_str(line).expect("record");
        if r.kind == "cosign" || r.kind == "refused" {
            continue; // not an engine event
        }
        let p: Payload = serde_json::from_str(&r.payload).expect("payload");
        let out = decide(&config, &mut replay, &p.event).expect("replay decides");
        assert_eq!(out.decision, p.decision, "replay of {}#{}", r.asset, r.seq);
        if let EventKind::Deposit { amount, .. } = &p.event.kind {
            *deposits.entry(r.asset.clone()).or_default() += amount.units();
        }
        match &p.decision {
            Decision::Denied { rule, .. } if rule.name() == "velocity" => {
                stats.velocity_denied += 1
            }
            Decision::Duplicate { .. } => stats.duplicates += 1,
            _ => {}
        }
        if let Decision::Approved { id } = &p.decision {
            stats.approved += 1;
            *approved_ids.entry(id.to_string()).or_default() += 1;
            let w = &replay.assets[r.asset.as_str()].withdrawal(id).unwrap();
            approvals.entry(r.asset.clone()).or_default().push((
                p.event.at.unix(),
                id.to_string(),
                w.user.to_string(),
                w.amount.units(),
            ));
        }
    }
    for (id, n) in &approved_ids {
        assert_eq!(*n, 1, "id {id} approved {n} times");
    }
    for (asset, stored) in l
        .assets()
        .unwrap()
        .iter()
        .map(|a| {
            let s = l.asset_state(a).unwrap().unwrap();
            (a.clone(), s)
        })
        .collect::<Vec<_>>()
    {
        let mem = &replay.assets[asset.as_str()];
        assert_eq!(
            (stored.hot(), stored.cold(), stored.reserved()),
            (mem.hot(), mem.cold(), mem.reserved()),
            "{asset} books"
        );
        assert_eq!(
            stored.withdrawals(),
            mem.withdrawals(),
            "{asset} withdrawals"
        );
        let settled: u64 = stored
            .withdrawals()
            .values()
            .filter(|w| w.status == WithdrawalStatus::Settled)
            .map(|w| w.amount.units())
            .sum();
        let reserved: u64 = stored
            .withdrawals()
            .values()
            .filter(|w| w.status == WithdrawalStatus::Reserved)
            .map(|w| w.amount.units())
            .sum();
        assert_eq!(
            deposits.get(&asset).copied().unwrap_or(0) - settled,
            stored.hot().units() + stored.cold().units(),
            "{asset} balance"
        );
        assert_eq!(reserved, stored.reserved(), "{asset} reserved");
        // Windows: every span (t - W, t] ending at an approval.
        let policy = config.asset(&asset).unwrap();
        let list = approvals.get(&asset).cloned().unwrap_or_default();
        for w in policy.windows() {
            let len = i64::from(w.duration().secs());
            let limit = w.limit().amount().unwrap();
            let mut by_scope: HashMap<&str, Vec<(i64, u64)>> = HashMap::new();
            for (at, _, user, amount) in &list {
                let key = if w.per_user() { user.as_str() } else { "" };
                by_scope.entry(key).or_default().push((*at, *amount));
            }
            for (scope, items) in by_scope {
                let mut lo = 0;
                let mut sum: u64 = 0;
                for hi in 0..items.len() {
                    sum += items[hi].1;
                    while items[lo].0 <= items[hi].0 - len {
                        sum -= items[lo].1;
                        lo += 1;
                    }
                    assert!(
                        sum <= limit,
                        "{asset} window {} scope {scope:?}: {sum} > {limit}",
                        w.duration()
                    );
                }
            }
        }
    }
    stats.records = summary.records;
    stats
}

/// What a run exercised.
#[derive(Debug, Default)]
pub struct Stats {
    pub records: u64,
    pub approved: u64,
    pub velocity_denied: u64,
    pub duplicates: u64,
}

impl Stats {
    /// The run reached the limits and repeated ids (else it proves little).
    fn assert_exercised(&self) {
        assert!(
            self.approved > 20 && self.velocity_denied > 10 && self.duplicates > 10,
            "{self:?}"
        );
    }
}

fn run_threads(db: &Db) {
    let workers = env_count("KINKO_LEDGER_WORKERS", 8);
    let n = env_count("KINKO_LEDGER_REQUESTS", 2_000);
    // Create the schema before the workers race to.
    drop(db.open());
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let url = db.url.clone();
            std::thread::spawn(move || worker(&url, 1 + i, n, workers * n / 4))
        })
        .collect();
    let mut committed = 0;
    for h in handles {
        committed += h.join().expect("worker").committed;
    }
    let stats = check_invariants(db);
    assert_eq!(stats.records, committed);
    stats.assert_exercised();
}

#[test]
fn threads_on_sqlite() {
    run_threads(&sqlite_in(true));
}

#[test]
fn threads_on_postgres() {
    // Durability of each commit is not what this test is about: skip the
    // per-commit WAL flush so the run stays short (isolation is unchanged).
    if let Some(db) = postgres_with("%20-csynchronous_commit%3Doff") {
        run_threads(&db);
    }
}

/// Child entry: a worker process (does nothing in a normal test run).
#[test]
fn child_worker() {
    let (Ok(url), Ok(seed)) = (
        std::env::var("KINKO_LEDGER_CHILD_WORKER_URL"),
        std::env::var("KINKO_LEDGER_CHILD_SEED"),
    ) else {
        return;
    };
    let n = env_count("KINKO_LEDGER_REQUESTS", 2_000);
    let workers = env_count("KINKO_LEDGER_WORKERS", 8);
    let tally = worker(&url, seed.parse().unwrap(), n, workers * n / 4);
    #[allow(clippy::print_stdout)]
    {
        println!("TALLY {}", tally.committed);
    }
}

#[test]
fn processes_on_sqlite() {
    let db = sqlite_in(true);
    drop(db.open());
    let workers = env_count("KINKO_LEDGER_WORKERS", 8);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..workers)
        .map(|i| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "race::child_worker",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("KINKO_LEDGER_CHILD_WORKER_URL", &db.url)
                .env("KINKO_LEDGER_CHILD_SEED", (100 + i).to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn worker process")
        })
        .collect();
    let mut committed = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "worker process failed");
        let text = String::from_utf8_lossy(&out.stdout);
        // libtest may print "test … ... " before it on the same line.
        let at = text.find("TALLY ").expect("tally");
        let n = text[at + 6..]
            .split_whitespace()
            .next()
            .expect("tally count");
        committed += n.parse::<u64>().unwrap();
    }
    let stats = check_invariants(&db);
    assert_eq!(stats.records, committed);
    stats.assert_exercised();
}
