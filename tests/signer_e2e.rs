//! The air-gapped signing story end to end, through the real binaries:
//! three keystores from fixed mnemonics (`kinko-signer init --import`), a
//! 2-of-3 wallet from their xpubs registered on two of them, an unsigned PSBT
//! from `kinko psbt create`, signed by two `kinko-signer` processes,
//! combined and finalized with `kinko psbt`, and the transaction checked by
//! Bitcoin Core's script interpreter (libbitcoinconsensus).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use bitcoin::hashes::Hash;
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use kinko_wallet::{Keychain, MultisigWallet};

use crate::bins::bin;

/// BIP39 test-vector mnemonics (trezor/python-mnemonic vectors.json).
const PHRASES: [&str; 3] = [
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank yellow",
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
];
const PASS: &str = "e2e keystore passphrase";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Out {
    let mut child = Command::new(bin(program))
        .args(args)
        .env("KINKO_PASSPHRASE", PASS)
        .env("KINKO_INSECURE_SCRYPT_LOG_N", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    {
        let mut si = child.stdin.take().expect("piped stdin");
        if let Some(s) = stdin {
            si.write_all(s.as_bytes()).expect("stdin accepts");
        }
    }
    let o = child.wait_with_output().expect("binary exits");
    let out = Out {
        code: o.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

fn ok(program: &str, args: &[&str], stdin: Option<&str>) -> String {
    let o = run(program, args, stdin);
    assert_eq!(o.code, 0, "{program} {args:?}: {}{}", o.stdout, o.stderr);
    o.stdout
}

fn funding(spk: ScriptBuf, amount: Amount, salt: u8) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([salt; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: amount,
            script_pubkey: spk,
        }],
    }
}

#[test]
fn two_of_three_signed_on_two_air_gapped_signers_is_valid_for_core() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |n: &str| dir.path().join(n).to_str().expect("utf-8 path").to_owned();

    // Three key holders, each with a keystore and a BIP48 testnet xpub.
    let mut keys = Vec::new();
    for (i, phrase) in PHRASES.iter().enumerate() {
        let ks = p(&format!("holder{i}.age"));
        ok(
            "kinko-signer",
            &["init", "--keystore", &ks, "--import"],
            Some(phrase),
        );
        let xpub = ok(
            "kinko-signer",
            &["xpub", "--keystore", &ks, "--network", "testnet"],
            None,
        );
        keys.push(format!("{}/<0;1>/*", xpub.trim()));
    }
    let descriptor = format!("wsh(sortedmulti(2,{}))", keys.join(","));
    let wallet = MultisigWallet::from_descriptor(&descriptor, Network::Testnet).expect("wallet");

    // Registered on holders 0 and 2; both show the same id and addresses.
    let mut shown = Vec::new();
    for i in [0, 2] {
        let out = ok(
            "kinko-signer",
            &[
                "register",
                "--keystore",
                &p(&format!("holder{i}.age")),
                "--descriptor",
                &descriptor,
                "--name",
                "cold",
            ],
            None,
        );
        assert!(out.contains(&wallet.id()), "{out}");
        let first = wallet.address(Keychain::Receive, 0).expect("address");
        assert!(out.contains(&first.to_string()), "{out}");
        // All but the line naming the holder's own key.
        let common: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with("our key"))
            .map(str::to_owned)
            .collect();
        shown.push(common);
    }
    assert_eq!(shown[0], shown[1], "every signer shows the same wallet");

    // Two coins of the wallet; the coordinator builds the PSBT.
    let coins = [
        (Keychain::Receive, 0u32, 80_000_000u64, 1u8),
        (Keychain::Change, 2, 30_000_000, 2),
    ];
    let mut spent = HashMap::new();
    let mut utxos = Vec::new();
    for (kc, index, sat, salt) in coins {
        let spk = wallet.script_pubkey(kc, index).expect("script");
        let prev = funding(spk, Amount::from_sat(sat), salt);
        let op = OutPoint {
            txid: prev.compute_txid(),
            vout: 0,
        };
        spent.insert(op, prev.output[0].clone());
        utxos.push(serde_json::json!({
            "txid": op.txid.to_string(),
            "vout": 0,
            "amount_sat": sat,
            "keychain": kc.as_str(),
            "index": index,
            "prev_tx": serialize_hex(&prev),
        }));
    }
    std::fs::write(
        p("utxos.json"),
        serde_json::to_string(&utxos).expect("json"),
    )
    .expect("write utxos");
    let to = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx:100000000";
    ok(
        "kinko",
        &[
            "psbt",
            "create",
            "--descriptor",
            &descriptor,
            "--utxos",
            &p("utxos.json"),
            "--to",
            to,
            "--fee-rate",
            "2",
            "--out",
            &p("unsigned.psbt"),
        ],
        None,
    );

    // The third holder has not registered the wallet: refused, nothing written.
    let o = run(
        "kinko-signer",
        &[
            "sign",
            "--keystore",
            &p("holder1.age"),
            "--psbt",
            &p("unsigned.psbt"),
            "--out",
            &p("signed1.psbt"),
            "--yes",
        ],
        None,
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(!Path::new(&p("signed1.psbt")).exists());

    // Two air-gapped signers, two processes.
    for i in [0, 2] {
        let out = ok(
            "kinko-signer",
            &[
                "sign",
                "--keystore",
                &p(&format!("holder{i}.age")),
                "--psbt",
                &p("unsigned.psbt"),
                "--out",
                &p(&format!("signed{i}.psbt")),
                "--yes",
            ],
            None,
        );
        assert!(out.contains("verified change"), "{out}");
        assert!(out.contains("decision:  may sign"), "{out}");
    }
    ok(
        "kinko",
        &[
            "psbt",
            "combine",
            "--out",
            &p("combined.psbt"),
            &p("signed0.psbt"),
            &p("signed2.psbt"),
        ],
        None,
    );
    ok(
        "kinko",
        &[
            "psbt",
            "finalize",
            "--psbt",
            &p("combined.psbt"),
            "--out",
            &p("final.psbt"),
            "--tx-out",
            &p("tx.hex"),
        ],
        None,
    );
    let hex = std::fs::read_to_string(p("tx.hex")).expect("tx written");
    let tx: Transaction = deserialize_hex(hex.trim()).expect("a transaction");
    assert_eq!(tx.input.len(), 2);
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}
