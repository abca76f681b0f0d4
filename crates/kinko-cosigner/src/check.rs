//! The pure part of the cosigner: does a PSBT's analysis pay exactly what was
//! approved? No I/O, no keys; every rule here has a stable name.

use std::fmt;

use bitcoin::address::NetworkUnchecked;
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
                format!("approved destination {cut:?} is not a {network} address"),
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
