//! The worst-case loss bound: the most an attacker who holds the exchange's
//! hot key and can submit any requests can take within a horizon.
//!
//! Threat model. The attacker submits any withdrawal requests (any users,
//! ids, destinations, amounts, times) and allowlist additions. They do not
//! hold an approver's credentials (so nothing pending is approved and no
//! freeze is lifted), do not control an allowlist entry that is already
//! active, and cannot forge deposits. The operators notice nothing within the
//! horizon and keep executing refill proposals, so the hot wallet's balance
//! is not counted as a limit (it is shown apart as the amount held hot).
//!
//! The bound. Every accepted approval at time `t` keeps the approved outflow
//! in `(t - W, t]` within a window's limit, so any half-open span of length
//! `W` holds at most that limit, and a horizon `H` split into `ceil(H / W)`
//! such spans holds at most `ceil(H / W) × limit`. The circuit breaker counts
//! requested outflow, a superset of approved outflow, so it bounds it the same
//! way (and once tripped, nothing more passes). Per-user windows do not bound
//! an attacker who can name any user. With an allowlist, a new destination
//! is usable only after the activation delay, which shortens the horizon.
//! Shares of custody are taken at the largest custody during the horizon.

use serde::Serialize;

use crate::config::{AssetPolicy, Limit};
use crate::units::{Amount, Duration, BPS_PER_WHOLE};

/// One rule's contribution to the bound: at most `multiple × limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoundTerm {
    /// Which rule (`velocity 1h`, `circuit breaker 1h`).
    pub rule: String,
    /// How many spans of the rule's window the horizon holds.
    pub multiple: u64,
    /// The rule's limit.
    pub limit: Limit,
}

impl BoundTerm {
    /// The term in base units for a custody (saturating).
    pub fn at_custody(&self, custody: Amount) -> Amount {
        let l = self.limit.resolve(custody);
        l.saturating_mul(self.multiple)
    }
}

/// The worst-case loss bound of one asset for one horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LossBound {
    /// The horizon.
    pub horizon: Duration,
    /// The horizon left after the allowlist's activation delay.
    pub effective_horizon: Duration,
    /// The terms; the bound is the least of them (and of custody).
    pub terms: Vec<BoundTerm>,
}

impl LossBound {
    /// The bound in base units for a custody, and the rule that sets it
    /// (`None`: nothing limits outflow but custody itself).
    pub fn at_custody(&self, custody: Amount) -> (Amount, Option<&str>) {
        if self.effective_horizon.secs() == 0 {
            return (Amount::ZERO, Some("allowlist activation delay"));
        }
        let mut best = (custody, None);
        for t in &self.terms {
            let v = t.at_custody(custody);
            if v < best.0 {
                best = (v, Some(t.rule.as_str()));
            }
        }
        best
    }

    /// The bound from the absolute parts of the limits alone (`None` if no
    /// term has one): the bound at any custody is at most this.
    pub fn absolute(&self) -> Option<Amount> {
        if self.effective_horizon.secs() == 0 {
            return Some(Amount::ZERO);
        }
        self.terms
            .iter()
            .filter_map(|t| t.limit.amount().map(|a| a.saturating_mul(t.multiple)))
            .min()
    }

    /// The bound as a share of custody in basis points when every term has a
    /// share part (`None` if some term is absolute only, or none exists).
    pub fn share_bps(&self) -> Option<u64> {
        if self.effective_horizon.secs() == 0 {
            return Some(0);
        }
        let mut best: Option<u64> = None;
        for t in &self.terms {
            if let Some(s) = t.limit.share() {
                let v = u64::from(s.bps()).saturating_mul(t.multiple);
                best = Some(best.map_or(v, |b| b.min(v)));
            }
        }
        best.map(|b| b.min(u64::from(BPS_PER_WHOLE)))
    }
}

fn ceil_div(a: u32, b: u32) -> u64 {
    u64::from(a).div_ceil(u64::from(b.max(1)))
}

/// The worst-case loss bound of a policy over a horizon (see the module
/// documentation for the threat model and the proof).
pub fn loss_bound(policy: &AssetPolicy, horizon: Duration) -> LossBound {
    let delay = policy
        .allowlist()
        .map_or(0, |a| a.activation_delay().secs());
    let eff = horizon.secs().saturating_sub(delay);
    let effective_horizon = Duration::from_secs(eff).unwrap_or(horizon);
    let mut terms = Vec::new();
    for w in policy.windows().iter().filter(|w| !w.per_user()) {
        terms.push(BoundTerm {
            rule: format!("velocity {}", w.duration()),
            multiple: ceil_div(eff, w.duration().secs()),
            limit: w.limit(),
        });
    }
    if let Some(b) = policy.breaker() {
        terms.push(BoundTerm {
            rule: format!("circuit breaker {}", b.window()),
            multiple: ceil_div(eff, b.window().secs()),
            limit: b.limit(),
        });
    }
    LossBound {
        horizon,
        effective_horizon,
        terms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn bound_is_the_least_window_multiple() {
        let c = Config::from_toml_str(
            r#"
            [assets.A]
            hot_cap = 1000
            [[assets.A.windows]]
            duration = "10m"
            limit = 100
            [[assets.A.windows]]
            duration = "24h"
            limit = 2000
            [[assets.A.windows]]
            duration = "1h"
            limit = 1
            per_user = true
            "#,
        )
        .unwrap();
        let p = c.asset("A").unwrap();
        let h1 = loss_bound(p, Duration::parse("1h").unwrap());
        assert_eq!(
            h1.at_custody(Amount::from_units(1_000_000)),
            (Amount::from_units(600), Some("velocity 10m"))
        );
        let h24 = loss_bound(p, Duration::parse("24h").unwrap());
        assert_eq!(
            h24.at_custody(Amount::from_units(1_000_000)),
            (Amount::from_units(2000), Some("velocity 24h"))
        );
        assert_eq!(
            h24.at_custody(Amount::from_units(1500)),
            (Amount::from_units(1500), None)
        );
    }

    #[test]
    fn standard_preset_bound_in_shares() {
        let c = Config::from_toml_str(
            "[assets.A]\npreset = \"standard\"\n[assets.A.approvals]\napprovers = [\"x\"]\nquorum = 1\n",
        )
        .unwrap();
        let p = c.asset("A").unwrap();
        assert_eq!(
            loss_bound(p, Duration::parse("1h").unwrap()).share_bps(),
            Some(200)
        );
        assert_eq!(
            loss_bound(p, Duration::parse("24h").unwrap()).share_bps(),
            Some(500)
        );
    }

    #[test]
    fn allowlist_delay_shortens_the_horizon() {
        let c = Config::from_toml_str(
            "[assets.A]\nhot_cap = 10\n[[assets.A.windows]]\nduration = \"1h\"\nlimit = 5\n[assets.A.allowlist]\nmode = \"deny\"\nactivation_delay = \"2h\"\n",
        )
        .unwrap();
        let p = c.asset("A").unwrap();
        assert_eq!(
            loss_bound(p, Duration::parse("1h").unwrap())
                .at_custody(Amount::from_units(100))
                .0,
            0
        );
        assert_eq!(
            loss_bound(p, Duration::parse("24h").unwrap())
                .at_custody(Amount::from_units(1000))
                .0,
            110
        );
    }
}
