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

use std::collections::{BTreeMap, HashMap};

use kinko_policy::Timestamp;
use postgres::types::ToSql;
use postgres::{Client, IsolationLevel, NoTls, Statement};

use crate::audit::{AuditHead, AuditRecord};
use crate::error::{OpenError, StorageError};
use crate::sql::{self, Columns, Query};
use crate::store::{
    to_i64, AssetRow, Backend, Keys, ReadTx, SchemaTx, SignedHeadRow, WithdrawalRow, WriteTx,
};

struct Stmts {
    select_asset_lock: Statement,
    select_asset: Statement,
    insert_asset: Statement,
    now: Statement,
    withdrawal: Statement,
    user_windows: Statement,
    allowlist: Statement,
    cosign_mark: Statement,
    prefetch: Statement,
    prefetch_one: Statement,
}

pub(crate) struct Pg {
    client: Client,
    st: Stmts,
    /// The flush statements prepared so far, by their parts' mask.
    flushes: HashMap<u16, Statement>,
}

/// Everything a batch's decisions read besides the asset rows, in one round
/// trip: withdrawals and cosign marks by id ($1), user windows by (asset,
/// user) ($2, $3), allowlist entries by (asset, destination) ($4, $5). Run
/// after the asset locks are granted: in READ COMMITTED the statement's
/// snapshot then holds every commit of the locks' previous holders. It
/// also reads the server's clock (row kind 4), after the locks as
/// `WriteTx::now` must: one round trip less under the lock.
const PREFETCH: &str = "
    SELECT 0, w.id, w.asset, w.record, NULL::bigint, NULL::bigint
        FROM kinko_withdrawal w WHERE w.id = ANY($1)
    UNION ALL SELECT 1, u.user_id, u.asset, u.usage, NULL, NULL
        FROM kinko_user_window u
        JOIN unnest($2::text[], $3::text[]) AS q(asset, user_id)
        ON u.asset = q.asset AND u.user_id = q.user_id
    UNION ALL SELECT 2, a.destination, a.asset, NULL, a.added_at, a.active_at
        FROM kinko_allowlist a
        JOIN unnest($4::text[], $5::text[]) AS q(asset, destination)
        ON a.asset = q.asset AND a.destination = q.destination
    UNION ALL SELECT 3, c.id, c.asset, c.txid, NULL, NULL
        FROM kinko_cosign c WHERE c.id = ANY($1)
    UNION ALL SELECT 4, NULL, NULL, NULL,
        floor(extract(epoch from clock_timestamp()))::bigint, NULL";

/// The reads of [`PREFETCH`] for at most one key of each kind, without
/// arrays (cheaper to plan; the common single decision).
const PREFETCH_ONE: &str = "
    SELECT w.asset, w.record,
        (SELECT usage FROM kinko_user_window WHERE asset = $2 AND user_id = $3),
        a.added_at, a.active_at,
        (SELECT txid FROM kinko_cosign WHERE id = $1),
        floor(extract(epoch from clock_timestamp()))::bigint
    FROM (SELECT 1) AS one
    LEFT JOIN kinko_withdrawal w ON w.id = $1
    LEFT JOIN kinko_allowlist a ON a.asset = $4 AND a.destination = $5";

/// Every write of a transaction goes in one statement (one round trip
/// before `COMMIT`): a data-modifying CTE per kind of row present, each fed
/// by arrays (`#` stands for the next parameter). The CTEs do not see each
/// other's rows, so the caller merges writes to one key first ([`Writes`]):
/// an inserted withdrawal carries its final record, a user window or
/// allowlist key its final value. Only the kinds present are sent (a
/// statement per combination, prepared once per connection): an unused CTE
/// still costs the server its planning and its table opening.
const FLUSH_PARTS: [&str; 10] = [
    "INSERT INTO kinko_withdrawal (id, asset, user_id, status, amount, record)
     SELECT * FROM unnest(#::text[], #::text[], #::text[], #::text[], #::bigint[], #::text[])",
    "UPDATE kinko_withdrawal w SET status = q.status, record = q.record
     FROM unnest(#::text[], #::text[], #::text[]) AS q(id, status, record)
     WHERE w.id = q.id",
    "INSERT INTO kinko_user_window (asset, user_id, usage)
     SELECT * FROM unnest(#::text[], #::text[], #::text[])
     ON CONFLICT (asset, user_id) DO UPDATE SET usage = excluded.usage",
    "DELETE FROM kinko_user_window u
     USING unnest(#::text[], #::text[]) AS q(asset, user_id)
     WHERE u.asset = q.asset AND u.user_id = q.user_id",
    "INSERT INTO kinko_allowlist (asset, destination, added_at, active_at)
     SELECT * FROM unnest(#::text[], #::text[], #::bigint[], #::bigint[])
     ON CONFLICT (asset, destination) DO UPDATE
     SET added_at = excluded.added_at, active_at = excluded.active_at",
    "DELETE FROM kinko_allowlist a
     USING unnest(#::text[], #::text[]) AS q(asset, destination)
     WHERE a.asset = q.asset AND a.destination = q.destination",
    "INSERT INTO kinko_cosign (id, asset, txid, at)
     SELECT * FROM unnest(#::text[], #::text[], #::text[], #::bigint[])
     ON CONFLICT (id) DO UPDATE SET txid = excluded.txid",
    "INSERT INTO kinko_audit (asset, seq, at, kind, payload, prev_hash, hash)
     SELECT * FROM unnest(#::text[], #::bigint[], #::bigint[], #::text[],
                          #::text[], #::text[], #::text[])",
    "UPDATE kinko_asset a SET version = q.version, hot = q.hot, cold = q.cold,
        reserved = q.reserved, core = q.core, audit_count = q.audit_count,
        audit_head = q.audit_head
     FROM unnest(#::text[], #::bigint[], #::bigint[], #::bigint[], #::bigint[],
                 #::text[], #::bigint[], #::text[])
         AS q(asset, version, hot, cold, reserved, core, audit_count, audit_head)
     WHERE a.asset = q.asset",
    "INSERT INTO kinko_audit_signed_head (asset, audit_count, audit_head, signed)
     SELECT * FROM unnest(#::text[], #::bigint[], #::text[], #::text[])
     ON CONFLICT (asset) DO UPDATE SET audit_count = excluded.audit_count,
        audit_head = excluded.audit_head, signed = excluded.signed",
];

/// The flush statement for the parts in `mask` (bit `i`: `FLUSH_PARTS[i]`).
fn flush_sql(mask: u16) -> String {
    let mut sql = String::from("WITH ");
    let mut n = 0;
    let mut first = true;
    for (i, part) in FLUSH_PARTS.iter().enumerate() {
        if mask & (1 << i) == 0 {
            continue;
        }
        if !first {
            sql.push_str(", ");
        }
        first = false;
        sql.push_str(&format!("p{i} AS ("));
        for c in part.chars() {
            if c == '#' {
                n += 1;
                sql.push_str(&format!("${n}"));
            } else {
                sql.push(c);
            }
        }
        sql.push(')');
    }
    sql.push_str(" SELECT 1");
    sql
}

impl Pg {
    pub(crate) fn open(url: &str) -> Result<Self, OpenError> {
        // The connect error's text never includes the URL (it may hold a password).
        let mut client = Client::connect(url, NoTls).map_err(|e| OpenError::Storage(e.into()))?;
        migrate(&mut client)?;
        let st = prepare(&mut client).map_err(|e| OpenError::Storage(e.into()))?;
        Ok(Pg {
            client,
            st,
            flushes: HashMap::new(),
        })
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
    crate::store::migrate(&mut tx)?;
    tx.commit().map_err(st)
}

impl SchemaTx for postgres::Transaction<'_> {
    fn run(&mut self, sql: &str) -> Result<(), StorageError> {
        Ok(self.batch_execute(sql)?)
    }

    fn text(&mut self, sql: &str) -> Result<Option<String>, StorageError> {
        match self.query_opt(sql, &[])? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }
}

fn prepare(c: &mut Client) -> Result<Stmts, postgres::Error> {
    Ok(Stmts {
        select_asset_lock: c.prepare(&format!("{} FOR UPDATE", sql::ASSET.sql))?,
        select_asset: c.prepare(sql::ASSET.sql)?,
        insert_asset: c.prepare(
            "INSERT INTO kinko_asset (asset, version, hot, cold, reserved, core, audit_count, audit_head)
             VALUES ($1, 0, 0, 0, 0, '{}', 0, $2) ON CONFLICT (asset) DO NOTHING",
        )?,
        now: c.prepare("SELECT floor(extract(epoch from clock_timestamp()))::bigint")?,
        withdrawal: c.prepare(sql::WITHDRAWAL.sql)?,
        user_windows: c.prepare(sql::USER_WINDOWS.sql)?,
        allowlist: c.prepare(sql::ALLOWLIST_ENTRY.sql)?,
        cosign_mark: c.prepare(sql::COSIGN_MARK.sql)?,
        prefetch: c.prepare(PREFETCH)?,
        prefetch_one: c.prepare(PREFETCH_ONE)?,
    })
}

impl Backend for Pg {
    fn begin(&mut self) -> Result<Box<dyn WriteTx + '_>, StorageError> {
        let tx = self.client.transaction()?;
        Ok(Box::new(PgTx::new(tx, &self.st, &mut self.flushes)))
    }

    fn begin_read(&mut self) -> Result<Box<dyn ReadTx + '_>, StorageError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        Ok(Box::new(PgTx::new(tx, &self.st, &mut self.flushes)))
    }
}

/// The rows of a transaction that decisions touch, by key, as read (once)
/// or as written by this transaction: reads are answered from here first,
/// so a batch sees its own earlier writes, which wait in [`Writes`] until
/// commit. `None`: no such row.
#[derive(Default)]
struct Rows {
    withdrawals: HashMap<String, Option<(String, String)>>,
    users: HashMap<(String, String), Option<String>>,
    allowlist: HashMap<(String, String), Option<(i64, i64)>>,
    cosign: HashMap<String, Option<String>>,
}

/// A transaction's writes, merged per key, sent in one statement
/// ([`FLUSH`]) just before `COMMIT`.
#[derive(Default)]
struct Writes {
    /// Withdrawals inserted, with their final status and record.
    inserted: BTreeMap<String, WithdrawalRow>,
    /// Withdrawals updated: id -> (status, record).
    updated: BTreeMap<String, (&'static str, String)>,
    users: BTreeMap<(String, String), Option<String>>,
    allowlist: BTreeMap<(String, String), Option<(i64, i64)>>,
    /// (id, asset, txid, at).
    cosign: Vec<(String, String, String, i64)>,
    audit: Vec<AuditRecord>,
    assets: BTreeMap<String, AssetRow>,
    /// Signed heads, the last per asset.
    signed_heads: BTreeMap<String, SignedHeadRow>,
}

struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    st: &'a Stmts,
    flushes: &'a mut HashMap<u16, Statement>,
    rows: Rows,
    writes: Writes,
    dirty: bool,
    /// The server's clock as the last prefetch read it (after the locks).
    clock: Option<i64>,
}

impl<'a> PgTx<'a> {
    fn new(
        tx: postgres::Transaction<'a>,
        st: &'a Stmts,
        flushes: &'a mut HashMap<u16, Statement>,
    ) -> Self {
        PgTx {
            tx,
            st,
            flushes,
            rows: Rows::default(),
            writes: Writes::default(),
            dirty: false,
            clock: None,
        }
    }

    /// [`WriteTx::prefetch`] of at most one key of each kind (none of them known).
    fn prefetch_one(
        &mut self,
        id: Option<&str>,
        user: Option<&&(&str, &str)>,
        dest: Option<&&(&str, &str)>,
    ) -> Result<(), StorageError> {
        let r = self.tx.query_one(
            &self.st.prefetch_one,
            &[
                &id,
                &user.map(|k| k.0),
                &user.map(|k| k.1),
                &dest.map(|k| k.0),
                &dest.map(|k| k.1),
            ],
        )?;
        self.clock = Some(r.try_get(6)?);
        if let Some(id) = id {
            let w_asset: Option<String> = r.try_get(0)?;
            let w_record: Option<String> = r.try_get(1)?;
            self.rows
                .withdrawals
                .insert(id.to_owned(), w_asset.zip(w_record));
            if !self.rows.cosign.contains_key(id) {
                self.rows.cosign.insert(id.to_owned(), r.try_get(5)?);
            }
        }
        if let Some((a, u)) = user {
            self.rows.users.insert(key(a, u), r.try_get(2)?);
        }
        if let Some((a, d)) = dest {
            let added: Option<i64> = r.try_get(3)?;
            let active: Option<i64> = r.try_get(4)?;
            self.rows.allowlist.insert(key(a, d), added.zip(active));
        }
        Ok(())
    }

    /// Sends every waiting write in one statement.
    fn flush(&mut self) -> Result<(), StorageError> {
        if !self.dirty {
            return Ok(());
        }
        let w = std::mem::take(&mut self.writes);
        self.dirty = false;
        let ins = w.inserted.values();
        let (ins_id, ins_asset, ins_user, ins_status, ins_amount, ins_record): Cols6 = ins
            .map(|r| {
                (
                    r.id.as_str(),
                    r.asset.as_str(),
                    r.user.as_str(),
                    r.status,
                    r.amount,
                    r.record.as_str(),
                )
            })
            .fold(Default::default(), |mut c, r| {
                c.0.push(r.0);
                c.1.push(r.1);
                c.2.push(r.2);
                c.3.push(r.3);
                c.4.push(r.4);
                c.5.push(r.5);
                c
            });
        let upd_id: Vec<&str> = w.updated.keys().map(String::as_str).collect();
        let upd_status: Vec<&str> = w.updated.values().map(|v| v.0).collect();
        let upd_record: Vec<&str> = w.updated.values().map(|v| v.1.as_str()).collect();
        let (mut uu_asset, mut uu_user, mut uu_usage) = (vec![], vec![], vec![]);
        let (mut ud_asset, mut ud_user) = (vec![], vec![]);
        for ((asset, user), usage) in &w.users {
            match usage {
                Some(u) => {
                    uu_asset.push(asset.as_str());
                    uu_user.push(user.as_str());
                    uu_usage.push(u.as_str());
                }
                None => {
                    ud_asset.push(asset.as_str());
                    ud_user.push(user.as_str());
                }
            }
        }
        let (mut ai_asset, mut ai_dest, mut ai_added, mut ai_active) =
            (vec![], vec![], vec![], vec![]);
        let (mut ad_asset, mut ad_dest) = (vec![], vec![]);
        for ((asset, dest), entry) in &w.allowlist {
            match entry {
                Some((added, active)) => {
                    ai_asset.push(asset.as_str());
                    ai_dest.push(dest.as_str());
                    ai_added.push(*added);
                    ai_active.push(*active);
                }
                None => {
                    ad_asset.push(asset.as_str());
                    ad_dest.push(dest.as_str());
                }
            }
        }
        let ci_id: Vec<&str> = w.cosign.iter().map(|c| c.0.as_str()).collect();
        let ci_asset: Vec<&str> = w.cosign.iter().map(|c| c.1.as_str()).collect();
        let ci_txid: Vec<&str> = w.cosign.iter().map(|c| c.2.as_str()).collect();
        let ci_at: Vec<i64> = w.cosign.iter().map(|c| c.3).collect();
        let au_asset: Vec<&str> = w.audit.iter().map(|r| r.asset.as_str()).collect();
        let au_seq = w
            .audit
            .iter()
            .map(|r| to_i64(r.seq))
            .collect::<Result<Vec<_>, _>>()?;
        let au_at: Vec<i64> = w.audit.iter().map(|r| r.at.unix()).collect();
        let au_kind: Vec<&str> = w.audit.iter().map(|r| r.kind.as_str()).collect();
        let au_payload: Vec<&str> = w.audit.iter().map(|r| r.payload.as_str()).collect();
        let au_prev: Vec<&str> = w.audit.iter().map(|r| r.prev_hash.as_str()).collect();
        let au_hash: Vec<&str> = w.audit.iter().map(|r| r.hash.as_str()).collect();
        let (mut as_asset, mut as_version, mut as_hot, mut as_cold, mut as_reserved) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut as_core, mut as_count, mut as_head) = (vec![], vec![], vec![]);
        for (asset, row) in &w.assets {
            as_asset.push(asset.as_str());
            as_version.push(row.version);
            as_hot.push(to_i64(row.hot)?);
            as_cold.push(to_i64(row.cold)?);
            as_reserved.push(to_i64(row.reserved)?);
            as_core.push(row.core.as_deref().unwrap_or("{}"));
            as_count.push(to_i64(row.audit_count)?);
            as_head.push(row.audit_head.as_str());
        }
        let sh = w.signed_heads.values();
        let sh_asset: Vec<&str> = sh.clone().map(|h| h.asset.as_str()).collect();
        let sh_count = sh
            .clone()
            .map(|h| to_i64(h.count))
            .collect::<Result<Vec<_>, _>>()?;
        let sh_hash: Vec<&str> = sh.clone().map(|h| h.hash.as_str()).collect();
        let sh_signed: Vec<&str> = sh.map(|h| h.signed.as_str()).collect();
        let parts: [Vec<&(dyn ToSql + Sync)>; 10] = [
            vec![
                &ins_id,
                &ins_asset,
                &ins_user,
                &ins_status,
                &ins_amount,
                &ins_record,
            ],
            vec![&upd_id, &upd_status, &upd_record],
            vec![&uu_asset, &uu_user, &uu_usage],
            vec![&ud_asset, &ud_user],
            vec![&ai_asset, &ai_dest, &ai_added, &ai_active],
            vec![&ad_asset, &ad_dest],
            vec![&ci_id, &ci_asset, &ci_txid, &ci_at],
            vec![
                &au_asset,
                &au_seq,
                &au_at,
                &au_kind,
                &au_payload,
                &au_prev,
                &au_hash,
            ],
            vec![
                &as_asset,
                &as_version,
                &as_hot,
                &as_cold,
                &as_reserved,
                &as_core,
                &as_count,
                &as_head,
            ],
            vec![&sh_asset, &sh_count, &sh_hash, &sh_signed],
        ];
        let present = [
            !ins_id.is_empty(),
            !upd_id.is_empty(),
            !uu_asset.is_empty(),
            !ud_asset.is_empty(),
            !ai_asset.is_empty(),
            !ad_asset.is_empty(),
            !ci_id.is_empty(),
            !au_asset.is_empty(),
            !as_asset.is_empty(),
            !sh_asset.is_empty(),
        ];
        let mut mask = 0u16;
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        for (i, (part, on)) in parts.iter().zip(present).enumerate() {
            if on {
                mask |= 1 << i;
                params.extend(part.iter().copied());
            }
        }
        if mask == 0 {
            return Ok(());
        }
        let st = match self.flushes.get(&mask) {
            Some(st) => st.clone(),
            None => {
                let st = self.tx.prepare(&flush_sql(mask))?;
                self.flushes.insert(mask, st.clone());
                st
            }
        };
        self.tx.execute(&st, &params)?;
        Ok(())
    }
}

/// The inserted withdrawals' columns.
type Cols6<'r> = (
    Vec<&'r str>,
    Vec<&'r str>,
    Vec<&'r str>,
    Vec<&'r str>,
    Vec<i64>,
    Vec<&'r str>,
);

impl Columns for postgres::Row {
    fn int(&self, i: usize) -> Result<i64, StorageError> {
        Ok(self.try_get(i)?)
    }

    fn text(&self, i: usize) -> Result<String, StorageError> {
        Ok(self.try_get(i)?)
    }

    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError> {
        Ok(self.try_get(i)?)
    }
}

impl PgTx<'_> {
    /// Every row of `q`, after sending the waiting writes.
    fn all<T>(
        &mut self,
        q: &Query<T>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, StorageError> {
        self.flush()?;
        let rows = self.tx.query(q.sql, params)?;
        rows.iter().map(|r| (q.decode)(r)).collect()
    }

    /// The first row of the prepared `st` (the SQL of `q`), if any.
    fn first<T>(
        &mut self,
        q: &Query<T>,
        st: &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<T>, StorageError> {
        self.tx
            .query_opt(st, params)?
            .map(|r| (q.decode)(&r))
            .transpose()
    }
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

impl ReadTx for PgTx<'_> {
    fn read_asset(&mut self, asset: &str) -> Result<Option<AssetRow>, StorageError> {
        self.flush()?;
        let st = self.st;
        self.first(&sql::ASSET, &st.select_asset, &[&-1i64, &asset])
    }

    fn withdrawal(&mut self, id: &str) -> Result<Option<(String, String)>, StorageError> {
        if let Some(known) = self.rows.withdrawals.get(id) {
            return Ok(known.clone());
        }
        let st = self.st;
        let found = self.first(&sql::WITHDRAWAL, &st.withdrawal, &[&id])?;
        self.rows.withdrawals.insert(id.to_owned(), found.clone());
        Ok(found)
    }

    fn user_windows(&mut self, asset: &str, user: &str) -> Result<Option<String>, StorageError> {
        let k = key(asset, user);
        if let Some(known) = self.rows.users.get(&k) {
            return Ok(known.clone());
        }
        let st = self.st;
        let found = self.first(&sql::USER_WINDOWS, &st.user_windows, &[&asset, &user])?;
        self.rows.users.insert(k, found.clone());
        Ok(found)
    }

    fn allowlist_entry(
        &mut self,
        asset: &str,
        destination: &str,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let k = key(asset, destination);
        if let Some(known) = self.rows.allowlist.get(&k) {
            return Ok(*known);
        }
        let st = self.st;
        let found = self.first(
            &sql::ALLOWLIST_ENTRY,
            &st.allowlist,
            &[&asset, &destination],
        )?;
        self.rows.allowlist.insert(k, found);
        Ok(found)
    }

    fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, StorageError> {
        if let Some(known) = self.rows.cosign.get(id) {
            return Ok(known.clone());
        }
        let st = self.st;
        let found = self.first(&sql::COSIGN_MARK, &st.cosign_mark, &[&id])?;
        self.rows.cosign.insert(id.to_owned(), found.clone());
        Ok(found)
    }

    fn assets(&mut self) -> Result<Vec<String>, StorageError> {
        self.all(&sql::ASSETS, &[])
    }

    fn all_withdrawals(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.all(&sql::ALL_WITHDRAWALS, &[&asset])
    }

    fn all_user_windows(&mut self, asset: &str) -> Result<Vec<(String, String)>, StorageError> {
        self.all(&sql::ALL_USER_WINDOWS, &[&asset])
    }

    fn all_allowlist(&mut self, asset: &str) -> Result<Vec<(String, i64, i64)>, StorageError> {
        self.all(&sql::ALL_ALLOWLIST, &[&asset])
    }

    fn heads(&mut self) -> Result<Vec<AuditHead>, StorageError> {
        self.all(&sql::HEADS, &[])
    }

    fn signed_heads(&mut self) -> Result<Vec<SignedHeadRow>, StorageError> {
        self.all(&sql::SIGNED_HEADS, &[])
    }

    fn audit_assets(&mut self) -> Result<Vec<String>, StorageError> {
        self.all(&sql::AUDIT_ASSETS, &[])
    }

    fn audit_page(
        &mut self,
        asset: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StorageError> {
        self.all(
            &sql::AUDIT_PAGE,
            &[&asset, &to_i64(after)?, &i64::from(limit)],
        )
    }
}

impl WriteTx for PgTx<'_> {
    fn now(&mut self) -> Result<Timestamp, StorageError> {
        if let Some(secs) = self.clock.take() {
            return Ok(Timestamp::from_unix(secs));
        }
        let secs: i64 = self.tx.query_one(&self.st.now, &[])?.try_get(0)?;
        Ok(Timestamp::from_unix(secs))
    }

    fn lock_asset(&mut self, asset: &str, cached: Option<i64>) -> Result<AssetRow, StorageError> {
        let v = cached.unwrap_or(-1);
        let st = self.st;
        if let Some(row) = self.first(&sql::ASSET, &st.select_asset_lock, &[&v, &asset])? {
            return Ok(row);
        }
        self.tx
            .execute(&self.st.insert_asset, &[&asset, &crate::audit::GENESIS])?;
        self.first(&sql::ASSET, &st.select_asset_lock, &[&v, &asset])?
            .ok_or(StorageError::Damaged { what: "asset row" })
    }

    fn prefetch(&mut self, keys: &Keys<'_>) -> Result<(), StorageError> {
        let ids: Vec<&str> = keys
            .ids
            .iter()
            .copied()
            .filter(|id| !self.rows.withdrawals.contains_key(*id))
            .collect();
        let users: Vec<&(&str, &str)> = keys
            .users
            .iter()
            .filter(|(a, u)| !self.rows.users.contains_key(&key(a, u)))
            .collect();
        let dests: Vec<&(&str, &str)> = keys
            .destinations
            .iter()
            .filter(|(a, d)| !self.rows.allowlist.contains_key(&key(a, d)))
            .collect();
        if ids.is_empty() && users.is_empty() && dests.is_empty() {
            return Ok(());
        }
        if ids.len() <= 1 && users.len() <= 1 && dests.len() <= 1 {
            return self.prefetch_one(ids.first().copied(), users.first(), dests.first());
        }
        let u_asset: Vec<&str> = users.iter().map(|k| k.0).collect();
        let u_user: Vec<&str> = users.iter().map(|k| k.1).collect();
        let d_asset: Vec<&str> = dests.iter().map(|k| k.0).collect();
        let d_dest: Vec<&str> = dests.iter().map(|k| k.1).collect();
        let found = self.tx.query(
            &self.st.prefetch,
            &[&ids, &u_asset, &u_user, &d_asset, &d_dest],
        )?;
        // Absent unless found; this transaction wrote none of these keys
        // (written keys are in `rows` already and were filtered out).
        let mut marks_unknown = std::collections::HashSet::new();
        for id in &ids {
            self.rows.withdrawals.insert((*id).to_owned(), None);
            if !self.rows.cosign.contains_key(*id) {
                self.rows.cosign.insert((*id).to_owned(), None);
                marks_unknown.insert(*id);
            }
        }
        for (a, u) in users {
            self.rows.users.insert(key(a, u), None);
        }
        for (a, d) in dests {
            self.rows.allowlist.insert(key(a, d), None);
        }
        for r in &found {
            let which: i32 = r.try_get(0)?;
            if which == 4 {
                self.clock = Some(r.try_get(4)?);
                continue;
            }
            let k: String = r.try_get(1)?;
            let asset: String = r.try_get(2)?;
            match which {
                0 => {
                    let rec: String = r.try_get(3)?;
                    self.rows.withdrawals.insert(k, Some((asset, rec)));
                }
                1 => {
                    let usage: String = r.try_get(3)?;
                    self.rows.users.insert((asset, k), Some(usage));
                }
                2 => {
                    let entry = (r.try_get(4)?, r.try_get(5)?);
                    self.rows.allowlist.insert((asset, k), Some(entry));
                }
                _ => {
                    if marks_unknown.contains(k.as_str()) {
                        let txid: String = r.try_get(3)?;
                        self.rows.cosign.insert(k, Some(txid));
                    }
                }
            }
        }
        Ok(())
    }

    fn reads_ahead(&self) -> bool {
        true
    }

    fn insert_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        // A row another worker inserted meanwhile fails the unique key when
        // the writes are flushed: the whole transaction then fails.
        self.rows
            .withdrawals
            .insert(w.id.clone(), Some((w.asset.clone(), w.record.clone())));
        self.writes.inserted.insert(w.id.clone(), w.clone());
        self.dirty = true;
        Ok(())
    }

    fn update_withdrawal(&mut self, w: &WithdrawalRow) -> Result<(), StorageError> {
        self.rows
            .withdrawals
            .insert(w.id.clone(), Some((w.asset.clone(), w.record.clone())));
        match self.writes.inserted.get_mut(&w.id) {
            // Inserted by this transaction: insert the final row instead.
            Some(row) => {
                row.status = w.status;
                row.record.clone_from(&w.record);
            }
            None => {
                self.writes
                    .updated
                    .insert(w.id.clone(), (w.status, w.record.clone()));
            }
        }
        self.dirty = true;
        Ok(())
    }

    fn put_user_windows(
        &mut self,
        asset: &str,
        user: &str,
        usage: Option<&str>,
    ) -> Result<(), StorageError> {
        let usage = usage.map(str::to_owned);
        self.rows.users.insert(key(asset, user), usage.clone());
        self.writes.users.insert(key(asset, user), usage);
        self.dirty = true;
        Ok(())
    }

    fn put_allowlist(
        &mut self,
        asset: &str,
        destination: &str,
        entry: Option<(i64, i64)>,
    ) -> Result<(), StorageError> {
        self.rows.allowlist.insert(key(asset, destination), entry);
        self.writes.allowlist.insert(key(asset, destination), entry);
        self.dirty = true;
        Ok(())
    }

    fn put_cosign_mark(
        &mut self,
        id: &str,
        asset: &str,
        txid: &str,
        at: i64,
    ) -> Result<(), StorageError> {
        self.rows
            .cosign
            .insert(id.to_owned(), Some(txid.to_owned()));
        // One row per id in a flush (the upsert cannot touch a row twice).
        self.writes.cosign.retain(|w| w.0 != id);
        self.writes
            .cosign
            .push((id.to_owned(), asset.to_owned(), txid.to_owned(), at));
        self.dirty = true;
        Ok(())
    }

    fn append_audit(&mut self, r: &AuditRecord) -> Result<(), StorageError> {
        self.writes.audit.push(r.clone());
        self.dirty = true;
        Ok(())
    }

    fn put_signed_head(&mut self, h: &SignedHeadRow) -> Result<(), StorageError> {
        self.writes.signed_heads.insert(h.asset.clone(), h.clone());
        self.dirty = true;
        Ok(())
    }

    fn update_asset(&mut self, asset: &str, row: &AssetRow) -> Result<(), StorageError> {
        self.writes.assets.insert(asset.to_owned(), row.clone());
        self.dirty = true;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.flush()?;
        Ok(self.tx.commit()?)
    }
}
