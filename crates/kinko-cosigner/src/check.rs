//! The pure part of the cosigner: does a PSBT's analysis pay exactly what was
//! approved? No I/O, no keys; every rule here has a stable name.

use std::collections::BTreeMap;
use std::fmt;

use bitcoin::absolute::{LockTime, LOCK_TIME_THRESHOLD};
use bitcoin::address::NetworkUnchecked;
use bitcoin::psbt::Psbt;
use bitcoin::{Address, Amount, ScriptBuf};
use kinko_wallet::{OutputKind, PsbtAnalysis};

/// The rule behind a refusal. Names ([`CosignRule::as_str`]) are stable:
/// the CLI prints them, the audit log records them, scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum CosignRule {
    /// A refusal of the wallet's PSBT analysis (`input-not-ours`,
    /// `change-fraud`, `fee-too-high`, …): the analysis' own name.
    Analysis(kinko_wallet::Rule),
    /// The ledger has no withdrawal with this id (`unknown-withdrawal`).
    UnknownWithdrawal,
    /// The withdrawal is not reserved: pending, denied, settled or released
    /// (`not-reserved`).
    NotReserved,
    /// The reservation was already cosigned for another transaction
    /// (`reservation-spent`).
    ReservationSpent,
    /// No output pays the approved destination (`destination-mismatch`).
    DestinationMismatch,
    /// The approved destination is paid another amount (`amount-mismatch`).
    AmountMismatch,
    /// An output besides the one payment and verified change, or more than
    /// one change output (`extra-output`).
    ExtraOutput,
    /// The approved destination is not an address of the hot wallet's
    /// network (`destination-invalid`).
    DestinationInvalid,
    /// The approved amount is not representable (`amount-invalid`).
    AmountInvalid,
    /// The fee could not be computed (`fee-unknown`).
    FeeUnknown,
    /// A sweep does not pay the cold wallet's expected receive address
    /// (`sweep-not-cold`).
    SweepNotCold,
    /// The PSBT spends from another wallet than the cosigner's hot wallet
    /// (`wrong-wallet`).
    WrongWallet,
    /// The transaction's `nLockTime` is not final soon enough: a height above
    /// the cosigner's estimate of the chain's height, a time more than two
    /// hours ahead of its clock, or a height without a chain reference
    /// (`non-final-locktime`). See [`check_transaction`].
    NonFinalLocktime,
    /// An input's `nSequence` enables a BIP68 relative lock
    /// (`relative-locktime`). See [`check_transaction`].
    RelativeLocktime,
    /// A change output's index is above the highest change index seen plus
    /// the set-up's gap (`change-beyond-gap`): change there would be missed
    /// by a wallet scanning with that gap.
    ChangeBeyondGap,
    /// The reservation is of another asset than the set-up's
    /// (`wrong-asset`).
    WrongAsset,
    /// The cosigner's own replay of the chain (its ledger, the signed actions
    /// it recorded) does not agree with the state it was asked to act on
    /// (`state-mismatch`).
    StateMismatch,
    /// A payout names one reservation twice, or pays one twice: more outputs
    /// of its destination and amount than reservations
    /// (`reservation-paid-twice`).
    ReservationPaidTwice,
    /// More reservations in one payout than the set-up allows
    /// (`batch-too-large`).
    BatchTooLarge,
    /// A fee bump that spends none of the inputs of a transaction of the
    /// family it replaces, so both could confirm
    /// (`replacement-not-conflicting`).
    ReplacementNotConflicting,
    /// A fee bump whose fee is not above every fee of the family it
    /// replaces (`replacement-fee-not-higher`).
    ReplacementFeeNotHigher,
    /// A consolidation (or child-pays-for-parent) that pays anything but the
    /// hot wallet's own change (`not-consolidation`).
    NotConsolidation,
    /// The transaction's fee would take the fees of what the cosigner signed
    /// in the last 24 hours above the set-up's `max_fees_24h_sat`
    /// (`fee-budget-exceeded`).
    FeeBudgetExceeded,
}

impl CosignRule {
    /// The stable name of the rule (kebab case).
    pub fn as_str(self) -> &'static str {
        match self {
            CosignRule::Analysis(r) => r.as_str(),
            CosignRule::UnknownWithdrawal => "unknown-withdrawal",
            CosignRule::NotReserved => "not-reserved",
            CosignRule::ReservationSpent => "reservation-spent",
            CosignRule::DestinationMismatch => "destination-mismatch",
            CosignRule::AmountMismatch => "amount-mismatch",
            CosignRule::ExtraOutput => "extra-output",
            CosignRule::DestinationInvalid => "destination-invalid",
            CosignRule::AmountInvalid => "amount-invalid",
            CosignRule::FeeUnknown => "fee-unknown",
            CosignRule::SweepNotCold => "sweep-not-cold",
            CosignRule::WrongWallet => "wrong-wallet",
            CosignRule::NonFinalLocktime => "non-final-locktime",
            CosignRule::RelativeLocktime => "relative-locktime",
            CosignRule::ChangeBeyondGap => "change-beyond-gap",
            CosignRule::WrongAsset => "wrong-asset",
            CosignRule::StateMismatch => "state-mismatch",
            CosignRule::ReservationPaidTwice => "reservation-paid-twice",
            CosignRule::BatchTooLarge => "batch-too-large",
            CosignRule::ReplacementNotConflicting => "replacement-not-conflicting",
            CosignRule::ReplacementFeeNotHigher => "replacement-fee-not-higher",
            CosignRule::NotConsolidation => "not-consolidation",
            CosignRule::FeeBudgetExceeded => "fee-budget-exceeded",
        }
    }
}

impl fmt::Display for CosignRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the cosigner refused: the rule, and a detail for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: CosignRule,
    /// For people (never a secret).
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(rule: CosignRule, detail: impl Into<String>) -> Self {
        Refusal {
            rule,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused by rule {}: {}", self.rule, self.detail)
    }
}

/// What a checked payment looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPayment {
    /// The output index of the payment.
    pub payment_output: usize,
    /// The change output, if any: (output index, change index, amount).
    pub change: Option<(usize, u32, Amount)>,
    /// The fee.
    pub fee: Amount,
}

/// The analysis refusals first: the first one names the rule.
fn analysis_refusal(a: &PsbtAnalysis) -> Result<(), Refusal> {
    match a.refusals().next() {
        Some(f) => Err(Refusal::new(CosignRule::Analysis(f.rule), f.to_string())),
        None => Ok(()),
    }
}

/// Checks that `a` (an analysis against the hot wallet, made with the
/// cosigner's fee limits) pays exactly `amount` to the script of
/// `destination`, and nothing else but at most one verified change output.
///
/// Order of the checks: the analysis' own refusals (inputs not ours, change
/// fraud, fee and fee rate limits, …), then the payment: the destination
/// must be paid (`destination-mismatch`), with exactly the amount
/// (`amount-mismatch`), and no other output may exist (`extra-output`).
///
/// # Errors
///
/// The [`Refusal`] naming the first rule broken.
pub fn check_payment(
    a: &PsbtAnalysis,
    destination: &ScriptBuf,
    amount: Amount,
) -> Result<CheckedPayment, Refusal> {
    analysis_refusal(a)?;
    let fee = a
        .fee
        .ok_or_else(|| Refusal::new(CosignRule::FeeUnknown, "the fee cannot be computed"))?;
    let mut change = None;
    let mut to_dest = Vec::new();
    let mut others = Vec::new();
    for (i, o) in a.outputs.iter().enumerate() {
        match o.kind {
            OutputKind::Change { index, .. } if change.is_none() => {
                change = Some((i, index, o.amount));
            }
            OutputKind::Change { .. } => others.push(i),
            OutputKind::External if &o.script_pubkey == destination => to_dest.push(i),
            // Suspicious outputs are already refused by the analysis.
            _ => others.push(i),
        }
    }
    let Some(&first) = to_dest.first() else {
        return Err(Refusal::new(
            CosignRule::DestinationMismatch,
            "no output pays the approved destination",
        ));
    };
    if to_dest.len() > 1 {
        return Err(Refusal::new(
            CosignRule::ExtraOutput,
            format!("{} outputs pay the approved destination", to_dest.len()),
        ));
    }
    let paid = a.outputs[first].amount;
    if paid != amount {
        return Err(Refusal::new(
            CosignRule::AmountMismatch,
            format!("output {first} pays {paid}, the approved amount is {amount}"),
        ));
    }
    if let Some(&o) = others.first() {
        return Err(Refusal::new(
            CosignRule::ExtraOutput,
            format!(
                "output {o} ({}) is neither the approved payment nor verified change",
                a.outputs[o].amount
            ),
        ));
    }
    Ok(CheckedPayment {
        payment_output: first,
        change,
        fee,
    })
}

/// What a checked payout of many reservations looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPayout {
    /// The output index paying each reservation, in the order given.
    pub payment_outputs: Vec<usize>,
    /// The change output, if any: (output index, change index, amount).
    pub change: Option<(usize, u32, Amount)>,
    /// The fee.
    pub fee: Amount,
}

/// Checks that `a` pays every reservation of `payouts` — `(script, amount)`
/// each — exactly once, and nothing else but at most one verified change
/// output. Outputs are matched to reservations by script and amount, so the
/// order of either does not matter; two reservations to one destination
/// need two outputs.
///
/// Order of the checks: the analysis' own refusals, then per destination:
/// a reservation whose destination no output pays (`destination-mismatch`),
/// an output to a destination no reservation names (`extra-output`), an
/// output that repeats a reservation's payment (`reservation-paid-twice`),
/// an amount that matches no reservation of its destination
/// (`amount-mismatch`), a second change output (`extra-output`). With one
/// reservation the rules and their order are [`check_payment`]'s.
///
/// # Errors
///
/// The [`Refusal`] naming the first rule broken.
pub fn check_payout(
    a: &PsbtAnalysis,
    payouts: &[(ScriptBuf, Amount)],
) -> Result<CheckedPayout, Refusal> {
    if let [(script, amount)] = payouts {
        let p = check_payment(a, script, *amount)?;
        return Ok(CheckedPayout {
            payment_outputs: vec![p.payment_output],
            change: p.change,
            fee: p.fee,
        });
    }
    analysis_refusal(a)?;
    let fee = a
        .fee
        .ok_or_else(|| Refusal::new(CosignRule::FeeUnknown, "the fee cannot be computed"))?;
    // Reservations by destination: (amount, position in `payouts`), and the
    // outputs paying each destination.
    let mut wanted: BTreeMap<&ScriptBuf, Vec<(Amount, usize)>> = BTreeMap::new();
    for (i, (script, amount)) in payouts.iter().enumerate() {
        wanted.entry(script).or_default().push((*amount, i));
    }
    let mut change = None;
    let mut paid: BTreeMap<&ScriptBuf, Vec<usize>> = BTreeMap::new();
    for (i, o) in a.outputs.iter().enumerate() {
        match o.kind {
            OutputKind::Change { index, .. } if change.is_none() => {
                change = Some((i, index, o.amount));
            }
            OutputKind::Change { .. } => {
                return Err(Refusal::new(
                    CosignRule::ExtraOutput,
                    format!("output {i} is a second change output"),
                ))
            }
            OutputKind::External if wanted.contains_key(&o.script_pubkey) => {
                paid.entry(&o.script_pubkey).or_default().push(i);
            }
            _ => {
                return Err(Refusal::new(
                    CosignRule::ExtraOutput,
                    format!(
                        "output {i} ({}) pays a destination no reservation of the payout names",
                        o.amount
                    ),
                ))
            }
        }
    }
    let mut payment_outputs = vec![usize::MAX; payouts.len()];
    for (script, reservations) in &wanted {
        let outputs = paid.get(script).map_or(&[][..], Vec::as_slice);
        if outputs.is_empty() {
            let (_, r) = reservations[0];
            return Err(Refusal::new(
                CosignRule::DestinationMismatch,
                format!("no output pays the destination of reservation {r} of the payout"),
            ));
        }
        let mut open: Vec<(Amount, usize)> = reservations.clone();
        for &o in outputs {
            let amount = a.outputs[o].amount;
            match open.iter().position(|(x, _)| *x == amount) {
                Some(k) => {
                    let (_, r) = open.swap_remove(k);
                    payment_outputs[r] = o;
                }
                None if reservations.iter().any(|(x, _)| *x == amount) => {
                    return Err(Refusal::new(
                        CosignRule::ReservationPaidTwice,
                        format!("output {o} pays a reservation ({amount}) another output already pays"),
                    ))
                }
                None => {
                    return Err(Refusal::new(
                        CosignRule::AmountMismatch,
                        format!(
                            "output {o} pays {amount}, which no reservation to its destination approved"
                        ),
                    ))
                }
            }
        }
        if let Some((amount, r)) = open.first() {
            return Err(Refusal::new(
                CosignRule::AmountMismatch,
                format!("reservation {r} of the payout ({amount}) is not paid"),
            ));
        }
    }
    Ok(CheckedPayout {
        payment_outputs,
        change,
        fee,
    })
}

/// Checks a consolidation (or a child paying for a stuck parent): every
/// output is the hot wallet's verified change.
///
/// # Errors
///
/// The analysis' refusals, `not-consolidation`.
pub fn check_consolidation(a: &PsbtAnalysis) -> Result<Amount, Refusal> {
    analysis_refusal(a)?;
    let fee = a
        .fee
        .ok_or_else(|| Refusal::new(CosignRule::FeeUnknown, "the fee cannot be computed"))?;
    if a.outputs.is_empty() {
        return Err(Refusal::new(CosignRule::NotConsolidation, "no output"));
    }
    if let Some(i) = a
        .outputs
        .iter()
        .position(|o| !matches!(o.kind, OutputKind::Change { .. }))
    {
        return Err(Refusal::new(
            CosignRule::NotConsolidation,
            format!("output {i} is not the hot wallet's verified change"),
        ));
    }
    Ok(fee)
}

/// The script of an approved destination on `network`.
///
/// # Errors
///
/// [`CosignRule::DestinationInvalid`] when it is not an address of that
/// network.
pub fn destination_script(
    destination: &str,
    network: bitcoin::Network,
) -> Result<ScriptBuf, Refusal> {
    let cut: String = destination.chars().take(100).collect();
    destination
        .parse::<Address<NetworkUnchecked>>()
        .ok()
        .and_then(|a| a.require_network(network).ok())
        .map(|a| a.script_pubkey())
        .ok_or_else(|| {
            Refusal::new(
                CosignRule::DestinationInvalid,
                format!("destination {cut:?} is not a valid {network} address"),
            )
        })
}

/// Checks a sweep: pays only `cold_script` (one output) and verified change.
///
/// # Errors
///
/// The [`Refusal`] naming the first rule broken.
pub fn check_sweep(a: &PsbtAnalysis, cold_script: &ScriptBuf) -> Result<CheckedPayment, Refusal> {
    analysis_refusal(a)?;
    let fee = a
        .fee
        .ok_or_else(|| Refusal::new(CosignRule::FeeUnknown, "the fee cannot be computed"))?;
    let mut change = None;
    let mut cold = None;
    for (i, o) in a.outputs.iter().enumerate() {
        match o.kind {
            OutputKind::Change { index, .. } if change.is_none() => {
                change = Some((i, index, o.amount))
            }
            OutputKind::External if &o.script_pubkey == cold_script && cold.is_none() => {
                cold = Some(i)
            }
            OutputKind::External if &o.script_pubkey != cold_script => {
                return Err(Refusal::new(
                    CosignRule::SweepNotCold,
                    format!("output {i} does not pay the cold wallet's address"),
                ))
            }
            _ => {
                return Err(Refusal::new(
                    CosignRule::ExtraOutput,
                    format!("output {i} is neither the sweep nor verified change"),
                ))
            }
        }
    }
    let Some(payment_output) = cold else {
        return Err(Refusal::new(
            CosignRule::SweepNotCold,
            "no output pays the cold wallet's address",
        ));
    };
    Ok(CheckedPayment {
        payment_output,
        change,
        fee,
    })
}

/// How far ahead of the cosigner's clock a time-based `nLockTime` may be
/// (seconds): two hours, Bitcoin's own allowance for a block's timestamp
/// ahead of the network's time.
pub const MAX_LOCK_TIME_AHEAD: i64 = 2 * 60 * 60;

/// The block interval the height estimate assumes (seconds): 8 minutes.
///
/// The estimate must be an **upper bound** of the chain's height: a lock at
/// the real tip (wallets set `nLockTime` to the tip against fee sniping) must
/// pass. Blocks average 10 minutes only when the hash rate stays level; while
/// it grows, difficulty lags by up to 2016 blocks and blocks come faster
/// (Bitcoin's long-run average has stayed above 9 minutes). 8 minutes is 25%
/// faster than the target, faster than any sustained period so far, so the
/// estimate stays above the real height. The price is looseness: after a year
/// the bound is about 13,000 blocks (three months) above the real height, so
/// callers should pass the most recent reference they have verified, not
/// only the ceremony's.
pub const ESTIMATE_BLOCK_SECS: i64 = 480;

/// Blocks added to the height estimate (a day of 10-minute blocks): the
/// short-term luck of block times, and a clock a little behind.
pub const ESTIMATE_MARGIN_BLOCKS: i64 = 144;

/// What [`check_transaction`] checks a transaction against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxRules {
    /// The cosigner's clock, Unix seconds (never a time the request gave).
    pub now: i64,
    /// A block height and the Unix time it was mined: the set-up's
    /// `[chain]` reference, or a later one the caller verified. `None`:
    /// every height-based lock is refused.
    pub chain_reference: Option<(u32, i64)>,
    /// The largest change index allowed: the caller computes the highest
    /// change index seen (used or cosigned before) plus the set-up's
    /// `change_gap` (saturating).
    pub max_change_index: u32,
}

/// The highest block height the chain can plausibly have at `now`, from a
/// reference `(height, time)`: `height + (now - time) / 480 + 144`, capped
/// below the lock-time threshold. A clock behind the reference counts as no
/// time elapsed (the chain is never below the reference).
pub fn max_height_estimate(reference: (u32, i64), now: i64) -> u32 {
    let (height, time) = reference;
    let elapsed = now.saturating_sub(time).max(0);
    let estimate = i64::from(height)
        .saturating_add(elapsed / ESTIMATE_BLOCK_SECS)
        .saturating_add(ESTIMATE_MARGIN_BLOCKS);
    u32::try_from(estimate.min(i64::from(LOCK_TIME_THRESHOLD - 1)))
        .unwrap_or(LOCK_TIME_THRESHOLD - 1)
}

/// Checks the transaction itself, beyond what it pays: that it can be mined
/// now, and that its change stays where the wallet will find it.
///
/// A cosigned reservation cannot be released, so a transaction that cannot
/// confirm for a long time would leave the reservation stuck. Refused, in
/// this order:
///
/// - `non-final-locktime`: `nLockTime` that is not 0 and is either a time
///   (≥ 500,000,000) later than `now` + [`MAX_LOCK_TIME_AHEAD`], or a height
///   above [`max_height_estimate`] (any height above 0 without a chain
///   reference). The lock is checked even when every input's sequence is
///   final (which disables it): the rule is simpler to state and costs no
///   honest transaction.
/// - `relative-locktime`: for a transaction version ≥ 2 (as an unsigned
///   number, as Bitcoin Core reads it: a negative version is a large one),
///   an input whose `nSequence` has the BIP68 disable bit (`1 << 31`) clear
///   and a non-zero lock value (`nSequence & 0xffff`). `0xfffffffd` (RBF),
///   `0xfffffffe` and `0xffffffff` pass.
/// - `change-beyond-gap`: a verified change output (from `analysis`) whose
///   index is above `rules.max_change_index`.
///
/// # Errors
///
/// The [`Refusal`] naming the first rule broken.
pub fn check_transaction(
    psbt: &Psbt,
    analysis: &PsbtAnalysis,
    rules: &TxRules,
) -> Result<(), Refusal> {
    let tx = &psbt.unsigned_tx;
    match tx.lock_time {
        LockTime::Blocks(h) if h.to_consensus_u32() == 0 => {}
        LockTime::Blocks(h) => {
            let h = h.to_consensus_u32();
            let Some(reference) = rules.chain_reference else {
                return Err(Refusal::new(
                    CosignRule::NonFinalLocktime,
                    format!("nLockTime is height {h} and the cosigner has no chain reference"),
                ));
            };
            let max = max_height_estimate(reference, rules.now);
            if h > max {
                return Err(Refusal::new(
                    CosignRule::NonFinalLocktime,
                    format!("nLockTime is height {h}, above the estimated height bound {max}"),
                ));
            }
        }
        LockTime::Seconds(t) => {
            let t = i64::from(t.to_consensus_u32());
            let max = rules.now.saturating_add(MAX_LOCK_TIME_AHEAD);
            if t > max {
                return Err(Refusal::new(
                    CosignRule::NonFinalLocktime,
                    format!(
                        "nLockTime is time {t}, more than {MAX_LOCK_TIME_AHEAD} s after the cosigner's clock ({})",
                        rules.now
                    ),
                ));
            }
        }
    }
    // BIP68 applies from version 2, compared unsigned.
    #[allow(clippy::cast_sign_loss)]
    let version = tx.version.0 as u32;
    if version >= 2 {
        for (i, input) in tx.input.iter().enumerate() {
            let s = input.sequence.0;
            if s & (1 << 31) == 0 && s & 0x0000_ffff != 0 {
                return Err(Refusal::new(
                    CosignRule::RelativeLocktime,
                    format!("input {i}'s sequence {s:#010x} enables a relative lock"),
                ));
            }
        }
    }
    for (i, o) in analysis.outputs.iter().enumerate() {
        if let OutputKind::Change { index, .. } = o.kind {
            if index > rules.max_change_index {
                return Err(Refusal::new(
                    CosignRule::ChangeBeyondGap,
                    format!(
                        "output {i} is change at index {index}, above the highest allowed {}",
                        rules.max_change_index
                    ),
                ));
            }
        }
    }
    Ok(())
}
