//! `kinko audit verify | export | heads` against a SQLite ledger and a
//! PostgreSQL one (`DATABASE_URL`; each run makes and drops its own schema,
//! and says so on stderr when the variable is unset): stdout, stderr and exit
//! status (0 verified, 1 error, 3 audit tampered, naming the rule). The
//! decisions themselves are the cosigner's (`tests/cosigner.rs`); here they
//! are made through the library. `audit
//! verify --key [--published]` checks heads signed through the library
//! (the policy cosigner holds the audit key, not this binary).

use std::path::Path;
use std::process::{Command, Output};

const POLICY: &str = r#"
[assets.BTC]
hot_cap = 1_000_000_000
max_withdrawal = 50_000_000
[[assets.BTC.windows]]
duration = "1h"
limit = 30_000_000
[assets.BTC.approvals]
approvers = ["alice", "bob", "carol"]
quorum = 2
threshold = 20_000_000
"#;

struct Env {
    dir: tempfile::TempDir,
    url: String,
    /// PostgreSQL: (DATABASE_URL, the run's schema), dropped with the Env.
    pg: Option<(String, String)>,
}

fn env() -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    Env { dir, url, pg: None }
}

/// A ledger in a new PostgreSQL schema (the `--ledger` URL names it with
/// `options=-csearch_path=…`), or `None` when `DATABASE_URL` is unset.
fn env_pg() -> Option<Env> {
    let base = match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("DATABASE_URL is unset: skipping the PostgreSQL run of this test");
            }
            return None;
        }
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("kinko_cli_{}_{nanos}", std::process::id());
    let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect DATABASE_URL");
    c.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut e = env();
    e.url = format!("{base}{sep}options=-csearch_path%3D{schema}");
    e.pg = Some((base, schema));
    Some(e)
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(base, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

impl Env {
    /// Edits a stored audit record's text behind the ledger's back: in the
    /// SQLite file itself, or with SQL on PostgreSQL.
    fn tamper(&self, from: &str, to: &str) {
        match &self.pg {
            Some((base, schema)) => {
                let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect");
                let sql =
                    format!("UPDATE {schema}.kinko_audit SET payload = replace(payload, $1, $2)");
                let n = c.execute(&sql, &[&from, &to]).expect("tamper");
                assert_eq!(n, 2, "every audit record is rewritten, one changes");
            }
            None => {
                let path = self.dir.path().join("ledger.db");
                let edited = replace_in_file(&path, from.as_bytes(), to.as_bytes());
                assert!(edited, "record text not found in the database file");
            }
        }
    }
}

fn kinko(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinko"))
        .args(args)
        .env_remove("KINKO_LEDGER")
        .output()
        .expect("the kinko binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

#[test]
fn usage_errors_exit_2() {
    let e = env();
    let o = kinko(&["audit", "verify", "--ledger", "mysql://root:secret@host/db"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsupported ledger url"));
    // Never echoes the URL (it may hold a password).
    assert!(!stderr(&o).contains("secret"), "{}", stderr(&o));
    // A mistyped path is not an empty log that verifies.
    let missing = format!("sqlite:{}", e.dir.path().join("nope.db").display());
    let o = kinko(&["audit", "verify", "--ledger", &missing]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no ledger at this path"),
        "{}",
        stderr(&o)
    );
    assert!(!e.dir.path().join("nope.db").exists());
}

fn replace_in_file(path: &Path, from: &[u8], to: &[u8]) -> bool {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    match bytes.windows(from.len()).position(|w| w == from) {
        Some(i) => {
            bytes[i..i + from.len()].copy_from_slice(to);
            std::fs::write(path, bytes).unwrap();
            true
        }
        None => false,
    }
}

#[test]
fn audit_export_heads_and_tampering_named_with_exit_3_on_sqlite() {
    audit_export_heads_and_tampering_named_with_exit_3(&env());
}

#[test]
fn audit_export_heads_and_tampering_named_with_exit_3_on_postgres() {
    if let Some(e) = env_pg() {
        audit_export_heads_and_tampering_named_with_exit_3(&e);
    }
}

fn audit_export_heads_and_tampering_named_with_exit_3(e: &Env) {
    // Decisions are the cosigner's (through the library here): the audit
    // commands only read.
    e.deposit(None, 0, 777_000);
    e.deposit(None, 1, 555_000);
    let export = ok(&kinko(&["audit", "export", "--ledger", &e.url]));
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["seq"], 2);
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"]);
    let heads = ok(&kinko(&["audit", "heads", "--ledger", &e.url]));
    let head: serde_json::Value = serde_json::from_str(heads.trim()).unwrap();
    assert_eq!(head["count"], 2);
    assert_eq!(head["hash"], lines[1]["hash"]);

    // Edit the second record's amount where it is stored (SQLite: in the
    // file itself; the ledger closed, so the WAL was checkpointed into it).
    e.tamper("\"amount\":555000", "\"amount\":955000");
    let o = kinko(&["audit", "verify", "--ledger", &e.url]);
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("first bad record BTC#2: hash does not match"),
        "{}",
        stderr(&o)
    );
    let o = kinko(&["audit", "verify", "--ledger", &e.url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["seq"].clone()),
        (false.into(), 2.into())
    );
}

/// A BIP-340 key for the audit-head tests.
fn keypair(byte: u8) -> kinko_ledger::kinko_auth::ActionKeypair {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[byte; 32]).unwrap();
    kinko_ledger::kinko_auth::ActionKeypair::from_secret_key(&secp, &sk)
}

fn xonly_hex(byte: u8) -> String {
    kinko_ledger::kinko_auth::xonly_hex(&keypair(byte).x_only_public_key().0)
}

impl Env {
    /// Decides a deposit through the library, signing the heads with the
    /// audit key `signer` (the policy cosigner's) or, `None`, as a writer
    /// without it.
    fn deposit_signed_by(&self, signer: Option<u8>, second: i64) {
        self.deposit(signer, second, 1_000);
    }

    /// A deposit of `amount` decided through the library at `second`.
    fn deposit(&self, signer: Option<u8>, second: i64, amount: u64) {
        let policy = kinko_ledger::Policy::from_toml_str(POLICY).unwrap();
        let mut l = kinko_ledger::Ledger::open(&self.url)
            .unwrap()
            .with_policy(policy);
        if let Some(b) = signer {
            let setup = kinko_ledger::kinko_auth::SetupId::of_file(b"cli test set-up");
            l = l.with_audit_signer(kinko_ledger::AuditSigner::new(keypair(b), setup));
        }
        let at = kinko_policy::Timestamp::from_unix(1_767_225_600 + second);
        l.decide_at(
            at,
            kinko_policy::EventKind::Deposit {
                asset: "BTC".parse().unwrap(),
                wallet: kinko_policy::Wallet::Hot,
                amount: kinko_policy::Amount::from_units(amount),
            },
        )
        .unwrap();
    }

    /// `kinko audit verify --ledger URL ARGS…`
    fn verify(&self, args: &[&str]) -> Output {
        let mut all = vec!["audit", "verify", "--ledger", &self.url];
        all.extend_from_slice(args);
        kinko(&all)
    }
}

/// Exit 3 naming `rule`.
fn refused(o: &Output, rule: &str) {
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(o), stderr(o));
    assert!(
        stderr(o).contains(&format!("refused by rule {rule}:")),
        "{}",
        stderr(o)
    );
}

#[test]
fn audit_verify_with_the_key_names_the_rule_on_sqlite() {
    audit_verify_with_the_key_names_the_rule(&env());
}

#[test]
fn audit_verify_with_the_key_names_the_rule_on_postgres() {
    if let Some(e) = env_pg() {
        audit_verify_with_the_key_names_the_rule(&e);
    }
}

fn audit_verify_with_the_key_names_the_rule(e: &Env) {
    let key = xonly_hex(7);
    // Written without the audit key: the chain verifies, its head is unsigned.
    e.deposit_signed_by(None, 0);
    ok(&e.verify(&[]));
    refused(&e.verify(&["--key", &key]), "audit-unsigned-head");
    let heads = ok(&kinko(&["audit", "heads", "--ledger", &e.url]));
    assert!(heads.contains("\"count\":1"), "{heads}");

    // The cosigner's next write signs the head.
    e.deposit_signed_by(Some(7), 1);
    let out = ok(&e.verify(&["--key", &key]));
    assert_eq!(
        out.trim(),
        "audit log verifies: 1 chain(s), 2 record(s), every head signed by the audit key"
    );
    let v: serde_json::Value =
        serde_json::from_str(ok(&e.verify(&["--key", &key, "--json"])).trim()).unwrap();
    assert_eq!(
        (v["valid"].clone(), v["signed"].clone()),
        (true.into(), true.into())
    );
    // `heads` now prints the signed heads: publish them.
    let heads = ok(&kinko(&["audit", "heads", "--ledger", &e.url]));
    let signed = kinko_ledger::kinko_auth::SignedAction::from_json(heads.trim()).unwrap();
    assert_eq!(signed.verify().unwrap(), keypair(7).x_only_public_key().0);
    let published = e.dir.path().join("heads-2026-01-01.jsonl");
    std::fs::write(&published, &heads).unwrap();
    let p = published.to_str().unwrap();
    ok(&e.verify(&["--key", &key, "--published", p]));

    // A published head the chain does not contain (count 9).
    let kinko_ledger::kinko_auth::Action::AuditHead {
        setup_id,
        asset,
        hash,
        at,
        ..
    } = signed.action.clone()
    else {
        panic!("not an audit head");
    };
    let ahead = kinko_ledger::kinko_auth::Action::AuditHead {
        setup_id,
        asset,
        count: 9,
        hash,
        at,
    }
    .sign(&keypair(7));
    let ahead_file = e.dir.path().join("ahead.jsonl");
    std::fs::write(&ahead_file, ahead.to_json() + "\n").unwrap();
    refused(
        &e.verify(&["--key", &key, "--published", ahead_file.to_str().unwrap()]),
        "audit-published-head",
    );
    // Not the audit key; a malformed key; --published without --key.
    refused(
        &e.verify(&["--key", &xonly_hex(8)]),
        "audit-bad-head-signature",
    );
    refused(
        &e.verify(&["--key", &xonly_hex(8), "--published", p]),
        "audit-bad-published-head",
    );
    let o = e.verify(&["--key", "abcd"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = e.verify(&["--published", p]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A writer without the key appends a record (valid hashes, head row
    // moved): only the key sees it.
    e.deposit_signed_by(None, 2);
    ok(&e.verify(&[]));
    let o = e.verify(&["--key", &key, "--json"]);
    refused(&o, "audit-head-mismatch");
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["rule"], "audit-head-mismatch");
    // ... or signs the head with a key of their own.
    e.deposit_signed_by(Some(8), 3);
    refused(&e.verify(&["--key", &key]), "audit-bad-head-signature");
}
