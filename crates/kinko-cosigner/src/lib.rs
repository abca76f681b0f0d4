//! The policy cosigner: signs only what the ledger approved.
//!
//! An exchange's hot wallet is a 2-of-3 `wsh(sortedmulti)` of [the
//! exchange's online hot key, the policy cosigner's key, a cold backup key].
//! The exchange signs with its hot key; the [`Cosigner`] adds the second
//! signature only when the PSBT pays **exactly** what the ledger approved for
//! a withdrawal id — the approved destination, the approved amount, nothing
//! else but verified change, a fee within the cosigner's limits — and it
//! marks the reservation cosigned in the **same database transaction** as the
//! check ([`kinko_ledger::Ledger::cosign`]), so one reservation can never be
//! cosigned for two different transactions, even by two cosigner processes
//! at once. A stolen hot key alone therefore moves nothing the policy did
//! not approve. Every decision, signed or refused, is appended to the
//! ledger's hash-chained audit log.
//!
//! Sweeps (hot → cold) are cosigned by [`Cosigner::cosign_sweep`] only when
//! the one payment goes to the cold wallet's receive address at the given
//! index, derived by the cosigner from the cold descriptor.
//!
//! The day of an exchange, end to end, is in the `day` module (feature
//! `day`; run by `cargo run --release --example exchange_day`).

#![forbid(unsafe_code)]

pub mod authority;
mod check;
#[cfg(feature = "day")]
pub mod day;
pub mod policy_change;
pub mod replay;
pub mod setup;

use bitcoin::psbt::Psbt;
use bitcoin::{Amount, FeeRate, Txid};
use kinko_ledger::{CosignResult, CosignVerdict, Ledger};
use kinko_policy::Timestamp;
use kinko_wallet::{
    AnalysisOptions, KeyRequest, Keychain, MultisigWallet, PsbtAnalysis, SigningKeys,
};

pub use authority::{Authority, AuthorityError, AuthorityRule, Clock, OpenAuthorityError};
pub use check::{
    check_payment, check_sweep, check_transaction, destination_script, max_height_estimate,
    CheckedPayment, CosignRule, Refusal, TxRules, ESTIMATE_BLOCK_SECS, ESTIMATE_MARGIN_BLOCKS,
    MAX_LOCK_TIME_AHEAD,
};
pub use setup::{Setup, SetupError};

/// The cosigner's default fee limit: 0.001 BTC (a tenth of a signer's).
pub const DEFAULT_MAX_FEE: Amount = Amount::from_sat(100_000);
/// The cosigner's default fee rate limit: 200 sat/vB.
pub const DEFAULT_MAX_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(50_000);

/// Why a cosigner could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NewCosignerError {
    /// The signing keys hold none of the hot wallet's keys.
    #[error("the cosigner's key is not one of the hot wallet's keys")]
    KeyNotInWallet,
    /// The cold wallet is of another network than the hot wallet.
    #[error("the cold wallet is on {cold}, the hot wallet on {hot}")]
    NetworkMismatch {
        /// The hot wallet's network.
        hot: bitcoin::Network,
        /// The cold wallet's network.
        cold: bitcoin::Network,
    },
}

/// Why a PSBT was not cosigned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// A rule refused it (recorded in the audit log when the withdrawal is known).
    #[error("{0}")]
    Refused(Refusal),
    /// The ledger failed; nothing was recorded and nothing signed.
    #[error("ledger failed; nothing was cosigned")]
    Ledger(#[source] kinko_ledger::CosignError),
    /// Signing failed after the check (nothing is returned signed).
    #[error("signing failed")]
    Sign(#[source] kinko_wallet::SignError),
    /// The cosigner's key signed no input (the PSBT's inputs carry no
    /// derivation of the cosigner's key).
    #[error("the cosigner's key signed no input")]
    NothingSigned,
}

impl CosignError {
    /// The rule, when a rule refused.
    pub fn rule(&self) -> Option<CosignRule> {
        match self {
            CosignError::Refused(r) => Some(r.rule),
            _ => None,
        }
    }
}

/// A withdrawal the cosigner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The withdrawal id.
    pub id: String,
    /// The asset.
    pub asset: String,
    /// The transaction's txid.
    pub txid: Txid,
    /// What was checked.
    pub payment: CheckedPayment,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The same transaction was cosigned before (an idempotent retry).
    pub again: bool,
    /// The audit record of the decision.
    pub audit_seq: u64,
}

/// A sweep the cosigner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepCosigned {
    /// The transaction's txid.
    pub txid: Txid,
    /// What was checked (the payment is the cold output).
    pub payment: CheckedPayment,
    /// The amount swept to cold.
    pub amount: Amount,
    /// Signatures the cosigner added.
    pub signatures: usize,
}

/// The policy cosigner of one hot wallet.
#[derive(Debug)]
pub struct Cosigner<K> {
    hot: MultisigWallet,
    cold: Option<MultisigWallet>,
    keys: K,
    options: AnalysisOptions,
}

impl<K: SigningKeys> Cosigner<K> {
    /// A cosigner of `hot` signing with `keys`, with the default fee limits
    /// ([`DEFAULT_MAX_FEE`], [`DEFAULT_MAX_FEE_RATE`]).
    ///
    /// # Errors
    ///
    /// [`NewCosignerError::KeyNotInWallet`] when `keys` hold none of the
    /// wallet's keys (checked at receive address 0).
    pub fn new(hot: MultisigWallet, keys: K) -> Result<Self, NewCosignerError> {
        let holds = hot.keys().iter().any(|k| {
            keys.secret_key(&KeyRequest {
                fingerprint: k.fingerprint,
                account_path: &k.origin_path,
                account_xpub: &k.xpub,
                keychain: Keychain::Receive,
                index: 0,
            })
            .is_some()
        });
        if !holds {
            return Err(NewCosignerError::KeyNotInWallet);
        }
        let options = AnalysisOptions {
            max_fee: DEFAULT_MAX_FEE,
            max_fee_rate: DEFAULT_MAX_FEE_RATE,
            expected_network: Some(hot.network()),
        };
        Ok(Cosigner {
            hot,
            cold: None,
            keys,
            options,
        })
    }

    /// Sets the cold wallet sweeps must pay.
    ///
    /// # Errors
    ///
    /// [`NewCosignerError::NetworkMismatch`].
    pub fn with_cold_wallet(mut self, cold: MultisigWallet) -> Result<Self, NewCosignerError> {
        if cold.network() != self.hot.network() {
            return Err(NewCosignerError::NetworkMismatch {
                hot: self.hot.network(),
                cold: cold.network(),
            });
        }
        self.cold = Some(cold);
        Ok(self)
    }

    /// Sets the fee limits (a fee or fee rate above them is refused as
    /// `fee-too-high` / `fee-rate-too-high`).
    pub fn with_fee_limits(mut self, max_fee: Amount, max_fee_rate: FeeRate) -> Self {
        self.options.max_fee = max_fee;
        self.options.max_fee_rate = max_fee_rate;
        self
    }

    /// The hot wallet.
    pub fn hot_wallet(&self) -> &MultisigWallet {
        &self.hot
    }

    /// The analysis of `psbt` against the hot wallet with the cosigner's limits.
    pub fn analyze(&self, psbt: &Psbt) -> PsbtAnalysis {
        self.hot.analyze(psbt, &self.options)
    }

    /// Checks `psbt` against the ledger's reservation of withdrawal `id`,
    /// records the decision (mark and audit record) in one ledger
    /// transaction, and — only after that commit, and only when every rule
    /// passed — adds the cosigner's signatures to `psbt`.
    ///
    /// The same transaction may be cosigned again (a retry after a crash
    /// between the commit and the reply); another transaction for the same
    /// reservation is refused (`reservation-spent`).
    ///
    /// # Errors
    ///
    /// [`CosignError::Refused`] naming the rule (then `psbt` is unchanged);
    /// [`CosignError::Ledger`] when the ledger failed.
    pub fn cosign_withdrawal(
        &self,
        ledger: &mut Ledger,
        id: &str,
        psbt: &mut Psbt,
        at: Option<Timestamp>,
    ) -> Result<Cosigned, CosignError> {
        let analysis = self.analyze(psbt);
        let txid = analysis.txid;
        let network = self.hot.network();
        let mut checked = None;
        let mut refused = None;
        let record = ledger
            .cosign(id, at, |_asset, w| {
                let res = destination_script(&w.destination, network).and_then(|script| {
                    check_payment(&analysis, &script, Amount::from_sat(w.amount))
                });
                match res {
                    Ok(p) => {
                        checked = Some(p);
                        CosignVerdict::Sign {
                            txid: txid.to_string(),
                        }
                    }
                    Err(r) => {
                        let verdict = CosignVerdict::Refuse {
                            rule: r.rule.as_str().to_owned(),
                            detail: r.detail.clone(),
                        };
                        refused = Some(r);
                        verdict
                    }
                }
            })
            .map_err(|e| match e {
                kinko_ledger::CosignError::UnknownWithdrawal => CosignError::Refused(Refusal::new(
                    CosignRule::UnknownWithdrawal,
                    "the ledger has no withdrawal with this id",
                )),
                other => CosignError::Ledger(other),
            })?;
        let again = match record.result {
            CosignResult::Signed { again, .. } => again,
            CosignResult::Refused { rule, detail } => {
                // Our check's refusal, or one of the ledger's own.
                let r = refused.unwrap_or_else(|| {
                    let rule = match rule.as_str() {
                        "reservation-spent" => CosignRule::ReservationSpent,
                        _ => CosignRule::NotReserved,
                    };
                    Refusal::new(rule, detail)
                });
                return Err(CosignError::Refused(r));
            }
            // A result this version does not know: fail closed.
            _ => {
                return Err(CosignError::Refused(Refusal::new(
                    CosignRule::NotReserved,
                    "the ledger's answer is not understood",
                )))
            }
        };
        let Some(payment) = checked else {
            // The ledger says signed only when the check said so.
            return Err(CosignError::Refused(Refusal::new(
                CosignRule::NotReserved,
                "the check did not run",
            )));
        };
        let signatures = self.sign(psbt)?;
        Ok(Cosigned {
            id: id.to_owned(),
            asset: record.asset,
            txid,
            payment,
            signatures,
            again,
            audit_seq: record.audit_seq,
        })
    }

    /// Cosigns a sweep: `psbt` must pay the cold wallet's receive address
    /// `cold_index` (derived here from the cold descriptor) and nothing else
    /// but verified change, within the fee limits.
    ///
    /// # Errors
    ///
    /// [`CosignError::Refused`] (`sweep-not-cold` also when no cold wallet
    /// is set).
    pub fn cosign_sweep(
        &self,
        psbt: &mut Psbt,
        cold_index: u32,
    ) -> Result<SweepCosigned, CosignError> {
        let Some(cold) = &self.cold else {
            return Err(CosignError::Refused(Refusal::new(
                CosignRule::SweepNotCold,
                "the cosigner knows no cold wallet",
            )));
        };
        let script = cold
            .script_pubkey(Keychain::Receive, cold_index)
            .map_err(|e| {
                CosignError::Refused(Refusal::new(CosignRule::SweepNotCold, e.to_string()))
            })?;
        let analysis = self.analyze(psbt);
        let payment = check_sweep(&analysis, &script).map_err(CosignError::Refused)?;
        let amount = analysis.outputs[payment.payment_output].amount;
        let signatures = self.sign(psbt)?;
        Ok(SweepCosigned {
            txid: analysis.txid,
            payment,
            amount,
            signatures,
        })
    }

    /// Signs after the caller's checks (the authority's).
    pub(crate) fn sign_checked(&self, psbt: &mut Psbt) -> Result<usize, CosignError> {
        self.sign(psbt)
    }

    fn sign(&self, psbt: &mut Psbt) -> Result<usize, CosignError> {
        let report = self.hot.sign(psbt, &self.keys).map_err(CosignError::Sign)?;
        match report.signatures() {
            0 => Err(CosignError::NothingSigned),
            n => Ok(n),
        }
    }
}
