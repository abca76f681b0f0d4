//! The PSBT commands' shared fixtures: a 2-of-3 testnet wallet, its UTXO
//! file, the binary and Bitcoin Core's script interpreter.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use kinko_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use kinko_wallet::bitcoin::consensus::encode::serialize_hex;
use kinko_wallet::bitcoin::hashes::Hash;
use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::transaction::Version;
use kinko_wallet::bitcoin::{
    absolute, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use kinko_wallet::{Keychain, MultisigWallet, XprvSigner};

/// Runs every input of `tx` through Bitcoin Core's script interpreter
/// (libbitcoinconsensus) against the outputs the test's funding txs made.
pub fn verify_with_core(tx: &Transaction, spent: &HashMap<OutPoint, TxOut>) {
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}

pub const TO: &str = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx";

pub struct Setup {
    pub dir: tempfile::TempDir,
    pub descriptor: String,
    pub wallet: MultisigWallet,
    pub masters: Vec<Xpriv>,
    /// The outputs the UTXO file's coins are, from their funding transactions.
    pub spent: HashMap<OutPoint, TxOut>,
}

/// A 2-of-3 testnet wallet (masters from seeds 1, 2, 3) and `coins` coins of
/// `sat` each, receive and change alternating, in `utxos.json`.
pub fn setup(coins: u32, sat: u64) -> Setup {
    let secp = Secp256k1::new();
    let path = DerivationPath::from_str("m/48'/1'/0'/2'").unwrap();
    let masters: Vec<Xpriv> = (1..=3u8)
        .map(|s| Xpriv::new_master(Network::Testnet, &[s; 32]).unwrap())
        .collect();
    let keys: Vec<String> = masters
        .iter()
        .map(|m| {
            let x = Xpub::from_priv(&secp, &m.derive_priv(&secp, &path).unwrap());
            format!("[{}/48'/1'/0'/2']{}/<0;1>/*", m.fingerprint(&secp), x)
        })
        .collect();
    let descriptor = format!("wsh(sortedmulti(2,{}))", keys.join(","));
    let wallet = MultisigWallet::from_descriptor(&descriptor, Network::Testnet).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut spent = HashMap::new();
    let utxos: Vec<serde_json::Value> = (0..coins)
        .map(|i| {
            let kc = if i % 2 == 0 {
                Keychain::Receive
            } else {
                Keychain::Change
            };
            let tx = Transaction {
                version: Version::TWO,
                lock_time: absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint {
                        txid: Txid::from_byte_array([9; 32]),
                        vout: i,
                    },
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }],
                output: vec![TxOut {
                    value: Amount::from_sat(sat),
                    script_pubkey: wallet.script_pubkey(kc, i).unwrap(),
                }],
            };
            spent.insert(OutPoint::new(tx.compute_txid(), 0), tx.output[0].clone());
            serde_json::json!({
                "txid": tx.compute_txid().to_string(),
                "vout": 0,
                "amount_sat": sat,
                "keychain": kc.as_str(),
                "index": i,
                "prev_tx": serialize_hex(&tx),
            })
        })
        .collect();
    std::fs::write(
        dir.path().join("utxos.json"),
        serde_json::to_string(&utxos).unwrap(),
    )
    .unwrap();
    Setup {
        dir,
        descriptor,
        wallet,
        masters,
        spent,
    }
}

pub fn kinko(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(args)
        .output()
        .unwrap()
}

pub fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Signs `psbt` with cosigner `who`'s key.
pub fn sign(s: &Setup, who: usize, psbt: &mut Psbt) {
    let signer =
        XprvSigner::from_master(&s.masters[who], &"m/48'/1'/0'/2'".parse().unwrap()).unwrap();
    s.wallet.sign(psbt, &signer).unwrap();
}
