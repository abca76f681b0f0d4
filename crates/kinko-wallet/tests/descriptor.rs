//! Parsing, validating and exporting wallets.

use kinko_wallet::bitcoin::Network;
use kinko_wallet::{DescriptorError, Keychain, MultisigWallet, WalletWarning};

use crate::common::{cosigner, cosigners, descriptor, wallet};

#[test]
fn multipath_round_trip_writes_checksum() {
    let (w, cs) = wallet(2, 3);
    let d = w.descriptor();
    let (body, sum) = d.split_once('#').expect("checksum written");
    assert_eq!(body, descriptor(2, &cs));
    assert_eq!(sum.len(), 8);
    let again = MultisigWallet::from_descriptor(&d, Network::Testnet).expect("reparse");
    assert_eq!(again, w);
    assert_eq!(again.descriptor(), d);
    assert_eq!(w.id(), sum);
}

#[test]
fn bad_checksum_is_refused() {
    let (w, _) = wallet(2, 3);
    let mut d = w.descriptor();
    let last = d.pop().expect("non-empty");
    d.push(if last == 'q' { 'p' } else { 'q' });
    assert!(matches!(
        MultisigWallet::from_descriptor(&d, Network::Testnet),
        Err(DescriptorError::Parse(_))
    ));
}

#[test]
fn pair_equals_multipath() {
    let (w, _) = wallet(2, 3);
    let pair = MultisigWallet::from_pair(
        &w.branch_descriptor(Keychain::Receive),
        &w.branch_descriptor(Keychain::Change),
        Network::Testnet,
    )
    .expect("pair");
    assert_eq!(pair, w);
    // Swapped branches are not a wallet.
    assert!(matches!(
        MultisigWallet::from_pair(
            &w.branch_descriptor(Keychain::Change),
            &w.branch_descriptor(Keychain::Receive),
            Network::Testnet,
        ),
        Err(DescriptorError::PairMismatch)
    ));
    // A single branch alone is not a wallet.
    assert!(matches!(
        MultisigWallet::from_descriptor(&w.branch_descriptor(Keychain::Receive), Network::Testnet),
        Err(DescriptorError::SingleBranch)
    ));
}

#[test]
fn thresholds() {
    let cs = cosigners(3);
    for m in [0usize, 4] {
        let d = descriptor(m, &cs);
        assert!(
            MultisigWallet::from_descriptor(&d, Network::Testnet).is_err(),
            "m = {m}"
        );
    }
    for m in 1..=3 {
        let d = descriptor(m, &cs);
        let w = MultisigWallet::from_descriptor(&d, Network::Testnet).expect("valid");
        assert_eq!(w.threshold(), m);
    }
    // 20 keys is the most CHECKMULTISIG takes; 21 is refused.
    let cs20 = cosigners(20);
    let w = MultisigWallet::from_descriptor(&descriptor(20, &cs20), Network::Testnet).expect("20");
    assert_eq!(w.keys().len(), 20);
    let cs21 = cosigners(21);
    assert!(MultisigWallet::from_descriptor(&descriptor(11, &cs21), Network::Testnet).is_err());
    assert!(matches!(
        MultisigWallet::new(
            1,
            cs21.iter()
                .map(|c| kinko_wallet::WalletKey {
                    fingerprint: c.fingerprint,
                    origin_path: c.path.clone(),
                    xpub: c.xpub,
                })
                .collect(),
            Network::Testnet
        ),
        Err(DescriptorError::Threshold {
            threshold: 1,
            keys: 21
        })
    ));
}

#[test]
fn duplicate_key_is_refused_and_duplicate_fingerprint_flagged() {
    let c1 = cosigner(1);
    let c2 = cosigner(2);
    let dup = format!(
        "wsh(sortedmulti(2,{k1}/<0;1>/*,{k2}/<0;1>/*,{k1}/<0;1>/*))",
        k1 = c1.key_expr(),
        k2 = c2.key_expr()
    );
    assert!(MultisigWallet::from_descriptor(&dup, Network::Testnet).is_err());

    // Two accounts of one seed: valid, but flagged.
    let secp = kinko_wallet::bitcoin::secp256k1::Secp256k1::new();
    let path: kinko_wallet::bitcoin::bip32::DerivationPath = "m/48'/1'/1'/2'".parse().unwrap();
    let acct = c1.master.derive_priv(&secp, &path).unwrap();
    let xpub = kinko_wallet::bitcoin::bip32::Xpub::from_priv(&secp, &acct);
    let d = format!(
        "wsh(sortedmulti(2,{}/<0;1>/*,[{}/48'/1'/1'/2']{}/<0;1>/*,{}/<0;1>/*))",
        c1.key_expr(),
        c1.fingerprint,
        xpub,
        c2.key_expr()
    );
    let w = MultisigWallet::from_descriptor(&d, Network::Testnet).expect("valid");
    assert_eq!(
        w.warnings(),
        &[WalletWarning::DuplicateFingerprint(c1.fingerprint)]
    );
}

#[test]
fn hardened_steps_and_missing_origins_are_refused() {
    let cs = cosigners(2);
    let k0 = cs[0].key_expr();
    let k1 = cs[1].key_expr();
    let hardened_wildcard = format!("wsh(sortedmulti(1,{k0}/<0;1>/*h,{k1}/<0;1>/*))");
    assert!(matches!(
        MultisigWallet::from_descriptor(&hardened_wildcard, Network::Testnet),
        Err(DescriptorError::HardenedAfterAccount { position: 0 })
    ));
    let hardened_step = format!("wsh(sortedmulti(1,{k0}/<0;1>/*,{k1}/5h/<0;1>/*))");
    assert!(MultisigWallet::from_descriptor(&hardened_step, Network::Testnet).is_err());
    let no_origin = format!("wsh(sortedmulti(1,{k0}/<0;1>/*,{}/<0;1>/*))", cs[1].xpub);
    assert!(matches!(
        MultisigWallet::from_descriptor(&no_origin, Network::Testnet),
        Err(DescriptorError::MissingOrigin { position: 1 })
    ));
    let extra_step = format!("wsh(sortedmulti(1,{k0}/<0;1>/*,{k1}/7/<0;1>/*))");
    assert!(matches!(
        MultisigWallet::from_descriptor(&extra_step, Network::Testnet),
        Err(DescriptorError::UnsupportedPath { position: 1 })
    ));
}

#[test]
fn networks() {
    let (w, cs) = wallet(2, 2);
    // tpub keys: testnet, signet and regtest are fine; mainnet is not.
    for n in [Network::Testnet, Network::Signet, Network::Regtest] {
        assert!(MultisigWallet::from_descriptor(&w.descriptor(), n).is_ok());
    }
    assert!(matches!(
        MultisigWallet::from_descriptor(&w.descriptor(), Network::Bitcoin),
        Err(DescriptorError::NetworkMismatch { .. })
    ));
    // A mainnet key mixed in.
    let secp = kinko_wallet::bitcoin::secp256k1::Secp256k1::new();
    let main = kinko_wallet::bitcoin::bip32::Xpriv::new_master(Network::Bitcoin, &[9; 32]).unwrap();
    let xpub = kinko_wallet::bitcoin::bip32::Xpub::from_priv(&secp, &main);
    let mixed = format!(
        "wsh(sortedmulti(1,{}/<0;1>/*,[{}]{}/<0;1>/*))",
        cs[0].key_expr(),
        main.fingerprint(&secp),
        xpub
    );
    assert!(matches!(
        MultisigWallet::from_descriptor(&mixed, Network::Testnet),
        Err(DescriptorError::MixedNetworks)
    ));
}

#[test]
fn not_sortedmulti_wsh_is_refused() {
    let cs = cosigners(2);
    let k0 = cs[0].key_expr();
    let k1 = cs[1].key_expr();
    for d in [
        format!("wsh(multi(1,{k0}/<0;1>/*,{k1}/<0;1>/*))"),
        format!("sh(wsh(sortedmulti(1,{k0}/<0;1>/*,{k1}/<0;1>/*)))"),
        format!("wpkh({k0}/<0;1>/*)"),
        "garbage".to_string(),
        String::new(),
    ] {
        assert!(
            MultisigWallet::from_descriptor(&d, Network::Testnet).is_err(),
            "{d}"
        );
    }
}

#[test]
fn core_import_json() {
    let (w, _) = wallet(2, 3);
    let json = w.to_core_import(&kinko_wallet::CoreImportOptions {
        range_end: 99,
        timestamp: Some(1_700_000_000),
    });
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["desc"], w.branch_descriptor(Keychain::Receive));
    assert_eq!(arr[0]["internal"], false);
    assert_eq!(arr[1]["internal"], true);
    assert_eq!(arr[1]["range"], serde_json::json!([0, 99]));
    assert_eq!(arr[1]["timestamp"], 1_700_000_000);
    // Each descriptor carries a checksum that miniscript accepts.
    for e in arr {
        let d = e["desc"].as_str().unwrap();
        assert!(d.contains('#'));
        let _: kinko_wallet::miniscript::Descriptor<kinko_wallet::miniscript::DescriptorPublicKey> =
            d.parse().unwrap();
    }
}

#[test]
fn coldcard_file_golden() {
    let (w, _) = wallet(2, 3);
    let got = w.to_coldcard("kinko cold");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/coldcard-2of3.txt");
    if std::env::var_os("KINKO_BLESS").is_some() {
        std::fs::write(path, &got).unwrap();
    }
    let want = std::fs::read_to_string(path).expect("golden file (KINKO_BLESS=1 writes it)");
    assert_eq!(got, want);
    assert!(got.contains("Policy: 2 of 3\n"));
    assert!(got.contains("Format: P2WSH\n"));
    assert!(got.contains("Derivation: m/48'/1'/0'/2'\n"));
}
