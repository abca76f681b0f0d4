//! `kinko-signer register`: only wallets holding this keystore's key at the
//! stated origin, without duplicate keys, of the keys' network; stored inside
//! the encrypted keystore.

use bitcoin::{Address, Network, ScriptBuf};

use crate::fixtures::*;

fn register(ks: &str, descriptor: &str) -> Run {
    run(&["register", "--keystore", ks, "--descriptor", descriptor])
}

#[test]
fn register_shows_id_and_addresses_then_lists_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "k.age", PHRASES[1]);
    let ks = ks.to_str().unwrap();
    let hs = holders();
    let desc = descriptor(&hs);
    let r = run(&[
        "register",
        "--keystore",
        ks,
        "--descriptor",
        &desc,
        "--name",
        "cold",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let id = kinko_wallet::MultisigWallet::from_descriptor(&desc, Network::Testnet)
        .unwrap()
        .id();
    assert!(
        r.stdout
            .starts_with(&format!("registered wallet {id} \"cold\": 2 of 3, testnet")),
        "{}",
        r.stdout
    );
    // The first receive address, computed by hand with rust-bitcoin.
    let ws = multisig_script(&hs, 0, 0);
    let first =
        Address::from_script(&ScriptBuf::new_p2wsh(&ws.wscript_hash()), Network::Testnet).unwrap();
    assert!(r.stdout.contains(&format!("  0: {first}")), "{}", r.stdout);
    assert!(r
        .stdout
        .contains(&format!("[{}/48h/1h/0h/2h]", hs[1].fingerprint)));

    // Stored inside the encryption: not in the file's bytes.
    let bytes = std::fs::read(ks).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("sortedmulti"));

    // Again: already registered, not duplicated.
    let r = register(ks, &desc);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("already registered"), "{}", r.stdout);
    let r = run(&["register", "--keystore", ks, "--list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{id} \"cold\": 2 of 3, testnet\n"));

    let r = run(&["register", "--keystore", ks, "--remove", "nosuchid"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let r = run(&["register", "--keystore", ks, "--remove", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["register", "--keystore", ks, "--list"]);
    assert_eq!(r.stdout, "no wallet registered\n");
}

#[test]
fn an_edited_registration_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let ks = registered_keystore(dir.path(), 0);
    let mut bytes = std::fs::read(&ks).unwrap();
    let n = bytes.len() - 20;
    bytes[n] ^= 0x01;
    std::fs::write(&ks, &bytes).unwrap();
    let r = run(&["register", "--keystore", ks.to_str().unwrap(), "--list"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("corrupted or was modified"),
        "{}",
        r.stderr
    );
}

#[test]
fn refusals_name_their_rule() {
    let dir = tempfile::tempdir().unwrap();
    let ks = keystore_file(dir.path(), "k.age", PHRASES[0]);
    let ks = ks.to_str().unwrap();
    let hs = holders();

    // Our key is not in the wallet at all.
    let others = descriptor(&[Holder::new(PHRASES[1]), Holder::new(PHRASES[2]), {
        Holder::new("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong")
    }]);
    let r = register(ks, &others);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused by rule key-not-in-wallet"),
        "{}",
        r.stderr
    );

    // Our fingerprint, but someone else's key at that origin.
    let forged = format!(
        "wsh(sortedmulti(2,[{}/48h/1h/0h/2h]{}/<0;1>/*,{},{}))",
        hs[0].fingerprint,
        Holder::new("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong").xpub,
        hs[1].key_expr(),
        hs[2].key_expr()
    );
    let r = register(ks, &forged);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused by rule key-not-in-wallet"),
        "{}",
        r.stderr
    );

    // Our key at another origin than the one stated.
    let moved = descriptor(&hs).replacen("/48h/1h/0h/2h]", "/48h/1h/1h/2h]", 1);
    let r = register(ks, &moved);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("key-not-in-wallet"), "{}", r.stderr);

    // Duplicate keys.
    let dup = format!(
        "wsh(sortedmulti(2,{},{},{}))",
        hs[0].key_expr(),
        hs[1].key_expr(),
        hs[1].key_expr()
    );
    let r = register(ks, &dup);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused by rule duplicate-key"),
        "{}",
        r.stderr
    );

    // A mainnet (coin type 0h) origin on testnet keys.
    let net = descriptor(&hs).replace("/48h/1h/0h/2h]", "/48h/0h/0h/2h]");
    let r = register(ks, &net);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("refused by rule network-mismatch"),
        "{}",
        r.stderr
    );

    // Not a descriptor: an error, not a refusal.
    let r = register(ks, "wsh(sortedmulti(2,nonsense))");
    assert_eq!(r.code, 1, "{}", r.stderr);

    // Nothing was registered.
    let r = run(&["register", "--keystore", ks, "--list"]);
    assert_eq!(r.stdout, "no wallet registered\n");
}
