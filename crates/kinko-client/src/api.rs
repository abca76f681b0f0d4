//! The `/v1` API of `kinko-cosignd`: every request body and answer, as
//! serde types. `docs/api.md` describes the same, endpoint by endpoint, and
//! `docs/openapi.json` is tested against [`ENDPOINTS`].
//!
//! Every body is JSON; unknown fields are refused. Amounts are integers in
//! satoshis (`*_sat`). Mutating requests carry a `request_id` chosen by the
//! client: a retry with the same id and the same body is answered from the
//! first answer's audit record (also after a restart); the same id with
//! another body is refused as `request-id-reused`.

use kinko_policy::{Change, Decision, Proposal, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The largest request body the service reads (bytes).
pub const MAX_BODY: usize = 2 << 20;
/// The longest `request_id` (bytes).
pub const MAX_REQUEST_ID: usize = 64;

/// One endpoint: method, path (with `{id}` for a withdrawal id), and
/// whether it takes a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
}

/// Every endpoint of the service, in `docs/api.md`'s order.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/v1/health",
    },
    Endpoint {
        method: "GET",
        path: "/v1/ready",
    },
    Endpoint {
        method: "GET",
        path: "/v1/state",
    },
    Endpoint {
        method: "POST",
        path: "/v1/withdrawals",
    },
    Endpoint {
        method: "POST",
        path: "/v1/withdrawals/{id}/approvals",
    },
    Endpoint {
        method: "POST",
        path: "/v1/withdrawals/{id}/cosign",
    },
    Endpoint {
        method: "POST",
        path: "/v1/withdrawals/{id}/confirmed",
    },
    Endpoint {
        method: "POST",
        path: "/v1/withdrawals/{id}/failed",
    },
    Endpoint {
        method: "POST",
        path: "/v1/payouts/cosign",
    },
    Endpoint {
        method: "POST",
        path: "/v1/transactions/{txid}/confirmed",
    },
    Endpoint {
        method: "POST",
        path: "/v1/consolidations/cosign",
    },
    Endpoint {
        method: "POST",
        path: "/v1/deposits",
    },
    Endpoint {
        method: "POST",
        path: "/v1/hot-balance",
    },
    Endpoint {
        method: "POST",
        path: "/v1/refills",
    },
    Endpoint {
        method: "POST",
        path: "/v1/freeze",
    },
    Endpoint {
        method: "POST",
        path: "/v1/unfreeze",
    },
    Endpoint {
        method: "POST",
        path: "/v1/custody-statements",
    },
    Endpoint {
        method: "POST",
        path: "/v1/allowlist",
    },
    Endpoint {
        method: "POST",
        path: "/v1/allowlist/cancel",
    },
    Endpoint {
        method: "POST",
        path: "/v1/policy-changes",
    },
    Endpoint {
        method: "POST",
        path: "/v1/policy-changes/cancel",
    },
    Endpoint {
        method: "POST",
        path: "/v1/sweeps/address",
    },
    Endpoint {
        method: "POST",
        path: "/v1/sweeps/cosign",
    },
    Endpoint {
        method: "GET",
        path: "/v1/audit/heads",
    },
    Endpoint {
        method: "GET",
        path: "/v1/audit/export",
    },
    Endpoint {
        method: "GET",
        path: "/metrics",
    },
];

/// `POST /v1/withdrawals`: a user asks to withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// The client's request id.
    pub request_id: String,
    /// The withdrawal id (the same id never spends twice).
    pub id: String,
    /// The user who asks.
    pub user: String,
    /// The destination address.
    pub destination: String,
    /// The amount.
    pub amount_sat: u64,
}

/// A request about a withdrawal or transaction named in the path
/// (`confirmed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRequest {
    /// The client's request id.
    pub request_id: String,
}

/// `POST /v1/withdrawals/{id}/failed`: the reservation's payout failed.
/// A cosigned reservation is released only with `conflict`: the txid of a
/// transaction the cosigner signed and recorded as confirmed that spends an
/// input of every transaction it cosigned for the reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// The client's request id.
    pub request_id: String,
    /// The confirmed conflicting transaction (hex txid), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// `POST /v1/payouts/cosign`: one transaction paying many reservations (or
/// a fee bump of a payout cosigned before: the same reservations exactly).
/// Idempotent: the same transaction is signed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// The reserved withdrawals it pays (1 to the set-up's
    /// `max_batch_payouts`), each once.
    pub ids: Vec<String>,
    /// The PSBT, base64 (BIP174).
    pub psbt: String,
}

/// One signed action (an approval, an unfreeze vote, an allowlist or
/// policy cancellation): the envelope of `docs/signed-messages.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The client's request id.
    pub request_id: String,
    /// The signed action, as `kinko-signer` writes it.
    pub signed: serde_json::Value,
}

/// Signed actions of a quorum (an allowlist addition, a custody statement).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumRequest {
    /// The client's request id.
    pub request_id: String,
    /// The signed actions.
    pub signed: Vec<serde_json::Value>,
}

/// `POST /v1/policy-changes`: a new policy and the admin quorum's
/// `policy-change` signatures over its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChangeRequest {
    /// The client's request id.
    pub request_id: String,
    /// The policy text (kinko-policy TOML), exactly as hashed.
    pub policy: String,
    /// The signed actions.
    pub signed: Vec<serde_json::Value>,
}

/// Which wallet a deposit reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalletName {
    /// The online wallet.
    Hot,
    /// The offline wallet (refused: `unvouched-cold-deposit`).
    Cold,
}

/// `POST /v1/deposits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The client's request id.
    pub request_id: String,
    /// The wallet.
    pub wallet: WalletName,
    /// The amount.
    pub amount_sat: u64,
}

/// `POST /v1/hot-balance`, `POST /v1/refills`: one amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// The client's request id.
    pub request_id: String,
    /// The amount.
    pub amount_sat: u64,
}

/// `POST /v1/freeze`: anyone may tighten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// The client's request id.
    pub request_id: String,
    /// Who freezes.
    pub by: String,
    /// Why.
    pub reason: String,
}

/// `POST /v1/withdrawals/{id}/cosign`, `POST /v1/sweeps/cosign`: a PSBT
/// signed by the exchange's hot key. Cosigning is idempotent by itself: the
/// same transaction is signed again with the same signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignRequest {
    /// The PSBT, base64 (BIP174).
    pub psbt: String,
}

/// The answer to every request the authority decides and records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decided {
    /// The request answered.
    pub request_id: String,
    /// The asset.
    pub asset: String,
    /// `approved`, `pending`, `denied`, `duplicate` or `recorded`.
    pub outcome: String,
    /// The policy rule that denied it (`outcome` `denied`).
    pub rule: Option<String>,
    /// The time the cosigner decided at.
    pub at: Timestamp,
    /// The engine's decision.
    pub decision: Decision,
    /// What changed.
    pub changes: Vec<Change>,
    /// Sweeps and refills the new state calls for.
    pub proposals: Vec<Proposal>,
    /// The audit record.
    pub audit_seq: u64,
    /// Its hash.
    pub audit_hash: String,
}

impl Decided {
    /// The `outcome` and `rule` of a decision.
    pub fn outcome_of(d: &Decision) -> (&'static str, Option<String>) {
        match d {
            Decision::Approved { .. } => ("approved", None),
            Decision::Pending { .. } => ("pending", None),
            Decision::Denied { rule, .. } => ("denied", Some(rule.name().to_owned())),
            Decision::Duplicate { .. } => ("duplicate", None),
            _ => ("recorded", None),
        }
    }
}

/// The answer of `POST /v1/withdrawals/{id}/cosign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignedWithdrawal {
    /// The withdrawal.
    pub id: String,
    /// The transaction.
    pub txid: String,
    /// Its fee.
    pub fee_sat: u64,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The same transaction was cosigned before (a retry).
    pub again: bool,
    /// The audit record of the cosign decision.
    pub audit_seq: u64,
    /// The PSBT with the cosigner's signatures, base64.
    pub psbt: String,
}

/// The answer of `POST /v1/payouts/cosign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignedPayout {
    /// The withdrawals it pays, as asked.
    pub ids: Vec<String>,
    /// The transaction.
    pub txid: String,
    /// The output paying each withdrawal, in the order of `ids`.
    pub payment_outputs: Vec<usize>,
    /// Its fee.
    pub fee_sat: u64,
    /// The transaction of the same payout family it replaces (a fee bump).
    pub replaces: Option<String>,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The same transaction was cosigned before (a retry).
    pub again: bool,
    /// The first audit record of the decision.
    pub audit_seq_first: u64,
    /// The last audit record of the decision (one per withdrawal when
    /// first cosigned, else the first).
    pub audit_seq_last: u64,
    /// The PSBT with the cosigner's signatures, base64.
    pub psbt: String,
}

/// The answer of `POST /v1/consolidations/cosign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignedConsolidation {
    /// The transaction.
    pub txid: String,
    /// Its fee.
    pub fee_sat: u64,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The PSBT with the cosigner's signatures, base64.
    pub psbt: String,
}

/// The answer of `POST /v1/sweeps/cosign`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignedSweep {
    /// The transaction.
    pub txid: String,
    /// The amount swept to cold.
    pub amount_sat: u64,
    /// Its fee.
    pub fee_sat: u64,
    /// Signatures the cosigner added.
    pub signatures: usize,
    /// The PSBT with the cosigner's signatures, base64.
    pub psbt: String,
}

/// The answer of `POST /v1/sweeps/address`: where the next sweep must pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepAddress {
    /// The cold wallet's receive index.
    pub cold_index: u32,
    /// Its address.
    pub address: String,
}

/// The answer of `GET /v1/state`: what the cosigner decides on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The custody set-up's id.
    pub setup_id: String,
    /// The asset.
    pub asset: String,
    /// Hot balance on the books.
    pub hot_sat: u64,
    /// Cold balance on the books.
    pub cold_sat: u64,
    /// Reserved for approved withdrawals not yet settled.
    pub reserved_sat: u64,
    /// Custody the last custody statement vouched for (if any).
    pub vouched_sat: Option<u64>,
    /// Since when outflow is frozen, if it is.
    pub frozen_since: Option<Timestamp>,
    /// Why it is frozen (the breaker's or a person's reason), if it is.
    pub frozen_reason: Option<String>,
    /// Audit records in the chain.
    pub audit_count: u64,
    /// The chain's head hash.
    pub audit_head: String,
    /// The cosigner's time.
    pub now: Timestamp,
}

/// The answer of `GET /v1/audit/heads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditHeads {
    /// The audit key (x-only, hex) the heads are signed with.
    pub audit_key: String,
    /// Each signed head as a line of the audit export (`docs/ledger.md`).
    pub heads: Vec<serde_json::Value>,
}

/// Every answer that is not a success: `{"error": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// `refused` (a rule refused it: `rule` names it, in the library's and
    /// the CLI's words), `malformed` (the body is not the endpoint's JSON),
    /// `too-large`, `not-found`, `conflict` (`request-id-reused`),
    /// `timeout`, `unavailable` (not ready) or `internal`.
    pub kind: String,
    /// The rule, for `refused` and `conflict`.
    pub rule: Option<String>,
    /// Why, in words.
    pub detail: String,
}

/// The SHA-256 (hex) of a request as the service reads it: of the compact
/// JSON serde writes for the parsed body (field order is the type's), so
/// whitespace and key order in the client's bytes do not matter.
pub fn request_digest<T: Serialize>(endpoint: &str, body: &T) -> String {
    let mut h = Sha256::new();
    h.update(endpoint.as_bytes());
    h.update([0u8]);
    h.update(serde_json::to_vec(body).unwrap_or_default());
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}
