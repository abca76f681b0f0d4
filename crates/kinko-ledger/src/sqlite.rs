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
use crate::store::{
    to_i64, to_u64, AssetRow, Backend, SchemaTx, SignedHeadRow, StorageError, Tx, WithdrawalRow,
};
use crate::OpenError;

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
    fn begin(&mut self) -> Result<Box<dyn Tx + '_>, StorageError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        Ok(Box::new(SqliteTx(tx)))
    }

    fn begin_read(&mut self) -> Result<Box<dyn Tx + '_>, StorageError> {
        // A deferred transaction reads one WAL snapshot from its first read on.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        Ok(Box::new(SqliteTx(tx)))
    }
}

struct SqliteTx<'a>(rusqlite::Transaction<'a>);

/// An asset row's columns as SQLite returns them.
type RawAssetRow = (i64, i64, i64, i64, Option<String>, i64, String);

fn asset_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawAssetRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

fn to_asset_row(t: RawAssetRow) -> Result<AssetRow, StorageError> {
    Ok(AssetRow {
        version: t.0,
        hot: to_u64(t.1, "asset row")?,
        cold: to_u64(t.2, "asset row")?,
        reserved: to_u64(t.3, "asset row")?,
        core: t.4,
        audit_count: to_u64(t.5, "asset row")?,
        audit_head: t.6,
    })
}

const SELECT_ASSET: &str = "SELECT version, hot, cold, reserved,
    CASE WHEN version = ?2 THEN NULL ELSE core END, audit_count, audit_head
    FROM kinko_asset WHERE asset = ?1";

impl Tx for SqliteTx<'_> {
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
        let t = self
            .0
            .prepare_cached(SELECT_ASSET)?
            .query_row(params![asset, cached.unwrap_or(-1)], asset_row)?;
        to_asset_row(t)
    }

    fn read_asset(&mut self, asset: &str) -> Result<Option<AssetRow>, StorageError> {
        let t = self
            .0
            .prepare_cached(SELECT_ASSET)?
            .query_row(params![asset, -1i64], asset_row)
            .optional()?;
        t.map(to_asset_row).transpose()
    }

    fn withdrawal(&mut self, id: &str) -> Result<Option<(String, String)>, StorageError> {
        Ok(self
            .0
            .prepare_cached("SELECT asset, record FROM kinko_withdrawal WHERE id = ?1")?
            .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn user_windows(&mut self, asset: &str, user: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT usage FROM kinko_user_window WHERE asset = ?1 AND user_id = ?2",
            )?
            .query_row(params![asset, user], |r| r.get(0))
            .optional()?)
    }

    fn allowlist_entry(
        &mut self,
        asset: &str,
        destination: &str,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT added_at, active_at FROM kinko_allowlist WHERE asset = ?1 AND destination = ?2",
            )?
            .query_row(params![asset, destination], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
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

    fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, StorageError> {
        Ok(self
            .0
            .prepare_cached("SELECT txid FROM kinko_cosign WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?)
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

    fn assets(&mut self) -> Result<Vec<String>, StorageError> {
        let mut st = self
            .0
            .prepare_cached("SELECT asset FROM kinko_asset ORDER BY asset")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_withdrawals(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        let mut st = self.0.prepare_cached(
            "SELECT id, record FROM kinko_withdrawal WHERE asset = ?1 ORDER BY id",
        )?;
        let rows = st.query_map(params![asset], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_user_windows(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        let mut st = self
            .0
            .prepare_cached("SELECT user_id, usage FROM kinko_user_window WHERE asset = ?1")?;
        let rows = st.query_map(params![asset], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn all_allowlist(&mut self, asset: &str) -> Result<Vec<(String, i64, i64)>, StorageError> {
        let mut st = self.0.prepare_cached(
            "SELECT destination, added_at, active_at FROM kinko_allowlist WHERE asset = ?1",
        )?;
        let rows = st.query_map(params![asset], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn heads(&mut self) -> Result<Vec<AuditHead>, StorageError> {
        let mut st = self.0.prepare_cached(
            "SELECT asset, audit_count, audit_head FROM kinko_asset ORDER BY asset",
        )?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (asset, count, hash) = row?;
            out.push(AuditHead {
                asset,
                count: to_u64(count, "audit head")?,
                hash,
            });
        }
        Ok(out)
    }

    fn signed_heads(&mut self) -> Result<Vec<SignedHeadRow>, StorageError> {
        let mut st = self.0.prepare_cached(
            "SELECT asset, audit_count, audit_head, signed FROM kinko_audit_signed_head
             ORDER BY asset",
        )?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (asset, count, hash, signed) = row?;
            out.push(SignedHeadRow {
                asset,
                count: to_u64(count, "signed audit head")?,
                hash,
                signed,
            });
        }
        Ok(out)
    }

    fn audit_assets(&mut self) -> Result<Vec<String>, StorageError> {
        let mut st = self
            .0
            .prepare_cached("SELECT DISTINCT asset FROM kinko_audit ORDER BY asset")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit_page(
        &mut self,
        asset: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let mut st = self.0.prepare_cached(
            "SELECT asset, seq, at, kind, payload, prev_hash, hash FROM kinko_audit
             WHERE asset = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = st.query_map(params![asset, to_i64(after)?, i64::from(limit)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (asset, seq, at, kind, payload, prev_hash, hash) = row?;
            out.push(AuditRecord {
                asset,
                seq: to_u64(seq, "audit record")?,
                at: Timestamp::from_unix(at),
                kind,
                payload,
                prev_hash,
                hash,
            });
        }
        Ok(out)
    }
}
