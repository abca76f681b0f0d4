//! The `/v1` API over one [`Authority`]: routes, handlers, errors.
//!
//! The authority is synchronous (SQLite or PostgreSQL, signing): each
//! request runs on tokio's blocking pool, one at a time per service (the
//! authority's decisions are serial anyway; several services on one
//! PostgreSQL serialize on the ledger's row locks and the chain head).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use kinko_auth::SignedAction;
use kinko_client::api::{
    self, AmountRequest, AuditHeads, CosignRequest, CosignedConsolidation, CosignedPayout,
    CosignedSweep, CosignedWithdrawal, Decided, DepositRequest, ErrorBody, ErrorDetail,
    FailRequest, FreezeRequest, IdRequest, PayoutRequest, PolicyChangeRequest, QuorumRequest,
    SignedRequest, WalletName, WithdrawalRequest,
};
use kinko_cosigner::{Authority, AuthorityError, AuthorityRule};
use kinko_ledger::Committed;
use kinko_policy::{Change, Decision, Proposal, Wallet};
use kinko_wallet::SigningKeys;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::metrics::Metrics;

/// What every handler shares.
pub(crate) struct Shared<K> {
    auth: Mutex<Authority<K>>,
    pub(crate) metrics: Metrics,
    pub(crate) request_timeout: Duration,
}

impl<K> Shared<K> {
    pub(crate) fn new(auth: Authority<K>, request_timeout: Duration) -> Self {
        Shared {
            auth: Mutex::new(auth),
            metrics: Metrics::new(),
            request_timeout,
        }
    }

    /// The authority. A handler that panicked holding it left nothing
    /// half-written that matters: the authority replays its chain before
    /// every decision, so the lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Authority<K>> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An answer that is not a success.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    rule: Option<String>,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            rule: None,
            detail: detail.into(),
        }
    }

    fn malformed(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }

    fn refused(rule: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            kind: "refused",
            rule: Some(rule.into()),
            detail: detail.into(),
        }
    }

    fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    pub(crate) fn timeout() -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took too long; it may still complete: retry with the same request_id",
        )
    }

    fn reused(detail: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            kind: "conflict",
            rule: Some("request-id-reused".into()),
            detail: detail.into(),
        }
    }
}

impl From<AuthorityError> for ApiError {
    fn from(e: AuthorityError) -> Self {
        match e {
            AuthorityError::Refused { rule, detail } => ApiError::refused(rule.as_str(), detail),
            AuthorityError::Sign(e) => ApiError::refused("sign-failed", e.to_string()),
            AuthorityError::AlreadyAnswered { audit_seq, .. } => ApiError::reused(format!(
                "the request id was answered by audit record {audit_seq}"
            )),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind.to_owned(),
                rule: self.rule.clone(),
                detail: self.detail,
            },
        };
        let mut r = json_response(self.status, &body);
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read: the connection cannot carry
            // another request, say so before the client reuses it.
            r.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        if let Some(rule) = self.rule {
            r.extensions_mut().insert(RefusedRule(rule));
        }
        r
    }
}

/// The rule a response refused by (for the metrics).
#[derive(Clone)]
pub(crate) struct RefusedRule(pub(crate) String);

/// The decision a response carries (for the metrics).
#[derive(Clone)]
pub(crate) struct Outcome(pub(crate) &'static str, pub(crate) Option<String>);

fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A body of the API with a `request_id`.
pub(crate) trait Req: DeserializeOwned + Serialize + Send + 'static {
    fn request_id(&self) -> &str;
}

macro_rules! req {
    ($($t:ty),*) => {$(
        impl Req for $t {
            fn request_id(&self) -> &str {
                &self.request_id
            }
        }
    )*};
}
req!(
    WithdrawalRequest,
    IdRequest,
    SignedRequest,
    QuorumRequest,
    PolicyChangeRequest,
    DepositRequest,
    AmountRequest,
    FreezeRequest,
    FailRequest
);

/// Reads a body of at most [`api::MAX_BODY`] bytes. Endpoints that take
/// no body read it too: a body left unread makes the server close the
/// connection after the answer, and the client's next request on that
/// kept-alive connection fails.
async fn read_body(body: Body) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, api::MAX_BODY)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the body is larger than {} bytes", api::MAX_BODY),
            )
        })
}

/// Reads a body of at most [`api::MAX_BODY`] bytes as `T`.
async fn read_json<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = read_body(body).await?;
    // serde's derived structs also read a JSON array, field by field in
    // order: the API's bodies are objects only.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::malformed("body: a JSON object expected"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::malformed(format!("body: {e}")))
}

fn check_request_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= api::MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::malformed(format!(
            "request_id: 1 to {} characters of A-Z a-z 0-9 - _ . : /",
            api::MAX_REQUEST_ID
        )))
    }
}

fn signed(v: &serde_json::Value) -> ApiResult<SignedAction> {
    SignedAction::from_json(&v.to_string())
        .map_err(|e| ApiError::refused("malformed", format!("signed action: {e}")))
}

fn signed_all(v: &[serde_json::Value]) -> ApiResult<Vec<SignedAction>> {
    if v.len() > 64 {
        return Err(ApiError::malformed("at most 64 signed actions"));
    }
    v.iter().map(signed).collect()
}

/// Runs `f` on the blocking pool with the authority.
async fn blocking<K, T>(
    s: &Arc<Shared<K>>,
    f: impl FnOnce(&mut Authority<K>) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T>
where
    K: SigningKeys + Send + 'static,
    T: Send + 'static,
{
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&mut s.lock()))
        .await
        .map_err(|_| ApiError::internal("the request's task failed"))?
}

fn decided_from(request_id: &str, asset: &str, c: &Committed) -> Decided {
    let (outcome, rule) = Decided::outcome_of(&c.outcome.decision);
    Decided {
        request_id: request_id.to_owned(),
        asset: asset.to_owned(),
        outcome: outcome.to_owned(),
        rule,
        at: c.at,
        decision: c.outcome.decision.clone(),
        changes: c.outcome.changes.clone(),
        proposals: c.outcome.proposals.clone(),
        audit_seq: c.audit_seq,
        audit_hash: c.audit_hash.clone(),
    }
}

/// The refusal a `refused` record holds: the authority's (`refused.rule`,
/// `refused.detail`) or the ledger's own (`rule` `reservation-cosigned`,
/// `reservation_cosigned` in records written before the rename: a failure
/// report of a cosigned reservation, answered by the authority's rule name).
fn refusal_from_record(v: &serde_json::Value, seq: u64) -> ApiError {
    let text = |p: &str| v.pointer(p).and_then(|x| x.as_str());
    if let Some(rule) = text("/refused/rule") {
        return ApiError::refused(rule, text("/refused/detail").unwrap_or_default());
    }
    if text("/rule").and_then(kinko_ledger::CosignRefusal::from_rule)
        == Some(kinko_ledger::CosignRefusal::ReservationCosigned)
    {
        return ApiError::refused(
            AuthorityRule::ReservationCosigned.as_str(),
            format!(
                "reservation {} was cosigned for transaction {}, which may still be broadcast; \
                 only its confirmation releases it (refusal recorded as audit record {seq})",
                text("/event/id").unwrap_or_default(),
                text("/txid").unwrap_or_default(),
            ),
        );
    }
    ApiError::internal(format!(
        "audit record {seq} is a refusal that does not read"
    ))
}

/// The first answer to a request, read back from the audit record that
/// answered it.
fn answer_from_record<K: SigningKeys>(
    a: &mut Authority<K>,
    request_id: &str,
    seq: u64,
) -> ApiResult<Decided> {
    let asset = a.setup().asset().to_owned();
    let recs = a
        .ledger()
        .audit_records(&asset, seq.saturating_sub(1), 1)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let r = recs
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(format!("audit record {seq} is missing")))?;
    let v: serde_json::Value = serde_json::from_str(&r.payload)
        .map_err(|_| ApiError::internal(format!("audit record {seq} does not read")))?;
    if r.kind == "refused" {
        return Err(refusal_from_record(&v, seq));
    }
    let field = |name: &str| v.get(name).cloned().unwrap_or(serde_json::Value::Null);
    let bad = |_| ApiError::internal(format!("audit record {seq} is not a decision"));
    let decision: Decision = serde_json::from_value(field("decision")).map_err(bad)?;
    let changes: Vec<Change> = serde_json::from_value(field("changes")).map_err(bad)?;
    let proposals: Vec<Proposal> = serde_json::from_value(field("proposals")).map_err(bad)?;
    let (outcome, rule) = Decided::outcome_of(&decision);
    Ok(Decided {
        request_id: request_id.to_owned(),
        asset,
        outcome: outcome.to_owned(),
        rule,
        at: r.at,
        decision,
        changes,
        proposals,
        audit_seq: r.seq,
        audit_hash: r.hash,
    })
}

/// A request the authority decides and records: answered once, and a retry
/// from the first answer's record.
async fn decide<K, T>(
    s: Arc<Shared<K>>,
    endpoint: String,
    body: Body,
    f: impl FnOnce(&mut Authority<K>, &T) -> ApiResult<Committed> + Send + 'static,
) -> ApiResult<Response>
where
    K: SigningKeys + Send + 'static,
    T: Req,
{
    let t: T = read_json(body).await?;
    check_request_id(t.request_id())?;
    let digest = api::request_digest(&endpoint, &t);
    let d = blocking(&s, move |a| {
        let id = t.request_id().to_owned();
        let earlier = |a: &Authority<K>| a.replay().request(&id).cloned();
        // The replay holds every record this service wrote. A request it
        // does not know yet is decided by `f`, whose own sync (checking the
        // rows against the chain: a read of every withdrawal) finds a
        // request another authority answered meanwhile (AlreadyAnswered);
        // syncing here as well doubled that read for every decision.
        if earlier(a).is_some() {
            a.sync().map_err(ApiError::from)?;
        }
        if let Some(m) = earlier(a) {
            if m.sha256 != digest {
                return Err(ApiError::reused(format!(
                    "request {id:?} was answered by audit record {} for another request",
                    m.audit_seq
                )));
            }
            return answer_from_record(a, &id, m.audit_seq);
        }
        let res = a.with_request(&id, &digest, |a| f(a, &t));
        match res {
            Ok(c) => Ok(decided_from(&id, a.setup().asset(), &c)),
            Err(e) => {
                // `f` may have refused before its sync: catch up before
                // looking for an answer another service gave meanwhile. A
                // catch-up that fails leaves the refusal as it was.
                match a.sync().ok().and_then(|()| earlier(a)) {
                    Some(m) if m.sha256 == digest => answer_from_record(a, &id, m.audit_seq),
                    _ => Err(e),
                }
            }
        }
    })
    .await?;
    let mut r = json_response(StatusCode::OK, &d);
    let (outcome, rule) = Decided::outcome_of(&d.decision);
    r.extensions_mut().insert(Outcome(outcome, rule));
    Ok(r)
}

/// The withdrawal id a path names (`{id}`), percent-decoded, and the
/// request's body. One that does not decode (not UTF-8) is `400 malformed`
/// with an error body, as every other malformed request (axum's own
/// rejection is plain text); its body is read all the same, so that the
/// kept-alive connection carries the client's next request.
struct IdPath(String, Body);

impl<S: Send + Sync> FromRequest<S> for IdPath {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        match Path::<String>::from_request_parts(&mut parts, state).await {
            Ok(Path(id)) => Ok(IdPath(id, body)),
            Err(e) => {
                let _ = read_body(body).await;
                Err(ApiError::malformed(format!("path: {}", e.body_text())))
            }
        }
    }
}

// ----- handlers -----

async fn health() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

async fn ready<K: SigningKeys + Send + 'static>(State(s): State<Arc<Shared<K>>>) -> Response {
    let r = blocking(&s, |a| {
        a.sync().map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        })?;
        Ok(a.replay().head().0)
    })
    .await;
    match r {
        Ok(n) => json_response(
            StatusCode::OK,
            &serde_json::json!({ "status": "ready", "audit_count": n }),
        ),
        Err(e) => e.into_response(),
    }
}

async fn state<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
) -> ApiResult<Response> {
    let st = blocking(&s, |a| {
        a.sync().map_err(ApiError::from)?;
        let s = a.state();
        let (count, head) = a.replay().head();
        Ok(api::State {
            setup_id: a.setup().id().to_string(),
            asset: a.setup().asset().to_owned(),
            hot_sat: s.hot().units(),
            cold_sat: s.cold().units(),
            reserved_sat: s.reserved().units(),
            vouched_sat: s.vouched().map(|v| v.units()),
            frozen_since: s.freeze().map(|f| f.at),
            frozen_reason: s.freeze().map(|f| f.reason.to_string()),
            audit_count: count,
            audit_head: head.to_owned(),
            now: a.now(),
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &st))
}

async fn withdraw<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(
        s,
        "/v1/withdrawals".into(),
        body,
        |a, t: &WithdrawalRequest| {
            a.request_withdrawal(&t.id, &t.user, &t.destination, t.amount_sat)
                .map_err(ApiError::from)
        },
    )
    .await
}

async fn approve<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    IdPath(id, body): IdPath,
) -> ApiResult<Response> {
    let ep = format!("/v1/withdrawals/{id}/approvals");
    decide(s, ep, body, move |a, t: &SignedRequest| {
        let sa = signed(&t.signed)?;
        // The path names the withdrawal; the signature names it too.
        match &sa.action {
            kinko_auth::Action::Approval { withdrawal_id, .. } if *withdrawal_id != id => {
                return Err(ApiError::refused(
                    "object-mismatch",
                    format!(
                        "the approval is of withdrawal {withdrawal_id:?}, the path names {id:?}"
                    ),
                ))
            }
            _ => {}
        }
        a.approve(&sa).map_err(ApiError::from)
    })
    .await
}

async fn confirmed<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    IdPath(id, body): IdPath,
) -> ApiResult<Response> {
    let ep = format!("/v1/withdrawals/{id}/confirmed");
    decide(s, ep, body, move |a, _t: &IdRequest| {
        a.confirm(&id).map_err(ApiError::from)
    })
    .await
}

async fn failed<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    IdPath(id, body): IdPath,
) -> ApiResult<Response> {
    let ep = format!("/v1/withdrawals/{id}/failed");
    decide(s, ep, body, move |a, t: &FailRequest| {
        match &t.conflict {
            Some(c) => a.fail_with_conflict(&id, c),
            None => a.fail(&id),
        }
        .map_err(ApiError::from)
    })
    .await
}

async fn tx_confirmed<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    IdPath(txid, body): IdPath,
) -> ApiResult<Response> {
    let ep = format!("/v1/transactions/{txid}/confirmed");
    decide(s, ep, body, move |a, _t: &IdRequest| {
        a.confirm_tx(&txid).map_err(ApiError::from)
    })
    .await
}

async fn deposit<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/deposits".into(), body, |a, t: &DepositRequest| {
        let w = match t.wallet {
            WalletName::Hot => Wallet::Hot,
            WalletName::Cold => Wallet::Cold,
        };
        a.report_deposit(w, t.amount_sat).map_err(ApiError::from)
    })
    .await
}

async fn hot_balance<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/hot-balance".into(), body, |a, t: &AmountRequest| {
        a.report_hot_balance(t.amount_sat).map_err(ApiError::from)
    })
    .await
}

async fn refill<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/refills".into(), body, |a, t: &AmountRequest| {
        a.report_refill(t.amount_sat).map_err(ApiError::from)
    })
    .await
}

async fn freeze<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/freeze".into(), body, |a, t: &FreezeRequest| {
        a.freeze(&t.by, &t.reason).map_err(ApiError::from)
    })
    .await
}

async fn unfreeze<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/unfreeze".into(), body, |a, t: &SignedRequest| {
        a.unfreeze(&signed(&t.signed)?).map_err(ApiError::from)
    })
    .await
}

async fn custody<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(
        s,
        "/v1/custody-statements".into(),
        body,
        |a, t: &QuorumRequest| {
            a.custody_statement(&signed_all(&t.signed)?)
                .map_err(ApiError::from)
        },
    )
    .await
}

async fn allowlist_add<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(s, "/v1/allowlist".into(), body, |a, t: &QuorumRequest| {
        a.allowlist_add(&signed_all(&t.signed)?)
            .map_err(ApiError::from)
    })
    .await
}

async fn allowlist_cancel<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(
        s,
        "/v1/allowlist/cancel".into(),
        body,
        |a, t: &SignedRequest| {
            a.allowlist_cancel(&signed(&t.signed)?)
                .map_err(ApiError::from)
        },
    )
    .await
}

async fn policy_change<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(
        s,
        "/v1/policy-changes".into(),
        body,
        |a, t: &PolicyChangeRequest| {
            a.propose_policy_change(&t.policy, &signed_all(&t.signed)?)
                .map_err(ApiError::from)
        },
    )
    .await
}

async fn policy_cancel<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    decide(
        s,
        "/v1/policy-changes/cancel".into(),
        body,
        |a, t: &SignedRequest| {
            a.cancel_policy_change(&signed(&t.signed)?)
                .map_err(ApiError::from)
        },
    )
    .await
}

fn decode_psbt(b64: &str) -> ApiResult<bitcoin::psbt::Psbt> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| ApiError::malformed(format!("psbt: not base64 ({e})")))?;
    bitcoin::psbt::Psbt::deserialize(&bytes)
        .map_err(|e| ApiError::refused("malformed-psbt", format!("psbt: {e}")))
}

fn encode_psbt(p: &bitcoin::psbt::Psbt) -> String {
    base64::engine::general_purpose::STANDARD.encode(p.serialize())
}

/// A body that carries a PSBT to cosign.
trait PsbtBody: DeserializeOwned + Send + 'static {
    fn psbt(&self) -> &str;
}

impl PsbtBody for CosignRequest {
    fn psbt(&self) -> &str {
        &self.psbt
    }
}

impl PsbtBody for PayoutRequest {
    fn psbt(&self) -> &str {
        &self.psbt
    }
}

/// A cosign: reads the body and its PSBT, lets `f` check and sign it (the
/// PSBT is signed in place), answers `f`'s value. Idempotent by signing
/// again: no `request_id`.
async fn cosign<K, B, T>(
    s: Arc<Shared<K>>,
    body: Body,
    f: impl FnOnce(&mut Authority<K>, &B, &mut bitcoin::psbt::Psbt) -> ApiResult<T> + Send + 'static,
) -> ApiResult<Response>
where
    K: SigningKeys + Send + 'static,
    B: PsbtBody,
    T: Serialize + Send + 'static,
{
    let t: B = read_json(body).await?;
    let mut psbt = decode_psbt(t.psbt())?;
    let done = blocking(&s, move |a| f(a, &t, &mut psbt)).await?;
    let mut r = json_response(StatusCode::OK, &done);
    r.extensions_mut().insert(Outcome("cosigned", None));
    Ok(r)
}

async fn cosign_withdrawal<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    IdPath(id, body): IdPath,
) -> ApiResult<Response> {
    cosign(s, body, move |a, _: &CosignRequest, psbt| {
        let c = a.cosign_withdrawal(&id, psbt).map_err(ApiError::from)?;
        Ok(CosignedWithdrawal {
            id: c.id,
            txid: c.txid.to_string(),
            fee_sat: c.payment.fee.to_sat(),
            signatures: c.signatures,
            again: c.again,
            audit_seq: c.audit_seq,
            psbt: encode_psbt(psbt),
        })
    })
    .await
}

async fn cosign_payout<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    cosign(s, body, |a, t: &PayoutRequest, psbt| {
        let c = a.cosign_payout(&t.ids, psbt).map_err(ApiError::from)?;
        Ok(CosignedPayout {
            ids: c.ids,
            txid: c.txid.to_string(),
            payment_outputs: c.payout.payment_outputs,
            fee_sat: c.payout.fee.to_sat(),
            replaces: c.replaces,
            signatures: c.signatures,
            again: c.again,
            audit_seq_first: c.audit_seqs.0,
            audit_seq_last: c.audit_seqs.1,
            psbt: encode_psbt(psbt),
        })
    })
    .await
}

async fn cosign_consolidation<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    cosign(s, body, |a, _: &CosignRequest, psbt| {
        let c = a.cosign_consolidation(psbt).map_err(ApiError::from)?;
        Ok(CosignedConsolidation {
            txid: c.txid.to_string(),
            fee_sat: c.fee.to_sat(),
            signatures: c.signatures,
            psbt: encode_psbt(psbt),
        })
    })
    .await
}

async fn cosign_sweep<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    cosign(s, body, |a, _: &CosignRequest, psbt| {
        let c = a.cosign_sweep(psbt).map_err(ApiError::from)?;
        Ok(CosignedSweep {
            txid: c.txid.to_string(),
            amount_sat: c.amount.to_sat(),
            fee_sat: c.payment.fee.to_sat(),
            signatures: c.signatures,
            psbt: encode_psbt(psbt),
        })
    })
    .await
}

async fn sweep_address<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    body: Body,
) -> ApiResult<Response> {
    read_body(body).await?;
    let a = blocking(&s, |a| {
        let (index, address) = a.next_sweep_address().map_err(ApiError::from)?;
        Ok(api::SweepAddress {
            cold_index: index,
            address: address.to_string(),
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &a))
}

async fn audit_heads<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
) -> ApiResult<Response> {
    let heads = blocking(&s, |a| {
        let key = a.setup().audit_key().serialize();
        let heads = a
            .ledger()
            .signed_heads()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(AuditHeads {
            audit_key: crate::tls::hex(&key),
            heads: heads
                .iter()
                .map(|h| serde_json::from_str(&h.to_json()).unwrap_or(serde_json::Value::Null))
                .collect(),
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &heads))
}

async fn audit_export<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
) -> ApiResult<Response> {
    let text = blocking(&s, |a| {
        let mut out = Vec::new();
        a.ledger()
            .export_audit(&mut out)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(out)
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        text,
    )
        .into_response())
}

async fn metrics<K: SigningKeys + Send + 'static>(State(s): State<Arc<Shared<K>>>) -> Response {
    match s.metrics.encode() {
        Ok(text) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => ApiError::internal("metrics").into_response(),
    }
}

async fn not_found(body: Body) -> ApiError {
    if let Err(e) = read_body(body).await {
        return e;
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such endpoint (see docs/api.md)",
    )
}

async fn wrong_method(body: Body) -> ApiError {
    if let Err(e) = read_body(body).await {
        return e;
    }
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-found",
        "this endpoint takes another method (see docs/api.md)",
    )
}

/// Time limit, metrics and a log line for every request.
async fn observe<K: SigningKeys + Send + 'static>(
    State(s): State<Arc<Shared<K>>>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = match tokio::time::timeout(s.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::timeout().into_response(),
    };
    let secs = started.elapsed().as_secs_f64();
    let status = res.status().as_u16();
    let rule = res.extensions().get::<RefusedRule>().map(|r| r.0.clone());
    let outcome = res.extensions().get::<Outcome>().cloned();
    s.metrics
        .observe(&endpoint, status, secs, rule.as_deref(), outcome.as_ref());
    tracing::info!(
        %method,
        endpoint,
        status,
        ms = secs * 1e3,
        rule = rule.as_deref().unwrap_or(""),
        outcome = outcome.as_ref().map_or("", |o| o.0),
        "request"
    );
    res
}

/// The service's routes over `shared`.
pub(crate) fn router<K: SigningKeys + Send + 'static>(shared: Arc<Shared<K>>) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/ready", get(ready::<K>))
        .route("/v1/state", get(state::<K>))
        .route("/v1/withdrawals", post(withdraw::<K>))
        .route("/v1/withdrawals/{id}/approvals", post(approve::<K>))
        .route("/v1/withdrawals/{id}/cosign", post(cosign_withdrawal::<K>))
        .route("/v1/withdrawals/{id}/confirmed", post(confirmed::<K>))
        .route("/v1/withdrawals/{id}/failed", post(failed::<K>))
        .route("/v1/payouts/cosign", post(cosign_payout::<K>))
        .route("/v1/transactions/{id}/confirmed", post(tx_confirmed::<K>))
        .route("/v1/consolidations/cosign", post(cosign_consolidation::<K>))
        .route("/v1/deposits", post(deposit::<K>))
        .route("/v1/hot-balance", post(hot_balance::<K>))
        .route("/v1/refills", post(refill::<K>))
        .route("/v1/freeze", post(freeze::<K>))
        .route("/v1/unfreeze", post(unfreeze::<K>))
        .route("/v1/custody-statements", post(custody::<K>))
        .route("/v1/allowlist", post(allowlist_add::<K>))
        .route("/v1/allowlist/cancel", post(allowlist_cancel::<K>))
        .route("/v1/policy-changes", post(policy_change::<K>))
        .route("/v1/policy-changes/cancel", post(policy_cancel::<K>))
        .route("/v1/sweeps/address", post(sweep_address::<K>))
        .route("/v1/sweeps/cosign", post(cosign_sweep::<K>))
        .route("/v1/audit/heads", get(audit_heads::<K>))
        .route("/v1/audit/export", get(audit_export::<K>))
        .route("/metrics", get(metrics::<K>))
        .method_not_allowed_fallback(wrong_method)
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            observe::<K>,
        ))
        .with_state(shared)
}
