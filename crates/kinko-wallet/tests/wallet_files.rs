//! Wallet files: Core's `importdescriptors` JSON, the Coldcard setup file and
//! Caravan's JSON, written and read back (same wallet, same id, same
//! addresses), and every way a file is refused.
//!
//! References: Coldcard's reader is `from_simple_text` in Coldcard/firmware
//! `shared/multisig.py`; Caravan's file is `getWalletDetailsText` in
//! caravan-bitcoin/caravan `apps/coordinator/src/selectors/wallet.js`; the
//! keys are BIP48 (`m/48'/1'/0'/2'`, P2WSH on the test networks).

use kinko_wallet::bitcoin::base58;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{
    CoreImportOptions, DescriptorError, Keychain, MultisigWallet, WalletFileError, WalletKey,
    MAX_WALLET_FILE,
};

use crate::common::{cosigner, cosigners, wallet};

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Same wallet, same id, same first receive and change addresses.
fn assert_same(got: &MultisigWallet, want: &MultisigWallet) {
    assert_eq!(got, want);
    assert_eq!(got.id(), want.id());
    assert_eq!(got.descriptor(), want.descriptor());
    for k in [Keychain::Receive, Keychain::Change] {
        assert_eq!(
            got.addresses(k, 0, 5).unwrap(),
            want.addresses(k, 0, 5).unwrap()
        );
    }
}

#[test]
fn caravan_file_golden() {
    let (w, _) = wallet(2, 3);
    let got = w.to_caravan("kinko cold");
    let path = data("caravan-2of3.json");
    if std::env::var_os("KINKO_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("golden file (KINKO_BLESS=1 writes it)");
    assert_eq!(got, want);
    let v: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(v["name"], "kinko cold");
    assert_eq!(v["addressType"], "P2WSH");
    assert_eq!(v["network"], "testnet");
    assert_eq!(v["client"], serde_json::json!({"type": "public"}));
    assert_eq!(
        v["quorum"],
        serde_json::json!({"requiredSigners": 2, "totalSigners": 3})
    );
    assert_eq!(v["startingAddressIndex"], 0);
    let c = cosigner(1);
    assert_eq!(
        v["extendedPublicKeys"][0],
        serde_json::json!({
            "name": format!("key 1 ({})", c.fingerprint),
            "bip32Path": "m/48'/1'/0'/2'",
            "xpub": c.xpub.to_string(),
            "xfp": c.fingerprint.to_string(),
        })
    );
    assert_eq!(v["extendedPublicKeys"].as_array().unwrap().len(), 3);
}

#[test]
fn caravan_round_trip() {
    let (w, _) = wallet(2, 3);
    let back = MultisigWallet::from_caravan(&w.to_caravan("x")).unwrap();
    assert_same(&back, &w);
    // Regtest keeps its name; mainnet keys would be refused on a test network.
    let regtest = MultisigWallet::new(2, w.keys().to_vec(), Network::Regtest).unwrap();
    let json = regtest.to_caravan("r");
    assert!(json.contains("\"network\": \"regtest\""));
    assert_same(&MultisigWallet::from_caravan(&json).unwrap(), &regtest);
}

#[test]
fn caravan_writes_signet_as_testnet() {
    let (w, _) = wallet(2, 3);
    let signet = MultisigWallet::new(2, w.keys().to_vec(), Network::Signet).unwrap();
    let json = signet.to_caravan("s");
    assert!(json.contains("\"network\": \"testnet\""));
    let back = MultisigWallet::from_caravan(&json).unwrap();
    assert_eq!(back.network(), Network::Testnet);
    assert_eq!(back.id(), signet.id());
    // Signet and testnet addresses are the same `tb1…` strings.
    assert_eq!(
        back.address(Keychain::Receive, 7).unwrap().to_string(),
        signet.address(Keychain::Receive, 7).unwrap().to_string()
    );
}

#[test]
fn caravan_as_caravan_writes_it() {
    // Caravan's own layout: `uuid`, `xfp` with a space before the colon, a
    // key `method`, a private client and `ledgerPolicyHmacs` (all dropped).
    let (w, cs) = wallet(2, 3);
    let keys: Vec<String> = cs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"    {{
        "name": "Signer {i}",
        "bip32Path": "m/48'/1'/0'/2'",
        "xpub": "{}",
        "xfp" : "{}",
        "method": "text"
      }}"#,
                c.xpub, c.fingerprint
            )
        })
        .collect();
    let json = format!(
        r#"{{
  "name": "Vault",
  "uuid": "0c6f5d11",
  "addressType": "P2WSH",
  "network": "testnet",
  "client":  {{
    "type": "private",
    "url": "http://localhost:18332",
    "username": "me",
    "walletName": "w"
  }},
  "quorum": {{
    "requiredSigners": 2,
    "totalSigners": 3
  }},
  "extendedPublicKeys": [
{}
  ],
  "startingAddressIndex": 5,
  "ledgerPolicyHmacs": []
}}"#,
        keys.join(",\n")
    );
    assert_same(&MultisigWallet::from_caravan(&json).unwrap(), &w);
}

#[test]
fn coldcard_round_trip_shared_and_per_key_derivations() {
    let (w, _) = wallet(2, 3);
    let golden = std::fs::read_to_string(data("coldcard-2of3.txt")).unwrap();
    assert_same(
        &MultisigWallet::from_coldcard(&golden, Network::Testnet).unwrap(),
        &w,
    );
    // One key at another account: a `Derivation:` line before each key.
    let mut keys = w.keys().to_vec();
    let c = cosigner(4);
    let secp = kinko_wallet::bitcoin::secp256k1::Secp256k1::new();
    let path: kinko_wallet::bitcoin::bip32::DerivationPath = "m/48'/1'/5'/2'".parse().unwrap();
    keys[2] = WalletKey {
        fingerprint: c.fingerprint,
        xpub: kinko_wallet::bitcoin::bip32::Xpub::from_priv(
            &secp,
            &c.master.derive_priv(&secp, &path).unwrap(),
        ),
        origin_path: path,
    };
    let mixed = MultisigWallet::new(2, keys, Network::Testnet).unwrap();
    let file = mixed.to_coldcard("mixed");
    assert_eq!(file.matches("Derivation: ").count(), 3);
    assert!(file.contains("Derivation: m/48'/1'/5'/2'\n"));
    assert_same(
        &MultisigWallet::from_coldcard(&file, Network::Testnet).unwrap(),
        &mixed,
    );
}

/// The xpub re-encoded with SLIP-132's Vpub version (P2WSH multisig, testnet).
fn vpub(x: &kinko_wallet::bitcoin::bip32::Xpub) -> String {
    let mut bytes = x.encode().to_vec();
    bytes[0..4].copy_from_slice(&[0x02, 0x57, 0x54, 0x83]);
    base58::encode_check(&bytes)
}

#[test]
fn coldcard_as_sparrow_and_coldcard_write_it() {
    // Comments, CRLF, lower-case labels and fingerprints, `h` steps, a name
    // with `#2` (kept by Coldcard), a Vpub, blank lines, `2/3` policy.
    let (w, cs) = wallet(2, 3);
    let file = format!(
        "# Keystone Multisig setup file (created by Sparrow)\r\n\
         #\r\n\
         name: vault #2\r\n\
         POLICY: 2/3   # two of three\r\n\
         derivation: m/48h/1h/0h/2h\r\n\
         format: p2wsh\r\n\
         \r\n\
         {}: {}\r\n\
         {}: {}\r\n\
         {}: {}\r\n",
        cs[0].fingerprint,
        cs[0].xpub,
        cs[1].fingerprint.to_string().to_uppercase(),
        vpub(&cs[1].xpub),
        cs[2].fingerprint,
        cs[2].xpub,
    );
    assert_same(
        &MultisigWallet::from_coldcard(&file, Network::Testnet).unwrap(),
        &w,
    );
    // Without a Policy line the wallet is n of n, as on Coldcard.
    let no_policy = file.replace("POLICY: 2/3   # two of three\r\n", "");
    let all = MultisigWallet::from_coldcard(&no_policy, Network::Testnet).unwrap();
    assert_eq!(all.threshold(), 3);
    // Signet and regtest take the same tpubs.
    let regtest = MultisigWallet::from_coldcard(&file, Network::Regtest).unwrap();
    assert_eq!(regtest.network(), Network::Regtest);
    assert_eq!(regtest.id(), w.id());
}

#[test]
fn core_round_trip_either_order_and_multipath() {
    let (w, _) = wallet(2, 3);
    let json = w.to_core_import(&CoreImportOptions {
        range_end: 10,
        timestamp: Some(1_700_000_000),
    });
    assert_same(
        &MultisigWallet::from_core_import(&json, Network::Testnet).unwrap(),
        &w,
    );
    let mut v: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    v.reverse();
    let reversed = serde_json::to_string(&v).unwrap();
    assert_same(
        &MultisigWallet::from_core_import(&reversed, Network::Testnet).unwrap(),
        &w,
    );
    let multipath = serde_json::json!([{"desc": w.descriptor(), "timestamp": "now"}]).to_string();
    assert_same(
        &MultisigWallet::from_core_import(&multipath, Network::Testnet).unwrap(),
        &w,
    );
}

/// A valid 2-of-3 Coldcard file of the fixture keys, for breaking.
fn coldcard_file() -> String {
    std::fs::read_to_string(data("coldcard-2of3.txt")).unwrap()
}

fn coldcard_err(text: &str) -> WalletFileError {
    MultisigWallet::from_coldcard(text, Network::Testnet).unwrap_err()
}

#[test]
fn coldcard_refusals() {
    let good = coldcard_file();
    let e = coldcard_err(&"#".repeat(MAX_WALLET_FILE + 1));
    assert!(
        matches!(e, WalletFileError::TooLarge { len } if len == MAX_WALLET_FILE + 1),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace("Policy: 2 of 3\n", "Policy: 2 of 3\nPolicy: 2 of 3\n"));
    assert!(
        matches!(
            e,
            WalletFileError::DuplicateField {
                field: "policy",
                line: 5
            }
        ),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace("Name: kinko cold\n", "Name: a\nhello world\n"));
    assert!(
        matches!(e, WalletFileError::UnknownLine { line: 4 }),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace("Name: kinko cold\n", "Label: x\n"));
    assert!(
        matches!(e, WalletFileError::UnknownLine { line: 3 }),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace("2 of 3", "two of three"));
    assert!(matches!(e, WalletFileError::BadPolicy { line: 4 }), "{e:?}");
    let e = coldcard_err(&good.replace("m/48'/1'/0'/2'", "m/48x/1'"));
    assert!(
        matches!(e, WalletFileError::BadDerivation { line: 5 }),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace("Derivation: m/48'/1'/0'/2'", "Derivation:"));
    assert!(
        matches!(e, WalletFileError::BadDerivation { line: 5 }),
        "{e:?}"
    );
    for fmt in ["P2SH", "P2SH-P2WSH", "P2WSH-P2SH", "P2TR"] {
        let e = coldcard_err(&good.replace("Format: P2WSH", &format!("Format: {fmt}")));
        assert!(matches!(e, WalletFileError::NotP2wsh), "{fmt}: {e:?}");
    }
    // No Format line: P2SH for Coldcard.
    let e = coldcard_err(&good.replace("Format: P2WSH\n", ""));
    assert!(matches!(e, WalletFileError::NotP2wsh), "{e:?}");
    let e = coldcard_err(&good.replace("2 of 3", "2 of 4"));
    assert!(
        matches!(
            e,
            WalletFileError::KeyCount {
                declared: 4,
                found: 3
            }
        ),
        "{e:?}"
    );
    let last = good.lines().last().unwrap().to_owned();
    let many = format!("{good}{}", format!("{last}\n").repeat(18));
    let e = coldcard_err(&many);
    assert!(matches!(e, WalletFileError::TooManyKeys), "{e:?}");
    // The key lines first, the Derivation line after them.
    let moved = good.replace("Derivation: m/48'/1'/0'/2'\n", "") + "Derivation: m/48'/1'/0'/2'\n";
    let e = coldcard_err(&moved);
    assert!(
        matches!(e, WalletFileError::MissingDerivation { position: 0 }),
        "{e:?}"
    );
    let e = coldcard_err(&good.replace(": tpubDEXiq2SVhh", ": tpubDEXiq2SVhX"));
    assert!(
        matches!(e, WalletFileError::BadXpub { position: 1 }),
        "{e:?}"
    );
    let e = MultisigWallet::from_coldcard(&good, Network::Bitcoin).unwrap_err();
    assert!(
        matches!(
            e,
            WalletFileError::WrongNetwork {
                position: 0,
                keys: kinko_wallet::bitcoin::NetworkKind::Test,
                network: Network::Bitcoin
            }
        ),
        "{e:?}"
    );
    let keyless: String = good
        .lines()
        .filter(|l| !l.contains("tpub"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = coldcard_err(&keyless);
    assert!(matches!(e, WalletFileError::MissingField("keys")), "{e:?}");
    let e = coldcard_err(&good.replace("2 of 3", "4 of 3"));
    assert!(
        matches!(
            e,
            WalletFileError::Wallet(DescriptorError::Threshold {
                threshold: 4,
                keys: 3
            })
        ),
        "{e:?}"
    );
    let dup = good.replace(good.lines().nth(8).unwrap(), good.lines().nth(7).unwrap());
    let e = coldcard_err(&dup);
    assert!(
        matches!(
            e,
            WalletFileError::Wallet(DescriptorError::DuplicateKey {
                first: 0,
                second: 1
            })
        ),
        "{e:?}"
    );
}

fn caravan_value() -> serde_json::Value {
    let (w, _) = wallet(2, 3);
    serde_json::from_str(&w.to_caravan("c")).unwrap()
}

fn caravan_err(v: &serde_json::Value) -> WalletFileError {
    MultisigWallet::from_caravan(&v.to_string()).unwrap_err()
}

#[test]
fn caravan_refusals() {
    let e = MultisigWallet::from_caravan("not json").unwrap_err();
    assert!(matches!(e, WalletFileError::Json(_)), "{e:?}");
    let e = MultisigWallet::from_caravan(&" ".repeat(MAX_WALLET_FILE + 1)).unwrap_err();
    assert!(matches!(e, WalletFileError::TooLarge { .. }), "{e:?}");
    // A field of the wrong type is a JSON error too.
    let mut v = caravan_value();
    v["quorum"]["requiredSigners"] = serde_json::json!("two");
    assert!(matches!(caravan_err(&v), WalletFileError::Json(_)));

    let mut v = caravan_value();
    v.as_object_mut().unwrap().remove("addressType");
    let e = caravan_err(&v);
    assert!(
        matches!(e, WalletFileError::MissingField("addressType")),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["addressType"] = serde_json::json!("P2SH");
    assert!(matches!(caravan_err(&v), WalletFileError::NotP2wsh));
    let mut v = caravan_value();
    v["network"] = serde_json::json!("litecoin");
    assert!(matches!(caravan_err(&v), WalletFileError::UnknownNetwork));
    let mut v = caravan_value();
    v["quorum"]["totalSigners"] = serde_json::json!(4);
    let e = caravan_err(&v);
    assert!(
        matches!(
            e,
            WalletFileError::KeyCount {
                declared: 4,
                found: 3
            }
        ),
        "{e:?}"
    );
    let mut v = caravan_value();
    let k = v["extendedPublicKeys"][0].clone();
    v["extendedPublicKeys"] = serde_json::Value::Array(vec![k; 21]);
    assert!(matches!(caravan_err(&v), WalletFileError::TooManyKeys));
    let mut v = caravan_value();
    v["extendedPublicKeys"][1]["xfp"] = serde_json::json!("0x123456");
    let e = caravan_err(&v);
    assert!(
        matches!(e, WalletFileError::BadFingerprint { position: 1 }),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["extendedPublicKeys"][2]["bip32Path"] =
        serde_json::json!("Unknown (make sure you have written this down previously!)");
    let e = caravan_err(&v);
    assert!(
        matches!(e, WalletFileError::BadPath { position: 2 }),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["extendedPublicKeys"][0]["xpub"] = serde_json::json!("xpub661MyMwAqRbc");
    let e = caravan_err(&v);
    assert!(
        matches!(e, WalletFileError::BadXpub { position: 0 }),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["network"] = serde_json::json!("mainnet");
    let e = caravan_err(&v);
    assert!(
        matches!(
            e,
            WalletFileError::WrongNetwork {
                position: 0,
                network: Network::Bitcoin,
                ..
            }
        ),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["quorum"]["requiredSigners"] = serde_json::json!(0);
    let e = caravan_err(&v);
    assert!(
        matches!(
            e,
            WalletFileError::Wallet(DescriptorError::Threshold { .. })
        ),
        "{e:?}"
    );
    let mut v = caravan_value();
    v["extendedPublicKeys"][1]
        .as_object_mut()
        .unwrap()
        .remove("xfp");
    let e = caravan_err(&v);
    assert!(
        matches!(e, WalletFileError::MissingField("extendedPublicKeys.xfp")),
        "{e:?}"
    );
}

#[test]
fn core_refusals() {
    let (w, _) = wallet(2, 3);
    let recv = w.branch_descriptor(Keychain::Receive);
    let change = w.branch_descriptor(Keychain::Change);
    let read = |v: serde_json::Value| {
        MultisigWallet::from_core_import(&v.to_string(), Network::Testnet).unwrap_err()
    };
    let e = MultisigWallet::from_core_import("{", Network::Testnet).unwrap_err();
    assert!(matches!(e, WalletFileError::Json(_)), "{e:?}");
    let e = read(serde_json::json!([]));
    assert!(matches!(e, WalletFileError::CoreEntries), "{e:?}");
    let e = read(serde_json::json!([
        {"desc": recv, "internal": false},
        {"desc": change, "internal": false},
    ]));
    assert!(matches!(e, WalletFileError::CoreEntries), "{e:?}");
    let e = read(serde_json::json!([
        {"desc": recv}, {"desc": change, "internal": true}, {"desc": recv}
    ]));
    assert!(matches!(e, WalletFileError::CoreEntries), "{e:?}");
    let e = read(serde_json::json!([{"internal": false}, {"desc": change, "internal": true}]));
    assert!(matches!(e, WalletFileError::MissingField("desc")), "{e:?}");
    // Receive and change swapped: not the two branches of one wallet.
    let e = read(serde_json::json!([
        {"desc": change, "internal": false},
        {"desc": recv, "internal": true},
    ]));
    assert!(
        matches!(e, WalletFileError::Wallet(DescriptorError::PairMismatch)),
        "{e:?}"
    );
    // A single-branch descriptor alone is half a wallet.
    let e = read(serde_json::json!([{"desc": recv}]));
    assert!(
        matches!(e, WalletFileError::Wallet(DescriptorError::SingleBranch)),
        "{e:?}"
    );
}

#[test]
fn twenty_keys_round_trip_through_every_format() {
    let cs = cosigners(20);
    let keys: Vec<WalletKey> = cs
        .iter()
        .map(|c| WalletKey {
            fingerprint: c.fingerprint,
            origin_path: c.path.clone(),
            xpub: c.xpub,
        })
        .collect();
    let w = MultisigWallet::new(11, keys, Network::Testnet).unwrap();
    assert_same(
        &MultisigWallet::from_caravan(&w.to_caravan("big")).unwrap(),
        &w,
    );
    assert_same(
        &MultisigWallet::from_coldcard(&w.to_coldcard("big"), Network::Testnet).unwrap(),
        &w,
    );
    assert_same(
        &MultisigWallet::from_core_import(
            &w.to_core_import(&CoreImportOptions::default()),
            Network::Testnet,
        )
        .unwrap(),
        &w,
    );
}

/// Inputs the fuzz target `wallet_files` found, replayed: no panic.
#[test]
fn fuzz_regressions_replay() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/wallet_files"
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let _ = MultisigWallet::from_coldcard(&text, Network::Testnet);
        let _ = MultisigWallet::from_caravan(&text);
        let _ = MultisigWallet::from_core_import(&text, Network::Testnet);
    }
}
