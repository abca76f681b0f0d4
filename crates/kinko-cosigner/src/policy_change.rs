//! Policy changes after the ceremony: which ones loosen.
//!
//! A change signed by the admin quorum that only tightens applies at once; a
//! change that loosens anything waits the set-up's `policy_delay` on the
//! cosigner's clock, and any admin can cancel it meanwhile. Usage carries
//! over: the engine keeps window usage by the window's place in the policy,
//! so a change may append windows but never move or remove one (to retire a
//! window, raise its limit: a loosening, which waits).
//!
//! The classification is conservative: anything not shown to be at most as
//! permissive as before is a loosening.

use kinko_policy::{AllowlistMode, AssetPolicy, Limit, Share};

/// A policy change that cannot be taken as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// Window `index` of the policy in force is not at the same place, with
    /// the same duration and scope, in the new one.
    #[error("window {index} ({what}) must keep its place, duration and scope (usage is kept by place); raise its limit to retire it")]
    WindowMoved {
        /// Its place in the policy in force.
        index: usize,
        /// Its duration and scope.
        what: String,
    },
}

fn le_amount(new: Option<kinko_policy::Amount>, old: Option<kinko_policy::Amount>) -> bool {
    match (new, old) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(n), Some(o)) => n <= o,
    }
}

fn le_share(new: Option<Share>, old: Option<Share>) -> bool {
    match (new, old) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(n), Some(o)) => n <= o,
    }
}

/// A limit is the lower of its halves: at most as permissive when each half
/// is (an absent half is no bound).
fn le_limit(new: Limit, old: Limit) -> bool {
    le_amount(new.amount(), old.amount()) && le_share(new.share(), old.share())
}

fn le_opt_limit(new: Option<Limit>, old: Option<Limit>) -> bool {
    match (new, old) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(n), Some(o)) => le_limit(n, o),
    }
}

/// What loosens in `new` against `old` (empty: it only tightens or keeps).
///
/// # Errors
/// [`ChangeError::WindowMoved`] when a window of `old` is not kept in place.
pub fn loosenings(old: &AssetPolicy, new: &AssetPolicy) -> Result<Vec<String>, ChangeError> {
    let mut out = Vec::new();
    let mut say = |cond: bool, what: &str| {
        if !cond {
            out.push(what.to_owned());
        }
    };
    for (i, w) in old.windows().iter().enumerate() {
        let kept = new
            .windows()
            .get(i)
            .filter(|n| n.duration() == w.duration() && n.per_user() == w.per_user());
        let Some(n) = kept else {
            return Err(ChangeError::WindowMoved {
                index: i,
                what: format!(
                    "{}{}",
                    if w.per_user() { "per-user " } else { "" },
                    w.duration()
                ),
            });
        };
        say(
            le_limit(n.limit(), w.limit()) && n.bucket() == w.bucket(),
            &format!("window {i} ({}) limit or bucket", w.duration()),
        );
    }
    say(le_limit(new.hot_cap(), old.hot_cap()), "hot cap");
    say(
        le_opt_limit(new.max_withdrawal(), old.max_withdrawal()),
        "per-withdrawal maximum",
    );
    say(
        new.sweep_target() == old.sweep_target() && new.refill() == old.refill(),
        "sweep target or refill levels",
    );
    say(
        match (new.breaker(), old.breaker()) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(n), Some(o)) => {
                n.window() == o.window()
                    && n.bucket() == o.bucket()
                    && le_limit(n.limit(), o.limit())
            }
        },
        "circuit breaker",
    );
    say(
        match (new.approvals(), old.approvals()) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(n), Some(o)) => {
                n.approvers() == o.approvers()
                    && n.quorum() >= o.quorum()
                    && le_amount(n.threshold(), o.threshold())
            }
        },
        "approvers, quorum or threshold",
    );
    say(
        match (new.allowlist(), old.allowlist()) {
            (_, None) => true,
            (None, Some(_)) => false,
            (Some(n), Some(o)) => {
                let mode_ok = n.mode() == o.mode() || n.mode() == AllowlistMode::Deny;
                mode_ok
                    && n.activation_delay() >= o.activation_delay()
                    && n.entries().iter().all(|e| o.entries().contains(e))
            }
        },
        "allowlist mode, delay or entries",
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinko_policy::Config;

    fn p(toml: &str) -> AssetPolicy {
        Config::from_toml_str(toml)
            .unwrap()
            .asset("BTC")
            .unwrap()
            .clone()
    }

    const BASE: &str = r#"
[assets.BTC]
hot_cap = 1000
max_withdrawal = 100
[[assets.BTC.windows]]
duration = "1h"
limit = 300
[assets.BTC.approvals]
approvers = ["alice", "bob"]
quorum = 1
threshold = 50
"#;

    #[test]
    fn tightening_is_empty_loosening_is_named() {
        let old = p(BASE);
        assert!(loosenings(&old, &old).unwrap().is_empty());
        let tighter = BASE
            .replace("max_withdrawal = 100", "max_withdrawal = 90")
            .replace("limit = 300", "limit = 200")
            .replace("quorum = 1", "quorum = 2")
            .replace("threshold = 50", "threshold = 10");
        assert!(loosenings(&old, &p(&tighter)).unwrap().is_empty());
        // A window appended after the others is a new limit.
        let appended = format!("{BASE}[[assets.BTC.windows]]\nduration = \"24h\"\nlimit = 500\n");
        assert!(loosenings(&old, &p(&appended)).unwrap().is_empty());
        for (from, to, what) in [
            ("hot_cap = 1000", "hot_cap = 1001", "hot cap"),
            ("max_withdrawal = 100", "", "per-withdrawal maximum"),
            ("limit = 300", "limit = 301", "window 0"),
            ("quorum = 1", "quorum = 1\n", ""),
            (
                "threshold = 50",
                "threshold = 51",
                "approvers, quorum or threshold",
            ),
            (
                "[\"alice\", \"bob\"]",
                "[\"alice\", \"bob\", \"mallory\"]",
                "approvers",
            ),
        ] {
            let l = loosenings(&old, &p(&BASE.replace(from, to))).unwrap();
            if what.is_empty() {
                assert!(l.is_empty(), "{from}: {l:?}");
            } else {
                assert!(
                    l.iter().any(|s| s.starts_with(what)),
                    "{from} -> {to}: {l:?}"
                );
            }
        }
    }

    #[test]
    fn windows_keep_their_place() {
        let old = p(BASE);
        let moved = BASE.replace("duration = \"1h\"", "duration = \"2h\"");
        assert!(matches!(
            loosenings(&old, &p(&moved)),
            Err(ChangeError::WindowMoved { index: 0, .. })
        ));
        let removed = BASE.replace(
            "[[assets.BTC.windows]]\nduration = \"1h\"\nlimit = 300\n",
            "",
        );
        assert!(loosenings(&old, &p(&removed)).is_err());
    }
}
