//! The policy configuration: a TOML file, parsed strictly
//! (`deny_unknown_fields`) and validated into a [`Config`] whose rules hold by
//! construction. Errors name the offending key (`assets.BTC.windows[1].limit`).
//!
//! See `docs/policy.md` for the full format with an example.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::ids::{valid_name, AssetId};
use crate::units::{Amount, Duration, Level, Share};

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The text is not TOML of the expected shape (unknown key, wrong type,
    /// bad duration or percentage); the source names the key and line.
    #[error("policy is not valid toml for the expected format")]
    Toml(#[source] toml::de::Error),
    /// A value breaks a rule of the policy.
    #[error("{key}: {reason}")]
    Invalid {
        /// The dotted key of the offending value.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// An amount that is an absolute number of base units, a share of custody
/// (hot + cold on the books), or both — in which case the lower applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limit {
    amount: Option<Amount>,
    share: Option<Share>,
}

impl Limit {
    /// A limit from its absolute and share parts; `None` when both are absent.
    pub fn new(amount: Option<Amount>, share: Option<Share>) -> Option<Self> {
        if amount.is_none() && share.is_none() {
            None
        } else {
            Some(Limit { amount, share })
        }
    }

    /// The absolute part, if any.
    pub fn amount(&self) -> Option<Amount> {
        self.amount
    }

    /// The share-of-custody part, if any.
    pub fn share(&self) -> Option<Share> {
        self.share
    }

    /// The limit in base units for a custody: the lower of its parts.
    pub fn resolve(&self, custody: Amount) -> Amount {
        let a = self.amount.unwrap_or(Amount::MAX);
        let s = self.share.map_or(Amount::MAX, |s| s.of(custody));
        a.min(s)
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.amount, self.share) {
            (Some(a), Some(s)) => write!(f, "min({a}, {s} of custody)"),
            (Some(a), None) => write!(f, "{a}"),
            (None, Some(s)) => write!(f, "{s} of custody"),
            (None, None) => f.write_str("none"),
        }
    }
}

/// What an allowlist does with a destination that is not (yet) active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AllowlistMode {
    /// Deny the withdrawal.
    Deny,
    /// Hold the withdrawal until the approval quorum approves it.
    RequireApproval,
}

/// A velocity window: approved outflow within any `duration` stays within `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Window {
    duration: Duration,
    limit: Limit,
    per_user: bool,
    bucket: Duration,
}

impl Window {
    /// The window's length.
    pub fn duration(&self) -> Duration {
        self.duration
    }
    /// The most approved outflow within any span of that length.
    pub fn limit(&self) -> Limit {
        self.limit
    }
    /// Whether the limit applies to each user separately (else to the total).
    pub fn per_user(&self) -> bool {
        self.per_user
    }
    /// The accounting granularity: usage is kept in buckets of this length,
    /// and an approval keeps counting until the end of its bucket plus the
    /// window (conservative by at most one bucket).
    pub fn bucket(&self) -> Duration {
        self.bucket
    }
}

/// The destination allowlist of an asset.
#[derive(Debug, Clone)]
pub struct Allowlist {
    mode: AllowlistMode,
    activation_delay: Duration,
    /// The file's entries, for [`Allowlist::contains`]: every withdrawal
    /// looks its destination up here, and SipHash over an address was a
    /// twentieth of a decision. foldhash (randomly seeded per set) is safe
    /// for this set although destinations are attacker-chosen: its keys come
    /// from the policy file and never change, so a lookup can at worst land
    /// on the longest probe run the operators' own entries made; the
    /// attacker cannot add keys to lengthen it (the HashDoS attack needs
    /// inserts). Maps that take attacker-chosen keys keep std's SipHash.
    lookup: HashSet<String, foldhash::fast::RandomState>,
    /// The same entries in a std set, built on first use by
    /// [`Allowlist::entries`] (the engine never needs it).
    entries: OnceLock<HashSet<String>>,
}

impl PartialEq for Allowlist {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.activation_delay == other.activation_delay
            && self.lookup == other.lookup
    }
}

impl Eq for Allowlist {}

impl Allowlist {
    /// What happens to a destination that is not active.
    pub fn mode(&self) -> AllowlistMode {
        self.mode
    }
    /// How long a new entry waits before it is active.
    pub fn activation_delay(&self) -> Duration {
        self.activation_delay
    }
    /// Entries written in the policy file: active from the start.
    ///
    /// Built on the first call from the lookup set; to test one destination,
    /// [`Allowlist::contains`] is faster.
    pub fn entries(&self) -> &HashSet<String> {
        self.entries
            .get_or_init(|| self.lookup.iter().cloned().collect())
    }

    /// Whether `destination` is written in the policy file (exact match).
    pub fn contains(&self, destination: &str) -> bool {
        self.lookup.contains(destination)
    }
}

/// The approval quorum of an asset: `quorum` distinct names from `approvers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approvals {
    approvers: BTreeSet<String>,
    quorum: u32,
    threshold: Option<Amount>,
}

impl Approvals {
    /// The named approvers.
    pub fn approvers(&self) -> &BTreeSet<String> {
        &self.approvers
    }
    /// How many distinct approvers a pending withdrawal (or an unfreeze) needs.
    pub fn quorum(&self) -> u32 {
        self.quorum
    }
    /// Withdrawals strictly above this amount need the quorum (none: only
    /// the allowlist's require-approval mode sends withdrawals to it).
    pub fn threshold(&self) -> Option<Amount> {
        self.threshold
    }
}

/// The circuit breaker: when outflow *requested* within `window` would exceed
/// `limit`, all outflow of the asset freezes until a quorum unfreezes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Breaker {
    window: Duration,
    limit: Limit,
    bucket: Duration,
}

impl Breaker {
    /// The window over which requested outflow is summed.
    pub fn window(&self) -> Duration {
        self.window
    }
    /// The requested outflow that trips the breaker when exceeded.
    pub fn limit(&self) -> Limit {
        self.limit
    }
    /// The accounting granularity (see [`Window::bucket`]).
    pub fn bucket(&self) -> Duration {
        self.bucket
    }
}

/// The validated policy of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetPolicy {
    hot_cap: Limit,
    sweep_target: Level,
    refill: Option<(Level, Level)>,
    max_withdrawal: Option<Limit>,
    windows: Vec<Window>,
    allowlist: Option<Allowlist>,
    approvals: Option<Approvals>,
    breaker: Option<Breaker>,
    preset: Option<&'static str>,
    preset_fills: Vec<PresetFill>,
}

impl AssetPolicy {
    /// The hot cap: the most the hot wallet should hold after a sweep.
    pub fn hot_cap(&self) -> Limit {
        self.hot_cap
    }
    /// How far down a sweep brings the hot wallet.
    pub fn sweep_target(&self) -> Level {
        self.sweep_target
    }
    /// Refill floor and target: below the floor, propose a refill up to the target.
    pub fn refill(&self) -> Option<(Level, Level)> {
        self.refill
    }
    /// The per-withdrawal maximum.
    pub fn max_withdrawal(&self) -> Option<Limit> {
        self.max_withdrawal
    }
    /// The velocity windows, in file order (indices name them in state and changes).
    pub fn windows(&self) -> &[Window] {
        &self.windows
    }
    /// The destination allowlist.
    pub fn allowlist(&self) -> Option<&Allowlist> {
        self.allowlist.as_ref()
    }
    /// The approval quorum.
    pub fn approvals(&self) -> Option<&Approvals> {
        self.approvals.as_ref()
    }
    /// The circuit breaker.
    pub fn breaker(&self) -> Option<&Breaker> {
        self.breaker.as_ref()
    }
    /// The preset the asset starts from (`standard`, `japan`), if any.
    pub fn preset(&self) -> Option<&'static str> {
        self.preset
    }
    /// The keys the preset filled in beside the other key of their pair,
    /// which the file wrote (in the order of the format's table).
    pub fn preset_fills(&self) -> &[PresetFill] {
        &self.preset_fills
    }
}

/// A validated policy: one [`AssetPolicy`] per asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    assets: BTreeMap<AssetId, AssetPolicy>,
}

impl Config {
    /// Parses and validates a policy file's text.
    ///
    /// # Errors
    /// [`ConfigError::Toml`] for a malformed file or an unknown key,
    /// [`ConfigError::Invalid`] naming the key of a value that breaks a rule.
    ///
    /// # Example
    /// ```
    /// # fn main() -> Result<(), kinko_policy::ConfigError> {
    /// let config = kinko_policy::Config::from_toml_str(r#"
    ///     [assets.BTC]
    ///     hot_cap = 5_000_000_000
    ///     hot_cap_share = "5%"
    ///     [[assets.BTC.windows]]
    ///     duration = "24h"
    ///     limit = 1_000_000_000
    /// "#)?;
    /// assert!(config.asset("BTC").is_some());
    /// # Ok(()) }
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(ConfigError::Toml)?;
        raw.validate()
    }

    /// The policy of an asset.
    pub fn asset(&self, asset: &str) -> Option<&AssetPolicy> {
        self.assets.get(asset)
    }

    /// All assets and their policies, sorted by asset id.
    pub fn assets(&self) -> impl Iterator<Item = (&AssetId, &AssetPolicy)> {
        self.assets.iter()
    }
}

/// The names of the presets a policy may start from.
pub const PRESETS: &[&str] = &["standard", "japan"];

/// The Japanese rule since 2020 (Payment Services Act, Cabinet Office
/// ordinance): at most 5% of customers' crypto assets may be held online.
pub const JAPAN_HOT_SHARE: Share = match Share::from_bps(500) {
    Some(s) => s,
    None => Share::WHOLE,
};

// ----- the file's shape (private: validated into the types above) -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    assets: BTreeMap<String, RawAsset>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAsset {
    preset: Option<String>,
    hot_cap: Option<Amount>,
    hot_cap_share: Option<Share>,
    sweep_target: Option<Level>,
    refill_floor: Option<Level>,
    refill_target: Option<Level>,
    max_withdrawal: Option<Amount>,
    max_withdrawal_share: Option<Share>,
    windows: Option<Vec<RawWindow>>,
    allowlist: Option<RawAllowlist>,
    approvals: Option<RawApprovals>,
    breaker: Option<RawBreaker>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    duration: Duration,
    limit: Option<Amount>,
    share: Option<Share>,
    #[serde(default)]
    per_user: bool,
    bucket: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllowlist {
    mode: AllowlistMode,
    activation_delay: Duration,
    #[serde(default)]
    entries: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprovals {
    approvers: Vec<String>,
    quorum: u32,
    threshold: Option<Amount>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    window: Duration,
    limit: Option<Amount>,
    share: Option<Share>,
    bucket: Option<Duration>,
}

/// Most velocity windows per asset.
pub const MAX_WINDOWS: usize = 16;

fn share(bps: u32) -> Share {
    Share::from_bps(bps.min(crate::units::BPS_PER_WHOLE)).unwrap_or(Share::WHOLE)
}

/// The values of a preset, in the file's own shape: the keys it writes.
fn preset_keys(name: &str) -> Option<RawAsset> {
    let hot_share = match name {
        "standard" => share(1_000),
        "japan" => JAPAN_HOT_SHARE,
        _ => return None,
    };
    let w = |d: u32, bps: u32| RawWindow {
        duration: Duration::from_secs(d).unwrap_or_default(),
        limit: None,
        share: Some(share(bps)),
        per_user: false,
        bucket: None,
    };
    Some(RawAsset {
        hot_cap_share: Some(hot_share),
        sweep_target: Some(Level::ShareOfCap(share(8_000))),
        refill_floor: Some(Level::ShareOfCap(share(2_000))),
        refill_target: Some(Level::ShareOfCap(share(5_000))),
        max_withdrawal_share: Some(share(50)),
        windows: Some(vec![w(600, 100), w(3_600, 200), w(86_400, 500)]),
        breaker: Some(RawBreaker {
            window: Duration::from_secs(3_600).unwrap_or_default(),
            limit: None,
            share: Some(share(300)),
            bucket: None,
        }),
        ..RawAsset::default()
    })
}

/// A key a preset filled in beside the other key of its pair, which the
/// policy file wrote: `max_withdrawal_share = 0.5%` beside `max_withdrawal`.
/// Both keys then apply (the lower amount; for the refill pair, the file's
/// floor with the preset's target), which `kinko policy check` warns about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresetFill {
    /// The key the preset filled in (`max_withdrawal_share`).
    pub key: &'static str,
    /// Its value (`0.5%`).
    pub value: String,
    /// The other key of the pair, written in the file (`max_withdrawal`).
    pub beside: &'static str,
}

/// One key of a pair: the file's value, the preset's, and the key's name.
type Half<'a, T> = (&'a mut Option<T>, Option<T>, &'static str);

/// Fills in each half of a pair the file left out from the preset, and
/// records a [`PresetFill`] when the file wrote the other half.
fn fill_pair<A, B>(a: Half<'_, A>, b: Half<'_, B>, fills: &mut Vec<PresetFill>)
where
    A: Copy + std::fmt::Display,
    B: Copy + std::fmt::Display,
{
    let (wrote_a, wrote_b) = (a.0.is_some(), b.0.is_some());
    let (key_a, key_b) = (a.2, b.2);
    fill_half(a, key_b, wrote_b, fills);
    fill_half(b, key_a, wrote_a, fills);
}

fn fill_half<T: Copy + std::fmt::Display>(
    (mine, preset, key): Half<'_, T>,
    beside: &'static str,
    beside_written: bool,
    fills: &mut Vec<PresetFill>,
) {
    if mine.is_some() {
        return;
    }
    *mine = preset;
    if let (Some(v), true) = (preset, beside_written) {
        fills.push(PresetFill {
            key,
            value: v.to_string(),
            beside,
        });
    }
}

impl RawAsset {
    /// The one rule of presets: every key of `[assets.<ID>]` the file leaves
    /// out takes the preset's value. A pair (`hot_cap`/`hot_cap_share`,
    /// `max_withdrawal`/`max_withdrawal_share`, `refill_floor`/`refill_target`)
    /// is two keys, filled in half by half; a table (`windows`, `breaker`,
    /// `allowlist`, `approvals`) is one key, replaced whole when written.
    fn apply_preset(&mut self, p: RawAsset) -> Vec<PresetFill> {
        let mut fills = Vec::new();
        fill_pair(
            (&mut self.hot_cap, p.hot_cap, "hot_cap"),
            (&mut self.hot_cap_share, p.hot_cap_share, "hot_cap_share"),
            &mut fills,
        );
        fill_pair(
            (&mut self.max_withdrawal, p.max_withdrawal, "max_withdrawal"),
            (
                &mut self.max_withdrawal_share,
                p.max_withdrawal_share,
                "max_withdrawal_share",
            ),
            &mut fills,
        );
        fill_pair(
            (&mut self.refill_floor, p.refill_floor, "refill_floor"),
            (&mut self.refill_target, p.refill_target, "refill_target"),
            &mut fills,
        );
        self.sweep_target = self.sweep_target.or(p.sweep_target);
        self.windows = self.windows.take().or(p.windows);
        self.allowlist = self.allowlist.take().or(p.allowlist);
        self.approvals = self.approvals.take().or(p.approvals);
        self.breaker = self.breaker.take().or(p.breaker);
        fills
    }
}

fn default_bucket(d: Duration) -> Duration {
    Duration::from_secs((d.secs() / 60).max(1)).unwrap_or(d)
}

fn check_bucket(
    key: &str,
    window: Duration,
    bucket: Option<Duration>,
) -> Result<Duration, ConfigError> {
    match bucket {
        None => Ok(default_bucket(window)),
        Some(b) if b.secs() == 0 => Err(invalid(key, "bucket must be longer than 0s")),
        // Usage is counted up to one bucket longer than the window: keep
        // that slack (and the gap between the loss bound and what an
        // attacker can reach) within 10%.
        Some(b) if u64::from(b.secs()) * 10 > u64::from(window.secs()) => {
            Err(invalid(key, "bucket must be at most a tenth of the window"))
        }
        Some(b) => Ok(b),
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let mut assets = BTreeMap::new();
        for (id, raw) in self.assets {
            let key = format!("assets.{id}");
            let Ok(id) = AssetId::new(&id) else {
                return Err(invalid(
                    key,
                    "asset ids are 1 to 64 characters from A-Z a-z 0-9 . _ -",
                ));
            };
            let policy = raw.validate(&key)?;
            assets.insert(id, policy);
        }
        Ok(Config { assets })
    }
}

fn comparable(a: Level, b: Level) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Level::Amount(x), Level::Amount(y)) => Some(x.cmp(&y)),
        (Level::ShareOfCap(x), Level::ShareOfCap(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

impl RawAsset {
    fn validate(mut self, key: &str) -> Result<AssetPolicy, ConfigError> {
        let preset = match self.preset.take() {
            None => None,
            Some(name) => {
                let Some(p) = PRESETS.iter().find(|&&n| n == name) else {
                    return Err(invalid(
                        format!("{key}.preset"),
                        format!("unknown preset {name:?} (known: standard, japan)"),
                    ));
                };
                if *p == "japan" {
                    if let Some(s) = self.hot_cap_share.filter(|&s| s > JAPAN_HOT_SHARE) {
                        return Err(invalid(
                            format!("{key}.hot_cap_share"),
                            format!(
                                "the japan preset allows at most {JAPAN_HOT_SHARE} of custody hot, not {s}"
                            ),
                        ));
                    }
                }
                Some(*p)
            }
        };
        let preset_fills = match preset.and_then(preset_keys) {
            Some(keys) => self.apply_preset(keys),
            None => Vec::new(),
        };

        let hot_cap = Limit::new(self.hot_cap, self.hot_cap_share).ok_or_else(|| {
            invalid(
                format!("{key}.hot_cap"),
                "hot_cap or hot_cap_share is required (a hot wallet without a cap is what kinko prevents)",
            )
        })?;
        let sweep_target = self.sweep_target.unwrap_or(Level::ShareOfCap(Share::WHOLE));
        let refill = match (self.refill_floor, self.refill_target) {
            (None, None) => None,
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    format!("{key}.refill_floor"),
                    "refill_floor and refill_target go together",
                ))
            }
            (Some(floor), Some(target)) => {
                if comparable(floor, target).is_some_and(|o| o.is_ge()) {
                    return Err(invalid(
                        format!("{key}.refill_floor"),
                        "must be below refill_target",
                    ));
                }
                if comparable(target, sweep_target).is_some_and(|o| o.is_gt()) {
                    return Err(invalid(
                        format!("{key}.refill_target"),
                        "must not be above sweep_target (a refill would trigger a sweep)",
                    ));
                }
                Some((floor, target))
            }
        };
        if self.max_withdrawal == Some(Amount::ZERO) {
            return Err(invalid(format!("{key}.max_withdrawal"), "must be above 0"));
        }
        let max_withdrawal = Limit::new(self.max_withdrawal, self.max_withdrawal_share);

        let raw_windows = self.windows.unwrap_or_default();
        if raw_windows.len() > MAX_WINDOWS {
            return Err(invalid(
                format!("{key}.windows"),
                format!("at most {MAX_WINDOWS} windows"),
            ));
        }
        let mut windows = Vec::with_capacity(raw_windows.len());
        let mut seen = BTreeSet::new();
        for (i, w) in raw_windows.into_iter().enumerate() {
            let wkey = format!("{key}.windows[{i}]");
            if w.duration.secs() == 0 {
                return Err(invalid(
                    format!("{wkey}.duration"),
                    "must be longer than 0s",
                ));
            }
            if !seen.insert((w.duration, w.per_user)) {
                return Err(invalid(
                    format!("{wkey}.duration"),
                    "two windows of the same duration and scope",
                ));
            }
            let limit = Limit::new(w.limit, w.share)
                .ok_or_else(|| invalid(format!("{wkey}.limit"), "limit or share is required"))?;
            let bucket = check_bucket(&format!("{wkey}.bucket"), w.duration, w.bucket)?;
            windows.push(Window {
                duration: w.duration,
                limit,
                per_user: w.per_user,
                bucket,
            });
        }

        let approvals = match self.approvals {
            None => None,
            Some(a) => {
                let akey = format!("{key}.approvals");
                let mut set = BTreeSet::new();
                for name in a.approvers {
                    if !valid_name(&name) {
                        return Err(invalid(
                            format!("{akey}.approvers"),
                            "approver names are 1 to 256 characters without spaces",
                        ));
                    }
                    if !set.insert(name) {
                        return Err(invalid(
                            format!("{akey}.approvers"),
                            "an approver is listed twice",
                        ));
                    }
                }
                if a.quorum == 0 || a.quorum as usize > set.len() {
                    return Err(invalid(
                        format!("{akey}.quorum"),
                        format!(
                            "must be between 1 and the number of approvers ({})",
                            set.len()
                        ),
                    ));
                }
                Some(Approvals {
                    approvers: set,
                    quorum: a.quorum,
                    threshold: a.threshold,
                })
            }
        };

        let allowlist = match self.allowlist {
            None => None,
            Some(al) => {
                let lkey = format!("{key}.allowlist");
                if al.mode == AllowlistMode::RequireApproval && approvals.is_none() {
                    return Err(invalid(
                        format!("{lkey}.mode"),
                        format!("require-approval needs {key}.approvals"),
                    ));
                }
                let mut entries = HashSet::with_capacity_and_hasher(
                    al.entries.len(),
                    foldhash::fast::RandomState::default(),
                );
                for (i, e) in al.entries.into_iter().enumerate() {
                    if !valid_name(&e) {
                        return Err(invalid(
                            format!("{lkey}.entries[{i}]"),
                            "destinations are 1 to 256 characters without spaces",
                        ));
                    }
                    if !entries.insert(e) {
                        return Err(invalid(format!("{lkey}.entries[{i}]"), "listed twice"));
                    }
                }
                Some(Allowlist {
                    mode: al.mode,
                    activation_delay: al.activation_delay,
                    lookup: entries,
                    entries: OnceLock::new(),
                })
            }
        };

        let breaker = match self.breaker {
            None => None,
            Some(b) => {
                let bkey = format!("{key}.breaker");
                if b.window.secs() == 0 {
                    return Err(invalid(format!("{bkey}.window"), "must be longer than 0s"));
                }
                let limit = Limit::new(b.limit, b.share).ok_or_else(|| {
                    invalid(format!("{bkey}.limit"), "limit or share is required")
                })?;
                if approvals.is_none() {
                    return Err(invalid(
                        bkey,
                        format!("needs {key}.approvals (only a quorum can unfreeze)"),
                    ));
                }
                let bucket = check_bucket(&format!("{bkey}.bucket"), b.window, b.bucket)?;
                Some(Breaker {
                    window: b.window,
                    limit,
                    bucket,
                })
            }
        };

        Ok(AssetPolicy {
            hot_cap,
            sweep_target,
            refill,
            max_withdrawal,
            windows,
            allowlist,
            approvals,
            breaker,
            preset,
            preset_fills,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match Config::from_toml_str(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(ConfigError::Invalid { key, reason }) => format!("{key}: {reason}"),
            Err(ConfigError::Toml(e)) => format!("toml: {e}"),
        }
    }

    #[test]
    fn minimal_and_preset_configs_parse() {
        let c = Config::from_toml_str("[assets.BTC]\nhot_cap = 100\n").unwrap();
        let p = c.asset("BTC").unwrap();
        assert_eq!(p.hot_cap().resolve(Amount::from_units(1_000_000)), 100);
        assert!(p.windows().is_empty());

        let c = Config::from_toml_str(
            "[assets.XEM]\npreset = \"japan\"\n[assets.XEM.approvals]\napprovers = [\"a\", \"b\"]\nquorum = 2\n",
        )
        .unwrap();
        let p = c.asset("XEM").unwrap();
        assert_eq!(
            p.hot_cap().resolve(Amount::from_units(526_300_010)),
            26_315_000
        );
        assert_eq!(p.windows().len(), 3);
        assert!(p.breaker().is_some());
    }

    #[test]
    fn errors_name_the_key() {
        assert!(err("[assets.BTC]\nhot_cap = 1\nhot_capp = 2\n").contains("hot_capp"));
        assert_eq!(
            err("[assets.BTC]\nmax_withdrawal = 5\n"),
            "assets.BTC.hot_cap: hot_cap or hot_cap_share is required (a hot wallet without a cap is what kinko prevents)"
        );
        assert!(
            err("[assets.BTC]\nhot_cap = 1\n[[assets.BTC.windows]]\nduration = \"1h\"\n")
                .starts_with("assets.BTC.windows[0].limit:")
        );
        assert!(err(
            "[assets.BTC]\nhot_cap = 1\n[[assets.BTC.windows]]\nduration = \"1.5h\"\nlimit = 3\n"
        )
        .contains("invalid duration"));
        assert!(
            err("[assets.BTC]\nhot_cap_share = \"6%\"\npreset = \"japan\"\n")
                .starts_with("assets.BTC.hot_cap_share: the japan preset")
        );
        assert!(err(
            "[assets.BTC]\nhot_cap = 1\n[assets.BTC.breaker]\nwindow = \"1h\"\nlimit = 5\n"
        )
        .starts_with("assets.BTC.breaker: needs assets.BTC.approvals"));
        assert!(err(
            "[assets.BTC]\nhot_cap = 1\n[assets.BTC.approvals]\napprovers = [\"a\"]\nquorum = 2\n"
        )
        .starts_with("assets.BTC.approvals.quorum:"));
        assert!(err("[assets.BTC]\nhot_cap = 1\n[assets.BTC.approvals]\napprovers = [\"a\", \"a\"]\nquorum = 1\n")
            .contains("listed twice"));
        assert!(err(
            "[assets.BTC]\nhot_cap = 1\nrefill_floor = \"50%\"\nrefill_target = \"20%\"\n"
        )
        .starts_with("assets.BTC.refill_floor:"));
        assert!(
            err("[assets.BTC]\nhot_cap = 1\npreset = \"usa\"\n").starts_with("assets.BTC.preset:")
        );
        assert!(err("[assets.\"B C\"]\nhot_cap = 1\n").starts_with("assets.B C:"));
        assert!(err("[assets.BTC]\nhot_cap = -1\n").starts_with("toml:"));
        assert!(err("[assets.BTC]\nhot_cap = 1.5\n").starts_with("toml:"));
        assert!(err("[assets.BTC]\nhot_cap = 1\n[assets.BTC.allowlist]\nmode = \"require-approval\"\nactivation_delay = \"1d\"\n")
            .starts_with("assets.BTC.allowlist.mode:"));
    }
}
