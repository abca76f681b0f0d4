//! From a PSBT to a decision, taken only from kinko-wallet's analysis.

use kinko_wallet::bitcoin::psbt::Psbt;
use kinko_wallet::{
    decode_psbt, AnalysisOptions, DecodePsbtError, MultisigWallet, PsbtAnalysis, PsbtEncoding, Rule,
};

/// The rule named when the keystore has no registered wallet at all (every
/// input is then, necessarily, not ours).
pub const RULE_NO_WALLET: Rule = Rule::InputNotOurs;

/// Why the signer refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule; its stable name ([`Rule::as_str`]) is what is printed.
    pub rule: Rule,
    /// For people.
    pub detail: String,
}

/// What the signer makes of a PSBT.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Position of the wallet (in the list given to [`decide`]) the PSBT was
    /// analysed against: the one that owns most of its inputs, or the first.
    /// `None` when no wallet was given.
    pub wallet: Option<usize>,
    /// The analysis against that wallet.
    pub analysis: Option<PsbtAnalysis>,
    /// `None` when it is safe to sign, else the first rule that refuses.
    pub refusal: Option<Refusal>,
}

impl Decision {
    /// Whether the signer may sign.
    pub fn may_sign(&self) -> bool {
        self.refusal.is_none()
    }
}

/// Decides about `psbt` for the registered `wallets`.
///
/// Each wallet analyses the PSBT; the one owning the most inputs is chosen
/// (the first on a tie, or when none owns any, so that `input-not-ours` is
/// reported). The decision is the analysis's first refusal, if any: the
/// signer adds no rule of its own, so every signer that reads the same
/// analysis decides the same.
pub fn decide(wallets: &[MultisigWallet], psbt: &Psbt, opts: &AnalysisOptions) -> Decision {
    let mut best: Option<(usize, usize, PsbtAnalysis)> = None;
    for (pos, w) in wallets.iter().enumerate() {
        let a = w.analyze(psbt, opts);
        let owned = a.inputs.iter().filter(|i| i.ours.is_some()).count();
        if best.as_ref().is_none_or(|(_, n, _)| owned > *n) {
            best = Some((pos, owned, a));
        }
    }
    match best {
        None => Decision {
            wallet: None,
            analysis: None,
            refusal: Some(Refusal {
                rule: RULE_NO_WALLET,
                detail: "no wallet is registered in this keystore (kinko-signer register)".into(),
            }),
        },
        Some((pos, _, a)) => {
            let refusal = a.first_refusal().map(|f| Refusal {
                rule: f.rule,
                detail: f.to_string(),
            });
            Decision {
                wallet: Some(pos),
                analysis: Some(a),
                refusal,
            }
        }
    }
}

/// Decodes a PSBT file's bytes (binary or base64) and decides about it: the
/// whole path from untrusted bytes to a decision (what the fuzzer runs).
///
/// # Errors
///
/// [`DecodePsbtError`] when the bytes are not a PSBT.
pub fn decide_bytes(
    wallets: &[MultisigWallet],
    bytes: &[u8],
    opts: &AnalysisOptions,
) -> Result<(Psbt, PsbtEncoding, Decision), DecodePsbtError> {
    let (psbt, enc) = decode_psbt(bytes)?;
    let d = decide(wallets, &psbt, opts);
    Ok((psbt, enc, d))
}
