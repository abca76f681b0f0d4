//! What the key holder reads before signing, as text or JSON.

use kinko_wallet::bitcoin::Amount;
pub use kinko_wallet::report::btc;
use kinko_wallet::{report, MultisigWallet, OutputKind};
use serde_json::{json, Value};

use crate::Decision;

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

/// The same summary for machines.
pub fn summary_json(wallet: Option<(&str, &MultisigWallet)>, d: &Decision) -> Value {
    let decision = match &d.refusal {
        None => json!({"sign": true}),
        Some(r) => json!({"sign": false, "rule": r.rule, "detail": r.detail}),
    };
    let Some(a) = &d.analysis else {
        return json!({"wallet": null, "decision": decision});
    };
    let sat = |v: Option<Amount>| v.map(Amount::to_sat);
    let inputs: Vec<Value> = a
        .inputs
        .iter()
        .map(|i| {
            json!({
                "outpoint": i.outpoint.to_string(),
                "amount_sat": sat(i.amount),
                "ours": i.ours.map(|(kc, idx)| json!({"keychain": kc.as_str(), "index": idx})),
                "signatures": i.signatures,
                "needed": i.needed,
                "finalized": i.finalized,
            })
        })
        .collect();
    let outputs: Vec<Value> = a
        .outputs
        .iter()
        .map(|o| {
            let kind = match o.kind {
                OutputKind::External => json!({"kind": "external"}),
                OutputKind::Change { keychain, index } => {
                    json!({"kind": "change", "keychain": keychain.as_str(), "index": index})
                }
                OutputKind::Suspicious { rule } => {
                    json!({"kind": "suspicious", "rule": rule.as_str()})
                }
            };
            json!({
                "address": o.address.as_ref().map(ToString::to_string),
                "script_pubkey": o.script_pubkey.to_hex_string(),
                "amount_sat": o.amount.to_sat(),
                "class": kind,
            })
        })
        .collect();
    let findings: Vec<Value> = a
        .findings
        .iter()
        .map(|f| {
            json!({
                "rule": f.rule.as_str(),
                "severity": f.severity.as_str(),
                "input": f.input,
                "output": f.output,
                "detail": f.detail,
            })
        })
        .collect();
    json!({
        "wallet": wallet.map(|(name, w)| json!({
            "id": a.wallet_id,
            "name": name,
            "threshold": w.threshold(),
            "keys": w.keys().len(),
            "network": a.network.to_string(),
        })),
        "txid": a.txid.to_string(),
        "inputs": inputs,
        "outputs": outputs,
        "total_in_sat": sat(a.total_in),
        "total_out_sat": sat(a.total_out),
        "fee_sat": sat(a.fee),
        "fee_rate_sat_per_kwu": a.fee_rate.map(|r| r.to_sat_per_kwu()),
        "estimated_vsize": a.estimated_weight.map(|w| w.to_vbytes_ceil()),
        "findings": findings,
        "decision": decision,
    })
}
