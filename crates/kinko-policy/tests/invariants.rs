//! The invariants over generated policies and streams (proptest), and the
//! tightness of the worst-case loss bound against a greedy attacker.
//!
//! CI runs 10,000 cases per property (`PROPTEST_CASES` overrides it); a long
//! run: `PROPTEST_CASES=1000000 cargo test --release -p kinko-policy --test invariants`.

use kinko_policy::testkit::{arb_config, arb_scenario, check_invariants, greedy_attack};
use kinko_policy::Amount;
use kinko_policy::{loss_bound, Config, Duration};
use proptest::prelude::*;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10_000), failure_persistence: None, ..ProptestConfig::default() })]

    /// Every invariant of `check_invariants`, over mixed streams.
    #[test]
    fn invariants_hold((config, events) in arb_scenario(1..80)) {
        if let Err(v) = check_invariants(&config, &events) {
            return Err(TestCaseError::fail(format!("{v}\nevents: {events:#?}")));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(10_000) / 50, failure_persistence: None, ..ProptestConfig::default() })]

    /// The greedy attacker never beats the bound, and comes close to it.
    #[test]
    fn loss_bound_is_never_exceeded_and_is_tight(
        config in arb_config(),
        custody in 1_000_000u64..100_000_000_000,
        horizon in prop::sample::select(vec![3_600u32, 86_400]),
    ) {
        let policy = config.asset("A").unwrap();
        let h = Duration::from_secs(horizon).unwrap();
        let a = greedy_attack(policy, Amount::from_units(custody), h, 2_000);
        prop_assert!(a.taken <= a.bound, "taken {} above bound {}", a.taken, a.bound);
        if !a.truncated {
            // Slack comes only from the buckets (an amount counts up to one
            // bucket, at most a tenth of the window, longer than its window),
            // which can push the horizon's last span out of it.
            prop_assert!(
                u128::from(a.taken.units()) * 2 >= u128::from(a.bound.units()),
                "attacker took {} of bound {}", a.taken, a.bound
            );
        }
    }
}

/// On the shapes policies are written with, the bound is exact.
#[test]
fn bound_is_reached_exactly_on_common_shapes() {
    let config = Config::from_toml_str(
        r#"
        [assets.A]
        preset = "standard"
        [assets.A.approvals]
        approvers = ["ann", "ben"]
        quorum = 2
        "#,
    )
    .unwrap();
    let p = config.asset("A").unwrap();
    let custody = 526_300_010;
    for h in [3_600, 86_400] {
        let h = Duration::from_secs(h).unwrap();
        let a = greedy_attack(p, Amount::from_units(custody), h, 100_000);
        assert!(!a.truncated);
        assert_eq!(a.taken, a.bound, "{h}: {a:?}");
        assert_eq!(
            a.bound,
            loss_bound(p, h).at_custody(Amount::from_units(custody)).0
        );
    }
    // A 10-minute window alone: six fills in an hour.
    let config = Config::from_toml_str(
        "[assets.A]\nhot_cap = 1000000\n[[assets.A.windows]]\nduration = \"10m\"\nlimit = 500\n",
    )
    .unwrap();
    let a = greedy_attack(
        config.asset("A").unwrap(),
        Amount::from_units(10_000_000),
        Duration::from_secs(3_600).unwrap(),
        100_000,
    );
    assert_eq!((a.taken.units(), a.bound.units()), (3_000, 3_000));
}
