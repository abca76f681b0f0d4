//! The ledger against a reference model: the pure engine on an in-memory
//! `State`. Random policies and event streams from `kinko_policy::gen`
//! (bursts, window edges, backdated events, unknown ids, approvals,
//! freezes); every event decided by the ledger (stored, reloaded, cached)
//! must get the model's decision — or the same refusal — and the stored
//! state must end equal to the model's.
//!
//! Cases: `KINKO_LEDGER_MODEL_CASES` (SQLite 40, PostgreSQL a quarter),
//! 80 events each.

use kinko_ledger::{DecideError, Ledger, Policy};
use kinko_policy::gen::{self, SplitMix64};
use kinko_policy::{decide, AssetState, Config, State};

use crate::common::*;

fn comparable(mut s: AssetState, config: &Config, asset: &str) -> AssetState {
    // The ledger prunes only the user rows a decision touched; pruning never
    // changes a decision, so compare both pruned at the last time.
    if let (Some(p), Some(at)) = (config.asset(asset), s.last_at()) {
        s.prune(p, at);
    }
    s
}

/// Returns (events the ledger committed, withdrawals it approved).
fn one_case(db: &Db, seed: u64) -> (u64, u64) {
    let mut rng = SplitMix64(seed);
    let toml = gen::config_toml(&mut rng);
    let policy = Policy::from_toml_str(&toml).expect("generated policy is valid");
    let config = policy.config().clone();
    let events = gen::events(&config, &mut rng, 80);
    let mut ledger = Ledger::open(&db.url).unwrap().with_policy(policy);
    // Every second case reopens the ledger halfway: a cold cache.
    let reopen_at = if seed.is_multiple_of(2) {
        40
    } else {
        usize::MAX
    };
    let mut model = State::default();
    let (mut committed, mut approved) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        if i == reopen_at {
            ledger = Ledger::open(&db.url)
                .unwrap()
                .with_policy(Policy::from_toml_str(&toml).unwrap());
        }
        let got = ledger.decide_at(e.at, e.kind.clone());
        if matches!(
            got,
            Err(DecideError::IdOfOtherAsset | DecideError::AmountTooLarge)
        ) {
            // Ledger-only refusals (ids unique across assets; SQL BIGINT):
            // the model must not see the event either.
            continue;
        }
        let want = decide(&config, &mut model, e);
        match (&got, &want) {
            (Ok(c), Ok(o)) => {
                assert_eq!(&c.outcome, o, "seed {seed} event {i}: {e:?}");
                committed += 1;
                if matches!(o.decision, kinko_policy::Decision::Approved { .. }) {
                    approved += 1;
                }
            }
            (Err(DecideError::Refused(a)), Err(b)) => assert_eq!(a, b, "seed {seed} event {i}"),
            (Err(DecideError::ClockWentBackwards { .. }), Err(_)) => {}
            _ => panic!("seed {seed} event {i} {e:?}: ledger {got:?}, model {want:?}"),
        }
    }
    for (asset, mem) in &model.assets {
        let stored = ledger
            .asset_state(asset)
            .unwrap()
            .unwrap_or_else(|| panic!("seed {seed}: asset {asset} missing"));
        assert_eq!(
            comparable(stored, &config, asset),
            comparable(mem.clone(), &config, asset),
            "seed {seed}: {asset}"
        );
    }
    ledger.verify_audit().expect("audit verifies");
    (committed, approved)
}

#[test]
fn ledger_matches_the_engine_on_sqlite() {
    let cases = env_count("KINKO_LEDGER_MODEL_CASES", 40);
    let (mut committed, mut approved) = (0, 0);
    for seed in 0..cases {
        let (c, a) = one_case(&sqlite_in(true), seed);
        committed += c;
        approved += a;
    }
    // The streams exercise the ledger, not just its refusals.
    assert!(
        committed > cases * 40 && approved > cases,
        "{committed} {approved}"
    );
}

#[test]
fn ledger_matches_the_engine_on_postgres() {
    if database_url().is_none() {
        return;
    }
    for seed in 0..env_count("KINKO_LEDGER_MODEL_CASES", 40) / 4 {
        if let Some(db) = postgres() {
            let _ = one_case(&db, 1_000 + seed);
        }
    }
}
