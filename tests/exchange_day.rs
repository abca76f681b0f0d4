//! A shortened exchange's day (300 deposits, 40 withdrawals paid in hourly
//! batches, one of them fee-bumped): the same code
//! as `examples/exchange_day.rs` (`kinko-sim`), everything through the
//! policy cosigner service's API (mutual TLS, the backend's certificate
//! pinned by the signed set-up the authority opens from), with every
//! signed transaction checked by Bitcoin Core's script interpreter, the cold
//! keys held by real `kinko-signer` processes, every attack of the backend
//! host's owner refused by its rule through the API (and the cosigner's
//! ledger file edits, as if its host were breached too), and the audit log
//! verified with the audit key.

use std::collections::HashMap;

use bitcoin::{Amount, OutPoint, Transaction, TxOut};
use kinko_sim::{self as day, DayConfig};

fn verify(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) -> Result<(), String> {
    tx.verify(|op| spent.get(op).cloned())
        .map_err(|e| format!("{} rejected: {e}", tx.compute_txid()))
}

#[test]
fn a_short_day_keeps_every_promise() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    let r = day::run(
        dir.path(),
        &DayConfig::short(crate::bins::bin("kinko-signer")),
        &verify,
        &mut |l| lines.push(l.to_owned()),
    )
    .unwrap_or_else(|e| panic!("{e}\nprogress:\n{}", lines.join("\n")));
    let table = r.table();

    assert_eq!(r.deposits.0, 300);
    assert_eq!(r.requests, 40);
    assert!(r.paid.0 > 30, "{table}");
    assert!(
        r.decisions
            .get("denied max_withdrawal")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{table}"
    );
    assert!(r.sweeps.0 >= 1 && r.refills.0 >= 1, "{table}");
    // The withdrawals above the approval threshold took both approvers'
    // signatures; the admins signed custody statements.
    assert!(
        r.decisions
            .get("pending, 2 approvals signed")
            .copied()
            .unwrap_or(0)
            >= 1,
        "{table}"
    );
    assert!(r.approvals >= 2, "{table}");
    assert!(r.statements.0 >= 2, "{table}");
    // Every batch (the stuck one and its replacement too), sweep, refill
    // and the attacker's payments were verified by the interpreter.
    let b = &r.batching;
    let bump = b.bump.as_ref().expect("one batch was fee-bumped");
    assert_eq!(
        r.verified.0,
        b.batches + 1 + r.sweeps.0 + r.refills.0 + r.attack.paid,
        "{table}"
    );

    // The customers' withdrawals were paid in hourly batches: fewer
    // transactions than withdrawals, fewer virtual bytes and fees than one
    // transaction each.
    assert_eq!(r.batch_every, 3_600);
    assert_eq!(b.payouts, r.paid.0, "{table}");
    assert!(b.batches >= 2 && b.batches < b.payouts, "{table}");
    assert!(b.largest >= 2, "{table}");
    assert!(b.vsize < b.unbatched_vsize, "{table}");
    assert!(b.fees < b.unbatched_fees, "{table}");
    assert_eq!(b.saved(), b.unbatched_fees - b.fees);
    assert!(b.saved() > Amount::ZERO, "{table}");
    // The stuck batch was replaced at a higher fee, and the replacement
    // confirmed (the cosigner's books equal the chain below).
    assert_ne!(bump.original, bump.replacement);
    assert!(bump.replacement_fee > bump.original_fee, "{table}");
    assert!(bump.payouts >= 1, "{table}");

    // The backend reported the hot balance it saw on chain after the
    // withdrawals and at the end of the day: the cosigner's books equal
    // the chain to the satoshi, and the report froze nothing.
    assert_eq!(r.hot_checks.len(), 2, "{table}");
    for c in &r.hot_checks {
        assert_eq!(c.books, c.chain, "{table}");
        assert!(!c.froze, "{table}");
    }
    assert_eq!(
        r.hot_checks[1].chain,
        r.snapshots.last().expect("snapshots").hot
    );

    // The attack: every try was refused by its rule, the attacker got no
    // more than the loss bound, and the breaker fired.
    let a = &r.attack;
    for rule in [
        "unknown-withdrawal",
        "not-reserved",
        "amount-mismatch",
        "destination-mismatch",
        "reservation-spent",
        "non-final-locktime",
        "relative-locktime",
        "fee-too-high",
        "unknown-signer",
        "bad-signature",
        "replayed",
        "state-mismatch",
        "unvouched-cold-deposit",
        "sweep-not-cold",
        "wrong-asset",
        "request-id-reused",
        "object-mismatch",
        "extra-output",
        "reservation-paid-twice",
        "replacement-not-conflicting",
        "replacement-fee-not-higher",
    ] {
        assert!(
            a.tries.iter().any(|t| t.expected == rule),
            "{rule} not tried:\n{table}"
        );
    }
    for t in &a.tries {
        assert!(t.refused_as_expected(), "{t:?}\n{table}");
        // Only edits of the cosigner's ledger file need its host.
        let on_host = matches!(t.expected, "state-mismatch" | "wrong-asset");
        assert_eq!(t.cosigner_host, on_host, "{t:?}\n{table}");
    }
    assert!(a.stolen <= a.bound, "{table}");
    assert!(a.stolen > Amount::ZERO, "{table}");
    assert!(a.breaker_fired_at.is_some(), "{table}");

    // The day verified the audit export from the API; here the cosigner's
    // operator verifies the ledger file on its host (the day left it) with
    // the audit key, and finds the same records.
    let key = r.audit_key.expect("the day's audit key");
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let summary = kinko_ledger::Ledger::open(&url)
        .unwrap()
        .verify_audit_with_key(&key)
        .unwrap();
    assert_eq!(summary.records, r.audit_records);
    assert!(r.audit_records > 0);

    // Each holder's kinko-signer registered the cold wallet and showed the
    // coordinator's first address.
    let registered = lines
        .iter()
        .filter(|l| l.contains("'s kinko-signer: registered wallet"))
        .count();
    assert_eq!(registered, 3, "{}", lines.join("\n"));

    // The refills went through two kinko-signer processes and files: each
    // signer showed what it signs and wrote its own copy with one signature
    // per input; the third holder signed nothing.
    let signed_lines = lines
        .iter()
        .filter(|l| l.contains("'s kinko-signer | signed:"))
        .count();
    assert_eq!(
        signed_lines,
        2 * r.refills.0 as usize,
        "{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("alice's kinko-signer | decision: may sign")),
        "{}",
        lines.join("\n")
    );
    for n in 1..=r.refills.0 {
        let read = |who: &str| {
            let bytes = std::fs::read(dir.path().join(format!("refill-{n}-{who}.psbt")))
                .unwrap_or_else(|e| panic!("{who}'s signed refill {n}: {e}"));
            kinko_wallet::decode_psbt(&bytes).expect("a psbt").0
        };
        let (alice, bob) = (read("alice"), read("bob"));
        assert_eq!(alice.unsigned_tx, bob.unsigned_tx);
        for p in [&alice, &bob] {
            assert!(p.inputs.iter().all(|i| i.partial_sigs.len() == 1));
        }
        assert!(!dir.path().join(format!("refill-{n}-chiyo.psbt")).exists());
    }

    // Hot never held more than its cap's worth after sweeps (10% of custody).
    let after_deposits = &r.snapshots[0];
    let total = after_deposits.hot + after_deposits.cold;
    assert!(
        after_deposits.hot.to_sat() * 10 <= total.to_sat(),
        "{table}"
    );
}
