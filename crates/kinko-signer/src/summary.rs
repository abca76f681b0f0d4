//! What the key holder reads before signing, as text or JSON.

use kinko_wallet::bitcoin::Amount;
use kinko_wallet::{MultisigWallet, OutputKind, PsbtAnalysis};
use serde_json::{json, Value};

use crate::Decision;

/// `0.00150000 BTC (150000 sat)`, in integer arithmetic.
pub fn btc(a: Amount) -> String {
    let s = a.to_sat();
    format!("{}.{:08} BTC ({s} sat)", s / 100_000_000, s % 100_000_000)
}

fn kind_text(k: &OutputKind) -> String {
    match k {
        OutputKind::External => "external".into(),
        OutputKind::Change { keychain, index } => {
            format!("verified change ({keychain} keychain, index {index})")
        }
        OutputKind::Suspicious { rule } => format!("SUSPICIOUS ({rule})"),
    }
}

fn fee_rate_text(a: &PsbtAnalysis) -> String {
    match (a.fee_rate, a.estimated_weight) {
        (Some(r), Some(w)) => {
            // sat/kwu to sat/vB with two decimals, integers only.
            let kwu = r.to_sat_per_kwu();
            format!(
                "{}.{:02} sat/vB (about {} vB signed)",
                kwu / 250,
                (kwu % 250) * 100 / 250,
                w.to_vbytes_ceil()
            )
        }
        _ => "unknown".into(),
    }
}

/// The plain-text summary: wallet, inputs, outputs, totals, fee and fee
/// rate, signatures, every finding with its rule, and the decision.
pub fn summary_text(wallet: Option<(&str, &MultisigWallet)>, d: &Decision) -> String {
    let mut s = String::new();
    let Some(a) = &d.analysis else {
        s.push_str("wallet: none registered\n");
        push_decision(&mut s, d);
        return s;
    };
    if let Some((name, w)) = wallet {
        s.push_str(&format!(
            "wallet:    {} {name:?} ({} of {}, {})\n",
            a.wallet_id,
            w.threshold(),
            w.keys().len(),
            a.network
        ));
    }
    s.push_str(&format!("txid:      {}\n", a.txid));
    s.push_str(&format!("inputs ({}):\n", a.inputs.len()));
    for (i, inp) in a.inputs.iter().enumerate() {
        let whose = match inp.ours {
            Some((kc, idx)) => format!("ours ({kc} keychain, index {idx})"),
            None => "NOT OURS".into(),
        };
        let amount = inp.amount.map_or("amount unknown".into(), btc);
        let sigs = if inp.finalized {
            "finalized".into()
        } else {
            format!("signatures {} of {}", inp.signatures, inp.needed)
        };
        s.push_str(&format!(
            "  {i}: {}\n     {amount}, {whose}, {sigs}\n",
            inp.outpoint
        ));
    }
    s.push_str(&format!("outputs ({}):\n", a.outputs.len()));
    for (i, o) in a.outputs.iter().enumerate() {
        let addr = o
            .address
            .as_ref()
            .map_or_else(|| format!("script {}", o.script_pubkey), |a| a.to_string());
        s.push_str(&format!(
            "  {i}: {addr}\n     {}, {}\n",
            btc(o.amount),
            kind_text(&o.kind)
        ));
    }
    let opt = |v: Option<Amount>| v.map_or("unknown".into(), btc);
    s.push_str(&format!("total in:  {}\n", opt(a.total_in)));
    s.push_str(&format!("total out: {}\n", opt(a.total_out)));
    s.push_str(&format!("fee:       {}\n", opt(a.fee)));
    s.push_str(&format!("fee rate:  {}\n", fee_rate_text(a)));
    if a.findings.is_empty() {
        s.push_str("findings:  none\n");
    } else {
        s.push_str("findings:\n");
        for f in &a.findings {
            s.push_str(&format!("  {f}\n"));
        }
    }
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
