//! The service under load. Eight clients, each on its own connections, send
//! random requests to one service — withdrawals of amounts some of which
//! are above the maximum, the approval threshold or what the windows and
//! the breaker leave; approvals; cosigns of reservations with either of two
//! transactions; confirms and failures; deposits and hot-balance reports
//! (some short, which freezes: the clients then lift the freeze with an
//! approver's vote); retries of earlier request ids with the same body and
//! with another. On SQLite and on PostgreSQL; then two services on one
//! PostgreSQL, raced with the same requests (the same withdrawal ids and
//! request ids, from four clients at each).
//!
//! Afterwards: every request answered 200 is answered the same, byte for
//! byte, by every service and every retry, and another body under its id is
//! refused `request-id-reused`; its audit record is in the chain; every
//! withdrawal answered `approved` is reserved or settled in the replayed
//! state; no reservation was cosigned for two transactions (in the answers
//! and in the chain); the engine's invariants (`kinko_policy::
//! check_invariants`: exact velocity windows, the breaker, the quorum, the
//! books, the loss bound) hold over the chain's events; the chain verifies
//! with the audit key; a fresh authority replays to the services' state;
//! `/v1/ready` answers.
//!
//! The PostgreSQL cases are skipped (with a note on stderr) when
//! `DATABASE_URL` is unset. Requests per client: `KINKO_LOAD_REQUESTS`
//! (default 500); seed: `KINKO_LOAD_SEED`.

mod calls;
#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use bitcoin::Address;
use calls::Call;
use common::*;
use kinko_auth::{Action, SetupId, UnixTime};
use kinko_client::api::{
    AmountRequest, CosignRequest, Decided, DepositRequest, IdRequest, SignedRequest, WalletName,
    WithdrawalRequest,
};
use kinko_client::{Client, ClientError};
use kinko_policy::{check_invariants, WithdrawalStatus};
use support::Service;

/// A maximum of 3 BTC, approvals above 1 BTC, 10 BTC an hour in all and
/// 4 BTC per user in 30 minutes; 40 BTC requested within an hour trips the
/// breaker.
const LOAD_POLICY: &str = r#"[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 300_000_000

[[assets.BTC.windows]]
duration = "1h"
limit = 1_000_000_000

[[assets.BTC.windows]]
duration = "30m"
limit = 400_000_000
per_user = true

[assets.BTC.breaker]
window = "1h"
limit = 4_000_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 100_000_000
"#;

/// What withdrawals ask (the last is above the maximum).
const AMOUNTS: [u64; 6] = [
    20_000_000,
    60_000_000,
    100_000_000,
    150_000_000,
    300_000_000,
    350_000_000,
];
const DESTINATIONS: usize = 3;
const USERS: u64 = 4;
/// The clock moves on by up to this many seconds before each request.
const STEP: u64 = 20;

fn mix(s: u64, k: u64) -> u64 {
    Rng(s.wrapping_mul(1_000_003) ^ k.wrapping_mul(7_919)).next()
}

/// Whether step `k` of stream `s` asks for a new withdrawal (a function of
/// both, so every client knows every stream's withdrawal ids).
fn is_withdrawal(s: u64, k: u64) -> bool {
    mix(s, k) % 100 < 30
}

fn wid(s: u64, k: u64) -> String {
    format!("w{s}-{k}")
}

/// What withdrawal `wid(s, k)` asks: (destination, amount, user).
fn ask(s: u64, k: u64) -> (usize, u64, String) {
    let mut r = Rng(mix(s, k) ^ 0x5eed);
    let d = r.below(DESTINATIONS as u64) as usize;
    let amount = AMOUNTS[r.below(AMOUNTS.len() as u64) as usize];
    (d, amount, format!("user-{}", r.below(USERS)))
}

/// What the clients share: what they send, and what they were answered.
struct World {
    setup_id: SetupId,
    clock: Arc<AtomicI64>,
    /// Every signed action expires then (fixed, so that two clients sending
    /// the same request send the same bytes).
    expires: UnixTime,
    destinations: Vec<Address>,
    /// Two transactions signed by the exchange (base64) for each
    /// destination and amount.
    psbts: HashMap<(usize, u64), [String; 2]>,
    streams: u64,
    seed: u64,
    /// The first answer 200 to each request id, as JSON bytes.
    answers: Mutex<HashMap<String, (Call, Vec<u8>)>>,
    /// (withdrawal id, answered approved by audit record n).
    approved: Mutex<Vec<(String, u64)>>,
    /// (withdrawal id, txid) of every cosign answered 200.
    cosigned: Mutex<Vec<(String, String)>>,
    /// Counts of (call, answer).
    tally: Mutex<BTreeMap<String, u64>>,
    /// What must not happen, as it happened.
    errors: Mutex<Vec<String>>,
}

impl World {
    fn count(&self, key: String) {
        *self.tally.lock().unwrap().entry(key).or_default() += 1;
    }

    fn error(&self, e: String) {
        self.errors.lock().unwrap().push(e);
    }

    fn total(&self, prefix: &str) -> u64 {
        self.tally
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    }

    /// An approver's signature, its aux randomness fixed by `aux`.
    fn sign(&self, action: Action, approver: u8, aux: u64) -> serde_json::Value {
        let mut a = [0u8; 32];
        a[..8].copy_from_slice(&aux.to_le_bytes());
        let s = action.sign_with_aux_rand(&person(approver), &a);
        serde_json::from_str(&s.to_json()).unwrap()
    }

    /// A withdrawal of stream `s` at or before step `k` (`None` when there
    /// is none yet): mostly the stream's latest few, sometimes another's.
    fn target(&self, rng: &mut Rng, s: u64, k: u64) -> Option<(u64, u64)> {
        let other = self.streams > 1 && rng.below(4) == 0;
        let t = if other {
            (s + 1 + rng.below(self.streams - 1)) % self.streams
        } else {
            s
        };
        let back = rng.below(6);
        let mut found = 0;
        for kk in (k.saturating_sub(60)..=k).rev() {
            if is_withdrawal(t, kk) && (t != s || kk < k) {
                if found == back {
                    return Some((t, kk));
                }
                found += 1;
            }
        }
        None
    }

    /// Sends `call` and checks its answer against the first answer 200 to
    /// its request id (from any client, any service).
    fn send(&self, c: &Client, call: &Call, what: &str) -> Option<Decided> {
        let rid = call.request_id();
        match call.send(c) {
            Ok(d) => {
                let bytes = serde_json::to_vec(&d).unwrap();
                let mut answers = self.answers.lock().unwrap();
                match answers.get(rid) {
                    Some((_, first)) if *first != bytes => self.error(format!(
                        "{what} {rid}: answered {}, first answered {}",
                        String::from_utf8_lossy(&bytes),
                        String::from_utf8_lossy(first)
                    )),
                    Some(_) => {}
                    None => {
                        answers.insert(rid.to_owned(), (call.clone(), bytes));
                        if d.outcome == "approved" {
                            if let Some(id) = call.withdrawal() {
                                self.approved
                                    .lock()
                                    .unwrap()
                                    .push((id.to_owned(), d.audit_seq));
                            }
                        }
                    }
                }
                drop(answers);
                let rule = d.rule.as_deref().map_or(String::new(), |r| format!(":{r}"));
                self.count(format!("{what} {}{rule}", d.outcome));
                Some(d)
            }
            Err(e) => {
                self.refusal(what, rid, &e);
                None
            }
        }
    }

    fn refusal(&self, what: &str, rid: &str, e: &ClientError) {
        match e {
            // Every refusal names its rule (a rule of the authority's, not
            // the catch-all `refused`).
            ClientError::Api {
                status: 409 | 422,
                rule: Some(rule),
                ..
            } if rule != "refused" => self.count(format!("{what} refused {rule}")),
            other => self.error(format!("{what} {rid}: {other}")),
        }
    }

    /// One client: `requests` random requests of stream `s` to `c`. Twin
    /// clients of a stream (`side` 0 and 1, at two services) send the same
    /// requests, except that side 1 sometimes cosigns the other
    /// transaction of a reservation.
    fn client(&self, c: &Client, s: u64, side: u64, requests: u64) {
        let mut rng = Rng(self.seed ^ (s + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut calls: Vec<Call> = Vec::new();
        for k in 0..requests {
            self.clock
                .fetch_add(rng.below(STEP) as i64, Ordering::SeqCst);
            let rid = format!("r{s}-{k}");
            let roll = if is_withdrawal(s, k) {
                0
            } else {
                30 + mix(s, k) % 70
            };
            // Drawn every step, used by some: twins stay in step.
            let (pick, which, flip, alter) = (
                self.target(&mut rng, s, k),
                usize::from(rng.below(4) == 0),
                rng.below(3) == 0,
                rng.below(3) == 0,
            );
            let amount = 50_000_000 * (1 + rng.below(6));
            let call = match roll {
                0..=29 => {
                    let (d, amount, user) = ask(s, k);
                    Some(Call::Withdraw(WithdrawalRequest {
                        request_id: rid,
                        id: wid(s, k),
                        user,
                        destination: self.destinations[d].to_string(),
                        amount_sat: amount,
                    }))
                }
                // The same withdrawal asked again under a new request id
                // (a duplicate, or the first ask when it is not in yet).
                30..=34 => pick.map(|(t, kk)| {
                    let (d, amount, user) = ask(t, kk);
                    Call::Withdraw(WithdrawalRequest {
                        request_id: rid,
                        id: wid(t, kk),
                        user,
                        destination: self.destinations[d].to_string(),
                        amount_sat: amount,
                    })
                }),
                35..=49 => pick.map(|(t, kk)| {
                    let (d, amount, _) = ask(t, kk);
                    let action = Action::Approval {
                        setup_id: self.setup_id,
                        asset: "BTC".into(),
                        withdrawal_id: wid(t, kk),
                        destination: self.destinations[d].to_string(),
                        amount,
                        expires: self.expires,
                    };
                    let approver = if which == 0 { 0x11 } else { 0x12 };
                    Call::Approve(
                        wid(t, kk),
                        SignedRequest {
                            request_id: rid,
                            signed: self.sign(action, approver, mix(s, k)),
                        },
                    )
                }),
                50..=69 => {
                    if let Some((t, kk)) = pick {
                        let (d, amount, _) = ask(t, kk);
                        let which = which ^ usize::from(side == 1 && flip);
                        let psbt = self.psbts[&(d, amount)][which].clone();
                        match c.cosign_withdrawal(&wid(t, kk), &CosignRequest { psbt }) {
                            Ok(done) => {
                                self.cosigned.lock().unwrap().push((done.id, done.txid));
                                self.count(format!("cosign signed again={}", done.again));
                            }
                            Err(e) => self.refusal("cosign", &wid(t, kk), &e),
                        }
                    }
                    None
                }
                70..=76 => {
                    pick.map(|(t, kk)| Call::Confirm(wid(t, kk), IdRequest { request_id: rid }))
                }
                77..=81 => pick.map(|(t, kk)| calls::fail(wid(t, kk), rid)),
                82..=88 => Some(Call::Deposit(DepositRequest {
                    request_id: rid,
                    wallet: WalletName::Hot,
                    amount_sat: amount,
                })),
                89..=90 => Some(Call::HotBalance(AmountRequest {
                    request_id: rid,
                    // A quarter of the reports are short: the asset freezes.
                    amount_sat: if which == 1 { 0 } else { 1_000_000_000_000 },
                })),
                _ => {
                    if !calls.is_empty() {
                        let earlier = calls[rng.below(calls.len() as u64) as usize].clone();
                        self.retry(c, &earlier, alter);
                    }
                    None
                }
            };
            let Some(call) = call else { continue };
            let d = self.send(c, &call, call.name());
            calls.push(call);
            let frozen = d.is_some_and(|d| {
                matches!(d.rule.as_deref(), Some("frozen" | "circuit_breaker"))
                    || matches!(
                        d.changes.last(),
                        Some(kinko_policy::Change::FreezeSet { .. })
                    )
            });
            if frozen {
                if let Some(call) = self.unfreeze(c) {
                    self.send(c, &call, "unfreeze");
                    calls.push(call);
                }
            }
        }
    }

    /// A retry of `call`: the first answer 200, byte for byte; another body
    /// under its id is refused.
    fn retry(&self, c: &Client, call: &Call, alter: bool) {
        let rid = call.request_id();
        let first = self.answers.lock().unwrap().get(rid).cloned();
        let Some((_, first)) = first else {
            // Never answered 200 (refused without a record): decided again.
            self.send(c, call, "retry-unanswered");
            return;
        };
        match call.send(c) {
            Ok(d) if serde_json::to_vec(&d).unwrap() == first => self.count("retry same".into()),
            other => self.error(format!(
                "retry {rid}: {other:?}, first answered {}",
                String::from_utf8_lossy(&first)
            )),
        }
        if alter {
            match call.altered().send(c) {
                Err(ClientError::Api {
                    status: 409,
                    rule: Some(r),
                    ..
                }) if r == "request-id-reused" => self.count("retry other-body 409".into()),
                other => self.error(format!("{rid} with another body: {other:?}")),
            }
        }
    }

    /// Alice's vote to lift the freeze in force, under a request id of the
    /// freeze (every client that sees it sends the same request).
    fn unfreeze(&self, c: &Client) -> Option<Call> {
        let st = c.state().ok()?;
        let at = st.frozen_since?;
        let action = Action::Unfreeze {
            setup_id: self.setup_id,
            asset: "BTC".into(),
            frozen_at: UnixTime::from_unix(at.unix()),
            expires: self.expires,
        };
        Some(Call::Unfreeze(SignedRequest {
            request_id: format!("unfreeze-{}", at.unix()),
            signed: self.sign(action, 0x11, at.unix() as u64),
        }))
    }
}

/// `services.len()` services over the fixture's ledger; `streams` streams
/// of requests, each sent by a client at every service.
fn load(f: Fixture, services: usize, streams: u64, what: &str) {
    let requests = env_u64("KINKO_LOAD_REQUESTS", 500);
    let seed = env_u64("KINKO_LOAD_SEED", 20_260_126);
    let started = Instant::now();
    let destinations: Vec<Address> = (1..=DESTINATIONS as u8).map(outside).collect();
    let b64 =
        |p: &bitcoin::psbt::Psbt| base64::engine::general_purpose::STANDARD.encode(p.serialize());
    let mut psbts = HashMap::new();
    for (d, dest) in destinations.iter().enumerate() {
        for amount in AMOUNTS {
            let to = [(dest, amount)];
            // Two transactions of the same payment: another fee, another
            // change index.
            let two = [
                // From disjoint coins: neither is a fee bump of the other
                // (issue #13), so at most one is ever cosigned.
                b64(&f.exchange_signs(create_psbt(&f.hot, &f.utxos[..2], &to, 5, 0))),
                b64(&f.exchange_signs(create_psbt(&f.hot, &f.utxos[2..], &to, 6, 1))),
            ];
            psbts.insert((d, amount), two);
        }
    }
    let svcs: Vec<Service> = (0..services).map(|_| Service::start(&f)).collect();
    let world = World {
        setup_id: f.setup.id(),
        clock: Arc::clone(&f.clock),
        expires: UnixTime::from_unix(f.now().unix() + 7 * 86_400),
        destinations,
        psbts,
        streams,
        seed,
        answers: Mutex::new(HashMap::new()),
        approved: Mutex::new(Vec::new()),
        cosigned: Mutex::new(Vec::new()),
        tally: Mutex::new(BTreeMap::new()),
        errors: Mutex::new(Vec::new()),
    };
    let set_up = started.elapsed();
    let loaded = Instant::now();
    std::thread::scope(|scope| {
        for s in 0..streams {
            for (side, svc) in svcs.iter().enumerate() {
                // Each client its own connections.
                let c = support::client(&svc.url(), &svc.certs);
                let world = &world;
                scope.spawn(move || world.client(&c, s, side as u64, requests));
            }
        }
    });
    let load_time = loaded.elapsed();
    let errors = world.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "{} errors: {errors:#?}", errors.len());

    // Every request answered 200, sent again to every service: the first
    // answer, byte for byte.
    let answers = world.answers.lock().unwrap().clone();
    for svc in &svcs {
        for (rid, (call, first)) in &answers {
            let d = call
                .send(&svc.client)
                .unwrap_or_else(|e| panic!("{rid}: {e}"));
            assert_eq!(
                serde_json::to_vec(&d).unwrap(),
                *first,
                "{rid} at {}",
                svc.url()
            );
        }
    }

    // The chain: it verifies with the audit key, every answer is its
    // record, and a fresh authority replays it to every service's state.
    let key = f.setup.audit_key();
    let mut ledger = kinko_ledger::Ledger::open(&f.url).unwrap();
    let summary = ledger
        .verify_audit_with_key(&key)
        .expect("the audit chain verifies with the audit key");
    let records = ledger.audit_records("BTC", 0, u32::MAX).unwrap();
    assert_eq!(summary.records, records.len() as u64);
    for (rid, (_, first)) in &answers {
        let d: Decided = serde_json::from_slice(first).unwrap();
        let r = &records[(d.audit_seq - 1) as usize];
        assert_eq!((r.seq, &r.hash), (d.audit_seq, &d.audit_hash), "{rid}");
    }
    let fresh = f.reopen().expect("the chain replays");
    let state = fresh.state();
    for (id, seq) in world.approved.lock().unwrap().iter() {
        let w = state
            .withdrawal(id)
            .unwrap_or_else(|| panic!("{id}, approved by record {seq}, is not in the state"));
        assert!(
            matches!(
                w.status,
                WithdrawalStatus::Reserved | WithdrawalStatus::Settled | WithdrawalStatus::Released
            ),
            "{id} approved by record {seq} is {:?}",
            w.status
        );
    }
    for svc in &svcs {
        let st = svc.client.state().unwrap();
        assert_eq!(
            (st.hot_sat, st.reserved_sat, st.audit_count),
            (
                state.hot().units(),
                state.reserved().units(),
                records.len() as u64
            )
        );
        let ready = svc.client.ready().expect("ready");
        assert_eq!(ready["audit_count"], records.len() as u64);
    }

    // One transaction per reservation: in the answers and in the chain.
    let mut chain_cosigned: HashMap<String, String> = HashMap::new();
    let mut events = Vec::new();
    for r in &records {
        match r.kind.as_str() {
            "refused" => {}
            "cosign" => {
                let p: CosignPayload = serde_json::from_str(&r.payload).unwrap();
                if p.result == "signed" {
                    let txid = p.txid.unwrap();
                    let before = chain_cosigned.insert(p.id.clone(), txid.clone());
                    assert!(before.is_none_or(|b| b == txid), "{} cosigned twice", p.id);
                }
            }
            _ => {
                let p: DecisionPayload = serde_json::from_str(&r.payload)
                    .unwrap_or_else(|e| panic!("record {} ({}): {e}", r.seq, r.kind));
                events.push(p.event);
            }
        }
    }
    let mut given: HashMap<String, String> = HashMap::new();
    for (id, txid) in world.cosigned.lock().unwrap().iter() {
        let before = given.insert(id.clone(), txid.clone());
        assert!(before.is_none_or(|b| b == *txid), "{id} cosigned twice");
        assert_eq!(chain_cosigned.get(id), Some(txid), "{id}");
    }

    // The engine's invariants over the chain's events, from the start.
    let report =
        check_invariants(f.setup.policy().config(), &events).unwrap_or_else(|v| panic!("{v}"));

    let tally = world.tally.lock().unwrap().clone();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "{what}: {services} service(s), {} clients × {requests} requests, seed {seed}: \
             set-up {set_up:?}, load {load_time:?}; {} records, {} answered 200, {} approved \
             ({} sat), {} cosigned; froze: {}\n  {tally:?}",
            streams * services as u64,
            records.len(),
            answers.len(),
            report.approved,
            report.approved_amount,
            given.len(),
            report.froze,
        );
    }
    // The mix reached what it is for (so that the checks above mean
    // something).
    if requests >= 200 {
        for (prefix, at_least) in [
            ("withdraw approved", 20),
            ("approve approved", 2),
            ("withdraw denied:velocity", 1),
            ("withdraw denied:max_withdrawal", 1),
            ("withdraw denied:frozen", 1),
            ("withdraw duplicate", 1),
            ("cosign signed again=false", 5),
            ("cosign refused replacement-not-conflicting", 1),
            ("retry same", 20),
            ("retry other-body 409", 5),
            ("unfreeze recorded", 1),
        ] {
            assert!(
                world.total(prefix) >= at_least,
                "fewer than {at_least} {prefix:?}: {tally:?}"
            );
        }
    }
    // A service stops cleanly (its authority, a PostgreSQL client among
    // them, is dropped off the async threads).
    for svc in svcs {
        svc.running.shutdown().expect("the service stops cleanly");
    }
}

#[test]
fn eight_clients_on_one_service_over_sqlite() {
    load(Fixture::new(LOAD_POLICY), 1, 8, "SQLite");
}

#[test]
fn eight_clients_on_one_service_over_postgres() {
    let Some(schema) = Schema::new("kinko_load", "eight clients on one service on PostgreSQL")
    else {
        return;
    };
    load(
        Fixture::with_url(LOAD_POLICY, &schema.url),
        1,
        8,
        "PostgreSQL",
    );
}

#[test]
fn two_services_on_one_postgres_answer_alike() {
    let Some(schema) = Schema::new("kinko_load", "two services on one PostgreSQL") else {
        return;
    };
    load(
        Fixture::with_url(LOAD_POLICY, &schema.url),
        2,
        4,
        "PostgreSQL, two services",
    );
}
