//! The client of the policy cosigner service `kinko-cosignd`: the `/v1`
//! API's types ([`api`]) and a blocking [`Client`] over HTTPS with mutual
//! TLS. The backend holds only this: the hot key, the client certificate
//! the custody set-up pins, and the service's CA certificate. Nothing here
//! opens the cosigner's ledger or keystore.
//!
//! ```no_run
//! use kinko_client::{api::WithdrawalRequest, Client, TlsFiles};
//! let client = Client::connect(
//!     "https://cosigner.internal:8443",
//!     &TlsFiles::read("ca.pem", "backend.pem", "backend.key")?,
//! )?;
//! let answer = client.request_withdrawal(&WithdrawalRequest {
//!     request_id: "w-1".into(),
//!     id: "w-1".into(),
//!     user: "alice".into(),
//!     destination: "bcrt1q…".into(),
//!     amount_sat: 50_000,
//! })?;
//! println!("{} (audit record {})", answer.outcome, answer.audit_seq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

pub mod api;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api::{
    AmountRequest, AuditHeads, CosignRequest, CosignedConsolidation, CosignedPayout, CosignedSweep,
    CosignedWithdrawal, Decided, DepositRequest, ErrorBody, FailRequest, FreezeRequest, IdRequest,
    PayoutRequest, PolicyChangeRequest, QuorumRequest, SignedRequest, State, SweepAddress,
    WithdrawalRequest,
};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The largest answer the client reads (an audit export may be large).
pub const MAX_ANSWER: u64 = 256 << 20;

/// Why a call did not get its answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The service answered with an error (`kind` and, when a rule refused
    /// it, `rule`).
    #[error("cosigner answered {status}: {kind}{}: {detail}", rule.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's kind (`refused`, `malformed`, …).
        kind: String,
        /// The rule, for refusals and conflicts.
        rule: Option<String>,
        /// Why.
        detail: String,
    },
    /// The connection or TLS handshake failed, or the request timed out.
    #[error("cannot reach the cosigner: {0}")]
    Transport(String),
    /// The TLS files did not read or do not hold what they should.
    #[error("TLS files: {0}")]
    Tls(String),
    /// The answer is not the API's JSON.
    #[error("the cosigner's answer does not read: {0}")]
    Decode(String),
}

impl ClientError {
    /// The rule that refused the request, if a rule did.
    pub fn rule(&self) -> Option<&str> {
        match self {
            ClientError::Api { rule, .. } => rule.as_deref(),
            _ => None,
        }
    }
}

/// The TLS material of the backend: the CA (or self-signed certificate)
/// the service's certificate must chain to, and the backend's client
/// certificate chain and private key, all PEM.
#[derive(Clone)]
pub struct TlsFiles {
    /// The service's CA certificates.
    pub ca: Vec<CertificateDer<'static>>,
    /// The client certificate chain.
    pub cert_chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.len())
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &"[redacted]")
            .finish()
    }
}

impl TlsFiles {
    /// From PEM text.
    ///
    /// # Errors
    /// [`ClientError::Tls`] when a PEM holds no certificate or no key.
    pub fn from_pem(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<Self, ClientError> {
        let certs = |pem: &[u8], what: &str| {
            let v: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| ClientError::Tls(format!("{what}: {e}")))?;
            if v.is_empty() {
                return Err(ClientError::Tls(format!("{what}: no certificate")));
            }
            Ok(v)
        };
        let key = PrivateKeyDer::from_pem_slice(key)
            .map_err(|_| ClientError::Tls("client key: no private key in PEM".into()))?;
        Ok(TlsFiles {
            ca: certs(ca, "CA")?,
            cert_chain: certs(cert, "client certificate")?,
            key: Arc::new(key),
        })
    }

    /// Reads the three PEM files.
    ///
    /// # Errors
    /// [`ClientError::Tls`] naming the file.
    pub fn read(
        ca: impl AsRef<Path>,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, ClientError> {
        let read = |p: &Path| {
            let f = std::fs::File::open(p)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", p.display())))?;
            let mut v = Vec::new();
            // PEM files of a few certificates: a megabyte is plenty.
            f.take(1 << 20)
                .read_to_end(&mut v)
                .map_err(|e| ClientError::Tls(format!("{}: {e}", p.display())))?;
            Ok::<_, ClientError>(v)
        };
        TlsFiles::from_pem(
            &read(ca.as_ref())?,
            &read(cert.as_ref())?,
            &read(key.as_ref())?,
        )
    }

    fn client_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        for c in &self.ca {
            roots
                .add(c.clone())
                .map_err(|e| ClientError::Tls(format!("CA: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| ClientError::Tls(format!("client certificate and key: {e}")))
    }
}

/// A blocking client of one `kinko-cosignd`, keeping connections alive
/// (cheap to clone; clones share the pool).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).finish()
    }
}

fn seg(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

impl Client {
    /// A client of the service at `base_url` (`https://host:port`).
    ///
    /// # Errors
    /// [`ClientError::Tls`]; a URL that is not `https://` is refused (the
    /// service has no plaintext listener).
    pub fn connect(base_url: &str, tls: &TlsFiles) -> Result<Self, ClientError> {
        if !base_url.starts_with("https://") {
            return Err(ClientError::Tls(format!(
                "{base_url:?}: the cosigner is reached over https only"
            )));
        }
        let config = tls.client_config()?;
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(config))
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .max_idle_connections_per_host(16)
            .build();
        Ok(Client {
            agent,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn answer<R: DeserializeOwned>(
        res: Result<ureq::Response, ureq::Error>,
    ) -> Result<R, ClientError> {
        match res {
            Ok(r) => {
                let mut body = Vec::new();
                r.into_reader()
                    .take(MAX_ANSWER)
                    .read_to_end(&mut body)
                    .map_err(|e| ClientError::Transport(e.to_string()))?;
                serde_json::from_slice(&body).map_err(|e| ClientError::Decode(e.to_string()))
            }
            Err(ureq::Error::Status(status, r)) => {
                let mut body = Vec::new();
                let _ = r.into_reader().take(1 << 20).read_to_end(&mut body);
                match serde_json::from_slice::<ErrorBody>(&body) {
                    Ok(e) => Err(ClientError::Api {
                        status,
                        kind: e.error.kind,
                        rule: e.error.rule,
                        detail: e.error.detail,
                    }),
                    Err(_) => Err(ClientError::Api {
                        status,
                        kind: "unknown".into(),
                        rule: None,
                        detail: String::from_utf8_lossy(&body).chars().take(200).collect(),
                    }),
                }
            }
            Err(e) => Err(ClientError::Transport(e.to_string())),
        }
    }

    fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        // ureq's own error type, returned as it comes.
        #[allow(clippy::result_large_err)]
        let send = || {
            self.agent
                .post(&format!("{}{path}", self.base))
                .set("content-type", "application/json")
                .send_bytes(&bytes)
        };
        match send() {
            // A kept-alive connection the service closed meanwhile fails
            // before any answer; every POST of the API is idempotent (by
            // request_id, or a cosign signed again), so it is sent once more
            // on a new connection.
            Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::Io => {
                Self::answer(send())
            }
            other => Self::answer(other),
        }
    }

    fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        Self::answer(self.agent.get(&format!("{}{path}", self.base)).call())
    }

    /// `GET /v1/health`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn health(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/v1/health")
    }

    /// `GET /v1/ready`: the cosigner's ledger replays and matches its chain.
    ///
    /// # Errors
    /// [`ClientError`] (`unavailable` when not ready).
    pub fn ready(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/v1/ready")
    }

    /// `GET /v1/state`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn state(&self) -> Result<State, ClientError> {
        self.get("/v1/state")
    }

    /// `POST /v1/withdrawals`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn request_withdrawal(&self, r: &WithdrawalRequest) -> Result<Decided, ClientError> {
        self.post("/v1/withdrawals", r)
    }

    /// `POST /v1/withdrawals/{id}/approvals`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn approve(&self, id: &str, r: &SignedRequest) -> Result<Decided, ClientError> {
        self.post(&format!("/v1/withdrawals/{}/approvals", seg(id)), r)
    }

    /// `POST /v1/withdrawals/{id}/cosign`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn cosign_withdrawal(
        &self,
        id: &str,
        r: &CosignRequest,
    ) -> Result<CosignedWithdrawal, ClientError> {
        self.post(&format!("/v1/withdrawals/{}/cosign", seg(id)), r)
    }

    /// `POST /v1/withdrawals/{id}/confirmed`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn confirm(&self, id: &str, r: &IdRequest) -> Result<Decided, ClientError> {
        self.post(&format!("/v1/withdrawals/{}/confirmed", seg(id)), r)
    }

    /// `POST /v1/withdrawals/{id}/failed`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn fail(&self, id: &str, r: &FailRequest) -> Result<Decided, ClientError> {
        self.post(&format!("/v1/withdrawals/{}/failed", seg(id)), r)
    }

    /// `POST /v1/payouts/cosign`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn cosign_payout(&self, r: &PayoutRequest) -> Result<CosignedPayout, ClientError> {
        self.post("/v1/payouts/cosign", r)
    }

    /// `POST /v1/transactions/{txid}/confirmed`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn confirm_tx(&self, txid: &str, r: &IdRequest) -> Result<Decided, ClientError> {
        self.post(&format!("/v1/transactions/{}/confirmed", seg(txid)), r)
    }

    /// `POST /v1/consolidations/cosign`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn cosign_consolidation(
        &self,
        r: &CosignRequest,
    ) -> Result<CosignedConsolidation, ClientError> {
        self.post("/v1/consolidations/cosign", r)
    }

    /// `POST /v1/deposits`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn report_deposit(&self, r: &DepositRequest) -> Result<Decided, ClientError> {
        self.post("/v1/deposits", r)
    }

    /// `POST /v1/hot-balance`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn report_hot_balance(&self, r: &AmountRequest) -> Result<Decided, ClientError> {
        self.post("/v1/hot-balance", r)
    }

    /// `POST /v1/refills`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn report_refill(&self, r: &AmountRequest) -> Result<Decided, ClientError> {
        self.post("/v1/refills", r)
    }

    /// `POST /v1/freeze`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn freeze(&self, r: &FreezeRequest) -> Result<Decided, ClientError> {
        self.post("/v1/freeze", r)
    }

    /// `POST /v1/unfreeze`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn unfreeze(&self, r: &SignedRequest) -> Result<Decided, ClientError> {
        self.post("/v1/unfreeze", r)
    }

    /// `POST /v1/custody-statements`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn custody_statement(&self, r: &QuorumRequest) -> Result<Decided, ClientError> {
        self.post("/v1/custody-statements", r)
    }

    /// `POST /v1/allowlist`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn allowlist_add(&self, r: &QuorumRequest) -> Result<Decided, ClientError> {
        self.post("/v1/allowlist", r)
    }

    /// `POST /v1/allowlist/cancel`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn allowlist_cancel(&self, r: &SignedRequest) -> Result<Decided, ClientError> {
        self.post("/v1/allowlist/cancel", r)
    }

    /// `POST /v1/policy-changes`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn propose_policy_change(&self, r: &PolicyChangeRequest) -> Result<Decided, ClientError> {
        self.post("/v1/policy-changes", r)
    }

    /// `POST /v1/policy-changes/cancel`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn cancel_policy_change(&self, r: &SignedRequest) -> Result<Decided, ClientError> {
        self.post("/v1/policy-changes/cancel", r)
    }

    /// `POST /v1/sweeps/address`: the cold index and address the next
    /// sweep must pay.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn sweep_address(&self) -> Result<SweepAddress, ClientError> {
        self.post("/v1/sweeps/address", &serde_json::json!({}))
    }

    /// `POST /v1/sweeps/cosign`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn cosign_sweep(&self, r: &CosignRequest) -> Result<CosignedSweep, ClientError> {
        self.post("/v1/sweeps/cosign", r)
    }

    /// `GET /v1/audit/heads`.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn audit_heads(&self) -> Result<AuditHeads, ClientError> {
        self.get("/v1/audit/heads")
    }

    /// `GET /v1/audit/export`: the audit export (JSON lines, the format of
    /// `kinko audit export`), as text.
    ///
    /// # Errors
    /// [`ClientError`].
    pub fn audit_export(&self) -> Result<String, ClientError> {
        let res = self
            .agent
            .get(&format!("{}/v1/audit/export", self.base))
            .call();
        match res {
            Ok(r) => {
                let mut s = String::new();
                r.into_reader()
                    .take(MAX_ANSWER)
                    .read_to_string(&mut s)
                    .map_err(|e| ClientError::Transport(e.to_string()))?;
                Ok(s)
            }
            Err(e) => Self::answer::<serde_json::Value>(Err(e)).map(|_| String::new()),
        }
    }
}
