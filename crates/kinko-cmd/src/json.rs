//! The JSON of a PSBT analysis against a wallet: one form for `kinko psbt
//! inspect --json` and `kinko-signer inspect|sign --json` (docs/psbt.md).

use kinko_wallet::{MultisigWallet, PsbtAnalysis};
use serde::Serialize;

/// A PSBT's analysis ([`PsbtAnalysis`]'s own JSON fields) and the wallet's
/// `threshold` and number of `keys` beside them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PsbtJson<'a> {
    /// The analysis.
    #[serde(flatten)]
    pub analysis: &'a PsbtAnalysis,
    /// Signatures the wallet needs.
    #[serde(rename = "threshold")]
    pub threshold: usize,
    /// Keys of the wallet.
    #[serde(rename = "keys")]
    pub keys: usize,
}

impl<'a> PsbtJson<'a> {
    /// `analysis`, made against `wallet`.
    pub fn new(wallet: &MultisigWallet, analysis: &'a PsbtAnalysis) -> Self {
        PsbtJson {
            analysis,
            threshold: wallet.threshold(),
            keys: wallet.keys().len(),
        }
    }
}

/// `value` as pretty JSON, object keys in sorted order (the order does not
/// depend on how the value is built).
///
/// # Errors
///
/// When `value` does not serialize to JSON.
pub fn to_json_pretty(value: &impl Serialize) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&serde_json::to_value(value)?)
}
