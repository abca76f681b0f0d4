//! What the state keeps of each withdrawal, allowlist entry and freeze.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ids::{Destination, UserId};
use crate::units::{Amount, Timestamp};

/// Where a withdrawal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalStatus {
    /// Waiting for approvals.
    Pending,
    /// Approved; its amount is reserved in the hot wallet.
    Reserved,
    /// Confirmed on chain.
    Settled,
    /// Failed; its reservation was released.
    Released,
    /// Denied by a rule.
    Denied,
}

impl WithdrawalStatus {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            WithdrawalStatus::Pending => "pending",
            WithdrawalStatus::Reserved => "reserved",
            WithdrawalStatus::Settled => "settled",
            WithdrawalStatus::Released => "released",
            WithdrawalStatus::Denied => "denied",
        }
    }
}

/// A withdrawal the engine has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// Who asked.
    pub user: UserId,
    /// Where to.
    pub destination: Destination,
    /// How much.
    pub amount: Amount,
    /// When it was requested.
    pub requested_at: Timestamp,
    /// Where it stands.
    pub status: WithdrawalStatus,
    /// Distinct approvals needed (0: none).
    pub required_approvals: u32,
    /// Distinct configured approvers who approved it.
    pub approvals: BTreeSet<String>,
}

/// An allowlist entry added by an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowlistEntry {
    /// When it was asked for.
    pub added_at: Timestamp,
    /// From when it counts.
    pub active_at: Timestamp,
}

/// Why an asset is frozen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum FreezeReason {
    /// Frozen by hand.
    Manual {
        /// Who.
        by: String,
        /// Why.
        reason: String,
    },
    /// Requested outflow within the breaker's window would have exceeded its limit.
    CircuitBreaker {
        /// Requested outflow including the request that tripped it.
        requested: Amount,
        /// The limit in force.
        limit: Amount,
    },
    /// The hot wallet held less than the books say: a spend bypassed the policy.
    HotShortfall {
        /// Least the books say the hot wallet holds (hot minus reserved).
        expected_at_least: Amount,
        /// What was observed.
        observed: Amount,
    },
}

impl std::fmt::Display for FreezeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FreezeReason::Manual { by, reason } => write!(f, "manual freeze by {by}: {reason}"),
            FreezeReason::CircuitBreaker { requested, limit } => write!(
                f,
                "circuit breaker: requested outflow {requested} above limit {limit}"
            ),
            FreezeReason::HotShortfall {
                expected_at_least,
                observed,
            } => write!(
                f,
                "hot balance {observed} below the books' {expected_at_least}"
            ),
        }
    }
}

/// A freeze in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    /// Since when.
    pub at: Timestamp,
    /// Why.
    pub reason: FreezeReason,
    /// Approvers who voted to lift it.
    pub votes: BTreeSet<String>,
}
