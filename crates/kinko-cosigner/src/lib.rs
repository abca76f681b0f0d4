//! The policy cosigner: the one authority over the hot wallet.
//!
//! An exchange's hot wallet is a 2-of-3 `wsh(sortedmulti)` of [the
//! exchange's online hot key, the policy cosigner's key, a cold backup key].
//! The exchange signs with its hot key; the cosigner adds the second
//! signature only to what it decided itself. Its [`Authority`] is opened from
//! a custody set-up the admin quorum signed ([`setup::Setup`]), decides on
//! its own clock over its own ledger, derives its state from its audit chain
//! ([`replay::Replay`]) and takes human actions only as signatures
//! ([`kinko_auth`]); see the crate README for what each input can and cannot
//! do. [`Cosigner`] is the signing core the authority uses: the hot and cold
//! wallets, the cosigner's keys and the fee limits, with no ledger and no
//! clock of its own; the pure checks ([`check_payment`], [`check_sweep`],
//! [`check_transaction`]) are public for other tools.
//!
//! The day of an exchange, end to end, is the `kinko-sim` crate (run by
//! `cargo run --release --example exchange_day`): nothing here depends on it.

#![forbid(unsafe_code)]

pub mod authority;
mod check;
#[cfg(feature = "keystore")]
pub mod keys;
pub mod policy_change;
pub mod replay;
pub mod setup;

use bitcoin::psbt::Psbt;
use bitcoin::{Amount, FeeRate, Txid};
use kinko_wallet::{
    AnalysisOptions, KeyRequest, Keychain, MultisigWallet, PsbtAnalysis, SigningKeys,
};

pub use authority::{Authority, AuthorityError, AuthorityRule, Clock, OpenAuthorityError};
pub use check::{
    check_consolidation, check_payment, check_payout, check_sweep, check_transaction,
    destination_script, max_height_estimate, CheckedPayment, CheckedPayout, CosignRule, Refusal,
    TxRules, ESTIMATE_BLOCK_SECS, ESTIMATE_MARGIN_BLOCKS, MAX_LOCK_TIME_AHEAD,
};
pub use replay::{TxPurpose, TxRecord};
pub use setup::{BatchLimits, Setup, SetupError};

/// The cosigner's default fee limit: 0.001 BTC (a tenth of a signer's).
pub const DEFAULT_MAX_FEE: Amount = Amount::from_sat(100_000);
/// The cosigner's default fee rate limit: 200 sat/vB.
pub const DEFAULT_MAX_FEE_RATE: FeeRate = FeeRate::from_sat_per_kwu(50_000);

/// Why a cosigner could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NewCosignerError {
    /// The signing keys hold none of the hot wallet's keys.
    #[error("the cosigner's key is not one of the hot wallet's keys")]
    KeyNotInWallet,
    /// The key source failed when asked whether it holds one.
    #[error("the cosigner's key source failed")]
    KeySource(#[source] kinko_wallet::KeySourceError),
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

/// A payout (one or many reservations in one transaction) the cosigner
/// signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCosigned {
    /// The asset.
    pub asset: String,
    /// The transaction's txid.
    pub txid: Txid,
    /// The reservations it pays, as asked.
    pub ids: Vec<String>,
    /// What was checked (the output paying each reservation, in order).
    pub payout: CheckedPayout,
    /// The transaction of the payout family it replaces (a fee bump).
    pub replaces: Option<String>,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The same transaction was cosigned before (an idempotent retry).
    pub again: bool,
    /// The audit records of the decision (first, last).
    pub audit_seqs: (u64, u64),
}

/// A consolidation (or child-pays-for-parent) the cosigner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsolidationCosigned {
    /// The transaction's txid.
    pub txid: Txid,
    /// Its fee.
    pub fee: Amount,
    /// Signatures the cosigner added.
    pub signatures: usize,
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
        let mut holds = false;
        for k in hot.keys() {
            let found = keys
                .secret_key(&KeyRequest {
                    fingerprint: k.fingerprint,
                    account_path: &k.origin_path,
                    account_xpub: &k.xpub,
                    keychain: Keychain::Receive,
                    index: 0,
                })
                .map_err(NewCosignerError::KeySource)?;
            if let Some(mut sk) = found {
                sk.non_secure_erase();
                holds = true;
            }
        }
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

    /// The analysis of `psbt` with another fee limit (a payout's, scaled by
    /// its number of reservations); the fee rate limit stays.
    pub fn analyze_with_max_fee(&self, psbt: &Psbt, max_fee: Amount) -> PsbtAnalysis {
        let options = AnalysisOptions {
            max_fee,
            ..self.options
        };
        self.hot.analyze(psbt, &options)
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
