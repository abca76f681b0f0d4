//! PSBT create, sign, combine, finalize, extract; every signed transaction
//! is checked by Bitcoin Core's script interpreter.

use kinko_wallet::bitcoin::bip32::KeySource;
use kinko_wallet::bitcoin::psbt::{Psbt, PsbtSighashType};
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::sighash::EcdsaSighashType;
use kinko_wallet::bitcoin::{Amount, FeeRate, Network, Sequence, TxOut};
use kinko_wallet::{
    combine, decode_psbt, encode_psbt, extract, finalize, CombineError, CreateError, CreateParams,
    CreatedPsbt, FinalizeError, Keychain, MultisigWallet, PsbtEncoding, SignError, Utxo,
    MAX_FEE_RATE,
};

use crate::common::{
    external_address, utxos, verify_partial_sigs, verify_with_core, wallet, Cosigner,
};

fn params(amount: u64, rate_sat_vb: u64) -> CreateParams {
    CreateParams {
        recipients: vec![(external_address(), Amount::from_sat(amount))],
        fee_rate: FeeRate::from_sat_per_vb(rate_sat_vb).unwrap(),
        change_index: 7,
        spend_all: false,
    }
}

/// Signs with `m` cosigners (each on its own copy), combines, finalizes,
/// extracts and runs Bitcoin Core's interpreter.
fn sign_all_and_verify(w: &MultisigWallet, cs: &[Cosigner], created: &CreatedPsbt, coins: &[Utxo]) {
    let m = w.threshold();
    let mut parts = Vec::new();
    for c in cs.iter().take(m) {
        let mut p = created.psbt.clone();
        let report = w.sign(&mut p, &c.signer()).expect("signs");
        assert_eq!(report.signed.len(), p.inputs.len());
        assert_eq!(report.signatures(), p.inputs.len());
        parts.push(p);
    }
    let mut psbt = combine(parts).expect("combines");
    let a = w.analyze(&psbt, &Default::default());
    assert!(a.is_complete(), "{:?}", a.inputs);
    finalize(&mut psbt).expect("finalizes");
    let tx = extract(psbt, MAX_FEE_RATE).expect("extracts");
    verify_with_core(&tx, coins);
    // The real fee rate is at least the target (signatures estimated at 72 bytes).
    let fee = created.fee.to_sat();
    assert!(
        fee * 1000 / tx.weight().to_wu() >= 250,
        "fee rate below 1 sat/vB"
    );
    assert!(tx.weight() <= created.estimated_weight);
}

#[test]
fn one_of_two() {
    let (w, cs) = wallet(1, 2);
    let coins = utxos(&w, 3, Amount::from_sat(50_000));
    let created = w.create_psbt(&coins, &params(60_000, 1)).unwrap();
    sign_all_and_verify(&w, &cs, &created, &coins);
    // The second cosigner alone works too.
    let mut p = created.psbt.clone();
    w.sign(&mut p, &cs[1].signer()).unwrap();
    finalize(&mut p).unwrap();
    verify_with_core(&extract(p, MAX_FEE_RATE).unwrap(), &coins);
}

#[test]
fn two_of_three_and_three_of_five() {
    for (m, n) in [(2, 3), (3, 5)] {
        let (w, cs) = wallet(m, n);
        let coins = utxos(&w, 6, Amount::from_sat(100_000));
        let created = w.create_psbt(&coins, &params(250_000, 5)).unwrap();
        let (pos, idx, change) = created.change.expect("change");
        assert_eq!(idx, 7);
        let psbt = &created.psbt;
        assert_eq!(psbt.unsigned_tx.output[pos].value, change);
        assert_eq!(
            psbt.unsigned_tx.output[pos].script_pubkey,
            w.script_pubkey(Keychain::Change, 7).unwrap()
        );
        // Every input field a signer needs, and the change output's fields.
        for (inp, txin) in psbt.inputs.iter().zip(&psbt.unsigned_tx.input) {
            assert!(inp.non_witness_utxo.is_some());
            assert!(inp.witness_utxo.is_some());
            assert!(inp.witness_script.is_some());
            assert_eq!(inp.bip32_derivation.len(), n);
            assert_eq!(txin.sequence, Sequence::ENABLE_RBF_NO_LOCKTIME);
        }
        assert!(psbt.outputs[pos].witness_script.is_some());
        assert_eq!(psbt.outputs[pos].bip32_derivation.len(), n);
        assert_eq!(psbt.xpub.len(), n);
        // Not enough signatures: finalize fails.
        let mut short = psbt.clone();
        w.sign(&mut short, &cs[0].signer()).unwrap();
        assert_eq!(verify_partial_sigs(&short, &coins), psbt.inputs.len());
        assert!(matches!(
            finalize(&mut short),
            Err(FinalizeError::Inputs { .. })
        ));
        sign_all_and_verify(&w, &cs, &created, &coins);
        // The analysis agrees with what create did.
        let a = w.analyze(psbt, &Default::default());
        assert!(a.is_safe_to_sign(), "{:?}", a.findings);
        assert_eq!(a.fee, Some(created.fee));
        assert_eq!(a.change_total(), change);
        assert_eq!(a.external_outputs().count(), 1);
    }
}

#[test]
fn one_to_five_hundred_inputs() {
    let (w, cs) = wallet(2, 3);
    for count in [1u32, 2, 17, 100, 500] {
        let coins = utxos(&w, count, Amount::from_sat(20_000));
        let p = CreateParams {
            spend_all: true,
            ..params(10_000, 2)
        };
        let created = w.create_psbt(&coins, &p).unwrap();
        assert_eq!(created.psbt.inputs.len(), count as usize);
        sign_all_and_verify(&w, &cs, &created, &coins);
    }
}

#[test]
fn signing_is_deterministic_low_r_and_idempotent() {
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 2, Amount::from_sat(80_000));
    let created = w.create_psbt(&coins, &params(120_000, 3)).unwrap();
    let mut a = created.psbt.clone();
    let mut b = created.psbt.clone();
    w.sign(&mut a, &cs[0].signer()).unwrap();
    w.sign(&mut b, &cs[0].signer()).unwrap();
    assert_eq!(a, b, "RFC6979: same key, same PSBT, same signatures");
    assert_eq!(verify_partial_sigs(&a, &coins), 2);
    for inp in &a.inputs {
        for sig in inp.partial_sigs.values() {
            assert_eq!(sig.sighash_type, EcdsaSighashType::All);
            let der = sig.signature.serialize_der();
            // Low R: r is at most 32 bytes with its top bit clear.
            assert!(der[3] <= 32, "low-R signature");
        }
    }
    // Signing again adds nothing.
    let again = w.sign(&mut a, &cs[0].signer()).unwrap();
    assert_eq!(again.signatures(), 0);
    assert_eq!(a, b);
    // A key of another wallet signs nothing.
    let stranger = crate::common::cosigner(99);
    let mut c = created.psbt.clone();
    let r = w.sign(&mut c, &stranger.signer()).unwrap();
    assert_eq!(r.no_key, vec![0, 1]);
    assert_eq!(c, created.psbt);
    // Completed by a second cosigner, the transaction is valid for Core.
    w.sign(&mut b, &cs[1].signer()).unwrap();
    finalize(&mut b).unwrap();
    verify_with_core(&extract(b, MAX_FEE_RATE).unwrap(), &coins);
}

#[test]
fn selection_errors_are_clear() {
    let (w, _) = wallet(2, 3);
    let coins = utxos(&w, 3, Amount::from_sat(10_000));
    match w.create_psbt(&coins, &params(100_000, 1)) {
        Err(CreateError::InsufficientFunds { missing, available }) => {
            assert_eq!(available, Amount::from_sat(30_000));
            assert!(missing > Amount::from_sat(70_000), "{missing}");
            assert!(missing < Amount::from_sat(72_000), "{missing}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        w.create_psbt(&coins, &params(100, 1)),
        Err(CreateError::DustRecipient { .. })
    ));
    let mut p = params(5_000, 1);
    p.fee_rate = FeeRate::from_sat_per_kwu(24);
    assert!(matches!(
        w.create_psbt(&coins, &p),
        Err(CreateError::FeeRateOutOfRange { .. })
    ));
    p.fee_rate = FeeRate::from_sat_per_vb(1_001).unwrap();
    assert!(matches!(
        w.create_psbt(&coins, &p),
        Err(CreateError::FeeRateOutOfRange { .. })
    ));
    let mut p = params(5_000, 1);
    p.recipients = vec![(
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
            .parse()
            .unwrap(),
        Amount::from_sat(5_000),
    )];
    assert!(matches!(
        w.create_psbt(&coins, &p),
        Err(CreateError::WrongNetwork { index: 0, .. })
    ));
    p.recipients.clear();
    assert!(matches!(
        w.create_psbt(&coins, &p),
        Err(CreateError::NoRecipients)
    ));
    // A UTXO whose amount, txid, vout or keychain is wrong.
    let mut bad = coins.clone();
    bad[0].amount = Amount::from_sat(10_001);
    assert!(matches!(
        w.create_psbt(&bad, &params(5_000, 1)),
        Err(CreateError::AmountMismatch { .. })
    ));
    let mut bad = coins.clone();
    bad[0].outpoint.vout = 9;
    assert!(matches!(
        w.create_psbt(&bad, &params(5_000, 1)),
        Err(CreateError::VoutOutOfRange { .. })
    ));
    let mut bad = coins.clone();
    bad[0].keychain = Keychain::Change;
    assert!(matches!(
        w.create_psbt(&bad, &params(5_000, 1)),
        Err(CreateError::NotOurs { .. })
    ));
    let mut bad = coins.clone();
    bad[1] = bad[0].clone();
    assert!(matches!(
        w.create_psbt(&bad, &params(5_000, 1)),
        Err(CreateError::DuplicateUtxo(_))
    ));
    let mut bad = coins.clone();
    bad[0].outpoint.txid = crate::common::txid_zero();
    assert!(matches!(
        w.create_psbt(&bad, &params(5_000, 1)),
        Err(CreateError::PrevTxMismatch { .. })
    ));
}

#[test]
fn dust_change_goes_to_fee() {
    let (w, _) = wallet(2, 3);
    let coins = utxos(&w, 1, Amount::from_sat(100_000));
    // At 1 sat/vB a 1-in 2-out 2-of-3 spend is about 200 vB: leave ~100 sat of change.
    let created = w.create_psbt(&coins, &params(99_700, 1)).unwrap();
    assert!(created.change.is_none());
    assert_eq!(created.fee, Amount::from_sat(300));
    assert_eq!(created.psbt.unsigned_tx.output.len(), 1);
    // Enough left over: change.
    let created = w.create_psbt(&coins, &params(90_000, 1)).unwrap();
    let (_, _, change) = created.change.unwrap();
    assert!(change > Amount::from_sat(9_000));
}

#[test]
fn sign_refuses_what_it_cannot_check_and_leaves_the_psbt_unchanged() {
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 2, Amount::from_sat(80_000));
    let created = w.create_psbt(&coins, &params(120_000, 3)).unwrap();
    let signer = cs[0].signer();

    let mut p = created.psbt.clone();
    p.inputs[1].sighash_type = Some(PsbtSighashType::from(
        EcdsaSighashType::SinglePlusAnyoneCanPay,
    ));
    let before = p.clone();
    assert!(matches!(
        w.sign(&mut p, &signer),
        Err(SignError::SighashNotAll { input: 1 })
    ));
    assert_eq!(p, before, "nothing written");

    let mut p = created.psbt.clone();
    p.inputs[0].non_witness_utxo = None;
    assert!(matches!(
        w.sign(&mut p, &signer),
        Err(SignError::PrevTxMissing { input: 0 })
    ));

    let mut p = created.psbt.clone();
    p.inputs[0].witness_utxo = Some(TxOut {
        value: Amount::from_sat(1),
        script_pubkey: p.inputs[0]
            .witness_utxo
            .as_ref()
            .unwrap()
            .script_pubkey
            .clone(),
    });
    assert!(matches!(
        w.sign(&mut p, &signer),
        Err(SignError::WitnessUtxoMismatch { input: 0 })
    ));

    let mut p = created.psbt.clone();
    p.inputs[0].non_witness_utxo = p.inputs[1].non_witness_utxo.clone();
    assert!(matches!(
        w.sign(&mut p, &signer),
        Err(SignError::PrevTxMismatch { input: 0 })
    ));

    // Claims change/5 for an input that is receive/0.
    let mut p = created.psbt.clone();
    let mut fake = w
        .child_keys(Keychain::Change, 5)
        .unwrap()
        .into_iter()
        .zip(w.keys())
        .map(|(pk, k)| {
            let src: KeySource = (k.fingerprint, k.child_path(Keychain::Change, 5));
            (pk, src)
        })
        .collect::<std::collections::BTreeMap<_, _>>();
    std::mem::swap(&mut p.inputs[0].bip32_derivation, &mut fake);
    assert!(matches!(
        w.sign(&mut p, &signer),
        Err(SignError::ScriptMismatch { input: 0, .. })
    ));

    // A key source that fails (an HSM that does not answer) stops the
    // signing: it is not read as "key not held".
    struct Broken;
    impl kinko_wallet::SigningKeys for Broken {
        fn secret_key(
            &self,
            _: &kinko_wallet::KeyRequest<'_>,
        ) -> Result<Option<kinko_wallet::bitcoin::secp256k1::SecretKey>, kinko_wallet::KeySourceError>
        {
            Err(kinko_wallet::KeySourceError::new("device did not answer"))
        }
    }
    let mut p = created.psbt.clone();
    let before = p.clone();
    let err = w.sign(&mut p, &Broken).unwrap_err();
    assert!(
        matches!(err, SignError::KeySource { input: 0, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "input 0: the key source failed");
    assert_eq!(p, before, "nothing written");
}

#[test]
fn combine_conflicts_and_mismatches_are_errors() {
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 2, Amount::from_sat(80_000));
    let created = w.create_psbt(&coins, &params(50_000, 3)).unwrap();
    let mut a = created.psbt.clone();
    w.sign(&mut a, &cs[0].signer()).unwrap();
    // The same signer twice combines (equal values are no conflict).
    assert!(combine(vec![a.clone(), a.clone()]).is_ok());
    // A different signature under the same key is a conflict.
    let mut b = created.psbt.clone();
    w.sign(&mut b, &cs[1].signer()).unwrap();
    // The two halves combine into a transaction valid for Core.
    let mut both = combine(vec![a.clone(), b.clone()]).unwrap();
    finalize(&mut both).unwrap();
    verify_with_core(&extract(both, MAX_FEE_RATE).unwrap(), &coins);
    let (k0, _) = a.inputs[0]
        .partial_sigs
        .iter()
        .next()
        .map(|(k, v)| (*k, *v))
        .unwrap();
    let other_sig = *b.inputs[0].partial_sigs.values().next().unwrap();
    let mut forged = created.psbt.clone();
    forged.inputs[0].partial_sigs.insert(k0, other_sig);
    assert!(matches!(
        combine(vec![a.clone(), forged]),
        Err(CombineError::Conflict {
            index: 1,
            field: "partial_sigs",
            ..
        })
    ));
    // Another transaction.
    let other = w.create_psbt(&coins, &params(40_000, 3)).unwrap().psbt;
    assert!(matches!(
        combine(vec![a.clone(), other]),
        Err(CombineError::DifferentTransaction { index: 1 })
    ));
    assert!(matches!(combine(vec![]), Err(CombineError::Empty)));
}

#[test]
fn extract_checks_the_fee_rate() {
    let (w, cs) = wallet(1, 2);
    let coins = utxos(&w, 1, Amount::from_sat(100_000));
    let created = w.create_psbt(&coins, &params(60_000, 100)).unwrap();
    let mut p = created.psbt.clone();
    w.sign(&mut p, &cs[0].signer()).unwrap();
    finalize(&mut p).unwrap();
    assert!(matches!(
        extract(p.clone(), FeeRate::from_sat_per_vb(50).unwrap()),
        Err(kinko_wallet::ExtractError::FeeRateTooHigh { .. })
    ));
    verify_with_core(&extract(p, MAX_FEE_RATE).unwrap(), &coins);
}

#[test]
fn psbt_files_keep_their_form() {
    let (w, _) = wallet(2, 3);
    let coins = utxos(&w, 1, Amount::from_sat(100_000));
    let psbt = w.create_psbt(&coins, &params(60_000, 1)).unwrap().psbt;
    for enc in [PsbtEncoding::Binary, PsbtEncoding::Base64] {
        let bytes = encode_psbt(&psbt, enc);
        let (back, got) = decode_psbt(&bytes).unwrap();
        assert_eq!(got, enc);
        assert_eq!(back, psbt);
    }
    assert!(decode_psbt(b"not a psbt").is_err());
    assert!(decode_psbt(b"psbt\xff").is_err());
    assert!(decode_psbt(b"").is_err());
}

/// A kinko PSBT signed by rust-bitcoin's own `Psbt::sign` (with the master
/// xprv), finalized by kinko, verified by Bitcoin Core's interpreter.
#[test]
fn interop_rust_bitcoin_signs_a_kinko_psbt() {
    let secp = Secp256k1::new();
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 3, Amount::from_sat(40_000));
    let created = w.create_psbt(&coins, &params(70_000, 2)).unwrap();
    let mut p = created.psbt.clone();
    // Cosigner 0 with rust-bitcoin, cosigner 1 with kinko.
    p.sign(&cs[0].master, &secp).expect("rust-bitcoin signs");
    w.sign(&mut p, &cs[1].signer()).unwrap();
    finalize(&mut p).unwrap();
    verify_with_core(&extract(p, MAX_FEE_RATE).unwrap(), &coins);
}

/// A PSBT built with rust-bitcoin directly (the fields Bitcoin Core's
/// `walletcreatefundedpsbt` fills), signed by kinko.
#[test]
fn interop_kinko_signs_a_rust_bitcoin_psbt() {
    use kinko_wallet::bitcoin::transaction::Version;
    use kinko_wallet::bitcoin::{absolute, OutPoint, ScriptBuf, Transaction, TxIn, Witness};
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 2, Amount::from_sat(40_000));
    let tx = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: coins
            .iter()
            .map(|u| TxIn {
                previous_output: OutPoint {
                    txid: u.outpoint.txid,
                    vout: u.outpoint.vout,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![TxOut {
            value: Amount::from_sat(79_000),
            script_pubkey: external_address().assume_checked().script_pubkey(),
        }],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (inp, u) in psbt.inputs.iter_mut().zip(&coins) {
        inp.non_witness_utxo = Some(u.prev_tx.clone());
        inp.witness_utxo = Some(u.prev_tx.output[u.outpoint.vout as usize].clone());
        inp.witness_script = Some(w.witness_script(u.keychain, u.index).unwrap());
        for (pk, k) in w
            .child_keys(u.keychain, u.index)
            .unwrap()
            .into_iter()
            .zip(w.keys())
        {
            inp.bip32_derivation
                .insert(pk, (k.fingerprint, k.child_path(u.keychain, u.index)));
        }
    }
    let mut parts = Vec::new();
    for c in &cs[1..] {
        let mut p = psbt.clone();
        assert_eq!(w.sign(&mut p, &c.signer()).unwrap().signatures(), 2);
        parts.push(p);
    }
    let mut p = combine(parts).unwrap();
    finalize(&mut p).unwrap();
    verify_with_core(&extract(p, MAX_FEE_RATE).unwrap(), &coins);
    let _ = Network::Testnet;
}

#[test]
fn sign_with_index_equals_sign() {
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 20, Amount::from_sat(40_000));
    let created = w
        .create_psbt(
            &coins,
            &CreateParams {
                spend_all: true,
                ..params(70_000, 2)
            },
        )
        .unwrap();
    let index = w.script_index(0, 50).unwrap();
    let mut a = created.psbt.clone();
    let mut b = created.psbt.clone();
    w.sign(&mut a, &cs[2].signer()).unwrap();
    w.sign_with_index(&mut b, &cs[2].signer(), &index).unwrap();
    assert_eq!(a, b);
    assert_eq!(verify_partial_sigs(&a, &coins), coins.len());
}

/// Writes seed PSBTs for the fuzz targets when `KINKO_FUZZ_SEEDS` names a
/// folder (the wallet is the one `fuzz_targets/psbt_analysis.rs` uses).
#[test]
fn fuzz_seeds() {
    let Some(dir) = std::env::var_os("KINKO_FUZZ_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (w, cs) = wallet(2, 3);
    let coins = utxos(&w, 3, Amount::from_sat(60_000));
    let created = w.create_psbt(&coins, &params(100_000, 2)).unwrap();
    let mut p = created.psbt.clone();
    let mut seeds = vec![p.clone()];
    w.sign(&mut p, &cs[1].signer()).unwrap();
    seeds.push(p.clone());
    w.sign(&mut p, &cs[2].signer()).unwrap();
    seeds.push(p.clone());
    finalize(&mut p).unwrap();
    verify_with_core(&extract(p.clone(), MAX_FEE_RATE).unwrap(), &coins);
    seeds.push(p);
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(
            dir.join(format!("seed-{i}.psbt")),
            encode_psbt(s, PsbtEncoding::Binary),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("seed-{i}.b64")),
            encode_psbt(s, PsbtEncoding::Base64),
        )
        .unwrap();
    }
}
