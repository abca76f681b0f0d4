//! The decision function: `config + state + event (with its time) ->
//! decision + the changes it made + proposals`.
//!
//! Each decision is planned against the state read-only, then its changes are
//! applied; an error leaves the state untouched.

use crate::config::{Allowlist, AllowlistMode, AssetPolicy, Config};
use crate::decision::{
    ApplyError, Change, DecideError, Decision, Missing, Outcome, PendingReason, Proposal, Rule,
    WindowRef,
};
use crate::event::{Event, EventKind, Wallet};
use crate::ids::{AssetId, Destination, UserId, WithdrawalId};
use crate::record::{AllowlistEntry, Freeze, FreezeReason, Withdrawal, WithdrawalStatus};
use crate::state::{AssetState, State, WindowUsage};
use crate::units::{Amount, Timestamp};

/// Decides an event against the whole state: routes to the event's asset.
///
/// # Errors
/// [`DecideError`] when the event is refused outright; the state is then
/// unchanged.
pub fn decide(config: &Config, state: &mut State, event: &Event) -> Result<Outcome, DecideError> {
    let asset = event.kind.asset();
    let policy = config
        .asset(asset)
        .ok_or_else(|| DecideError::UnknownAsset(asset.chars().take(64).collect()))?;
    match state.assets.get_mut(asset) {
        Some(s) => decide_asset(policy, s, event),
        None => {
            let mut s = AssetState::default();
            let out = decide_asset(policy, &mut s, event)?;
            state.assets.insert(event.kind.asset_id().clone(), s);
            Ok(out)
        }
    }
}

/// Decides an event of one asset: plans the changes against `state`, applies
/// them, prunes aged window buckets and computes the proposals.
///
/// The caller is responsible for passing the policy of the event's asset.
///
/// # Errors
/// [`DecideError`] when the event is refused outright; the state is then
/// unchanged (except after [`DecideError::Corrupt`], see there).
pub fn decide_asset(
    policy: &AssetPolicy,
    state: &mut AssetState,
    event: &Event,
) -> Result<Outcome, DecideError> {
    let (decision, changes) = plan(policy, state, event)?;
    // Buckets stop counting only as time passes: the decision before this
    // one, at the same second, already pruned the asset's own windows.
    let pruned = state.last_at == Some(event.at);
    // The plan was made on this very state and checked every sum and every
    // record it touches, so applying it cannot fail on a consistent state.
    // On a state that was inconsistent to begin with (e.g. loaded from a
    // damaged store) it may, and the state may then be partly changed.
    for c in &changes {
        state.apply(c).map_err(DecideError::Corrupt)?;
    }
    if policy.windows().iter().any(|w| w.per_user()) {
        // The approval's user is read from the record (cloned: rare path).
        let approval_user = match &event.kind {
            EventKind::Approval { id, .. } => state.withdrawals.get(id).map(|w| w.user.clone()),
            _ => None,
        };
        let user = match &event.kind {
            EventKind::Withdrawal { user, .. } => Some(user),
            _ => approval_user.as_ref(),
        };
        state.prune_windows(policy, event.at, !pruned, user);
    } else if !pruned {
        state.prune_windows(policy, event.at, true, None);
    }
    let proposals = proposals(policy, state, event.kind.asset_id());
    Ok(Outcome {
        decision,
        changes,
        proposals,
    })
}

/// The proposals for a state: a sweep when hot is above its cap, a refill
/// when what hot can pay is below the refill floor (never while frozen).
pub fn proposals(policy: &AssetPolicy, state: &AssetState, asset: &AssetId) -> Vec<Proposal> {
    let mut out = Vec::new();
    let cap = policy.hot_cap().resolve(state.limit_custody());
    if state.hot > cap {
        let target = policy.sweep_target().resolve(cap).max(state.reserved);
        let amount = state.hot.saturating_sub(target);
        if !amount.is_zero() {
            out.push(Proposal::Sweep {
                asset: asset.clone(),
                amount,
            });
        }
    } else if let Some((floor, target)) = policy.refill() {
        let avail = state.hot_available();
        let (floor, target) = (floor.resolve(cap), target.resolve(cap));
        if state.freeze.is_none() && avail < floor {
            let amount = target.saturating_sub(avail).min(state.cold);
            if !amount.is_zero() {
                out.push(Proposal::Refill {
                    asset: asset.clone(),
                    amount,
                });
            }
        }
    }
    out
}

/// The withdrawal `id`, which must be in `status`.
fn withdrawal_in<'s>(
    s: &'s AssetState,
    id: &WithdrawalId,
    status: WithdrawalStatus,
) -> Result<&'s Withdrawal, DecideError> {
    let w = s
        .withdrawals
        .get(id)
        .ok_or(DecideError::UnknownWithdrawal)?;
    if w.status != status {
        return Err(DecideError::WrongStatus {
            expected: status.name(),
            found: w.status.name(),
        });
    }
    Ok(w)
}

fn check_name(s: &str, what: &'static str) -> Result<(), DecideError> {
    if crate::ids::valid_name(s) {
        Ok(())
    } else {
        Err(DecideError::InvalidName(what))
    }
}

/// Plans an event: the decision and the changes, without touching the state.
fn plan(
    policy: &AssetPolicy,
    s: &AssetState,
    event: &Event,
) -> Result<(Decision, Vec<Change>), DecideError> {
    let at = event.at;
    if let Some(last) = s.last_at {
        if at < last {
            return Err(DecideError::TimeWentBackwards { last, at });
        }
    }
    let mut ch = Vec::with_capacity(6);
    ch.push(Change::Clock { at });
    let decision = match &event.kind {
        EventKind::Deposit { wallet, amount, .. } => {
            if amount.is_zero() {
                return Err(DecideError::ZeroAmount);
            }
            s.custody()
                .checked_add(*amount)
                .ok_or(DecideError::Overflow)?;
            if s.hot.checked_add(*amount).is_none() || s.cold.checked_add(*amount).is_none() {
                return Err(DecideError::Overflow);
            }
            ch.push(Change::Credited {
                wallet: *wallet,
                amount: *amount,
            });
            Decision::Recorded
        }
        EventKind::Withdrawal {
            id,
            user,
            destination,
            amount,
            ..
        } => {
            if amount.is_zero() {
                return Err(DecideError::ZeroAmount);
            }
            if let Some(w) = s.withdrawals.get(id) {
                return Ok((
                    Decision::Duplicate {
                        id: id.clone(),
                        status: w.status,
                    },
                    ch,
                ));
            }
            request(policy, s, at, id, user, destination, *amount, &mut ch)?
        }
        EventKind::Approval { id, approver, .. } => {
            let approvals = policy.approvals().ok_or(DecideError::UnknownApprover)?;
            if !approvals.approvers().contains(approver.as_str()) {
                return Err(DecideError::UnknownApprover);
            }
            let w = withdrawal_in(s, id, WithdrawalStatus::Pending)?;
            let mut have = w.approvals.len() as u32;
            if !w.approvals.contains(approver.as_str()) {
                have += 1;
                ch.push(Change::ApprovalAdded {
                    id: id.clone(),
                    approver: approver.clone(),
                });
            }
            if have < w.required_approvals {
                Decision::Pending {
                    id: id.clone(),
                    missing: Missing {
                        required: w.required_approvals,
                        have,
                        reasons: Vec::new(),
                    },
                }
            } else {
                // Re-checked at completion: frozen since the request, or (mode
                // deny) the destination's entry cancelled since.
                let rule = if s.freeze.is_some() {
                    Err(Rule::Frozen)
                } else if policy.allowlist().is_some_and(|a| {
                    a.mode() == AllowlistMode::Deny && !destination_active(a, s, &w.destination, at)
                }) {
                    Err(Rule::NotAllowlisted)
                } else {
                    release_checks(policy, s, at, &w.user, w.amount)
                };
                match rule {
                    Err(rule) => {
                        ch.push(Change::PendingDenied {
                            id: id.clone(),
                            rule: rule.clone(),
                        });
                        Decision::Denied {
                            id: id.clone(),
                            rule,
                        }
                    }
                    Ok(()) => {
                        ch.push(Change::Reserved {
                            id: id.clone(),
                            amount: w.amount,
                        });
                        usage_changes(policy, at, &w.user, w.amount, &mut ch);
                        Decision::Approved { id: id.clone() }
                    }
                }
            }
        }
        EventKind::Confirmed { id, .. } | EventKind::Failed { id, .. } => {
            let w = withdrawal_in(s, id, WithdrawalStatus::Reserved)?;
            if w.amount > s.reserved || w.amount > s.hot {
                return Err(DecideError::Corrupt(ApplyError::Overflow));
            }
            ch.push(if matches!(event.kind, EventKind::Confirmed { .. }) {
                Change::Settled {
                    id: id.clone(),
                    amount: w.amount,
                }
            } else {
                Change::Released {
                    id: id.clone(),
                    amount: w.amount,
                }
            });
            Decision::Recorded
        }
        EventKind::TxConfirmed {
            tx,
            withdrawals,
            fee,
            ..
        } => {
            check_name(tx, "tx")?;
            if withdrawals.is_empty() && fee.is_zero() {
                return Err(DecideError::ZeroAmount);
            }
            if withdrawals.len() > crate::event::MAX_SETTLED_PER_TX {
                return Err(DecideError::BadSettlement);
            }
            let mut seen = std::collections::HashSet::with_capacity(withdrawals.len());
            let (mut hot, mut reserved) = (s.hot, s.reserved);
            for id in withdrawals {
                if !seen.insert(id.as_str()) {
                    return Err(DecideError::BadSettlement);
                }
                let w = withdrawal_in(s, id, WithdrawalStatus::Reserved)?;
                hot = hot
                    .checked_sub(w.amount)
                    .ok_or(DecideError::Corrupt(ApplyError::Overflow))?;
                reserved = reserved
                    .checked_sub(w.amount)
                    .ok_or(DecideError::Corrupt(ApplyError::Overflow))?;
                ch.push(Change::Settled {
                    id: id.clone(),
                    amount: w.amount,
                });
            }
            // The fee comes out of what is free in the hot wallet after the
            // payments: reserved amounts are other withdrawals' money.
            let available = hot.saturating_sub(reserved);
            if *fee > available {
                return Err(DecideError::InsufficientFunds {
                    from: Wallet::Hot,
                    amount: *fee,
                    available,
                });
            }
            if !fee.is_zero() {
                ch.push(Change::FeePaid { amount: *fee });
            }
            Decision::Recorded
        }
        EventKind::HotBalance { balance, .. } => {
            let expected = s.hot_available();
            if *balance < expected && s.freeze.is_none() {
                ch.push(Change::FreezeSet {
                    freeze: Freeze {
                        at,
                        reason: FreezeReason::HotShortfall {
                            expected_at_least: expected,
                            observed: *balance,
                        },
                        votes: Default::default(),
                    },
                });
            }
            Decision::Recorded
        }
        EventKind::Sweep { amount, .. } | EventKind::Refill { amount, .. } => {
            if amount.is_zero() {
                return Err(DecideError::ZeroAmount);
            }
            let (from, available, to_balance) = if matches!(event.kind, EventKind::Sweep { .. }) {
                (Wallet::Hot, s.hot_available(), s.cold)
            } else {
                (Wallet::Cold, s.cold, s.hot)
            };
            if *amount > available {
                return Err(DecideError::InsufficientFunds {
                    from,
                    amount: *amount,
                    available,
                });
            }
            to_balance
                .checked_add(*amount)
                .ok_or(DecideError::Overflow)?;
            ch.push(Change::Moved {
                from,
                amount: *amount,
            });
            Decision::Recorded
        }
        EventKind::AllowlistAdd { destination, .. } => {
            let al = policy.allowlist().ok_or(DecideError::NoAllowlist)?;
            if !al.contains(destination.as_str()) && !s.allowlist.contains_key(destination) {
                ch.push(Change::AllowlistAdded {
                    destination: destination.clone(),
                    entry: AllowlistEntry {
                        added_at: at,
                        active_at: at.saturating_add(al.activation_delay()),
                    },
                });
            }
            Decision::Recorded
        }
        EventKind::AllowlistCancel { destination, .. } => {
            let al = policy.allowlist().ok_or(DecideError::NoAllowlist)?;
            if al.contains(destination.as_str()) {
                return Err(DecideError::EntryInConfig);
            }
            if !s.allowlist.contains_key(destination) {
                return Err(DecideError::UnknownEntry);
            }
            ch.push(Change::AllowlistRemoved {
                destination: destination.clone(),
            });
            Decision::Recorded
        }
        EventKind::Freeze { by, reason, .. } => {
            check_name(by, "name")?;
            if reason.len() > 1024 {
                return Err(DecideError::InvalidName("reason"));
            }
            if s.freeze.is_none() {
                ch.push(Change::FreezeSet {
                    freeze: Freeze {
                        at,
                        reason: FreezeReason::Manual {
                            by: by.clone(),
                            reason: reason.clone(),
                        },
                        votes: Default::default(),
                    },
                });
            }
            Decision::Recorded
        }
        EventKind::Unfreeze { approver, .. } => {
            let approvals = policy.approvals().ok_or(DecideError::UnknownApprover)?;
            if !approvals.approvers().contains(approver.as_str()) {
                return Err(DecideError::UnknownApprover);
            }
            let f = s.freeze.as_ref().ok_or(DecideError::NotFrozen)?;
            let mut votes = f.votes.len() as u32;
            if !f.votes.contains(approver.as_str()) {
                votes += 1;
                ch.push(Change::UnfreezeVoted {
                    approver: approver.clone(),
                });
            }
            if votes >= approvals.quorum() {
                ch.push(Change::FreezeLifted);
            }
            Decision::Recorded
        }
        EventKind::Tick { .. } => Decision::Recorded,
        EventKind::CustodyStatement { amount, .. } => {
            ch.push(Change::Vouched { amount: *amount });
            Decision::Recorded
        }
    };
    Ok((decision, ch))
}

/// Whether a destination is an active allowlist entry at `at`: written in
/// the file, or added by an event whose activation time has come.
fn destination_active(
    al: &Allowlist,
    s: &AssetState,
    destination: &Destination,
    at: Timestamp,
) -> bool {
    al.contains(destination)
        || s.allowlist
            .get(destination)
            .is_some_and(|e| e.active_at <= at)
}

/// A new withdrawal request.
#[allow(clippy::too_many_arguments)]
fn request(
    policy: &AssetPolicy,
    s: &AssetState,
    at: Timestamp,
    id: &WithdrawalId,
    user: &UserId,
    destination: &Destination,
    amount: Amount,
    ch: &mut Vec<Change>,
) -> Result<Decision, DecideError> {
    let record = |status: WithdrawalStatus, required: u32| Withdrawal {
        user: user.clone(),
        destination: destination.clone(),
        amount,
        requested_at: at,
        status,
        required_approvals: required,
        approvals: Default::default(),
    };
    let deny = |rule: Rule, ch: &mut Vec<Change>| {
        ch.push(Change::WithdrawalRecorded {
            id: id.clone(),
            withdrawal: record(WithdrawalStatus::Denied, 0),
        });
        Decision::Denied {
            id: id.clone(),
            rule,
        }
    };
    if s.freeze.is_some() {
        return Ok(deny(Rule::Frozen, ch));
    }
    let custody = s.limit_custody();
    // The circuit breaker counts requested outflow: every request that reaches
    // it, whatever is decided after.
    if let Some(b) = policy.breaker() {
        let used = s.breaker.used(at, b.window());
        let requested = used.saturating_add(amount);
        let limit = b.limit().resolve(custody);
        let bucket_end = WindowUsage::bucket_end(at, b.bucket());
        ch.push(Change::UsageAdded {
            window: WindowRef::Breaker,
            bucket_end,
            amount,
        });
        if requested > limit {
            ch.push(Change::FreezeSet {
                freeze: Freeze {
                    at,
                    reason: FreezeReason::CircuitBreaker { requested, limit },
                    votes: Default::default(),
                },
            });
            return Ok(deny(Rule::CircuitBreaker { requested, limit }, ch));
        }
    }
    if let Some(max) = policy.max_withdrawal() {
        let limit = max.resolve(custody);
        if amount > limit {
            return Ok(deny(Rule::MaxWithdrawal { limit }, ch));
        }
    }
    let mut reasons = Vec::new();
    if let Some(al) = policy.allowlist() {
        let active = destination_active(al, s, destination, at);
        if !active {
            match al.mode() {
                AllowlistMode::Deny => return Ok(deny(Rule::NotAllowlisted, ch)),
                AllowlistMode::RequireApproval => reasons.push(PendingReason::DestinationNotActive),
            }
        }
    }
    if let Some(threshold) = policy.approvals().and_then(|a| a.threshold()) {
        if amount > threshold {
            reasons.push(PendingReason::AboveThreshold { threshold });
        }
    }
    if !reasons.is_empty() {
        // Config validation: require-approval and thresholds come with approvals.
        let required = policy.approvals().map_or(u32::MAX, |a| a.quorum());
        ch.push(Change::WithdrawalRecorded {
            id: id.clone(),
            withdrawal: record(WithdrawalStatus::Pending, required),
        });
        return Ok(Decision::Pending {
            id: id.clone(),
            missing: Missing {
                required,
                have: 0,
                reasons,
            },
        });
    }
    if let Err(rule) = release_checks(policy, s, at, user, amount) {
        return Ok(deny(rule, ch));
    }
    ch.push(Change::WithdrawalRecorded {
        id: id.clone(),
        withdrawal: record(WithdrawalStatus::Reserved, 0),
    });
    usage_changes(policy, at, user, amount, ch);
    Ok(Decision::Approved { id: id.clone() })
}

/// The checks made when a withdrawal would be reserved: the hot wallet can
/// pay it and every velocity window stays within its limit.
fn release_checks(
    policy: &AssetPolicy,
    s: &AssetState,
    at: Timestamp,
    user: &UserId,
    amount: Amount,
) -> Result<(), Rule> {
    let available = s.hot_available();
    if amount > available {
        return Err(Rule::InsufficientHot { available });
    }
    let custody = s.limit_custody();
    let user_windows = if policy.windows().iter().any(|w| w.per_user()) {
        s.user_windows.get(user)
    } else {
        None
    };
    for (i, w) in policy.windows().iter().enumerate() {
        let usage = if w.per_user() {
            user_windows.and_then(|v| v.get(i))
        } else {
            s.windows.get(i)
        };
        let used = usage.map_or(Amount::ZERO, |u| u.used(at, w.duration()));
        let limit = w.limit().resolve(custody);
        if used.checked_add(amount).is_none_or(|t| t > limit) {
            return Err(Rule::Velocity {
                window: w.duration(),
                per_user: w.per_user(),
                limit,
                used,
            });
        }
    }
    Ok(())
}

fn usage_changes(
    policy: &AssetPolicy,
    at: Timestamp,
    user: &UserId,
    amount: Amount,
    ch: &mut Vec<Change>,
) {
    for (index, w) in policy.windows().iter().enumerate() {
        let window = if w.per_user() {
            WindowRef::User {
                user: user.clone(),
                index,
            }
        } else {
            WindowRef::Total { index }
        };
        ch.push(Change::UsageAdded {
            window,
            bucket_end: WindowUsage::bucket_end(at, w.bucket()),
            amount,
        });
    }
}
