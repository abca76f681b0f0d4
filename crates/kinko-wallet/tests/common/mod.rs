//! Shared fixtures: deterministic cosigners, wallets, funding transactions and
//! Bitcoin Core's script interpreter.

#![allow(dead_code)]

use std::collections::HashMap;
use std::str::FromStr;

use kinko_wallet::bitcoin::bip32::{DerivationPath, Fingerprint, Xpriv, Xpub};
use kinko_wallet::bitcoin::hashes::Hash;
use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::bitcoin::secp256k1::Secp256k1;
use kinko_wallet::bitcoin::sighash::SighashCache;
use kinko_wallet::bitcoin::transaction::Version;
use kinko_wallet::bitcoin::{
    absolute, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Txid,
    Witness,
};
use kinko_wallet::{Keychain, MultisigWallet, Utxo, XprvSigner};

/// One cosigner: a master key from a fixed seed and its BIP48 P2WSH account.
pub struct Cosigner {
    pub master: Xpriv,
    pub fingerprint: Fingerprint,
    pub path: DerivationPath,
    pub xpub: Xpub,
}

impl Cosigner {
    pub fn signer(&self) -> XprvSigner {
        XprvSigner::from_master(&self.master, &self.path).expect("account derives")
    }

    /// `[fp/48'/1'/0'/2']tpub…`
    pub fn key_expr(&self) -> String {
        let path: String = self.path.into_iter().map(|c| format!("/{c}")).collect();
        format!("[{}{}]{}", self.fingerprint, path, self.xpub)
    }
}

pub fn cosigner(seed: u8) -> Cosigner {
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Testnet, &[seed; 32]).expect("seed");
    let path = DerivationPath::from_str("m/48'/1'/0'/2'").expect("path");
    let account = master.derive_priv(&secp, &path).expect("derive");
    Cosigner {
        master,
        fingerprint: master.fingerprint(&secp),
        path,
        xpub: Xpub::from_priv(&secp, &account),
    }
}

pub fn cosigners(n: usize) -> Vec<Cosigner> {
    (1..=n as u8).map(cosigner).collect()
}

/// `wsh(sortedmulti(m,KEY/<0;1>/*,…))` without checksum.
pub fn descriptor(m: usize, cs: &[Cosigner]) -> String {
    let keys: Vec<String> = cs
        .iter()
        .map(|c| format!("{}/<0;1>/*", c.key_expr()))
        .collect();
    format!("wsh(sortedmulti({m},{}))", keys.join(","))
}

pub fn wallet(m: usize, n: usize) -> (MultisigWallet, Vec<Cosigner>) {
    let cs = cosigners(n);
    let w = MultisigWallet::from_descriptor(&descriptor(m, &cs), Network::Testnet).expect("wallet");
    (w, cs)
}

/// A previous transaction paying `amount` to `spk` at output `vout`, unique by `salt`.
pub fn funding_tx(spk: ScriptBuf, amount: Amount, vout: usize, salt: u32) -> Transaction {
    let mut output: Vec<TxOut> = (0..vout)
        .map(|_| TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: ScriptBuf::new_op_return([0u8; 4]),
        })
        .collect();
    output.push(TxOut {
        value: amount,
        script_pubkey: spk,
    });
    Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([7; 32]),
                vout: salt,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    }
}

/// `count` coins of `amount`, alternating receive and change addresses.
pub fn utxos(w: &MultisigWallet, count: u32, amount: Amount) -> Vec<Utxo> {
    (0..count)
        .map(|i| {
            let keychain = if i % 2 == 0 {
                Keychain::Receive
            } else {
                Keychain::Change
            };
            let spk = w.script_pubkey(keychain, i).expect("index");
            let vout = (i % 3) as usize;
            let prev_tx = funding_tx(spk, amount, vout, i);
            Utxo {
                outpoint: OutPoint {
                    txid: prev_tx.compute_txid(),
                    vout: vout as u32,
                },
                amount,
                keychain,
                index: i,
                prev_tx,
            }
        })
        .collect()
}

/// A testnet address of someone else.
pub fn external_address(
) -> kinko_wallet::bitcoin::Address<kinko_wallet::bitcoin::address::NetworkUnchecked> {
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
        .parse()
        .expect("address")
}

/// The outputs `utxos` spend, taken from their funding transactions.
fn spent(utxos: &[Utxo]) -> HashMap<OutPoint, TxOut> {
    utxos
        .iter()
        .map(|u| {
            (
                u.outpoint,
                u.prev_tx.output[u.outpoint.vout as usize].clone(),
            )
        })
        .collect()
}

/// Runs every input of `tx` through Bitcoin Core's script interpreter
/// (libbitcoinconsensus, all pre-taproot flags).
pub fn verify_with_core(tx: &Transaction, utxos: &[Utxo]) {
    let spent = spent(utxos);
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}

/// Checks every partial signature of `psbt` (libsecp256k1) against its
/// input's BIP143 sighash, after checking that the input's witness UTXO is
/// the real spent output; returns how many signatures were checked.
pub fn verify_partial_sigs(psbt: &Psbt, utxos: &[Utxo]) -> usize {
    let (spent, secp) = (spent(utxos), Secp256k1::verification_only());
    let mut cache = SighashCache::new(&psbt.unsigned_tx);
    let mut checked = 0;
    for (i, (inp, txin)) in psbt.inputs.iter().zip(&psbt.unsigned_tx.input).enumerate() {
        assert_eq!(inp.witness_utxo.as_ref(), spent.get(&txin.previous_output));
        let (msg, ty) = psbt.sighash_ecdsa(i, &mut cache).expect("sighash");
        for (pk, sig) in &inp.partial_sigs {
            assert_eq!(sig.sighash_type, ty, "input {i}");
            secp.verify_ecdsa(&msg, &sig.signature, &pk.inner)
                .unwrap_or_else(|e| panic!("input {i}: signature of {pk}: {e}"));
            checked += 1;
        }
    }
    checked
}

pub fn txid_zero() -> Txid {
    Txid::all_zeros()
}
