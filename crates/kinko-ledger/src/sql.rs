//! The read-only queries both backends run, written once with their rows'
//! decoding ([`Query`]). Parameters are `$1`, `$2`, …: PostgreSQL's
//! positional form, which SQLite reads as named parameters `$1`, `$2`, …
//! numbered by first appearance — so each query names them in ascending
//! order (checked by a test) and both bind the same positional values.

use kinko_policy::Timestamp;

use crate::audit::{AuditHead, AuditRecord};
use crate::error::StorageError;
use crate::store::{to_u64, AssetRow, SignedHeadRow};

/// A result row, whichever backend read it.
pub(crate) trait Columns {
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, StorageError>;
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StorageError>;
    /// A text column that may be NULL.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StorageError>;
}

/// A query and how to decode one of its rows.
pub(crate) struct Query<T> {
    /// The SQL (`$N` parameters).
    pub sql: &'static str,
    /// One row to its value.
    pub decode: fn(&dyn Columns) -> Result<T, StorageError>,
}

/// An asset row by (`$1` cached version, `$2` asset); the core column is
/// NULL when the row's version is the cached one (`-1`: none cached).
pub(crate) const ASSET: Query<AssetRow> = Query {
    sql: "SELECT version, hot, cold, reserved,
        CASE WHEN version = $1 THEN NULL ELSE core END, audit_count, audit_head
        FROM kinko_asset WHERE asset = $2",
    decode: |r| {
        Ok(AssetRow {
            version: r.int(0)?,
            hot: to_u64(r.int(1)?, "asset row")?,
            cold: to_u64(r.int(2)?, "asset row")?,
            reserved: to_u64(r.int(3)?, "asset row")?,
            core: r.opt_text(4)?,
            audit_count: to_u64(r.int(5)?, "asset row")?,
            audit_head: r.text(6)?,
        })
    },
};

/// (asset, record) of a withdrawal by id.
pub(crate) const WITHDRAWAL: Query<(String, String)> = Query {
    sql: "SELECT asset, record FROM kinko_withdrawal WHERE id = $1",
    decode: text_pair,
};

/// A user's windows by (asset, user).
pub(crate) const USER_WINDOWS: Query<String> = Query {
    sql: "SELECT usage FROM kinko_user_window WHERE asset = $1 AND user_id = $2",
    decode: text,
};

/// (added_at, active_at) of an allowlist entry by (asset, destination).
pub(crate) const ALLOWLIST_ENTRY: Query<(i64, i64)> = Query {
    sql: "SELECT added_at, active_at FROM kinko_allowlist WHERE asset = $1 AND destination = $2",
    decode: |r| Ok((r.int(0)?, r.int(1)?)),
};

/// A reservation's cosign mark by withdrawal id.
pub(crate) const COSIGN_MARK: Query<String> = Query {
    sql: "SELECT txid FROM kinko_cosign WHERE id = $1",
    decode: text,
};

/// Every asset with a row.
pub(crate) const ASSETS: Query<String> = Query {
    sql: "SELECT asset FROM kinko_asset ORDER BY asset",
    decode: text,
};

/// (id, record) of every withdrawal of asset `$1`.
pub(crate) const ALL_WITHDRAWALS: Query<(String, String)> = Query {
    sql: "SELECT id, record FROM kinko_withdrawal WHERE asset = $1 ORDER BY id",
    decode: text_pair,
};

/// (user, windows) of every user of asset `$1`.
pub(crate) const ALL_USER_WINDOWS: Query<(String, String)> = Query {
    sql: "SELECT user_id, usage FROM kinko_user_window WHERE asset = $1",
    decode: text_pair,
};

/// (destination, added_at, active_at) of every allowlist entry of asset `$1`.
pub(crate) const ALL_ALLOWLIST: Query<(String, i64, i64)> = Query {
    sql: "SELECT destination, added_at, active_at FROM kinko_allowlist WHERE asset = $1",
    decode: |r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)),
};

/// The head on every asset row.
pub(crate) const HEADS: Query<AuditHead> = Query {
    sql: "SELECT asset, audit_count, audit_head FROM kinko_asset ORDER BY asset",
    decode: |r| {
        Ok(AuditHead {
            asset: r.text(0)?,
            count: to_u64(r.int(1)?, "audit head")?,
            hash: r.text(2)?,
        })
    },
};

/// Every signed head.
pub(crate) const SIGNED_HEADS: Query<SignedHeadRow> = Query {
    sql: "SELECT asset, audit_count, audit_head, signed FROM kinko_audit_signed_head
        ORDER BY asset",
    decode: |r| {
        Ok(SignedHeadRow {
            asset: r.text(0)?,
            count: to_u64(r.int(1)?, "signed audit head")?,
            hash: r.text(2)?,
            signed: r.text(3)?,
        })
    },
};

/// Every asset with audit records.
pub(crate) const AUDIT_ASSETS: Query<String> = Query {
    sql: "SELECT DISTINCT asset FROM kinko_audit ORDER BY asset",
    decode: text,
};

/// Up to `$3` records of chain `$1` with `seq > $2`.
pub(crate) const AUDIT_PAGE: Query<AuditRecord> = Query {
    sql: "SELECT asset, seq, at, kind, payload, prev_hash, hash FROM kinko_audit
        WHERE asset = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    decode: |r| {
        Ok(AuditRecord {
            asset: r.text(0)?,
            seq: to_u64(r.int(1)?, "audit record")?,
            at: Timestamp::from_unix(r.int(2)?),
            kind: r.text(3)?,
            payload: r.text(4)?,
            prev_hash: r.text(5)?,
            hash: r.text(6)?,
        })
    },
};

fn text(r: &dyn Columns) -> Result<String, StorageError> {
    r.text(0)
}

fn text_pair(r: &dyn Columns) -> Result<(String, String), StorageError> {
    Ok((r.text(0)?, r.text(1)?))
}

#[cfg(test)]
mod tests {
    /// Every query's SQL, for the placeholder check.
    const ALL: [&str; 13] = [
        super::ASSET.sql,
        super::WITHDRAWAL.sql,
        super::USER_WINDOWS.sql,
        super::ALLOWLIST_ENTRY.sql,
        super::COSIGN_MARK.sql,
        super::ASSETS.sql,
        super::ALL_WITHDRAWALS.sql,
        super::ALL_USER_WINDOWS.sql,
        super::ALL_ALLOWLIST.sql,
        super::HEADS.sql,
        super::SIGNED_HEADS.sql,
        super::AUDIT_ASSETS.sql,
        super::AUDIT_PAGE.sql,
    ];

    /// SQLite numbers `$N` parameters by first appearance: `$1`, `$2`, …
    /// must first appear in that order for positional binding to agree
    /// with PostgreSQL.
    #[test]
    fn parameters_first_appear_in_order() {
        for sql in ALL {
            let mut next = 1;
            let mut rest = sql;
            while let Some(i) = rest.find('$') {
                rest = &rest[i + 1..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let n: u32 = digits.parse().expect("a $N parameter");
                assert!(n <= next, "{sql}: ${n} before ${next}");
                if n == next {
                    next += 1;
                }
            }
        }
    }

    /// rusqlite binds positional values to `$N` parameters.
    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_binds_dollar_parameters_by_position() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let got: (i64, String) = c
            .query_row("SELECT $1 + 1, $2 || $1", rusqlite::params![41, "x"], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(got, (42, "x41".to_owned()));
    }
}
