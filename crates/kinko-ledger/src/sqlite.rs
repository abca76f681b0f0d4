//! The SQLite backend (`sqlite:PATH`): embedded, one file, WAL.
//!
//! `synchronous = FULL`. In WAL mode `NORMAL` syncs only at checkpoints: a
//! transaction that committed (and that a worker has acted on, e.g. by
//! broadcasting the approved withdrawal) can vanish after a power cut or a
//! kernel crash, and with it the velocity usage and reservation it recorded —
//! the window would then approve that amount a second time. `FULL` syncs the
//! WAL on every commit, so a decision reported committed survives. The cost
//! is one `fdatasync` per transaction; [`crate::Ledger::decide_batch`]
//! spreads it over many decisions (group commit).
//!
//! Writers serialize on `BEGIN IMMEDIATE` (SQLite's one write lock), with a
//! busy timeout so concurrent workers and processes wait rather than fail.

use std::path::Path;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use kinko_policy::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::audit::{AuditHead, AuditRecord};
use crate::error::{OpenError, StorageError};
use crate::sql::{self, Columns, Query};
use crate::store::{
    to_i64, AssetRow, Backend, ReadTx, SchemaTx, SignedHeadRow, WithdrawalRow, WriteTx,
};

/// How long a writer waits for another one before giving up.
const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(60);

pub(crate) struct Sqlite {
    conn: Connection,
}

impl Sqlite {
    pub(crate) fn open(path: &Path, create: bool) -> Result<Self, OpenError> {
        if !create && !path.exists() {
            return Err(OpenError::NotFound);
        }
        let conn = Connection::open(path).map_err(|e| OpenError::Storage(e.into()))?;
        let s = Sqlite { conn };
        s.setup().map_err(OpenError::Storage)?;
        Ok(s)
    }

    fn setup(&self) -> Result<(), StorageError> {
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        // journal_mode answers with the mode in force; WAL persists in the file.
        let _mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        self.conn.execute_batch("PRAGMA synchronous = FULL;")?;
        Ok(())
    }

    pub(crate) fn migrate(&mut self) -> Result<(), OpenError> {
        let st = |e: rusqlite::Error| OpenError::Storage(e.into());
        // BEGIN IMMEDIATE: the write lock serializes concurrent first opens.
        let mut tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(st)?;
        crate::store::migrate(&mut tx)?;
        tx.commit().map_err(st)
    }
}

impl SchemaTx for rusqlite::Transaction<'_> {
    fn run(&mut self, sql: &str) -> Result<(), StorageError> {
        Ok(self.execute_batch(sql)?)
    }

    fn text(&mut self, sql: &str) -> Result<Option<String>, StorageError> {
        Ok(self.query_row(sql, [], |r| r.get(0)).optional()?)
    }
}

impl Backend for Sqlite {
    fn begin(&mut self) -> Result<Box<dyn WriteTx + '_>, StorageError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTx(tx)))
    }

    fn begin_read(&mut self) -> Result<Box<dyn ReadTx + '_>, StorageError> {
        // A deferred transaction reads one WAL snapshot from its first read on.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        Ok(Box::new(SqliteTx(tx)))
    }
}

struct SqliteTx<'a>(rusqlite::Transaction<'a>);

impl Columns for rusqlite::Row<'_> {
    fn int(&self, i: usize) -> Result<i64, StorageError> {
        Ok(self.get(i)?)
    }

    fn text(&self, i: usize) -> Result<String, StorageError> {
        Ok(self.get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError> {
        Ok(self.get(i)?)
    }
}

impl SqliteTx<'_> {
    /// Every row of `q`.
    fn all<T>(&self, q: &Query<T>, p: impl rusqlite::Params) -> Result<Vec<T>, StorageError> {
        let mut st = self.0.prepare_cached(q.sql)?;
        let mut rows = st.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((q.decode)(r)?);
        }
        Ok(out)
    }

    /// The first row of `q`, if any.
    fn first<T>(&self, q: &Query<T>, p: impl rusqlite::Params) -> Result<Option<T>, StorageError> {
        let mut st = self.0.prepare_cached(q.sql)?;
        let mut rows = st.query(p)?;
        rows.next()?.map(|r| (q.decode)(r)).transpose()
    }
}

impl ReadTx for SqliteTx<'_> {
    fn read_asset(&mut self, asset: &str) -> Result<Option<AssetRow>, StorageError> {
        self.first(&sql::ASSET, params![-1i64, asset])
    }

    fn withdrawal(&mut self, id: &str) -> Result<Option<(String, String)>, StorageError> {
        self.first(&sql::WITHDRAWAL, params![id])
    }

    fn user_windows(&mut self, asset: &str, user: &str) -> Result<Option<String>, StorageError> {
        self.first(&sql::USER_WINDOWS, params![asset, user])
    }

    fn allowlist_entry(
        &mut self,
        asset: &str,
        destination: &str,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        self.first(&sql::ALLOWLIST_ENTRY, params![asset, destination])
    }

    fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, StorageError> {
        self.first(&sql::COSIGN_MARK, params![id])
    }

    fn assets(&mut self) -> Result<Vec<String>, StorageError> {
        self.all(&sql::ASSETS, [])
    }

    fn all_withdrawals(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.all(&sql::ALL_WITHDRAWALS, params![asset])
    }

    fn all_user_windows(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.all(&sql::ALL_USER_WINDOWS, params![asset])
    }

    fn all_allowlist(&mut self, asset: &str) -> Result<Vec<(String, i64, i64)>, StorageError> {
        self.all(&sql::ALL_ALLOWLIST, params![asset])
    }

    fn heads(&mut self) -> Result<Vec<AuditHead>, StorageError> {
        self.all(&sql::HEADS, [])
    }

    fn signed_heads(&mut self) -> Result<Vec<SignedHeadRow>, StorageError> {
        self.all(&sql::SIGNED_HEADS, [])
    }

    fn audit_assets(&mut self) -> Result<Vec<String>, StorageError> {
        self.all(&sql::AUDIT_ASSETS, [])
    }

    fn audit_page(
        &mut self,
        asset: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        self.all(
            &sql::AUDIT_PAGE,
            params![asset, to_i64(after)?, i64::from(limit)],
        )
    }
}

impl WriteTx for SqliteTx<'_> {
    fn now(&mut self) -> Result<Timestamp, StorageError> {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| StorageError::ClockBeforeEpoch)?;
        let secs = i64::try_from(d.as_secs()).map_err(|_| StorageError::ClockBeforeEpoch)?;
        Ok(Timestamp::from_unix(secs))
    }

    fn lock_asset(&mut self, asset: &str, cached: Option<i64>) -> Result<AssetRow, StorageError> {
        // The whole database is already locked by BEGIN IMMEDIATE.
        self.0
            .prepare_cached(
                "INSERT INTO kinko_asset (asset, version, hot, cold, reserved, core, audit_count, audit_head)
                 VALUES (?1, 0, 0, 0, 0, '{}', 0, ?2) ON CONFLICT (asset) DO NOTHING",
            )?
            .execute(params![asset, crate::audit::GENESIS])?;
        self.first(&sql::ASSET, params![cached.unwrap_or(-1), asset])?
            .ok_or(StorageError::Damaged { what: "asset row" })
    }

    fn insert_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![w.id, w.asset, w.user, w.status, w.amount, w.record])?;
        Ok(())
    }

    fn update_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        self.0
            .prepare_cached("UPDATE kinko_withdrawal SET status = ?2, record = ?3 WHERE id = ?1")?
            .execute(params![w.id, w.status, w.record])?;
        Ok(())
    }

    fn put_user_windows(
        &mut self,
        asset: &str,
        user: &str,
        usage: Option<&str>,
    ) -> Result<(), StorageError> {
        match usage {
            Some(u) => self
                .0
                .prepare_cached(
                    "INSERT INTO kinko_user_window (asset, user_id, usage) VALUES (?1, ?2, ?3)
                     ON CONFLICT (asset, user_id) DO UPDATE SET usage = excluded.usage",
                )?
                .execute(params![asset, user, u])?,
            None => self
                .0
                .prepare_cached("DELETE FROM kinko_user_window WHERE asset = ?1 AND user_id = ?2")?
                .execute(params![asset, user])?,
        };
        Ok(())
    }

    fn put_allowlist(
        &mut self,
        asset: &str,
        destination: &str,
        entry: Option<(i64, i64)>,
    ) -> Result<(), StorageError> {
        match entry {
            Some((added, active)) => self
                .0
                .prepare_cached(
                    "INSERT INTO kinko_allowlist (asset, destination, added_at, active_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![asset, destination, added, active])?,
            None => self
                .0
                .prepare_cached(
                    "DELETE FROM kinko_allowlist WHERE asset = ?1 AND destination = ?2",
                )?
                .execute(params![asset, destination])?,
        };
        Ok(())
    }

    fn append_audit(&mut self, r: &AuditRecord) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO kinko_audit (asset, seq, at, kind, payload, prev_hash, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                r.asset,
                to_i64(r.seq)?,
                r.at.unix(),
                r.kind,
                r.payload,
                r.prev_hash,
                r.hash
            ])?;
        Ok(())
    }

    fn put_signed_head(&mut self, h: &SignedHeadRow) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO kinko_audit_signed_head (asset, audit_count, audit_head, signed)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (asset) DO UPDATE SET audit_count = excluded.audit_count,
                 audit_head = excluded.audit_head, signed = excluded.signed",
            )?
            .execute(params![h.asset, to_i64(h.count)?, h.hash, h.signed])?;
        Ok(())
    }

    fn put_cosign_mark(
        &mut self,
        id: &str,
        asset: &str,
        txid: &str,
        at: i64,
    ) -> Result<(), StorageError> {
        self.0
            .prepare_cached(
                "INSERT INTO kinko_cosign (id, asset, txid, at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET txid = excluded.txid",
            )?
            .execute(params![id, asset, txid, at])?;
        Ok(())
    }

    fn update_asset(&mut self, asset: &str, row: &AssetRow) -> Result<(), StorageError> {
        let core = row.core.as_deref().unwrap_or("{}");
        self.0
            .prepare_cached(
                "UPDATE kinko_asset SET version = ?2, hot = ?3, cold = ?4, reserved = ?5,
                 core = ?6, audit_count = ?7, audit_head = ?8 WHERE asset = ?1",
            )?
            .execute(params![
                asset,
                row.version,
                to_i64(row.hot)?,
                to_i64(row.cold)?,
                to_i64(row.reserved)?,
                core,
                to_i64(row.audit_count)?,
                row.audit_head
            ])?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(self.0.commit()?)
    }
}
