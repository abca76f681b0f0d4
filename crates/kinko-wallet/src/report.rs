//! The plain-text summary of a [`PsbtAnalysis`] that a person reads before
//! signing: one renderer shared by the air-gapped signer (`kinko-signer
//! inspect` / `sign`) and the coordinator (`kinko psbt inspect`), so both
//! show the same facts in the same words.

use bitcoin::Amount;

use crate::{MultisigWallet, OutputKind, PsbtAnalysis};

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

/// The summary: the wallet (with its registered name, if any; no line when
/// `wallet` is `None`), inputs,
/// outputs (external, verified change with keychain and index, or
/// suspicious with the rule), totals, fee and fee rate, signatures present
/// and needed, and every finding with its rule.
pub fn summary_text(a: &PsbtAnalysis, wallet: Option<(&MultisigWallet, Option<&str>)>) -> String {
    let mut s = String::new();
    if let Some((w, name)) = wallet {
        let name = name.map(|n| format!(" {n:?}")).unwrap_or_default();
        s.push_str(&format!(
            "wallet:    {}{name} ({} of {}, {})\n",
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
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btc_is_exact() {
        assert_eq!(
            btc(Amount::from_sat(150_000)),
            "0.00150000 BTC (150000 sat)"
        );
        assert_eq!(
            btc(Amount::from_sat(2_100_000_000_000_000)),
            "21000000.00000000 BTC (2100000000000000 sat)"
        );
        assert_eq!(btc(Amount::ZERO), "0.00000000 BTC (0 sat)");
    }
}
