//! The one storage trait both backends implement, and the schema's versions.
//!
//! The ledger's logic ([`crate::Ledger`]) is written once against
//! [`ReadTx`] and [`WriteTx`]; SQLite and PostgreSQL only translate their
//! few row operations to SQL. A read transaction is a [`ReadTx`] only, so
//! it cannot write. The
//! rows are small: the asset row (books, a JSON "core" with the clock, the
//! total windows, the breaker and the freeze, the audit head and a version
//! counter), one row per withdrawal, per user's windows and per allowlist
//! entry, and the audit records.

use kinko_policy::Timestamp;

use crate::audit::{AuditHead, AuditRecord};
use crate::error::{OpenError, StorageError};

/// The schema version this build writes. A ledger whose stored version is
/// higher was written by a newer kinko and is refused.
pub const SCHEMA_VERSION: u32 = 3;

pub(crate) fn to_i64(v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::AmountTooLarge(v))
}

pub(crate) fn to_u64(v: i64, what: &'static str) -> Result<u64, StorageError> {
    u64::try_from(v).map_err(|_| StorageError::Damaged { what })
}

/// The asset row.
#[derive(Debug, Clone)]
pub(crate) struct AssetRow {
    pub version: i64,
    pub hot: u64,
    pub cold: u64,
    pub reserved: u64,
    /// The core JSON; `None` when the caller's cached version is current.
    pub core: Option<String>,
    pub audit_count: u64,
    pub audit_head: String,
}

/// A row of `kinko_audit_signed_head`.
#[derive(Debug, Clone)]
pub(crate) struct SignedHeadRow {
    pub asset: String,
    pub count: u64,
    pub hash: String,
    /// The `SignedAction` JSON.
    pub signed: String,
}

/// A withdrawal row.
#[derive(Debug, Clone)]
pub(crate) struct WithdrawalRow {
    pub asset: String,
    pub id: String,
    pub user: String,
    pub status: &'static str,
    pub amount: i64,
    /// The whole record, JSON.
    pub record: String,
}

/// The rows one decision reads besides the asset row (see `Event::touches`).
#[derive(Debug, Default)]
pub(crate) struct Touched {
    /// (asset, record JSON) of the withdrawal.
    pub withdrawal: Option<(String, String)>,
    /// The user's windows, JSON.
    pub user_windows: Option<String>,
    /// (added_at, active_at) of the allowlist entry.
    pub allowlist: Option<(i64, i64)>,
}

/// The rows a batch of decisions will read besides the asset rows (see
/// `Event::touches`), named ahead so a store can read them in one round trip.
#[derive(Debug, Default)]
pub(crate) struct Keys<'a> {
    /// Withdrawal ids (their rows and cosign marks).
    pub ids: Vec<&'a str>,
    /// (asset, user) of user windows.
    pub users: Vec<(&'a str, &'a str)>,
    /// (asset, destination) of allowlist entries.
    pub destinations: Vec<(&'a str, &'a str)>,
}

/// The queries of a transaction. A read transaction is only this: one
/// consistent snapshot, no writes. A write transaction ([`WriteTx`]) answers
/// them too, seeing its own earlier writes.
pub(crate) trait ReadTx {
    /// Reads an asset row without locking.
    fn read_asset(&mut self, asset: &str) -> Result<Option<AssetRow>, StorageError>;
    /// (asset, record JSON) of a withdrawal.
    fn withdrawal(&mut self, id: &str) -> Result<Option<(String, String)>, StorageError>;
    /// A user's windows (JSON).
    fn user_windows(&mut self, asset: &str, user: &str) -> Result<Option<String>, StorageError>;
    /// (added_at, active_at) of an allowlist entry.
    fn allowlist_entry(
        &mut self,
        asset: &str,
        destination: &str,
    ) -> Result<Option<(i64, i64)>, StorageError>;
    /// The withdrawal, user windows and allowlist entry named.
    fn touched(
        &mut self,
        asset: &str,
        id: Option<&str>,
        user: Option<&str>,
        destination: Option<&str>,
    ) -> Result<Touched, StorageError> {
        Ok(Touched {
            withdrawal: match id {
                Some(id) => self.withdrawal(id)?,
                None => None,
            },
            user_windows: match user {
                Some(u) => self.user_windows(asset, u)?,
                None => None,
            },
            allowlist: match destination {
                Some(d) => self.allowlist_entry(asset, d)?,
                None => None,
            },
        })
    }
    /// The txids a reservation was cosigned for: the first one, then its
    /// replacements, separated by single spaces (column `txid`).
    fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, StorageError>;
    /// Every asset with a row, sorted.
    fn assets(&mut self) -> Result<Vec<String>, StorageError>;
    /// (id, record JSON) of every withdrawal of an asset, by id.
    fn all_withdrawals(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError>;
    /// (user, windows JSON) of every user of an asset.
    fn all_user_windows(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError>;
    /// (destination, added_at, active_at) of every allowlist entry of an asset.
    fn all_allowlist(&mut self, asset: &str) -> Result<Vec<(String, i64, i64)>, StorageError>;
    /// The head stored on every asset row, in asset order.
    fn heads(&mut self) -> Result<Vec<AuditHead>, StorageError>;
    /// Every stored signed head, in asset order.
    fn signed_heads(&mut self) -> Result<Vec<SignedHeadRow>, StorageError>;
    /// Assets that have audit records (with or without an asset row).
    fn audit_assets(&mut self) -> Result<Vec<String>, StorageError>;
    /// Up to `limit` records of a chain with `seq > after`, in `seq` order.
    fn audit_page(
        &mut self,
        asset: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError>;
}

/// A write transaction: it holds the asset rows it locked until commit;
/// dropping it without commit rolls back. A store may hold writes back
/// until `commit` (PostgreSQL sends them in one statement); its reads
/// ([`ReadTx`]) always see the transaction's own earlier writes.
pub(crate) trait WriteTx: ReadTx {
    /// The ledger's time source inside the transaction (database server time
    /// on PostgreSQL, the system clock on SQLite).
    fn now(&mut self) -> Result<Timestamp, StorageError>;
    /// Locks the asset row (creating it empty if missing) and reads it.
    fn lock_asset(&mut self, asset: &str, cached: Option<i64>) -> Result<AssetRow, StorageError>;
    /// Reads the rows named ahead of the reads through [`ReadTx`] (which
    /// then answer from memory). Call it only after the asset locks are
    /// granted. Default: nothing (SQLite reads locally, cheaply).
    fn prefetch(&mut self, _keys: &Keys<'_>) -> Result<(), StorageError> {
        Ok(())
    }
    /// Whether [`WriteTx::prefetch`] saves round trips (worth a second pass
    /// for rows named inside records).
    fn reads_ahead(&self) -> bool {
        false
    }
    /// Inserts a withdrawal. A concurrent insert of the same id fails the
    /// unique key here or, on a store that holds writes back, at `commit`.
    fn insert_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError>;
    /// Updates a withdrawal's status and record.
    fn update_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError>;
    /// Writes (`Some`) or deletes (`None`) a user's windows.
    fn put_user_windows(
        &mut self,
        asset: &str,
        user: &str,
        usage: Option<&str>,
    ) -> Result<(), StorageError>;
    /// Writes (`Some`) or deletes (`None`) an allowlist entry.
    fn put_allowlist(
        &mut self,
        asset: &str,
        destination: &str,
        entry: Option<(i64, i64)>,
    ) -> Result<(), StorageError>;
    /// Appends an audit record.
    fn append_audit(&mut self, r: &AuditRecord) -> Result<(), StorageError>;
    /// Stores (replaces) a chain's signed head.
    fn put_signed_head(&mut self, head: &SignedHeadRow) -> Result<(), StorageError>;
    /// Writes (inserts or replaces) a reservation's cosign mark.
    fn put_cosign_mark(
        &mut self,
        id: &str,
        asset: &str,
        txid: &str,
        at: i64,
    ) -> Result<(), StorageError>;
    /// Writes the asset row (version included).
    fn update_asset(&mut self, asset: &str, row: &AssetRow) -> Result<(), StorageError>;
    /// Commits every write.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;
}

/// A connection to one ledger.
pub(crate) trait Backend: Send {
    /// A write transaction (SQLite: `BEGIN IMMEDIATE`).
    fn begin(&mut self) -> Result<Box<dyn WriteTx + '_>, StorageError>;
    /// A read transaction seeing one consistent snapshot.
    fn begin_read(&mut self) -> Result<Box<dyn ReadTx + '_>, StorageError>;
}

/// The schema, as migrations from version `i` to `i + 1` (index `i`), in SQL
/// both SQLite and PostgreSQL accept. Amounts are `BIGINT` (checked `u64` ↔
/// `i64` conversions); JSON is `TEXT`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE kinko_asset (
        asset TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        hot BIGINT NOT NULL,
        cold BIGINT NOT NULL,
        reserved BIGINT NOT NULL,
        core TEXT NOT NULL,
        audit_count BIGINT NOT NULL,
        audit_head TEXT NOT NULL
    );
    CREATE TABLE kinko_withdrawal (
        id TEXT PRIMARY KEY,
        asset TEXT NOT NULL,
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        amount BIGINT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX kinko_withdrawal_asset ON kinko_withdrawal (asset, status);
    CREATE TABLE kinko_user_window (
        asset TEXT NOT NULL,
        user_id TEXT NOT NULL,
        usage TEXT NOT NULL,
        PRIMARY KEY (asset, user_id)
    );
    CREATE TABLE kinko_allowlist (
        asset TEXT NOT NULL,
        destination TEXT NOT NULL,
        added_at BIGINT NOT NULL,
        active_at BIGINT NOT NULL,
        PRIMARY KEY (asset, destination)
    );
    CREATE TABLE kinko_audit (
        asset TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (asset, seq)
    );",
    // 1 -> 2: the policy cosigner's marks (one per withdrawal id). `txid`
    // holds the transaction's id; since fee bumping, the first transaction
    // and then its replacements, separated by single spaces (every one of
    // them conflicts with every other, so at most one confirms).
    "CREATE TABLE kinko_cosign (
        id TEXT PRIMARY KEY,
        asset TEXT NOT NULL,
        txid TEXT NOT NULL,
        at BIGINT NOT NULL
    );",
    // 2 -> 3: each chain's head signed by the policy cosigner's audit key
    // (`kinko_auth::Action::AuditHead`, the `SignedAction` JSON), written
    // in the transaction that appended the records it covers. The count and
    // hash columns repeat the signed message for queries; verification reads
    // only the signed text.
    "CREATE TABLE kinko_audit_signed_head (
        asset TEXT PRIMARY KEY,
        audit_count BIGINT NOT NULL,
        audit_head TEXT NOT NULL,
        signed TEXT NOT NULL
    );",
];

/// The meta table every version has: `schema_version` lives here.
pub(crate) const META_DDL: &str =
    "CREATE TABLE IF NOT EXISTS kinko_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/// Why a stored schema version is not usable.
pub(crate) fn parse_version(v: &str) -> Option<u32> {
    v.parse().ok()
}

/// The version to migrate from: the stored one (`None`: a new ledger),
/// refused when newer than this build or not a number.
pub(crate) fn check_schema(found: Option<Result<u32, &str>>) -> Result<u32, OpenError> {
    match found {
        None => Ok(0),
        Some(Err(_)) => Err(OpenError::DamagedSchema),
        Some(Ok(v)) if v > SCHEMA_VERSION => Err(OpenError::NewerSchema {
            found: v,
            supported: SCHEMA_VERSION,
        }),
        Some(Ok(v)) => Ok(v),
    }
}

/// What [`migrate`] needs of a backend's transaction.
pub(crate) trait SchemaTx {
    /// Runs statements that take no parameters.
    fn run(&mut self, sql: &str) -> Result<(), StorageError>;
    /// The first column of the first row as text, if there is a row.
    fn text(&mut self, sql: &str) -> Result<Option<String>, StorageError>;
}

/// Brings the schema to [`SCHEMA_VERSION`] inside the caller's transaction
/// (which holds whatever serializes concurrent first opens), refusing a
/// newer or damaged stored version. The caller commits.
pub(crate) fn migrate(tx: &mut dyn SchemaTx) -> Result<(), OpenError> {
    let st = OpenError::Storage;
    tx.run(META_DDL).map_err(st)?;
    let found = tx
        .text("SELECT value FROM kinko_meta WHERE key = 'schema_version'")
        .map_err(st)?;
    let from = check_schema(found.as_deref().map(|v| parse_version(v).ok_or(v)))?;
    for m in MIGRATIONS.iter().skip(from as usize) {
        tx.run(m).map_err(st)?;
    }
    // The version is this build's constant, not input: a literal is safe.
    tx.run(&format!(
        "INSERT INTO kinko_meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
         ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    ))
    .map_err(st)
}
