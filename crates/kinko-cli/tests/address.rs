//! `kinko address`: the binary against the library and its contract.

use std::process::Command;
use std::str::FromStr;

use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::Network;
use kinko_wallet::{Keychain, MultisigWallet};

fn descriptor() -> String {
    let secp = Secp256k1::new();
    let path = DerivationPath::from_str("m/48'/1'/0'/2'").unwrap();
    let keys: Vec<String> = (1..=3u8)
        .map(|s| {
            let m = Xpriv::new_master(Network::Testnet, &[s; 32]).unwrap();
            let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).unwrap());
            format!("[{}/48'/1'/0'/2']{}/<0;1>/*", m.fingerprint(&secp), x)
        })
        .collect();
    format!("wsh(sortedmulti(2,{}))", keys.join(","))
}

fn kinko(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn receive_and_change_ranges_in_index_order() {
    let d = descriptor();
    let w = MultisigWallet::from_descriptor(&d, Network::Testnet).unwrap();
    let out = kinko(&["address", "--descriptor", &d, "--from", "3", "--count", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let want: Vec<String> = (3..8)
        .map(|i| w.address(Keychain::Receive, i).unwrap().to_string())
        .collect();
    assert_eq!(lines, want);

    let out = kinko(&[
        "address",
        "--descriptor",
        &d,
        "--change",
        "--json",
        "--network",
        "regtest",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let regtest = MultisigWallet::from_descriptor(&d, Network::Regtest).unwrap();
    assert_eq!(
        v[0]["address"],
        regtest.address(Keychain::Change, 0).unwrap().to_string()
    );
    assert_eq!(v[0]["keychain"], "change");
    assert_eq!(v[0]["index"], 0);
}

#[test]
fn errors_have_exit_codes() {
    let d = descriptor();
    // A bad descriptor: exit 1, one line on stderr, no panic.
    let out = kinko(&["address", "--descriptor", "wsh(sortedmulti(2,garbage))"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("kinko: invalid wallet descriptor"));
    // Index 2^31: exit 1.
    let out = kinko(&[
        "address",
        "--descriptor",
        &d,
        "--from",
        "2147483647",
        "--count",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Mainnet for tpub keys: exit 1.
    let out = kinko(&["address", "--descriptor", &d, "--network", "bitcoin"]);
    assert_eq!(out.status.code(), Some(1));
    // Usage: exit 2.
    let out = kinko(&["address"]);
    assert_eq!(out.status.code(), Some(2));
}
