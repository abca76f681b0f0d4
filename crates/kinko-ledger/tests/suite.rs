//! The behaviour suite, run on both backends (see `both!`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use kinko_ledger::{DecideError, Ledger, OpenError, Problem, Request, TimeSource, VerifyError};
use kinko_policy::{decide, Decision, Event, EventKind, Rule, State, WithdrawalStatus};

use crate::common::*;

both!(
    reserve_confirm_release_and_idempotency,
    state_survives_reopen_and_other_workers_see_it,
    velocity_denial_names_the_rule_across_workers,
    approvals_and_allowlist_delay,
    clock_going_backwards_fails_closed,
    id_of_another_asset_is_refused,
    batch_commits_all_or_nothing_and_refuses_per_event,
    batch_sees_its_own_writes_as_the_engine_does,
    newer_schema_refuses_to_open,
    tamper_edit_delete_swap_truncate_named,
    unknown_asset_and_no_policy,
);

fn approved(d: &Decision) -> bool {
    matches!(d, Decision::Approved { .. })
}

fn reserve_confirm_release_and_idempotency(db: &Db) {
    let mut l = db.open();
    l.decide_at(t(0), deposit("BTC", 100_000_000)).unwrap();
    let w1 = l
        .decide_at(t(1), withdrawal("BTC", "w1", "u1", "bc1qa", 1_000_000))
        .unwrap();
    assert!(approved(&w1.outcome.decision));
    assert_eq!(w1.audit_seq, 2);
    // The same id again: Duplicate, nothing reserved twice.
    let again = l
        .decide_at(t(2), withdrawal("BTC", "w1", "u1", "bc1qa", 1_000_000))
        .unwrap();
    assert!(matches!(
        again.outcome.decision,
        Decision::Duplicate {
            status: WithdrawalStatus::Reserved,
            ..
        }
    ));
    let s = l.asset_state("BTC").unwrap().unwrap();
    assert_eq!(
        (s.hot().units(), s.reserved().units()),
        (100_000_000, 1_000_000)
    );

    l.decide_at(t(3), withdrawal("BTC", "w2", "u2", "bc1qb", 2_000_000))
        .unwrap();
    l.decide_at(
        t(4),
        EventKind::Confirmed {
            asset: "BTC".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    l.decide_at(
        t(5),
        EventKind::Failed {
            asset: "BTC".parse().unwrap(),
            id: "w2".parse().unwrap(),
        },
    )
    .unwrap();
    let s = l.asset_state("BTC").unwrap().unwrap();
    assert_eq!((s.hot().units(), s.reserved().units()), (99_000_000, 0));
    assert_eq!(
        s.withdrawal("w1").unwrap().status,
        WithdrawalStatus::Settled
    );
    assert_eq!(
        s.withdrawal("w2").unwrap().status,
        WithdrawalStatus::Released
    );
    // Confirming twice is refused (not reserved any more), nothing recorded.
    let e = l
        .decide_at(
            t(6),
            EventKind::Confirmed {
                asset: "BTC".parse().unwrap(),
                id: "w1".parse().unwrap(),
            },
        )
        .unwrap_err();
    assert!(matches!(e, DecideError::Refused(_)), "{e:?}");
    let summary = l.verify_audit().unwrap();
    assert_eq!(summary.records, 6);
}

fn state_survives_reopen_and_other_workers_see_it(db: &Db) {
    let mut a = db.open();
    let mut b = db.open();
    a.decide_at(t(0), deposit("BTC", 50_000_000)).unwrap();
    // b has never seen BTC; then a and b alternate, each must see the other's
    // commits (the version check invalidates the cached state).
    for i in 0..6 {
        let l = if i % 2 == 0 { &mut b } else { &mut a };
        let d = l
            .decide_at(
                t(10 + i),
                withdrawal(
                    "BTC",
                    &format!("w{i}"),
                    &format!("u{i}"),
                    "bc1qx",
                    1_000_000,
                ),
            )
            .unwrap();
        assert!(approved(&d.outcome.decision));
    }
    drop((a, b));
    let mut c = db.open();
    let s = c.asset_state("BTC").unwrap().unwrap();
    assert_eq!(s.reserved(), 6_000_000);
    assert_eq!(s.hot(), 50_000_000);
    assert_eq!(s.withdrawals().len(), 6);
    assert_eq!(c.verify_audit().unwrap().records, 7);
    // Time went on in the stored clock: an older event is refused after reopen.
    assert!(matches!(
        c.decide_at(t(0), deposit("BTC", 1)),
        Err(DecideError::ClockWentBackwards { .. })
    ));
}

fn velocity_denial_names_the_rule_across_workers(db: &Db) {
    let mut a = db.open();
    let mut b = db.open();
    a.decide_at(t(0), deposit("BTC", 500_000_000)).unwrap();
    // The 10-minute window holds 20,000,000: six of 2,900,000 (17,400,000)
    // fit, a seventh does not — whichever worker asks.
    for i in 0..6 {
        let l = if i % 2 == 0 { &mut a } else { &mut b };
        let d = l
            .decide_at(
                t(1 + i),
                withdrawal("BTC", &format!("w{i}"), &format!("u{i}"), "bc1q", 2_900_000),
            )
            .unwrap();
        assert!(approved(&d.outcome.decision), "{i}: {d:?}");
    }
    let d = b
        .decide_at(t(8), withdrawal("BTC", "w7", "u7", "bc1q", 2_900_000))
        .unwrap();
    match &d.outcome.decision {
        Decision::Denied {
            rule:
                Rule::Velocity {
                    window,
                    per_user: false,
                    limit,
                    used,
                },
            ..
        } => assert_eq!(
            (window.to_string(), limit.units(), used.units()),
            ("10m".to_owned(), 20_000_000, 17_400_000)
        ),
        other => panic!("{other:?}"),
    }
    // The per-user 1h window (8,000,000) across workers: u0 has 2.9M.
    a.decide_at(t(700), withdrawal("BTC", "p1", "u0", "bc1q", 2_900_000))
        .unwrap();
    let d = b
        .decide_at(t(701), withdrawal("BTC", "p2", "u0", "bc1q", 2_900_000))
        .unwrap();
    match &d.outcome.decision {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "velocity"),
        other => panic!("{other:?}"),
    }
}

fn approvals_and_allowlist_delay(db: &Db) {
    let mut l = db.open();
    l.decide_at(t(0), deposit("XEM", 100_000_000)).unwrap();
    // Not on the allowlist: pending, needs 2 of 3.
    let d = l
        .decide_at(t(1), withdrawal("XEM", "x1", "u1", "NNEW", 1_000))
        .unwrap();
    assert!(
        matches!(d.outcome.decision, Decision::Pending { .. }),
        "{d:?}"
    );
    let approve = |who: &str| EventKind::Approval {
        asset: "XEM".parse().unwrap(),
        id: "x1".parse().unwrap(),
        approver: who.into(),
    };
    let d = l.decide_at(t(2), approve("alice")).unwrap();
    assert!(matches!(d.outcome.decision, Decision::Pending { .. }));
    // The same approver twice does not count twice (another worker).
    let mut other = db.open();
    let d = other.decide_at(t(3), approve("alice")).unwrap();
    assert!(matches!(d.outcome.decision, Decision::Pending { .. }));
    let d = other.decide_at(t(4), approve("bob")).unwrap();
    assert!(approved(&d.outcome.decision), "{d:?}");
    assert_eq!(l.asset_state("XEM").unwrap().unwrap().reserved(), 1_000);

    // An allowlist entry is active only after its delay.
    l.decide_at(
        t(10),
        EventKind::AllowlistAdd {
            asset: "XEM".parse().unwrap(),
            destination: "NLATER".parse().unwrap(),
        },
    )
    .unwrap();
    let d = l
        .decide_at(t(20), withdrawal("XEM", "x2", "u1", "NLATER", 1_000))
        .unwrap();
    assert!(matches!(d.outcome.decision, Decision::Pending { .. }));
    let d = other
        .decide_at(
            t(10 + 3_600),
            withdrawal("XEM", "x3", "u1", "NLATER", 1_000),
        )
        .unwrap();
    assert!(approved(&d.outcome.decision), "{d:?}");
    let s = l.asset_state("XEM").unwrap().unwrap();
    assert!(s.allowlist_entry("NLATER").is_some());
}

fn clock_going_backwards_fails_closed(db: &Db) {
    let clock = Arc::new(AtomicI64::new(1_000));
    let c = clock.clone();
    let mut l = Ledger::open(&db.url)
        .unwrap()
        .with_policy(policy())
        .with_time_source(TimeSource::Custom(Arc::new(move || {
            t(c.load(Ordering::SeqCst))
        })));
    l.decide(deposit("BTC", 10_000_000)).unwrap();
    clock.store(900, Ordering::SeqCst);
    let e = l
        .decide(withdrawal("BTC", "w1", "u1", "bc1q", 1_000))
        .unwrap_err();
    assert!(matches!(e, DecideError::ClockWentBackwards { .. }), "{e:?}");
    assert!(l.withdrawal("w1").unwrap().is_none());
    assert_eq!(l.verify_audit().unwrap().records, 1);
    // The store's own clock (system or database time) is far after t(1000).
    let mut real = db.open();
    let d = real
        .decide(withdrawal("BTC", "w1", "u1", "bc1q", 1_000))
        .unwrap();
    assert!(approved(&d.outcome.decision));
}

fn id_of_another_asset_is_refused(db: &Db) {
    let mut l = db.open();
    l.decide_at(t(0), deposit("BTC", 10_000_000)).unwrap();
    l.decide_at(t(0), deposit("XEM", 10_000_000)).unwrap();
    l.decide_at(t(1), withdrawal("BTC", "same", "u", "bc1q", 1_000))
        .unwrap();
    let e = l
        .decide_at(t(2), withdrawal("XEM", "same", "u", "NXEMPARTNER", 1_000))
        .unwrap_err();
    assert!(matches!(e, DecideError::IdOfOtherAsset), "{e:?}");
}

fn batch_commits_all_or_nothing_and_refuses_per_event(db: &Db) {
    let mut l = db.open();
    let reqs = vec![
        Request {
            at: Some(t(0)),
            evidence: None,
            kind: deposit("BTC", 10_000_000),
        },
        Request {
            at: Some(t(1)),
            evidence: None,
            kind: withdrawal("BTC", "b1", "u", "bc1q", 1_000),
        },
        // Refused (zero amount): the others go on.
        Request {
            at: Some(t(2)),
            evidence: None,
            kind: withdrawal("BTC", "b2", "u", "bc1q", 0),
        },
        Request {
            at: Some(t(3)),
            evidence: None,
            kind: deposit("XEM", 5),
        },
        Request {
            at: Some(t(4)),
            evidence: None,
            kind: withdrawal("BTC", "b1", "u", "bc1q", 1_000),
        },
    ];
    let out = l.decide_batch(&reqs).unwrap();
    assert_eq!(out.len(), 5);
    assert!(out[0].is_ok() && out[1].is_ok() && out[3].is_ok());
    assert!(matches!(out[2], Err(DecideError::Refused(_))));
    assert!(matches!(
        out[4].as_ref().unwrap().outcome.decision,
        Decision::Duplicate { .. }
    ));
    let mut fresh = db.open();
    assert_eq!(fresh.asset_state("BTC").unwrap().unwrap().reserved(), 1_000);
    assert_eq!(fresh.asset_state("XEM").unwrap().unwrap().hot(), 5);
    let v = fresh.verify_audit().unwrap();
    assert_eq!((v.chains, v.records), (2, 4));
}

/// One batch whose events read rows that earlier events of the same batch
/// wrote (a withdrawal then its approvals, confirmation and failure; one
/// user's windows three times; an allowlist entry added, cancelled, added
/// again; an id taken by another asset in the batch): every decision and the
/// stored state equal the pure engine's, deciding the events one by one.
/// (PostgreSQL holds the batch's writes back until commit and answers its
/// reads from them.)
fn batch_sees_its_own_writes_as_the_engine_does(db: &Db) {
    let ev = |s: i64, kind: EventKind| Request {
        at: Some(t(s)),
        evidence: None,
        kind,
    };
    let approve = |asset: &str, id: &str, who: &str| EventKind::Approval {
        asset: asset.parse().unwrap(),
        id: id.parse().unwrap(),
        approver: who.into(),
    };
    let allow = |add: bool| {
        let (asset, destination) = ("XEM".parse().unwrap(), "NX1".parse().unwrap());
        if add {
            EventKind::AllowlistAdd { asset, destination }
        } else {
            EventKind::AllowlistCancel { asset, destination }
        }
    };
    let reqs = vec![
        ev(0, deposit("BTC", 100_000_000)),
        ev(0, deposit("XEM", 100_000_000)),
        // Above the approval threshold: pending, then approved by two.
        ev(1, withdrawal("BTC", "a", "u1", "bc1qa", 4_000_000)),
        ev(2, approve("BTC", "a", "alice")),
        ev(3, approve("BTC", "a", "bob")),
        ev(4, withdrawal("BTC", "b", "u1", "bc1qa", 2_000_000)),
        // u1's 1h window (8M) holds 6M: denied.
        ev(5, withdrawal("BTC", "c", "u1", "bc1qa", 2_000_001)),
        ev(6, withdrawal("BTC", "c2", "u1", "bc1qb", 2_000_000)),
        ev(
            7,
            EventKind::Confirmed {
                asset: "BTC".parse().unwrap(),
                id: "a".parse().unwrap(),
            },
        ),
        ev(
            8,
            EventKind::Failed {
                asset: "BTC".parse().unwrap(),
                id: "b".parse().unwrap(),
            },
        ),
        // "b" is BTC's, recorded earlier in this batch.
        ev(9, withdrawal("XEM", "b", "u1", "NXEMPARTNER", 1_000)),
        ev(10, allow(true)),
        ev(11, allow(false)),
        ev(12, allow(true)),
        ev(13, withdrawal("XEM", "x1", "u2", "NX1", 1_000)),
        ev(14, approve("XEM", "x1", "carol")),
        ev(15, approve("XEM", "x1", "bob")),
        ev(16, withdrawal("BTC", "a", "u1", "bc1qa", 4_000_000)),
    ];
    let mut l = db.open();
    let out = l.decide_batch(&reqs).unwrap();
    let config = policy().config().clone();
    let mut engine = State::default();
    for (i, (req, got)) in reqs.iter().zip(&out).enumerate() {
        if i == 10 {
            assert!(matches!(got, Err(DecideError::IdOfOtherAsset)), "{got:?}");
            continue;
        }
        let want = decide(
            &config,
            &mut engine,
            &Event::new(req.at.unwrap(), req.kind.clone()),
        )
        .unwrap_or_else(|e| panic!("event {i}: {e}"));
        let got = got.as_ref().unwrap_or_else(|e| panic!("event {i}: {e}"));
        assert_eq!(got.outcome, want, "event {i}");
    }
    assert!(matches!(
        out[6].as_ref().unwrap().outcome.decision,
        Decision::Denied { .. }
    ));
    // Stored (read by a fresh handle) as the engine holds it.
    let mut fresh = db.open();
    for asset in ["BTC", "XEM"] {
        let stored = fresh.asset_state(asset).unwrap().unwrap();
        assert_eq!(stored, engine.assets[asset], "{asset}");
    }
    assert_eq!(fresh.verify_audit().unwrap().records, 17);
}

fn newer_schema_refuses_to_open(db: &Db) {
    drop(db.open());
    db.raw("UPDATE kinko_meta SET value = '99' WHERE key = 'schema_version'");
    let e = Ledger::open(&db.url).unwrap_err();
    assert!(
        matches!(
            e,
            OpenError::NewerSchema {
                found: 99,
                supported: kinko_ledger::SCHEMA_VERSION
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("newer than this kinko supports"));
    db.raw("UPDATE kinko_meta SET value = 'x' WHERE key = 'schema_version'");
    assert!(matches!(
        Ledger::open(&db.url).unwrap_err(),
        OpenError::DamagedSchema
    ));
}

/// Builds a ledger with `n` BTC records.
fn ledger_with_records(db: &Db, n: i64) -> Ledger {
    let mut l = db.open();
    for i in 0..n {
        l.decide_at(t(i), deposit("BTC", 1 + i as u64)).unwrap();
    }
    l.decide_at(t(0), deposit("XEM", 7)).unwrap();
    assert_eq!(l.verify_audit().unwrap().records, n as u64 + 1);
    l
}

fn first_bad(l: &mut Ledger) -> (String, u64, Problem) {
    match l.verify_audit() {
        Err(VerifyError::BadRecord {
            asset,
            seq,
            problem,
        }) => (asset, seq, problem),
        other => panic!("tampering not detected: {other:?}"),
    }
}

fn tamper_edit_delete_swap_truncate_named(db: &Db) {
    let n = 8;
    let mut l = ledger_with_records(db, n);
    // Each tampering is undone by restoring a copy of the table.
    db.raw("CREATE TABLE audit_copy AS SELECT * FROM kinko_audit");
    let restore = "DELETE FROM kinko_audit; INSERT INTO kinko_audit SELECT * FROM audit_copy;";
    for k in 1..=n {
        // Edit a payload.
        db.raw(&format!(
            "UPDATE kinko_audit SET payload = replace(payload, '\"amount\":{k}', '\"amount\":9{k}') WHERE asset = 'BTC' AND seq = {k}"
        ));
        assert_eq!(
            first_bad(&mut l),
            ("BTC".into(), k as u64, Problem::HashMismatch)
        );
        db.raw(restore);
        // Edit the time.
        db.raw(&format!(
            "UPDATE kinko_audit SET at = at + 1 WHERE asset = 'BTC' AND seq = {k}"
        ));
        assert_eq!(first_bad(&mut l).1, k as u64);
        db.raw(restore);
        // Delete a record.
        db.raw(&format!(
            "DELETE FROM kinko_audit WHERE asset = 'BTC' AND seq = {k}"
        ));
        let (asset, seq, _) = first_bad(&mut l);
        assert_eq!((asset.as_str(), seq), ("BTC", k as u64), "delete {k}");
        db.raw(restore);
        // Swap two records' contents (sequence numbers stay in place).
        if k < n {
            let j = k + 1;
            db.raw(&format!(
                "UPDATE kinko_audit SET seq = -1 WHERE asset = 'BTC' AND seq = {k};
                 UPDATE kinko_audit SET seq = {k} WHERE asset = 'BTC' AND seq = {j};
                 UPDATE kinko_audit SET seq = {j} WHERE asset = 'BTC' AND seq = -1;"
            ));
            assert_eq!(first_bad(&mut l).1, k as u64, "swap {k} {j}");
            db.raw(restore);
        }
        assert!(l.verify_audit().is_ok());
    }
    // Truncate the tail: the first missing record is named.
    db.raw("DELETE FROM kinko_audit WHERE asset = 'BTC' AND seq > 5");
    assert_eq!(
        first_bad(&mut l),
        ("BTC".into(), 6, Problem::Truncated { head_count: 8 })
    );
    db.raw(restore);
    // A forged record appended at the end (valid link, but not the head).
    db.raw(
        "INSERT INTO kinko_audit SELECT asset, seq + 1, at, kind, payload, hash, hash FROM kinko_audit WHERE asset = 'BTC' AND seq = 8",
    );
    assert_eq!(first_bad(&mut l).1, 9);
    db.raw(restore);
    assert!(l.verify_audit().is_ok());
    // The export verifies without the database against the heads.
    let mut out = Vec::new();
    assert_eq!(l.export_audit(&mut out).unwrap(), n as u64 + 1);
    let heads = l.audit_heads().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        kinko_ledger::audit::verify_export(&text, &heads).unwrap(),
        n as u64 + 1
    );
}

fn unknown_asset_and_no_policy(db: &Db) {
    let mut l = db.open();
    let e = l.decide_at(t(0), deposit("DOGE", 1)).unwrap_err();
    assert!(matches!(e, DecideError::Refused(_)));
    let mut bare = Ledger::open(&db.url).unwrap();
    assert!(matches!(
        bare.decide_at(t(0), deposit("BTC", 1)),
        Err(DecideError::NoPolicy)
    ));
    assert!(bare.asset_state("DOGE").unwrap().is_none());
    // Denials name their rule.
    l.decide_at(t(0), deposit("BTC", 100_000_000)).unwrap();
    let d = l
        .decide_at(t(1), withdrawal("BTC", "big", "u", "bc1q", 6_000_000))
        .unwrap();
    match d.outcome.decision {
        Decision::Denied { rule, .. } => assert_eq!(rule.name(), "max_withdrawal"),
        other => panic!("{other:?}"),
    }
    let _ = Rule::Frozen;
}
