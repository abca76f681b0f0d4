//! The engine's state: plain data (serde), one [`AssetState`] per asset, that
//! a ledger loads, locks, passes to [`crate::decide_asset`] and persists.
//!
//! The state changes only through [`Change`]s: a decision first plans its
//! changes against the state read-only, then applies them. A ledger may
//! persist the changes as increments instead of the whole state.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::config::AssetPolicy;
use crate::decision::{ApplyError, Change, WindowRef};
use crate::event::Wallet;
use crate::ids::{AssetId, Destination, IdMap, UserId, WithdrawalId};
use crate::record::{AllowlistEntry, Freeze, Withdrawal, WithdrawalStatus};
use crate::units::{Amount, Duration, Timestamp};

/// The state of every asset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Per asset (an asset the config knows but the state lacks starts empty).
    /// Keyed by configured assets only (the engine refuses any other), so
    /// hashed with foldhash, not a keyed hash.
    pub assets: HashMap<AssetId, AssetState, foldhash::fast::RandomState>,
}

/// The state of one asset.
///
/// Its fields are private: a decision changes it only through
/// [`AssetState::apply`] of the [`Change`]s it planned. A ledger that stores
/// the state in its own rows rebuilds it with [`AssetState::from_parts`] and
/// takes it apart with [`AssetState::into_parts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetState {
    /// The time of the last accepted event; an older event is refused.
    pub(crate) last_at: Option<Timestamp>,
    /// Hot wallet balance on the books (including reserved amounts not yet
    /// confirmed).
    pub(crate) hot: Amount,
    /// Cold wallet balance on the books.
    pub(crate) cold: Amount,
    /// Sum of the amounts of reserved (approved, unconfirmed) withdrawals.
    pub(crate) reserved: Amount,
    /// Usage of the total-scope velocity windows, by the window's index in
    /// the config (per-user windows leave their slot empty).
    pub(crate) windows: Vec<WindowUsage>,
    /// Usage of the per-user velocity windows, by user, then window index.
    pub(crate) user_windows: IdMap<UserId, Vec<WindowUsage>>,
    /// Requested outflow counted by the circuit breaker.
    pub(crate) breaker: WindowUsage,
    /// The freeze in force, if any.
    pub(crate) freeze: Option<Freeze>,
    /// Every withdrawal id ever seen, with its record (a ledger may load
    /// only those an event touches).
    pub(crate) withdrawals: IdMap<WithdrawalId, Withdrawal>,
    /// Allowlist entries added by events (entries from the config are not here).
    pub(crate) allowlist: IdMap<Destination, AllowlistEntry>,
    /// The custody last vouched for by a custody statement, less the
    /// withdrawals settled since (`None`: no statement, share limits use the
    /// books' custody).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) vouched: Option<Amount>,
}

/// The parts of an [`AssetState`], as a ledger stores them. Nothing checks
/// that they agree (a ledger loads only the records an event touches); a
/// state whose parts disagree makes a decision fail with
/// [`crate::DecideError::Corrupt`], never pass a limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetStateParts {
    /// The time of the last accepted event; an older event is refused.
    pub last_at: Option<Timestamp>,
    /// Hot wallet balance on the books (including reserved amounts not yet
    /// confirmed).
    pub hot: Amount,
    /// Cold wallet balance on the books.
    pub cold: Amount,
    /// Sum of the amounts of reserved (approved, unconfirmed) withdrawals.
    pub reserved: Amount,
    /// Usage of the total-scope velocity windows, by the window's index in
    /// the config (per-user windows leave their slot empty).
    pub windows: Vec<WindowUsage>,
    /// Usage of the per-user velocity windows, by user, then window index.
    pub user_windows: IdMap<UserId, Vec<WindowUsage>>,
    /// Requested outflow counted by the circuit breaker.
    pub breaker: WindowUsage,
    /// The freeze in force, if any.
    pub freeze: Option<Freeze>,
    /// Every withdrawal id ever seen, with its record (a ledger may load
    /// only those an event touches).
    pub withdrawals: IdMap<WithdrawalId, Withdrawal>,
    /// Allowlist entries added by events (entries from the config are not here).
    pub allowlist: IdMap<Destination, AllowlistEntry>,
    /// The custody last vouched for by a custody statement, less the
    /// withdrawals settled since (`None`: no statement, share limits use the
    /// books' custody).
    pub vouched: Option<Amount>,
}

/// Outflow in one window, kept as buckets: `(end, amount)` means `amount`
/// was counted in a bucket that ends (exclusive) at `end`.
///
/// At time `t` a window of length `W` counts every bucket with
/// `end > t - W`. An amount added at time `a` lies in a bucket whose end is
/// after `a`, so it is counted at least until `a + W` (exact for the
/// guarantee: every span of length `W` holds at most the limit) and at most
/// until `a + W + bucket` (conservative by at most one bucket). Buckets that
/// no longer count can be dropped at any time without changing a decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowUsage {
    /// Buckets in increasing `end` order.
    buckets: VecDeque<(Timestamp, Amount)>,
    /// The exact sum of the buckets (below 2^64 terms of below 2^64 each:
    /// no overflow), kept with them so that a window's usage costs the few
    /// buckets that stopped counting, not all of them.
    total: u128,
}

/// The stored form: the buckets only (the total follows from them).
#[derive(Serialize)]
struct BucketsRef<'a> {
    buckets: &'a VecDeque<(Timestamp, Amount)>,
}

#[derive(Deserialize)]
struct Buckets {
    buckets: VecDeque<(Timestamp, Amount)>,
}

impl Serialize for WindowUsage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        BucketsRef {
            buckets: &self.buckets,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for WindowUsage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = Buckets::deserialize(d)?;
        if !b
            .buckets
            .iter()
            .zip(b.buckets.iter().skip(1))
            .all(|(x, y)| x.0 < y.0)
        {
            return Err(serde::de::Error::custom(
                "window buckets are not in increasing end order",
            ));
        }
        Ok(WindowUsage::from_buckets(b.buckets))
    }
}

impl WindowUsage {
    fn from_buckets(buckets: VecDeque<(Timestamp, Amount)>) -> Self {
        let total = buckets.iter().map(|&(_, a)| u128::from(a.units())).sum();
        WindowUsage { buckets, total }
    }

    /// The buckets, in increasing `end` order: `(end, amount)`.
    pub fn buckets(&self) -> &VecDeque<(Timestamp, Amount)> {
        &self.buckets
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Drops every bucket.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.total = 0;
    }

    /// Outflow counted at `at` for a window of length `window` (saturating).
    pub fn used(&self, at: Timestamp, window: Duration) -> Amount {
        let from = at.saturating_sub(window);
        // The buckets that no longer count are a prefix, usually empty or
        // one long (the engine prunes after every decision).
        let mut sum = self.total;
        for &(end, a) in &self.buckets {
            if end > from {
                break;
            }
            sum -= u128::from(a.units());
        }
        // The exact sum, clamped: equal to adding term by term saturating.
        u64::try_from(sum).map_or(Amount::MAX, Amount::from_units)
    }

    /// Adds `amount` to the bucket ending at `end` (saturating: a count at
    /// `u64::MAX` already blocks everything).
    pub fn add(&mut self, end: Timestamp, amount: Amount) {
        let slot = match self.buckets.back_mut() {
            Some((last, a)) if *last == end => a,
            Some((last, _)) if *last > end => {
                // Out of order (a config change shrank the buckets): insert in place.
                let pos = self.buckets.partition_point(|(e, _)| *e < end);
                if self.buckets.get(pos).is_none_or(|(e, _)| *e != end) {
                    self.buckets.insert(pos, (end, Amount::ZERO));
                }
                match self.buckets.get_mut(pos) {
                    Some((_, a)) => a,
                    None => return,
                }
            }
            _ => {
                self.buckets.push_back((end, Amount::ZERO));
                match self.buckets.back_mut() {
                    Some((_, a)) => a,
                    None => return,
                }
            }
        };
        let before = *slot;
        *slot = before.saturating_add(amount);
        self.total += u128::from(slot.units() - before.units());
    }

    /// Drops the buckets that no longer count at `at` for `window`.
    pub fn prune(&mut self, at: Timestamp, window: Duration) {
        let from = at.saturating_sub(window);
        while self.buckets.front().is_some_and(|(end, _)| *end <= from) {
            if let Some((_, a)) = self.buckets.pop_front() {
                self.total -= u128::from(a.units());
            }
        }
    }

    /// The end of the bucket of length `bucket` that holds instant `at`.
    pub fn bucket_end(at: Timestamp, bucket: Duration) -> Timestamp {
        let g = i64::from(bucket.secs().max(1));
        let start = at.unix().div_euclid(g).saturating_mul(g);
        Timestamp::from_unix(start.saturating_add(g))
    }
}

fn sub(a: Amount, b: Amount) -> Result<Amount, ApplyError> {
    a.checked_sub(b).ok_or(ApplyError::Overflow)
}
fn add(a: Amount, b: Amount) -> Result<Amount, ApplyError> {
    a.checked_add(b).ok_or(ApplyError::Overflow)
}

impl AssetState {
    /// Rebuilds a state from its stored parts.
    pub fn from_parts(p: AssetStateParts) -> Self {
        AssetState {
            last_at: p.last_at,
            hot: p.hot,
            cold: p.cold,
            reserved: p.reserved,
            windows: p.windows,
            user_windows: p.user_windows,
            breaker: p.breaker,
            freeze: p.freeze,
            withdrawals: p.withdrawals,
            allowlist: p.allowlist,
            vouched: p.vouched,
        }
    }

    /// Takes the state apart, to store it.
    pub fn into_parts(self) -> AssetStateParts {
        AssetStateParts {
            last_at: self.last_at,
            hot: self.hot,
            cold: self.cold,
            reserved: self.reserved,
            windows: self.windows,
            user_windows: self.user_windows,
            breaker: self.breaker,
            freeze: self.freeze,
            withdrawals: self.withdrawals,
            allowlist: self.allowlist,
            vouched: self.vouched,
        }
    }

    /// The time of the last accepted event.
    pub fn last_at(&self) -> Option<Timestamp> {
        self.last_at
    }

    /// Hot wallet balance on the books (including reserved amounts).
    pub fn hot(&self) -> Amount {
        self.hot
    }

    /// Cold wallet balance on the books.
    pub fn cold(&self) -> Amount {
        self.cold
    }

    /// Sum of the amounts of reserved withdrawals.
    pub fn reserved(&self) -> Amount {
        self.reserved
    }

    /// Usage of the total-scope velocity windows, by config index.
    pub fn windows(&self) -> &[WindowUsage] {
        &self.windows
    }

    /// Usage of the per-user velocity windows, by user, then config index.
    pub fn user_windows(&self) -> &IdMap<UserId, Vec<WindowUsage>> {
        &self.user_windows
    }

    /// Requested outflow counted by the circuit breaker.
    pub fn breaker(&self) -> &WindowUsage {
        &self.breaker
    }

    /// The freeze in force, if any.
    pub fn freeze(&self) -> Option<&Freeze> {
        self.freeze.as_ref()
    }

    /// The withdrawals the state holds.
    pub fn withdrawals(&self) -> &IdMap<WithdrawalId, Withdrawal> {
        &self.withdrawals
    }

    /// One withdrawal's record (`None` also for text that is no id).
    pub fn withdrawal(&self, id: &str) -> Option<&Withdrawal> {
        let id = WithdrawalId::new(id).ok()?;
        self.withdrawals.get(&id)
    }

    /// One allowlist entry added by an event.
    pub fn allowlist_entry(&self, destination: &str) -> Option<&AllowlistEntry> {
        let d = Destination::new(destination).ok()?;
        self.allowlist.get(&d)
    }

    /// Allowlist entries added by events.
    pub fn allowlist(&self) -> &IdMap<Destination, AllowlistEntry> {
        &self.allowlist
    }

    /// The custody vouched for by the last custody statement, less what
    /// settled since.
    pub fn vouched(&self) -> Option<Amount> {
        self.vouched
    }

    /// The custody on the books: hot + cold (saturating; the engine keeps it
    /// below `u64::MAX`).
    pub fn custody(&self) -> Amount {
        self.hot.saturating_add(self.cold)
    }

    /// The custody every share limit is measured against: the books'
    /// custody, or less when a custody statement vouched for less
    /// ([`AssetState::vouched`]).
    pub fn limit_custody(&self) -> Amount {
        match self.vouched {
            Some(v) => v.min(self.custody()),
            None => self.custody(),
        }
    }

    /// What the hot wallet can still pay: hot minus reserved.
    pub fn hot_available(&self) -> Amount {
        self.hot.saturating_sub(self.reserved)
    }

    /// Applies one change.
    ///
    /// # Errors
    /// [`ApplyError`] when the change does not fit this state; the state may
    /// then be partly changed, so apply a plan to a copy or inside a
    /// transaction. Changes planned by the engine on the same state always fit.
    pub fn apply(&mut self, change: &Change) -> Result<(), ApplyError> {
        match change {
            Change::Clock { at } => self.last_at = Some(*at),
            Change::Credited { wallet, amount } => match wallet {
                Wallet::Hot => self.hot = add(self.hot, *amount)?,
                Wallet::Cold => self.cold = add(self.cold, *amount)?,
            },
            Change::Moved { from, amount } => match from {
                Wallet::Hot => {
                    self.hot = sub(self.hot, *amount)?;
                    self.cold = add(self.cold, *amount)?;
                }
                Wallet::Cold => {
                    self.cold = sub(self.cold, *amount)?;
                    self.hot = add(self.hot, *amount)?;
                }
            },
            Change::WithdrawalRecorded { id, withdrawal } => {
                if withdrawal.status == WithdrawalStatus::Reserved {
                    self.reserved = add(self.reserved, withdrawal.amount)?;
                }
                self.withdrawals.insert(id.clone(), withdrawal.clone());
            }
            Change::ApprovalAdded { id, approver } => {
                self.withdrawal_mut(id)?.approvals.insert(approver.clone());
            }
            Change::Reserved { id, amount } => {
                let reserved = add(self.reserved, *amount)?;
                self.withdrawal_mut(id)?.status = WithdrawalStatus::Reserved;
                self.reserved = reserved;
            }
            Change::PendingDenied { id, .. } => {
                self.withdrawal_mut(id)?.status = WithdrawalStatus::Denied;
            }
            Change::Settled { id, amount } => {
                let hot = sub(self.hot, *amount)?;
                let reserved = sub(self.reserved, *amount)?;
                self.withdrawal_mut(id)?.status = WithdrawalStatus::Settled;
                self.hot = hot;
                self.reserved = reserved;
                // What left custody is no longer vouched for.
                self.vouched = self.vouched.map(|v| v.saturating_sub(*amount));
            }
            Change::FeePaid { amount } => {
                self.hot = sub(self.hot, *amount)?;
                self.vouched = self.vouched.map(|v| v.saturating_sub(*amount));
            }
            Change::Released { id, amount } => {
                let reserved = sub(self.reserved, *amount)?;
                self.withdrawal_mut(id)?.status = WithdrawalStatus::Released;
                self.reserved = reserved;
            }
            Change::UsageAdded {
                window,
                bucket_end,
                amount,
            } => {
                let usage = match window {
                    WindowRef::Breaker => &mut self.breaker,
                    WindowRef::Total { index } => slot(&mut self.windows, *index),
                    WindowRef::User { user, index } => {
                        let v = self.user_windows.entry(user.clone()).or_default();
                        slot(v, *index)
                    }
                };
                usage.add(*bucket_end, *amount);
            }
            Change::AllowlistAdded { destination, entry } => {
                self.allowlist.insert(destination.clone(), *entry);
            }
            Change::AllowlistRemoved { destination } => {
                self.allowlist
                    .remove(destination)
                    .ok_or(ApplyError::UnknownEntry)?;
            }
            Change::FreezeSet { freeze } => self.freeze = Some(freeze.clone()),
            Change::UnfreezeVoted { approver } => {
                if let Some(f) = self.freeze.as_mut() {
                    f.votes.insert(approver.clone());
                }
            }
            Change::Vouched { amount } => self.vouched = Some(*amount),
            Change::FreezeLifted => {
                self.freeze = None;
                self.breaker.clear();
            }
        }
        Ok(())
    }

    fn withdrawal_mut(&mut self, id: &WithdrawalId) -> Result<&mut Withdrawal, ApplyError> {
        self.withdrawals
            .get_mut(id)
            .ok_or_else(|| ApplyError::UnknownWithdrawal(id.chars().take(64).collect()))
    }

    /// Drops the buckets of the total windows and the breaker that no longer
    /// count at `at`, and those of one user (dropping the user when nothing
    /// of theirs counts). Cost independent of the number of users: the
    /// engine calls it after every decision. Never changes a decision.
    pub fn prune_touched(&mut self, policy: &AssetPolicy, at: Timestamp, user: Option<&UserId>) {
        self.prune_windows(policy, at, true, user);
    }

    /// [`AssetState::prune_touched`], the asset's own windows and breaker
    /// only when `asset` is set.
    pub(crate) fn prune_windows(
        &mut self,
        policy: &AssetPolicy,
        at: Timestamp,
        asset: bool,
        user: Option<&UserId>,
    ) {
        let windows = policy.windows();
        if asset {
            for (i, usage) in self.windows.iter_mut().enumerate() {
                match windows.get(i) {
                    Some(w) => usage.prune(at, w.duration()),
                    None => usage.clear(),
                }
            }
            if let Some(b) = policy.breaker() {
                self.breaker.prune(at, b.window());
            }
        }
        if let Some(user) = user {
            if let Some(v) = self.user_windows.get_mut(user) {
                for (i, usage) in v.iter_mut().enumerate() {
                    match windows.get(i) {
                        Some(w) => usage.prune(at, w.duration()),
                        None => usage.clear(),
                    }
                }
                if v.iter().all(WindowUsage::is_empty) {
                    self.user_windows.remove(user);
                }
            }
        }
    }

    /// Drops every bucket that no longer counts at `at`, for every user too
    /// (cost grows with the number of users: run it as housekeeping, e.g.
    /// hourly). Never changes a decision; keeps the state small.
    pub fn prune(&mut self, policy: &AssetPolicy, at: Timestamp) {
        let windows = policy.windows();
        for (i, usage) in self.windows.iter_mut().enumerate() {
            match windows.get(i) {
                Some(w) => usage.prune(at, w.duration()),
                None => usage.clear(),
            }
        }
        self.user_windows.retain(|_, v| {
            for (i, usage) in v.iter_mut().enumerate() {
                match windows.get(i) {
                    Some(w) => usage.prune(at, w.duration()),
                    None => usage.clear(),
                }
            }
            v.iter().any(|u| !u.is_empty())
        });
        if let Some(b) = policy.breaker() {
            self.breaker.prune(at, b.window());
        }
    }
}

fn slot(v: &mut Vec<WindowUsage>, index: usize) -> &mut WindowUsage {
    if v.len() <= index {
        // index < MAX_WINDOWS (config-checked) for the engine's own changes.
        v.resize_with(index + 1, WindowUsage::default);
    }
    &mut v[index]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix(s)
    }

    #[test]
    fn window_counts_each_amount_for_at_least_the_window_and_at_most_one_bucket_more() {
        let w = Duration::from_secs(600).unwrap();
        let g = Duration::from_secs(10).unwrap();
        let mut u = WindowUsage::default();
        let a = t(1_000_005);
        u.add(WindowUsage::bucket_end(a, g), Amount::from_units(7));
        // Counted through a + W - 1 (the span (t - W, t] still holds a).
        for dt in 0..600 {
            assert_eq!(u.used(t(a.unix() + dt), w), 7, "dt {dt}");
        }
        // Gone by a + W + g.
        assert_eq!(u.used(t(a.unix() + 600 + 10), w), 0);
        u.prune(t(a.unix() + 610), w);
        assert!(u.is_empty());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 10_000, failure_persistence: None, ..Default::default()
        })]

        /// `used` equals the plain definition: the saturating sum, newest
        /// first, of the buckets that end after `at - window` (also when
        /// the deque wraps around and when the sum passes `u64::MAX`).
        #[test]
        fn used_is_the_saturating_sum_of_the_counted_buckets(
            steps in proptest::collection::vec((1i64..50, proptest::prop_oneof![0u64..1_000, proptest::num::u64::ANY]), 0..40),
            popped in 0usize..10,
            at in -100i64..2_000,
            window in 0u32..1_500,
        ) {
            let mut d = VecDeque::new();
            let mut end = 0;
            for &(gap, amount) in &steps {
                end += gap;
                d.push_back((t(end), Amount::from_units(amount)));
            }
            // Popping from the front and pushing again makes the deque wrap.
            for _ in 0..popped.min(d.len()) {
                let b = d.pop_front().unwrap();
                end += 1;
                d.push_back((t(end), b.1));
            }
            let mut u = WindowUsage::from_buckets(d);
            // Added bucket by bucket, the same usage.
            let mut v = WindowUsage::default();
            for &(e, a) in u.buckets() {
                v.add(e, a);
            }
            proptest::prop_assert_eq!(&u, &v);
            // Pruning keeps the total of what is left.
            let cut = t(at - 500);
            u.prune(cut, Duration::from_secs(0).unwrap());
            proptest::prop_assert_eq!(
                u.total,
                u.buckets.iter().map(|&(_, a)| u128::from(a.units())).sum::<u128>()
            );
            let u = WindowUsage::from_buckets(v.buckets.clone());
            let from = t(at).saturating_sub(Duration::from_secs(window).unwrap());
            let mut expected = Amount::ZERO;
            for &(e, a) in u.buckets.iter().rev() {
                if e <= from {
                    break;
                }
                expected = expected.saturating_add(a);
            }
            proptest::prop_assert_eq!(u.used(t(at), Duration::from_secs(window).unwrap()), expected);
        }
    }

    #[test]
    fn stored_usage_keeps_its_form_and_refuses_buckets_out_of_order() {
        let mut u = WindowUsage::default();
        u.add(t(60), Amount::from_units(5));
        u.add(t(120), Amount::from_units(7));
        let text = serde_json::to_string(&u).unwrap();
        let back: WindowUsage = serde_json::from_str(&text).unwrap();
        assert_eq!(back, u, "the total is rebuilt from the buckets");
        assert_eq!(back.used(t(100), Duration::from_secs(3_600).unwrap()), 12);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v.as_object().unwrap().len(),
            1,
            "only the buckets are stored: {text}"
        );
        let b = v["buckets"].as_array().unwrap();
        let swapped = serde_json::json!({ "buckets": [b[1], b[0]] });
        assert!(serde_json::from_value::<WindowUsage>(swapped).is_err());
        let twice = serde_json::json!({ "buckets": [b[0], b[0]] });
        assert!(serde_json::from_value::<WindowUsage>(twice).is_err());
    }

    #[test]
    fn bucket_end_handles_negative_times() {
        let g = Duration::from_secs(60).unwrap();
        assert_eq!(WindowUsage::bucket_end(t(-1), g), t(0));
        assert_eq!(WindowUsage::bucket_end(t(0), g), t(60));
        assert_eq!(WindowUsage::bucket_end(t(i64::MAX), g).unix(), i64::MAX);
    }
}
