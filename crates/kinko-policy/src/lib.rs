//! `kinko-policy`: a pure, deterministic custody policy engine.
//!
//! `config + state + event (with its time) -> decision + the changes it made`.
//! No I/O, no clock (time is an argument), no floats, no Bitcoin types: an
//! asset id and integer base units, so it guards any chain's withdrawals.
//!
//! Per asset it keeps the hot wallet under a cap (absolute and as a share of
//! custody, the lower applies) by proposing sweeps to cold and refills from
//! it; limits each withdrawal; limits approved outflow in any number of
//! sliding velocity windows (total and per user); holds withdrawals to
//! destinations not yet active on a delayed allowlist; requires a quorum of
//! named approvers above a threshold; and freezes all outflow when requested
//! outflow trips a circuit breaker, when the hot wallet holds less than the
//! books say, or by hand — only a quorum unfreezes.
//!
//! ```
//! use kinko_policy::{decide, Amount, Config, Decision, Event, EventKind, State, Timestamp, Wallet};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::from_toml_str(r#"
//!     [assets.BTC]
//!     hot_cap = 2_000_000_000
//!     [[assets.BTC.windows]]
//!     duration = "24h"
//!     limit = 500_000_000
//! "#)?;
//! let mut state = State::default();
//! let t0 = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")?;
//! let btc = "BTC".parse()?; // ids are checked when they are made
//! let deposit = EventKind::Deposit {
//!     asset: btc, wallet: Wallet::Hot, amount: Amount::from_units(1_000_000_000),
//! };
//! decide(&config, &mut state, &Event::new(t0, deposit))?;
//! let w = EventKind::Withdrawal {
//!     id: "w1".parse()?, user: "alice".parse()?, asset: "BTC".parse()?,
//!     destination: "bc1qexample".parse()?, amount: Amount::from_units(600_000_000),
//! };
//! let out = decide(&config, &mut state, &Event::new(t0, w))?;
//! assert!(matches!(out.decision, Decision::Denied { .. })); // above the 24h window
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod bound;
mod config;
mod decision;
mod engine;
mod event;
#[cfg(feature = "proptest")]
pub mod gen;
mod ids;
#[cfg(feature = "proptest")]
mod invariants;
mod record;
pub mod replay;
mod state;
#[cfg(feature = "proptest")]
pub mod testkit;
mod units;

pub use bound::{loss_bound, BoundTerm, LossBound};
pub use config::{
    Allowlist, AllowlistMode, Approvals, AssetPolicy, Breaker, Config, ConfigError, Limit,
    PresetFill, Window, JAPAN_HOT_SHARE, MAX_WINDOWS, PRESETS,
};
pub use decision::{
    ApplyError, Change, DecideError, Decision, Missing, Outcome, PendingReason, Proposal, Rule,
    WindowRef,
};
pub use engine::{decide, decide_asset, proposals};
pub use event::{Event, EventKind, Touches, Wallet, MAX_SETTLED_PER_TX};
pub use ids::{
    valid_asset, valid_name, AssetId, Destination, IdError, IdHashState, IdHasher, IdMap, UserId,
    WithdrawalId, MAX_ASSET_LEN, MAX_NAME_LEN,
};
#[cfg(feature = "proptest")]
pub use invariants::{check_invariants, greedy_attack, Attack, InvariantReport, Violation};
pub use record::{AllowlistEntry, Freeze, FreezeReason, Withdrawal, WithdrawalStatus};
pub use state::{AssetState, AssetStateParts, State, WindowUsage};
pub use units::{
    Amount, Duration, DurationError, Level, Share, ShareError, Timestamp, TimestampError,
    BPS_PER_WHOLE, MAX_DURATION_SECS,
};
