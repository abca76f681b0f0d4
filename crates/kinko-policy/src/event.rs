//! Events: everything that happens to an asset's custody, each with its time.
//!
//! The JSON form (one event per line in `kinko policy simulate`) is
//! `{"at": "<RFC 3339>", "type": "<snake_case kind>", ...fields}`; see
//! `docs/policy.md`.

use serde::{Deserialize, Serialize};

use crate::ids::{AssetId, Destination, UserId, WithdrawalId};
use crate::units::{Amount, Timestamp};

/// The most withdrawals one [`EventKind::TxConfirmed`] settles: a bound on
/// the work one event can ask for (Bitcoin's standard transaction weight
/// holds fewer outputs).
pub const MAX_SETTLED_PER_TX: usize = 5_000;

/// One of the two wallets of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wallet {
    /// The online wallet that pays withdrawals.
    Hot,
    /// The offline wallet whose keys never touch a networked machine.
    Cold,
}

/// An event and the time it happened. Events of one asset must come in
/// time order (equal times are fine); an older one is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (whole seconds).
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Every kind names its asset: the engine decides per asset,
/// so a ledger can lock one asset's state per decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum EventKind {
    /// Funds arrived in the hot or cold wallet.
    Deposit {
        /// The asset.
        asset: AssetId,
        /// Which wallet received them.
        wallet: Wallet,
        /// How much.
        amount: Amount,
    },
    /// A user asks to withdraw: decided Approved, Pending or Denied.
    Withdrawal {
        /// Idempotency key.
        id: WithdrawalId,
        /// Who asks.
        user: UserId,
        /// The asset.
        asset: AssetId,
        /// Where to (exact match against the allowlist).
        destination: Destination,
        /// How much, in base units.
        amount: Amount,
    },
    /// A named approver approves a pending withdrawal.
    Approval {
        /// The asset.
        asset: AssetId,
        /// The pending withdrawal.
        id: WithdrawalId,
        /// One of the configured approvers.
        approver: String,
    },
    /// A reserved withdrawal was confirmed on chain: the reservation settles
    /// and the hot balance goes down.
    Confirmed {
        /// The asset.
        asset: AssetId,
        /// The reserved withdrawal.
        id: WithdrawalId,
    },
    /// A reserved withdrawal failed (never broadcast, or dropped): the
    /// reservation is released. Its velocity usage is *not* given back, so a
    /// false failure report cannot widen a window.
    Failed {
        /// The asset.
        asset: AssetId,
        /// The reserved withdrawal.
        id: WithdrawalId,
    },
    /// The hot wallet's balance as seen on chain. Lower than the books
    /// (hot minus reserved) means a spend that bypassed the policy: freeze.
    HotBalance {
        /// The asset.
        asset: AssetId,
        /// The observed balance.
        balance: Amount,
    },
    /// A sweep (hot → cold) was executed.
    Sweep {
        /// The asset.
        asset: AssetId,
        /// How much moved.
        amount: Amount,
    },
    /// A refill (cold → hot) was executed.
    Refill {
        /// The asset.
        asset: AssetId,
        /// How much moved.
        amount: Amount,
    },
    /// Ask to add a destination to the allowlist; it becomes active after
    /// the activation delay.
    AllowlistAdd {
        /// The asset.
        asset: AssetId,
        /// The destination.
        destination: Destination,
    },
    /// Remove a destination added by an event (pending or active).
    AllowlistCancel {
        /// The asset.
        asset: AssetId,
        /// The destination.
        destination: Destination,
    },
    /// Freeze all outflow of the asset by hand.
    Freeze {
        /// The asset.
        asset: AssetId,
        /// Who froze it.
        by: String,
        /// Why (free text, for the audit log).
        reason: String,
    },
    /// One approver's vote to lift a freeze; the quorum lifts it.
    Unfreeze {
        /// The asset.
        asset: AssetId,
        /// One of the configured approvers.
        approver: String,
    },
    /// The custody (hot and cold) counted by someone the cosigner trusts
    /// (an admin-signed statement; the signature is checked before the
    /// event reaches the engine). From then on every limit written as a
    /// share of custody is measured against the lower of the books' custody
    /// and this amount less the withdrawals settled since: a deposit report
    /// can make the books larger for paying, never a share limit looser.
    CustodyStatement {
        /// The asset.
        asset: AssetId,
        /// The custody counted, in base units.
        amount: Amount,
    },
    /// A transaction the cosigner signed was confirmed on chain: it settles
    /// every reservation it paid (none for a sweep or a consolidation) and
    /// its fee leaves the hot wallet, so the hot books follow the chain to
    /// the base unit. One event for the whole transaction: a batch settles
    /// at once, with its one fee.
    TxConfirmed {
        /// The asset.
        asset: AssetId,
        /// The transaction's id (in the chain's own text form; the engine
        /// only records it).
        tx: String,
        /// The reserved withdrawals it paid, each once (at most
        /// [`MAX_SETTLED_PER_TX`]).
        withdrawals: Vec<WithdrawalId>,
        /// The fee it paid from the hot wallet, in base units.
        fee: Amount,
    },
    /// Time passes (lets windows age and proposals be made).
    Tick {
        /// The asset.
        asset: AssetId,
    },
}

impl EventKind {
    /// The asset the event is about.
    pub fn asset(&self) -> &str {
        self.asset_id().as_str()
    }

    /// The asset the event is about, as its id.
    pub fn asset_id(&self) -> &AssetId {
        match self {
            EventKind::Deposit { asset, .. }
            | EventKind::Withdrawal { asset, .. }
            | EventKind::Approval { asset, .. }
            | EventKind::Confirmed { asset, .. }
            | EventKind::Failed { asset, .. }
            | EventKind::HotBalance { asset, .. }
            | EventKind::Sweep { asset, .. }
            | EventKind::Refill { asset, .. }
            | EventKind::AllowlistAdd { asset, .. }
            | EventKind::AllowlistCancel { asset, .. }
            | EventKind::Freeze { asset, .. }
            | EventKind::Unfreeze { asset, .. }
            | EventKind::CustodyStatement { asset, .. }
            | EventKind::TxConfirmed { asset, .. }
            | EventKind::Tick { asset } => asset,
        }
    }

    /// The event's `type` tag, as in the JSON form.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::Deposit { .. } => "deposit",
            EventKind::Withdrawal { .. } => "withdrawal",
            EventKind::Approval { .. } => "approval",
            EventKind::Confirmed { .. } => "confirmed",
            EventKind::Failed { .. } => "failed",
            EventKind::HotBalance { .. } => "hot_balance",
            EventKind::Sweep { .. } => "sweep",
            EventKind::Refill { .. } => "refill",
            EventKind::AllowlistAdd { .. } => "allowlist_add",
            EventKind::AllowlistCancel { .. } => "allowlist_cancel",
            EventKind::Freeze { .. } => "freeze",
            EventKind::Unfreeze { .. } => "unfreeze",
            EventKind::CustodyStatement { .. } => "custody_statement",
            EventKind::TxConfirmed { .. } => "tx_confirmed",
            EventKind::Tick { .. } => "tick",
        }
    }

    /// The withdrawal id the event is about, if any.
    pub fn withdrawal_id(&self) -> Option<&str> {
        match self {
            EventKind::Withdrawal { id, .. }
            | EventKind::Approval { id, .. }
            | EventKind::Confirmed { id, .. }
            | EventKind::Failed { id, .. } => Some(id),
            _ => None,
        }
    }
}

impl Event {
    /// An event at a time.
    pub fn new(at: Timestamp, kind: EventKind) -> Self {
        Event { at, kind }
    }

    /// The keys of [`crate::AssetState`] a decision on this event reads:
    /// always the asset's core (books, windows, freeze, clock), plus at most
    /// one withdrawal, one allowlist entry and one user's windows — or, for
    /// [`EventKind::TxConfirmed`], the withdrawals it settles. A ledger may
    /// load just these, lock them, decide and persist the changes.
    pub fn touches(&self) -> Touches<'_> {
        let mut t = Touches {
            asset: self.kind.asset(),
            withdrawal: self.kind.withdrawal_id(),
            settles: &[],
            destination: None,
            user: None,
        };
        match &self.kind {
            EventKind::Withdrawal {
                user, destination, ..
            } => {
                t.user = Some(user);
                t.destination = Some(destination);
            }
            EventKind::AllowlistAdd { destination, .. }
            | EventKind::AllowlistCancel { destination, .. } => t.destination = Some(destination),
            EventKind::TxConfirmed { withdrawals, .. } => t.settles = withdrawals,
            _ => {}
        }
        t
    }
}

/// What one event's decision reads and writes (see [`Event::touches`]).
///
/// An approval also reads the withdrawal's own user and destination: load
/// the withdrawal first, then that user's windows and that allowlist entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touches<'a> {
    /// The asset.
    pub asset: &'a str,
    /// The withdrawal record, if any.
    pub withdrawal: Option<&'a str>,
    /// The withdrawal records a confirmed transaction settles.
    pub settles: &'a [WithdrawalId],
    /// The allowlist entry, if any.
    pub destination: Option<&'a str>,
    /// The user's per-user windows, if any.
    pub user: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips_and_refuses_unknown_fields() {
        let line = r#"{"at":"2018-01-26T00:02:00+09:00","type":"withdrawal","id":"w1","user":"u1","asset":"XEM","destination":"NC4C6P","amount":10}"#;
        let e: Event = serde_json::from_str(line).unwrap();
        assert_eq!(e.kind.type_name(), "withdrawal");
        assert_eq!(e.at.to_string(), "2018-01-25T15:02:00Z");
        let back = serde_json::to_string(&e).unwrap();
        assert_eq!(serde_json::from_str::<Event>(&back).unwrap(), e);

        let extra = r#"{"at":"2018-01-26T00:02:00+09:00","type":"tick","asset":"XEM","colour":1}"#;
        assert!(serde_json::from_str::<Event>(extra).is_err());
        let neg = r#"{"at":"2018-01-26T00:02:00+09:00","type":"deposit","asset":"XEM","wallet":"hot","amount":-1}"#;
        assert!(serde_json::from_str::<Event>(neg).is_err());
        let float = r#"{"at":"2018-01-26T00:02:00+09:00","type":"deposit","asset":"XEM","wallet":"hot","amount":1.5}"#;
        assert!(serde_json::from_str::<Event>(float).is_err());
        let no_at = r#"{"type":"tick","asset":"XEM"}"#;
        assert!(serde_json::from_str::<Event>(no_at).is_err());
    }
}
