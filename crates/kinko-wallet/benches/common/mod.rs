//! Shared by the benches: fixtures and the ratio report.

#![allow(dead_code, clippy::print_stdout)]

use std::str::FromStr;

use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use kinko_wallet::bitcoin::hashes::Hash;
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::transaction::Version;
use kinko_wallet::bitcoin::{
    absolute, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use kinko_wallet::{Keychain, MultisigWallet, Utxo};

/// Master keys from seeds [1; 32], [2; 32], ….
pub fn masters(n: u8) -> Vec<Xpriv> {
    (1..=n)
        .map(|s| Xpriv::new_master(Network::Testnet, &[s; 32]).unwrap())
        .collect()
}

/// The BIP48 P2WSH testnet account path.
pub fn account_path() -> DerivationPath {
    DerivationPath::from_str("m/48'/1'/0'/2'").unwrap()
}

/// The 2-of-3 wallet of the first three masters.
pub fn wallet_2of3() -> (MultisigWallet, Vec<Xpriv>) {
    let secp = Secp256k1::new();
    let ms = masters(3);
    let keys: Vec<String> = ms
        .iter()
        .map(|m| {
            let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &account_path()).unwrap());
            format!("[{}/48'/1'/0'/2']{}/<0;1>/*", m.fingerprint(&secp), x)
        })
        .collect();
    let d = format!("wsh(sortedmulti(2,{}))", keys.join(","));
    (
        MultisigWallet::from_descriptor(&d, Network::Testnet).unwrap(),
        ms,
    )
}

/// `count` coins of the wallet, each with its own previous transaction.
pub fn utxos(w: &MultisigWallet, count: u32) -> Vec<Utxo> {
    (0..count)
        .map(|i| {
            let kc = if i % 2 == 0 {
                Keychain::Receive
            } else {
                Keychain::Change
            };
            let prev_tx = Transaction {
                version: Version::TWO,
                lock_time: absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint {
                        txid: Txid::from_byte_array([7; 32]),
                        vout: i,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(50_000),
                    script_pubkey: w.script_pubkey(kc, i).unwrap(),
                }],
            };
            Utxo {
                outpoint: OutPoint {
                    txid: prev_tx.compute_txid(),
                    vout: 0,
                },
                amount: Amount::from_sat(50_000),
                keychain: kc,
                index: i,
                prev_tx,
            }
        })
        .collect()
}

#[path = "../../../../tests/criterion_estimate.rs"]
mod criterion_estimate;
pub use criterion_estimate::mean_ns;

/// Prints `a / b` for each pair, from the estimates of the run that started
/// at `since`.
pub fn report(group: &str, since: std::time::SystemTime, pairs: &[(&str, &str, &str)]) {
    println!("\n== {group}: ratios (mean times, this run) ==");
    for (label, a, b) in pairs {
        match (mean_ns(group, a, since), mean_ns(group, b, since)) {
            (Some(x), Some(y)) => println!("{label}: {a} / {b} = {:.3}", x / y),
            _ => println!("{label}: missing estimate for {a} or {b}"),
        }
    }
}
