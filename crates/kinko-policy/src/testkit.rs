//! Proptest strategies for policies and event streams, and the invariant
//! checks (feature `proptest`).
//!
//! A risk team property-tests its own policy file in a few lines:
//!
//! ```
//! use kinko_policy::testkit::{arb_events, check_invariants};
//! use kinko_policy::Config;
//! use proptest::prelude::*;
//!
//! // In a real test: `std::fs::read_to_string("policy.toml")`.
//! const POLICY: &str = r#"
//!     [assets.A]
//!     preset = "japan"
//!     [assets.A.approvals]
//!     approvers = ["ann", "ben", "cat"]
//!     quorum = 2
//! "#;
//!
//! let config = Config::from_toml_str(POLICY).unwrap();
//! proptest!(ProptestConfig::with_cases(64), |(events in arb_events(&config, 1..200))| {
//!     let report = check_invariants(&config, &events).map_err(|v| TestCaseError::fail(v.to_string()))?;
//!     prop_assert!(report.attacker_max[1].0 <= report.attacker_max[1].1);
//! });
//! ```
//!
//! The generated streams use asset [`gen::ASSET`] (`"A"`), approvers from
//! [`gen::APPROVERS`] and file destinations from [`gen::FILE_DESTINATIONS`],
//! so a policy written for them is exercised fully.

use std::ops::Range;

use proptest::prelude::*;

use crate::config::Config;
use crate::event::Event;
use crate::gen::{self, SplitMix64};

pub use crate::invariants::{check_invariants, greedy_attack, Attack, InvariantReport, Violation};

/// A valid policy file's text for asset `"A"` (see [`gen::config_toml`]).
pub fn arb_config_toml() -> impl Strategy<Value = String> {
    any::<u64>().prop_map(|seed| gen::config_toml(&mut SplitMix64(seed)))
}

/// A validated policy for asset `"A"`: any mix of caps, shares, windows
/// (total and per user, any buckets), allowlist modes and delays, quorums,
/// thresholds and breakers.
pub fn arb_config() -> impl Strategy<Value = Config> {
    any::<u64>().prop_map(|seed| gen::config(&mut SplitMix64(seed)))
}

/// Event streams for a policy: honest traffic, bursts, an attacker with the
/// hot key, clocks at window and activation edges (see [`gen::events`]).
pub fn arb_events(config: &Config, len: Range<usize>) -> impl Strategy<Value = Vec<Event>> {
    let config = config.clone();
    (any::<u64>(), len).prop_map(move |(seed, n)| gen::events(&config, &mut SplitMix64(seed), n))
}

/// A policy and a stream for it.
pub fn arb_scenario(len: Range<usize>) -> impl Strategy<Value = (Config, Vec<Event>)> {
    (any::<u64>(), any::<u64>(), len).prop_map(|(cs, es, n)| {
        let config = gen::config(&mut SplitMix64(cs));
        let events = gen::events(&config, &mut SplitMix64(es), n);
        (config, events)
    })
}
