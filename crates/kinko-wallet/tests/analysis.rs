//! PsbtAnalysis: one test per refusal rule, each PSBT otherwise valid, built
//! the way an attacker controlling the coordinator would build it.

use std::collections::BTreeMap;

use kinko_wallet::bitcoin::bip32::{ChildNumber, DerivationPath, KeySource};
use kinko_wallet::bitcoin::psbt::{Psbt, PsbtSighashType};
use kinko_wallet::bitcoin::sighash::EcdsaSighashType;
use kinko_wallet::bitcoin::{Amount, FeeRate, Network, TxOut};
use kinko_wallet::{
    AnalysisOptions, CreateParams, Keychain, MultisigWallet, OutputKind, Rule, Severity,
};

use crate::common::{external_address, utxos, verify_partial_sigs, verify_with_core, wallet};

fn honest() -> (MultisigWallet, Psbt, usize) {
    let (w, _) = wallet(2, 3);
    let coins = utxos(&w, 3, Amount::from_sat(100_000));
    let created = w
        .create_psbt(
            &coins,
            &CreateParams {
                recipients: vec![(external_address(), Amount::from_sat(150_000))],
                fee_rate: FeeRate::from_sat_per_vb(2).unwrap(),
                change_index: 4,
                spend_all: false,
            },
        )
        .unwrap();
    let pos = created.change.unwrap().0;
    (w, created.psbt, pos)
}

fn refused(w: &MultisigWallet, p: &Psbt, rule: Rule) {
    let a = w.analyze(p, &AnalysisOptions::default());
    assert!(a.has(rule), "expected {rule}, got {:?}", a.findings);
    assert!(!a.is_safe_to_sign());
    assert_eq!(rule.severity(), Severity::Refuse);
}

fn derivations(
    w: &MultisigWallet,
    kc: Keychain,
    i: u32,
) -> BTreeMap<kinko_wallet::bitcoin::secp256k1::PublicKey, KeySource> {
    w.child_keys(kc, i)
        .unwrap()
        .into_iter()
        .zip(w.keys())
        .map(|(pk, k)| (pk, (k.fingerprint, k.child_path(kc, i))))
        .collect()
}

#[test]
fn honest_psbt_is_safe() {
    let (w, p, pos) = honest();
    let a = w.analyze(&p, &AnalysisOptions::default());
    assert!(a.is_safe_to_sign(), "{:?}", a.findings);
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert_eq!(
        a.outputs[pos].kind,
        OutputKind::Change {
            keychain: Keychain::Change,
            index: 4
        }
    );
    assert!(a
        .inputs
        .iter()
        .all(|i| i.ours.is_some() && i.needed == 2 && i.signatures == 0));
    let fee = a.fee.unwrap();
    assert_eq!(a.total_in.unwrap(), a.total_out.unwrap() + fee);
    let rate = a.fee_rate.unwrap();
    assert!(rate >= FeeRate::from_sat_per_vb(2).unwrap(), "{rate:?}");
    assert!(!a.is_complete());
}

#[test]
fn prev_tx_missing() {
    let (w, mut p, _) = honest();
    p.inputs[1].non_witness_utxo = None;
    refused(&w, &p, Rule::PrevTxMissing);
}

#[test]
fn prev_tx_mismatch() {
    let (w, mut p, _) = honest();
    p.inputs[0].non_witness_utxo = p.inputs[1].non_witness_utxo.clone();
    refused(&w, &p, Rule::PrevTxMismatch);
}

#[test]
fn prev_out_index_beyond_outputs() {
    let (w, mut p, _) = honest();
    // Point the outpoint past the previous transaction's outputs (and keep
    // witness_utxo absent so rust-bitcoin's lookups would index out of range).
    p.unsigned_tx.input[0].previous_output.vout = 50;
    p.inputs[0].witness_utxo = None;
    refused(&w, &p, Rule::PrevOutIndex);
    // Finalize and extract refuse it too, with errors rather than panics.
    assert!(kinko_wallet::finalize(&mut p.clone()).is_err());
    assert!(kinko_wallet::extract(p, kinko_wallet::MAX_FEE_RATE).is_err());
}

#[test]
fn witness_utxo_disagrees_segwit_fee_attack() {
    let (w, mut p, _) = honest();
    let spk = p.inputs[0]
        .witness_utxo
        .as_ref()
        .unwrap()
        .script_pubkey
        .clone();
    p.inputs[0].witness_utxo = Some(TxOut {
        value: Amount::from_sat(1_000_000),
        script_pubkey: spk,
    });
    refused(&w, &p, Rule::WitnessUtxoMismatch);
}

#[test]
fn sighash_not_all() {
    for t in [
        EcdsaSighashType::None,
        EcdsaSighashType::Single,
        EcdsaSighashType::AllPlusAnyoneCanPay,
    ] {
        let (w, mut p, _) = honest();
        p.inputs[0].sighash_type = Some(PsbtSighashType::from(t));
        refused(&w, &p, Rule::SighashNotAll);
    }
    // ALL, written explicitly, is fine.
    let (w, mut p, _) = honest();
    p.inputs[0].sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::All));
    assert!(w.analyze(&p, &Default::default()).is_safe_to_sign());
}

#[test]
fn duplicate_inputs() {
    let (w, mut p, _) = honest();
    p.unsigned_tx.input.push(p.unsigned_tx.input[0].clone());
    p.inputs.push(p.inputs[0].clone());
    refused(&w, &p, Rule::DuplicateInput);
}

#[test]
fn input_not_ours() {
    let (w, mut p, _) = honest();
    p.inputs[0].bip32_derivation.clear();
    refused(&w, &p, Rule::InputNotOurs);
    // An input of another wallet (the analysis knows only ours).
    let cs = [crate::common::cosigner(50), crate::common::cosigner(51)];
    let other =
        MultisigWallet::from_descriptor(&crate::common::descriptor(1, &cs), Network::Testnet)
            .unwrap();
    let (_, p2, _) = honest();
    refused(&other, &p2, Rule::InputNotOurs);
}

#[test]
fn witness_script_does_not_derive_at_the_claimed_place() {
    let (w, mut p, _) = honest();
    // Claims receive/9, but the coin is at another index.
    p.inputs[0].bip32_derivation = derivations(&w, Keychain::Receive, 9);
    refused(&w, &p, Rule::WitnessScriptMismatch);
    // A witness script that is not the wallet's, with the real derivation.
    let (w, mut p, _) = honest();
    p.inputs[0].witness_script = Some(w.witness_script(Keychain::Change, 77).unwrap());
    refused(&w, &p, Rule::WitnessScriptMismatch);
}

#[test]
fn change_fraud_output_claims_our_keys_but_pays_the_attacker() {
    let (w, mut p, pos) = honest();
    // The change output's script is swapped for the attacker's; its PSBT
    // fields still claim our change/4.
    p.unsigned_tx.output[pos].script_pubkey = external_address().assume_checked().script_pubkey();
    refused(&w, &p, Rule::ChangeFraud);
    let a = w.analyze(&p, &Default::default());
    assert_eq!(
        a.outputs[pos].kind,
        OutputKind::Suspicious {
            rule: Rule::ChangeFraud
        }
    );

    // Our fingerprints on a path outside the wallet.
    let (w, mut p, pos) = honest();
    let k = &w.keys()[0];
    let pk = *p.outputs[pos].bip32_derivation.keys().next().unwrap();
    let path: DerivationPath = "m/44'/0'/0'/1/4".parse().unwrap();
    p.outputs[pos]
        .bip32_derivation
        .insert(pk, (k.fingerprint, path));
    refused(&w, &p, Rule::ChangeFraud);
}

#[test]
fn change_on_an_unusual_path() {
    // Receive keychain: the output derives, but change is never on /0/*.
    let (w, mut p, pos) = honest();
    let spk = w.script_pubkey(Keychain::Receive, 4).unwrap();
    p.unsigned_tx.output[pos].script_pubkey = spk;
    p.outputs[pos] = Default::default();
    p.outputs[pos].bip32_derivation = derivations(&w, Keychain::Receive, 4);
    refused(&w, &p, Rule::ChangeUnusualPath);

    // A hardened step after the account key.
    let (w, mut p, pos) = honest();
    let claims: Vec<_> = p.outputs[pos]
        .bip32_derivation
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (pk, (fp, path)) in claims {
        let mut v: Vec<ChildNumber> = path.into_iter().copied().collect();
        let last = v.len() - 1;
        v[last] = ChildNumber::from_hardened_idx(4).unwrap();
        p.outputs[pos]
            .bip32_derivation
            .insert(pk, (fp, DerivationPath::from(v)));
    }
    refused(&w, &p, Rule::ChangeUnusualPath);

    // A third branch (/2/4).
    let (w, mut p, pos) = honest();
    let claims: Vec<_> = p.outputs[pos]
        .bip32_derivation
        .iter()
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    for (pk, (fp, path)) in claims {
        let mut v: Vec<ChildNumber> = path.into_iter().copied().collect();
        let n = v.len();
        v[n - 2] = ChildNumber::from_normal_idx(2).unwrap();
        p.outputs[pos]
            .bip32_derivation
            .insert(pk, (fp, DerivationPath::from(v)));
    }
    refused(&w, &p, Rule::ChangeUnusualPath);
}

#[test]
fn fee_above_limits() {
    let (w, mut p, pos) = honest();
    // Shrink the change: the difference goes to the miner.
    p.unsigned_tx.output[pos].value = Amount::from_sat(1_000);
    let a = w.analyze(&p, &AnalysisOptions::default());
    assert!(a.fee.unwrap() > Amount::from_sat(40_000));
    let strict = AnalysisOptions {
        max_fee: Amount::from_sat(20_000),
        max_fee_rate: FeeRate::from_sat_per_vb(100).unwrap(),
        ..Default::default()
    };
    let a = w.analyze(&p, &strict);
    assert!(
        a.has(Rule::FeeTooHigh) && a.has(Rule::FeeRateTooHigh),
        "{:?}",
        a.findings
    );
    assert!(!a.is_safe_to_sign());
    // Under the defaults (0.01 BTC, 1,000 sat/vB) this fee passes.
    assert!(w.analyze(&p, &AnalysisOptions::default()).is_safe_to_sign());
}

#[test]
fn outputs_exceeding_inputs() {
    let (w, mut p, pos) = honest();
    p.unsigned_tx.output[pos].value = Amount::from_sat(10_000_000);
    refused(&w, &p, Rule::NegativeFee);
}

#[test]
fn network_mismatch() {
    let (w, p, _) = honest();
    let opts = AnalysisOptions {
        expected_network: Some(Network::Bitcoin),
        ..Default::default()
    };
    let a = w.analyze(&p, &opts);
    assert!(a.has(Rule::NetworkMismatch));
    assert!(!a.is_safe_to_sign());
    let opts = AnalysisOptions {
        expected_network: Some(Network::Testnet),
        ..Default::default()
    };
    assert!(w.analyze(&p, &opts).is_safe_to_sign());
}

#[test]
fn signatures_are_counted_and_finalized_inputs_noted() {
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 2, Amount::from_sat(100_000));
    let created = w
        .create_psbt(
            &coins,
            &CreateParams {
                recipients: vec![(external_address(), Amount::from_sat(150_000))],
                fee_rate: FeeRate::from_sat_per_vb(2).unwrap(),
                change_index: 0,
                spend_all: false,
            },
        )
        .unwrap();
    let mut p = created.psbt;
    w.sign(&mut p, &cs[0].signer()).unwrap();
    let a = w.analyze(&p, &Default::default());
    assert!(a.inputs.iter().all(|i| i.signatures == 1 && i.needed == 2));
    assert_eq!(verify_partial_sigs(&p, &coins), 2);
    w.sign(&mut p, &cs[2].signer()).unwrap();
    let a = w.analyze(&p, &Default::default());
    assert!(a.is_complete());
    kinko_wallet::finalize(&mut p).unwrap();
    let a = w.analyze(&p, &Default::default());
    assert!(a.is_complete());
    assert!(a.has(Rule::InputFinalized));
    assert!(a.is_safe_to_sign(), "{:?}", a.findings);
    assert!(a.inputs.iter().all(|i| i.finalized));
    verify_with_core(
        &kinko_wallet::extract(p, kinko_wallet::MAX_FEE_RATE).unwrap(),
        &coins,
    );
}

#[test]
fn rule_names_are_stable() {
    let names = [
        (Rule::PrevTxMissing, "prev-tx-missing"),
        (Rule::PrevTxMismatch, "prev-tx-mismatch"),
        (Rule::PrevOutIndex, "prev-out-index"),
        (Rule::WitnessUtxoMismatch, "witness-utxo-mismatch"),
        (Rule::SighashNotAll, "sighash-not-all"),
        (Rule::DuplicateInput, "duplicate-input"),
        (Rule::InputNotOurs, "input-not-ours"),
        (Rule::WitnessScriptMismatch, "witness-script-mismatch"),
        (Rule::ChangeFraud, "change-fraud"),
        (Rule::ChangeUnusualPath, "change-unusual-path"),
        (Rule::FeeTooHigh, "fee-too-high"),
        (Rule::FeeRateTooHigh, "fee-rate-too-high"),
        (Rule::NegativeFee, "negative-fee"),
        (Rule::NetworkMismatch, "network-mismatch"),
    ];
    for (r, n) in names {
        assert_eq!(r.as_str(), n);
        assert_eq!(r.to_string(), n);
    }
}
