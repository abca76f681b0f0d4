//! The decision vocabulary: what the engine answers ([`Decision`], the
//! [`Rule`] that denied, the [`Proposal`]s), the [`Change`]s a decision makes
//! to the state, and why an event is refused outright ([`DecideError`]).

use serde::{Deserialize, Serialize};

use crate::event::Wallet;
use crate::ids::{AssetId, Destination, IdError, UserId, WithdrawalId};
use crate::record::{AllowlistEntry, Freeze, Withdrawal, WithdrawalStatus};
use crate::units::{Amount, Duration, Timestamp};

/// A policy rule that denied a withdrawal. [`Rule::name`] is stable and
/// machine-readable (the CLI's exit-3 refusal names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rule {
    /// The asset is frozen.
    Frozen,
    /// The amount is above the per-withdrawal maximum.
    MaxWithdrawal {
        /// The maximum in force.
        limit: Amount,
    },
    /// The destination is not an active allowlist entry (mode deny).
    NotAllowlisted,
    /// The hot wallet cannot pay it (hot minus reserved).
    InsufficientHot {
        /// What the hot wallet can still pay.
        available: Amount,
    },
    /// A velocity window would be exceeded.
    Velocity {
        /// The window's length.
        window: Duration,
        /// Whether it is a per-user window.
        per_user: bool,
        /// The limit in force.
        limit: Amount,
        /// Outflow already counted in the window.
        used: Amount,
    },
    /// Requested outflow would exceed the circuit breaker: the asset froze.
    CircuitBreaker {
        /// Requested outflow including this request.
        requested: Amount,
        /// The limit in force.
        limit: Amount,
    },
}

impl Rule {
    /// The rule's stable name (`frozen`, `max_withdrawal`, `not_allowlisted`,
    /// `insufficient_hot`, `velocity`, `circuit_breaker`).
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Frozen => "frozen",
            Rule::MaxWithdrawal { .. } => "max_withdrawal",
            Rule::NotAllowlisted => "not_allowlisted",
            Rule::InsufficientHot { .. } => "insufficient_hot",
            Rule::Velocity { .. } => "velocity",
            Rule::CircuitBreaker { .. } => "circuit_breaker",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Frozen => f.write_str("asset is frozen"),
            Rule::MaxWithdrawal { limit } => write!(f, "above the per-withdrawal maximum {limit}"),
            Rule::NotAllowlisted => f.write_str("destination is not an active allowlist entry"),
            Rule::InsufficientHot { available } => {
                write!(f, "hot wallet can pay only {available}")
            }
            Rule::Velocity {
                window,
                per_user,
                limit,
                used,
            } => write!(
                f,
                "{}{window} window: {used} of {limit} used",
                if *per_user { "per-user " } else { "" }
            ),
            Rule::CircuitBreaker { requested, limit } => write!(
                f,
                "circuit breaker tripped: requested {requested} above {limit}"
            ),
        }
    }
}

/// Why a withdrawal waits for approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PendingReason {
    /// The amount is above the approval threshold.
    AboveThreshold {
        /// The threshold.
        threshold: Amount,
    },
    /// The destination is not active on the allowlist (mode require-approval).
    DestinationNotActive,
}

/// What a pending withdrawal still needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// Distinct approvals needed in all.
    pub required: u32,
    /// Distinct approvals so far.
    pub have: u32,
    /// Why approvals are needed (empty after the request itself).
    pub reasons: Vec<PendingReason>,
}

/// The engine's answer to one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Decision {
    /// The withdrawal is approved and its amount reserved.
    Approved {
        /// The withdrawal.
        id: WithdrawalId,
    },
    /// The withdrawal waits for approvals.
    Pending {
        /// The withdrawal.
        id: WithdrawalId,
        /// What it needs.
        missing: Missing,
    },
    /// The withdrawal is refused.
    Denied {
        /// The withdrawal.
        id: WithdrawalId,
        /// The rule that refused it.
        rule: Rule,
    },
    /// The withdrawal id was seen before: nothing changes.
    Duplicate {
        /// The withdrawal.
        id: WithdrawalId,
        /// Its status.
        status: WithdrawalStatus,
    },
    /// A bookkeeping event was recorded (its changes say what changed).
    Recorded,
}

/// Something the operators should do (the engine never moves funds itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "proposal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Proposal {
    /// Move `amount` from hot to cold: hot is above its cap.
    Sweep {
        /// The asset.
        asset: AssetId,
        /// How much.
        amount: Amount,
    },
    /// Move `amount` from cold to hot: hot is below its refill floor.
    Refill {
        /// The asset.
        asset: AssetId,
        /// How much.
        amount: Amount,
    },
}

/// A decision, the changes it made to the state, and the proposals that
/// follow from the new state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The decision.
    pub decision: Decision,
    /// The changes applied to the state, in order.
    pub changes: Vec<Change>,
    /// Sweep or refill proposals for the new state.
    pub proposals: Vec<Proposal>,
}

/// Why an event was refused outright (the state is unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The config has no policy for the asset.
    #[error("no policy for asset {0:?}")]
    UnknownAsset(String),
    /// The event is older than the last accepted one.
    #[error("event at {at} is older than the last one at {last}")]
    TimeWentBackwards {
        /// The last accepted event's time.
        last: Timestamp,
        /// This event's time.
        at: Timestamp,
    },
    /// An amount of zero.
    #[error("amount must be above zero")]
    ZeroAmount,
    /// An id, user, destination or name that is empty, too long or has spaces.
    #[error("invalid {0}: 1 to 256 characters without spaces or control characters")]
    InvalidName(&'static str),
    /// The books would overflow `u64`.
    #[error("amount overflow")]
    Overflow,
    /// No withdrawal with this id.
    #[error("unknown withdrawal")]
    UnknownWithdrawal,
    /// The withdrawal is not in the status the event needs.
    #[error("withdrawal is {found}, expected {expected}")]
    WrongStatus {
        /// What the event needs.
        expected: &'static str,
        /// Where it stands.
        found: &'static str,
    },
    /// The approver is not one of the configured approvers (or none are configured).
    #[error("not a configured approver")]
    UnknownApprover,
    /// A sweep larger than hot minus reserved, or a refill larger than cold.
    #[error("cannot move {amount} from the {from:?} wallet: it holds only {available} free")]
    InsufficientFunds {
        /// The source wallet.
        from: Wallet,
        /// Asked.
        amount: Amount,
        /// Free in it.
        available: Amount,
    },
    /// The asset has no allowlist.
    #[error("asset has no allowlist")]
    NoAllowlist,
    /// The destination is written in the policy file (change the file instead).
    #[error("destination is in the policy file")]
    EntryInConfig,
    /// The destination is not on the allowlist.
    #[error("destination is not on the allowlist")]
    UnknownEntry,
    /// An unfreeze vote while nothing is frozen.
    #[error("asset is not frozen")]
    NotFrozen,
    /// A confirmed transaction names one withdrawal twice, or more than
    /// [`crate::MAX_SETTLED_PER_TX`].
    #[error("a transaction settles each withdrawal once, at most {max} of them", max = crate::MAX_SETTLED_PER_TX)]
    BadSettlement,
    /// The state does not fit the planned changes: it was inconsistent before
    /// the event (never for a state only the engine changed). It may be
    /// partly changed: discard it (roll back the ledger transaction).
    #[error("state is inconsistent")]
    Corrupt(#[source] ApplyError),
}

/// Which window a usage change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum WindowRef {
    /// A total-scope velocity window, by config index.
    Total {
        /// Index in [`crate::AssetPolicy::windows`].
        index: usize,
    },
    /// A per-user velocity window, by config index.
    User {
        /// The user.
        user: UserId,
        /// Index in [`crate::AssetPolicy::windows`].
        index: usize,
    },
    /// The circuit breaker's requested outflow.
    Breaker,
}

/// One change a decision made to an [`crate::AssetState`]: what a ledger writes and
/// an audit log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// The asset's clock moved to `at` (every accepted event).
    Clock {
        /// The event's time.
        at: Timestamp,
    },
    /// A wallet was credited (deposit).
    Credited {
        /// Which wallet.
        wallet: Wallet,
        /// How much.
        amount: Amount,
    },
    /// Funds moved between the wallets (sweep or refill executed).
    Moved {
        /// From this wallet to the other one.
        from: Wallet,
        /// How much.
        amount: Amount,
    },
    /// A new withdrawal was recorded. If its status is `Reserved`, its amount
    /// is added to `reserved` (reservation created).
    WithdrawalRecorded {
        /// Its id.
        id: WithdrawalId,
        /// Its record.
        withdrawal: Withdrawal,
    },
    /// An approver approved a pending withdrawal.
    ApprovalAdded {
        /// The withdrawal.
        id: WithdrawalId,
        /// The approver.
        approver: String,
    },
    /// A pending withdrawal was approved: reservation created.
    Reserved {
        /// The withdrawal.
        id: WithdrawalId,
        /// Its amount (added to `reserved`).
        amount: Amount,
    },
    /// A pending withdrawal was denied when its quorum was reached.
    PendingDenied {
        /// The withdrawal.
        id: WithdrawalId,
        /// The rule.
        rule: Rule,
    },
    /// A reservation settled: `hot` and `reserved` go down by `amount`.
    Settled {
        /// The withdrawal.
        id: WithdrawalId,
        /// Its amount.
        amount: Amount,
    },
    /// A confirmed transaction's fee left the hot wallet: `hot` goes down by
    /// `amount`.
    FeePaid {
        /// The fee.
        amount: Amount,
    },
    /// A reservation was released: `reserved` goes down by `amount`.
    Released {
        /// The withdrawal.
        id: WithdrawalId,
        /// Its amount.
        amount: Amount,
    },
    /// Outflow was added to a window's bucket.
    UsageAdded {
        /// The window.
        window: WindowRef,
        /// The bucket's end.
        bucket_end: Timestamp,
        /// How much.
        amount: Amount,
    },
    /// A destination was added to the allowlist.
    AllowlistAdded {
        /// The destination.
        destination: Destination,
        /// Its entry.
        entry: AllowlistEntry,
    },
    /// A destination was removed from the allowlist.
    AllowlistRemoved {
        /// The destination.
        destination: Destination,
    },
    /// The asset froze.
    FreezeSet {
        /// The freeze.
        freeze: Freeze,
    },
    /// An approver voted to lift the freeze.
    UnfreezeVoted {
        /// The approver.
        approver: String,
    },
    /// The freeze was lifted, and the breaker's count reset.
    FreezeLifted,
    /// A custody statement set the vouched custody.
    Vouched {
        /// The custody vouched for.
        amount: Amount,
    },
}

/// A change that does not fit the state it is applied to (a corrupt or
/// mismatched state; never from the engine's own plan on the same state).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// A sum overflowed or a difference went below zero.
    #[error("amount overflow or underflow")]
    Overflow,
    /// The change names a withdrawal the state does not hold.
    #[error("unknown withdrawal {0:?}")]
    UnknownWithdrawal(String),
    /// The change names an allowlist entry the state does not hold.
    #[error("unknown allowlist entry")]
    UnknownEntry,
}

impl From<IdError> for DecideError {
    fn from(e: IdError) -> Self {
        DecideError::InvalidName(e.what)
    }
}
