//! The row <-> state mapping, in one place: how the engine's
//! [`AssetState`] is kept in the store's rows (the asset row and its JSON
//! core, a row per withdrawal, per user's windows and per allowlist entry)
//! and read back. The facade and the cosign step go through these functions
//! only; the backends see rows, never engine state.

use std::str::FromStr;

use kinko_policy::{
    AllowlistEntry, Amount, AssetState, AssetStateParts, Freeze, IdError, Timestamp, WindowUsage,
    Withdrawal,
};
use serde::{Deserialize, Serialize};

use crate::error::{damaged, Damaged, DecideError, ReadError};
use crate::store::{to_i64, AssetRow, ReadTx, WithdrawalRow};

/// The part of an asset's state kept on its row (the rest has rows of its
/// own): JSON in the `core` column.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Core {
    #[serde(default)]
    pub last_at: Option<Timestamp>,
    #[serde(default)]
    pub windows: Vec<WindowUsage>,
    #[serde(default)]
    pub breaker: WindowUsage,
    #[serde(default)]
    pub freeze: Option<Freeze>,
    /// Absent until a custody statement: older rows read the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vouched: Option<Amount>,
}

impl Core {
    /// The core of an asset row read under its lock: the row's JSON, or
    /// `cached` when the row came without it (its version is the cached one).
    pub(crate) fn of_locked(row: &AssetRow, cached: Option<&Core>) -> Result<Core, Damaged> {
        match (&row.core, cached) {
            (Some(text), _) => serde_json::from_str(text).map_err(damaged("asset state")),
            (None, Some(core)) => Ok(core.clone()),
            (None, None) => Err(Damaged("asset state")),
        }
    }

    /// Puts the core on the row and bumps its version (the row is then
    /// ready for `update_asset`).
    pub(crate) fn store(&self, row: &mut AssetRow) -> Result<(), Damaged> {
        row.version += 1;
        row.core = Some(serde_json::to_string(self).map_err(damaged("asset state"))?);
        Ok(())
    }
}

/// The engine's state of an asset from its row and core, without the
/// withdrawals, user windows and allowlist entries (the caller adds the
/// ones the decision reads).
pub(crate) fn asset_state(row: &AssetRow, core: Core) -> AssetStateParts {
    AssetStateParts {
        last_at: core.last_at,
        hot: Amount::from_units(row.hot),
        cold: Amount::from_units(row.cold),
        reserved: Amount::from_units(row.reserved),
        windows: core.windows,
        breaker: core.breaker,
        freeze: core.freeze,
        vouched: core.vouched,
        ..Default::default()
    }
}

/// The books of `s` onto the asset row and the rest of its row state into
/// `core` (the inverse of [`asset_state`]).
pub(crate) fn store_asset_state(s: AssetStateParts, row: &mut AssetRow, core: &mut Core) {
    row.hot = s.hot.units();
    row.cold = s.cold.units();
    row.reserved = s.reserved.units();
    *core = Core {
        last_at: s.last_at,
        windows: s.windows,
        breaker: s.breaker,
        freeze: s.freeze,
        vouched: s.vouched,
    };
}

/// Whether every amount of `s` fits the SQL integer columns (`i64`).
pub(crate) fn fits_columns(s: &AssetStateParts) -> bool {
    let max = i64::MAX as u64;
    s.hot <= max
        && s.cold <= max
        && s.reserved <= max
        && s.withdrawals.values().all(|w| w.amount <= max)
}

/// A withdrawal from its row's record (JSON).
pub(crate) fn withdrawal(record: &str) -> Result<Withdrawal, Damaged> {
    serde_json::from_str(record).map_err(damaged("withdrawal"))
}

/// The row of withdrawal `id` of `asset`.
pub(crate) fn withdrawal_row(
    asset: &str,
    id: &str,
    w: &Withdrawal,
) -> Result<WithdrawalRow, DecideError> {
    Ok(WithdrawalRow {
        asset: asset.to_owned(),
        id: id.to_owned(),
        user: w.user.to_string(),
        status: w.status.name(),
        amount: to_i64(w.amount.units())?,
        record: serde_json::to_string(w).map_err(damaged("withdrawal"))?,
    })
}

/// A name (withdrawal id, user, destination) read from a row: one that
/// breaks the engine's rule was not written by kinko.
pub(crate) fn name<T: FromStr<Err = IdError>>(
    text: &str,
    what: &'static str,
) -> Result<T, Damaged> {
    text.parse().map_err(|_| Damaged(what))
}

/// A user's windows from their row (JSON).
pub(crate) fn user_windows(usage: &str) -> Result<Vec<WindowUsage>, Damaged> {
    serde_json::from_str(usage).map_err(damaged("user windows"))
}

/// A user's windows as their row holds them.
pub(crate) fn user_windows_row(usage: &[WindowUsage]) -> Result<String, Damaged> {
    serde_json::to_string(usage).map_err(damaged("user windows"))
}

/// An allowlist entry from its row's `(added_at, active_at)`.
pub(crate) fn allowlist_entry((added, active): (i64, i64)) -> AllowlistEntry {
    AllowlistEntry {
        added_at: Timestamp::from_unix(added),
        active_at: Timestamp::from_unix(active),
    }
}

/// An allowlist entry's row columns `(added_at, active_at)`.
pub(crate) fn allowlist_row(entry: &AllowlistEntry) -> (i64, i64) {
    (entry.added_at.unix(), entry.active_at.unix())
}

/// The full state of `asset` (every withdrawal, user window and allowlist
/// entry) as the read transaction `tx` sees it; `None` without an asset row.
pub(crate) fn read_asset_state(
    tx: &mut dyn ReadTx,
    asset: &str,
) -> Result<Option<AssetState>, ReadError> {
    let Some(row) = tx.read_asset(asset)? else {
        return Ok(None);
    };
    let core: Core = serde_json::from_str(row.core.as_deref().unwrap_or("{}"))
        .map_err(damaged("asset state"))?;
    let mut s = asset_state(&row, core);
    for (id, rec) in tx.all_withdrawals(asset)? {
        s.withdrawals
            .insert(name(&id, "withdrawal")?, withdrawal(&rec)?);
    }
    for (user, usage) in tx.all_user_windows(asset)? {
        s.user_windows
            .insert(name(&user, "user windows")?, user_windows(&usage)?);
    }
    for (dest, added, active) in tx.all_allowlist(asset)? {
        s.allowlist
            .insert(name(&dest, "allowlist")?, allowlist_entry((added, active)));
    }
    Ok(Some(AssetState::from_parts(s)))
}
