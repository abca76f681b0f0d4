//! `kinko-signer sign`: one test per refusal rule, each PSBT built the way an
//! attacker controlling the coordinator would build it (otherwise valid), each
//! refused with exit 3 naming the rule and writing no file; honest PSBTs made
//! with rust-bitcoin alone are signed, and the signed transaction passes
//! Bitcoin Core's script interpreter.

use std::path::Path;

use bitcoin::bip32::{ChildNumber, Xpriv, Xpub};
use bitcoin::hashes::Hash;
use bitcoin::psbt::{Psbt, PsbtSighashType};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::sighash::EcdsaSighashType;
use bitcoin::{Amount, Network, OutPoint, ScriptBuf, Txid};
use kinko_wallet::PsbtEncoding;

use crate::fixtures::*;

fn b64(p: &Psbt) -> Vec<u8> {
    kinko_wallet::encode_psbt(p, PsbtEncoding::Base64)
}

/// Runs `sign --yes` on `psbt` and asserts exit 3 naming `rule`, no file.
fn assert_refused(dir: &Path, ks: &Path, psbt: &Psbt, rule: &str, extra: &[&str]) {
    let input = dir.join(format!("{rule}.psbt"));
    let out = dir.join(format!("{rule}.signed.psbt"));
    write_file(&input, &b64(psbt));
    let mut args = vec![
        "sign",
        "--keystore",
        ks.to_str().unwrap(),
        "--psbt",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--yes",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 3, "{rule}: stdout {} stderr {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("refused by rule {rule}")),
        "{rule}: {}",
        r.stderr
    );
    assert!(r.stdout.contains("decision:  REFUSE"), "{}", r.stdout);
    assert!(!out.exists(), "{rule}: no file may be written");
}

/// A foreign 2-of-2 script (keys the wallet does not have).
fn foreign_script() -> ScriptBuf {
    let secp = Secp256k1::new();
    let m = Xpriv::new_master(Network::Testnet, &[9u8; 32]).unwrap();
    let a = Xpub::from_priv(
        &secp,
        &m.derive_priv(&secp, &[ChildNumber::from(1)]).unwrap(),
    );
    let b = Xpub::from_priv(
        &secp,
        &m.derive_priv(&secp, &[ChildNumber::from(2)]).unwrap(),
    );
    bitcoin::blockdata::script::Builder::new()
        .push_int(1)
        .push_slice(a.public_key.serialize())
        .push_slice(b.public_key.serialize())
        .push_int(2)
        .push_opcode(bitcoin::blockdata::opcodes::all::OP_CHECKMULTISIG)
        .into_script()
}

/// Replaces input `n`'s coin by `prev` (output 1), keeping the PSBT consistent.
fn swap_coin(p: &mut Psbt, n: usize, prev: bitcoin::Transaction) {
    p.unsigned_tx.input[n].previous_output = OutPoint {
        txid: prev.compute_txid(),
        vout: 1,
    };
    p.inputs[n].witness_utxo = Some(prev.output[1].clone());
    p.inputs[n].non_witness_utxo = Some(prev);
}

#[test]
fn every_refusal_rule_exits_3_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ks = registered_keystore(d, 0);
    let hs = holders();
    let honest = honest_psbt(&hs);

    // input-not-ours: a coin of someone else's wallet slipped in, no claim.
    let mut p = honest.clone();
    let ws = foreign_script();
    swap_coin(
        &mut p,
        1,
        funding(
            ScriptBuf::new_p2wsh(&ws.wscript_hash()),
            Amount::from_sat(COIN_B),
            7,
        ),
    );
    p.inputs[1].witness_script = Some(ws);
    p.inputs[1].bip32_derivation.clear();
    assert_refused(d, &ks, &p, "input-not-ours", &[]);

    // witness-script-mismatch: claims receive/0, spends a foreign script.
    let mut p = honest.clone();
    let ws = foreign_script();
    swap_coin(
        &mut p,
        0,
        funding(
            ScriptBuf::new_p2wsh(&ws.wscript_hash()),
            Amount::from_sat(COIN_A),
            8,
        ),
    );
    p.inputs[0].witness_script = Some(ws);
    assert_refused(d, &ks, &p, "witness-script-mismatch", &[]);

    // change-fraud: the change pays the attacker but keeps our claims.
    let mut p = honest.clone();
    let ws = foreign_script();
    p.unsigned_tx.output[1].script_pubkey = ScriptBuf::new_p2wsh(&ws.wscript_hash());
    p.outputs[1].witness_script = Some(ws);
    assert_refused(d, &ks, &p, "change-fraud", &[]);

    // change-unusual-path (hardened step): change claimed at account/1h/5.
    let mut p = honest.clone();
    for (_, path) in p.outputs[1].bip32_derivation.values_mut() {
        let mut steps: Vec<ChildNumber> = path.as_ref().to_vec();
        let n = steps.len();
        steps[n - 2] = ChildNumber::from_hardened_idx(1).unwrap();
        *path = steps.into();
    }
    assert_refused(d, &ks, &p, "change-unusual-path", &[]);

    // change-unusual-path (wrong keychain): "change" sent to receive/7, an
    // address the exchange may already have handed out.
    let mut p = honest.clone();
    let ws = multisig_script(&hs, 0, 7);
    p.unsigned_tx.output[1].script_pubkey = ScriptBuf::new_p2wsh(&ws.wscript_hash());
    p.outputs[1].witness_script = Some(ws);
    p.outputs[1].bip32_derivation = derivations(&hs, 0, 7);
    assert_refused(d, &ks, &p, "change-unusual-path", &[]);

    // prev-tx-missing: only witness_utxo (the segwit fee attack needs this).
    let mut p = honest.clone();
    p.inputs[0].non_witness_utxo = None;
    assert_refused(d, &ks, &p, "prev-tx-missing", &[]);

    // prev-tx-mismatch: the full transaction is another one.
    let mut p = honest.clone();
    let other = p.inputs[1].non_witness_utxo.clone();
    p.inputs[0].non_witness_utxo = other;
    assert_refused(d, &ks, &p, "prev-tx-mismatch", &[]);

    // prev-out-index: the outpoint's index is beyond the outputs.
    let mut p = honest.clone();
    p.unsigned_tx.input[0].previous_output.vout = 9;
    assert_refused(d, &ks, &p, "prev-out-index", &[]);

    // witness-utxo-mismatch (CVE-2020-14199): a smaller amount claimed.
    let mut p = honest.clone();
    if let Some(w) = p.inputs[0].witness_utxo.as_mut() {
        w.value = Amount::from_sat(COIN_A - 2_000_000);
    }
    assert_refused(d, &ks, &p, "witness-utxo-mismatch", &[]);

    // sighash-not-all: SINGLE|ANYONECANPAY lets the attacker add outputs.
    let mut p = honest.clone();
    p.inputs[1].sighash_type = Some(PsbtSighashType::from(
        EcdsaSighashType::SinglePlusAnyoneCanPay,
    ));
    assert_refused(d, &ks, &p, "sighash-not-all", &[]);

    // duplicate-input: the same coin twice (inflates the apparent inputs).
    let mut p = honest.clone();
    let dup = p.unsigned_tx.input[0].clone();
    p.unsigned_tx.input.push(dup);
    let dup_in = p.inputs[0].clone();
    p.inputs.push(dup_in);
    assert_refused(d, &ks, &p, "duplicate-input", &[]);

    // fee-too-high: 1.5 BTC of the change goes to the miners (default limit
    // 1,000,000 sat).
    let mut p = honest.clone();
    p.unsigned_tx.output[1].value = Amount::from_sat(COIN_A + COIN_B - PAY - 1_500_000);
    assert_refused(d, &ks, &p, "fee-too-high", &[]);
    // ... and the honest fee above an operator's lower --max-fee.
    assert_refused(d, &ks, &honest, "fee-too-high", &["--max-fee", "9999"]);

    // network-mismatch: the PSBT's global xpubs are mainnet keys.
    let mut p = honest.clone();
    let secp = Secp256k1::new();
    let main = Xpriv::new_master(Network::Bitcoin, &[3u8; 32]).unwrap();
    p.xpub.insert(
        Xpub::from_priv(&secp, &main),
        (main.fingerprint(&secp), "m".parse().unwrap()),
    );
    assert_refused(d, &ks, &p, "network-mismatch", &[]);
    // ... and the keys declared for bitcoin while the wallet is a testnet one.
    assert_refused(
        d,
        &ks,
        &honest,
        "network-mismatch",
        &["--network", "bitcoin"],
    );
}

#[test]
fn no_registered_wallet_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "bare.age", PHRASES[0]);
    assert_refused(
        dir.path(),
        &ks,
        &honest_psbt(&holders()),
        "input-not-ours",
        &[],
    );
}

fn sign_to(ks: &Path, input: &Path, out: &Path) -> Run {
    run(&[
        "sign",
        "--keystore",
        ks.to_str().unwrap(),
        "--psbt",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--yes",
    ])
}

#[test]
fn honest_psbts_are_signed_in_their_form_and_valid_for_core() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ks0 = registered_keystore(d, 0);
    let ks2 = registered_keystore(d, 2);
    let honest = honest_psbt(&holders());

    // Base64 in, base64 out.
    let input = d.join("honest.psbt");
    write_file(&input, &b64(&honest));
    let out0 = d.join("signed0.psbt");
    let r = sign_to(&ks0, &input, &out0);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains("decision:  may sign"), "{}", r.stdout);
    assert!(
        r.stdout.contains("signed: 2 signature(s) on 2 input(s)"),
        "{}",
        r.stdout
    );
    let bytes0 = std::fs::read(&out0).unwrap();
    assert!(bytes0.starts_with(b"cHNidP8"), "base64 kept");
    let (p0, enc) = kinko_wallet::decode_psbt(&bytes0).unwrap();
    assert_eq!(enc, PsbtEncoding::Base64);
    assert!(p0.inputs.iter().all(|i| i.partial_sigs.len() == 1));
    let spent = honest_spent(&holders());

    // Binary in, binary out; the signatures are RFC6979 (the same twice).
    let input_bin = d.join("honest.bin");
    write_file(&input_bin, &honest.serialize());
    let out0b = d.join("signed0.bin");
    let r = sign_to(&ks0, &input_bin, &out0b);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bytes = std::fs::read(&out0b).unwrap();
    assert!(bytes.starts_with(b"psbt\xff"), "binary kept");
    assert_eq!(
        Psbt::deserialize(&bytes).unwrap(),
        p0,
        "deterministic signatures"
    );
    for i in &p0.inputs {
        for sig in i.partial_sigs.values() {
            assert_eq!(sig.sighash_type, EcdsaSighashType::All);
            // Low R: a 32-byte r makes a DER signature of at most 70 bytes.
            assert!(sig.signature.serialize_der().len() <= 70);
        }
    }

    // An existing output file is never overwritten.
    let r = sign_to(&ks0, &input, &out0);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no-overwrite"));

    // Second holder signs; combined, finalized, and Core's interpreter agrees.
    let out2 = d.join("signed2.psbt");
    let r = sign_to(&ks2, &input, &out2);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (p2, _) = kinko_wallet::decode_psbt(&std::fs::read(&out2).unwrap()).unwrap();
    let combined = kinko_wallet::combine(vec![p0.clone(), p2]).unwrap();
    verify_with_core(&combined, &spent);

    // A Bitcoin Core style PSBT without global xpubs and with an explicit
    // SIGHASH_ALL is signed too.
    let mut core = honest.clone();
    core.xpub.clear();
    for i in &mut core.inputs {
        i.sighash_type = Some(PsbtSighashType::from(EcdsaSighashType::All));
    }
    let input = d.join("core.psbt");
    write_file(&input, &b64(&core));
    let out = d.join("core.signed.psbt");
    let r = sign_to(&ks2, &input, &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // With the first holder's signatures, it spends.
    let (signed, _) = kinko_wallet::decode_psbt(&std::fs::read(&out).unwrap()).unwrap();
    verify_with_core(&kinko_wallet::combine(vec![p0, signed]).unwrap(), &spent);
}

#[test]
fn without_terminal_and_without_yes_nothing_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ks = registered_keystore(d, 1);
    let input = d.join("honest.psbt");
    write_file(&input, &b64(&honest_psbt(&holders())));
    let out = d.join("out.psbt");
    let r = run(&[
        "sign",
        "--keystore",
        ks.to_str().unwrap(),
        "--psbt",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn malformed_psbt_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ks = registered_keystore(d, 0);
    let honest = honest_psbt(&holders()).serialize();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("text", b"not a psbt at all".to_vec()),
        ("truncated", honest[..honest.len() / 2].to_vec()),
        ("magic only", b"psbt\xff".to_vec()),
    ];
    for (name, bytes) in cases {
        let input = d.join("bad.psbt");
        write_file(&input, &bytes);
        let out = d.join("bad.out");
        let r = sign_to(&ks, &input, &out);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(!out.exists());
    }
    let _ = Txid::all_zeros();
}
