//! Crash: a child process writes decisions (single and batched), with the
//! audit signer, and prints each one after its commit returned; the parent
//! kills it with SIGKILL at a random moment, then opens the ledger, verifies
//! the audit chain (and, with the audit key, that every chain's signed head
//! is its end: a head is never lost or ahead of its records) and checks that
//! every decision the child reported is stored as reported.
//!
//! Kills: `KINKO_LEDGER_KILLS` (200). SQLite on the ordinary disk with
//! `synchronous = FULL`; PostgreSQL too when `DATABASE_URL` is set
//! (`KINKO_LEDGER_PG_KILLS`, 50).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kinko_ledger::{DecideError, Ledger, Request};
use kinko_policy::Decision;

use crate::common::*;

fn status_of(d: &Decision) -> &'static str {
    match d {
        Decision::Approved { .. } => "reserved",
        Decision::Pending { .. } => "pending",
        Decision::Denied { .. } => "denied",
        _ => "other",
    }
}

/// Child entry (does nothing in a normal test run).
#[test]
fn child_writer() {
    let (Ok(url), Ok(run)) = (
        std::env::var("KINKO_LEDGER_CRASH_URL"),
        std::env::var("KINKO_LEDGER_CRASH_RUN"),
    ) else {
        return;
    };
    let mut l = Ledger::open(&url)
        .expect("open")
        .with_policy(policy())
        .with_audit_signer(audit_signer());
    let mut rng = Rng(run.parse::<u64>().unwrap() + 7);
    let report = |id: &str, d: &Decision| {
        #[allow(clippy::print_stdout)]
        {
            println!("COMMITTED {id} {}", status_of(d));
        }
    };
    let mut i = 0u64;
    loop {
        let mut reqs = vec![Request {
            at: None,
            evidence: None,
            kind: deposit("BTC", 1 + rng.below(3_000_000)),
        }];
        let batch = 1 + rng.below(4);
        for _ in 0..batch {
            i += 1;
            reqs.push(Request {
                at: None,
                evidence: None,
                kind: withdrawal(
                    "BTC",
                    &format!("k{run}_{i}"),
                    &format!("u{}", rng.below(50)),
                    "bc1q",
                    1 + rng.below(4_000_000),
                ),
            });
        }
        // Alternate: one transaction per decision, and group commits.
        let results: Vec<Result<_, DecideError>> = if rng.below(2) == 0 {
            reqs.into_iter().map(|r| l.decide(r.kind)).collect()
        } else {
            l.decide_batch(&reqs).expect("batch")
        };
        for r in results {
            let c = r.expect("decided");
            if let Some(id) = c.outcome.decision_id() {
                report(id, &c.outcome.decision);
            }
        }
    }
}

trait DecisionId {
    fn decision_id(&self) -> Option<&str>;
}

impl DecisionId for kinko_policy::Outcome {
    fn decision_id(&self) -> Option<&str> {
        match &self.decision {
            Decision::Approved { id }
            | Decision::Pending { id, .. }
            | Decision::Denied { id, .. } => Some(id),
            _ => None,
        }
    }
}

fn crash_loop(db: &Db, kills: u64) {
    drop(db.open());
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(42);
    let mut reported_total = 0;
    for run in 0..kills {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("KINKO_LEDGER_CRASH_URL", &db.url)
            .env("KINKO_LEDGER_CRASH_RUN", run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    // libtest may print "test … ... " before the first one.
                    let rest = &l[l.find("COMMITTED ")? + 10..];
                    let (id, st) = rest.split_once(' ')?;
                    Some((id.to_owned(), st.to_owned()))
                })
                .collect::<Vec<_>>()
        });
        // A random moment: sometimes before it opened the ledger, mostly
        // while it writes.
        std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let reported = reader.join().unwrap();
        reported_total += reported.len();

        let mut l = db.open();
        l.verify_audit()
            .unwrap_or_else(|e| panic!("run {run}: audit does not verify: {e}"));
        l.verify_audit_with_key(&audit_key())
            .unwrap_or_else(|e| panic!("run {run}: signed heads do not verify: {e}"));
        for (id, status) in &reported {
            let (_, w) = l
                .withdrawal(id)
                .unwrap()
                .unwrap_or_else(|| panic!("run {run}: committed {id} is missing"));
            // Nothing confirms or approves later in this test: the status is
            // the one reported.
            assert_eq!(w.status.name(), status, "run {run}: {id}");
        }
    }
    // Most children were killed while writing, not before they began.
    assert!(
        reported_total as u64 >= kills,
        "only {reported_total} decisions reported in {kills} runs"
    );
    // The whole history is one consistent serial execution.
    crate::race::check_invariants(db);
}

#[test]
fn sigkill_during_writes_on_sqlite() {
    crash_loop(&sqlite(), env_count("KINKO_LEDGER_KILLS", 200));
}

#[test]
fn sigkill_during_writes_on_postgres() {
    if let Some(db) = postgres() {
        crash_loop(&db, env_count("KINKO_LEDGER_PG_KILLS", 50));
    }
}
