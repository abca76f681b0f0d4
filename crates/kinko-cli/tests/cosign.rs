//! `kinko cosign` against a SQLite ledger: a PSBT that pays exactly the
//! approved reservation is cosigned (exit 0, the output finalizes); a
//! different destination, a different amount, an extra output, a higher fee
//! or a reused (spent) reservation is refused with exit 3 naming the rule,
//! and nothing is written.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::Secp256k1;
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_keys::{KeyPath, Keystore, KeystoreOptions, Language, Mnemonic, Passphrase, WordCount};
use kinko_ledger::{Ledger, Policy};
use kinko_policy::{Decision, EventKind, Timestamp, Wallet as Side};
use kinko_wallet::{CreateParams, Keychain, MultisigWallet, PsbtEncoding, Utxo, XprvSigner};

const POLICY: &str = r#"
[assets.BTC]
hot_cap = 100_000_000_000
"#;
const PASS: &str = "cosigner test passphrase";

fn signer(seed: u8) -> XprvSigner {
    let master = Xpriv::new_master(Network::Testnet, &[seed; 32]).unwrap();
    let path: DerivationPath = "m/48'/1'/0'/2'".parse().unwrap();
    XprvSigner::from_master(&master, &path).unwrap()
}

fn key(s: &XprvSigner) -> String {
    let (fp, path) = s.origin();
    let p = path.to_string();
    format!(
        "[{fp}/{}]{}/<0;1>/*",
        p.trim_start_matches("m/"),
        s.account_xpub()
    )
}

/// Finalizes `psbt` and runs every input of the transaction through Bitcoin
/// Core's script interpreter (libbitcoinconsensus) against the real outputs.
fn verify_with_core(mut psbt: Psbt, spent: &HashMap<OutPoint, TxOut>) {
    kinko_wallet::finalize(&mut psbt).expect("finalizes");
    let tx = kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap();
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}

fn outside(n: u8) -> Address {
    Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51, n]), Network::Testnet)
}

struct Env {
    dir: tempfile::TempDir,
    url: String,
    keystore: PathBuf,
    descriptor: String,
    hot: MultisigWallet,
    exchange: XprvSigner,
    utxos: Vec<Utxo>,
    /// The outputs `utxos` are, from the funding transaction.
    spent: HashMap<OutPoint, TxOut>,
    ledger: Ledger,
    t: Timestamp,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    // The cosigner's keystore, as `kinko-signer init` would write it.
    let keystore = dir.path().join("cosigner.age");
    let ks = Keystore::new(
        Mnemonic::generate(WordCount::W12, Language::English).unwrap(),
        Passphrase::empty(),
    );
    ks.create_file(
        &keystore,
        &Passphrase::from(PASS.to_owned()),
        &KeystoreOptions::new().with_work_factor(10).unwrap(),
    )
    .unwrap();
    let cosigner_key = ks
        .account_xpub(
            &Secp256k1::new(),
            Network::Testnet,
            &KeyPath::bip48(Network::Testnet, 0).unwrap(),
        )
        .unwrap();
    let exchange = signer(1);
    let descriptor = format!(
        "wsh(sortedmulti(2,{},{cosigner_key}/<0;1>/*,{}))",
        key(&exchange),
        key(&signer(3))
    );
    let hot = MultisigWallet::from_descriptor(&descriptor, Network::Testnet).unwrap();

    let prev = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), 0),
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: (0..2)
            .map(|i| TxOut {
                value: Amount::from_sat(100_000_000),
                script_pubkey: hot.script_pubkey(Keychain::Receive, i).unwrap(),
            })
            .collect(),
    };
    let spent = (0..2)
        .map(|i| {
            (
                OutPoint::new(prev.compute_txid(), i),
                prev.output[i as usize].clone(),
            )
        })
        .collect();
    let utxos = (0..2)
        .map(|i| Utxo {
            outpoint: OutPoint::new(prev.compute_txid(), i),
            amount: Amount::from_sat(100_000_000),
            keychain: Keychain::Receive,
            index: i,
            prev_tx: prev.clone(),
        })
        .collect();

    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let mut ledger = Ledger::open(&url)
        .unwrap()
        .with_policy(Policy::from_toml_str(POLICY).unwrap());
    let t = Timestamp::parse_rfc3339("2026-01-26T09:00:00Z").unwrap();
    ledger
        .decide_at(
            t,
            EventKind::Deposit {
                asset: "BTC".into(),
                wallet: Side::Hot,
                amount: 200_000_000,
            },
        )
        .unwrap();
    Env {
        dir,
        url,
        keystore,
        descriptor,
        hot,
        exchange,
        utxos,
        spent,
        ledger,
        t,
    }
}

impl Env {
    fn approve(&mut self, id: &str, dest: &Address, sat: u64) {
        let c = self
            .ledger
            .decide_at(
                self.t,
                EventKind::Withdrawal {
                    id: id.into(),
                    user: "alice".into(),
                    asset: "BTC".into(),
                    destination: dest.to_string(),
                    amount: sat,
                },
            )
            .unwrap();
        assert!(matches!(c.outcome.decision, Decision::Approved { .. }));
    }

    /// A PSBT file paying `to`, signed by the exchange's hot key.
    fn psbt(&self, name: &str, to: &[(&Address, u64)], sat_per_vb: u64) -> PathBuf {
        let created = self
            .hot
            .create_psbt(
                &self.utxos,
                &CreateParams {
                    recipients: to
                        .iter()
                        .map(|(a, s)| (a.as_unchecked().clone(), Amount::from_sat(*s)))
                        .collect(),
                    fee_rate: FeeRate::from_sat_per_vb(sat_per_vb).unwrap(),
                    change_index: 0,
                    spend_all: false,
                },
            )
            .unwrap();
        let mut psbt = created.psbt;
        self.hot.sign(&mut psbt, &self.exchange).unwrap();
        // The exchange's signatures are valid: with the backup key's (seed 3),
        // the transaction passes Bitcoin Core's interpreter.
        let mut full = psbt.clone();
        self.hot.sign(&mut full, &signer(3)).unwrap();
        verify_with_core(full, &self.spent);
        let path = self.dir.path().join(name);
        std::fs::write(
            &path,
            kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64),
        )
        .unwrap();
        path
    }

    /// `kinko cosign … --id ID --psbt FILE --out FILE.out`
    fn cosign(&self, id: &str, psbt: &Path) -> (Output, PathBuf) {
        let out = psbt.with_extension("out");
        let o = Command::new(env!("CARGO_BIN_EXE_kinko"))
            .args([
                "cosign",
                "--ledger",
                &self.url,
                "--descriptor",
                &self.descriptor,
            ])
            .arg("--keystore")
            .arg(&self.keystore)
            .args(["--id", id, "--at", "2026-01-26T09:05:00Z", "--psbt"])
            .arg(psbt)
            .arg("--out")
            .arg(&out)
            .env("KINKO_PASSPHRASE", PASS)
            .env_remove("KINKO_LEDGER")
            .output()
            .unwrap();
        (o, out)
    }
}

fn refused_by(o: &Output, out: &Path, rule: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("refused by rule {rule}:")),
        "expected rule {rule}: {err}"
    );
    assert!(!out.exists(), "nothing is written on a refusal");
}

#[test]
fn cosigns_exactly_the_approved_payment_and_refuses_the_rest_with_exit_3() {
    let mut e = env();
    let dest = outside(1);
    e.approve("w1", &dest, 50_000_000);

    let cases = [
        (
            "destination-mismatch",
            e.psbt("dest.psbt", &[(&outside(2), 50_000_000)], 5),
        ),
        (
            "amount-mismatch",
            e.psbt("amount.psbt", &[(&dest, 49_000_000)], 5),
        ),
        (
            "extra-output",
            e.psbt(
                "extra.psbt",
                &[(&dest, 50_000_000), (&outside(3), 20_000)],
                5,
            ),
        ),
        // 900 sat/vB: far above the cosigner's 0.001 BTC fee limit.
        (
            "fee-too-high",
            e.psbt("fee.psbt", &[(&dest, 50_000_000)], 900),
        ),
    ];
    for (rule, file) in &cases {
        let (o, out) = e.cosign("w1", file);
        refused_by(&o, &out, rule);
    }

    // The approved payment: cosigned, and the output finalizes.
    let good = e.psbt("good.psbt", &[(&dest, 50_000_000)], 5);
    let (o, out) = e.cosign("w1", &good);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("cosigned withdrawal "));
    let (psbt, form): (Psbt, _) = kinko_wallet::decode_psbt(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(form, PsbtEncoding::Base64);
    assert!(psbt.inputs.iter().all(|i| i.partial_sigs.len() == 2));
    verify_with_core(psbt, &e.spent);

    // The spent reservation reused for another transaction: refused.
    let reuse = e.psbt("reuse.psbt", &[(&dest, 50_000_000)], 6);
    let (o, out) = e.cosign("w1", &reuse);
    refused_by(&o, &out, "reservation-spent");

    // No such withdrawal.
    let (o, out) = e.cosign("w-unknown", &reuse);
    refused_by(&o, &out, "unknown-withdrawal");

    // Every decision is in the audit log, and it verifies.
    let v = e.ledger.verify_audit().unwrap();
    assert_eq!(v.records, 2 + 6);
}

#[test]
fn usage_errors_exit_2() {
    let e = env();
    let psbt = e.psbt("p.psbt", &[(&outside(1), 50_000_000)], 5);
    // Neither --id nor --sweep-to-cold.
    let o = Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(["cosign", "--ledger", &e.url, "--descriptor", &e.descriptor])
        .arg("--keystore")
        .arg(&e.keystore)
        .arg("--psbt")
        .arg(&psbt)
        .args(["--out", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    // No passphrase.
    let o = Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(["cosign", "--ledger", &e.url, "--descriptor", &e.descriptor])
        .arg("--keystore")
        .arg(&e.keystore)
        .args(["--id", "w1", "--psbt"])
        .arg(&psbt)
        .args(["--out", "x"])
        .env_remove("KINKO_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
