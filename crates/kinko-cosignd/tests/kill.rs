//! The `kinko-cosignd` binary killed under load. Three clients send random
//! requests (withdrawals, approvals, cosigns, confirms, failures, deposits,
//! hot-balance reports, retries) while the process is SIGKILLed at random
//! moments and started again on the same SQLite ledger, `KINKO_KILLS` times
//! (default 50). Every request answered 200 is logged with its body and
//! answer. After each kill, on the ledger file as the process left it: the
//! chain verifies with the audit key and holds every answer's record. After
//! each restart: the requests in flight at the kill, sent again, are
//! answered (decided once); the answers given since the previous restart
//! (and a sample of older ones), asked again, are the same bytes; a cosign
//! asked again signs the same transaction (`again`); `/v1/ready` answers.
//! At the end every logged request is asked again, and no reservation was
//! cosigned for two transactions.
//!
//! And SIGTERM: a request in flight (held on the ledger's write lock) is
//! answered after the signal, and the process exits 0; on PostgreSQL too
//! (skipped, with a note, when `DATABASE_URL` is unset).

mod binary;
mod calls;
#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use binary::Env;
use calls::Call;
use common::*;
use kinko_auth::{Action, UnixTime};
use kinko_client::api::{
    AmountRequest, CosignRequest, Decided, DepositRequest, IdRequest, SignedRequest, WalletName,
    WithdrawalRequest,
};
use kinko_client::{Client, ClientError};

/// A maximum of 3 BTC, approvals above 1 BTC, 500 BTC an hour (the
/// window is not what this test is about: approvals go on).
const KILL_POLICY: &str = r#"[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 300_000_000

[[assets.BTC.windows]]
duration = "1h"
limit = 50_000_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 100_000_000
"#;

/// What withdrawals ask (the last needs an approval).
const AMOUNTS: [u64; 4] = [1_000_000, 5_000_000, 20_000_000, 150_000_000];
const CLIENTS: u64 = 3;

/// What was answered, and what was asked without an answer.
#[derive(Default)]
struct Log {
    /// Every request answered 200, with its answer's bytes, in order.
    answers: Vec<(Call, Vec<u8>)>,
    by_id: HashMap<String, usize>,
    /// Cosigns answered 200: (withdrawal, PSBT, txid).
    cosigned: Vec<(String, String, String)>,
    /// Sent when the process was killed: no answer.
    unknown: Vec<Call>,
    unknown_cosigns: Vec<(String, String)>,
    /// Withdrawals asked: (id, destination, amount).
    withdrawals: Vec<(String, u8, u64)>,
    /// What must not happen, as it happened.
    errors: Vec<String>,
    refusals: u64,
}

impl Log {
    /// Logs `call`'s answer; an answer 200 to a request id answered before
    /// must be the first, byte for byte.
    fn answered(&mut self, call: &Call, d: &Decided) {
        let bytes = serde_json::to_vec(d).unwrap();
        match self.by_id.get(call.request_id()) {
            Some(&i) if self.answers[i].1 != bytes => self.errors.push(format!(
                "{}: answered {}, first {}",
                call.request_id(),
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&self.answers[i].1)
            )),
            Some(_) => {}
            None => {
                self.by_id
                    .insert(call.request_id().to_owned(), self.answers.len());
                self.answers.push((call.clone(), bytes));
            }
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Whether an error means the process went away (no answer).
fn gone(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_) | ClientError::Decode(_))
}

struct World<'a> {
    env: &'a Env,
    log: Mutex<Log>,
    next: AtomicU64,
    /// Two transactions for each destination and amount.
    psbts: HashMap<(u8, u64), [String; 2]>,
}

impl World<'_> {
    fn recent(&self, rng: &mut Rng) -> Option<(String, u8, u64)> {
        let log = self.log.lock().unwrap();
        let n = log.withdrawals.len() as u64;
        if n == 0 {
            return None;
        }
        Some(log.withdrawals[(n - 1 - rng.below(n.min(8))) as usize].clone())
    }

    /// One client until the process is gone or `stop`.
    fn client(&self, c: &Client, seed: u64, stop: &AtomicBool) {
        let mut rng = Rng(seed);
        while !stop.load(Ordering::SeqCst) {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            let rid = format!("k{n}");
            let roll = rng.below(100);
            let call = match roll {
                0..=34 => {
                    let d = 1 + rng.below(2) as u8;
                    let amount = AMOUNTS[rng.below(AMOUNTS.len() as u64) as usize];
                    let id = format!("w{n}");
                    self.log
                        .lock()
                        .unwrap()
                        .withdrawals
                        .push((id.clone(), d, amount));
                    Some(Call::Withdraw(WithdrawalRequest {
                        request_id: rid,
                        id,
                        user: format!("u{}", rng.below(3)),
                        destination: outside(d).to_string(),
                        amount_sat: amount,
                    }))
                }
                35..=49 => self.recent(&mut rng).map(|(id, d, amount)| {
                    let approver = if rng.below(2) == 0 { 0x11 } else { 0x12 };
                    let signed = Action::Approval {
                        setup_id: self.env.setup_id,
                        asset: "BTC".into(),
                        withdrawal_id: id.clone(),
                        destination: outside(d).to_string(),
                        amount,
                        expires: UnixTime::from_unix(now() + 3_600),
                    }
                    .sign(&person(approver));
                    Call::Approve(
                        id,
                        SignedRequest {
                            request_id: rid,
                            signed: serde_json::from_str(&signed.to_json()).unwrap(),
                        },
                    )
                }),
                50..=64 => {
                    if let Some((id, d, amount)) = self.recent(&mut rng) {
                        let psbt = self.psbts[&(d, amount)][usize::from(rng.below(4) == 0)].clone();
                        match c.cosign_withdrawal(&id, &CosignRequest { psbt: psbt.clone() }) {
                            Ok(done) => self
                                .log
                                .lock()
                                .unwrap()
                                .cosigned
                                .push((id, psbt, done.txid)),
                            Err(e) if gone(&e) => {
                                self.log.lock().unwrap().unknown_cosigns.push((id, psbt));
                                return;
                            }
                            Err(e) => self.refused(&e),
                        }
                    }
                    None
                }
                65..=74 => self
                    .recent(&mut rng)
                    .map(|(id, ..)| Call::Confirm(id, IdRequest { request_id: rid })),
                75..=79 => self.recent(&mut rng).map(|(id, ..)| calls::fail(id, rid)),
                80..=89 => Some(Call::Deposit(DepositRequest {
                    request_id: rid,
                    wallet: WalletName::Hot,
                    amount_sat: 100_000_000 * (1 + rng.below(5)),
                })),
                90..=94 => Some(Call::HotBalance(AmountRequest {
                    request_id: rid,
                    amount_sat: 1_000_000_000_000,
                })),
                _ => {
                    // A retry of an earlier answer, in the same life.
                    let earlier = {
                        let log = self.log.lock().unwrap();
                        let n = log.answers.len() as u64;
                        (n > 0).then(|| log.answers[rng.below(n) as usize].0.clone())
                    };
                    earlier
                }
            };
            let Some(call) = call else { continue };
            match call.send(c) {
                Ok(d) => self.log.lock().unwrap().answered(&call, &d),
                Err(e) if gone(&e) => {
                    self.log.lock().unwrap().unknown.push(call);
                    return;
                }
                Err(e) => self.refused(&e),
            }
        }
    }

    fn refused(&self, e: &ClientError) {
        let mut log = self.log.lock().unwrap();
        match e {
            ClientError::Api {
                status: 409 | 422,
                rule: Some(r),
                ..
            } if r != "refused" => log.refusals += 1,
            other => log.errors.push(other.to_string()),
        }
    }
}

/// On the ledger file as the process left it: the chain verifies with the
/// audit key and every answer is its record.
fn check_ledger(env: &Env, log: &Log) -> usize {
    let mut ledger = kinko_ledger::Ledger::open_existing(&env.ledger_url()).unwrap();
    ledger
        .verify_audit_with_key(&env.audit)
        .expect("the chain verifies with the audit key");
    let records = ledger.audit_records("BTC", 0, u32::MAX).unwrap();
    for (call, bytes) in &log.answers {
        let d: Decided = serde_json::from_slice(bytes).unwrap();
        let r = records
            .get((d.audit_seq - 1) as usize)
            .unwrap_or_else(|| panic!("{}: record {} is gone", call.request_id(), d.audit_seq));
        assert_eq!(r.hash, d.audit_hash, "{}", call.request_id());
    }
    records.len()
}

/// After a restart: what was in flight is answered once; answers given
/// from `since` on (and every `sample`-th older one) are given again.
fn check_answers(c: &Client, log: &mut Log, since: usize, sample: usize) {
    c.ready().expect("ready after a restart");
    for call in std::mem::take(&mut log.unknown) {
        match call.send(c) {
            Ok(d) => log.answered(&call, &d),
            Err(ClientError::Api {
                status: 422,
                rule: Some(r),
                ..
            }) if r != "refused" => {}
            Err(e) => panic!(
                "{} in flight at the kill, sent again: {e}",
                call.request_id()
            ),
        }
    }
    for (id, psbt) in std::mem::take(&mut log.unknown_cosigns) {
        match c.cosign_withdrawal(&id, &CosignRequest { psbt: psbt.clone() }) {
            Ok(done) => log.cosigned.push((id, psbt, done.txid)),
            Err(ClientError::Api { status: 422, .. }) => {}
            Err(e) => panic!("cosign of {id} in flight at the kill, sent again: {e}"),
        }
    }
    for (i, (call, first)) in log.answers.iter().enumerate() {
        if i < since && i % sample != 0 {
            continue;
        }
        let d = call
            .send(c)
            .unwrap_or_else(|e| panic!("{} asked again: {e}", call.request_id()));
        assert_eq!(
            serde_json::to_vec(&d).unwrap(),
            *first,
            "{} asked again",
            call.request_id()
        );
    }
}

#[test]
fn killed_at_random_moments_it_loses_no_answer() {
    let kills = env_u64("KINKO_KILLS", 50);
    let seed = env_u64("KINKO_KILL_SEED", 20_260_126);
    let started = Instant::now();
    let env = Env::new(KILL_POLICY);
    let mut psbts = HashMap::new();
    for d in 1..=2u8 {
        for amount in AMOUNTS {
            let to = outside(d);
            psbts.insert(
                (d, amount),
                // From disjoint coins: neither is a fee bump of the other
                // (issue #13), so at most one is ever cosigned.
                [
                    env.psbt_from(0..2, &to, amount, 5, 0),
                    env.psbt_from(2..4, &to, amount, 6, 1),
                ],
            );
        }
    }
    let world = World {
        env: &env,
        log: Mutex::new(Log::default()),
        next: AtomicU64::new(0),
        psbts,
    };
    let mut daemon = env.start();
    let fund = Call::Deposit(DepositRequest {
        request_id: "fund".into(),
        wallet: WalletName::Hot,
        amount_sat: 2_000_000_000,
    });
    let d = fund.send(&env.client(&daemon.url)).unwrap();
    world.log.lock().unwrap().answered(&fund, &d);

    let mut rng = Rng(seed);
    let mut since = 0;
    let (mut in_flight, mut records) = (0, 0);
    for life in 0..kills {
        let stop = AtomicBool::new(false);
        let wait = Duration::from_millis(100 + rng.below(600));
        std::thread::scope(|s| {
            for i in 0..CLIENTS {
                let c = env.client(&daemon.url);
                let (world, stop) = (&world, &stop);
                let seed = rng.next() ^ i;
                s.spawn(move || world.client(&c, seed, stop));
            }
            std::thread::sleep(wait);
            daemon.kill();
            stop.store(true, Ordering::SeqCst);
        });
        let mut log = world.log.lock().unwrap();
        assert!(log.errors.is_empty(), "life {life}: {:#?}", log.errors);
        records = check_ledger(&env, &log);
        in_flight += log.unknown.len() + log.unknown_cosigns.len();
        daemon = env.start();
        let c = env.client(&daemon.url);
        let now = log.answers.len();
        check_answers(&c, &mut log, since, 10);
        since = now;
    }

    // Everything, once more; one transaction per reservation.
    let mut log = world.log.lock().unwrap();
    let c = env.client(&daemon.url);
    check_answers(&c, &mut log, 0, 1);
    let mut txids: HashMap<&str, &str> = HashMap::new();
    for (id, psbt, txid) in &log.cosigned {
        let before = txids.insert(id, txid);
        assert!(before.is_none_or(|b| b == txid), "{id} cosigned twice");
        // Signed again while reserved; once settled, never again.
        match c.cosign_withdrawal(id, &CosignRequest { psbt: psbt.clone() }) {
            Ok(again) => assert_eq!((&again.txid, again.again), (txid, true), "{id}"),
            Err(e) => assert_eq!(e.rule(), Some("not-reserved"), "{id}: {e}"),
        }
    }
    daemon.kill();
    check_ledger(&env, &log);
    let approved = log
        .answers
        .iter()
        .filter(|(_, b)| serde_json::from_slice::<Decided>(b).unwrap().outcome == "approved")
        .count();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{kills} kills in {:?}: {} answers ({approved} approved), {} cosigns, {} refusals, \
             {in_flight} requests in flight at a kill, {records} records",
            started.elapsed(),
            log.answers.len(),
            log.cosigned.len(),
            log.refusals,
        );
    }
    // What the run is for happened (a few kills may land between requests).
    assert!(approved > 10 && !log.cosigned.is_empty());
    assert!(
        kills < 10 || in_flight > 0,
        "no request was in flight at a kill"
    );
}

/// SIGTERM while a request waits on the ledger's write lock: the request is
/// answered, then the process exits 0; the answer is the ledger's.
#[test]
fn sigterm_drains_requests_in_flight_and_exits_0() {
    let env = Env::new(KILL_POLICY);
    let mut daemon = env.start();
    let c = env.client(&daemon.url);
    let first = Call::Deposit(DepositRequest {
        request_id: "first".into(),
        wallet: WalletName::Hot,
        amount_sat: 100_000_000,
    });
    first.send(&c).unwrap();
    // Another writer holds the ledger: the next write waits for it.
    let db = rusqlite::Connection::open(&env.db).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let held = Call::Deposit(DepositRequest {
        request_id: "held".into(),
        wallet: WalletName::Hot,
        amount_sat: 200_000_000,
    });
    let answer = std::thread::scope(|s| {
        let t = s.spawn(|| held.send(&c));
        // Time for the request to reach the service and wait on the lock
        // (no assertion rests on it: a request that had not reached it
        // would fail below, loudly).
        std::thread::sleep(Duration::from_millis(500));
        daemon.terminate();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            daemon.child.try_wait().unwrap().is_none(),
            "it waits for the request in flight"
        );
        db.execute_batch("COMMIT").unwrap();
        t.join().unwrap()
    });
    let d = answer.expect("the request in flight is answered");
    assert_eq!(d.outcome, "recorded");
    let status = daemon.wait();
    assert_eq!(status.code(), Some(0), "{status}");
    // The answer is the ledger's: a restart answers it the same.
    let daemon = env.start();
    let again = held.send(&env.client(&daemon.url)).unwrap();
    assert_eq!(again, d);
    drop(daemon);
}

/// SIGTERM over a PostgreSQL ledger: the process exits 0 (its ledger's
/// client used to panic when dropped on an async thread: exit 101), and
/// the answer given before is the ledger's after a restart.
#[test]
fn sigterm_over_postgres_exits_0() {
    let Some(schema) = Schema::new("kinko_kill", "SIGTERM over PostgreSQL") else {
        return;
    };
    let mut env = Env::new(KILL_POLICY);
    env.ledger = schema.url.clone();
    let mut daemon = env.start();
    let call = Call::Deposit(DepositRequest {
        request_id: "pg".into(),
        wallet: WalletName::Hot,
        amount_sat: 100_000_000,
    });
    let d = call.send(&env.client(&daemon.url)).unwrap();
    daemon.terminate();
    let status = daemon.wait();
    assert_eq!(status.code(), Some(0), "{status}");
    let daemon = env.start();
    assert_eq!(call.send(&env.client(&daemon.url)).unwrap(), d);
    drop(daemon);
}

/// The log reader goes away (stderr closed): requests are still answered
/// (a log line that cannot be written used to panic the request's task:
/// the client saw the connection close) and SIGTERM still stops it, exit 0
/// (the shutdown's own log line panicked the task that stops the server).
#[test]
fn with_stderr_closed_it_answers_and_stops() {
    let env = Env::new(KILL_POLICY);
    let mut daemon = env.start_with(std::process::Stdio::piped(), "info");
    drop(daemon.child.stderr.take());
    let c = env.client(&daemon.url);
    let call = Call::Deposit(DepositRequest {
        request_id: "no-log".into(),
        wallet: WalletName::Hot,
        amount_sat: 100_000_000,
    });
    let d = call.send(&c).expect("answered with stderr closed");
    assert_eq!(call.send(&c).unwrap(), d);
    daemon.terminate();
    let status = daemon.wait();
    assert_eq!(status.code(), Some(0), "{status}");
}
