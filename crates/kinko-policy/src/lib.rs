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

#[cfg(test)]
mod layers {
    /// Each module's source, without its tests, comments and docs.
    fn code(text: &str) -> String {
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        text.lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The modules of this crate that `text` names (`crate::m::...`).
    fn uses(text: &str) -> std::collections::BTreeSet<String> {
        let code = code(text);
        let mut out = std::collections::BTreeSet::new();
        for part in code.split("crate::").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.insert(name);
            }
        }
        out
    }

    /// The crate's modules form layers: no module reaches itself through
    /// the modules it uses (so no two import each other).
    #[test]
    fn no_module_imports_one_that_imports_it() {
        let modules = [
            ("bound", include_str!("bound.rs")),
            ("config", include_str!("config.rs")),
            ("decision", include_str!("decision.rs")),
            ("engine", include_str!("engine.rs")),
            ("event", include_str!("event.rs")),
            ("gen", include_str!("gen.rs")),
            ("ids", include_str!("ids.rs")),
            ("invariants", include_str!("invariants.rs")),
            ("record", include_str!("record.rs")),
            ("replay", include_str!("replay.rs")),
            ("state", include_str!("state.rs")),
            ("testkit", include_str!("testkit.rs")),
            ("units", include_str!("units.rs")),
        ];
        let names: std::collections::BTreeSet<&str> = modules.iter().map(|(m, _)| *m).collect();
        let graph: std::collections::BTreeMap<&str, Vec<String>> = modules
            .iter()
            .map(|(m, text)| {
                let deps = uses(text)
                    .into_iter()
                    .filter(|d| names.contains(d.as_str()) && d != m)
                    .collect();
                (*m, deps)
            })
            .collect();
        // A name re-exported by lib.rs hides its module: only the
        // crate-root items that are modules count, so check lib.rs has none
        // of those paths in a module (every module names its module).
        for (m, text) in &modules {
            for d in uses(text) {
                assert!(
                    names.contains(d.as_str())
                        || d.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        || d.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                    "{m} uses crate::{d}, which is neither a module nor a re-exported item"
                );
            }
        }
        for start in graph.keys() {
            let mut stack: Vec<&str> = graph[start].iter().map(String::as_str).collect();
            let mut seen = std::collections::BTreeSet::new();
            while let Some(m) = stack.pop() {
                assert_ne!(m, *start, "{start} reaches itself through its imports");
                if seen.insert(m) {
                    stack.extend(graph[m].iter().map(String::as_str));
                }
            }
        }
    }
}
