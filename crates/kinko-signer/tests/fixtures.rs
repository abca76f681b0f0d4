//! Shared fixtures: three key holders from fixed BIP39 vector mnemonics,
//! their 2-of-3 testnet wallet, and an honest PSBT built with rust-bitcoin
//! alone (no kinko code), with the fields Bitcoin Core and Sparrow write.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::str::FromStr;

use bitcoin::bip32::{ChildNumber, DerivationPath, Fingerprint, Xpriv, Xpub};
use bitcoin::blockdata::opcodes::all::OP_CHECKMULTISIG;
use bitcoin::blockdata::script::Builder;
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute, Address, Amount, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_keys::keystore::MIN_WORK_FACTOR;
use kinko_keys::{Keystore, KeystoreOptions, Mnemonic, Passphrase};

pub const BIN: &str = env!("CARGO_BIN_EXE_kinko-signer");
pub const PASS: &str = "signer test passphrase";

/// BIP39 test-vector mnemonics (trezor/python-mnemonic vectors.json).
pub const PHRASES: [&str; 3] = [
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank yellow",
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
];

pub struct Holder {
    pub master: Xpriv,
    pub fingerprint: Fingerprint,
    pub path: DerivationPath,
    pub xpub: Xpub,
}

impl Holder {
    pub fn new(phrase: &str) -> Self {
        let seed = bip39::Mnemonic::parse(phrase).unwrap().to_seed("");
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(Network::Testnet, &seed).unwrap();
        let path = DerivationPath::from_str("m/48'/1'/0'/2'").unwrap();
        let xpub = Xpub::from_priv(&secp, &master.derive_priv(&secp, &path).unwrap());
        Holder {
            fingerprint: master.fingerprint(&secp),
            master,
            path,
            xpub,
        }
    }

    pub fn key_expr(&self) -> String {
        format!("[{}/48h/1h/0h/2h]{}/<0;1>/*", self.fingerprint, self.xpub)
    }

    pub fn child(&self, branch: u32, index: u32) -> (PublicKey, DerivationPath) {
        let secp = Secp256k1::new();
        let steps = [
            ChildNumber::from_normal_idx(branch).unwrap(),
            ChildNumber::from_normal_idx(index).unwrap(),
        ];
        let pk = self.xpub.derive_pub(&secp, &steps).unwrap().public_key;
        (pk, self.path.extend(steps))
    }
}

pub fn holders() -> Vec<Holder> {
    PHRASES.iter().map(|p| Holder::new(p)).collect()
}

pub fn descriptor(hs: &[Holder]) -> String {
    let keys: Vec<String> = hs.iter().map(Holder::key_expr).collect();
    format!("wsh(sortedmulti(2,{}))", keys.join(","))
}

/// `OP_2 <sorted keys> OP_n OP_CHECKMULTISIG` (BIP67 order), built by hand.
pub fn multisig_script(hs: &[Holder], branch: u32, index: u32) -> ScriptBuf {
    let mut keys: Vec<PublicKey> = hs.iter().map(|h| h.child(branch, index).0).collect();
    keys.sort_by_key(|k| k.serialize());
    let mut b = Builder::new().push_int(2);
    for k in &keys {
        b = b.push_slice(k.serialize());
    }
    b.push_int(keys.len() as i64)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script()
}

pub fn derivations(
    hs: &[Holder],
    branch: u32,
    index: u32,
) -> BTreeMap<PublicKey, (Fingerprint, DerivationPath)> {
    hs.iter()
        .map(|h| {
            let (pk, path) = h.child(branch, index);
            (pk, (h.fingerprint, path))
        })
        .collect()
}

/// A previous transaction paying `amount` to `spk` at output 1.
pub fn funding(spk: ScriptBuf, amount: Amount, salt: u8) -> Transaction {
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
        output: vec![
            TxOut {
                value: Amount::from_sat(5_000),
                script_pubkey: ScriptBuf::new_op_return([salt; 4]),
            },
            TxOut {
                value: amount,
                script_pubkey: spk,
            },
        ],
    }
}

pub fn external() -> Address {
    // BIP173's testnet P2WPKH example address.
    Address::from_str("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")
        .unwrap()
        .require_network(Network::Testnet)
        .unwrap()
}

pub const COIN_A: u64 = 300_000_000;
pub const COIN_B: u64 = 100_000_000;
pub const PAY: u64 = 350_000_000;
pub const FEE: u64 = 10_000;
pub const CHANGE_INDEX: u32 = 5;

/// The honest PSBT's coins: (branch, index, amount, funding salt).
const HONEST_COINS: [(u32, u32, u64, u8); 2] = [(0, 0, COIN_A, 1), (1, 3, COIN_B, 2)];

/// The funding transactions of the honest PSBT's coins (each pays output 1).
pub fn honest_funding(hs: &[Holder]) -> Vec<Transaction> {
    HONEST_COINS
        .iter()
        .map(|&(b, i, v, salt)| {
            let ws = multisig_script(hs, b, i);
            funding(
                ScriptBuf::new_p2wsh(&ws.wscript_hash()),
                Amount::from_sat(v),
                salt,
            )
        })
        .collect()
}

/// The outputs the honest PSBT spends, from their funding transactions.
pub fn honest_spent(hs: &[Holder]) -> HashMap<OutPoint, TxOut> {
    honest_funding(hs)
        .into_iter()
        .map(|tx| (OutPoint::new(tx.compute_txid(), 1), tx.output[1].clone()))
        .collect()
}

/// Finalizes `psbt` with kinko and runs every input of the transaction
/// through Bitcoin Core's script interpreter against the real spent outputs.
pub fn verify_with_core(psbt: &Psbt, spent: &HashMap<OutPoint, TxOut>) {
    let mut p = psbt.clone();
    kinko_wallet::finalize(&mut p).expect("finalizes");
    let tx = kinko_wallet::extract(p, kinko_wallet::MAX_FEE_RATE).expect("extracts");
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}

/// The honest PSBT: spends receive/0 (3 BTC) and change/3 (1 BTC), pays
/// 3.5 BTC out and 0.4999 BTC to change/5, fee 10,000 sat. Fields as
/// Bitcoin Core's `walletcreatefundedpsbt` + Sparrow write them: full previous
/// transaction and witness utxo, witness script and every cosigner's BIP32
/// derivation on inputs and change, global xpubs.
pub fn honest_psbt(hs: &[Holder]) -> Psbt {
    let prevs = honest_funding(hs);
    let change_ws = multisig_script(hs, 1, CHANGE_INDEX);
    let tx = Transaction {
        version: Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: prevs
            .iter()
            .map(|p| TxIn {
                previous_output: OutPoint {
                    txid: p.compute_txid(),
                    vout: 1,
                },
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            })
            .collect(),
        output: vec![
            TxOut {
                value: Amount::from_sat(PAY),
                script_pubkey: external().script_pubkey(),
            },
            TxOut {
                value: Amount::from_sat(COIN_A + COIN_B - PAY - FEE),
                script_pubkey: ScriptBuf::new_p2wsh(&change_ws.wscript_hash()),
            },
        ],
    };
    let mut psbt = Psbt::from_unsigned_tx(tx).unwrap();
    for (n, (&(b, i, _, _), prev)) in HONEST_COINS.iter().zip(&prevs).enumerate() {
        let input = &mut psbt.inputs[n];
        input.non_witness_utxo = Some(prev.clone());
        input.witness_utxo = Some(prev.output[1].clone());
        input.witness_script = Some(multisig_script(hs, b, i));
        input.bip32_derivation = derivations(hs, b, i);
    }
    psbt.outputs[1].witness_script = Some(change_ws);
    psbt.outputs[1].bip32_derivation = derivations(hs, 1, CHANGE_INDEX);
    for h in hs {
        psbt.xpub.insert(h.xpub, (h.fingerprint, h.path.clone()));
    }
    psbt
}

/// A keystore file for `phrase` (fast scrypt, tests only).
pub fn keystore_file(dir: &Path, name: &str, phrase: &str) -> PathBuf {
    let path = dir.join(name);
    let ks = Keystore::new(Mnemonic::parse(phrase).unwrap(), Passphrase::empty());
    let opts = KeystoreOptions::new()
        .with_work_factor(MIN_WORK_FACTOR)
        .unwrap();
    ks.create_file(&path, &Passphrase::from(PASS), &opts)
        .unwrap();
    path
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("KINKO_PASSPHRASE", PASS)
        .env("KINKO_INSECURE_SCRYPT_LOG_N", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    let r = Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).expect("utf-8"),
        stderr: String::from_utf8(stderr).expect("utf-8"),
    };
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    r
}

pub fn write_file(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(bytes).unwrap();
}

/// A keystore for holder `n` with the 2-of-3 wallet registered (through the CLI).
pub fn registered_keystore(dir: &Path, n: usize) -> PathBuf {
    let ks = keystore_file(dir, &format!("holder{n}.age"), PHRASES[n]);
    let r = run(&[
        "register",
        "--keystore",
        ks.to_str().unwrap(),
        "--descriptor",
        &descriptor(&holders()),
        "--name",
        "cold",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    ks
}
