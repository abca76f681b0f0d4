//! Generators of policies and event streams from any source of entropy: a
//! seeded PRNG (the proptest strategies of the `proptest` feature) or the
//! bytes of a fuzzer's input (the `policy_events` fuzz target), so both
//! explore the same space.
//!
//! Streams mix the traffic the invariants must survive: honest withdrawals,
//! bursts at one instant, an attacker holding the hot key (many users, new
//! destinations, amounts at and above every limit), clocks landing exactly on
//! window and activation edges, approvals by listed and unlisted names,
//! confirmations and failures, balance observations, freezes, and
//! occasionally a clock going backwards.

use std::fmt::Write as _;

use crate::config::Config;
use crate::event::{Event, EventKind, Wallet};
use crate::ids::{AssetId, Destination, UserId, WithdrawalId};
use crate::units::{Amount, Timestamp};

/// A source of random numbers for the generators.
pub trait Entropy {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64;

    /// A number in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A number in `lo..=hi`, log-uniform-ish (spreads over magnitudes).
    fn magnitude(&mut self, lo: u64, hi: u64) -> u64 {
        let hi = hi.max(lo);
        let bits_lo = 64 - lo.max(1).leading_zeros();
        let bits_hi = 64 - hi.leading_zeros();
        let bits = bits_lo + self.below(u64::from(bits_hi - bits_lo + 1)) as u32;
        let top = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let v = self.below(top.saturating_add(1).max(1)).max(top >> 1);
        v.clamp(lo, hi)
    }
}

/// SplitMix64: a tiny, good-enough PRNG for test generation (not for keys).
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl Entropy for SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Entropy read from bytes (a fuzzer's input); zeros once they run out.
#[derive(Debug, Clone)]
pub struct ByteEntropy<'a> {
    bytes: &'a [u8],
}

impl<'a> ByteEntropy<'a> {
    /// Reads from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteEntropy { bytes }
    }

    /// Whether the bytes are used up.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl Entropy for ByteEntropy<'_> {
    fn next_u64(&mut self) -> u64 {
        let mut buf = [0u8; 8];
        let n = self.bytes.len().min(8);
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        u64::from_le_bytes(buf)
    }
}

/// The asset every generated policy and stream uses.
pub const ASSET: &str = "A";
/// The approver names generated policies draw from.
pub const APPROVERS: [&str; 4] = ["ann", "ben", "cat", "dan"];
/// Destinations generated policies may list in the file.
pub const FILE_DESTINATIONS: [&str; 3] = ["d0", "d1", "d2"];

const DURATIONS: [u32; 8] = [60, 300, 600, 3_600, 7_200, 21_600, 86_400, 604_800];

fn duration(e: &mut impl Entropy) -> u32 {
    if e.chance(1, 5) {
        1 + e.below(100_000) as u32
    } else {
        DURATIONS[e.below(DURATIONS.len() as u64) as usize]
    }
}

fn share(e: &mut impl Entropy, lo_bps: u64, hi_bps: u64) -> String {
    let bps = lo_bps + e.below(hi_bps - lo_bps + 1);
    format!("\"{}.{:02}%\"", bps / 100, bps % 100)
}

fn limit_keys(e: &mut impl Entropy, out: &mut String, lo: u64, hi: u64) {
    let which = e.below(3);
    if which != 1 {
        let _ = writeln!(out, "limit = {}", e.magnitude(lo, hi));
    }
    if which != 0 {
        let _ = writeln!(out, "share = {}", share(e, 1, 3_000));
    }
}

/// A valid policy file for asset [`ASSET`] (TOML text). Every generated text
/// parses; amounts span 10^3..10^10 base units so that limits, caps and
/// custody cross each other in every order.
pub fn config_toml(e: &mut impl Entropy) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "[assets.{ASSET}]");
    match e.below(3) {
        0 => {
            let _ = writeln!(t, "hot_cap = {}", e.magnitude(1_000, 10_000_000_000));
        }
        1 => {
            let _ = writeln!(t, "hot_cap_share = {}", share(e, 1, 10_000));
        }
        _ => {
            let _ = writeln!(t, "hot_cap = {}", e.magnitude(1_000, 10_000_000_000));
            let _ = writeln!(t, "hot_cap_share = {}", share(e, 1, 10_000));
        }
    }
    let sweep_bps = 5_000 + e.below(5_001);
    let _ = writeln!(
        t,
        "sweep_target = \"{}.{:02}%\"",
        sweep_bps / 100,
        sweep_bps % 100
    );
    if e.chance(1, 2) {
        let floor = e.below(3_000);
        let target = floor + 1 + e.below(sweep_bps - floor - 1);
        let _ = writeln!(t, "refill_floor = \"{}.{:02}%\"", floor / 100, floor % 100);
        let _ = writeln!(
            t,
            "refill_target = \"{}.{:02}%\"",
            target / 100,
            target % 100
        );
    }
    if e.chance(1, 2) {
        let _ = writeln!(t, "max_withdrawal = {}", e.magnitude(1_000, 1_000_000_000));
    }
    let n_windows = e.below(4);
    let mut used = Vec::new();
    for _ in 0..n_windows {
        let d = duration(e);
        let per_user = e.chance(1, 4);
        if used.contains(&(d, per_user)) {
            continue;
        }
        used.push((d, per_user));
        let _ = writeln!(t, "[[assets.{ASSET}.windows]]\nduration = \"{d}s\"");
        limit_keys(e, &mut t, 1_000, 10_000_000_000);
        if per_user {
            let _ = writeln!(t, "per_user = true");
        }
        if d >= 10 && e.chance(1, 3) {
            let _ = writeln!(t, "bucket = \"{}s\"", 1 + e.below(u64::from(d / 10)));
        }
    }
    let approvals = e.below(3) != 0;
    let n_approvers = 1 + e.below(APPROVERS.len() as u64) as usize;
    if approvals {
        let names: Vec<String> = APPROVERS[..n_approvers]
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        let _ = writeln!(
            t,
            "[assets.{ASSET}.approvals]\napprovers = [{}]\nquorum = {}",
            names.join(", "),
            1 + e.below(n_approvers as u64)
        );
        if e.chance(1, 2) {
            let _ = writeln!(t, "threshold = {}", e.magnitude(1_000, 1_000_000_000));
        }
    }
    if e.chance(1, 2) {
        let mode = if approvals && e.chance(1, 2) {
            "require-approval"
        } else {
            "deny"
        };
        let delay = if e.chance(1, 4) { 0 } else { duration(e) };
        let n = e.below(FILE_DESTINATIONS.len() as u64 + 1) as usize;
        let entries: Vec<String> = FILE_DESTINATIONS[..n]
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect();
        let _ = writeln!(
            t,
            "[assets.{ASSET}.allowlist]\nmode = \"{mode}\"\nactivation_delay = \"{delay}s\"\nentries = [{}]",
            entries.join(", ")
        );
    }
    if approvals && e.chance(1, 2) {
        let d = duration(e);
        let _ = writeln!(t, "[assets.{ASSET}.breaker]\nwindow = \"{d}s\"");
        if d >= 10 && e.chance(1, 3) {
            let _ = writeln!(t, "bucket = \"{}s\"", 1 + e.below(u64::from(d / 10)));
        }
        limit_keys(e, &mut t, 1_000, 10_000_000_000);
    }
    t
}

/// A generated policy (see [`config_toml`]).
pub fn config(e: &mut impl Entropy) -> Config {
    let text = config_toml(e);
    match Config::from_toml_str(&text) {
        Ok(c) => c,
        // The generator only writes valid files; a failure is a bug in it,
        // surfaced by the kit's own tests. Fall back to the smallest policy.
        Err(_) => Config::from_toml_str("[assets.A]\nhot_cap = 1000\n").unwrap_or_default(),
    }
}

/// The first instant of generated streams: 2026-01-01T00:00:00Z.
pub const START: i64 = 1_767_225_600;

/// Edges of the policy's windows, buckets and activation delay: the deltas
/// at which off-by-one errors live.
fn edges(config: &Config) -> Vec<i64> {
    let mut v = vec![0, 1];
    if let Some(p) = config.asset(ASSET) {
        let mut push = |d: u32| {
            let d = i64::from(d);
            v.extend([d - 1, d, d + 1]);
        };
        for w in p.windows() {
            push(w.duration().secs());
            push(w.bucket().secs());
        }
        if let Some(b) = p.breaker() {
            push(b.window().secs());
            push(b.bucket().secs());
        }
        if let Some(a) = p.allowlist() {
            push(a.activation_delay().secs());
        }
    }
    v.retain(|d| *d >= 0);
    v
}

/// A typical amount for the policy: near its limits, so that streams cross them.
fn amount(e: &mut impl Entropy, scale: u64) -> Amount {
    Amount::from_units(match e.below(8) {
        0 => 1,
        1 => scale,
        2 => scale.saturating_add(1),
        3 => scale.saturating_sub(1).max(1),
        4 => e.magnitude(1, u64::MAX >> 8),
        _ => e.magnitude(1, scale.max(2)),
    })
}

/// A stream of `len` events for a policy, in the mix described in the
/// module documentation. Times start at [`START`]; about one event in 64
/// steps back in time (the engine must refuse it).
pub fn events(config: &Config, e: &mut impl Entropy, len: usize) -> Vec<Event> {
    let edges = edges(config);
    let policy = config.asset(ASSET);
    // A scale for amounts: the smallest absolute limit in the policy, or 10^6.
    let mut scale: u64 = 1_000_000;
    if let Some(p) = policy {
        let limits = p
            .windows()
            .iter()
            .map(|w| w.limit())
            .chain(p.breaker().map(|b| b.limit()))
            .chain(p.max_withdrawal())
            .chain(Some(p.hot_cap()));
        for l in limits {
            if let Some(a) = l.amount() {
                scale = scale.min(a.units());
            }
        }
    }
    let mut out = Vec::with_capacity(len + 2);
    let mut now = START;
    let asset = || AssetId::new_unchecked(ASSET);
    // Funding first: custody a few times the scale, part of it hot.
    let custody = scale.saturating_mul(1 + e.below(200));
    let hot = custody / (1 + e.below(10));
    for (wallet, amount) in [(Wallet::Cold, custody - hot), (Wallet::Hot, hot)] {
        let amount = Amount::from_units(amount);
        if !amount.is_zero() {
            out.push(Event::new(
                Timestamp::from_unix(now),
                EventKind::Deposit {
                    asset: asset(),
                    wallet,
                    amount,
                },
            ));
        }
    }
    let attacker = e.chance(1, 3);
    let mut next_id = 0u64;
    for _ in 0..len {
        // Time: mostly small steps, often exactly at an edge, bursts at 0.
        // About one event in 80 is stamped before the last one (the engine
        // must refuse it); the stream's clock itself never goes back.
        let dt = match e.below(10) {
            0..=2 => 0,
            3..=5 => edges[e.below(edges.len() as u64) as usize],
            6 => e.below(100_000) as i64,
            _ => e.below(120) as i64,
        };
        now = now.saturating_add(dt);
        let at = if e.chance(1, 80) {
            Timestamp::from_unix(now.saturating_sub(1 + e.below(600) as i64))
        } else {
            Timestamp::from_unix(now)
        };
        let wid = |n: u64| WithdrawalId::new_unchecked(&format!("w{n}"));
        let id = |e: &mut dyn FnMut(u64) -> u64, next: &mut u64| -> WithdrawalId {
            // Mostly new ids, sometimes a recent one again (duplicates).
            if *next > 0 && e(10) == 0 {
                wid(e(*next))
            } else {
                *next += 1;
                wid(*next - 1)
            }
        };
        let kind = match e.below(if attacker { 12 } else { 16 }) {
            0..=5 => {
                let mut f = |n| e.below(n);
                let id = id(&mut f, &mut next_id);
                let (user, destination) = if attacker {
                    (
                        format!("x{}", e.below(1_000)),
                        format!("evil{}", e.below(3)),
                    )
                } else {
                    let d = e.below(6);
                    let dest = if d < 3 {
                        FILE_DESTINATIONS[d as usize].to_owned()
                    } else {
                        format!("evil{}", d - 3)
                    };
                    (format!("u{}", e.below(5)), dest)
                };
                EventKind::Withdrawal {
                    id,
                    user: UserId::new_unchecked(&user),
                    asset: asset(),
                    destination: Destination::new_unchecked(&destination),
                    amount: amount(e, scale),
                }
            }
            6 => EventKind::Approval {
                asset: asset(),
                id: wid(next_id.saturating_sub(1 + e.below(4))),
                approver: if e.chance(1, 6) {
                    "mallory".to_owned()
                } else {
                    APPROVERS[e.below(APPROVERS.len() as u64) as usize].to_owned()
                },
            },
            7 => {
                let id = wid(next_id.saturating_sub(1 + e.below(4)));
                if e.chance(1, 3) {
                    // A batch: one to three recent withdrawals (sometimes one
                    // twice) and a fee.
                    let n = 1 + e.below(3);
                    let withdrawals = (0..n)
                        .map(|_| wid(next_id.saturating_sub(1 + e.below(4))))
                        .collect();
                    EventKind::TxConfirmed {
                        asset: asset(),
                        tx: format!("t{}", e.below(1_000)),
                        withdrawals,
                        fee: Amount::from_units(e.below(1_000)),
                    }
                } else if e.chance(3, 4) {
                    EventKind::Confirmed { asset: asset(), id }
                } else {
                    EventKind::Failed { asset: asset(), id }
                }
            }
            8 => EventKind::AllowlistAdd {
                asset: asset(),
                destination: Destination::new_unchecked(&format!("evil{}", e.below(3))),
            },
            9 => match e.below(12) {
                0..=2 => EventKind::AllowlistCancel {
                    asset: asset(),
                    destination: Destination::new_unchecked(&format!("evil{}", e.below(3))),
                },
                3 => EventKind::Freeze {
                    asset: asset(),
                    by: "ops".to_owned(),
                    reason: "drill".to_owned(),
                },
                4..=8 => EventKind::Unfreeze {
                    asset: asset(),
                    approver: APPROVERS[e.below(APPROVERS.len() as u64) as usize].to_owned(),
                },
                // Mostly a balance the books explain; sometimes a shortfall.
                9 => EventKind::HotBalance {
                    asset: asset(),
                    balance: Amount::from_units(e.magnitude(0, custody.max(1))),
                },
                _ => EventKind::HotBalance {
                    asset: asset(),
                    balance: Amount::MAX,
                },
            },
            10 => {
                let amount = amount(e, scale);
                match e.below(3) {
                    0 => EventKind::Sweep {
                        asset: asset(),
                        amount,
                    },
                    1 => EventKind::Refill {
                        asset: asset(),
                        amount,
                    },
                    _ => EventKind::Deposit {
                        asset: asset(),
                        wallet: if e.chance(1, 2) {
                            Wallet::Hot
                        } else {
                            Wallet::Cold
                        },
                        amount,
                    },
                }
            }
            _ => EventKind::Tick { asset: asset() },
        };
        out.push(Event::new(at, kind));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_policy_parses() {
        for seed in 0..2_000u64 {
            let text = config_toml(&mut SplitMix64(seed));
            if let Err(err) = Config::from_toml_str(&text) {
                panic!("seed {seed}: {err}\n{text}");
            }
        }
    }

    #[test]
    fn byte_entropy_never_panics_and_runs_out_to_zeros() {
        let mut e = ByteEntropy::new(&[1, 2, 3]);
        assert_eq!(e.next_u64(), 0x030201);
        assert!(e.is_empty());
        assert_eq!(e.next_u64(), 0);
        let c = config(&mut ByteEntropy::new(&[]));
        let ev = events(&c, &mut ByteEntropy::new(&[0xff; 5]), 50);
        assert!(ev.len() >= 50);
    }
}
