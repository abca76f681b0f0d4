//! What the key holder reads before signing, as text or JSON.

use std::fmt;

use kinko_wallet::bitcoin::Network;
pub use kinko_wallet::report::btc;
use kinko_wallet::{report, MultisigWallet, PsbtAnalysis, Rule};
use serde::Serialize;

use crate::{Decision, Refusal};

/// The plain-text summary: wallet, inputs, outputs, totals, fee and fee
/// rate, signatures, every finding with its rule, and the decision.
pub fn summary_text(wallet: Option<(&str, &MultisigWallet)>, d: &Decision) -> String {
    let mut s = String::new();
    let Some(a) = &d.analysis else {
        s.push_str("wallet: none registered\n");
        push_decision(&mut s, d);
        return s;
    };
    s.push_str(&report::summary_text(
        a,
        wallet.map(|(name, w)| (w, Some(name))),
    ));
    push_decision(&mut s, d);
    s
}

fn push_decision(s: &mut String, d: &Decision) {
    match &d.refusal {
        None => s.push_str("decision:  may sign\n"),
        Some(r) => s.push_str(&format!("decision:  REFUSE by rule {}\n", r.rule)),
    }
}

/// The same summary for machines: the analysis in the JSON form `kinko psbt
/// inspect --json` prints (docs/psbt.md), plus the registered `wallet`
/// (null when none is) and the signer's `decision`. `Display` writes it as
/// compact JSON, keys in sorted order.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SummaryJson<'a> {
    /// The wallet the PSBT was analysed against.
    #[serde(rename = "wallet")]
    wallet: Option<WalletJson<'a>>,
    /// The analysis with its wallet's threshold and keys, absent when no
    /// wallet is registered.
    #[serde(flatten)]
    psbt: Option<kinko_cmd::PsbtJson<'a>>,
    /// The analysis alone, when the caller names no wallet for it.
    #[serde(flatten)]
    analysis: Option<&'a PsbtAnalysis>,
    /// May the signer sign, and if not, by which rule.
    #[serde(rename = "decision")]
    decision: DecisionJson<'a>,
}

/// The registered wallet in the JSON summary.
#[derive(Debug, Clone, Copy, Serialize)]
struct WalletJson<'a> {
    #[serde(rename = "id")]
    id: &'a str,
    #[serde(rename = "name")]
    name: &'a str,
    #[serde(rename = "threshold")]
    threshold: usize,
    #[serde(rename = "keys")]
    keys: usize,
    #[serde(rename = "network", serialize_with = "display")]
    network: Network,
}

fn display<S: serde::Serializer>(v: &impl fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// `{"sign": true}` or `{"sign": false, "rule", "detail"}`.
#[derive(Debug, Clone, Copy, Serialize)]
struct DecisionJson<'a> {
    #[serde(rename = "sign")]
    sign: bool,
    #[serde(rename = "rule", skip_serializing_if = "Option::is_none")]
    rule: Option<Rule>,
    #[serde(rename = "detail", skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
}

/// The JSON summary of decision `d`, about `wallet` (its registered name and
/// the wallet) when one was chosen.
pub fn summary_json<'a>(
    wallet: Option<(&'a str, &'a MultisigWallet)>,
    d: &'a Decision,
) -> SummaryJson<'a> {
    let decision = match &d.refusal {
        None => DecisionJson {
            sign: true,
            rule: None,
            detail: None,
        },
        Some(Refusal { rule, detail }) => DecisionJson {
            sign: false,
            rule: Some(*rule),
            detail: Some(detail),
        },
    };
    let Some(a) = &d.analysis else {
        return SummaryJson {
            wallet: None,
            psbt: None,
            analysis: None,
            decision,
        };
    };
    SummaryJson {
        wallet: wallet.map(|(name, w)| WalletJson {
            id: &a.wallet_id,
            name,
            threshold: w.threshold(),
            keys: w.keys().len(),
            network: a.network,
        }),
        psbt: wallet.map(|(_, w)| kinko_cmd::PsbtJson::new(w, a)),
        analysis: wallet.is_none().then_some(a),
        decision,
    }
}

impl fmt::Display for SummaryJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through a value: keys in sorted order, as the pretty form prints them.
        let v = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        write!(f, "{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_wallet_is_the_wallet_and_the_decision_only() {
        let d = crate::decide(&[], &empty_psbt(), &Default::default());
        let v = serde_json::to_value(summary_json(None, &d)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "wallet": null,
                "decision": {
                    "sign": false,
                    "rule": "input-not-ours",
                    "detail": "no wallet is registered in this keystore (kinko-signer register)",
                },
            })
        );
        assert_eq!(summary_json(None, &d).to_string(), v.to_string());
    }

    fn empty_psbt() -> kinko_wallet::bitcoin::psbt::Psbt {
        use kinko_wallet::bitcoin::{absolute::LockTime, transaction::Version, Transaction};
        kinko_wallet::bitcoin::psbt::Psbt::from_unsigned_tx(Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![],
            output: vec![],
        })
        .unwrap()
    }
}
