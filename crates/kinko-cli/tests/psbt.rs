//! `kinko psbt create | combine | finalize | inspect` through the binary.

mod common;

use std::path::Path;
use std::str::FromStr;

use kinko_wallet::bitcoin::consensus::encode::deserialize_hex;
use kinko_wallet::bitcoin::Transaction;
use kinko_wallet::{decode_psbt, encode_psbt, PsbtEncoding};

use common::{kinko, p, setup, sign, verify_with_core, Setup, TO};

fn sign_file(s: &Setup, who: usize, input: &str, output: &str) {
    let bytes = std::fs::read(input).unwrap();
    let (mut psbt, enc) = decode_psbt(&bytes).unwrap();
    sign(s, who, &mut psbt);
    std::fs::write(output, encode_psbt(&psbt, enc)).unwrap();
}

#[test]
fn create_sign_combine_finalize() {
    let s = setup(4, 100_000);
    let d = s.dir.path();
    let utxos = p(d, "utxos.json");
    let unsigned = p(d, "unsigned.psbt");
    let to = format!("{TO}:250000");
    let out = kinko(&[
        "psbt",
        "create",
        "--descriptor",
        &s.descriptor,
        "--utxos",
        &utxos,
        "--to",
        &to,
        "--fee-rate",
        "2.5",
        "--out",
        &unsigned,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["inputs"], 3);
    // Change goes one past the highest change index among the UTXOs (3).
    assert_eq!(summary["change"]["index"], 4);
    let text = std::fs::read_to_string(&unsigned).unwrap();
    assert!(text.starts_with("cHNidP8"), "base64 by default");

    let out = kinko(&[
        "psbt",
        "inspect",
        "--descriptor",
        &s.descriptor,
        "--psbt",
        &unsigned,
        "--json",
        "--check",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["safe_to_sign"], true);
    assert_eq!(a["outputs"][0]["kind"], "external");
    assert_eq!(a["outputs"][1]["kind"], "change");
    assert_eq!(a["inputs"][0]["needed"], 2);

    let (a_path, b_path) = (p(d, "a.psbt"), p(d, "b.psbt"));
    sign_file(&s, 0, &unsigned, &a_path);
    sign_file(&s, 2, &unsigned, &b_path);
    let combined = p(d, "combined.psbt");
    let out = kinko(&["psbt", "combine", "--out", &combined, &a_path, &b_path]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (final_psbt, tx_hex) = (p(d, "final.psbt"), p(d, "tx.hex"));
    let out = kinko(&[
        "psbt",
        "finalize",
        "--psbt",
        &combined,
        "--out",
        &final_psbt,
        "--tx-out",
        &tx_hex,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tx: Transaction =
        deserialize_hex(std::fs::read_to_string(&tx_hex).unwrap().trim()).unwrap();
    assert_eq!(tx.input.len(), 3);
    assert!(
        tx.input.iter().all(|i| i.witness.len() == 4),
        "dummy, two signatures, script"
    );
    verify_with_core(&tx, &s.spent);
    // The finalized PSBT written beside it extracts to the same transaction.
    let (done, _) = decode_psbt(&std::fs::read(&final_psbt).unwrap()).unwrap();
    assert_eq!(
        kinko_wallet::extract(done, kinko_wallet::MAX_FEE_RATE).unwrap(),
        tx
    );
    // Human inspect of the finalized PSBT says so.
    let out = kinko(&[
        "psbt",
        "inspect",
        "--descriptor",
        &s.descriptor,
        "--psbt",
        &final_psbt,
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("finalized"), "{text}");
    assert!(
        text.contains("verified change (change keychain, index 4)"),
        "{text}"
    );
}

#[test]
fn binary_psbts_stay_binary() {
    let s = setup(2, 100_000);
    let d = s.dir.path();
    let unsigned = p(d, "u.psbt");
    let to = format!("{TO}:50000");
    let out = kinko(&[
        "psbt",
        "create",
        "--descriptor",
        &s.descriptor,
        "--utxos",
        &p(d, "utxos.json"),
        "--to",
        &to,
        "--fee-rate",
        "1",
        "--out",
        &unsigned,
        "--binary",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&unsigned).unwrap().starts_with(b"psbt\xff"));
    let (a_path, b_path, c) = (p(d, "a"), p(d, "b"), p(d, "c"));
    sign_file(&s, 0, &unsigned, &a_path);
    sign_file(&s, 1, &unsigned, &b_path);
    assert!(kinko(&["psbt", "combine", "--out", &c, &a_path, &b_path])
        .status
        .success());
    let (psbt, enc) = decode_psbt(&std::fs::read(&c).unwrap()).unwrap();
    assert_eq!(enc, PsbtEncoding::Binary);
    assert_eq!(psbt.inputs[0].partial_sigs.len(), 2);
    let mut psbt = psbt;
    kinko_wallet::finalize(&mut psbt).unwrap();
    verify_with_core(
        &kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap(),
        &s.spent,
    );
}

#[test]
fn create_errors() {
    let s = setup(2, 100_000);
    let d = s.dir.path();
    let utxos = p(d, "utxos.json");
    let out_file = p(d, "x.psbt");
    let run = |to: &str, rate: &str| {
        kinko(&[
            "psbt",
            "create",
            "--descriptor",
            &s.descriptor,
            "--utxos",
            &utxos,
            "--to",
            to,
            "--fee-rate",
            rate,
            "--out",
            &out_file,
        ])
    };
    let out = run(&format!("{TO}:500000"), "1");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("insufficient funds") && err.contains("missing"),
        "{err}"
    );
    let out = run(&format!("{TO}:100"), "1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("dust"));
    let out = run("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4:5000", "1");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not for testnet"));
    let out = run(&format!("{TO}:5000"), "5000");
    assert!(String::from_utf8_lossy(&out.stderr).contains("fee rate"));
    for (to, rate) in [
        (TO.to_string(), "1"),
        (format!("{TO}:1.5"), "1"),
        (format!("{TO}:5000"), "abc"),
        (format!("{TO}:5000"), "1.2345"),
    ] {
        assert_eq!(run(&to, rate).status.code(), Some(2), "{to} {rate}");
    }
    assert!(!Path::new(&out_file).exists(), "no file written on error");
    // A utxo file that is not a list, or has unknown fields: exit 1.
    std::fs::write(&utxos, "[{\"txid\": 5}]").unwrap();
    assert_eq!(run(&format!("{TO}:5000"), "1").status.code(), Some(1));
}

#[test]
fn inspect_check_refuses_change_fraud_with_exit_3() {
    let s = setup(2, 100_000);
    let d = s.dir.path();
    let unsigned = p(d, "u.psbt");
    let to = format!("{TO}:50000");
    assert!(kinko(&[
        "psbt",
        "create",
        "--descriptor",
        &s.descriptor,
        "--utxos",
        &p(d, "utxos.json"),
        "--to",
        &to,
        "--fee-rate",
        "1",
        "--out",
        &unsigned,
    ])
    .status
    .success());
    let (mut psbt, enc) = decode_psbt(&std::fs::read(&unsigned).unwrap()).unwrap();
    let change = psbt
        .outputs
        .iter()
        .position(|o| !o.bip32_derivation.is_empty())
        .unwrap();
    psbt.unsigned_tx.output[change].script_pubkey = kinko_wallet::bitcoin::Address::from_str(TO)
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let evil = p(d, "evil.psbt");
    std::fs::write(&evil, encode_psbt(&psbt, enc)).unwrap();
    let out = kinko(&[
        "psbt",
        "inspect",
        "--descriptor",
        &s.descriptor,
        "--psbt",
        &evil,
        "--check",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused by rule change-fraud"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUSPICIOUS (change-fraud)"));
    // Garbage is an error, not a panic.
    std::fs::write(&evil, "cHNidP8BAgarbage").unwrap();
    let out = kinko(&[
        "psbt",
        "inspect",
        "--descriptor",
        &s.descriptor,
        "--psbt",
        &evil,
    ]);
    assert_eq!(out.status.code(), Some(1));
}
