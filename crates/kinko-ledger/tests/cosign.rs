//! The policy cosigner's one-transaction mark (`Ledger::cosign`), on both
//! backends: a reservation is cosigned for one transaction only, even when
//! two cosigners race; every decision is in the audit chain.

use kinko_ledger::{
    CosignError, CosignResult, CosignVerdict, DecideError, Ledger, Request,
    RULE_RESERVATION_COSIGNED,
};
use kinko_policy::Amount;
use kinko_policy::{Decision, EventKind, Timestamp, Wallet, WithdrawalStatus};

use crate::common::Db;

both!(
    cosign_marks_once_and_audits_every_decision,
    racing_cosigners_mark_once,
    a_cosigned_reservation_is_not_released_by_a_failure,
    a_batch_marks_every_reservation_or_none_and_a_bump_joins_the_family,
    racing_overlapping_batches_pay_each_reservation_once,
);

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn reserve(l: &mut Ledger, id: &str) {
    let at = t("2026-01-26T09:00:00Z");
    l.decide_at(
        at,
        EventKind::Deposit {
            asset: "BTC".parse().unwrap(),
            wallet: Wallet::Hot,
            amount: Amount::from_units(100_000_000),
        },
    )
    .unwrap();
    let c = l
        .decide_at(
            at,
            EventKind::Withdrawal {
                id: id.parse().unwrap(),
                user: "alice".parse().unwrap(),
                asset: "BTC".parse().unwrap(),
                destination: "tb1qdest".parse().unwrap(),
                amount: Amount::from_units(1_000_000),
            },
        )
        .unwrap();
    assert!(matches!(c.outcome.decision, Decision::Approved { .. }));
}

fn sign(txid: &str) -> impl FnOnce(&str, &kinko_policy::Withdrawal) -> CosignVerdict + '_ {
    move |asset, w| {
        assert_eq!((asset, w.amount.units()), ("BTC", 1_000_000));
        CosignVerdict::Sign { txid: txid.into() }
    }
}

fn rule(r: &CosignResult) -> &str {
    match r {
        CosignResult::Refused { rule, .. } => rule.as_str(),
        CosignResult::Signed { .. } => "signed",
        _ => "other",
    }
}

fn cosign_marks_once_and_audits_every_decision(db: &Db) {
    let mut l = db.open();
    let at = Some(t("2026-01-26T09:01:00Z"));
    assert!(matches!(
        l.cosign("nope", at, sign("aa")),
        Err(CosignError::UnknownWithdrawal)
    ));
    reserve(&mut l, "w1");
    // A refusal of the check is recorded, and marks nothing.
    let r = l
        .cosign("w1", at, |_, _| CosignVerdict::Refuse {
            rule: "amount-mismatch".into(),
            detail: "pays 2".into(),
        })
        .unwrap();
    assert_eq!(rule(&r.result), "amount-mismatch");
    assert_eq!(l.cosign_mark("w1").unwrap(), None);

    let r = l.cosign("w1", at, sign("aa")).unwrap();
    assert_eq!(
        r.result,
        CosignResult::Signed {
            txid: "aa".into(),
            again: false,
            replaces: None
        }
    );
    assert_eq!(l.cosign_mark("w1").unwrap().as_deref(), Some("aa"));
    // The same transaction again: an idempotent retry.
    let r = l.cosign("w1", at, sign("aa")).unwrap();
    assert_eq!(
        r.result,
        CosignResult::Signed {
            txid: "aa".into(),
            again: true,
            replaces: None
        }
    );
    // Another transaction for the spent reservation, from another handle.
    let mut other = db.open();
    let r = other.cosign("w1", at, sign("bb")).unwrap();
    assert_eq!(rule(&r.result), "reservation-spent");
    // Settled: nothing more to cosign. Decisions still go on after cosigns
    // (the asset row's version moved; the caches reload).
    l.decide_at(
        t("2026-01-26T09:02:00Z"),
        EventKind::Confirmed {
            asset: "BTC".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    // (A time before the confirmation would fail closed: clock went backwards.)
    assert!(matches!(
        l.cosign("w1", at, sign("aa")),
        Err(CosignError::ClockWentBackwards { .. })
    ));
    let r = l
        .cosign("w1", Some(t("2026-01-26T09:03:00Z")), sign("aa"))
        .unwrap();
    assert_eq!(rule(&r.result), "not-reserved");
    let s = l.asset_state("BTC").unwrap().unwrap();
    assert_eq!((s.hot().units(), s.reserved().units()), (99_000_000, 0));
    // deposit, withdrawal, 5 cosign decisions, confirmation.
    let v = other.verify_audit().unwrap();
    assert_eq!(v.records, 8);
    let mut out = Vec::new();
    l.export_audit(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("\"kind\":\"cosign\"").count(), 5, "{text}");
}

fn racing_cosigners_mark_once(db: &Db) {
    let mut l = db.open();
    reserve(&mut l, "w1");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut l = Ledger::open(&url).unwrap();
                let txid = format!("tx{i}");
                loop {
                    match l.cosign("w1", None, |_, _| CosignVerdict::Sign {
                        txid: txid.clone(),
                    }) {
                        Ok(r) => return r.result,
                        Err(CosignError::Storage(e)) if e.is_transient() => continue,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            })
        })
        .collect();
    let results: Vec<CosignResult> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let signed = results
        .iter()
        .filter(|r| matches!(r, CosignResult::Signed { .. }))
        .count();
    assert_eq!(signed, 1, "{results:?}");
    assert_eq!(
        results
            .iter()
            .filter(|r| rule(r) == "reservation-spent")
            .count(),
        3
    );
    l.verify_audit().unwrap();
}

fn failed(id: &str) -> EventKind {
    EventKind::Failed {
        asset: "BTC".parse().unwrap(),
        id: id.parse().unwrap(),
    }
}

/// Issue #6: a `Failed` report must not release a reservation that was
/// cosigned — the signed transaction may still be broadcast, and the
/// released amount would be approved again. Refused naming the rule,
/// recorded in the audit chain; the reservation stays until `Confirmed`.
/// An uncosigned reservation is still released, in the same batch.
fn a_cosigned_reservation_is_not_released_by_a_failure(db: &Db) {
    let mut l = db.open();
    reserve(&mut l, "w1");
    let at = t("2026-01-26T09:00:00Z");
    let w2 = l
        .decide_at(
            at,
            EventKind::Withdrawal {
                id: "w2".parse().unwrap(),
                user: "bob".parse().unwrap(),
                asset: "BTC".parse().unwrap(),
                destination: "tb1qother".parse().unwrap(),
                amount: Amount::from_units(500_000),
            },
        )
        .unwrap();
    assert!(matches!(w2.outcome.decision, Decision::Approved { .. }));
    let r = l
        .cosign("w1", Some(t("2026-01-26T09:01:00Z")), sign("aa"))
        .unwrap();
    assert!(matches!(r.result, CosignResult::Signed { .. }));

    // Another worker reports the cosigned one failed: refused, recorded.
    let mut other = db.open();
    let e = other
        .decide_at(t("2026-01-26T09:02:00Z"), failed("w1"))
        .unwrap_err();
    match &e {
        DecideError::ReservationCosigned {
            id,
            txid,
            audit_seq,
        } => assert_eq!((id.as_str(), txid.as_str(), *audit_seq), ("w1", "aa", 5)),
        e => panic!("{e:?}"),
    }
    assert_eq!(e.rule(), Some(RULE_RESERVATION_COSIGNED));
    assert!(e.to_string().contains("rule reservation-cosigned"), "{e}");
    // A time before the last event still fails closed, nothing recorded.
    let e = l
        .decide_at(t("2026-01-26T08:00:00Z"), failed("w1"))
        .unwrap_err();
    assert!(matches!(e, DecideError::ClockWentBackwards { .. }), "{e:?}");

    // In a batch: the cosigned one refused, the other released.
    let at = t("2026-01-26T09:03:00Z");
    let out = l
        .decide_batch(&[
            Request {
                at: Some(at),
                evidence: None,
                kind: failed("w1"),
            },
            Request {
                at: Some(at),
                evidence: None,
                kind: failed("w2"),
            },
        ])
        .unwrap();
    assert!(matches!(
        out[0],
        Err(DecideError::ReservationCosigned { audit_seq: 6, .. })
    ));
    assert!(out[1].is_ok(), "{:?}", out[1]);
    let s = other.asset_state("BTC").unwrap().unwrap();
    assert_eq!(
        s.withdrawal("w1").unwrap().status,
        WithdrawalStatus::Reserved
    );
    assert_eq!(
        s.withdrawal("w2").unwrap().status,
        WithdrawalStatus::Released
    );
    assert_eq!(s.reserved(), 1_000_000);

    // The confirmation ends it.
    l.decide_at(
        t("2026-01-26T09:04:00Z"),
        EventKind::Confirmed {
            asset: "BTC".parse().unwrap(),
            id: "w1".parse().unwrap(),
        },
    )
    .unwrap();
    let s = other.asset_state("BTC").unwrap().unwrap();
    assert_eq!((s.hot().units(), s.reserved().units()), (99_000_000, 0));
    // deposit, 2 withdrawals, cosign, 2 refusals, failure, confirmation.
    assert_eq!(other.verify_audit().unwrap().records, 8);
    let mut out = Vec::new();
    l.export_audit(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let refusals: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "refused")
        .collect();
    assert_eq!(refusals.len(), 2, "{text}");
    let p: serde_json::Value =
        serde_json::from_str(refusals[0]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (
            p["rule"].as_str(),
            p["txid"].as_str(),
            p["event"]["id"].as_str()
        ),
        (Some("reservation-cosigned"), Some("aa"), Some("w1"))
    );
}

fn withdraw(l: &mut Ledger, id: &str, amount: u64) {
    let c = l
        .decide_at(
            t("2026-01-26T09:00:00Z"),
            EventKind::Withdrawal {
                id: id.parse().unwrap(),
                user: format!("user-{id}").parse().unwrap(),
                asset: "BTC".parse().unwrap(),
                destination: format!("tb1q{id}").parse().unwrap(),
                amount: Amount::from_units(amount),
            },
        )
        .unwrap();
    assert!(matches!(c.outcome.decision, Decision::Approved { .. }));
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn wids(v: &[&str]) -> Vec<kinko_policy::WithdrawalId> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

/// Issue #13: one transaction pays many reservations; all are marked in one
/// ledger transaction with one audit record each, or none are; a fee bump
/// joins every reservation's family; a confirmed transaction settles the
/// batch at once with its fee.
fn a_batch_marks_every_reservation_or_none_and_a_bump_joins_the_family(db: &Db) {
    let mut l = db.open();
    reserve(&mut l, "w1");
    for id in ["w2", "w3", "w4"] {
        withdraw(&mut l, id, 10_000);
    }
    let at = Some(t("2026-01-26T09:01:00Z"));
    let before = l.verify_audit().unwrap().records;
    assert!(matches!(
        l.cosign_payout(&ids(&["w1", "w1"]), at, |_, _, _| unreachable!()),
        Err(CosignError::BadPayout)
    ));
    assert!(matches!(
        l.cosign_payout(&[], at, |_, _, _| unreachable!()),
        Err(CosignError::BadPayout)
    ));
    let sign = |txid: &'static str| {
        move |_: &str, ws: &[kinko_policy::Withdrawal], fams: &[Vec<String>]| {
            assert_eq!(ws.len(), fams.len());
            (
                CosignVerdict::Sign { txid: txid.into() },
                vec![Some(serde_json::json!({"n": 1})); ws.len()],
            )
        }
    };
    let r = l
        .cosign_payout(&ids(&["w1", "w2", "w3"]), at, sign("b1"))
        .unwrap();
    assert_eq!(r.audit_seqs.clone().count(), 3);
    assert!(matches!(
        r.result,
        CosignResult::Signed { again: false, .. }
    ));
    assert_eq!(l.verify_audit().unwrap().records, before + 3);
    for id in ["w1", "w2", "w3"] {
        assert_eq!(l.cosign_family(id).unwrap(), vec!["b1".to_owned()]);
    }
    // A second batch that pays a reservation of the first: refused, one
    // record, nothing marked (w4 stays free).
    let mut other = db.open();
    let r = other
        .cosign_payout(&ids(&["w4", "w3"]), at, sign("b2"))
        .unwrap();
    assert_eq!(rule(&r.result), "reservation-spent");
    assert_eq!(r.audit_seqs.clone().count(), 1);
    assert!(other.cosign_family("w4").unwrap().is_empty());
    // A retry: one record, signed again.
    let r = l
        .cosign_payout(&ids(&["w1", "w2", "w3"]), at, sign("b1"))
        .unwrap();
    assert!(matches!(r.result, CosignResult::Signed { again: true, .. }));
    // A bump of another family is refused; of its own family it joins.
    let bump = |txid: &'static str, of: &'static str| {
        move |_: &str, ws: &[kinko_policy::Withdrawal], _: &[Vec<String>]| {
            (
                CosignVerdict::Replace {
                    txid: txid.into(),
                    of: of.into(),
                },
                vec![None; ws.len()],
            )
        }
    };
    let r = l
        .cosign_payout(&ids(&["w1", "w2", "w3"]), at, bump("b3", "zz"))
        .unwrap();
    assert_eq!(rule(&r.result), "reservation-spent");
    let r = l
        .cosign_payout(&ids(&["w1", "w2", "w3"]), at, bump("b3", "b1"))
        .unwrap();
    assert_eq!(
        r.result,
        CosignResult::Signed {
            txid: "b3".into(),
            again: false,
            replaces: Some("b1".into())
        }
    );
    assert_eq!(l.cosign_family("w2").unwrap(), ids(&["b1", "b3"]));
    assert_eq!(l.cosign_mark("w2").unwrap().as_deref(), Some("b1"));

    // Settled at once by the bump, with its fee; w4 untouched.
    let s = l.asset_state("BTC").unwrap().unwrap();
    let (hot, reserved) = (s.hot(), s.reserved());
    l.decide_at(
        t("2026-01-26T09:05:00Z"),
        EventKind::TxConfirmed {
            asset: "BTC".parse().unwrap(),
            tx: "b3".into(),
            withdrawals: wids(&["w1", "w2", "w3"]),
            fee: Amount::from_units(777),
        },
    )
    .unwrap();
    let s = other.asset_state("BTC").unwrap().unwrap();
    assert_eq!(s.hot().units(), hot.units() - 1_020_000 - 777);
    assert_eq!(s.reserved().units(), reserved.units() - 1_020_000);
    for id in ["w1", "w2", "w3"] {
        assert_eq!(s.withdrawal(id).unwrap().status, WithdrawalStatus::Settled);
    }
    assert_eq!(
        s.withdrawal("w4").unwrap().status,
        WithdrawalStatus::Reserved
    );
    other.verify_audit().unwrap();
}

/// Issue #13: cosigners racing on overlapping batches — each reservation in
/// at most one cosigned payout family.
fn racing_overlapping_batches_pay_each_reservation_once(db: &Db) {
    let mut l = db.open();
    reserve(&mut l, "w0");
    for i in 1..8 {
        withdraw(&mut l, &format!("w{i}"), 10_000);
    }
    // Batches of three consecutive reservations, overlapping by two.
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut l = Ledger::open(&url).unwrap();
                let batch: Vec<String> = (i..i + 3).map(|k| format!("w{k}")).collect();
                let txid = format!("tx{i}");
                loop {
                    let r = l.cosign_payout(&batch, None, |_, ws, _| {
                        (
                            CosignVerdict::Sign { txid: txid.clone() },
                            vec![None; ws.len()],
                        )
                    });
                    match r {
                        Ok(r) => return (batch, r.result),
                        Err(CosignError::Storage(e)) if e.is_transient() => continue,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut paid_by = std::collections::HashMap::new();
    for (batch, result) in &results {
        if let CosignResult::Signed { txid, .. } = result {
            for id in batch {
                assert!(
                    paid_by.insert(id.clone(), txid.clone()).is_none(),
                    "{results:?}"
                );
            }
        } else {
            assert_eq!(rule(result), "reservation-spent");
        }
    }
    assert!(!paid_by.is_empty());
    for (id, txid) in &paid_by {
        assert_eq!(&l.cosign_family(id).unwrap(), std::slice::from_ref(txid));
    }
    l.verify_audit().unwrap();
}
