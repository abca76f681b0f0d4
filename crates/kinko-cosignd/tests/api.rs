//! The `/v1` API, endpoint by endpoint, through the service on an ephemeral
//! loopback port over a fixture's ledger: every endpoint of
//! [`ENDPOINTS`] answers a success; every refusal the backend can provoke
//! through it is named by its rule; every decision retried with the same
//! `request_id` gets the same bytes, also after a restart; and the
//! transport (mutual TLS, limits, malformed bodies) refuses what it must
//! without stopping the service.

#[path = "../../kinko-cosigner/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bitcoin::psbt::Psbt;
use bitcoin::{Address, Network};
use common::*;
use kinko_auth::{Action, SetupId, SignedAction, UnixTime};
use kinko_client::api::{
    self, AmountRequest, CosignRequest, Decided, DepositRequest, ErrorBody, FailRequest,
    FreezeRequest, IdRequest, PolicyChangeRequest, QuorumRequest, SignedRequest, WalletName,
    WithdrawalRequest, ENDPOINTS,
};
use kinko_client::ClientError;
use kinko_cosignd::certs::RunCerts;
use kinko_wallet::Keychain;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use serde_json::{json, Value};
use support::Service;

/// Above the example policy's approval threshold (1 BTC): waits for alice.
const BIG: u64 = 200_000_000;
/// Below it: approved at once.
const SMALL: u64 = 50_000_000;

// ----- helpers -----

fn b64(p: &Psbt) -> String {
    base64::engine::general_purpose::STANDARD.encode(p.serialize())
}

fn unb64(s: &str) -> Psbt {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64");
    Psbt::deserialize(&bytes).expect("a PSBT")
}

/// A signed action as the JSON value the API carries.
fn js(s: &SignedAction) -> Value {
    serde_json::from_str(&s.to_json()).expect("a signed action is JSON")
}

fn signed_req(request_id: &str, s: &SignedAction) -> SignedRequest {
    SignedRequest {
        request_id: request_id.into(),
        signed: js(s),
    }
}

fn quorum_req(request_id: &str, s: &[SignedAction]) -> QuorumRequest {
    QuorumRequest {
        request_id: request_id.into(),
        signed: s.iter().map(js).collect(),
    }
}

fn withdrawal(request_id: &str, id: &str, to: &str, amount: u64) -> WithdrawalRequest {
    WithdrawalRequest {
        request_id: request_id.into(),
        id: id.into(),
        user: "user-1".into(),
        destination: to.into(),
        amount_sat: amount,
    }
}

fn cosign_req(p: &Psbt) -> CosignRequest {
    CosignRequest { psbt: b64(p) }
}

/// The status, kind and rule of an error answer; panics on a success.
fn api_err<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String, Option<String>, String) {
    match r {
        Err(ClientError::Api {
            status,
            kind,
            rule,
            detail,
        }) => (status, kind, rule, detail),
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// The rule of a refusal: 422, kind `refused`.
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    let (status, kind, rule, detail) = api_err(r);
    assert_eq!((status, kind.as_str()), (422, "refused"), "{detail}");
    rule.unwrap_or_else(|| panic!("a refusal names its rule: {detail}"))
}

/// The detail of a `400 malformed`.
fn malformed<T: std::fmt::Debug>(r: Result<T, ClientError>) -> String {
    let (status, kind, rule, detail) = api_err(r);
    assert_eq!(
        (status, kind.as_str(), rule),
        (400, "malformed", None),
        "{detail}"
    );
    detail
}

/// The rule of a denial: 200, outcome `denied`.
fn denied(d: &Decided) -> &str {
    assert_eq!(d.outcome, "denied", "{d:?}");
    d.rule.as_deref().expect("a denial names its rule")
}

/// A TLS client of the service: the CA of `ca`, and the client certificate
/// and key given (or none).
fn tls_config(ca: &RunCerts, client: Option<(&str, &str)>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    match client {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    }
}

/// Raw requests: the bytes sent and the bytes answered.
struct Raw {
    agent: ureq::Agent,
    base: String,
}

impl Raw {
    fn new(url: &str, config: rustls::ClientConfig) -> Self {
        Raw {
            agent: ureq::AgentBuilder::new()
                .tls_config(Arc::new(config))
                .timeout(Duration::from_secs(60))
                .build(),
            base: url.to_owned(),
        }
    }

    /// The backend's raw client of `svc`.
    fn of(svc: &Service) -> Self {
        let c = &svc.certs;
        Raw::new(
            &svc.url(),
            tls_config(c, Some((&c.client_pem, &c.client_key_pem))),
        )
    }

    fn send(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("content-type", "application/json");
        let res = if method == "GET" {
            req.call()
        } else {
            req.send_bytes(body)
        };
        let r = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(e.to_string()),
        };
        let status = r.status();
        let mut out = Vec::new();
        r.into_reader()
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        Ok((status, out))
    }

    fn post<B: Serialize>(&self, path: &str, body: &B) -> (u16, Vec<u8>) {
        self.send("POST", path, &serde_json::to_vec(body).unwrap())
            .unwrap()
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        self.send("GET", path, b"").unwrap()
    }
}

/// The error body of an answer.
fn error_of(status: u16, body: &[u8]) -> ErrorBody {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "{status}: not an error body ({e}): {}",
            String::from_utf8_lossy(body)
        )
    })
}

/// The value of a sample of `/metrics`, `name{labels}`, or 0.
fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn metrics_text(raw: &Raw) -> String {
    let (status, body) = raw.get("/metrics");
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

/// An admin-quorum action signed by each of `seeds`.
fn signed_by(action: &Action, seeds: &[u8]) -> Vec<SignedAction> {
    seeds.iter().map(|s| action.sign(&person(*s))).collect()
}

fn allowlist_add(f: &Fixture, to: &Address) -> Action {
    Action::AllowlistAdd {
        setup_id: f.setup.id(),
        asset: "BTC".into(),
        destination: to.to_string(),
        expires: f.expires_in(3600),
    }
}

fn custody(f: &Fixture, amount: u64, as_of: i64) -> Action {
    Action::CustodyStatement {
        setup_id: f.setup.id(),
        asset: "BTC".into(),
        amount,
        as_of: UnixTime::from_unix(as_of),
        expires: f.expires_in(3600),
    }
}

fn policy_cancel(f: &Fixture, sequence: u64, seed: u8) -> SignedAction {
    Action::PolicyCancel {
        setup_id: f.setup.id(),
        asset: "BTC".into(),
        sequence,
        expires: f.expires_in(3600),
    }
    .sign(&person(seed))
}

fn unfreeze_vote(f: &Fixture, frozen_at: i64, seed: u8) -> SignedAction {
    Action::Unfreeze {
        setup_id: f.setup.id(),
        asset: "BTC".into(),
        frozen_at: UnixTime::from_unix(frozen_at),
        expires: f.expires_in(3600),
    }
    .sign(&person(seed))
}

/// The example policy with an allowlist (`outside(1)` active from the
/// start, additions after a day, other destinations need an approval).
fn allowlist_policy() -> String {
    format!(
        "{POLICY}\n[assets.BTC.allowlist]\nmode = \"require-approval\"\nactivation_delay = \"24h\"\nentries = [\"{}\"]\n",
        outside(1)
    )
}

fn loosened(policy: &str) -> String {
    policy.replace(
        "max_withdrawal = 500_000_000",
        "max_withdrawal = 900_000_000",
    )
}

// ----- 1. every endpoint, and every decision retried -----

/// One call of the tour: what was sent and what came back.
struct Call {
    endpoint: &'static str,
    method: &'static str,
    path: String,
    body: Vec<u8>,
    status: u16,
    answer: Vec<u8>,
}

struct Tour<'a> {
    raw: &'a Raw,
    calls: Vec<Call>,
}

impl Tour<'_> {
    fn call(&mut self, endpoint: &'static str, path: &str, body: Option<Vec<u8>>) -> Value {
        let ep = ENDPOINTS
            .iter()
            .find(|e| e.path == endpoint)
            .unwrap_or_else(|| panic!("{endpoint} is not an endpoint"));
        let body = body.unwrap_or_default();
        let (status, answer) = self.raw.send(ep.method, path, &body).unwrap();
        assert_eq!(
            status,
            200,
            "{} {path}: {}",
            ep.method,
            String::from_utf8_lossy(&answer)
        );
        let v = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        self.calls.push(Call {
            endpoint,
            method: ep.method,
            path: path.to_owned(),
            body,
            status,
            answer,
        });
        v
    }

    fn post<B: Serialize>(&mut self, endpoint: &'static str, path: &str, body: &B) -> Value {
        self.call(endpoint, path, Some(serde_json::to_vec(body).unwrap()))
    }

    fn get(&mut self, endpoint: &'static str) -> Value {
        self.call(endpoint, endpoint, None)
    }

    /// A decision: `outcome` as expected.
    fn decide<B: Serialize>(
        &mut self,
        endpoint: &'static str,
        path: &str,
        body: &B,
        outcome: &str,
    ) -> Decided {
        let v = self.post(endpoint, path, body);
        let d: Decided = serde_json::from_value(v).expect("a decision");
        assert_eq!(d.outcome, outcome, "{path}: {d:?}");
        d
    }
}

/// Every endpoint answers a success (the cosigned transactions pass
/// Bitcoin Core's interpreter); every decision retried with its
/// `request_id` gets the same bytes, and again after a restart on the same
/// ledger; a cosign retried returns the same PSBT.
#[test]
fn every_endpoint_answers_and_every_decision_retries_byte_identically() {
    let policy = allowlist_policy();
    let f = Fixture::new(&policy);
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    let mut t = Tour {
        raw: &raw,
        calls: Vec::new(),
    };
    let dest = outside(1);

    assert_eq!(t.get("/v1/health"), json!({ "status": "ok" }));
    assert_eq!(t.get("/v1/ready")["status"], "ready");
    let st: api::State = serde_json::from_value(t.get("/v1/state")).unwrap();
    assert_eq!((st.asset.as_str(), st.hot_sat), ("BTC", 4 * COIN));

    // Withdrawals: one approved at once, one after alice's approval.
    f.advance(1);
    let w = |r: &str, id: &str, a| withdrawal(r, id, &dest.to_string(), a);
    t.decide(
        "/v1/withdrawals",
        "/v1/withdrawals",
        &w("r-1", "w-1", SMALL),
        "approved",
    );
    t.decide(
        "/v1/withdrawals",
        "/v1/withdrawals",
        &w("r-2", "w-2", BIG),
        "pending",
    );
    let alice = f.approval(0x11, "w-2", &dest, BIG);
    t.decide(
        "/v1/withdrawals/{id}/approvals",
        "/v1/withdrawals/w-2/approvals",
        &signed_req("r-3", &alice),
        "approved",
    );

    // w-1 cosigned: the transaction verifies; a retry returns the same PSBT.
    let psbt = f.psbt(&[(&dest, SMALL)], 5);
    let c: api::CosignedWithdrawal = serde_json::from_value(t.post(
        "/v1/withdrawals/{id}/cosign",
        "/v1/withdrawals/w-1/cosign",
        &cosign_req(&psbt),
    ))
    .unwrap();
    assert!(c.signatures > 0 && !c.again, "{c:?}");
    assert_eq!(c.txid, psbt.unsigned_tx.compute_txid().to_string());
    f.verify(unb64(&c.psbt));
    let retry = svc
        .client
        .cosign_withdrawal("w-1", &cosign_req(&psbt))
        .unwrap();
    assert!(retry.again);
    assert_eq!(retry.psbt, c.psbt, "a cosign retry signs the same PSBT");

    f.advance(1);
    t.decide(
        "/v1/withdrawals/{id}/confirmed",
        "/v1/withdrawals/w-1/confirmed",
        &IdRequest {
            request_id: "r-4".into(),
        },
        "recorded",
    );
    t.decide(
        "/v1/withdrawals/{id}/failed",
        "/v1/withdrawals/w-2/failed",
        &IdRequest {
            request_id: "r-5".into(),
        },
        "recorded",
    );
    t.decide(
        "/v1/deposits",
        "/v1/deposits",
        &DepositRequest {
            request_id: "r-6".into(),
            wallet: WalletName::Hot,
            amount_sat: 10_000,
        },
        "recorded",
    );
    let hot = svc.client.state().unwrap().hot_sat;
    // w-1 settled with its transaction's fee (issue #13).
    assert_eq!(hot, 4 * COIN - SMALL - c.fee_sat + 10_000);
    t.decide(
        "/v1/hot-balance",
        "/v1/hot-balance",
        &AmountRequest {
            request_id: "r-7".into(),
            amount_sat: hot,
        },
        "recorded",
    );

    // A batch of two reservations in one transaction, confirmed by txid:
    // both settle and its fee leaves the books.
    for (r, id, amount) in [("r-b1", "w-b1", SMALL), ("r-b2", "w-b2", SMALL + 1)] {
        t.decide(
            "/v1/withdrawals",
            "/v1/withdrawals",
            &w(r, id, amount),
            "approved",
        );
    }
    let batch = f.psbt(&[(&dest, SMALL + 1), (&dest, SMALL)], 5);
    let p: api::CosignedPayout = serde_json::from_value(t.post(
        "/v1/payouts/cosign",
        "/v1/payouts/cosign",
        &api::PayoutRequest {
            ids: vec!["w-b1".into(), "w-b2".into()],
            psbt: b64(&batch),
        },
    ))
    .unwrap();
    assert_eq!(p.payment_outputs, [1, 0]);
    assert_eq!((p.again, p.replaces.as_deref()), (false, None));
    assert_eq!(p.audit_seq_last, p.audit_seq_first + 1);
    f.verify(unb64(&p.psbt));
    let before = svc.client.state().unwrap().hot_sat;
    f.advance(1);
    t.decide(
        "/v1/transactions/{txid}/confirmed",
        &format!("/v1/transactions/{}/confirmed", p.txid),
        &IdRequest {
            request_id: "r-b3".into(),
        },
        "recorded",
    );
    assert_eq!(
        svc.client.state().unwrap().hot_sat,
        before - 2 * SMALL - 1 - p.fee_sat
    );
    // A consolidation of every coin to the hot wallet's change.
    let all = f
        .hot
        .create_psbt(
            &f.utxos,
            &kinko_wallet::CreateParams {
                recipients: vec![],
                fee_rate: bitcoin::FeeRate::from_sat_per_vb(1).unwrap(),
                change_index: 1,
                spend_all: true,
            },
        )
        .unwrap()
        .psbt;
    let cons: api::CosignedConsolidation = serde_json::from_value(t.post(
        "/v1/consolidations/cosign",
        "/v1/consolidations/cosign",
        &cosign_req(&f.exchange_signs(all)),
    ))
    .unwrap();
    f.verify(unb64(&cons.psbt));

    // A sweep to the cold address handed out, then a refill from cold.
    let a: api::SweepAddress =
        serde_json::from_value(t.post("/v1/sweeps/address", "/v1/sweeps/address", &json!({})))
            .unwrap();
    let cold0 = f.setup.cold_wallet().address(Keychain::Receive, 0).unwrap();
    assert_eq!((a.cold_index, a.address.as_str()), (0, &*cold0.to_string()));
    let sweep = f.psbt(&[(&cold0, COIN)], 5);
    let s: api::CosignedSweep = serde_json::from_value(t.post(
        "/v1/sweeps/cosign",
        "/v1/sweeps/cosign",
        &cosign_req(&sweep),
    ))
    .unwrap();
    assert_eq!(s.amount_sat, COIN);
    f.verify(unb64(&s.psbt));
    f.advance(1);
    t.decide(
        "/v1/refills",
        "/v1/refills",
        &AmountRequest {
            request_id: "r-8".into(),
            amount_sat: 10_000_000,
        },
        "recorded",
    );

    // A freeze, lifted by alice's vote.
    let fr = t.decide(
        "/v1/freeze",
        "/v1/freeze",
        &FreezeRequest {
            request_id: "r-9".into(),
            by: "ops".into(),
            reason: "drill".into(),
        },
        "recorded",
    );
    let st = svc.client.state().unwrap();
    let frozen = st.frozen_since.expect("frozen");
    assert_eq!(frozen, fr.at);
    let why = st.frozen_reason.expect("a reason");
    assert!(why.contains("drill"), "{why}");
    t.decide(
        "/v1/unfreeze",
        "/v1/unfreeze",
        &signed_req("r-10", &unfreeze_vote(&f, frozen.unix(), 0x11)),
        "recorded",
    );
    let st = svc.client.state().unwrap();
    assert_eq!((st.frozen_since, st.frozen_reason), (None, None));

    // The admins: a custody statement, an allowlist entry added and
    // cancelled, a policy change proposed and cancelled.
    f.advance(1);
    let st = svc.client.state().unwrap();
    let statement = custody(&f, st.hot_sat + st.cold_sat, f.now().unix());
    t.decide(
        "/v1/custody-statements",
        "/v1/custody-statements",
        &quorum_req("r-11", &signed_by(&statement, &[0x21, 0x22])),
        "recorded",
    );
    assert_eq!(
        svc.client.state().unwrap().vouched_sat,
        Some(st.hot_sat + st.cold_sat)
    );
    let entry = allowlist_add(&f, &outside(5));
    t.decide(
        "/v1/allowlist",
        "/v1/allowlist",
        &quorum_req("r-12", &signed_by(&entry, &[0x21, 0x22])),
        "recorded",
    );
    let cancel = Action::AllowlistCancel {
        setup_id: f.setup.id(),
        asset: "BTC".into(),
        destination: outside(5).to_string(),
        expires: f.expires_in(3600),
    }
    .sign(&person(0x23));
    t.decide(
        "/v1/allowlist/cancel",
        "/v1/allowlist/cancel",
        &signed_req("r-13", &cancel),
        "recorded",
    );
    let loose = loosened(&policy);
    let change = policy_change(&f, &loose, 1, &[0x21, 0x22]);
    t.decide(
        "/v1/policy-changes",
        "/v1/policy-changes",
        &PolicyChangeRequest {
            request_id: "r-14".into(),
            policy: loose.clone(),
            signed: change.iter().map(js).collect(),
        },
        "recorded",
    );
    t.decide(
        "/v1/policy-changes/cancel",
        "/v1/policy-changes/cancel",
        &signed_req("r-15", &policy_cancel(&f, 1, 0x23)),
        "recorded",
    );

    // The audit chain: signed heads, the export.
    let heads: api::AuditHeads = serde_json::from_value(t.get("/v1/audit/heads")).unwrap();
    assert_eq!(heads.audit_key, hex(&audit_key()));
    assert!(!heads.heads.is_empty());
    t.get("/v1/audit/export");
    let export = String::from_utf8(t.calls.last().unwrap().answer.clone()).unwrap();
    let count = svc.client.state().unwrap().audit_count;
    assert_eq!(
        export.lines().filter(|l| l.contains("\"seq\"")).count() as u64,
        count,
        "{export}"
    );
    t.get("/metrics");

    // Every endpoint answered a success.
    let hit: BTreeSet<(&str, &str)> = t.calls.iter().map(|c| (c.method, c.endpoint)).collect();
    let all: BTreeSet<(&str, &str)> = ENDPOINTS.iter().map(|e| (e.method, e.path)).collect();
    assert_eq!(hit, all);

    // Every decision again: the same bytes.
    let calls = std::mem::take(&mut t.calls);
    let decisions: Vec<&Call> = calls
        .iter()
        .filter(|c| c.method == "POST" && !c.endpoint.starts_with("/v1/sweeps"))
        .filter(|c| !c.endpoint.ends_with("/cosign"))
        .collect();
    assert_eq!(decisions.len(), 18);
    let count_before = svc.client.state().unwrap().audit_count;
    let again = |raw: &Raw| {
        for c in &decisions {
            let (status, answer) = raw.send(c.method, &c.path, &c.body).unwrap();
            assert_eq!(status, c.status, "{}", c.path);
            assert_eq!(
                String::from_utf8_lossy(&answer),
                String::from_utf8_lossy(&c.answer),
                "{}: a retry gets the first answer's bytes",
                c.path
            );
        }
    };
    f.advance(60);
    again(&raw);
    assert_eq!(
        svc.client.state().unwrap().audit_count,
        count_before,
        "retries write nothing"
    );

    // A reservation cosigned and not yet settled, to retry after the
    // restart (a settled one is no longer cosigned: `not-reserved`).
    let w3 = withdrawal("r-16", "w-3", &dest.to_string(), SMALL);
    assert_eq!(
        svc.client.request_withdrawal(&w3).unwrap().outcome,
        "approved"
    );
    let psbt = f.psbt(&[(&dest, SMALL)], 7);
    let c = svc
        .client
        .cosign_withdrawal("w-3", &cosign_req(&psbt))
        .unwrap();
    assert!(!c.again);
    let settled = svc.client.cosign_withdrawal("w-1", &cosign_req(&psbt));
    assert_eq!(refused(settled), "not-reserved");

    // A restart on the same ledger: the same answers, from the records.
    let count_before = svc.client.state().unwrap().audit_count;
    let Service { running, .. } = svc;
    running.shutdown().unwrap();
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    again(&raw);
    assert_eq!(svc.client.state().unwrap().audit_count, count_before);
    let retry = svc
        .client
        .cosign_withdrawal("w-3", &cosign_req(&psbt))
        .unwrap();
    assert_eq!(
        (retry.again, &retry.psbt),
        (true, &c.psbt),
        "after a restart"
    );
}

// ----- 2. refusals, by rule -----

#[test]
fn withdrawals_refused_and_denied_by_rule() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;
    // Not an address of the set-up's network: refused, nothing recorded.
    let count = c.state().unwrap().audit_count;
    let mainnet = Address::p2wsh(
        &bitcoin::ScriptBuf::from_bytes(vec![0x51, 1]),
        Network::Bitcoin,
    );
    for (i, to) in ["not an address".to_owned(), mainnet.to_string()]
        .iter()
        .enumerate()
    {
        let r = c.request_withdrawal(&withdrawal(&format!("bad-{i}"), "w-x", to, SMALL));
        assert_eq!(refused(r), "destination-invalid");
    }
    assert_eq!(c.state().unwrap().audit_count, count);

    // Denied by the policy: committed decisions (200), naming the rule.
    let dest = outside(1).to_string();
    let d = c
        .request_withdrawal(&withdrawal("r-1", "w-1", &dest, 500_000_001))
        .unwrap();
    assert_eq!(denied(&d), "max_withdrawal");
    // The 24h window of 10 BTC: 5 + 5 fill it, one more satoshi is over.
    for (r, id) in [("r-2", "w-2"), ("r-3", "w-3")] {
        let d = c
            .request_withdrawal(&withdrawal(r, id, &dest, 500_000_000))
            .unwrap();
        assert_eq!(d.outcome, "pending");
        let s = f.approval(0x11, id, &outside(1), 500_000_000);
        assert_eq!(
            c.approve(id, &signed_req(&format!("{r}-a"), &s))
                .unwrap()
                .outcome,
            "approved"
        );
    }
    let d = c
        .request_withdrawal(&withdrawal("r-4", "w-4", &dest, 1))
        .unwrap();
    assert_eq!(denied(&d), "velocity");
    // The same withdrawal id again: a duplicate, not a second spend.
    let d = c
        .request_withdrawal(&withdrawal("r-7", "w-2", &dest, 500_000_000))
        .unwrap();
    assert_eq!(d.outcome, "duplicate");
    // Frozen: every withdrawal denied.
    c.freeze(&FreezeRequest {
        request_id: "r-5".into(),
        by: "ops".into(),
        reason: "test".into(),
    })
    .unwrap();
    let d = c
        .request_withdrawal(&withdrawal("r-6", "w-6", &dest, 1))
        .unwrap();
    assert_eq!(denied(&d), "frozen");
}

#[test]
fn approvals_refused_by_rule() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;
    let dest = outside(1);
    let d = c
        .request_withdrawal(&withdrawal("r-0", "w-1", &dest.to_string(), BIG))
        .unwrap();
    assert_eq!(d.outcome, "pending");
    let mut n = 0;
    let mut approve = |id: &str, s: &SignedAction| {
        n += 1;
        c.approve(id, &signed_req(&format!("a-{n}"), s))
    };

    // Keys that are not approvers': a stranger's, an admin's.
    for seed in [0x66, 0x21] {
        let s = f.approval(seed, "w-1", &dest, BIG);
        assert_eq!(refused(approve("w-1", &s)), "unknown-signer");
    }
    // alice named, another key's signature.
    let mut forged = f.approval(0x66, "w-1", &dest, BIG);
    forged.signer = person(0x11).x_only_public_key().0;
    assert_eq!(refused(approve("w-1", &forged)), "bad-signature");
    // Another amount, another destination; a withdrawal nobody asked for.
    for s in [
        f.approval(0x11, "w-1", &dest, BIG + 1),
        f.approval(0x11, "w-1", &outside(2), BIG),
    ] {
        assert_eq!(refused(approve("w-1", &s)), "object-mismatch");
    }
    let nobody = f.approval(0x11, "w-9", &dest, BIG);
    assert_eq!(refused(approve("w-9", &nobody)), "object-mismatch");
    // The path names another withdrawal than the signature.
    let ok = f.approval(0x11, "w-1", &dest, BIG);
    let (status, kind, rule, detail) = api_err(approve("w-2", &ok));
    assert_eq!(
        (status, kind.as_str(), rule.as_deref()),
        (422, "refused", Some("object-mismatch"))
    );
    assert!(detail.contains("the path names \"w-2\""), "{detail}");
    // Another set-up.
    let mut action = f.approval_action("w-1", &dest, BIG);
    if let Action::Approval { setup_id, .. } = &mut action {
        *setup_id = SetupId::of_file(b"another set-up");
    }
    assert_eq!(
        refused(approve("w-1", &action.sign(&person(0x11)))),
        "wrong-setup"
    );
    // Expired on the cosigner's clock.
    let mut action = f.approval_action("w-1", &dest, BIG);
    if let Action::Approval { expires, .. } = &mut action {
        *expires = f.expires_in(60);
    }
    let soon = action.sign(&person(0x11));
    f.advance(61);
    assert_eq!(refused(approve("w-1", &soon)), "expired");
    // Another kind of signed action; something that is not one.
    let vote = unfreeze_vote(&f, f.now().unix(), 0x11);
    assert_eq!(refused(approve("w-1", &vote)), "wrong-action");
    let (status, kind, rule, _) = api_err(c.approve(
        "w-1",
        &SignedRequest {
            request_id: "a-junk".into(),
            signed: json!({ "action": "approval" }),
        },
    ));
    assert_eq!(
        (status, kind.as_str(), rule.as_deref()),
        (422, "refused", Some("malformed"))
    );

    // The honest approval, then the same again: replayed.
    let ok = f.approval(0x11, "w-1", &dest, BIG);
    assert_eq!(approve("w-1", &ok).unwrap().outcome, "approved");
    assert_eq!(refused(approve("w-1", &ok)), "replayed");
    f.advance(1);
    let again = f.approval(0x11, "w-1", &dest, BIG);
    assert_eq!(refused(approve("w-1", &again)), "replayed");
}

#[test]
fn cosigns_refused_by_rule() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;
    let dest = outside(1);
    let count = || c.state().unwrap().audit_count;
    let cosign = |id: &str, p: &Psbt| c.cosign_withdrawal(id, &cosign_req(p));

    let p = f.psbt(&[(&dest, SMALL)], 5);
    assert_eq!(refused(cosign("nobody", &p)), "unknown-withdrawal");
    // Not a PSBT; not base64.
    let junk = base64::engine::general_purpose::STANDARD.encode(b"not a psbt");
    let r = c.cosign_withdrawal("w-1", &CosignRequest { psbt: junk });
    assert_eq!(refused(r), "malformed-psbt");
    let detail = malformed(c.cosign_withdrawal("w-1", &CosignRequest { psbt: "%%%".into() }));
    assert!(detail.contains("base64"), "{detail}");

    // Denied: nothing to cosign.
    let d = c
        .request_withdrawal(&withdrawal("r-0", "big", &dest.to_string(), 500_000_001))
        .unwrap();
    assert_eq!(denied(&d), "max_withdrawal");
    let p = f.psbt(&[(&dest, 500_000_001)], 5);
    assert_eq!(refused(cosign("big", &p)), "not-reserved");

    // A reservation, and every transaction that does not pay it.
    let d = c
        .request_withdrawal(&withdrawal("r-1", "w-1", &dest.to_string(), SMALL))
        .unwrap();
    assert_eq!(d.outcome, "approved");
    let before = count();
    let cases = [
        ("destination-mismatch", f.psbt(&[(&outside(2), SMALL)], 5)),
        ("amount-mismatch", f.psbt(&[(&dest, SMALL + 1)], 5)),
        (
            "extra-output",
            f.psbt(&[(&dest, SMALL), (&outside(3), 10_000)], 5),
        ),
        ("fee-too-high", f.psbt(&[(&dest, SMALL)], 900)),
        (
            "non-final-locktime",
            f.psbt_edited(&[(&dest, SMALL)], |tx| {
                tx.lock_time = bitcoin::absolute::LockTime::from_consensus(2_000_000);
            }),
        ),
    ];
    for (want, p) in &cases {
        assert_eq!(&refused(cosign("w-1", p)), want);
    }
    // Each refusal of a reserved withdrawal's cosign is in the chain.
    assert_eq!(count(), before + cases.len() as u64);

    // The right one is cosigned; another transaction for it is not.
    let good = f.psbt(&[(&dest, SMALL)], 5);
    let done = cosign("w-1", &good).unwrap();
    f.verify(unb64(&done.psbt));
    // Another transaction at a lower fee is no fee bump.
    let other = f.psbt(&[(&dest, SMALL)], 3);
    assert_eq!(refused(cosign("w-1", &other)), "replacement-fee-not-higher");
    // A failure report of the cosigned reservation: refused, recorded.
    let r = c.fail(
        "w-1",
        &FailRequest {
            request_id: "r-2".into(),
            conflict: None,
        },
    );
    assert_eq!(refused(r), "reservation-cosigned");
}

#[test]
fn sweeps_deposits_and_admin_actions_refused_by_rule() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;

    // A cold deposit the backend reports.
    let r = c.report_deposit(&DepositRequest {
        request_id: "d-1".into(),
        wallet: WalletName::Cold,
        amount_sat: 1_000_000_000_000,
    });
    assert_eq!(refused(r), "unvouched-cold-deposit");
    // Events the engine refuses outright: a zero deposit, a refill from an
    // empty cold wallet, a report of a withdrawal nobody asked for.
    let r = c.report_deposit(&DepositRequest {
        request_id: "d-2".into(),
        wallet: WalletName::Hot,
        amount_sat: 0,
    });
    assert_eq!(refused(r), "invalid-event");
    let r = c.report_refill(&AmountRequest {
        request_id: "d-3".into(),
        amount_sat: 1,
    });
    assert_eq!(refused(r), "invalid-event");
    let id = |r: &str| IdRequest {
        request_id: r.into(),
    };
    assert_eq!(refused(c.confirm("nobody", &id("d-4"))), "invalid-event");
    let no_conflict = FailRequest {
        request_id: "d-5".into(),
        conflict: None,
    };
    assert_eq!(refused(c.fail("nobody", &no_conflict)), "invalid-event");

    // Sweeps to the attacker's wallet and to the cold wallet at an index
    // not handed out.
    let mine = wallet([7, 8, 9]).address(Keychain::Receive, 0).unwrap();
    let cold1 = f.setup.cold_wallet().address(Keychain::Receive, 1).unwrap();
    for to in [&mine, &cold1] {
        let p = f.psbt(&[(to, COIN)], 5);
        assert_eq!(refused(c.cosign_sweep(&cosign_req(&p))), "sweep-not-cold");
    }

    // Unfreeze when not frozen, and for another freeze.
    let r = c.unfreeze(&signed_req("u-1", &unfreeze_vote(&f, f.now().unix(), 0x11)));
    assert_eq!(refused(r), "object-mismatch");
    c.freeze(&FreezeRequest {
        request_id: "u-2".into(),
        by: "ops".into(),
        reason: "test".into(),
    })
    .unwrap();
    let r = c.unfreeze(&signed_req(
        "u-3",
        &unfreeze_vote(&f, f.now().unix() - 3600, 0x11),
    ));
    assert_eq!(refused(r), "object-mismatch");
    // An admin is not an approver.
    let r = c.unfreeze(&signed_req("u-4", &unfreeze_vote(&f, f.now().unix(), 0x21)));
    assert_eq!(refused(r), "unknown-signer");

    // The allowlist: one admin is not the quorum; nor is one admin twice;
    // an approver is not an admin.
    let entry = allowlist_add(&f, &outside(5));
    let one = signed_by(&entry, &[0x21]);
    assert_eq!(
        refused(c.allowlist_add(&quorum_req("l-1", &one))),
        "quorum-not-met"
    );
    let twice = [one[0].clone(), one[0].clone()];
    assert_eq!(
        refused(c.allowlist_add(&quorum_req("l-2", &twice))),
        "quorum-not-met"
    );
    assert_eq!(
        refused(c.allowlist_add(&quorum_req("l-3", &[]))),
        "quorum-not-met"
    );
    let approver = signed_by(&entry, &[0x21, 0x11]);
    assert_eq!(
        refused(c.allowlist_add(&quorum_req("l-4", &approver))),
        "unknown-signer"
    );
    // Signatures over different actions.
    let mixed = [
        entry.sign(&person(0x21)),
        allowlist_add(&f, &outside(6)).sign(&person(0x22)),
    ];
    assert_eq!(
        refused(c.allowlist_add(&quorum_req("l-5", &mixed))),
        "object-mismatch"
    );
    // A cancellation signed as something else.
    let r = c.allowlist_cancel(&signed_req("l-6", &entry.sign(&person(0x21))));
    assert_eq!(refused(r), "wrong-action");
    // More than 64 signatures: malformed.
    let many = vec![entry.sign(&person(0x21)); 65];
    let detail = malformed(c.allowlist_add(&quorum_req("l-7", &many)));
    assert!(detail.contains("64"), "{detail}");

    // Custody statements: under the quorum; dated after the cosigner's now.
    let now = f.now().unix();
    let s = signed_by(&custody(&f, 4 * COIN, now), &[0x21]);
    assert_eq!(
        refused(c.custody_statement(&quorum_req("c-1", &s))),
        "quorum-not-met"
    );
    let s = signed_by(&custody(&f, 4 * COIN, now + 60), &[0x21, 0x22]);
    assert_eq!(
        refused(c.custody_statement(&quorum_req("c-2", &s))),
        "object-mismatch"
    );

    // Policy changes.
    let loose = loosened(POLICY);
    let change = |r: &str, text: &str, s: &[SignedAction]| {
        c.propose_policy_change(&PolicyChangeRequest {
            request_id: r.into(),
            policy: text.into(),
            signed: s.iter().map(js).collect(),
        })
    };
    let one = policy_change(&f, &loose, 1, &[0x21]);
    assert_eq!(refused(change("p-1", &loose, &one)), "quorum-not-met");
    let sigs = policy_change(&f, &loose, 1, &[0x21, 0x22]);
    assert_eq!(refused(change("p-2", POLICY, &sigs)), "object-mismatch");
    let skipped = policy_change(&f, &loose, 2, &[0x21, 0x22]);
    assert_eq!(refused(change("p-3", &loose, &skipped)), "object-mismatch");
    let moved = POLICY.replace("duration = \"24h\"", "duration = \"12h\"");
    let m = policy_change(&f, &moved, 1, &[0x21, 0x22]);
    assert_eq!(refused(change("p-4", &moved, &m)), "invalid-policy");
    assert_eq!(
        refused(change(
            "p-5",
            "not toml [",
            &policy_change(&f, &loose, 1, &[0x21, 0x22])
        )),
        "invalid-policy"
    );
    // Nothing waits: a cancellation is refused.
    let r = c.cancel_policy_change(&signed_req("p-6", &policy_cancel(&f, 1, 0x23)));
    assert_eq!(refused(r), "object-mismatch");
    assert_eq!(change("p-7", &loose, &sigs).unwrap().outcome, "recorded");
    assert_eq!(refused(change("p-8", &loose, &sigs)), "replayed");
    // A cancellation of another change; by an approver.
    let r = c.cancel_policy_change(&signed_req("p-9", &policy_cancel(&f, 2, 0x23)));
    assert_eq!(refused(r), "object-mismatch");
    let r = c.cancel_policy_change(&signed_req("p-10", &policy_cancel(&f, 1, 0x11)));
    assert_eq!(refused(r), "unknown-signer");
    // One waits: a second change is refused until it is cancelled.
    let next = policy_change(&f, &loose, 2, &[0x22, 0x23]);
    assert_eq!(refused(change("p-11", &loose, &next)), "object-mismatch");
}

// ----- 3. request ids -----

#[test]
fn request_ids_answer_once() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;
    let raw = Raw::of(&svc);
    let dest = outside(1).to_string();
    let first = withdrawal("r-1", "w-1", &dest, SMALL);
    let a = c.request_withdrawal(&first).unwrap();
    assert_eq!(a.request_id, "r-1");

    // The same id with another body, or at another endpoint: 409.
    let mut other = first.clone();
    other.amount_sat += 1;
    let (status, kind, rule, detail) = api_err(c.request_withdrawal(&other));
    assert_eq!(
        (status, kind.as_str(), rule.as_deref()),
        (409, "conflict", Some("request-id-reused"))
    );
    assert!(
        detail.contains(&format!("audit record {}", a.audit_seq)),
        "{detail}"
    );
    let r = c.report_deposit(&DepositRequest {
        request_id: "r-1".into(),
        wallet: WalletName::Hot,
        amount_sat: 1,
    });
    assert_eq!(api_err(r).0, 409);

    // Whitespace and key order do not make another request.
    let body = format!(
        "{{ \"amount_sat\": {SMALL}, \"destination\": \"{dest}\", \"user\": \"user-1\",\n \"id\": \"w-1\", \"request_id\": \"r-1\" }}"
    );
    let (status, answer) = raw
        .send("POST", "/v1/withdrawals", body.as_bytes())
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_slice::<Decided>(&answer).unwrap(), a);

    // A refusal that wrote nothing is decided again: the id stays free.
    let cold = DepositRequest {
        request_id: "r-2".into(),
        wallet: WalletName::Cold,
        amount_sat: 1,
    };
    assert_eq!(refused(c.report_deposit(&cold)), "unvouched-cold-deposit");
    assert_eq!(refused(c.report_deposit(&cold)), "unvouched-cold-deposit");
    let hot = DepositRequest {
        wallet: WalletName::Hot,
        ..cold
    };
    assert_eq!(c.report_deposit(&hot).unwrap().outcome, "recorded");

    // A refusal recorded in the chain answers its retries, also with a
    // valid approval under the same id (409).
    c.request_withdrawal(&withdrawal("r-3", "w-3", &dest, BIG))
        .unwrap();
    let stranger = f.approval(0x66, "w-3", &outside(1), BIG);
    let req = signed_req("r-4", &stranger);
    let first = raw.post("/v1/withdrawals/w-3/approvals", &req);
    assert_eq!(first.0, 422);
    assert_eq!(
        error_of(first.0, &first.1).error.rule.as_deref(),
        Some("unknown-signer")
    );
    f.advance(10);
    assert_eq!(raw.post("/v1/withdrawals/w-3/approvals", &req), first);
    let alice = f.approval(0x11, "w-3", &outside(1), BIG);
    let r = c.approve("w-3", &signed_req("r-4", &alice));
    assert_eq!(api_err(r).0, 409);

    // Ids that are not ids.
    for bad in [
        "",
        "has space",
        "é",
        &"x".repeat(api::MAX_REQUEST_ID + 1),
        "a\"b",
    ] {
        let detail = malformed(c.request_withdrawal(&withdrawal(bad, "w-5", &dest, 1)));
        assert!(detail.contains("request_id"), "{bad:?}: {detail}");
    }
    let longest = "x".repeat(api::MAX_REQUEST_ID);
    assert!(c
        .request_withdrawal(&withdrawal(&longest, "w-6", &dest, 1))
        .is_ok());
}

// ----- 4. the transport -----

/// The `/v1/health` requests the service counted.
fn health_count(raw: &Raw) -> f64 {
    metric(
        &metrics_text(raw),
        "kinko_cosignd_requests_total{endpoint=\"/v1/health\",status=\"200\"}",
    )
}

#[test]
fn the_transport_refuses_what_it_must_and_the_service_goes_on() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    let url = svc.url();
    assert_eq!(raw.get("/v1/health").0, 200);
    let counted = health_count(&raw);
    assert_eq!(counted, 1.0);

    // No client certificate: the handshake fails, no handler runs.
    let none = Raw::new(&url, tls_config(&svc.certs, None));
    let e = none.send("GET", "/v1/health", b"").unwrap_err();
    assert!(!e.contains("status code"), "{e}");
    // A client certificate the set-up does not pin (another CA's), and one
    // of the service's own CA but not pinned.
    let other = kinko_cosignd::certs::generate().unwrap();
    let stranger = Raw::new(
        &url,
        tls_config(&svc.certs, Some((&other.client_pem, &other.client_key_pem))),
    );
    let e = stranger.send("GET", "/v1/health", b"").unwrap_err();
    assert!(!e.contains("status code"), "{e}");
    // The service's own certificate, presented as a client's.
    let server_as_client = Raw::new(
        &url,
        tls_config(
            &svc.certs,
            Some((&svc.certs.server_pem, &svc.certs.server_key_pem)),
        ),
    );
    assert!(server_as_client.send("GET", "/v1/health", b"").is_err());
    assert_eq!(health_count(&raw), counted, "no handler ran");

    // Plaintext HTTP to the TLS port: no HTTP answer.
    let mut tcp = std::net::TcpStream::connect(svc.running.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
        "{got:?}"
    );
    assert_eq!(health_count(&raw), counted);

    // A body over MAX_BODY.
    let big = vec![b' '; api::MAX_BODY + 1];
    let (status, body) = raw.send("POST", "/v1/withdrawals", &big).unwrap();
    let e = error_of(status, &body);
    assert_eq!((status, e.error.kind.as_str()), (413, "too-large"));

    // Bodies that are not the endpoint's JSON.
    let dest = outside(1).to_string();
    let ok = serde_json::to_value(withdrawal("t-1", "w-1", &dest, SMALL)).unwrap();
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        serde_json::to_vec(&o).unwrap()
    };
    let without = |k: &str| {
        let mut o = ok.clone();
        o.as_object_mut().unwrap().remove(k);
        serde_json::to_vec(&o).unwrap()
    };
    const W: &str = "/v1/withdrawals";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (W, b"{".to_vec(), "EOF"),
        (W, b"".to_vec(), "a JSON object expected"),
        (W, b"null".to_vec(), "a JSON object expected"),
        (W, b"\xff\xfe".to_vec(), "a JSON object expected"),
        (W, b"{\xff}".to_vec(), "key must be a string"),
        // serde reads a struct from an array too; the API does not.
        (
            W,
            serde_json::to_vec(&json!(["t-1", "w-1", "user-1", dest, SMALL])).unwrap(),
            "a JSON object expected",
        ),
        (W, with("extra", json!(1)), "unknown field `extra`"),
        (W, with("amount_sat", json!("10")), "invalid type: string"),
        (W, with("amount_sat", json!(-1)), "invalid value"),
        (
            W,
            with("amount_sat", json!(18_446_744_073_709_551_616_f64)),
            "invalid type",
        ),
        (W, without("request_id"), "missing field `request_id`"),
        (W, with("request_id", json!(7)), "invalid type"),
        (W, with("request_id", json!("a b")), "request_id:"),
        (
            "/v1/deposits",
            br#"{"request_id":"t-2","wallet":"warm","amount_sat":1}"#.to_vec(),
            "unknown variant `warm`",
        ),
        (
            "/v1/withdrawals/w-1/cosign",
            br#"{"psbt":"AA==","request_id":"t-3"}"#.to_vec(),
            "unknown field `request_id`",
        ),
        (
            "/v1/freeze",
            br#"{"request_id":"t-4","by":"ops"}"#.to_vec(),
            "missing field `reason`",
        ),
    ];
    for (path, body, want) in cases {
        let (status, answer) = raw.send("POST", path, &body).unwrap();
        let e = error_of(status, &answer);
        assert_eq!(
            (status, e.error.kind.as_str()),
            (400, "malformed"),
            "{path} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            e.error.detail.contains(want),
            "{want:?} in {:?}",
            e.error.detail
        );
    }

    // No such endpoint; the wrong method.
    for (method, path) in [
        ("GET", "/v1/nothing"),
        ("GET", "/"),
        ("POST", "/v2/withdrawals"),
        ("GET", "/v1/withdrawals/w-1"),
    ] {
        let (status, body) = raw.send(method, path, b"{}").unwrap();
        assert_eq!(
            (status, error_of(status, &body).error.kind.as_str()),
            (404, "not-found"),
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("GET", "/v1/withdrawals"),
        ("DELETE", "/v1/withdrawals"),
        ("POST", "/v1/health"),
        ("PUT", "/v1/state"),
        ("GET", "/v1/withdrawals/w-1/cosign"),
    ] {
        let (status, body) = raw.send(method, path, b"{}").unwrap();
        assert_eq!(
            (status, error_of(status, &body).error.kind.as_str()),
            (405, "not-found"),
            "{method} {path}"
        );
    }

    // After all of it, the service answers.
    assert_eq!(svc.client.health().unwrap(), json!({ "status": "ok" }));
    let d = svc
        .client
        .request_withdrawal(&withdrawal("t-9", "w-9", &dest, SMALL))
        .unwrap();
    assert_eq!(d.outcome, "approved");
}

// ----- 5. metrics -----

#[test]
fn metrics_count_decisions_refusals_and_latency() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let c = &svc.client;
    let raw = Raw::of(&svc);
    let dest = outside(1);
    c.request_withdrawal(&withdrawal("m-1", "w-1", &dest.to_string(), SMALL))
        .unwrap();
    c.request_withdrawal(&withdrawal("m-2", "w-2", &dest.to_string(), 500_000_001))
        .unwrap();
    c.request_withdrawal(&withdrawal("m-3", "w-3", &dest.to_string(), 500_000_002))
        .unwrap();
    let _ = c.request_withdrawal(&withdrawal("m-4", "w-4", "nowhere", 1));
    let _ = c.report_deposit(&DepositRequest {
        request_id: "m-5".into(),
        wallet: WalletName::Cold,
        amount_sat: 1,
    });
    let p = f.psbt(&[(&dest, SMALL)], 5);
    c.cosign_withdrawal("w-1", &cosign_req(&p)).unwrap();
    let _ = raw.send("POST", "/v1/withdrawals", b"{");

    let m = metrics_text(&raw);
    let want = [
        ("kinko_cosignd_decisions_total{outcome=\"approved\",rule=\"\"}", 1.0),
        (
            "kinko_cosignd_decisions_total{outcome=\"denied\",rule=\"max_withdrawal\"}",
            2.0,
        ),
        ("kinko_cosignd_refusals_total{rule=\"destination-invalid\"}", 1.0),
        ("kinko_cosignd_refusals_total{rule=\"unvouched-cold-deposit\"}", 1.0),
        ("kinko_cosignd_cosigns_total", 1.0),
        (
            "kinko_cosignd_requests_total{endpoint=\"/v1/withdrawals\",status=\"200\"}",
            3.0,
        ),
        (
            "kinko_cosignd_requests_total{endpoint=\"/v1/withdrawals\",status=\"422\"}",
            1.0,
        ),
        (
            "kinko_cosignd_requests_total{endpoint=\"/v1/withdrawals\",status=\"400\"}",
            1.0,
        ),
        (
            "kinko_cosignd_request_duration_seconds_count{endpoint=\"/v1/withdrawals\"}",
            5.0,
        ),
        (
            "kinko_cosignd_request_duration_seconds_bucket{le=\"+Inf\",endpoint=\"/v1/withdrawals\"}",
            5.0,
        ),
    ];
    for (sample, n) in want {
        assert_eq!(metric(&m, sample), n, "{sample} in\n{m}");
    }
}

// ----- 6. the fuzz target's regressions -----

/// Inputs the `api_bodies` fuzz target once failed on
/// (`fuzz/regressions/api_bodies/`), sent through the service as the target
/// sends them to the router: byte 0 chooses the endpoint, byte 1 the
/// withdrawal id, the rest is the body. Every answer is the API's.
#[test]
fn fuzz_regressions() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/regressions/api_bodies"
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    const IDS: [&str; 5] = ["w-1", "nobody", "w%2F1.x", "", "%FF"];
    for e in entries {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let (Some(&e), Some(&i)) = (data.first(), data.get(1)) else {
            continue;
        };
        let ep = ENDPOINTS[e as usize % ENDPOINTS.len()];
        let p = ep.path.replace("{id}", IDS[i as usize % IDS.len()]);
        let (status, answer) = raw
            .send(ep.method, &p, &data[2..])
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_ne!(
            status,
            500,
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&answer)
        );
        if status != 200 {
            error_of(status, &answer);
        }
    }
    assert_eq!(svc.client.health().unwrap()["status"], "ok");
}

/// A body the endpoint does not use (`/v1/sweeps/address`, an unknown path,
/// a wrong method) is still read: a body left unread made the server close
/// the connection after its answer, and the client's next request on that
/// pooled connection failed (`Unexpected EOF`).
#[test]
fn a_body_the_endpoint_ignores_keeps_the_connection() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    for i in 0..20 {
        for (method, path) in [
            ("POST", "/v1/sweeps/address"),
            ("POST", "/v1/nothing"),
            ("POST", "/v1/health"),
        ] {
            let (status, _) = raw
                .send(method, path, b"{\"ignored\": true}")
                .unwrap_or_else(|e| panic!("{i}: {method} {path}: {e}"));
            assert!([200, 404, 405].contains(&status));
            let deposit = DepositRequest {
                request_id: format!("d-{i}-{path}"),
                wallet: WalletName::Hot,
                amount_sat: 1,
            };
            let (status, body) = raw
                .send(
                    "POST",
                    "/v1/deposits",
                    &serde_json::to_vec(&deposit).unwrap(),
                )
                .unwrap_or_else(|e| panic!("{i}: after {method} {path}: {e}"));
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }
    }
}

/// A withdrawal id in the path that is not UTF-8 once percent-decoded is
/// answered as every other malformed request: `400 malformed`, an error
/// body.
#[test]
fn a_path_id_that_does_not_decode_is_malformed() {
    let f = Fixture::new(POLICY);
    let svc = Service::start(&f);
    let raw = Raw::of(&svc);
    let body = serde_json::to_vec(&IdRequest {
        request_id: "p-1".into(),
    })
    .unwrap();
    for path in [
        "/v1/withdrawals/%FF/confirmed",
        "/v1/withdrawals/%C3%28/failed",
    ] {
        let (status, answer) = raw.send("POST", path, &body).unwrap();
        let e = error_of(status, &answer);
        assert_eq!(
            (status, e.error.kind.as_str()),
            (400, "malformed"),
            "{path}"
        );
    }
    // A percent-encoded id that decodes is the withdrawal of that id.
    let d = svc
        .client
        .request_withdrawal(&withdrawal("p-2", "w/1.x", &outside(1).to_string(), SMALL))
        .unwrap();
    assert_eq!(d.outcome, "approved");
    let p = f.psbt(&[(&outside(1), SMALL)], 5);
    let c = svc
        .client
        .cosign_withdrawal("w/1.x", &cosign_req(&p))
        .unwrap();
    assert_eq!(c.id, "w/1.x");
    let (status, _) = raw.post(
        "/v1/withdrawals/w%2F1.x/confirmed",
        &IdRequest {
            request_id: "p-3".into(),
        },
    );
    assert_eq!(status, 200);
}
