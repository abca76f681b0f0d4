//! The transaction rules of `check_transaction` at their boundaries, on
//! PSBTs built with rust-bitcoin directly: `non-final-locktime`,
//! `relative-locktime`, `change-beyond-gap`.

mod common;

use bitcoin::absolute::LockTime;
use bitcoin::bip32::ChildNumber;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid, Witness};
use kinko_cosigner::{check_transaction, max_height_estimate, CosignRule, TxRules};
use kinko_wallet::{AnalysisOptions, Keychain, MultisigWallet, OutputKind};

fn wallet() -> MultisigWallet {
    common::wallet([1, 2, 3])
}

/// A transaction of `inputs` inputs with these sequences, paying an outside
/// script, and change at `change` (with its derivations) when given.
fn psbt(
    w: &MultisigWallet,
    version: i32,
    lock_time: u32,
    sequences: &[u32],
    change: Option<u32>,
) -> Psbt {
    let input = sequences
        .iter()
        .enumerate()
        .map(|(i, s)| TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([9; 32]), i as u32),
            script_sig: ScriptBuf::new(),
            sequence: Sequence(*s),
            witness: Witness::new(),
        })
        .collect();
    let mut output = vec![TxOut {
        value: Amount::from_sat(50_000),
        script_pubkey: ScriptBuf::new_p2wsh(&ScriptBuf::from_bytes(vec![0x51]).wscript_hash()),
    }];
    if let Some(i) = change {
        output.push(TxOut {
            value: Amount::from_sat(40_000),
            script_pubkey: w.script_pubkey(Keychain::Change, i).unwrap(),
        });
    }
    let tx = Transaction {
        version: Version(version),
        lock_time: LockTime::from_consensus(lock_time),
        input,
        output,
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    if let Some(i) = change {
        let secp = Secp256k1::verification_only();
        let steps = [
            ChildNumber::Normal { index: 1 },
            ChildNumber::Normal { index: i },
        ];
        for k in w.keys() {
            let pk = k.xpub.derive_pub(&secp, &steps).unwrap().public_key;
            psbt.outputs[1]
                .bip32_derivation
                .insert(pk, (k.fingerprint, k.child_path(Keychain::Change, i)));
        }
        psbt.outputs[1].witness_script = Some(w.witness_script(Keychain::Change, i).unwrap());
    }
    psbt
}

/// 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;
const REF: (u32, i64) = (870_000, 1_732_060_800);

fn rules() -> TxRules {
    TxRules {
        now: NOW,
        chain_reference: Some(REF),
        max_change_index: 1_000,
    }
}

/// The rule `check_transaction` refuses by, or `None`.
fn check(p: &Psbt, r: &TxRules) -> Option<CosignRule> {
    let w = wallet();
    let a = w.analyze(p, &AnalysisOptions::default());
    check_transaction(p, &a, r).err().map(|e| e.rule)
}

const FINAL: u32 = 0xFFFF_FFFF;
const RBF: u32 = 0xFFFF_FFFD;

#[test]
fn lock_time_by_time_is_at_most_two_hours_ahead() {
    let w = wallet();
    let r = rules();
    let at = |t: i64| psbt(&w, 2, u32::try_from(t).unwrap(), &[RBF], None);
    assert_eq!(check(&at(NOW + 7_200), &r), None);
    assert_eq!(
        check(&at(NOW + 7_201), &r),
        Some(CosignRule::NonFinalLocktime)
    );
    // In the past, and the smallest time lock.
    assert_eq!(check(&at(NOW - 86_400), &r), None);
    assert_eq!(check(&at(500_000_000), &r), None);
    // The largest lock time.
    assert_eq!(
        check(&psbt(&w, 2, u32::MAX, &[RBF], None), &r),
        Some(CosignRule::NonFinalLocktime)
    );
    // Refused even when every sequence is final (the lock is then off).
    assert_eq!(
        check(&psbt(&w, 2, u32::MAX, &[FINAL], None), &r),
        Some(CosignRule::NonFinalLocktime)
    );
}

#[test]
fn lock_time_by_height_is_at_most_the_estimate() {
    let w = wallet();
    // 1,000 blocks of 480 s (and 479 s more) after the reference, plus 144.
    let now = REF.1 + 480 * 1_000 + 479;
    let estimate = REF.0 + 1_000 + 144;
    assert_eq!(max_height_estimate(REF, now), estimate);
    let r = TxRules { now, ..rules() };
    let at = |h: u32| psbt(&w, 2, h, &[RBF], None);
    assert_eq!(check(&at(estimate), &r), None);
    assert_eq!(
        check(&at(estimate + 1), &r),
        Some(CosignRule::NonFinalLocktime)
    );
    assert_eq!(check(&at(0), &r), None);
    assert_eq!(check(&at(1), &r), None);

    // No chain reference: every height above 0 is refused.
    let blind = TxRules {
        chain_reference: None,
        ..r
    };
    assert_eq!(check(&at(0), &blind), None);
    assert_eq!(check(&at(1), &blind), Some(CosignRule::NonFinalLocktime));

    // A clock behind the reference: no time elapsed, not less.
    assert_eq!(max_height_estimate(REF, REF.1 - 10_000_000), REF.0 + 144);
    // Far in the future: capped below the lock-time threshold.
    assert_eq!(max_height_estimate(REF, i64::MAX), 499_999_999);
    assert_eq!(max_height_estimate((499_999_999, 0), 0), 499_999_999);
}

#[test]
fn relative_locks_are_refused_from_version_2() {
    let w = wallet();
    let r = rules();
    let seq = |version: i32, s: &[u32]| check(&psbt(&w, version, 0, s, None), &r);
    for ok in [RBF, 0xFFFF_FFFE, FINAL, 0x8000_0001, 0x0001_0000, 0] {
        assert_eq!(seq(2, &[ok]), None, "{ok:#x}");
    }
    assert_eq!(seq(2, &[1]), Some(CosignRule::RelativeLocktime));
    // A time-based relative lock (type flag 1 << 22).
    assert_eq!(seq(2, &[0x0040_0001]), Some(CosignRule::RelativeLocktime));
    // Version 1: BIP68 does not apply.
    assert_eq!(seq(1, &[1]), None);
    // A negative version is a large unsigned one: BIP68 applies.
    assert_eq!(seq(-1, &[1]), Some(CosignRule::RelativeLocktime));
    // Any input: the second one here.
    let p = psbt(&w, 2, 0, &[RBF, 0x0000_0090], None);
    let a = w.analyze(&p, &AnalysisOptions::default());
    let e = check_transaction(&p, &a, &r).unwrap_err();
    assert_eq!(e.rule, CosignRule::RelativeLocktime);
    assert!(e.detail.starts_with("input 1"), "{}", e.detail);
}

#[test]
fn change_is_at_most_the_gap_ahead() {
    let w = wallet();
    let r = rules();
    let at = |i: u32| psbt(&w, 2, 0, &[RBF], Some(i));
    // The analysis verifies the hand-made change.
    let p = at(1_000);
    let a = w.analyze(&p, &AnalysisOptions::default());
    assert_eq!(
        a.outputs[1].kind,
        OutputKind::Change {
            keychain: Keychain::Change,
            index: 1_000
        }
    );
    assert_eq!(check(&p, &r), None);
    assert_eq!(check(&at(1_001), &r), Some(CosignRule::ChangeBeyondGap));
    assert_eq!(check(&at(0), &r), None);
}

#[test]
fn rule_names_are_stable() {
    for (rule, name) in [
        (CosignRule::NonFinalLocktime, "non-final-locktime"),
        (CosignRule::RelativeLocktime, "relative-locktime"),
        (CosignRule::ChangeBeyondGap, "change-beyond-gap"),
        (CosignRule::WrongAsset, "wrong-asset"),
        (CosignRule::StateMismatch, "state-mismatch"),
    ] {
        assert_eq!(rule.as_str(), name);
        assert_eq!(rule.to_string(), name);
    }
}
