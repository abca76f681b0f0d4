//! Fixtures: a fresh ledger per test on each backend, a policy, a small RNG.

/// `both!(a, b)`: tests `on_sqlite::a` and `on_postgres::a` (skipped with a
/// note when `DATABASE_URL` is unset), each calling `a(&Db)` on a fresh
/// ledger.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $( #[test] fn $name() { super::$name(&crate::common::sqlite()) } )*
        }
        mod on_postgres {
            $( #[test] fn $name() {
                if let Some(db) = crate::common::postgres() { super::$name(&db) }
            } )*
        }
    };
}

use std::sync::atomic::{AtomicU64, Ordering};

use kinko_ledger::kinko_auth::{ActionKeypair, SetupId};
use kinko_ledger::{AuditSigner, Ledger, Policy};
use kinko_policy::{EventKind, Timestamp, Wallet};

/// A fresh, empty ledger location; dropped with the test (PostgreSQL: its
/// schema is dropped).
pub struct Db {
    pub url: String,
    /// The SQLite file's directory.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: (base url, schema).
    pg: Option<(String, String)>,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), n, nanos)
}

/// A SQLite ledger in a new temporary directory. `fast` puts it on tmpfs
/// (`/dev/shm`) when there is one: for tests about logic and races, not
/// about the disk.
pub fn sqlite_in(fast: bool) -> Db {
    let dir = match (fast, std::path::Path::new("/dev/shm").is_dir()) {
        (true, true) => tempfile::tempdir_in("/dev/shm"),
        _ => tempfile::tempdir(),
    }
    .expect("temporary directory");
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    Db {
        url,
        _dir: Some(dir),
        pg: None,
    }
}

/// A SQLite ledger on the ordinary temporary directory.
pub fn sqlite() -> Db {
    sqlite_in(false)
}

/// `DATABASE_URL`, or `None` after saying that the test is skipped.
pub fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("DATABASE_URL is unset: skipping the PostgreSQL run of this test");
            }
            None
        }
    }
}

/// A PostgreSQL ledger in a new schema, or `None` when `DATABASE_URL` is
/// unset. `extra` adds server options (e.g. `-csynchronous_commit%3Doff`).
pub fn postgres_with(extra: &str) -> Option<Db> {
    let base = database_url()?;
    let schema = format!("kinko_t_{}", unique());
    let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect DATABASE_URL");
    c.batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{schema}{extra}");
    Some(Db {
        url,
        _dir: None,
        pg: Some((base, schema)),
    })
}

/// A PostgreSQL ledger in a new schema.
pub fn postgres() -> Option<Db> {
    postgres_with("")
}

impl Db {
    /// Opens a ledger with the test policy.
    pub fn open(&self) -> Ledger {
        Ledger::open(&self.url)
            .expect("open ledger")
            .with_policy(policy())
    }

    /// Opens a ledger with the test policy and the test audit signer.
    pub fn open_signed(&self) -> Ledger {
        self.open().with_audit_signer(audit_signer())
    }

    /// Reads rows with SQL directly (not through the ledger), every value
    /// as text (integers in decimal, NULL as "").
    pub fn query(&self, sql: &str) -> Vec<Vec<String>> {
        match &self.pg {
            Some((base, schema)) => {
                let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect");
                c.batch_execute(&format!("SET search_path = {schema}"))
                    .expect("search path");
                c.query(sql, &[])
                    .expect("raw query")
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| match r.try_get::<_, Option<String>>(i) {
                                Ok(v) => v.unwrap_or_default(),
                                Err(_) => r.get::<_, i64>(i).to_string(),
                            })
                            .collect()
                    })
                    .collect()
            }
            None => {
                let path = self.url.trim_start_matches("sqlite:");
                let c = rusqlite::Connection::open(path).expect("open sqlite");
                let mut st = c.prepare(sql).expect("prepare");
                let n = st.column_count();
                st.query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                                rusqlite::types::Value::Integer(v) => v.to_string(),
                                rusqlite::types::Value::Text(t) => t,
                                _ => String::new(),
                            })
                        })
                        .collect()
                })
                .expect("raw query")
                .collect::<Result<_, _>>()
                .expect("rows")
            }
        }
    }

    /// Runs SQL against the ledger's tables directly (tampering, schema
    /// changes): the same statement text on both backends.
    pub fn raw(&self, sql: &str) {
        match &self.pg {
            Some((base, schema)) => {
                let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect");
                c.batch_execute(&format!("SET search_path = {schema}; {sql}"))
                    .expect("raw sql");
            }
            None => {
                let path = self.url.trim_start_matches("sqlite:");
                let c = rusqlite::Connection::open(path).expect("open sqlite");
                c.execute_batch(sql).expect("raw sql");
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(base, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// The test policy: three windows (two total, one per user), a maximum, an
/// approval threshold with a 2-of-3 quorum, an allowlist in
/// require-approval mode with a 1 h delay. No breaker (it would freeze the
/// random runs early) except where a test adds one.
pub const POLICY: &str = r#"
[assets.BTC]
hot_cap = 1_000_000_000_000
max_withdrawal = 5_000_000
[[assets.BTC.windows]]
duration = "10m"
limit = 20_000_000
bucket = "10s"
[[assets.BTC.windows]]
duration = "1h"
limit = 60_000_000
[[assets.BTC.windows]]
duration = "1h"
limit = 8_000_000
per_user = true
[assets.BTC.approvals]
approvers = ["alice", "bob", "carol"]
quorum = 2
threshold = 3_000_000

[assets.XEM]
hot_cap = 1_000_000_000_000
[[assets.XEM.windows]]
duration = "10m"
limit = 30_000_000
[assets.XEM.allowlist]
mode = "require-approval"
activation_delay = "1h"
entries = ["NXEMPARTNER"]
[assets.XEM.approvals]
approvers = ["alice", "bob", "carol"]
quorum = 2
"#;

/// The test audit key (the policy cosigner's, in production never on the
/// backend host).
pub fn audit_keypair(byte: u8) -> ActionKeypair {
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let sk = bitcoin::secp256k1::SecretKey::from_slice(&[byte; 32]).expect("key");
    ActionKeypair::from_secret_key(&secp, &sk)
}

/// The test set-up's id.
pub fn setup_id() -> SetupId {
    SetupId::of_file(b"version = 1\n# kinko-ledger tests\n")
}

/// The test audit signer (key byte 7).
pub fn audit_signer() -> AuditSigner {
    AuditSigner::new(audit_keypair(7), setup_id())
}

/// The test audit key's public half.
pub fn audit_key() -> bitcoin::secp256k1::XOnlyPublicKey {
    audit_keypair(7).x_only_public_key().0
}

pub fn policy() -> Policy {
    Policy::from_toml_str(POLICY).expect("test policy is valid")
}

/// 2026-01-01T00:00:00Z plus `s` seconds.
pub fn t(s: i64) -> Timestamp {
    Timestamp::from_unix(1_767_225_600 + s)
}

pub fn deposit(asset: &str, amount: u64) -> EventKind {
    EventKind::Deposit {
        asset: asset.parse().unwrap(),
        wallet: Wallet::Hot,
        amount: kinko_policy::Amount::from_units(amount),
    }
}

pub fn withdrawal(asset: &str, id: &str, user: &str, dest: &str, amount: u64) -> EventKind {
    EventKind::Withdrawal {
        id: id.parse().unwrap(),
        user: user.parse().unwrap(),
        asset: asset.parse().unwrap(),
        destination: dest.parse().unwrap(),
        amount: kinko_policy::Amount::from_units(amount),
    }
}

/// SplitMix64: a small deterministic generator for test traffic (no
/// dependency needed for a test's random choices).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A count from the environment (long runs), or the default.
pub fn env_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
