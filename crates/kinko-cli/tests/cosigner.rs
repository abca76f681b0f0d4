//! The cosigner's host through the `kinko` binary, as its operator and as an
//! attacker on the backend host would run it: a signed custody set-up, the
//! cosigner's keystore, its own SQLite ledger. What is approved is cosigned
//! (and passes Bitcoin Core's interpreter); everything else exits 3 naming
//! the rule, writes nothing, and the flags that let a caller decide (`--policy`,
//! `--at`, `--descriptor`, `--max-fee`, `--approver`) do not exist (exit 2).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bitcoin::absolute::LockTime;
use bitcoin::bip32::{DerivationPath, Xpriv};
use bitcoin::hashes::Hash;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, Secp256k1};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, FeeRate, Network, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, Witness,
};
use kinko_auth::{derive_action_key, xonly_hex, Action, KeyRole, SetupId, UnixTime};
use kinko_keys::{KeyPath, Keystore, KeystoreOptions, Language, Mnemonic, Passphrase, WordCount};
use kinko_wallet::{CreateParams, Keychain, MultisigWallet, PsbtEncoding, Utxo, XprvSigner};

mod payout_answer;
use payout_answer::assert_first_payout;

const PASS: &str = "cosigner test passphrase";
const NET: Network = Network::Regtest;

const POLICY: &str = r#"[assets.BTC]
hot_cap = 100_000_000_000
max_withdrawal = 300_000_000

[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 100_000_000
"#;

fn master(seed: u8) -> Xpriv {
    Xpriv::new_master(NET, &[seed; 32]).unwrap()
}

fn person(seed: u8) -> Keypair {
    derive_action_key(&master(seed), KeyRole::Person).unwrap()
}

fn signer(seed: u8) -> XprvSigner {
    let path: DerivationPath = "m/48'/1'/0'/2'".parse().unwrap();
    XprvSigner::from_master(&master(seed), &path).unwrap()
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

fn wallet(keys: &[String]) -> MultisigWallet {
    MultisigWallet::from_descriptor(&format!("wsh(sortedmulti(2,{}))", keys.join(",")), NET)
        .unwrap()
}

fn outside(n: u8) -> Address {
    Address::p2wsh(&ScriptBuf::from_bytes(vec![0x51, n]), NET)
}

/// Finalizes `psbt` (with the backup key's signatures added) and runs every
/// input through Bitcoin Core's script interpreter against the real outputs.
fn verify_with_core(mut psbt: Psbt, hot: &MultisigWallet, spent: &HashMap<OutPoint, TxOut>) {
    hot.sign(&mut psbt, &signer(3)).unwrap();
    kinko_wallet::finalize(&mut psbt).expect("finalizes");
    let tx = kinko_wallet::extract(psbt, kinko_wallet::MAX_FEE_RATE).unwrap();
    tx.verify(|op| spent.get(op).cloned())
        .expect("Bitcoin Core's interpreter accepts the transaction");
}

struct Env {
    dir: tempfile::TempDir,
    setup: PathBuf,
    keystore: PathBuf,
    db: PathBuf,
    hot: MultisigWallet,
    cold: MultisigWallet,
    utxos: Vec<Utxo>,
    spent: HashMap<OutPoint, TxOut>,
    setup_id: SetupId,
}

/// The set-up file: hot 2-of-3 [exchange 1, the cosigner's keystore, backup
/// 3], cold [4, 5, 6]; approvers alice 0x11, bob 0x12; admins carol 0x21,
/// dave 0x22 (both must sign); the audit key from the cosigner's keystore.
fn setup_text(hot: &MultisigWallet, cold: &MultisigWallet, audit: &str, policy: &str) -> String {
    format!(
        r#"version = 1
asset = "BTC"
network = "regtest"
hot_descriptor = "{hot}"
cold_descriptor = "{cold}"
change_gap = 100
audit_key = "{audit}"
admin_quorum = 2
policy = '''
{policy}'''

[fees]
max_fee_sat = 100000
max_fee_rate_sat_vb = 200

[[approvers]]
name = "alice"
key = "{alice}"

[[approvers]]
name = "bob"
key = "{bob}"

[[admins]]
name = "carol"
key = "{carol}"

[[admins]]
name = "dave"
key = "{dave}"
"#,
        hot = hot.descriptor(),
        cold = cold.descriptor(),
        alice = xonly_hex(&person(0x11).x_only_public_key().0),
        bob = xonly_hex(&person(0x12).x_only_public_key().0),
        carol = xonly_hex(&person(0x21).x_only_public_key().0),
        dave = xonly_hex(&person(0x22).x_only_public_key().0),
    )
}

fn sign_setup(text: &str, seeds: &[u8]) -> String {
    let id = SetupId::of_file(text.as_bytes());
    seeds
        .iter()
        .map(|s| {
            Action::SetupSignature { setup_id: id }
                .sign(&person(*s))
                .to_json()
                + "\n"
        })
        .collect()
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
    let secp = Secp256k1::new();
    let cosigner_key = ks
        .account_xpub(&secp, NET, &KeyPath::bip48(NET, 0).unwrap())
        .unwrap();
    let cosigner_master = ks.master_key(NET).unwrap();
    let audit = derive_action_key(cosigner_master.expose_xpriv(), KeyRole::Audit).unwrap();
    let hot = wallet(&[
        key(&signer(1)),
        format!("{cosigner_key}/<0;1>/*"),
        key(&signer(3)),
    ]);
    let cold = wallet(&[key(&signer(4)), key(&signer(5)), key(&signer(6))]);
    let text = setup_text(
        &hot,
        &cold,
        &xonly_hex(&audit.x_only_public_key().0),
        POLICY,
    );
    let setup = dir.path().join("setup.toml");
    std::fs::write(&setup, &text).unwrap();
    std::fs::write(
        dir.path().join("setup.toml.sigs"),
        sign_setup(&text, &[0x21, 0x22]),
    )
    .unwrap();

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
                value: Amount::from_sat(200_000_000),
                script_pubkey: hot.script_pubkey(Keychain::Receive, i).unwrap(),
            })
            .collect(),
    };
    let txid = prev.compute_txid();
    let spent = (0..2)
        .map(|i| (OutPoint::new(txid, i), prev.output[i as usize].clone()))
        .collect();
    let utxos = (0..2)
        .map(|i| Utxo {
            outpoint: OutPoint::new(txid, i),
            amount: Amount::from_sat(200_000_000),
            keychain: Keychain::Receive,
            index: i,
            prev_tx: prev.clone(),
        })
        .collect();
    Env {
        db: dir.path().join("cosigner.db"),
        setup_id: SetupId::of_file(text.as_bytes()),
        dir,
        setup,
        keystore,
        hot,
        cold,
        utxos,
        spent,
    }
}

impl Env {
    /// `kinko <cmd> <common cosigner flags> <args>`.
    fn kinko(&self, cmd: &[&str], args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kinko"));
        c.args(cmd)
            .arg("--setup")
            .arg(&self.setup)
            .arg("--keystore")
            .arg(&self.keystore)
            .arg("--ledger")
            .arg(format!("sqlite:{}", self.db.display()))
            .args(args)
            .env("KINKO_PASSPHRASE", PASS)
            .env_remove("KINKO_LEDGER");
        c.output().unwrap()
    }

    /// `kinko withdraw` of user u1.
    fn withdraw(&self, id: &str, to: &str, amount: &str) -> Output {
        self.kinko(
            &["withdraw"],
            &["--id", id, "--user", "u1", "--to", to, "--amount", amount],
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A PSBT paying `to`, signed by the exchange's hot key, written to a file.
    fn psbt(&self, name: &str, to: &[(&Address, u64)], sat_per_vb: u64, change: u32) -> PathBuf {
        self.psbt_from(name, &self.utxos, to, sat_per_vb, false, change)
    }

    fn signed_file(&self, name: &str, action: Action, seed: u8) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, action.sign(&person(seed)).to_json()).unwrap();
        p
    }

    fn approval(&self, id: &str, to: &Address, amount: u64) -> Action {
        Action::Approval {
            setup_id: self.setup_id,
            asset: "BTC".into(),
            withdrawal_id: id.into(),
            destination: to.to_string(),
            amount,
            expires: UnixTime::from_unix(4_000_000_000),
        }
    }
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout {}\nstderr {}",
        out(o),
        err(o)
    );
    out(o)
}

/// Exit 3 naming `rule`.
fn refused(o: &Output, rule: &str) {
    assert_eq!(
        o.status.code(),
        Some(3),
        "stdout {}\nstderr {}",
        out(o),
        err(o)
    );
    assert!(
        err(o).contains(&format!("refused by rule {rule}")),
        "expected rule {rule}: {}",
        err(o)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_day_on_the_cosigners_host_with_every_refusal_named() {
    let e = env();
    let shown = Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(["setup", "show", "--setup", p(&e.setup), "--setup-sigs"])
        .arg(e.path("setup.toml.sigs"))
        .output()
        .unwrap();
    assert!(ok(&shown).contains(&format!("set-up {}", e.setup_id)));
    assert!(out(&shown).contains("signed by carol, dave (2 of 2)"));

    ok(&e.kinko(&["deposit"], &["--amount", "400000000"]));
    // A cold deposit report cannot lift a share of custody.
    refused(
        &e.kinko(
            &["deposit"],
            &["--wallet", "cold", "--amount", "2000000000000000"],
        ),
        "unvouched-cold-deposit",
    );

    // An approved withdrawal: cosigned only when paid exactly.
    let to = outside(1);
    let w1 = ok(&e.withdraw("w1", &to.to_string(), "50000000"));
    assert!(w1.contains("approved w1"), "{w1}");
    let signed = e.path("w1.cosigned");
    for (name, psbt, rule) in [
        (
            "dest",
            e.psbt("dest.psbt", &[(&outside(9), 50_000_000)], 5, 0),
            "destination-mismatch",
        ),
        (
            "amount",
            e.psbt("amount.psbt", &[(&to, 50_000_001)], 5, 0),
            "amount-mismatch",
        ),
        (
            "fee",
            e.psbt("fee.psbt", &[(&to, 50_000_000)], 900, 0),
            "fee-too-high",
        ),
        (
            "gap",
            e.psbt("gap.psbt", &[(&to, 50_000_000)], 5, 101),
            "change-beyond-gap",
        ),
    ] {
        let o = e.kinko(
            &["cosign"],
            &["--id", "w1", "--psbt", p(&psbt), "--out", p(&signed)],
        );
        refused(&o, rule);
        assert!(!signed.exists(), "{name}: nothing is written");
    }
    let good = e.psbt("w1.psbt", &[(&to, 50_000_000)], 5, 0);
    ok(&e.kinko(
        &["cosign"],
        &["--id", "w1", "--psbt", p(&good), "--out", p(&signed)],
    ));
    let (psbt, _) = kinko_wallet::decode_psbt(&std::fs::read(&signed).unwrap()).unwrap();
    verify_with_core(psbt, &e.hot, &e.spent);
    refused(&e.kinko(&["fail"], &["--id", "w1"]), "reservation-cosigned");
    ok(&e.kinko(&["confirm"], &["--id", "w1"]));

    // Above the threshold: pending until an approver's signed approval.
    let w2 = ok(&e.withdraw("w2", &to.to_string(), "150000000"));
    assert!(w2.contains("pending w2"), "{w2}");
    let mallory = e.signed_file("mallory.json", e.approval("w2", &to, 150_000_000), 0x66);
    refused(
        &e.kinko(&["approve"], &["--signed", p(&mallory)]),
        "unknown-signer",
    );
    let other_amount = e.signed_file("more.json", e.approval("w2", &to, 150_000_001), 0x11);
    refused(
        &e.kinko(&["approve"], &["--signed", p(&other_amount)]),
        "object-mismatch",
    );
    let alice = e.signed_file("alice.json", e.approval("w2", &to, 150_000_000), 0x11);
    assert!(ok(&e.kinko(&["approve"], &["--signed", p(&alice)])).contains("approved w2"));
    assert_eq!(
        e.kinko(&["approve"], &["--signed", p(&alice)])
            .status
            .code(),
        Some(3)
    );

    // Denied by the policy: exit 3 naming the engine's rule.
    refused(
        &e.withdraw("w3", &to.to_string(), "300000001"),
        "max_withdrawal",
    );

    // Sweeps go to the cold index the cosigner hands out, nowhere else.
    let addr = ok(&e.kinko(&["sweep-address"], &["--json"]));
    let v: serde_json::Value = serde_json::from_str(&addr).unwrap();
    assert_eq!(v["cold_index"], 0);
    let cold0 = e.cold.address(Keychain::Receive, 0).unwrap();
    assert_eq!(v["address"], cold0.to_string());
    let swept = e.path("sweep.cosigned");
    let evil = e.psbt("evil-sweep.psbt", &[(&outside(7), 10_000_000)], 5, 0);
    refused(
        &e.kinko(
            &["cosign"],
            &["--sweep", "--psbt", p(&evil), "--out", p(&swept)],
        ),
        "sweep-not-cold",
    );
    let cold1 = e.cold.address(Keychain::Receive, 1).unwrap();
    let skip = e.psbt("skip-sweep.psbt", &[(&cold1, 10_000_000)], 5, 0);
    refused(
        &e.kinko(
            &["cosign"],
            &["--sweep", "--psbt", p(&skip), "--out", p(&swept)],
        ),
        "sweep-not-cold",
    );
    let sweep = e.psbt("sweep.psbt", &[(&cold0, 10_000_000)], 5, 0);
    ok(&e.kinko(
        &["cosign"],
        &["--sweep", "--psbt", p(&sweep), "--out", p(&swept)],
    ));
    let v: serde_json::Value =
        serde_json::from_str(&ok(&e.kinko(&["sweep-address"], &["--json"]))).unwrap();
    assert_eq!(v["cold_index"], 1);

    // The state the cosigner decides on is its chain's; the chain verifies
    // with the audit key.
    let state = ok(&e.kinko(&["state"], &[]));
    assert!(state.contains("rows match the chain"), "{state}");
}

#[test]
fn flags_that_would_let_a_caller_decide_do_not_exist() {
    let e = env();
    for (cmd, extra) in [
        ("withdraw", vec!["--policy", "evil.toml"]),
        ("withdraw", vec!["--at", "2026-01-01T00:00:00Z"]),
        ("cosign", vec!["--max-fee", "99999999"]),
        ("cosign", vec!["--descriptor", "wsh(x)"]),
        ("cosign", vec!["--sweep-to-cold", "wsh(x)"]),
        ("approve", vec!["--approver", "alice"]),
    ] {
        let o = e.kinko(&[cmd], &extra);
        assert_eq!(o.status.code(), Some(2), "{cmd} {extra:?}: {}", err(&o));
    }
}

#[test]
fn a_setup_without_the_admin_quorum_is_refused() {
    let e = env();
    let text = std::fs::read_to_string(&e.setup).unwrap();
    // One admin of two.
    std::fs::write(e.path("setup.toml.sigs"), sign_setup(&text, &[0x21])).unwrap();
    refused(&e.kinko(&["state"], &[]), "setup-not-signed");
    // A loosened policy under the old signatures.
    std::fs::write(e.path("setup.toml.sigs"), sign_setup(&text, &[0x21, 0x22])).unwrap();
    let loose = text.replace(
        "max_withdrawal = 300_000_000",
        "max_withdrawal = 30_000_000_000",
    );
    std::fs::write(&e.setup, loose).unwrap();
    refused(&e.kinko(&["state"], &[]), "setup-not-signed");
}

#[test]
fn rows_written_around_the_cosigner_are_refused() {
    let e = env();
    ok(&e.kinko(&["deposit"], &["--amount", "400000000"]));
    let to = outside(1);
    ok(&e.withdraw("w1", &to.to_string(), "50000000"));
    // The attacker inserts a reservation of the whole hot wallet.
    let db = rusqlite::Connection::open(&e.db).unwrap();
    let record = serde_json::json!({
        "user": "u9", "destination": outside(8).to_string(), "amount": 390_000_000u64,
        "requested_at": "2026-01-01T00:00:00Z", "status": "reserved",
        "required_approvals": 0, "approvals": [],
    });
    db.execute(
        "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record) \
         VALUES ('stolen', 'BTC', 'u9', 'reserved', 390000000, ?1)",
        [record.to_string()],
    )
    .unwrap();
    let psbt = e.psbt("stolen.psbt", &[(&outside(8), 390_000_000)], 5, 0);
    let outp = e.path("stolen.cosigned");
    refused(
        &e.kinko(
            &["cosign"],
            &["--id", "stolen", "--psbt", p(&psbt), "--out", p(&outp)],
        ),
        "state-mismatch",
    );
    assert!(!outp.exists());
    // Every decision is refused while the rows are not the chain's.
    refused(&e.withdraw("w2", &to.to_string(), "1000"), "state-mismatch");
    // The operator removes the row; the cosigner decides again.
    db.execute("DELETE FROM kinko_withdrawal WHERE id = 'stolen'", [])
        .unwrap();
    ok(&e.kinko(&["state"], &[]));
}

#[test]
fn policy_changes_need_the_admin_quorum_and_loosening_waits() {
    let e = env();
    ok(&e.kinko(&["deposit"], &["--amount", "400000000"]));
    let change = |name: &str, text: &str, sequence: u64, seeds: &[u8]| -> Vec<String> {
        let path = e.path(name);
        std::fs::write(&path, text).unwrap();
        let sha = kinko_ledger::Policy::from_toml_str(text)
            .unwrap()
            .sha256()
            .unwrap()
            .parse()
            .unwrap();
        let mut args = vec!["--policy".to_owned(), p(&path).into()];
        for s in seeds {
            let action = Action::PolicyChange {
                setup_id: e.setup_id,
                asset: "BTC".into(),
                policy_sha256: sha,
                sequence,
                expires: UnixTime::from_unix(4_000_000_000),
            };
            let f = e.signed_file(&format!("{name}.{s}.json"), action, *s);
            args.extend(["--signed".into(), p(&f).into()]);
        }
        args
    };
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        e.kinko(&["policy-change", "propose"], &args)
    };
    let to = outside(1).to_string();
    // One admin is not the quorum; an approver is not an admin.
    let loose = POLICY.replace(
        "max_withdrawal = 300_000_000",
        "max_withdrawal = 390_000_000",
    );
    refused(
        &run(&change("loose.toml", &loose, 1, &[0x21])),
        "quorum-not-met",
    );
    refused(
        &run(&change("loose.toml", &loose, 1, &[0x21, 0x11])),
        "unknown-signer",
    );
    // The wrong sequence number (a replay of an old change) is refused.
    refused(
        &run(&change("loose.toml", &loose, 7, &[0x21, 0x22])),
        "object-mismatch",
    );
    // The quorum: a loosening waits (48 h by default) and changes nothing now.
    let o = run(&change("loose.toml", &loose, 1, &[0x21, 0x22]));
    assert!(
        ok(&o).contains("loosens: it takes effect at"),
        "{}",
        out(&o)
    );
    refused(&e.withdraw("w1", &to, "350000000"), "max_withdrawal");
    // Another change while one waits is refused; one admin cancels it.
    let tight = POLICY.replace(
        "max_withdrawal = 300_000_000",
        "max_withdrawal = 200_000_000",
    );
    refused(
        &run(&change("tight.toml", &tight, 2, &[0x21, 0x22])),
        "object-mismatch",
    );
    let cancel = e.signed_file(
        "cancel.json",
        Action::PolicyCancel {
            setup_id: e.setup_id,
            asset: "BTC".into(),
            sequence: 1,
            expires: UnixTime::from_unix(4_000_000_000),
        },
        0x22,
    );
    ok(&e.kinko(&["policy-change", "cancel"], &["--signed", p(&cancel)]));
    // A tightening applies at once.
    let o = run(&change("tight.toml", &tight, 2, &[0x21, 0x22]));
    assert!(ok(&o).contains("in force now"), "{}", out(&o));
    refused(&e.withdraw("w2", &to, "250000000"), "max_withdrawal");
    ok(&e.withdraw("w3", &to, "150000000"));
    ok(&e.kinko(&["state"], &[]));
}

impl Env {
    /// A PSBT paying `to` from `utxos` only, signed by the exchange's hot key.
    fn psbt_from(
        &self,
        name: &str,
        utxos: &[Utxo],
        to: &[(&Address, u64)],
        sat_per_vb: u64,
        spend_all: bool,
        change: u32,
    ) -> PathBuf {
        let created = self
            .hot
            .create_psbt(
                utxos,
                &CreateParams {
                    recipients: to
                        .iter()
                        .map(|(a, s)| (a.as_unchecked().clone(), Amount::from_sat(*s)))
                        .collect(),
                    fee_rate: FeeRate::from_sat_per_vb(sat_per_vb).unwrap(),
                    change_index: change,
                    spend_all,
                },
            )
            .unwrap();
        let mut psbt = created.psbt;
        self.hot.sign(&mut psbt, &signer(1)).unwrap();
        let p = self.path(name);
        std::fs::write(&p, kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64)).unwrap();
        p
    }

    /// The UTXO file of `kinko psbt create|batch` (docs/psbt.md) for the hot
    /// wallet's two funded coins.
    fn utxo_file(&self) -> PathBuf {
        let coins: Vec<serde_json::Value> = self
            .utxos
            .iter()
            .map(|u| {
                serde_json::json!({
                    "txid": u.outpoint.txid.to_string(),
                    "vout": u.outpoint.vout,
                    "amount_sat": u.amount.to_sat(),
                    "keychain": "receive",
                    "index": u.index,
                    "prev_tx": bitcoin::consensus::encode::serialize_hex(&u.prev_tx),
                })
            })
            .collect();
        let p = self.path("utxos.json");
        std::fs::write(&p, serde_json::to_string(&coins).unwrap()).unwrap();
        p
    }
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(ok(o).trim()).unwrap()
}

/// Reads a PSBT file.
fn read_psbt(path: &Path) -> Psbt {
    kinko_wallet::decode_psbt(&std::fs::read(path).unwrap())
        .unwrap()
        .0
}

#[test]
fn a_batch_of_three_withdrawals_cosigned_in_one_transaction_and_confirmed_by_its_txid() {
    let e = env();
    ok(&e.kinko(&["deposit"], &["--amount", "400000000"]));
    let payouts = [
        ("w1", outside(1), 10_000_000u64),
        ("w2", outside(2), 20_000_000),
        ("w3", outside(3), 30_000_000),
    ];
    for (id, to, amount) in &payouts {
        let o = ok(&e.withdraw(id, &to.to_string(), &amount.to_string()));
        assert!(o.starts_with(&format!("approved {id}")), "{o}");
    }

    // The batch, built by `kinko psbt batch` (docs/psbt.md) from the
    // reservations, and signed by the exchange's hot key.
    let payout_file = e.path("payouts.json");
    std::fs::write(
        &payout_file,
        serde_json::to_string(
            &payouts
                .iter()
                .map(|(id, to, amount)| {
                    serde_json::json!({ "id": id, "address": to.to_string(), "amount_sat": amount })
                })
                .collect::<Vec<_>>(),
        )
        .unwrap(),
    )
    .unwrap();
    let unsigned = e.path("batch.unsigned.psbt");
    let built = json(
        &Command::new(env!("CARGO_BIN_EXE_kinko"))
            .args(["psbt", "batch", "--descriptor"])
            .arg(e.hot.descriptor())
            .args(["--network", "regtest", "--utxos"])
            .arg(e.utxo_file())
            .arg("--payouts")
            .arg(&payout_file)
            .args(["--fee-rate", "5", "--change-index", "0", "--seed"])
            .arg("07".repeat(32))
            .arg("--out")
            .arg(&unsigned)
            .arg("--json")
            .output()
            .unwrap(),
    );
    let mut psbt = read_psbt(&unsigned);
    e.hot.sign(&mut psbt, &signer(1)).unwrap();
    let batch = e.path("batch.psbt");
    std::fs::write(
        &batch,
        kinko_wallet::encode_psbt(&psbt, PsbtEncoding::Base64),
    )
    .unwrap();
    let txid = psbt.unsigned_tx.compute_txid().to_string();
    assert_eq!(built["txid"], txid);
    let fee = built["fee_sat"].as_u64().unwrap();
    let position = |id: &str| {
        built["positions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .unwrap()["output"]
            .clone()
    };

    // Refused by rule, nothing written: an id twice, a payment left out.
    let cosigned = e.path("batch.cosigned.psbt");
    let cosign = |ids: &[&str], extra: &[&str]| {
        let mut args: Vec<&str> = ids.iter().flat_map(|id| ["--id", *id]).collect();
        args.extend(["--psbt", p(&batch), "--out", p(&cosigned)]);
        args.extend_from_slice(extra);
        e.kinko(&["cosign"], &args)
    };
    refused(
        &cosign(&["w1", "w2", "w3", "w1"], &[]),
        "reservation-paid-twice",
    );
    refused(&cosign(&["w1", "w2"], &[]), "extra-output");
    assert!(!cosigned.exists(), "nothing is written");

    // The three ids: one transaction, one audit record each.
    let done = json(&cosign(&["w3", "w1", "w2"], &["--json"]));
    let at = |id: &str| position(id).as_u64().unwrap();
    assert_first_payout(
        &done,
        &txid,
        &[("w3", at("w3")), ("w1", at("w1")), ("w2", at("w2"))],
        fee,
        psbt.inputs.len(),
    );
    let signed = read_psbt(&cosigned);
    assert_eq!(signed.unsigned_tx.compute_txid().to_string(), txid);
    verify_with_core(signed, &e.hot, &e.spent);
    // A retry signs the same transaction again; the text names each output.
    let text = ok(&cosign(&["w1", "w2", "w3"], &[]));
    assert!(
        text.starts_with(&format!("cosigned payout {txid} (")),
        "{text}"
    );
    assert!(
        text.contains(&format!("fee {fee} sat, cosigned before")),
        "{text}"
    );
    assert!(
        text.contains(&format!("output {} pays w2\n", position("w2"))),
        "{text}"
    );

    // Confirmed by its txid: all three settle, the fee leaves the books.
    let o = e.kinko(&["confirm"], &["--id", "w1", "--tx", &txid]);
    assert_eq!(o.status.code(), Some(2), "--id and --tx exclude each other");
    let c = json(&e.kinko(&["confirm"], &["--tx", &txid, "--json"]));
    assert_eq!(c["asset"], "BTC");
    refused(
        &e.kinko(&["confirm"], &["--tx", &txid]),
        "already-confirmed",
    );
    refused(
        &e.kinko(&["confirm"], &["--tx", &"00".repeat(32)]),
        "unknown-transaction",
    );
    let st = json(&e.kinko(&["state"], &["--json"]));
    assert_eq!(st["reserved"], 0, "{st}");
    assert_eq!(st["hot"], 400_000_000 - 60_000_000 - fee, "{st}");
}

#[test]
fn a_fee_bump_then_a_confirmed_consolidation_releases_the_withdrawal_by_conflict() {
    let e = env();
    ok(&e.kinko(&["deposit"], &["--amount", "400000000"]));
    let to = outside(1);
    ok(&e.withdraw("w1", &to.to_string(), "50000000"));
    let cosign = |what: &[&str], psbt: &Path, name: &str| {
        let mut args = what.to_vec();
        let out = e.path(name);
        args.extend(["--psbt", p(psbt), "--out", p(&out), "--json"]);
        (e.kinko(&["cosign"], &args), out)
    };

    // One withdrawal from the first coin; then a fee bump of it.
    let first = e.psbt_from("a.psbt", &e.utxos[..1], &[(&to, 50_000_000)], 5, false, 0);
    let (o, _) = cosign(&["--id", "w1"], &first, "a.cosigned");
    let a = json(&o);
    assert_eq!(a["cosigned"], "withdrawal");
    assert_eq!(a["id"], "w1");
    assert_eq!(a["replaces"], serde_json::Value::Null);
    let a_txid = a["txid"].as_str().unwrap().to_owned();
    let bump = e.psbt_from("b.psbt", &e.utxos[..1], &[(&to, 50_000_000)], 20, false, 0);
    let (o, out) = cosign(&["--id", "w1"], &bump, "b.cosigned");
    let b = json(&o);
    assert_eq!(b["replaces"], a_txid);
    assert!(b["fee_sat"].as_u64().unwrap() > a["fee_sat"].as_u64().unwrap());
    verify_with_core(read_psbt(&out), &e.hot, &e.spent);
    // Two transactions pay w1: its id no longer names one.
    refused(
        &e.kinko(&["confirm"], &["--id", "w1"]),
        "unknown-transaction",
    );

    // A consolidation of both coins to change; it spends the payouts' coin.
    let all = e.psbt_from("c.psbt", &e.utxos, &[], 5, true, 1);
    let (o, out) = cosign(&["--consolidation"], &all, "c.cosigned");
    let c = json(&o);
    assert_eq!(c["cosigned"], "consolidation");
    let cons = read_psbt(&out);
    let c_txid = cons.unsigned_tx.compute_txid().to_string();
    assert_eq!(c["txid"], c_txid);
    assert_eq!(c["signatures"], 2);
    let c_fee = c["fee_sat"].as_u64().unwrap();
    assert_eq!(
        c_fee,
        400_000_000 - cons.unsigned_tx.output[0].value.to_sat()
    );
    verify_with_core(cons, &e.hot, &e.spent);
    // A payment is not a consolidation.
    refused(
        &cosign(&["--consolidation"], &first, "x.cosigned").0,
        "not-consolidation",
    );

    // Not yet confirmed: no evidence that w1's transactions cannot confirm.
    refused(
        &e.kinko(&["fail"], &["--id", "w1", "--conflict", &c_txid]),
        "conflict-not-proven",
    );
    ok(&e.kinko(&["confirm"], &["--tx", &c_txid]));
    refused(&e.kinko(&["fail"], &["--id", "w1"]), "reservation-cosigned");
    let released = ok(&e.kinko(&["fail"], &["--id", "w1", "--conflict", &c_txid]));
    assert!(released.starts_with("recorded"), "{released}");
    let st = json(&e.kinko(&["state"], &["--json"]));
    assert_eq!(st["reserved"], 0, "{st}");
    assert_eq!(st["hot"], 400_000_000 - c_fee, "{st}");
}
