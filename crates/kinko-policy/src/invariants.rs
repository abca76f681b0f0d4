//! The engine's invariants, checked against a small reference model that
//! keeps the full history (exact sliding windows, its own allowlist and
//! approval bookkeeping), and a greedy attacker that measures how close the
//! worst-case loss bound is.
//!
//! Used by the proptest kit (feature `proptest`), by the `policy_events` fuzz
//! target and by risk teams on their own policies.

use std::collections::{BTreeSet, HashMap};

use crate::bound::{loss_bound, LossBound};
use crate::config::{AllowlistMode, AssetPolicy, Config};
use crate::decision::{Change, DecideError, Decision, Proposal, Rule};
use crate::engine::{decide, decide_asset};
use crate::event::{Event, EventKind, Wallet};
use crate::ids::{AssetId, Destination, UserId, WithdrawalId};
use crate::record::WithdrawalStatus;
use crate::state::{AssetState, State};
use crate::units::{Amount, Duration, Timestamp};

/// An invariant that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index of the event after which it failed.
    pub index: usize,
    /// Which invariant (a short stable name).
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invariant {} broken at event {}: {}",
            self.invariant, self.index, self.detail
        )
    }
}

impl std::error::Error for Violation {}

/// What a checked stream did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvariantReport {
    /// Events accepted by the engine.
    pub accepted: usize,
    /// Events refused outright.
    pub refused: usize,
    /// Withdrawals approved.
    pub approved: usize,
    /// Their total amount.
    pub approved_amount: Amount,
    /// Whether the asset was ever frozen.
    pub froze: bool,
    /// The largest outflow an attacker could have caused within 1h and 24h
    /// (approvals the threat model of [`crate::loss_bound`] reaches), with the
    /// bound it was checked against.
    pub attacker_max: [(Amount, Amount); 2],
}

struct Approval {
    id: WithdrawalId,
    at: Timestamp,
    amount: Amount,
    user: UserId,
    custody: Amount,
    via_quorum: bool,
    /// When the destination was added by an event; `None` for file entries
    /// or without an allowlist.
    added_at: Option<Timestamp>,
}

fn violation(index: usize, invariant: &'static str, detail: String) -> Violation {
    Violation {
        index,
        invariant,
        detail,
    }
}

/// Runs `events` through the engine from an empty state and checks, after
/// every event:
///
/// - `time_order`: an event older than the last accepted one is refused,
///   and a refused event leaves the state unchanged;
/// - `idempotent_id`: a withdrawal id seen before is a duplicate, never a
///   second reservation;
/// - `books`: reserved equals the sum of reserved withdrawals and is at most hot;
/// - `hot_cap`: hot is within `max(cap, reserved)`, or the sweep proposed
///   brings it there (and never below what is reserved);
/// - `velocity`: for every approval at `t`, approved outflow in `(t - W, t]`
///   (total, or the user's) is within each window's limit — exact, over the
///   whole history, across users and window edges;
/// - `breaker`: when exact requested outflow in the breaker's window exceeds
///   its limit, the asset is frozen;
/// - `frozen`: nothing is approved while frozen;
/// - `allowlist`: no direct approval to a destination before it is active;
/// - `quorum`: a withdrawal that needs approvals is approved only once `k`
///   distinct listed approvers approved it;
/// - `loss_bound`: outflow the attacker of [`crate::loss_bound`] could cause
///   within any 1h or 24h span (approvals without a quorum, to destinations
///   the attacker could add within the span, not released later) stays
///   within the bound (taken at the largest custody seen, or all deposits
///   when no rule limits outflow; the breaker's term is dropped for spans
///   where a quorum lifted a freeze).
///
/// # Errors
/// The first [`Violation`].
pub fn check_invariants(config: &Config, events: &[Event]) -> Result<InvariantReport, Violation> {
    let mut state = State::default();
    let mut report = InvariantReport::default();
    let mut approvals: Vec<Approval> = Vec::new();
    let mut requests: Vec<(Timestamp, Amount)> = Vec::new();
    let mut lifts: Vec<Timestamp> = Vec::new();
    let mut allow_added: HashMap<Destination, Timestamp> = HashMap::new();
    let mut approvers_of: HashMap<WithdrawalId, BTreeSet<String>> = HashMap::new();
    let mut max_custody: Amount = Amount::ZERO;
    let mut deposited: Amount = Amount::ZERO;

    for (i, ev) in events.iter().enumerate() {
        let asset = ev.kind.asset();
        let Some(policy) = config.asset(asset) else {
            if decide(config, &mut state, ev).is_ok() {
                return Err(violation(i, "unknown_asset", "accepted".into()));
            }
            report.refused += 1;
            continue;
        };
        let pre = state.assets.get(asset).cloned().unwrap_or_default();
        let result = decide(config, &mut state, ev);
        let post = state.assets.get(asset).cloned().unwrap_or_default();
        let backwards = pre.last_at.is_some_and(|l| ev.at < l);
        let out = match result {
            Err(e) => {
                report.refused += 1;
                if backwards && !matches!(e, DecideError::TimeWentBackwards { .. }) {
                    return Err(violation(i, "time_order", format!("refused with {e:?}")));
                }
                if post != pre {
                    return Err(violation(
                        i,
                        "time_order",
                        format!("refused event ({e}) changed the state"),
                    ));
                }
                continue;
            }
            Ok(out) => out,
        };
        report.accepted += 1;
        if backwards {
            return Err(violation(i, "time_order", "older event accepted".into()));
        }
        max_custody = max_custody.max(pre.custody()).max(post.custody());
        if let EventKind::Deposit { amount, .. } = &ev.kind {
            deposited = deposited.saturating_add(*amount);
        }

        // Reference bookkeeping of the allowlist and approvals.
        match &ev.kind {
            EventKind::AllowlistAdd { destination, .. } => {
                let in_file = policy
                    .allowlist()
                    .is_some_and(|a| a.contains(destination.as_str()));
                if !in_file && !allow_added.contains_key(destination) {
                    allow_added.insert(destination.clone(), ev.at);
                }
            }
            EventKind::AllowlistCancel { destination, .. } => {
                allow_added.remove(destination);
            }
            EventKind::Approval { id, approver, .. } => {
                approvers_of
                    .entry(id.clone())
                    .or_default()
                    .insert(approver.clone());
            }
            _ => {}
        }
        if out
            .changes
            .iter()
            .any(|c| matches!(c, Change::FreezeLifted))
        {
            lifts.push(ev.at);
            requests.clear();
        }

        // idempotent_id
        if let EventKind::Withdrawal { id, .. } = &ev.kind {
            let seen = pre.withdrawals.contains_key(id);
            let dup = matches!(out.decision, Decision::Duplicate { .. });
            if seen != dup {
                return Err(violation(
                    i,
                    "idempotent_id",
                    format!("id seen before: {seen}, decision {:?}", out.decision),
                ));
            }
            if dup && out.changes.len() != 1 {
                return Err(violation(
                    i,
                    "idempotent_id",
                    "duplicate changed state".into(),
                ));
            }
            // breaker (reference: exact requested outflow since the last lift)
            if !seen && pre.freeze.is_none() {
                if let (Some(b), EventKind::Withdrawal { amount, .. }) =
                    (policy.breaker(), &ev.kind)
                {
                    requests.push((ev.at, *amount));
                    let from = ev.at.saturating_sub(b.window());
                    let sum = requests
                        .iter()
                        .filter(|(t, _)| *t > from)
                        .fold(Amount::ZERO, |s, (_, a)| s.saturating_add(*a));
                    let limit = b.limit().resolve(pre.custody());
                    if sum > limit && post.freeze.is_none() {
                        return Err(violation(
                            i,
                            "breaker",
                            format!("requested {sum} above {limit} but not frozen"),
                        ));
                    }
                }
            }
        }
        if let Decision::Denied {
            rule: Rule::CircuitBreaker { .. },
            ..
        } = &out.decision
        {
            report.froze = true;
        }
        if post.freeze.is_some() {
            report.froze = true;
        }

        // books
        let sum_reserved = post
            .withdrawals
            .values()
            .filter(|w| w.status == WithdrawalStatus::Reserved)
            .fold(Amount::ZERO, |s, w| s.saturating_add(w.amount));
        if sum_reserved != post.reserved || post.reserved > post.hot {
            return Err(violation(
                i,
                "books",
                format!(
                    "reserved {} (sum {sum_reserved}), hot {}",
                    post.reserved, post.hot
                ),
            ));
        }

        // hot_cap
        check_hot_cap(i, policy, &post, &out.proposals)?;

        // Approvals.
        if let Decision::Approved { id } = &out.decision {
            let Some(w) = post.withdrawals.get(id) else {
                return Err(violation(i, "books", "approved id has no record".into()));
            };
            if pre.freeze.is_some() {
                return Err(violation(
                    i,
                    "frozen",
                    format!("{id} approved while frozen"),
                ));
            }
            if w.amount > pre.hot_available() {
                return Err(violation(i, "books", "approved above hot available".into()));
            }
            let via_quorum = matches!(ev.kind, EventKind::Approval { .. });
            let file_entry = policy
                .allowlist()
                .is_some_and(|a| a.contains(w.destination.as_str()));
            let added_at = allow_added.get(&w.destination).copied();
            let active = match policy.allowlist() {
                None => true,
                Some(a) => {
                    file_entry
                        || added_at.is_some_and(|t| t.saturating_add(a.activation_delay()) <= ev.at)
                }
            };
            let needs_quorum = policy
                .approvals()
                .and_then(|a| a.threshold())
                .is_some_and(|t| w.amount > t)
                || (!active
                    && policy
                        .allowlist()
                        .is_some_and(|a| a.mode() == AllowlistMode::RequireApproval));
            if !active
                && policy
                    .allowlist()
                    .is_some_and(|a| a.mode() == AllowlistMode::Deny)
            {
                return Err(violation(
                    i,
                    "allowlist",
                    format!("{id} approved to a destination not active"),
                ));
            }
            if needs_quorum || via_quorum {
                let listed = policy.approvals().map_or(0, |a| {
                    approvers_of.get(id).map_or(0, |s| {
                        s.iter()
                            .filter(|n| a.approvers().contains(n.as_str()))
                            .count()
                    })
                });
                let quorum = policy
                    .approvals()
                    .map_or(usize::MAX, |a| a.quorum() as usize);
                if !via_quorum || listed < quorum {
                    return Err(violation(
                        i,
                        if active { "quorum" } else { "allowlist" },
                        format!("{id} approved with {listed} listed approvers, quorum {quorum}"),
                    ));
                }
            }
            approvals.push(Approval {
                id: id.clone(),
                at: ev.at,
                amount: w.amount,
                user: w.user.clone(),
                custody: pre.custody(),
                via_quorum,
                added_at: if file_entry || policy.allowlist().is_none() {
                    None
                } else {
                    added_at
                },
            });
            report.approved += 1;
            report.approved_amount = report.approved_amount.saturating_add(w.amount);

            // velocity (exact reference over the whole history)
            let this = approvals.last().map_or(Amount::ZERO, |a| a.custody);
            for win in policy.windows() {
                let from = ev.at.saturating_sub(win.duration());
                let sum = approvals
                    .iter()
                    .filter(|a| a.at > from && (!win.per_user() || a.user == w.user))
                    .fold(Amount::ZERO, |s, a| s.saturating_add(a.amount));
                let limit = win.limit().resolve(this);
                if sum > limit {
                    return Err(violation(
                        i,
                        "velocity",
                        format!(
                            "{}{} window holds {sum} above {limit}",
                            if win.per_user() { "per-user " } else { "" },
                            win.duration()
                        ),
                    ));
                }
            }
        }
    }

    // loss_bound: what left for good (released withdrawals never left).
    let released: BTreeSet<&str> = events
        .first()
        .and_then(|e| state.assets.get(e.kind.asset()))
        .map(|a| {
            a.withdrawals
                .iter()
                .filter(|(_, w)| w.status == WithdrawalStatus::Released)
                .map(|(id, _)| id.as_str())
                .collect()
        })
        .unwrap_or_default();
    for (k, h) in [3_600u32, 86_400].into_iter().enumerate() {
        let horizon = Duration::from_secs(h).unwrap_or_default();
        let Some(policy) = config.asset(events.first().map_or("", |e| e.kind.asset())) else {
            continue;
        };
        let full = loss_bound(policy, horizon);
        let no_breaker = LossBound {
            terms: full
                .terms
                .iter()
                .filter(|t| !t.rule.starts_with("circuit breaker"))
                .cloned()
                .collect(),
            ..full.clone()
        };
        for (si, s) in approvals.iter().enumerate() {
            let start = s.at;
            let end = start.saturating_add(horizon);
            let taken = approvals[si..]
                .iter()
                .filter(|a| a.at < end && !a.via_quorum && !released.contains(a.id.as_str()))
                .filter(|a| policy.allowlist().is_none() || a.added_at.is_some_and(|t| t >= start))
                .fold(Amount::ZERO, |acc, a| acc.saturating_add(a.amount));
            let lifted = lifts.iter().any(|t| *t >= start && *t < end);
            let bound = if lifted { &no_breaker } else { &full };
            // With no limiting term, the bound is custody itself; deposits
            // during the stream add to what can leave.
            let (b, rule) = bound.at_custody(max_custody);
            let b = if rule.is_none() { b.max(deposited) } else { b };
            if taken > b {
                return Err(violation(
                    events.len().saturating_sub(1),
                    "loss_bound",
                    format!("{taken} taken within {horizon} from {start}, bound {b}"),
                ));
            }
            if taken >= report.attacker_max[k].0 {
                report.attacker_max[k] = (taken, b);
            }
        }
    }
    Ok(report)
}

fn check_hot_cap(
    i: usize,
    policy: &AssetPolicy,
    s: &AssetState,
    proposals: &[Proposal],
) -> Result<(), Violation> {
    let cap = policy.hot_cap().resolve(s.custody());
    let ceiling = cap.max(s.reserved);
    let sweep = proposals.iter().find_map(|p| match p {
        Proposal::Sweep { amount, .. } => Some(*amount),
        _ => None,
    });
    let after = s.hot.saturating_sub(sweep.unwrap_or(Amount::ZERO));
    if after > ceiling {
        return Err(violation(
            i,
            "hot_cap",
            format!("hot {} after sweep {sweep:?} above cap {cap}", s.hot),
        ));
    }
    if after < s.reserved {
        return Err(violation(
            i,
            "hot_cap",
            format!("sweep {sweep:?} would take reserved funds"),
        ));
    }
    Ok(())
}

/// What the greedy attacker took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attack {
    /// Approved outflow within the horizon.
    pub taken: Amount,
    /// The bound at the starting custody.
    pub bound: Amount,
    /// Requests made.
    pub requests: u64,
    /// Whether the request budget ran out before the horizon ended.
    pub truncated: bool,
}

/// A greedy attacker holding the hot key, against a fresh state with
/// `custody` split between hot (at its cap) and cold: it adds its own
/// destination to the allowlist (if any), waits for it to activate, then at
/// every bucket boundary requests as much as every rule still allows
/// (per-withdrawal maximum, approval threshold, each window's room, the
/// breaker's room), from a new user each time, while the operators keep
/// refilling the hot wallet. It stops after `max_requests` requests.
pub fn greedy_attack(
    policy: &AssetPolicy,
    custody: Amount,
    horizon: Duration,
    max_requests: u64,
) -> Attack {
    let bound = loss_bound(policy, horizon).at_custody(custody).0;
    let mut s = AssetState::default();
    let t0 = Timestamp::from_unix(crate::gen::START);
    let asset = || AssetId::new_unchecked(crate::gen::ASSET);
    let mut attack = Attack {
        taken: Amount::ZERO,
        bound,
        requests: 0,
        truncated: false,
    };
    let run = |s: &mut AssetState, at: Timestamp, kind: EventKind| {
        decide_asset(policy, s, &Event::new(at, kind)).ok()
    };
    let hot = policy.hot_cap().resolve(custody).min(custody);
    for (wallet, amount) in [
        (Wallet::Hot, hot),
        (Wallet::Cold, custody.saturating_sub(hot)),
    ] {
        if !amount.is_zero() {
            run(
                &mut s,
                t0,
                EventKind::Deposit {
                    asset: asset(),
                    wallet,
                    amount,
                },
            );
        }
    }
    let dest = Destination::new_unchecked("attacker");
    let mut t = t0;
    if let Some(a) = policy.allowlist() {
        run(
            &mut s,
            t0,
            EventKind::AllowlistAdd {
                asset: asset(),
                destination: dest.clone(),
            },
        );
        t = t0.saturating_add(a.activation_delay());
    }
    let end = t0.saturating_add(horizon);
    let step = policy
        .windows()
        .iter()
        .map(|w| w.bucket().secs())
        .chain(policy.breaker().map(|b| b.bucket().secs()))
        .min()
        .unwrap_or(60)
        .max(1);
    let step = Duration::from_secs(step).unwrap_or_default();
    while t < end {
        loop {
            let c = s.custody();
            let mut room = Amount::MAX;
            if let Some(m) = policy.max_withdrawal() {
                room = room.min(m.resolve(c));
            }
            if let Some(th) = policy.approvals().and_then(|a| a.threshold()) {
                room = room.min(th);
            }
            for (i, w) in policy.windows().iter().enumerate() {
                let limit = w.limit().resolve(c);
                let used = if w.per_user() {
                    Amount::ZERO
                } else {
                    s.windows
                        .get(i)
                        .map_or(Amount::ZERO, |u| u.used(t, w.duration()))
                };
                room = room.min(limit.saturating_sub(used));
            }
            if let Some(b) = policy.breaker() {
                room = room.min(
                    b.limit()
                        .resolve(c)
                        .saturating_sub(s.breaker.used(t, b.window())),
                );
            }
            if room.is_zero()
                || room == Amount::MAX && s.hot_available().is_zero() && s.cold.is_zero()
            {
                break;
            }
            if s.hot_available() < room && !s.cold.is_zero() {
                let need = room
                    .min(c)
                    .saturating_sub(s.hot_available().min(room))
                    .min(s.cold);
                if !need.is_zero() {
                    run(
                        &mut s,
                        t,
                        EventKind::Refill {
                            asset: asset(),
                            amount: need,
                        },
                    );
                }
            }
            let amount = room.min(s.hot_available());
            if amount.is_zero() {
                break;
            }
            if attack.requests >= max_requests {
                attack.truncated = true;
                return attack;
            }
            attack.requests += 1;
            let id = format!("x{}", attack.requests);
            let (id, user) = (WithdrawalId::new_unchecked(&id), UserId::new_unchecked(&id));
            let out = run(
                &mut s,
                t,
                EventKind::Withdrawal {
                    id,
                    user,
                    asset: asset(),
                    destination: dest.clone(),
                    amount,
                },
            );
            match out.map(|o| o.decision) {
                Some(Decision::Approved { .. }) => {
                    attack.taken = attack.taken.saturating_add(amount)
                }
                _ => break,
            }
        }
        t = t.saturating_add(step);
    }
    attack
}
