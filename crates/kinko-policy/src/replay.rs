//! Incident replays: a real theft's withdrawals, decided under several
//! policies, each starting from the state the policy would have kept (hot at
//! its cap, the rest swept to cold). Pure data and decisions; the examples
//! `coincheck_2018` and `binance_2019` print them as tables.

use crate::bound::loss_bound;
use crate::config::Config;
use crate::decision::Decision;
use crate::decision::{Change, DecideError};
use crate::engine::decide;
use crate::event::{Event, EventKind, Wallet};
use crate::ids::{AssetId, Destination, IdError, UserId, WithdrawalId};
use crate::record::FreezeReason;
use crate::state::State;
use crate::units::{Amount, Duration, Timestamp};

/// One withdrawal of the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theft {
    /// Local time as written in the sources (RFC 3339 with its offset).
    pub at: &'static str,
    /// Amount in the replay's units.
    pub amount: Amount,
}

/// A policy a replay is decided under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    /// Column name.
    pub name: &'static str,
    /// The policy file (for asset [`Replay::asset`]).
    pub policy: String,
}

/// What one policy let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The scenario's name.
    pub name: &'static str,
    /// Hot balance when the theft began.
    pub hot_at_start: Amount,
    /// Per theft: `None` if approved, else the rule's name that stopped it.
    pub denied_by: Vec<Option<&'static str>>,
    /// Total approved (lost).
    pub lost: Amount,
    /// When the circuit breaker froze the asset, if it did.
    pub breaker_fired_at: Option<Timestamp>,
    /// The policy's worst-case loss bound for the incident's duration (from
    /// the first theft to detection; one hour if unknown), at the
    /// incident's custody.
    pub bound: Amount,
}

/// An incident decided under several policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// Asset id used in the policies.
    pub asset: &'static str,
    /// The units the amounts are in.
    pub unit: &'static str,
    /// Custody of the asset when the theft began.
    pub custody: Amount,
    /// The withdrawals.
    pub thefts: Vec<Theft>,
    /// When the theft was detected (local time), if known.
    pub detected_at: Option<&'static str>,
    /// One column per scenario.
    pub columns: Vec<Column>,
}

/// Why a replay could not run (its built-in data or policies are wrong).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A scenario's policy did not parse.
    #[error("scenario {0}: invalid policy")]
    Policy(&'static str, #[source] crate::config::ConfigError),
    /// A time did not parse.
    #[error("invalid time in the replay data")]
    Time(#[source] crate::units::TimestampError),
    /// The engine refused an event.
    #[error("scenario {0}: event refused")]
    Decide(&'static str, #[source] DecideError),
}

const APPROVERS: &str =
    "\n[assets.{A}.approvals]\napprovers = [\"ceo\", \"cfo\", \"ciso\"]\nquorum = 2\n";

fn policy(asset: &str, body: &str) -> String {
    format!(
        "[assets.{asset}]\n{body}{}",
        APPROVERS.replace("{A}", asset)
    )
}

/// The scenarios every replay is decided under: no policy (everything hot,
/// no limits: what happened), Japan's 5% hot rule alone, kinko's `standard`
/// preset, and the `japan` preset (standard with at most 5% hot).
pub fn scenarios(asset: &str) -> Vec<Scenario> {
    vec![
        Scenario {
            name: "no policy",
            policy: policy(asset, "hot_cap_share = \"100%\"\n"),
        },
        Scenario {
            name: "5% hot only",
            policy: policy(asset, "hot_cap_share = \"5%\"\n"),
        },
        Scenario {
            name: "standard",
            policy: policy(asset, "preset = \"standard\"\n"),
        },
        Scenario {
            name: "japan",
            policy: policy(asset, "preset = \"japan\"\n"),
        },
    ]
}

/// Runs thefts under scenarios.
///
/// # Errors
/// [`ReplayError`] if the data or a policy is wrong.
pub fn run(
    asset: &'static str,
    unit: &'static str,
    custody: Amount,
    thefts: Vec<Theft>,
    detected_at: Option<&'static str>,
    scenarios: &[Scenario],
) -> Result<Replay, ReplayError> {
    let times = thefts
        .iter()
        .map(|t| Timestamp::parse_rfc3339(t.at))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ReplayError::Time)?;
    let start = times.first().copied().unwrap_or(Timestamp::from_unix(0));
    let detected = detected_at
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(ReplayError::Time)?;
    let mut columns = Vec::new();
    for sc in scenarios {
        let config =
            Config::from_toml_str(&sc.policy).map_err(|e| ReplayError::Policy(sc.name, e))?;
        let p = config
            .asset(asset)
            .ok_or_else(|| ReplayError::Decide(sc.name, DecideError::UnknownAsset(asset.into())))?;
        let bad = |e: IdError| ReplayError::Decide(sc.name, DecideError::from(e));
        let asset_id = AssetId::new(asset).map_err(bad)?;
        let mut state = State::default();
        let before = start.saturating_sub(Duration::from_secs(3_600).unwrap_or_default());
        let hot = p.hot_cap().resolve(custody).min(custody);
        let ev = |state: &mut State, at, kind| {
            decide(&config, state, &Event::new(at, kind))
                .map_err(|e| ReplayError::Decide(sc.name, e))
        };
        for (wallet, amount) in [
            (Wallet::Hot, hot),
            (Wallet::Cold, custody.saturating_sub(hot)),
        ] {
            if !amount.is_zero() {
                ev(
                    &mut state,
                    before,
                    EventKind::Deposit {
                        asset: asset_id.clone(),
                        wallet,
                        amount,
                    },
                )?;
            }
        }
        let mut col = Column {
            name: sc.name,
            hot_at_start: hot,
            denied_by: Vec::new(),
            lost: Amount::ZERO,
            breaker_fired_at: None,
            bound: Amount::ZERO,
        };
        for (i, (theft, at)) in thefts.iter().zip(&times).enumerate() {
            let out = ev(
                &mut state,
                *at,
                EventKind::Withdrawal {
                    id: WithdrawalId::new(&format!("theft-{i}")).map_err(bad)?,
                    user: UserId::new(&format!("victim-{i}")).map_err(bad)?,
                    asset: asset_id.clone(),
                    destination: Destination::new("thief").map_err(bad)?,
                    amount: theft.amount,
                },
            )?;
            for c in &out.changes {
                if let Change::FreezeSet { freeze } = c {
                    if matches!(freeze.reason, FreezeReason::CircuitBreaker { .. }) {
                        col.breaker_fired_at.get_or_insert(*at);
                    }
                }
            }
            match out.decision {
                Decision::Approved { .. } => {
                    col.denied_by.push(None);
                    col.lost = col.lost.saturating_add(theft.amount);
                    // The thief's transactions confirm.
                    ev(
                        &mut state,
                        *at,
                        EventKind::Confirmed {
                            asset: asset_id.clone(),
                            id: WithdrawalId::new(&format!("theft-{i}")).map_err(bad)?,
                        },
                    )?;
                }
                Decision::Denied { rule, .. } => col.denied_by.push(Some(rule.name())),
                _ => col.denied_by.push(Some("pending")),
            }
        }
        // Without a detection time, the bound is shown for one hour.
        let span = detected.map_or(3_600, |d| d.unix().saturating_sub(start.unix()).max(1));
        let horizon = Duration::from_secs(
            u32::try_from(span)
                .unwrap_or(u32::MAX)
                .min(crate::units::MAX_DURATION_SECS),
        )
        .unwrap_or_default();
        col.bound = loss_bound(p, horizon).at_custody(custody).0;
        columns.push(col);
    }
    Ok(Replay {
        asset,
        unit,
        custody,
        thefts,
        detected_at,
        columns,
    })
}

/// Coincheck, 2018-01-26 (JST): one hot wallet held all of the customers'
/// NEM, about 526,300,010 XEM; a stolen key moved it out. Amounts in whole
/// XEM. Times as reported (the five 100,000,000 transfers between 00:02 and
/// 00:10 are spread over that span; the sources give the range). Detected
/// at 11:25.
///
/// # Errors
/// [`ReplayError`] if the built-in data is wrong (a bug).
pub fn coincheck_2018() -> Result<Replay, ReplayError> {
    let t = |at, amount| Theft {
        at,
        amount: Amount::from_units(amount),
    };
    let thefts = vec![
        t("2018-01-26T00:02:00+09:00", 10),
        t("2018-01-26T00:02:00+09:00", 100_000_000),
        t("2018-01-26T00:04:00+09:00", 100_000_000),
        t("2018-01-26T00:06:00+09:00", 100_000_000),
        t("2018-01-26T00:08:00+09:00", 100_000_000),
        t("2018-01-26T00:09:00+09:00", 100_000_000),
        t("2018-01-26T00:10:00+09:00", 20_000_000),
        t("2018-01-26T00:10:00+09:00", 3_000_000),
        t("2018-01-26T03:35:00+09:00", 1_500_000),
        t("2018-01-26T04:33:00+09:00", 1_000_000),
        t("2018-01-26T08:26:00+09:00", 800_000),
    ];
    run(
        "XEM",
        "XEM",
        Amount::from_units(526_300_010),
        thefts,
        Some("2018-01-26T11:25:00+09:00"),
        &scenarios("XEM"),
    )
}

/// Binance, 2019-05-07: 7,000 BTC left the hot wallet in one transaction
/// (block 575012, 17:17 UTC); the hot wallet held about 2% of Binance's BTC,
/// so custody ≈ 350,000 BTC. Amounts in whole BTC.
///
/// # Errors
/// [`ReplayError`] if the built-in data is wrong (a bug).
pub fn binance_2019() -> Result<Replay, ReplayError> {
    let mut sc = scenarios("BTC");
    // What Binance ran: about 2% hot, no outflow limits.
    sc[0] = Scenario {
        name: "2% hot, no limits",
        policy: policy("BTC", "hot_cap_share = \"2%\"\n"),
    };
    run(
        "BTC",
        "BTC",
        Amount::from_units(350_000),
        vec![Theft {
            at: "2019-05-07T17:17:24Z",
            amount: Amount::from_units(7_000),
        }],
        None,
        &sc,
    )
}
