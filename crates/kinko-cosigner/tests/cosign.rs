//! The payment rules of a cosign, through the authority over a real ledger
//! (SQLite) and real PSBTs: what it signs passes Bitcoin Core's script
//! interpreter (libbitcoinconsensus); everything else is refused, naming the
//! rule, the PSBT left unchanged. (The attacks of the backend host are in
//! `tests/authority.rs`.)

mod common;

use bitcoin::psbt::Psbt;
use common::*;
use kinko_cosigner::Cosigner;
use kinko_policy::{Decision, WithdrawalStatus};

const MAX: u64 = 500_000_000;

/// Requests `id` (within the threshold: approved at once).
fn approved(f: &mut Fixture, id: &str, dest: &bitcoin::Address, amount: u64) {
    let d = f
        .authority
        .request_withdrawal(id, "u1", &dest.to_string(), amount)
        .unwrap()
        .outcome
        .decision;
    assert!(matches!(d, Decision::Approved { .. }), "{d:?}");
}

/// The rule of a refused cosign; the PSBT must be unchanged.
fn refused(f: &mut Fixture, id: &str, psbt: &Psbt) -> String {
    let mut p = psbt.clone();
    let r = rule(f.authority.cosign_withdrawal(id, &mut p));
    assert_eq!(&p, psbt, "a refused PSBT is left unchanged");
    r
}

#[test]
fn approved_payment_is_cosigned_once_and_verifies() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    approved(&mut f, "w1", &dest, 50_000_000);
    let before = f.psbt(&[(&dest, 50_000_000)], 5);
    let mut psbt = before.clone();
    let done = f.authority.cosign_withdrawal("w1", &mut psbt).unwrap();
    assert!(done.signatures > 0 && !done.again);
    assert_eq!(done.asset, "BTC");
    f.verify(psbt);

    // The same transaction again (a retry): signed again, marked as such.
    let mut retry = before.clone();
    assert!(
        f.authority
            .cosign_withdrawal("w1", &mut retry)
            .unwrap()
            .again
    );
    f.verify(retry);

    // Another transaction for the spent reservation at a lower fee:
    // refused. At a higher fee, spending the same coin, it is a fee bump of
    // the same payment (issue #13): cosigned, and only one can confirm.
    let lower = f.psbt(&[(&dest, 50_000_000)], 3);
    assert_eq!(refused(&mut f, "w1", &lower), "replacement-fee-not-higher");
    let mut other = f.psbt(&[(&dest, 50_000_000)], 6);
    assert_ne!(
        other.unsigned_tx.compute_txid(),
        before.unsigned_tx.compute_txid()
    );
    let bump = f.authority.cosign_withdrawal("w1", &mut other).unwrap();
    assert!(!bump.again);
    assert_eq!(
        f.authority.replay().family("w1")[0],
        before.unsigned_tx.compute_txid().to_string()
    );
    f.authority
        .ledger()
        .verify_audit_with_key(&f.setup.audit_key())
        .unwrap();
}

#[test]
fn each_mismatch_is_refused_naming_the_rule() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    approved(&mut f, "w1", &dest, 50_000_000);
    let cases = [
        (
            "destination-mismatch",
            f.psbt(&[(&outside(2), 50_000_000)], 5),
        ),
        ("amount-mismatch", f.psbt(&[(&dest, 50_000_001)], 5)),
        (
            "extra-output",
            f.psbt(&[(&dest, 50_000_000), (&outside(3), 10_000)], 5),
        ),
        // 900 sat/vB: a fee far above the set-up's 0.001 BTC limit.
        ("fee-too-high", f.psbt(&[(&dest, 50_000_000)], 900)),
    ];
    for (rule, psbt) in &cases {
        assert_eq!(&refused(&mut f, "w1", psbt), rule);
    }
    // After the refusals, the right PSBT still goes through.
    let mut good = f.psbt(&[(&dest, 50_000_000)], 5);
    f.authority.cosign_withdrawal("w1", &mut good).unwrap();
    f.verify(good);
}

#[test]
fn unknown_denied_and_settled_withdrawals_are_refused() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    let p = f.psbt(&[(&dest, 50_000_000)], 5);
    assert_eq!(refused(&mut f, "nobody", &p), "unknown-withdrawal");

    // Above the per-withdrawal maximum: denied, so nothing to cosign.
    let d = f
        .authority
        .request_withdrawal("big", "u1", &dest.to_string(), MAX + 1)
        .unwrap()
        .outcome
        .decision;
    assert!(matches!(d, Decision::Denied { .. }));
    let p = f.psbt(&[(&dest, MAX + 1)], 5);
    assert_eq!(refused(&mut f, "big", &p), "not-reserved");

    // Settled: the reservation is gone.
    approved(&mut f, "w2", &dest, 50_000_000);
    let mut p = f.psbt(&[(&dest, 50_000_000)], 5);
    f.authority.cosign_withdrawal("w2", &mut p).unwrap();
    f.verify(p);
    f.authority.confirm("w2").unwrap();
    assert_eq!(
        f.authority.state().withdrawal("w2").unwrap().status,
        WithdrawalStatus::Settled
    );
    let again = f.psbt(&[(&dest, 50_000_000)], 7);
    assert_eq!(refused(&mut f, "w2", &again), "not-reserved");
}

#[test]
fn change_that_does_not_derive_from_the_wallet_is_refused() {
    let mut f = Fixture::new(POLICY);
    let dest = outside(1);
    approved(&mut f, "w1", &dest, 50_000_000);
    // Claim change on the wallet's path that does not derive from it.
    let mut p = f.create(&[(&dest, 50_000_000)], 5, 0);
    let change = p
        .outputs
        .iter()
        .position(|o| !o.bip32_derivation.is_empty())
        .unwrap();
    p.unsigned_tx.output[change].script_pubkey = outside(9).script_pubkey();
    let p = f.exchange_signs(p);
    assert_eq!(refused(&mut f, "w1", &p), "change-fraud");
}

#[test]
fn a_key_outside_the_wallet_cannot_be_a_cosigner() {
    assert!(Cosigner::new(wallet([1, 2, 3]), signer(9)).is_err());
}
