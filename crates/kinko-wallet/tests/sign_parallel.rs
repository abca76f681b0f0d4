//! Signing many inputs on several threads: the same bytes as on one thread,
//! the error of the lowest input, nothing written on error, the report in
//! input order; the signed transaction passes Bitcoin Core's interpreter.

use kinko_wallet::bitcoin::psbt::{Psbt, PsbtSighashType};
use kinko_wallet::bitcoin::sighash::EcdsaSighashType;
use kinko_wallet::bitcoin::{Amount, FeeRate, Witness};
use kinko_wallet::{extract, finalize, CreateParams, MultisigWallet, SignError, MAX_FEE_RATE};

use crate::common::{
    cosigner, external_address, utxos, verify_partial_sigs, verify_with_core, wallet,
};

/// More inputs than the threshold from which signing goes parallel (16).
const INPUTS: u32 = 40;

fn created(w: &MultisigWallet) -> (Psbt, Vec<kinko_wallet::Utxo>) {
    let coins = utxos(w, INPUTS, Amount::from_sat(50_000));
    let params = CreateParams {
        recipients: vec![(external_address(), Amount::from_sat(10_000))],
        fee_rate: FeeRate::from_sat_per_vb(2).unwrap(),
        change_index: 3,
        spend_all: true,
    };
    let psbt = w.create_psbt(&coins, &params).unwrap().psbt;
    assert_eq!(psbt.inputs.len(), INPUTS as usize);
    (psbt, coins)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

#[test]
fn same_bytes_on_one_and_two_threads_and_core_accepts() {
    let (w, cs) = wallet(2, 3);
    let (psbt, coins) = created(&w);
    let mut signed = Vec::new();
    for threads in [1, 2, 2] {
        let mut p = psbt.clone();
        let report = pool(threads).install(|| w.sign(&mut p, &cs[0].signer()).unwrap());
        let want: Vec<(usize, usize)> = (0..INPUTS as usize).map(|i| (i, 1)).collect();
        assert_eq!(report.signed, want, "{threads} threads");
        signed.push(p.serialize());
    }
    assert_eq!(signed[0], signed[1], "one thread and two threads");
    assert_eq!(signed[1], signed[2], "two runs on two threads");
    let mut p = Psbt::deserialize(&signed[1]).unwrap();
    pool(2).install(|| w.sign(&mut p, &cs[2].signer()).unwrap());
    finalize(&mut p).unwrap();
    verify_with_core(&extract(p, MAX_FEE_RATE).unwrap(), &coins);
}

#[test]
fn lowest_input_error_is_reported_and_nothing_is_written() {
    let (w, cs) = wallet(2, 3);
    let (mut psbt, _) = created(&w);
    psbt.inputs[31].sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::None));
    psbt.inputs[9].non_witness_utxo = None;
    for threads in [1, 2] {
        let before = psbt.clone();
        let err = pool(threads)
            .install(|| w.sign(&mut psbt, &cs[1].signer()))
            .unwrap_err();
        assert!(
            matches!(err, SignError::PrevTxMissing { input: 9 }),
            "{threads} threads: {err}"
        );
        assert_eq!(psbt, before, "nothing written");
    }
    psbt.inputs[9].non_witness_utxo = created(&w).0.inputs[9].non_witness_utxo.clone();
    let err = pool(2)
        .install(|| w.sign(&mut psbt, &cs[1].signer()))
        .unwrap_err();
    assert!(
        matches!(err, SignError::SighashNotAll { input: 31 }),
        "{err}"
    );
}

#[test]
fn report_lists_inputs_in_order() {
    let (w, cs) = wallet(2, 3);
    let (mut psbt, coins) = created(&w);
    psbt.inputs[3].final_script_witness = Some(Witness::new());
    psbt.inputs[7].bip32_derivation.clear();
    psbt.inputs[29].bip32_derivation.clear();
    let report = pool(2).install(|| w.sign(&mut psbt, &cs[1].signer()).unwrap());
    assert_eq!(report.finalized, vec![3]);
    assert_eq!(report.not_ours, vec![7, 29]);
    assert!(report.no_key.is_empty());
    let want: Vec<(usize, usize)> = (0..INPUTS as usize)
        .filter(|i| ![3, 7, 29].contains(i))
        .map(|i| (i, 1))
        .collect();
    assert_eq!(report.signed, want);
    // One signature of a 2-of-3 cannot be finalized; each is checked against
    // rust-bitcoin's sighash instead (kinko's digest is its own code).
    assert_eq!(verify_partial_sigs(&psbt, &coins), want.len());
    // Again: every signature is there already.
    let again = pool(2).install(|| w.sign(&mut psbt, &cs[1].signer()).unwrap());
    assert_eq!(again.signatures(), 0);
    assert_eq!(again.signed.len(), want.len());
    // A stranger holds no key of the wallet.
    let stranger = cosigner(9).signer();
    let none = pool(2).install(|| w.sign(&mut psbt, &stranger).unwrap());
    assert_eq!(none.no_key.len(), want.len());
    assert!(none.signed.is_empty());
}
