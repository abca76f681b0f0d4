//! The answer of `kinko cosign --id … --json` to a payout cosigned for the
//! first time (docs/cosigner.md), checked the same in both modes.

use serde_json::{json, Value};

/// `done` is the first cosign of transaction `txid` paying `payments`
/// (`(id, output)`, in the order the ids were given), with fee `fee_sat`
/// and `signatures` cosigner signatures: one audit record per id.
pub fn assert_first_payout(
    done: &Value,
    txid: &str,
    payments: &[(&str, u64)],
    fee_sat: u64,
    signatures: usize,
) {
    let kind = if payments.len() == 1 {
        "withdrawal"
    } else {
        "payout"
    };
    assert_eq!(done["cosigned"], kind, "{done}");
    assert_eq!(done["asset"], "BTC");
    assert_eq!(done["txid"], txid);
    let ids: Vec<&str> = payments.iter().map(|(id, _)| *id).collect();
    assert_eq!(done["ids"], json!(ids));
    let outputs: Vec<Value> = payments
        .iter()
        .map(|(id, o)| json!({ "id": id, "output": o }))
        .collect();
    assert_eq!(done["payments"], json!(outputs));
    assert_eq!(done["fee_sat"], fee_sat);
    assert_eq!(done["replaces"], Value::Null);
    assert_eq!(done["again"], false);
    assert_eq!(done["signatures"], signatures);
    let records = done["audit_seq"].as_u64().unwrap() - done["audit_seq_first"].as_u64().unwrap();
    assert_eq!(records, payments.len() as u64 - 1);
    match payments {
        [(id, _)] => assert_eq!(done["id"], *id),
        _ => assert_eq!(done.get("id"), None),
    }
}
