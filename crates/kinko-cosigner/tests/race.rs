//! Several authorities over one PostgreSQL ledger, as an exchange that
//! outgrew one machine runs them: each instance in its own thread with its
//! own `Ledger` connection to the same schema, the same signed set-up and
//! keys, and a clock shared like NTP time (or one host a few seconds
//! behind). Each handles a stream of random requests — withdrawals (some
//! above the approval threshold, approved by signed approvals), deposits,
//! cosigns of reservations with either of two transactions, confirms,
//! failures, ticks — with the same withdrawal ids sent to several instances
//! at once. Afterwards: no velocity window or per-withdrawal maximum was
//! exceeded (recomputed from the committed decisions); no reservation was
//! cosigned for two transactions; every instance's state is a freshly
//! opened authority's (which replays the whole chain, deciding every record
//! again); the audit chain verifies with the audit key; every transaction
//! cosigned passes libbitcoinconsensus.
//!
//! Skipped (with a note on stderr) when `DATABASE_URL` is unset. Requests
//! per host: `KINKO_RACE_REQUESTS` (default 120); seed: `KINKO_RACE_SEED`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bitcoin::psbt::Psbt;
use bitcoin::{Address, Txid};
use common::*;
use kinko_auth::{Action, SignedAction, UnixTime};
use kinko_cosigner::{Authority, AuthorityError, Clock, Setup};
use kinko_policy::{Change, Decision, Timestamp, Wallet, WithdrawalStatus};
use kinko_wallet::XprvSigner;

/// A 1h window over all withdrawals, a 30m window per user, a maximum of
/// 3 BTC, approvals above 1 BTC.
const RACE_POLICY: &str = r#"[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 300_000_000

[[assets.BTC.windows]]
duration = "1h"
limit = 1_000_000_000

[[assets.BTC.windows]]
duration = "30m"
limit = 400_000_000
per_user = true

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 100_000_000
"#;

const MAX_WITHDRAWAL: u64 = 300_000_000;
/// (duration in seconds, limit, per user) of `RACE_POLICY`'s windows.
const WINDOWS: [(i64, u64, bool); 2] = [(3_600, 1_000_000_000, false), (1_800, 400_000_000, true)];
/// What withdrawals ask (the last is above the maximum).
const AMOUNTS: [u64; 6] = [
    20_000_000,
    60_000_000,
    100_000_000,
    150_000_000,
    300_000_000,
    350_000_000,
];
const DESTINATIONS: u8 = 2;
const USERS: u64 = 3;

/// What withdrawal `n` asks — a function of `n`, so every instance it is
/// sent to is asked the same: (destination, amount, user).
fn ask(n: u64) -> (u8, u64, String) {
    let mut r = Rng(n.wrapping_mul(7919));
    let d = r.below(u64::from(DESTINATIONS)) as u8;
    let amount = AMOUNTS[r.below(AMOUNTS.len() as u64) as usize];
    (d, amount, format!("user-{}", r.below(USERS)))
}

fn wid(n: u64) -> String {
    format!("w{n}")
}

/// What one host did.
#[derive(Default)]
struct Tally {
    /// Calls that were decided or done, by kind of call.
    ok: BTreeMap<String, u64>,
    /// Refusals, by call and rule.
    refused: BTreeMap<String, u64>,
    /// Anything else (a ledger error instead of a decision).
    errors: Vec<String>,
    /// Every transaction cosigned: (withdrawal, txid, the PSBT with both
    /// signatures).
    cosigned: Vec<(String, Txid, Psbt)>,
    /// Writes or checks done again on a chain another host moved on.
    moved: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        for (k, v) in other.ok {
            *self.ok.entry(k).or_default() += v;
        }
        for (k, v) in other.refused {
            *self.refused.entry(k).or_default() += v;
        }
        self.errors.extend(other.errors);
        self.cosigned.extend(other.cosigned);
        self.moved += other.moved;
    }

    fn refusals(&self, rule: &str) -> u64 {
        self.refused
            .iter()
            .filter(|(k, _)| k.ends_with(&format!(" {rule}")))
            .map(|(_, v)| v)
            .sum()
    }
}

/// What every host shares: the set-up, the ledger, the clock, the next new
/// withdrawal number, the backend's PSBTs (two different transactions for
/// each destination and amount) and the last approval.
struct World<'a> {
    setup: Setup,
    clock: Arc<AtomicI64>,
    url: &'a str,
    next: AtomicU64,
    destinations: Vec<Address>,
    psbts: HashMap<(u8, u64), [Psbt; 2]>,
    /// The last approval signed, to relay to another host.
    approval: Mutex<Option<SignedAction>>,
}

impl World<'_> {
    /// A withdrawal number among the latest few (0 when none yet).
    fn recent(&self, rng: &mut Rng) -> u64 {
        let top = self.next.load(Ordering::SeqCst);
        top.saturating_sub(1 + rng.below(top.min(12)))
    }

    /// One host: its own authority (clock `skew` seconds off the shared
    /// one) handling `requests` random requests.
    fn host(&self, skew: i64, requests: u64, seed: u64) -> (Authority<XprvSigner>, Tally) {
        let setup = &self.setup;
        let mut a = open_skewed(setup, self.url, &self.clock, skew).expect("open");
        let mut rng = Rng(seed);
        let mut t = Tally::default();
        for _ in 0..requests {
            let step = rng.below(60) as i64;
            self.clock.fetch_add(step, Ordering::SeqCst);
            let roll = rng.below(100);
            let (call, r): (&str, Result<String, AuthorityError>) = match roll {
                0..=29 => {
                    // Half new, half the latest: the same id at two hosts.
                    let n = if rng.below(2) == 0 {
                        self.next.fetch_add(1, Ordering::SeqCst)
                    } else {
                        self.next.load(Ordering::SeqCst).saturating_sub(1)
                    };
                    let (d, amount, user) = ask(n);
                    let dest = self.destinations[d as usize].to_string();
                    let r = a.request_withdrawal(&wid(n), &user, &dest, amount);
                    ("request", r.map(|c| decision_name(&c.outcome.decision)))
                }
                30..=44 => {
                    // Sometimes the approval another host was just sent.
                    let relayed = self.approval.lock().unwrap().clone();
                    let signed = match relayed {
                        Some(s) if rng.below(3) == 0 => s,
                        _ => {
                            let n = self.recent(&mut rng);
                            let (d, amount, _) = ask(n);
                            let approver = if rng.below(2) == 0 { 0x11 } else { 0x12 };
                            let s = Action::Approval {
                                setup_id: setup.id(),
                                asset: "BTC".parse().unwrap(),
                                withdrawal_id: wid(n),
                                destination: self.destinations[d as usize].to_string(),
                                amount,
                                expires: UnixTime::from_unix(a.now().unix() + 3_600),
                            }
                            .sign(&person(approver));
                            *self.approval.lock().unwrap() = Some(s.clone());
                            s
                        }
                    };
                    let r = a.approve(&signed);
                    ("approve", r.map(|c| decision_name(&c.outcome.decision)))
                }
                45..=69 => {
                    let n = self.recent(&mut rng);
                    let (d, amount, _) = ask(n);
                    let which = usize::from(rng.below(4) == 0);
                    let mut p = self.psbts[&(d, amount)][which].clone();
                    let r = a.cosign_withdrawal(&wid(n), &mut p).map(|c| {
                        t.cosigned.push((wid(n), c.txid, p));
                        if c.again { "again" } else { "signed" }.to_owned()
                    });
                    ("cosign", r)
                }
                70..=79 => {
                    let n = self.recent(&mut rng);
                    ("confirm", a.confirm(&wid(n)).map(|_| String::new()))
                }
                80..=87 => {
                    let n = self.recent(&mut rng);
                    ("fail", a.fail(&wid(n)).map(|_| String::new()))
                }
                88..=97 => {
                    let amount = 10_000_000 * (1 + rng.below(10));
                    let r = a.report_deposit(Wallet::Hot, amount);
                    ("deposit", r.map(|_| String::new()))
                }
                _ => ("tick", a.tick().map(|_| String::new())),
            };
            match r {
                Ok(what) => *t.ok.entry(format!("{call} {what}")).or_default() += 1,
                Err(AuthorityError::Refused { rule, .. }) => {
                    *t.refused.entry(format!("{call} {rule}")).or_default() += 1;
                }
                Err(e) => t.errors.push(format!("{call}: {e}")),
            }
        }
        t.moved = a.chain_moved();
        (a, t)
    }
}

fn decision_name(d: &Decision) -> String {
    match d {
        Decision::Approved { .. } => "approved".into(),
        Decision::Pending { .. } => "pending".into(),
        Decision::Denied { rule, .. } => format!("denied:{}", rule.name()),
        Decision::Duplicate { .. } => "duplicate".into(),
        _ => "recorded".into(),
    }
}

/// Runs `skews.len()` hosts (host i's clock `skews[i]` seconds off) over a
/// fresh schema and checks everything the race must keep.
fn race(skews: &[i64]) {
    let Some(schema) = Schema::new("kinko_race", "the PostgreSQL race of authorities") else {
        return;
    };
    let requests = env_u64("KINKO_RACE_REQUESTS", 120);
    let seed = env_u64("KINKO_RACE_SEED", 20_180_126);
    let started = Instant::now();
    let mut f = Fixture::with_url(RACE_POLICY, &schema.url);
    let destinations: Vec<Address> = (1..=DESTINATIONS).map(outside).collect();
    let mut psbts = HashMap::new();
    for (d, dest) in destinations.iter().enumerate() {
        for amount in AMOUNTS {
            let to = [(dest, amount)];
            // Two transactions from disjoint coins: neither is a fee bump
            // of the other (issue #13), so at most one is ever cosigned.
            let two = [
                f.exchange_signs(create_psbt(&f.hot, &f.utxos[..2], &to, 5, 0)),
                f.exchange_signs(create_psbt(&f.hot, &f.utxos[2..], &to, 6, 1)),
            ];
            psbts.insert((d as u8, amount), two);
        }
    }
    let world = World {
        setup: f.setup.clone(),
        clock: Arc::clone(&f.clock),
        url: &schema.url,
        next: AtomicU64::new(0),
        destinations,
        psbts,
        approval: Mutex::new(None),
    };
    let set_up = started.elapsed();
    let raced = Instant::now();
    let results: Vec<(Authority<XprvSigner>, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = skews
            .iter()
            .enumerate()
            .map(|(i, skew)| {
                let world = &world;
                s.spawn(move || world.host(*skew, requests, seed ^ (i as u64 + 1)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let race_time = raced.elapsed();
    drop(world);

    let mut all = Tally::default();
    let mut hosts = Vec::new();
    for (i, (a, t)) in results.into_iter().enumerate() {
        // An on-time host decides on time: the shared clock only moves on.
        if skews[i] == 0 {
            assert_eq!(
                t.refusals("clock-went-backwards"),
                0,
                "host {i}: {:?}",
                t.refused
            );
        }
        all.add(t);
        hosts.push(a);
    }
    assert!(all.errors.is_empty(), "ledger errors: {:#?}", all.errors);
    assert_eq!(
        all.refusals("state-mismatch"),
        0,
        "refusals: {:?}",
        all.refused
    );

    // A fresh authority replays the whole chain (every record decided
    // again by the engine); every host, caught up, is in its state.
    let mut fresh = f.reopen().expect("the chain replays");
    // The fixture's own authority (it funded the hot wallet) too.
    let again = f.reopen().unwrap();
    hosts.push(std::mem::replace(&mut f.authority, again));
    for (i, a) in hosts.iter_mut().enumerate() {
        a.sync().unwrap();
        assert_eq!(a.replay().head(), fresh.replay().head(), "host {i}");
        assert_eq!(a.state(), fresh.state(), "host {i}");
    }
    let summary = fresh
        .ledger()
        .verify_audit_with_key(&f.setup.audit_key())
        .expect("the audit chain verifies with the audit key");
    let records = fresh.ledger().audit_records("BTC", 0, u32::MAX).unwrap();
    assert_eq!(summary.records, records.len() as u64);

    // Recompute from the committed records: every reservation within the
    // maximum, every span of every window within its limit, one transaction
    // per reservation.
    let mut asked: HashMap<String, (kinko_policy::UserId, kinko_policy::Amount)> = HashMap::new();
    let mut reservations: Vec<(i64, String, u64)> = Vec::new();
    let mut chain_cosigned: HashMap<String, String> = HashMap::new();
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
                let p: DecisionPayload = serde_json::from_str(&r.payload).unwrap();
                let at = p.event.at.unix();
                for c in p.changes {
                    match c {
                        Change::WithdrawalRecorded { id, withdrawal } => {
                            if withdrawal.status == WithdrawalStatus::Reserved {
                                reservations.push((
                                    at,
                                    withdrawal.user.to_string(),
                                    withdrawal.amount.units(),
                                ));
                            }
                            asked.insert(id.to_string(), (withdrawal.user, withdrawal.amount));
                        }
                        Change::Reserved { id, amount } => {
                            let (user, asked_amount) = asked[id.as_str()].clone();
                            assert_eq!(amount, asked_amount);
                            reservations.push((at, user.to_string(), amount.units()));
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    for (at, user, amount) in &reservations {
        assert!(
            *amount <= MAX_WITHDRAWAL,
            "{user} reserved {amount} at {at}"
        );
    }
    for (len, limit, per_user) in WINDOWS {
        let mut by_scope: HashMap<&str, Vec<(i64, u64)>> = HashMap::new();
        for (at, user, amount) in &reservations {
            let scope = if per_user { user.as_str() } else { "" };
            by_scope.entry(scope).or_default().push((*at, *amount));
        }
        for (scope, items) in by_scope {
            let (mut lo, mut sum) = (0, 0u64);
            for hi in 0..items.len() {
                sum += items[hi].1;
                while items[lo].0 <= items[hi].0 - len {
                    sum -= items[lo].1;
                    lo += 1;
                }
                assert!(sum <= limit, "window {len}s {scope:?}: {sum} > {limit}");
            }
        }
    }
    let state = fresh.state();
    let reserved: u64 = state
        .withdrawals()
        .values()
        .filter(|w| w.status == WithdrawalStatus::Reserved)
        .map(|w| w.amount.units())
        .sum();
    assert_eq!(reserved, state.reserved());

    // What the hosts were given: one transaction per reservation, the
    // chain's, and each passes libbitcoinconsensus.
    let mut given: HashMap<String, Txid> = HashMap::new();
    let mut verified = HashSet::new();
    for (id, txid, psbt) in &all.cosigned {
        let before = given.insert(id.clone(), *txid);
        assert!(before.is_none_or(|b| b == *txid), "{id} cosigned twice");
        assert_eq!(chain_cosigned.get(id), Some(&txid.to_string()), "{id}");
        if verified.insert(*txid) {
            f.verify(psbt.clone());
        }
    }

    let velocity = all
        .ok
        .iter()
        .filter(|(k, _)| k.contains("denied:velocity"))
        .map(|(_, v)| v)
        .sum::<u64>();
    // The numbers of the run, for the log (`--nocapture`).
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "race of {} hosts (skews {skews:?}), {requests} requests each, seed {seed}: \
         set-up {set_up:?}, race {race_time:?}; {} records, {} reservations ({velocity} \
         velocity denials), {} transactions cosigned; chain moved under a host {} times \
         (done again); refusals: clock-went-backwards {}, state-mismatch {}\n  done: {:?}\n  \
         refused: {:?}",
            skews.len(),
            records.len(),
            reservations.len(),
            verified.len(),
            all.moved,
            all.refusals("clock-went-backwards"),
            all.refusals("state-mismatch"),
            all.ok,
            all.refused,
        );
    }
    assert!(reservations.len() > 10 && !verified.is_empty());
}

#[test]
fn two_authorities_on_one_ledger_stay_exact() {
    race(&[0, 0]);
}

#[test]
fn four_authorities_on_one_ledger_stay_exact() {
    race(&[0, 0, 0, 0]);
}

#[test]
fn a_host_whose_clock_is_behind_refuses_and_never_corrupts() {
    race(&[0, -4, 0]);
}

/// The same signed policy change relayed to two authorities at once: the
/// second checked it on the chain before the first took it, and wrote it
/// after. It used to be recorded a second time under the same sequence
/// number — a record the replay refuses, so every authority (and every
/// restart) refused everything with `state-mismatch` from then on. Now the
/// write re-checks its evidence on the head it is written to: `replayed`.
/// (SQLite: the interleaving is forced through the second authority's
/// clock, which the first authority's call runs inside.)
#[test]
fn a_signed_action_taken_by_another_authority_meanwhile_is_refused() {
    let f = Fixture::new(POLICY);
    let tight = POLICY.replace(
        "max_withdrawal = 500_000_000",
        "max_withdrawal = 400_000_000",
    );
    let sigs = policy_change(&f, &tight, 1, &[0x21, 0x22]);
    let first = Mutex::new(f.reopen().unwrap());
    let armed = AtomicBool::new(false);
    let shared = Arc::new((first, armed, tight.clone(), sigs.clone()));
    let hook = Arc::clone(&shared);
    let clock = Arc::clone(&f.clock);
    let mut second = Authority::open(
        f.setup.clone(),
        &f.url,
        signer(2),
        audit_key(),
        Clock::Custom(Arc::new(move || {
            let (first, armed, text, sigs) = &*hook;
            // The first authority takes the change while the second checks.
            if armed.swap(false, Ordering::SeqCst) {
                let mut a = first.lock().unwrap();
                a.propose_policy_change(text, sigs).unwrap();
            }
            Timestamp::from_unix(clock.load(Ordering::SeqCst))
        })),
    )
    .unwrap();
    shared.1.store(true, Ordering::SeqCst);
    assert_eq!(
        rule(second.propose_policy_change(&tight, &sigs)),
        "replayed"
    );
    assert!(!shared.1.load(Ordering::SeqCst), "the hook ran");
    // One change on the chain; it replays, everywhere.
    second.sync().unwrap();
    let fresh = f.reopen().expect("the chain replays");
    assert_eq!(fresh.replay().policy_changes().len(), 1);
    assert_eq!(fresh.state(), second.state());
}
