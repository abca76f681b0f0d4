//! `docs/openapi.json` describes the API the service serves: its paths and
//! methods are exactly `ENDPOINTS`, and each body's schema has exactly the
//! fields serde writes for the Rust type.

use std::collections::BTreeSet;

use kinko_client::api::{
    AmountRequest, AuditHeads, CosignRequest, CosignedConsolidation, CosignedPayout, CosignedSweep,
    CosignedWithdrawal, Decided, DepositRequest, ErrorBody, ErrorDetail, FailRequest,
    FreezeRequest, IdRequest, PayoutRequest, PolicyChangeRequest, QuorumRequest, SignedRequest,
    State, SweepAddress, WalletName, WithdrawalRequest, ENDPOINTS,
};
use kinko_policy::{Decision, Timestamp};
use serde_json::{json, Value};

fn doc() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json");
    serde_json::from_str(&text).expect("docs/openapi.json is JSON")
}

/// The schema a `$ref` names (`#/components/schemas/X`): its name.
fn ref_name(v: &Value) -> &str {
    v["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("not a schema reference: {v}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// A sample of each schema's Rust type, as serde writes it.
fn samples() -> Vec<(&'static str, Value)> {
    let v = |x: serde_json::Result<Value>| x.unwrap();
    let at = Timestamp::parse_rfc3339("2026-01-26T09:00:00Z").unwrap();
    let sig = json!({});
    vec![
        (
            "WithdrawalRequest",
            v(serde_json::to_value(WithdrawalRequest {
                request_id: "r".into(),
                id: "w".into(),
                user: "u".into(),
                destination: "d".into(),
                amount_sat: 1,
            })),
        ),
        (
            "IdRequest",
            v(serde_json::to_value(IdRequest {
                request_id: "r".into(),
            })),
        ),
        (
            "SignedRequest",
            v(serde_json::to_value(SignedRequest {
                request_id: "r".into(),
                signed: sig.clone(),
            })),
        ),
        (
            "QuorumRequest",
            v(serde_json::to_value(QuorumRequest {
                request_id: "r".into(),
                signed: vec![sig.clone()],
            })),
        ),
        (
            "PolicyChangeRequest",
            v(serde_json::to_value(PolicyChangeRequest {
                request_id: "r".into(),
                policy: "p".into(),
                signed: vec![sig],
            })),
        ),
        (
            "DepositRequest",
            v(serde_json::to_value(DepositRequest {
                request_id: "r".into(),
                wallet: WalletName::Hot,
                amount_sat: 1,
            })),
        ),
        (
            "AmountRequest",
            v(serde_json::to_value(AmountRequest {
                request_id: "r".into(),
                amount_sat: 1,
            })),
        ),
        (
            "FreezeRequest",
            v(serde_json::to_value(FreezeRequest {
                request_id: "r".into(),
                by: "b".into(),
                reason: "r".into(),
            })),
        ),
        (
            "CosignRequest",
            v(serde_json::to_value(CosignRequest { psbt: "p".into() })),
        ),
        ("Empty", json!({})),
        (
            "Decided",
            v(serde_json::to_value(Decided {
                request_id: "r".into(),
                asset: "BTC".into(),
                outcome: "recorded".into(),
                rule: None,
                at,
                decision: Decision::Recorded,
                changes: vec![],
                proposals: vec![],
                audit_seq: 1,
                audit_hash: "h".into(),
            })),
        ),
        (
            "CosignedWithdrawal",
            v(serde_json::to_value(CosignedWithdrawal {
                id: "w".into(),
                txid: "t".into(),
                fee_sat: 1,
                signatures: 1,
                again: false,
                audit_seq: 1,
                psbt: "p".into(),
            })),
        ),
        (
            "FailRequest",
            v(serde_json::to_value(FailRequest {
                request_id: "r".into(),
                conflict: Some("t".into()),
            })),
        ),
        (
            "PayoutRequest",
            v(serde_json::to_value(PayoutRequest {
                ids: vec!["w".into()],
                psbt: "p".into(),
            })),
        ),
        (
            "CosignedPayout",
            v(serde_json::to_value(CosignedPayout {
                ids: vec!["w".into()],
                txid: "t".into(),
                payment_outputs: vec![0],
                fee_sat: 1,
                replaces: None,
                signatures: 1,
                again: false,
                audit_seq_first: 1,
                audit_seq_last: 1,
                psbt: "p".into(),
            })),
        ),
        (
            "CosignedConsolidation",
            v(serde_json::to_value(CosignedConsolidation {
                txid: "t".into(),
                fee_sat: 1,
                signatures: 1,
                psbt: "p".into(),
            })),
        ),
        (
            "CosignedSweep",
            v(serde_json::to_value(CosignedSweep {
                txid: "t".into(),
                amount_sat: 1,
                fee_sat: 1,
                signatures: 1,
                psbt: "p".into(),
            })),
        ),
        (
            "SweepAddress",
            v(serde_json::to_value(SweepAddress {
                cold_index: 0,
                address: "a".into(),
            })),
        ),
        (
            "State",
            v(serde_json::to_value(State {
                setup_id: "s".into(),
                asset: "BTC".into(),
                hot_sat: 0,
                cold_sat: 0,
                reserved_sat: 0,
                vouched_sat: None,
                frozen_since: None,
                frozen_reason: None,
                audit_count: 0,
                audit_head: "h".into(),
                now: at,
            })),
        ),
        (
            "AuditHeads",
            v(serde_json::to_value(AuditHeads {
                audit_key: "k".into(),
                heads: vec![],
            })),
        ),
        (
            "ErrorBody",
            v(serde_json::to_value(ErrorBody {
                error: ErrorDetail {
                    kind: "refused".into(),
                    rule: None,
                    detail: "d".into(),
                },
            })),
        ),
        (
            "ErrorDetail",
            v(serde_json::to_value(ErrorDetail {
                kind: "refused".into(),
                rule: None,
                detail: "d".into(),
            })),
        ),
    ]
}

#[test]
fn paths_and_methods_are_the_endpoints() {
    let d = doc();
    assert_eq!(d["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let mut described = BTreeSet::new();
    for (path, item) in d["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method == "parameters" {
                continue;
            }
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|e| (e.method.to_owned(), e.path.to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&described).collect();
    let extra: Vec<_> = described.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not described: {missing:?}; described but not served: {extra:?}"
    );
    // A path with `{id}` declares the parameter.
    for (path, item) in d["paths"].as_object().unwrap() {
        if path.contains("{id}") {
            assert_eq!(item["parameters"][0]["name"], "id", "{path}");
        }
    }
}

/// (schema, field) that a body may leave out.
const OPTIONAL: &[(&str, &str)] = &[("FailRequest", "conflict")];

#[test]
fn schemas_are_the_fields_of_the_types() {
    let d = doc();
    let schemas = &d["components"]["schemas"];
    for (name, sample) in samples() {
        let schema = &schemas[name];
        assert!(schema.is_object(), "no schema {name}");
        let props = schema.get("properties").map_or_else(BTreeSet::new, keys);
        assert_eq!(props, keys(&sample), "schema {name}");
        // Every field serde always writes is required (an Option is written
        // as null, so it is required too).
        if let Some(req) = schema.get("required") {
            let req: BTreeSet<String> = req
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            // Fields serde leaves out when absent are optional.
            let optional: BTreeSet<String> = OPTIONAL
                .iter()
                .filter(|(n, _)| *n == name)
                .map(|(_, f)| (*f).to_owned())
                .collect();
            let want: BTreeSet<String> = props.difference(&optional).cloned().collect();
            assert_eq!(req, want, "schema {name}: required");
        }
    }
}

#[test]
fn every_body_and_answer_names_a_tested_schema() {
    let d = doc();
    let tested: BTreeSet<&str> = samples().iter().map(|(n, _)| *n).collect();
    for e in ENDPOINTS {
        let op = &d["paths"][e.path][e.method.to_lowercase()];
        if e.method == "POST" {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            let name = ref_name(body);
            assert!(tested.contains(name), "{} {}: {name}", e.method, e.path);
            // Every decision can be a 409; the others carry no request id.
            let decides = body.to_string().contains("Request\"")
                && !["CosignRequest", "PayoutRequest"].contains(&name);
            assert_eq!(
                op["responses"].get("409").is_some(),
                decides,
                "{} {}",
                e.method,
                e.path
            );
        }
        let ok = &op["responses"]["200"]["content"];
        if let Some(schema) = ok.get("application/json").map(|c| &c["schema"]) {
            let name = ref_name(schema);
            if !["Health", "Ready"].contains(&name) {
                assert!(tested.contains(name), "{} {}: {name}", e.method, e.path);
            }
        }
    }
}
