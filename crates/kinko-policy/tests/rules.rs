//! One test per rule of the engine, through the public API.

use kinko_policy::Amount;
use kinko_policy::{
    Change, DecideError, Decision, EventKind, FreezeReason, PendingReason, Proposal, Rule, Wallet,
    WithdrawalStatus,
};

mod common;

use common::*;

const BASIC: &str = r#"
[assets.A]
hot_cap = 1_000_000
max_withdrawal = 5_000
[[assets.A.windows]]
duration = "10m"
limit = 10_000
bucket = "1m"
[[assets.A.windows]]
duration = "1h"
limit = 3_000
per_user = true
"#;

#[test]
fn time_never_goes_backwards_and_a_refused_event_changes_nothing() {
    let mut h = H::new(BASIC);
    h.deposit(100, Wallet::Hot, 50_000);
    let before = h.state.clone();
    let err = h
        .ev(
            99,
            EventKind::Deposit {
                asset: "A".parse().unwrap(),
                wallet: Wallet::Hot,
                amount: Amount::from_units(1),
            },
        )
        .unwrap_err();
    assert!(matches!(err, DecideError::TimeWentBackwards { .. }));
    assert_eq!(h.state, before);
    // Equal times are fine.
    h.deposit(100, Wallet::Hot, 1);
}

#[test]
fn unknown_asset_zero_amount_and_bad_names_are_errors() {
    let mut h = H::new(BASIC);
    let e = h
        .ev(
            0,
            EventKind::Tick {
                asset: "B".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert!(matches!(e, DecideError::UnknownAsset(_)));
    let e = h
        .ev(
            0,
            EventKind::Deposit {
                asset: "A".parse().unwrap(),
                wallet: Wallet::Cold,
                amount: Amount::from_units(0),
            },
        )
        .unwrap_err();
    assert_eq!(e, DecideError::ZeroAmount);
    // A bad name never reaches the engine: it is refused when it is made.
    let e = "".parse::<kinko_policy::WithdrawalId>().unwrap_err();
    assert!(matches!(DecideError::from(e), DecideError::InvalidName(_)));
    h.deposit(0, Wallet::Hot, u64::MAX - 1);
    let e = h
        .ev(
            0,
            EventKind::Deposit {
                asset: "A".parse().unwrap(),
                wallet: Wallet::Cold,
                amount: Amount::from_units(2),
            },
        )
        .unwrap_err();
    assert_eq!(e, DecideError::Overflow);
}

#[test]
fn same_withdrawal_id_never_spends_twice() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 50_000);
    assert!(approved(&h.withdraw(1, "w1", 1_000)));
    let d = h.withdraw(2, "w1", 1_000);
    assert_eq!(
        d,
        Decision::Duplicate {
            id: "w1".parse().unwrap(),
            status: WithdrawalStatus::Reserved
        }
    );
    assert_eq!(h.a().reserved(), 1_000);
    // Even with another amount, user or after settlement.
    h.ev(
        3,
        EventKind::Confirmed {
            asset: "A".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(matches!(
        h.withdraw_to(4, "w1", "u2", "x", 7),
        Decision::Duplicate { .. }
    ));
    assert_eq!(h.a().hot(), 49_000);
    // A denied id stays denied.
    assert_eq!(denied_by(&h.withdraw(5, "w2", 9_999)), "max_withdrawal");
    assert!(matches!(h.withdraw(6, "w2", 1), Decision::Duplicate { .. }));
}

#[test]
fn per_withdrawal_maximum() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 50_000);
    assert_eq!(denied_by(&h.withdraw(1, "w1", 5_001)), "max_withdrawal");
    assert!(approved(&h.withdraw(1, "w2", 2_000)));
}

#[test]
fn total_window_holds_across_users_and_reopens_after_window_plus_bucket() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 100_000);
    // 10m window of 10,000 in 1m buckets; five users x 2,000.
    for i in 0..5 {
        let d = h.withdraw_to(30, &format!("w{i}"), &format!("u{i}"), "d", 2_000);
        assert!(approved(&d), "{d:?}");
    }
    let d = h.withdraw_to(31, "w5", "u9", "d", 1);
    assert_eq!(
        d,
        Decision::Denied {
            id: "w5".parse().unwrap(),
            rule: Rule::Velocity {
                window: kinko_policy::Duration::parse("10m").unwrap(),
                per_user: false,
                limit: Amount::from_units(10_000),
                used: Amount::from_units(10_000)
            }
        }
    );
    // Still counted at 30 + 599 (the span (t - 10m, t] holds t = 30).
    assert_eq!(
        denied_by(&h.withdraw_to(629, "w6", "u9", "d", 1)),
        "velocity"
    );
    // The bucket [0, 60) ends at 60: gone once t - 600 >= 60.
    assert!(approved(&h.withdraw_to(660, "w7", "u9", "d", 1)));
}

#[test]
fn per_user_window() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(approved(&h.withdraw_to(0, "w1", "alice", "d", 3_000)));
    assert_eq!(
        denied_by(&h.withdraw_to(1, "w2", "alice", "d", 1)),
        "velocity"
    );
    assert!(approved(&h.withdraw_to(2, "w3", "bob", "d", 3_000)));
}

#[test]
fn insufficient_hot_counts_reservations() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 3_000);
    assert!(approved(&h.withdraw_to(0, "w1", "a", "d", 2_000)));
    assert_eq!(
        h.withdraw_to(0, "w2", "b", "d", 1_001),
        Decision::Denied {
            id: "w2".parse().unwrap(),
            rule: Rule::InsufficientHot {
                available: Amount::from_units(1_000)
            }
        }
    );
}

const ALLOW: &str = r#"
[assets.A]
hot_cap = 1_000_000
[assets.A.allowlist]
mode = "deny"
activation_delay = "24h"
entries = ["from-config"]
"#;

#[test]
fn allowlist_deny_mode_with_activation_delay_and_cancellation() {
    let mut h = H::new(ALLOW);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(approved(&h.withdraw_to(0, "w0", "u", "from-config", 1)));
    assert_eq!(
        denied_by(&h.withdraw_to(0, "w1", "u", "new", 1)),
        "not_allowlisted"
    );
    // Exact destinations only: a prefix or an extension is another destination.
    assert_eq!(
        denied_by(&h.withdraw_to(0, "w1b", "u", "from-config2", 1)),
        "not_allowlisted"
    );
    assert_eq!(
        denied_by(&h.withdraw_to(0, "w1c", "u", "from-confi", 1)),
        "not_allowlisted"
    );
    h.ev(
        10,
        EventKind::AllowlistAdd {
            asset: "A".parse().unwrap(),
            destination: "new".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        denied_by(&h.withdraw_to(86_409, "w2", "u", "new", 1)),
        "not_allowlisted"
    );
    assert!(approved(&h.withdraw_to(86_410, "w3", "u", "new", 1)));
    // Cancelled during its delay: never becomes active.
    h.ev(
        86_410,
        EventKind::AllowlistAdd {
            asset: "A".parse().unwrap(),
            destination: "evil".parse().unwrap(),
        },
    )
    .unwrap();
    h.ev(
        86_411,
        EventKind::AllowlistCancel {
            asset: "A".parse().unwrap(),
            destination: "evil".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        denied_by(&h.withdraw_to(200_000, "w4", "u", "evil", 1)),
        "not_allowlisted"
    );
    // Re-adding an entry does not restart or shorten anything.
    let out = h
        .ev(
            200_000,
            EventKind::AllowlistAdd {
                asset: "A".parse().unwrap(),
                destination: "new".parse().unwrap(),
            },
        )
        .unwrap();
    assert_eq!(out.changes.len(), 1, "only the clock: {:?}", out.changes);
    let e = h
        .ev(
            200_000,
            EventKind::AllowlistCancel {
                asset: "A".parse().unwrap(),
                destination: "from-config".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert_eq!(e, DecideError::EntryInConfig);
}

const QUORUM: &str = r#"
[assets.A]
hot_cap = 1_000_000
[assets.A.allowlist]
mode = "require-approval"
activation_delay = "1h"
[assets.A.approvals]
approvers = ["alice", "bob", "carol"]
quorum = 2
threshold = 10_000
"#;

#[test]
fn require_approval_needs_k_distinct_listed_approvers() {
    let mut h = H::new(QUORUM);
    h.deposit(0, Wallet::Hot, 100_000);
    let d = h.withdraw_to(0, "w1", "u", "new", 100);
    assert_eq!(
        d,
        Decision::Pending {
            id: "w1".parse().unwrap(),
            missing: kinko_policy::Missing {
                required: 2,
                have: 0,
                reasons: vec![PendingReason::DestinationNotActive]
            }
        }
    );
    assert_eq!(
        h.approve(1, "w1", "mallory"),
        Err(DecideError::UnknownApprover)
    );
    assert!(matches!(
        h.approve(2, "w1", "alice"),
        Ok(Decision::Pending { .. })
    ));
    // The same approver twice counts once.
    assert!(matches!(
        h.approve(3, "w1", "alice"),
        Ok(Decision::Pending { .. })
    ));
    assert_eq!(h.a().reserved(), 0);
    assert_eq!(
        h.approve(4, "w1", "bob"),
        Ok(Decision::Approved {
            id: "w1".parse().unwrap()
        })
    );
    assert_eq!(h.a().reserved(), 100);
    // Approving again is an error (not pending), never a second reservation.
    assert!(matches!(
        h.approve(5, "w1", "carol"),
        Err(DecideError::WrongStatus { .. })
    ));
    assert_eq!(h.a().reserved(), 100);
}

#[test]
fn amounts_above_the_threshold_need_the_quorum() {
    let mut h = H::new(QUORUM);
    h.deposit(0, Wallet::Hot, 100_000);
    h.ev(
        0,
        EventKind::AllowlistAdd {
            asset: "A".parse().unwrap(),
            destination: "d".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(approved(&h.withdraw_to(3_600, "w1", "u", "d", 10_000)));
    let d = h.withdraw_to(3_600, "w2", "u", "d", 10_001);
    assert!(matches!(
        d,
        Decision::Pending { ref missing, .. }
            if missing.reasons == vec![PendingReason::AboveThreshold { threshold: Amount::from_units(10_000) }]
    ));
}

const BREAKER: &str = r#"
[assets.A]
hot_cap = 1_000_000
[[assets.A.windows]]
duration = "1h"
limit = 5_000
[assets.A.approvals]
approvers = ["alice", "bob", "carol"]
quorum = 2
[assets.A.breaker]
window = "1h"
limit = 20_000
"#;

#[test]
fn breaker_counts_requested_outflow_freezes_and_only_a_quorum_unfreezes() {
    let mut h = H::new(BREAKER);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(approved(&h.withdraw(0, "w1", 5_000)));
    // Denied by velocity, but requested outflow still counts.
    assert_eq!(denied_by(&h.withdraw(1, "w2", 10_000)), "velocity");
    let out = h
        .ev(
            2,
            EventKind::Withdrawal {
                id: "w3".parse().unwrap(),
                user: "u".parse().unwrap(),
                asset: "A".parse().unwrap(),
                destination: "d".parse().unwrap(),
                amount: Amount::from_units(5_001),
            },
        )
        .unwrap();
    assert_eq!(
        out.decision,
        Decision::Denied {
            id: "w3".parse().unwrap(),
            rule: Rule::CircuitBreaker {
                requested: Amount::from_units(20_001),
                limit: Amount::from_units(20_000)
            }
        }
    );
    assert!(out
        .changes
        .iter()
        .any(|c| matches!(c, Change::FreezeSet { .. })));
    // Frozen: everything denied, long after the window.
    assert_eq!(denied_by(&h.withdraw(10_000, "w4", 1)), "frozen");
    let unfreeze = |h: &mut H, at, who: &str| {
        h.ev(
            at,
            EventKind::Unfreeze {
                asset: "A".parse().unwrap(),
                approver: who.into(),
            },
        )
    };
    assert_eq!(
        unfreeze(&mut h, 10_001, "eve").unwrap_err(),
        DecideError::UnknownApprover
    );
    unfreeze(&mut h, 10_002, "alice").unwrap();
    unfreeze(&mut h, 10_003, "alice").unwrap();
    assert!(
        h.a().freeze().is_some(),
        "one approver twice is not a quorum"
    );
    unfreeze(&mut h, 10_004, "carol").unwrap();
    assert!(h.a().freeze().is_none());
    assert!(approved(&h.withdraw(10_005, "w5", 1)));
    assert_eq!(
        unfreeze(&mut h, 10_006, "bob").unwrap_err(),
        DecideError::NotFrozen
    );
}

#[test]
fn manual_freeze_denies_requests_and_quorum_completions() {
    let mut h = H::new(QUORUM);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(matches!(
        h.withdraw_to(0, "w1", "u", "new", 100),
        Decision::Pending { .. }
    ));
    h.ev(
        1,
        EventKind::Freeze {
            asset: "A".parse().unwrap(),
            by: "ops".parse().unwrap(),
            reason: "drill".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        denied_by(&h.withdraw_to(2, "w2", "u", "new", 100)),
        "frozen"
    );
    h.approve(3, "w1", "alice").unwrap();
    assert_eq!(denied_by(&h.approve(4, "w1", "bob").unwrap()), "frozen");
    assert_eq!(h.a().reserved(), 0);
}

#[test]
fn hot_balance_below_the_books_freezes_at_once() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 10_000);
    assert!(approved(&h.withdraw_to(0, "w1", "a", "d", 3_000)));
    assert!(approved(&h.withdraw_to(0, "w1b", "b", "d", 1_000)));
    // The reserved 4,000 may already be spent on chain: 6,000 is fine.
    h.ev(
        1,
        EventKind::HotBalance {
            asset: "A".parse().unwrap(),
            balance: Amount::from_units(6_000),
        },
    )
    .unwrap();
    assert!(h.a().freeze().is_none());
    h.ev(
        2,
        EventKind::HotBalance {
            asset: "A".parse().unwrap(),
            balance: Amount::from_units(5_999),
        },
    )
    .unwrap();
    assert_eq!(
        h.a().freeze().as_ref().map(|f| f.reason.clone()),
        Some(FreezeReason::HotShortfall {
            expected_at_least: Amount::from_units(6_000),
            observed: Amount::from_units(5_999)
        })
    );
    assert_eq!(denied_by(&h.withdraw(3, "w2", 1)), "frozen");
}

#[test]
fn confirmation_settles_and_failure_releases_without_returning_window_budget() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 100_000);
    assert!(approved(&h.withdraw_to(0, "w1", "a", "d", 3_000)));
    assert!(approved(&h.withdraw_to(0, "w2", "b", "d", 3_000)));
    assert!(approved(&h.withdraw_to(0, "w2x", "e", "d", 3_000)));
    assert!(approved(&h.withdraw_to(0, "w2y", "f", "d", 1_000)));
    h.ev(
        0,
        EventKind::Confirmed {
            asset: "A".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    h.ev(
        0,
        EventKind::Failed {
            asset: "A".parse().unwrap(),
            id: "w2".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        (h.a().hot().units(), h.a().reserved().units()),
        (97_000, 4_000)
    );
    // The failed 3,000 still counts in the 10m window (fail closed).
    assert_eq!(denied_by(&h.withdraw_to(1, "w3", "c", "d", 1)), "velocity");
    let e = h
        .ev(
            2,
            EventKind::Confirmed {
                asset: "A".parse().unwrap(),
                id: "w1".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert!(matches!(e, DecideError::WrongStatus { .. }));
    let e = h
        .ev(
            2,
            EventKind::Failed {
                asset: "A".parse().unwrap(),
                id: "nope".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert_eq!(e, DecideError::UnknownWithdrawal);
}

#[test]
fn sweep_and_refill_proposals_keep_hot_between_floor_and_cap() {
    let mut h = H::new(
        r#"
        [assets.A]
        hot_cap = 10_000
        hot_cap_share = "10%"
        sweep_target = "80%"
        refill_floor = "20%"
        refill_target = "50%"
        "#,
    );
    h.deposit(0, Wallet::Cold, 90_000);
    let out = h
        .ev(
            1,
            EventKind::Deposit {
                asset: "A".parse().unwrap(),
                wallet: Wallet::Hot,
                amount: Amount::from_units(30_000),
            },
        )
        .unwrap();
    // Custody 120,000: cap min(10,000, 12,000) = 10,000; target 8,000.
    assert_eq!(
        out.proposals,
        vec![Proposal::Sweep {
            asset: "A".parse().unwrap(),
            amount: Amount::from_units(22_000)
        }]
    );
    let out = h
        .ev(
            2,
            EventKind::Sweep {
                asset: "A".parse().unwrap(),
                amount: Amount::from_units(22_000),
            },
        )
        .unwrap();
    assert!(out.proposals.is_empty());
    assert_eq!(h.a().hot(), 8_000);
    assert!(approved(&h.withdraw(3, "w1", 7_000)));
    // Hot can pay 1,000 < floor 2,000: refill up to 5,000.
    let out = h
        .ev(
            4,
            EventKind::Tick {
                asset: "A".parse().unwrap(),
            },
        )
        .unwrap();
    assert_eq!(
        out.proposals,
        vec![Proposal::Refill {
            asset: "A".parse().unwrap(),
            amount: Amount::from_units(4_000)
        }]
    );
    let e = h
        .ev(
            5,
            EventKind::Sweep {
                asset: "A".parse().unwrap(),
                amount: Amount::from_units(1_001),
            },
        )
        .unwrap_err();
    assert!(matches!(e, DecideError::InsufficientFunds { .. }));
}

#[test]
fn cancelling_an_entry_denies_a_pending_withdrawal_to_it_in_deny_mode() {
    // Found by the invariants proptest: a withdrawal pending for its amount
    // must not be approved to a destination whose entry was cancelled since.
    let mut h = H::new(
        r#"
        [assets.A]
        hot_cap = 1_000_000
        [assets.A.allowlist]
        mode = "deny"
        activation_delay = "1h"
        [assets.A.approvals]
        approvers = ["alice", "bob"]
        quorum = 2
        threshold = 100
        "#,
    );
    h.deposit(0, Wallet::Hot, 100_000);
    h.ev(
        0,
        EventKind::AllowlistAdd {
            asset: "A".parse().unwrap(),
            destination: "d".parse().unwrap(),
        },
    )
    .unwrap();
    assert!(matches!(
        h.withdraw_to(3_600, "w1", "u", "d", 1_000),
        Decision::Pending { .. }
    ));
    h.ev(
        3_601,
        EventKind::AllowlistCancel {
            asset: "A".parse().unwrap(),
            destination: "d".parse().unwrap(),
        },
    )
    .unwrap();
    h.approve(3_602, "w1", "alice").unwrap();
    assert_eq!(
        denied_by(&h.approve(3_603, "w1", "bob").unwrap()),
        "not_allowlisted"
    );
    assert_eq!(h.a().reserved(), 0);
}

/// A custody statement caps the custody share limits are measured against:
/// a deposit report makes the books larger for paying, never a share limit
/// looser; what settles leaves the vouched custody.
#[test]
fn custody_statement_caps_share_limits() {
    let mut h = H::new(
        r#"
[assets.A]
hot_cap = 1_000_000
max_withdrawal_share = "10%"
"#,
    );
    h.deposit(0, Wallet::Hot, 100_000);
    h.deposit(0, Wallet::Cold, 900_000);
    h.ev(
        1,
        EventKind::CustodyStatement {
            asset: "A".parse().unwrap(),
            amount: Amount::from_units(1_000_000),
        },
    )
    .unwrap();
    // 10% of 1,000,000.
    assert!(matches!(
        h.withdraw(2, "w1", 100_000),
        Decision::Approved { .. }
    ));
    // A fake deposit of 20,000,000 to cold and hot lifts nothing.
    h.deposit(3, Wallet::Cold, 20_000_000);
    h.deposit(3, Wallet::Hot, 20_000_000);
    match h.withdraw(4, "w2", 100_001) {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "max_withdrawal"),
        other => panic!("{other:?}"),
    }
    // Settling w1 takes it out of the vouched custody: Amount::from_units(10)% of 900,000.
    h.ev(
        5,
        EventKind::Confirmed {
            asset: "A".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    assert_eq!(
        h.state.assets["A"].vouched(),
        Some(Amount::from_units(900_000))
    );
    match h.withdraw(6, "w3", 90_001) {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "max_withdrawal"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        h.withdraw(7, "w4", 90_000),
        Decision::Approved { .. }
    ));
    // A lower statement tightens at once; books below the statement win.
    h.ev(
        8,
        EventKind::CustodyStatement {
            asset: "A".parse().unwrap(),
            amount: Amount::from_units(50_000_000_000),
        },
    )
    .unwrap();
    let custody = h.state.assets["A"].custody();
    assert_eq!(h.state.assets["A"].limit_custody(), custody);
}

#[test]
fn a_confirmed_transaction_settles_its_withdrawals_at_once_and_books_its_fee() {
    let mut h = H::new(BASIC);
    h.deposit(0, Wallet::Hot, 100_000);
    for (id, user) in [("b1", "a"), ("b2", "b"), ("b3", "c")] {
        assert!(approved(&h.withdraw_to(0, id, user, "d", 2_000)));
    }
    let tx = |ids: &[&str], fee| EventKind::TxConfirmed {
        asset: "A".parse().unwrap(),
        tx: "t1".parse().unwrap(),
        withdrawals: ids.iter().map(|s| s.parse().unwrap()).collect(),
        fee: Amount::from_units(fee),
    };
    // Refused outright, nothing changed: an id twice, an unknown id, a fee
    // above what is free (100,000 - 6,000 reserved), nothing at all.
    let before = h.state.clone();
    assert_eq!(
        h.ev(1, tx(&["b1", "b1"], 10)).unwrap_err(),
        DecideError::BadSettlement
    );
    assert_eq!(
        h.ev(1, tx(&["b1", "zz"], 10)).unwrap_err(),
        DecideError::UnknownWithdrawal
    );
    assert_eq!(
        h.ev(1, tx(&["b1"], 94_001)).unwrap_err(),
        DecideError::InsufficientFunds {
            from: Wallet::Hot,
            amount: Amount::from_units(94_001),
            available: Amount::from_units(94_000)
        }
    );
    assert_eq!(h.ev(1, tx(&[], 0)).unwrap_err(), DecideError::ZeroAmount);
    assert_eq!(h.state, before);

    let out = h.ev(1, tx(&["b1", "b2"], 345)).unwrap();
    assert_eq!(out.decision, Decision::Recorded);
    assert_eq!(
        out.changes
            .iter()
            .filter(|c| matches!(c, Change::Settled { .. }))
            .count(),
        2
    );
    assert!(out.changes.contains(&Change::FeePaid {
        amount: Amount::from_units(345)
    }));
    assert_eq!(
        (h.a().hot().units(), h.a().reserved().units()),
        (100_000 - 4_000 - 345, 2_000)
    );
    assert_eq!(
        h.a().withdrawal("b2").unwrap().status,
        WithdrawalStatus::Settled
    );
    // Settled once: the same transaction again is refused.
    assert!(matches!(
        h.ev(2, tx(&["b1"], 345)).unwrap_err(),
        DecideError::WrongStatus {
            found: "settled",
            ..
        }
    ));
    // A sweep's or consolidation's fee alone.
    h.ev(2, tx(&[], 100)).unwrap();
    assert_eq!(h.a().hot(), 100_000 - 4_000 - 345 - 100);
}
