//! The policy cosigner's one-transaction mark (`Ledger::cosign`), on both
//! backends: a reservation is cosigned for one transaction only, even when
//! two cosigners race; every decision is in the audit chain.

use kinko_ledger::{
    CosignError, CosignResult, CosignVerdict, DecideError, Ledger, Request,
    RULE_RESERVATION_COSIGNED,
};
use kinko_policy::{Decision, EventKind, Timestamp, Wallet, WithdrawalStatus};

use crate::common::Db;

both!(
    cosign_marks_once_and_audits_every_decision,
    racing_cosigners_mark_once,
    a_cosigned_reservation_is_not_released_by_a_failure,
);

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn reserve(l: &mut Ledger, id: &str) {
    let at = t("2026-01-26T09:00:00Z");
    l.decide_at(
        at,
        EventKind::Deposit {
            asset: "BTC".into(),
            wallet: Wallet::Hot,
            amount: 100_000_000,
        },
    )
    .unwrap();
    let c = l
        .decide_at(
            at,
            EventKind::Withdrawal {
                id: id.into(),
                user: "alice".into(),
                asset: "BTC".into(),
                destination: "tb1qdest".into(),
                amount: 1_000_000,
            },
        )
        .unwrap();
    assert!(matches!(c.outcome.decision, Decision::Approved { .. }));
}

fn sign(txid: &str) -> impl FnOnce(&str, &kinko_policy::Withdrawal) -> CosignVerdict + '_ {
    move |asset, w| {
        assert_eq!((asset, w.amount), ("BTC", 1_000_000));
        CosignVerdict::Sign { txid: txid.into() }
    }
}

fn rule(r: &CosignResult) -> &str {
    match r {
        CosignResult::Refused { rule, .. } => rule,
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
            again: false
        }
    );
    assert_eq!(l.cosign_mark("w1").unwrap().as_deref(), Some("aa"));
    // The same transaction again: an idempotent retry.
    let r = l.cosign("w1", at, sign("aa")).unwrap();
    assert_eq!(
        r.result,
        CosignResult::Signed {
            txid: "aa".into(),
            again: true
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
            asset: "BTC".into(),
            id: "w1".into(),
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
    assert_eq!((s.hot, s.reserved), (99_000_000, 0));
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
        asset: "BTC".into(),
        id: id.into(),
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
                id: "w2".into(),
                user: "bob".into(),
                asset: "BTC".into(),
                destination: "tb1qother".into(),
                amount: 500_000,
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
    assert!(e.to_string().contains("rule reservation_cosigned"), "{e}");
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
    assert_eq!(s.withdrawals["w1"].status, WithdrawalStatus::Reserved);
    assert_eq!(s.withdrawals["w2"].status, WithdrawalStatus::Released);
    assert_eq!(s.reserved, 1_000_000);

    // The confirmation ends it.
    l.decide_at(
        t("2026-01-26T09:04:00Z"),
        EventKind::Confirmed {
            asset: "BTC".into(),
            id: "w1".into(),
        },
    )
    .unwrap();
    let s = other.asset_state("BTC").unwrap().unwrap();
    assert_eq!((s.hot, s.reserved), (99_000_000, 0));
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
        (Some("reservation_cosigned"), Some("aa"), Some("w1"))
    );
}
