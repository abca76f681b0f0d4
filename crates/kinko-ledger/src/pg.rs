//! The PostgreSQL backend (`postgres://…`): many workers on many machines.
//!
//! Isolation: READ COMMITTED plus a row lock. A decision starts with
//! `SELECT … FROM kinko_asset WHERE asset = $1 FOR UPDATE`; every later
//! statement of the transaction runs after the lock is granted, and in READ
//! COMMITTED each statement sees everything committed before it started — so
//! it sees every decision of the previous holder of the lock. Decisions on
//! one asset are therefore serial, and each is made on the latest books.
//! Assets are locked in sorted order (a batch may touch several), so two
//! workers cannot deadlock.
//!
//! Time: `clock_timestamp()` of the database server, read after the lock —
//! one clock for all workers, whatever their own clocks say.
//!
//! The tables live in the connection's `search_path` schema; choose one with
//! the URL's `options` parameter, e.g.
//! `postgres://u@host/db?options=-csearch_path%3Dkinko`.

use kinko_policy::Timestamp;
use postgres::{Client, IsolationLevel, NoTls, Statement};

use crate::audit::{AuditHead, AuditRecord};
use crate::store::{
    parse_version, to_i64, to_u64, AssetRow, Backend, StorageError, Touched, Tx, WithdrawalRow,
    META_DDL, MIGRATIONS,
};
use crate::OpenError;

struct Stmts {
    select_asset_lock: Statement,
    select_asset: Statement,
    insert_asset: Statement,
    now: Statement,
    withdrawal: Statement,
    user_windows: Statement,
    allowlist: Statement,
    touched: Statement,
    insert_withdrawal: Statement,
    update_withdrawal: Statement,
    upsert_user: Statement,
    delete_user: Statement,
    insert_allow: Statement,
    delete_allow: Statement,
    append_audit: Statement,
    update_asset: Statement,
}

pub(crate) struct Pg {
    client: Client,
    st: Stmts,
}

const ASSET_COLUMNS: &str = "SELECT version, hot, cold, reserved,
    CASE WHEN version = $2 THEN NULL ELSE core END, audit_count, audit_head
    FROM kinko_asset WHERE asset = $1";

impl Pg {
    pub(crate) fn open(url: &str) -> Result<Self, OpenError> {
        // The connect error's text never includes the URL (it may hold a password).
        let mut client = Client::connect(url, NoTls).map_err(|e| OpenError::Storage(e.into()))?;
        migrate(&mut client)?;
        let st = prepare(&mut client).map_err(|e| OpenError::Storage(e.into()))?;
        Ok(Pg { client, st })
    }
}

fn migrate(client: &mut Client) -> Result<(), OpenError> {
    let st = |e: postgres::Error| OpenError::Storage(e.into());
    let mut tx = client.transaction().map_err(st)?;
    // Serializes concurrent first opens of one schema (CREATE TABLE races).
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema())::bigint)",
        &[],
    )
    .map_err(st)?;
    tx.batch_execute(META_DDL).map_err(st)?;
    let found: Option<String> = tx
        .query_opt(
            "SELECT value FROM kinko_meta WHERE key = 'schema_version'",
            &[],
        )
        .map_err(st)?
        .map(|r| r.get(0));
    let from = crate::check_schema(found.as_deref().map(|v| parse_version(v).ok_or(v)))?;
    for m in MIGRATIONS.iter().skip(from as usize) {
        tx.batch_execute(m).map_err(st)?;
    }
    tx.execute(
        "INSERT INTO kinko_meta (key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&crate::store::SCHEMA_VERSION.to_string()],
    )
    .map_err(st)?;
    tx.commit().map_err(st)
}

fn prepare(c: &mut Client) -> Result<Stmts, postgres::Error> {
    Ok(Stmts {
        select_asset_lock: c.prepare(&format!("{ASSET_COLUMNS} FOR UPDATE"))?,
        select_asset: c.prepare(ASSET_COLUMNS)?,
        insert_asset: c.prepare(
            "INSERT INTO kinko_asset (asset, version, hot, cold, reserved, core, audit_count, audit_head)
             VALUES ($1, 0, 0, 0, 0, '{}', 0, $2) ON CONFLICT (asset) DO NOTHING",
        )?,
        now: c.prepare("SELECT floor(extract(epoch from clock_timestamp()))::bigint")?,
        withdrawal: c.prepare("SELECT asset, record FROM kinko_withdrawal WHERE id = $1")?,
        user_windows: c
            .prepare("SELECT usage FROM kinko_user_window WHERE asset = $1 AND user_id = $2")?,
        allowlist: c.prepare(
            "SELECT added_at, active_at FROM kinko_allowlist WHERE asset = $1 AND destination = $2",
        )?,
        touched: c.prepare(
            "SELECT w.asset, w.record,
                (SELECT usage FROM kinko_user_window WHERE asset = $2 AND user_id = $3),
                a.added_at, a.active_at
             FROM (SELECT 1) AS one
             LEFT JOIN kinko_withdrawal w ON w.id = $1
             LEFT JOIN kinko_allowlist a ON a.asset = $2 AND a.destination = $4",
        )?,
        insert_withdrawal: c.prepare(
            "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )?,
        update_withdrawal: c
            .prepare("UPDATE kinko_withdrawal SET status = $2, record = $3 WHERE id = $1")?,
        upsert_user: c.prepare(
            "INSERT INTO kinko_user_window (asset, user_id, usage) VALUES ($1, $2, $3)
             ON CONFLICT (asset, user_id) DO UPDATE SET usage = excluded.usage",
        )?,
        delete_user: c
            .prepare("DELETE FROM kinko_user_window WHERE asset = $1 AND user_id = $2")?,
        insert_allow: c.prepare(
            "INSERT INTO kinko_allowlist (asset, destination, added_at, active_at) VALUES ($1, $2, $3, $4)",
        )?,
        delete_allow: c
            .prepare("DELETE FROM kinko_allowlist WHERE asset = $1 AND destination = $2")?,
        append_audit: c.prepare(
            "INSERT INTO kinko_audit (asset, seq, at, kind, payload, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )?,
        update_asset: c.prepare(
            "UPDATE kinko_asset SET version = $2, hot = $3, cold = $4, reserved = $5,
             core = $6, audit_count = $7, audit_head = $8 WHERE asset = $1",
        )?,
    })
}

impl Backend for Pg {
    fn begin(&mut self) -> Result<Box<dyn Tx + '_>, StorageError> {
        let tx = self.client.transaction()?;
        Ok(Box::new(PgTx { tx, st: &self.st }))
    }

    fn begin_read(&mut self) -> Result<Box<dyn Tx + '_>, StorageError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        Ok(Box::new(PgTx { tx, st: &self.st }))
    }
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    st: &'a Stmts,
}

fn to_asset_row(r: &postgres::Row) -> Result<AssetRow, StorageError> {
    Ok(AssetRow {
        version: r.try_get(0)?,
        hot: to_u64(r.try_get(1)?, "asset row")?,
        cold: to_u64(r.try_get(2)?, "asset row")?,
        reserved: to_u64(r.try_get(3)?, "asset row")?,
        core: r.try_get(4)?,
        audit_count: to_u64(r.try_get(5)?, "asset row")?,
        audit_head: r.try_get(6)?,
    })
}

fn to_record(r: &postgres::Row) -> Result<AuditRecord, StorageError> {
    Ok(AuditRecord {
        asset: r.try_get(0)?,
        seq: to_u64(r.try_get(1)?, "audit record")?,
        at: Timestamp::from_unix(r.try_get(2)?),
        kind: r.try_get(3)?,
        payload: r.try_get(4)?,
        prev_hash: r.try_get(5)?,
        hash: r.try_get(6)?,
    })
}

impl Tx for PgTx<'_> {
    fn now(&mut self) -> Result<Timestamp, StorageError> {
        let secs: i64 = self.tx.query_one(&self.st.now, &[])?.try_get(0)?;
        Ok(Timestamp::from_unix(secs))
    }

    fn lock_asset(&mut self, asset: &str, cached: Option<i64>) -> Result<AssetRow, StorageError> {
        let v = cached.unwrap_or(-1);
        if let Some(r) = self
            .tx
            .query_opt(&self.st.select_asset_lock, &[&asset, &v])?
        {
            return to_asset_row(&r);
        }
        self.tx
            .execute(&self.st.insert_asset, &[&asset, &crate::audit::GENESIS])?;
        let r = self
            .tx
            .query_one(&self.st.select_asset_lock, &[&asset, &v])?;
        to_asset_row(&r)
    }

    fn read_asset(&mut self, asset: &str) -> Result<Option<AssetRow>, StorageError> {
        self.tx
            .query_opt(&self.st.select_asset, &[&asset, &-1i64])?
            .as_ref()
            .map(to_asset_row)
            .transpose()
    }

    fn withdrawal(&mut self, id: &str) -> Result<Option<(String, String)>, StorageError> {
        match self.tx.query_opt(&self.st.withdrawal, &[&id])? {
            Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
            None => Ok(None),
        }
    }

    fn user_windows(&mut self, asset: &str, user: &str) -> Result<Option<String>, StorageError> {
        match self.tx.query_opt(&self.st.user_windows, &[&asset, &user])? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    fn allowlist_entry(
        &mut self,
        asset: &str,
        destination: &str,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        match self
            .tx
            .query_opt(&self.st.allowlist, &[&asset, &destination])?
        {
            Some(r) => Ok(Some((r.try_get(0)?, r.try_get(1)?))),
            None => Ok(None),
        }
    }

    fn touched(
        &mut self,
        asset: &str,
        id: Option<&str>,
        user: Option<&str>,
        destination: Option<&str>,
    ) -> Result<Touched, StorageError> {
        let r = self
            .tx
            .query_one(&self.st.touched, &[&id, &asset, &user, &destination])?;
        let w_asset: Option<String> = r.try_get(0)?;
        let w_record: Option<String> = r.try_get(1)?;
        let added: Option<i64> = r.try_get(3)?;
        let active: Option<i64> = r.try_get(4)?;
        Ok(Touched {
            withdrawal: w_asset.zip(w_record),
            user_windows: r.try_get(2)?,
            allowlist: added.zip(active),
        })
    }

    fn insert_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        self.tx.execute(
            &self.st.insert_withdrawal,
            &[&w.id, &w.asset, &w.user, &w.status, &w.amount, &w.record],
        )?;
        Ok(())
    }

    fn update_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        self.tx
            .execute(&self.st.update_withdrawal, &[&w.id, &w.status, &w.record])?;
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
                .tx
                .execute(&self.st.upsert_user, &[&asset, &user, &u])?,
            None => self.tx.execute(&self.st.delete_user, &[&asset, &user])?,
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
            Some((added, active)) => self.tx.execute(
                &self.st.insert_allow,
                &[&asset, &destination, &added, &active],
            )?,
            None => self
                .tx
                .execute(&self.st.delete_allow, &[&asset, &destination])?,
        };
        Ok(())
    }

    fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, StorageError> {
        match self
            .tx
            .query_opt("SELECT txid FROM kinko_cosign WHERE id = $1", &[&id])?
        {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    fn put_cosign_mark(
        &mut self,
        id: &str,
        asset: &str,
        txid: &str,
        at: i64,
    ) -> Result<(), StorageError> {
        self.tx.execute(
            "INSERT INTO kinko_cosign (id, asset, txid, at) VALUES ($1, $2, $3, $4)",
            &[&id, &asset, &txid, &at],
        )?;
        Ok(())
    }

    fn append_audit(&mut self, r: &AuditRecord) -> Result<(), StorageError> {
        self.tx.execute(
            &self.st.append_audit,
            &[
                &r.asset,
                &to_i64(r.seq)?,
                &r.at.unix(),
                &r.kind,
                &r.payload,
                &r.prev_hash,
                &r.hash,
            ],
        )?;
        Ok(())
    }

    fn update_asset(&mut self, asset: &str, row: &AssetRow) -> Result<(), StorageError> {
        let core = row.core.as_deref().unwrap_or("{}");
        self.tx.execute(
            &self.st.update_asset,
            &[
                &asset,
                &row.version,
                &to_i64(row.hot)?,
                &to_i64(row.cold)?,
                &to_i64(row.reserved)?,
                &core,
                &to_i64(row.audit_count)?,
                &row.audit_head,
            ],
        )?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StorageError> {
        Ok(self.tx.commit()?)
    }

    fn assets(&mut self) -> Result<Vec<String>, StorageError> {
        let rows = self
            .tx
            .query("SELECT asset FROM kinko_asset ORDER BY asset", &[])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn all_withdrawals(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        let rows = self.tx.query(
            "SELECT id, record FROM kinko_withdrawal WHERE asset = $1 ORDER BY id",
            &[&asset],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn all_user_windows(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        let rows = self.tx.query(
            "SELECT user_id, usage FROM kinko_user_window WHERE asset = $1",
            &[&asset],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    fn all_allowlist(&mut self, asset: &str) -> Result<Vec<(String, i64, i64)>, StorageError> {
        let rows = self.tx.query(
            "SELECT destination, added_at, active_at FROM kinko_allowlist WHERE asset = $1",
            &[&asset],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    fn heads(&mut self) -> Result<Vec<AuditHead>, StorageError> {
        let rows = self.tx.query(
            "SELECT asset, audit_count, audit_head FROM kinko_asset ORDER BY asset",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditHead {
                    asset: r.try_get(0)?,
                    count: to_u64(r.try_get(1)?, "audit head")?,
                    hash: r.try_get(2)?,
                })
            })
            .collect()
    }

    fn audit_assets(&mut self) -> Result<Vec<String>, StorageError> {
        let rows = self
            .tx
            .query("SELECT DISTINCT asset FROM kinko_audit ORDER BY asset", &[])?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn audit_page(
        &mut self,
        asset: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        let rows = self.tx.query(
            "SELECT asset, seq, at, kind, payload, prev_hash, hash FROM kinko_audit
             WHERE asset = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&asset, &to_i64(after)?, &i64::from(limit)],
        )?;
        rows.iter().map(to_record).collect()
    }
}
