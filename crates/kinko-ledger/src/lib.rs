//! `kinko-ledger`: the policy engine's state, durable and shared, and a
//! hash-chained audit log — on SQLite (embedded, `sqlite:PATH`) or PostgreSQL
//! (`postgres://…`, many workers on many machines).
//!
//! ```
//! use kinko_ledger::{Ledger, Policy};
//! use kinko_policy::{Amount, Decision, EventKind, Timestamp, Wallet};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
//! let policy = Policy::from_toml_str(r#"
//!     [assets.BTC]
//!     hot_cap = 2_000_000_000
//!     [[assets.BTC.windows]]
//!     duration = "24h"
//!     limit = 500_000_000
//! "#)?;
//! let mut ledger = Ledger::open(&url)?.with_policy(policy);
//! let t0 = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")?;
//! ledger.decide_at(t0, EventKind::Deposit {
//!     asset: "BTC".parse()?, wallet: Wallet::Hot, amount: Amount::from_units(1_000_000_000) })?;
//! let done = ledger.decide_at(t0, EventKind::Withdrawal {
//!     id: "w1".parse()?, user: "alice".parse()?, asset: "BTC".parse()?,
//!     destination: "bc1qexample".parse()?, amount: Amount::from_units(100_000_000) })?;
//! // Returned only after the commit: the reservation is durable.
//! assert!(matches!(done.outcome.decision, Decision::Approved { .. }));
//! ledger.verify_audit()?;
//! # Ok(()) }
//! ```
//!
//! # Why no two workers can overspend (the 2014 Flexcoin / Poloniex race)
//!
//! Those exchanges read a balance, decided, and wrote the new balance in
//! separate steps; two requests interleaved between the read and the write
//! both saw the old balance and both were paid. Here a decision is one
//! database transaction that *starts* by taking the asset row's exclusive
//! lock (PostgreSQL `SELECT … FOR UPDATE`; SQLite `BEGIN IMMEDIATE`, the
//! database's single write lock) and holds it until commit. Everything a
//! decision reads — books, windows, breaker, freeze, the withdrawal, the
//! user's windows, the allowlist entry — is read after the lock is granted,
//! and everything it writes is written before the lock is released. So the
//! decisions on one asset form a serial order, each made on the state the
//! previous one committed: exactly the engine's single-threaded semantics,
//! whose invariants (`kinko-policy`) then hold for the ledger too. Nothing
//! is decided on a cached value without checking: the asset row carries a
//! version counter bumped by every commit; a worker reuses its cached copy
//! of the asset's state only when the locked row still has the version it
//! cached, and otherwise reloads it.
//!
//! The withdrawal id is the `kinko_withdrawal` primary key (idempotency
//! across workers and assets); the engine answers a repeated id with
//! `Duplicate` and spends nothing.
//!
//! # Time
//!
//! One time source per ledger, read inside the transaction after the lock:
//! PostgreSQL's `clock_timestamp()` (one clock for all workers) or the system
//! clock for SQLite (one machine); tests and `--at` pass explicit times. A
//! time older than the asset's last event fails closed with
//! [`DecideError::ClockWentBackwards`], nothing recorded.
//!
//! # Schema
//!
//! Versioned migrations under one table `kinko_meta`; a ledger whose schema
//! is newer than this build refuses to open ([`OpenError::NewerSchema`]).
//! See `docs/adr/0001-ledger-concurrency.md` for the whole argument.

#![forbid(unsafe_code)]

pub mod audit;
mod cosign;
mod error;
#[cfg(feature = "postgres")]
mod pg;
mod row;
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use kinko_policy::{
    decide_asset, AssetState, Change, Config, ConfigError, Decision, Event, EventKind, Outcome,
    Proposal, Timestamp, WindowRef, Withdrawal, WithdrawalStatus,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use audit::{AuditHead, AuditRecord, Problem, VerifyError, VerifySummary};
pub use cosign::{
    mark_family, CosignError, CosignRecord, CosignResult, CosignVerdict, PayoutRecord, RefusalRule,
};
pub use error::{CosignRefusal, DecideError, OpenError, ReadError, StorageError};
/// The signed-messages crate the audit heads use (its `SignedAction`,
/// `SetupId`, key parsing), re-exported so callers name the same types.
pub use kinko_auth;
pub use store::SCHEMA_VERSION;

use audit::Prefixes;
use bitcoin::secp256k1::{Keypair, XOnlyPublicKey};
use error::damaged;
use kinko_auth::{Action, SetupId, SignedAction, UnixTime};
use row::Core;
use store::{AssetRow, Backend, SignedHeadRow, WriteTx};

/// A validated policy and the SHA-256 of the text it was read from (recorded
/// in every audit record: the config version in force).
#[derive(Debug, Clone)]
pub struct Policy {
    config: Config,
    sha256: Option<String>,
}

impl Policy {
    /// Parses and validates a policy file's text (TOML).
    ///
    /// # Errors
    /// The policy's [`ConfigError`].
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let config = Config::from_toml_str(text)?;
        Ok(Policy {
            config,
            sha256: Some(format!("{:x}", Sha256::digest(text.as_bytes()))),
        })
    }

    /// A policy built in code (no text: its audit records carry no hash).
    pub fn from_config(config: Config) -> Self {
        Policy {
            config,
            sha256: None,
        }
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// SHA-256 of the policy text, hex.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }
}

/// The policy cosigner's audit key and its set-up: given to a ledger
/// ([`Ledger::with_audit_signer`]), it signs every chain's head
/// ([`Action::AuditHead`]) in the transaction that appends the chain's
/// records. The key is the cosigner's own (`m/1057'/1'/0'` of its
/// keystore), never the backend host's. Its secret is erased on drop and
/// never printed.
pub struct AuditSigner {
    keypair: Keypair,
    setup_id: SetupId,
}

impl AuditSigner {
    /// A signer with this key for this set-up.
    pub fn new(keypair: Keypair, setup_id: SetupId) -> Self {
        AuditSigner { keypair, setup_id }
    }

    /// The x-only public key heads verify with (the set-up's `audit_key`).
    pub fn public_key(&self) -> XOnlyPublicKey {
        self.keypair.x_only_public_key().0
    }

    /// The set-up the heads name.
    pub fn setup_id(&self) -> SetupId {
        self.setup_id
    }

    /// Signs the head of `asset`'s chain: `count` records, the last with
    /// hash `hash` (hex) at time `at`.
    fn sign_head(
        &self,
        asset: &str,
        count: u64,
        hash: &str,
        at: Timestamp,
    ) -> Result<SignedHeadRow, &'static str> {
        let digest = audit::hash_digest(hash).ok_or("audit head")?;
        let signed = Action::AuditHead {
            setup_id: self.setup_id,
            asset: asset.to_owned(),
            count,
            hash: digest,
            at: UnixTime::from_unix(at.unix()),
        }
        .sign(&self.keypair);
        Ok(SignedHeadRow {
            asset: asset.to_owned(),
            count,
            hash: hash.to_owned(),
            signed: signed.to_json(),
        })
    }
}

impl Drop for AuditSigner {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner")
            .field("keypair", &"[redacted]")
            .field("public_key", &kinko_auth::xonly_hex(&self.public_key()))
            .field("setup_id", &self.setup_id)
            .finish()
    }
}

/// Where decisions get their time when none is given.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum TimeSource {
    /// The store's clock: PostgreSQL's `clock_timestamp()`, the system clock
    /// for SQLite.
    #[default]
    Store,
    /// A function (simulations and tests). Called inside the transaction,
    /// after the lock.
    Custom(Arc<dyn Fn() -> Timestamp + Send + Sync>),
}

impl std::fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TimeSource::Store => f.write_str("Store"),
            TimeSource::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// One event to decide, with its time (`None`: the ledger's time source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its time, or `None` for the ledger's time source.
    pub at: Option<Timestamp>,
    /// What happened.
    pub kind: EventKind,
    /// What the decision rests on besides the event (signed actions, txids,
    /// a cold index): stored in the decision's audit payload as field
    /// `evidence`, after the others. `None` writes no field, so a record
    /// without evidence is byte-for-byte (and hash-for-hash) what it was
    /// before the field existed.
    pub evidence: Option<serde_json::Value>,
}

/// A decision that is committed (durable) and in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Committed {
    /// The event's time.
    pub at: Timestamp,
    /// The decision, its changes and the proposals.
    pub outcome: Outcome,
    /// The audit record's sequence number in its asset's chain.
    pub audit_seq: u64,
    /// The audit record's hash.
    pub audit_hash: String,
}

/// The audit payload.
#[derive(Serialize)]
struct Payload<'a> {
    event: &'a Event,
    decision: &'a Decision,
    changes: &'a [Change],
    proposals: &'a [Proposal],
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a serde_json::Value>,
}

/// The audit payload of a refused event that is recorded.
#[derive(Serialize)]
struct RefusalPayload<'a> {
    event: &'a Event,
    rule: &'a str,
    txid: &'a str,
    policy: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a serde_json::Value>,
}

struct Work {
    row: AssetRow,
    core: Core,
    dirty: bool,
    /// The time of the last record this transaction appended (`None`:
    /// the chain did not grow, nothing to sign).
    appended_at: Option<Timestamp>,
}

impl Work {
    /// Appends the next record of the asset's chain (its head moves).
    fn append(
        &mut self,
        tx: &mut dyn WriteTx,
        asset: &str,
        at: Timestamp,
        kind: &str,
        payload: String,
    ) -> Result<AuditRecord, DecideError> {
        let seq = self.row.audit_count + 1;
        let record = AuditRecord::new(asset, seq, at, kind, payload, &self.row.audit_head);
        tx.append_audit(&record)?;
        self.row.audit_count = seq;
        self.row.audit_head.clone_from(&record.hash);
        self.appended_at = Some(at);
        self.dirty = true;
        Ok(record)
    }
}

/// A ledger: one connection to a SQLite file or a PostgreSQL schema, a
/// policy, a time source and a cache of asset state keyed by the asset row's
/// version. Open one per worker thread.
pub struct Ledger {
    backend: Box<dyn Backend>,
    policy: Option<Policy>,
    time: TimeSource,
    cache: HashMap<String, (i64, Core)>,
    signer: Option<AuditSigner>,
    expect: Option<ExpectedHead>,
}

/// The chain head the next write expects (see [`Ledger::expect_head`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExpectedHead {
    asset: String,
    count: u64,
    hash: String,
}

impl ExpectedHead {
    fn check(&self, asset: &str, row: &AssetRow) -> Result<(), (u64, u64)> {
        if self.asset == asset && (row.audit_count != self.count || row.audit_head != self.hash) {
            Err((self.count, row.audit_count))
        } else {
            Ok(())
        }
    }
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("Ledger")
            .field("policy", &self.policy.as_ref().and_then(Policy::sha256))
            .field("time", &self.time)
            .field("audit_signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// The rule of [`DecideError::ReservationCosigned`]
/// ([`CosignRefusal::ReservationCosigned`]).
pub const RULE_RESERVATION_COSIGNED: &str = CosignRefusal::ReservationCosigned.rule();

#[cfg(feature = "sqlite")]
fn open_sqlite(path: &str, create: bool) -> Result<Box<dyn Backend>, OpenError> {
    let mut s = sqlite::Sqlite::open(std::path::Path::new(path), create)?;
    s.migrate()?;
    Ok(Box::new(s))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_path: &str, _create: bool) -> Result<Box<dyn Backend>, OpenError> {
    Err(OpenError::BackendNotBuilt("sqlite"))
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Box<dyn Backend>, OpenError> {
    Ok(Box::new(pg::Pg::open(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_url: &str) -> Result<Box<dyn Backend>, OpenError> {
    Err(OpenError::BackendNotBuilt("postgres"))
}

impl Ledger {
    /// Opens (creating or migrating) the ledger at `url`: `sqlite:PATH` or
    /// `postgres://…` / `postgresql://…` (tables in the connection's
    /// `search_path` schema; set it with `?options=-csearch_path%3DNAME`).
    ///
    /// # Errors
    /// [`OpenError`]; never echoes the URL.
    pub fn open(url: &str) -> Result<Self, OpenError> {
        Self::open_inner(url, true)
    }

    /// Opens an existing ledger, as [`Ledger::open`] but refusing to create a
    /// new SQLite file ([`OpenError::NotFound`]): for readers such as `audit
    /// verify`, where a mistyped path must not pass as an empty, valid log.
    ///
    /// # Errors
    /// [`OpenError`].
    pub fn open_existing(url: &str) -> Result<Self, OpenError> {
        Self::open_inner(url, false)
    }

    fn open_inner(url: &str, create: bool) -> Result<Self, OpenError> {
        let backend: Box<dyn Backend> = if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(OpenError::UnsupportedUrl);
            }
            open_sqlite(path, create)?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            open_postgres(url)?
        } else {
            return Err(OpenError::UnsupportedUrl);
        };
        Ok(Ledger {
            backend,
            policy: None,
            time: TimeSource::Store,
            cache: HashMap::new(),
            signer: None,
            expect: None,
        })
    }

    /// Sets the policy decisions are made under.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The next write (one `decide_batch`, `cosign` or `record_refusal`)
    /// commits only if `asset`'s chain still ends at record `count` with
    /// `hash` when its lock is taken; otherwise it writes nothing and fails
    /// with `HeadMoved`. The policy cosigner passes the head its replay
    /// verified, so a record slipped in between its check and its write is
    /// never built upon (nor signed by its audit key).
    pub fn expect_head(&mut self, asset: &str, count: u64, hash: &str) {
        self.expect = Some(ExpectedHead {
            asset: asset.to_owned(),
            count,
            hash: hash.to_owned(),
        });
    }

    /// Appends a refusal to `asset`'s chain at `at` (kind `refused`, the
    /// `payload` as given, e.g. a signed approval that was refused and its
    /// rule): what the policy cosigner refused where there is a withdrawal
    /// to attach it to. Only the asset's clock moves.
    ///
    /// # Errors
    /// [`DecideError::ClockWentBackwards`], [`DecideError::HeadMoved`],
    /// storage errors; nothing is recorded then.
    pub fn record_refusal(
        &mut self,
        asset: &str,
        at: Timestamp,
        payload: &serde_json::Value,
    ) -> Result<u64, DecideError> {
        let expect = self.expect.take();
        let Ledger {
            backend,
            cache,
            signer,
            ..
        } = self;
        let mut tx = backend.begin()?;
        let cached = cache.get(asset);
        let row = tx.lock_asset(asset, cached.map(|c| c.0))?;
        if let Some(e) = &expect {
            e.check(asset, &row)
                .map_err(|(expected, found)| DecideError::HeadMoved {
                    asset: asset.to_owned(),
                    expected,
                    found,
                })?;
        }
        let core = Core::of_locked(&row, cached.map(|c| &c.1))?;
        if let Some(last) = core.last_at {
            if at < last {
                return Err(DecideError::ClockWentBackwards { last, at });
            }
        }
        let mut work = Work {
            row,
            core,
            dirty: false,
            appended_at: None,
        };
        let text = serde_json::to_string(payload).map_err(damaged("audit payload"))?;
        let record = work.append(tx.as_mut(), asset, at, "refused", text)?;
        work.core.last_at = Some(at);
        if let Some(signer) = signer.as_ref() {
            let head = signer
                .sign_head(asset, work.row.audit_count, &work.row.audit_head, at)
                .map_err(DecideError::Damaged)?;
            tx.put_signed_head(&head)?;
        }
        work.core.store(&mut work.row)?;
        tx.update_asset(asset, &work.row)?;
        tx.commit()?;
        cache.insert(asset.to_owned(), (work.row.version, work.core));
        Ok(record.seq)
    }

    /// Replaces the policy decisions are made under (the policy cosigner's
    /// policy changes; every audit record names the policy's hash).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = Some(policy);
    }

    /// Sets the time source (default: the store's clock).
    pub fn with_time_source(mut self, time: TimeSource) -> Self {
        self.time = time;
        self
    }

    /// Signs every chain's head with the policy cosigner's audit key from
    /// now on: each write that appends audit records ([`Ledger::decide`],
    /// [`Ledger::decide_batch`], the recorded
    /// [`DecideError::ReservationCosigned`] refusal, [`Ledger::cosign`])
    /// stores, for each chain that grew, an [`Action::AuditHead`] of its new
    /// end (count, last hash, the last record's time) in the same database
    /// transaction. [`Ledger::verify_audit_with_key`] checks them.
    pub fn with_audit_signer(mut self, signer: AuditSigner) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> Option<&Policy> {
        self.policy.as_ref()
    }

    /// Decides one event at the time source's time, commits, and returns the
    /// committed decision.
    ///
    /// # Errors
    /// [`DecideError`]: the event was refused or the store failed; nothing was
    /// recorded, except for [`DecideError::ReservationCosigned`], whose
    /// refusal is committed to the audit chain.
    pub fn decide(&mut self, kind: EventKind) -> Result<Committed, DecideError> {
        self.decide_one(Request {
            at: None,
            kind,
            evidence: None,
        })
    }

    /// Decides one event at the time source's time, as [`Ledger::decide`],
    /// recording `evidence` in its audit payload (see
    /// [`Request::evidence`]).
    ///
    /// # Errors
    /// As [`Ledger::decide`].
    pub fn decide_with_evidence(
        &mut self,
        kind: EventKind,
        evidence: serde_json::Value,
    ) -> Result<Committed, DecideError> {
        self.decide_one(Request {
            at: None,
            kind,
            evidence: Some(evidence),
        })
    }

    /// Decides one event at an explicit time (refused if older than the
    /// asset's last event).
    ///
    /// # Errors
    /// As [`Ledger::decide`].
    pub fn decide_at(&mut self, at: Timestamp, kind: EventKind) -> Result<Committed, DecideError> {
        self.decide_one(Request {
            at: Some(at),
            kind,
            evidence: None,
        })
    }

    fn decide_one(&mut self, req: Request) -> Result<Committed, DecideError> {
        let mut out = self.decide_batch(std::slice::from_ref(&req))?;
        match out.pop() {
            Some(r) => r,
            None => Err(DecideError::Damaged("batch result")),
        }
    }

    /// Decides several events in one transaction (group commit: one disk
    /// sync for all). Each event gets its own result: a refused event changes
    /// nothing (but [`DecideError::ReservationCosigned`] appends its audit
    /// record) and the others go on. The outer error means nothing at all
    /// was committed. Events of one asset are decided in the given order.
    ///
    /// # Errors
    /// [`DecideError::NoPolicy`], [`DecideError::Storage`] or
    /// [`DecideError::Damaged`] for the whole batch.
    pub fn decide_batch(
        &mut self,
        reqs: &[Request],
    ) -> Result<Vec<Result<Committed, DecideError>>, DecideError> {
        let expect = self.expect.take();
        let Ledger {
            backend,
            policy,
            time,
            cache,
            signer,
            ..
        } = self;
        let policy = policy.as_ref().ok_or(DecideError::NoPolicy)?;
        let config = &policy.config;
        // Lock in sorted order: no deadlock between workers.
        let mut assets: Vec<&str> = reqs
            .iter()
            .map(|r| r.kind.asset())
            .filter(|a| config.asset(a).is_some())
            .collect();
        assets.sort_unstable();
        assets.dedup();

        let mut tx = backend.begin()?;
        let mut works: BTreeMap<&str, Work> = BTreeMap::new();
        for a in assets {
            let cached = cache.get(a);
            let row = tx.lock_asset(a, cached.map(|c| c.0))?;
            if let Some(e) = &expect {
                e.check(a, &row)
                    .map_err(|(expected, found)| DecideError::HeadMoved {
                        asset: a.to_owned(),
                        expected,
                        found,
                    })?;
            }
            let core = Core::of_locked(&row, cached.map(|c| &c.1))?;
            works.insert(
                a,
                Work {
                    row,
                    core,
                    dirty: false,
                    appended_at: None,
                },
            );
        }
        prefetch(tx.as_mut(), reqs, &works)?;
        // After the locks (PostgreSQL reads its clock with the prefetch).
        let now = if reqs.iter().any(|r| r.at.is_none()) {
            Some(match time {
                TimeSource::Store => tx.now()?,
                TimeSource::Custom(f) => f(),
            })
        } else {
            None
        };

        let mut results = Vec::with_capacity(reqs.len());
        for req in reqs {
            let at = match (req.at, now) {
                (Some(t), _) | (None, Some(t)) => t,
                (None, None) => return Err(DecideError::Damaged("time")),
            };
            results.push(decide_in(tx.as_mut(), policy, &mut works, at, req)?);
        }
        for (asset, w) in works.iter_mut() {
            if let (Some(signer), Some(at)) = (signer.as_ref(), w.appended_at) {
                let head = signer
                    .sign_head(asset, w.row.audit_count, &w.row.audit_head, at)
                    .map_err(DecideError::Damaged)?;
                tx.put_signed_head(&head)?;
            }
            if w.dirty {
                w.core.store(&mut w.row)?;
                tx.update_asset(asset, &w.row)?;
            }
        }
        // PostgreSQL sends the writes with the commit: a withdrawal id that a
        // worker on another asset inserted meanwhile fails here.
        tx.commit().map_err(|e| {
            if e.is_unique_violation() {
                DecideError::IdOfOtherAsset
            } else {
                DecideError::Storage(e)
            }
        })?;
        // Only now, after the commit, may the cache follow.
        for (asset, w) in works {
            cache.insert(asset.to_owned(), (w.row.version, w.core));
        }
        Ok(results)
    }

    /// The full state of an asset (every withdrawal, user window and
    /// allowlist entry), from one consistent snapshot; `None` if the ledger
    /// never saw the asset.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn asset_state(&mut self, asset: &str) -> Result<Option<AssetState>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        row::read_asset_state(tx.as_mut(), asset)
    }

    /// The assets the ledger holds, sorted.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn assets(&mut self) -> Result<Vec<String>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        Ok(tx.assets()?)
    }

    /// A withdrawal by id, with its asset.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn withdrawal(&mut self, id: &str) -> Result<Option<(String, Withdrawal)>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        match tx.withdrawal(id)? {
            Some((asset, rec)) => Ok(Some((asset, row::withdrawal(&rec)?))),
            None => Ok(None),
        }
    }

    /// The head (record count and last hash) of every asset's audit chain,
    /// as the database says (unsigned). With an audit signer publish
    /// [`Ledger::signed_heads`] instead: only those prove who wrote them.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn audit_heads(&mut self) -> Result<Vec<AuditHead>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        Ok(tx.heads()?)
    }

    /// The signed head of every chain the audit key signed, in asset order
    /// (what `kinko audit heads` prints: publish them outside the
    /// database). Empty for a ledger that never had an [`AuditSigner`].
    ///
    /// # Errors
    /// [`ReadError`]; [`ReadError::Damaged`] if a stored head does not parse.
    pub fn signed_heads(&mut self) -> Result<Vec<SignedAction>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        tx.signed_heads()?
            .iter()
            .map(|h| {
                SignedAction::from_json(&h.signed)
                    .map_err(|_| ReadError::Damaged("signed audit head"))
            })
            .collect()
    }

    /// Up to `limit` records of `asset`'s chain with sequence number above
    /// `after_seq`, in sequence order, from one snapshot (for a chain
    /// replay: page with the last `seq` seen).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn audit_records(
        &mut self,
        asset: &str,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        Ok(tx.audit_page(asset, after_seq, limit)?)
    }

    /// The head (count and last hash) stored for `asset`'s chain, `None` if
    /// the ledger never saw the asset. Unsigned: it is what the database
    /// says (see [`Ledger::verify_audit_with_key`]).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn audit_head(&mut self, asset: &str) -> Result<Option<AuditHead>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        Ok(tx.read_asset(asset)?.map(|row| AuditHead {
            asset: asset.to_owned(),
            count: row.audit_count,
            hash: row.audit_head,
        }))
    }

    /// Verifies every audit chain against its stored head, from one
    /// consistent snapshot.
    ///
    /// # Errors
    /// [`VerifyError::BadRecord`] naming the first bad record (of the first
    /// bad chain in asset order).
    pub fn verify_audit(&mut self) -> Result<VerifySummary, VerifyError> {
        let mut tx = self.backend.begin_read().map_err(VerifyError::Storage)?;
        Ok(audit::verify_chains(tx.as_mut(), &mut Prefixes::default())?.0)
    }

    /// Verifies every chain as [`Ledger::verify_audit`] and, with the
    /// policy cosigner's audit key, its signed head: every chain with
    /// records has one ([`VerifyError::UnsignedHead`]), signed by `key`
    /// ([`VerifyError::BadHeadSignature`]), naming this chain
    /// ([`VerifyError::HeadNotForChain`]) and equal to its end, count and
    /// last hash ([`VerifyError::HeadMismatch`]: records appended, a chain
    /// truncated, or rewritten with recomputed hashes). A signed head of a
    /// chain without records is a truncation too. One snapshot.
    ///
    /// A writer who saved an older signed head can truncate the chain back
    /// to it and restore it; [`Ledger::verify_audit_with_published`] with
    /// the heads published since catches that.
    ///
    /// # Errors
    /// The first failure, chains first ([`VerifyError::BadRecord`]).
    pub fn verify_audit_with_key(
        &mut self,
        key: &XOnlyPublicKey,
    ) -> Result<VerifySummary, VerifyError> {
        self.verify_audit_with_published(key, &[])
    }

    /// [`Ledger::verify_audit_with_key`], and every head in `published`
    /// (signed heads published earlier outside the database, e.g. the
    /// daily `kinko audit heads` files) is signed by `key`
    /// ([`VerifyError::BadPublishedHead`]) and still a prefix of its chain:
    /// the record at its count has its hash, so it is not newer than the
    /// stored signed head ([`VerifyError::PublishedHeadMismatch`]).
    ///
    /// # Errors
    /// As [`Ledger::verify_audit_with_key`], then the published heads'.
    pub fn verify_audit_with_published(
        &mut self,
        key: &XOnlyPublicKey,
        published: &[SignedAction],
    ) -> Result<VerifySummary, VerifyError> {
        let published = audit::check_published_signatures(key, published)?;
        let mut prefixes = Prefixes::new(&published);
        let mut tx = self.backend.begin_read().map_err(VerifyError::Storage)?;
        let (summary, ends) = audit::verify_chains(tx.as_mut(), &mut prefixes)?;
        let signed = tx
            .signed_heads()
            .map_err(VerifyError::Storage)?
            .into_iter()
            .map(|h| (h.asset, SignedAction::from_json(&h.signed).ok()))
            .collect();
        audit::check_signed_heads(key, &ends, &signed)?;
        prefixes.check(&published, &ends)?;
        Ok(summary)
    }

    /// Writes every audit record as one JSON object per line (asset order,
    /// then sequence order), then one line per signed head
    /// (`{"signed_head": <SignedAction JSON object>}`, asset order; see
    /// [`audit::SignedHeadLine`]), from one consistent snapshot; returns
    /// the number of records. [`audit::verify_export`] and
    /// [`audit::verify_export_with_key`] check such a file without the
    /// database.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn export_audit<W: Write>(&mut self, mut out: W) -> Result<u64, ReadError> {
        let mut tx = self.backend.begin_read()?;
        let mut n = 0;
        for asset in tx.audit_assets()? {
            audit::each_record(tx.as_mut(), &asset, ReadError::Storage, |r| {
                n += 1;
                json_line(&mut out, r)
            })?;
        }
        for h in tx.signed_heads()? {
            // As stored: a damaged head is exported (as a string) for the
            // auditor's check to refuse, not dropped.
            let signed_head =
                serde_json::from_str(&h.signed).unwrap_or(serde_json::Value::String(h.signed));
            json_line(&mut out, &audit::SignedHeadLine { signed_head })?;
        }
        out.flush().map_err(ReadError::Io)?;
        Ok(n)
    }
}

/// Writes `value` as one JSON line.
fn json_line<W: Write, T: Serialize>(out: &mut W, value: &T) -> Result<(), ReadError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| ReadError::Io(std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(ReadError::Io)
}

/// Names every row the batch's decisions read besides the asset rows, so a
/// store that reads ahead fetches them at once (after the locks): first what
/// the events name, then the user and destination recorded in the
/// withdrawals that approvals, confirmations and failures name.
fn prefetch(
    tx: &mut dyn WriteTx,
    reqs: &[Request],
    works: &BTreeMap<&str, Work>,
) -> Result<(), DecideError> {
    if !tx.reads_ahead() {
        return Ok(());
    }
    let events: Vec<Event> = reqs
        .iter()
        .filter(|r| works.contains_key(r.kind.asset()))
        .map(|r| Event::new(Timestamp::from_unix(0), r.kind.clone()))
        .collect();
    let mut keys = store::Keys::default();
    let mut second = Vec::new();
    for e in &events {
        let t = e.touches();
        keys.ids.extend(t.withdrawal);
        keys.ids
            .extend(t.settles.iter().map(kinko_policy::WithdrawalId::as_str));
        keys.users.extend(t.user.map(|u| (t.asset, u)));
        keys.destinations
            .extend(t.destination.map(|d| (t.asset, d)));
        if let (Some(id), None) = (t.withdrawal, t.user) {
            second.push((t.asset, id));
        }
    }
    tx.prefetch(&keys)?;
    let mut recorded = Vec::new();
    for (asset, id) in second {
        if let Some((w_asset, rec)) = tx.withdrawal(id)? {
            if w_asset == asset {
                recorded.push((asset, row::withdrawal(&rec)?));
            }
        }
    }
    let keys = store::Keys {
        ids: Vec::new(),
        users: recorded
            .iter()
            .map(|(a, w)| (*a, w.user.as_str()))
            .collect(),
        destinations: recorded
            .iter()
            .map(|(a, w)| (*a, w.destination.as_str()))
            .collect(),
    };
    tx.prefetch(&keys)?;
    Ok(())
}

/// Refuses a `Failed` report for a cosigned reservation, recording the
/// refusal in the asset's audit chain (see
/// [`DecideError::ReservationCosigned`]).
fn refuse_cosigned(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    work: &mut Work,
    event: &Event,
    id: &str,
    txid: String,
    evidence: Option<&serde_json::Value>,
) -> Result<Result<Committed, DecideError>, DecideError> {
    let at = event.at;
    if let Some(last) = work.core.last_at {
        if at < last {
            return Ok(Err(DecideError::ClockWentBackwards { last, at }));
        }
    }
    let payload = serde_json::to_string(&RefusalPayload {
        event,
        rule: CosignRefusal::ReservationCosigned.rule(),
        txid: &txid,
        policy: policy.sha256(),
        evidence,
    })
    .map_err(damaged("audit payload"))?;
    let record = work.append(tx, event.kind.asset(), at, "refused", payload)?;
    work.core.last_at = Some(at);
    Ok(Err(DecideError::ReservationCosigned {
        id: id.to_owned(),
        txid,
        audit_seq: record.seq,
    }))
}

/// Decides one event inside the batch's transaction. The outer error aborts
/// the batch; the inner one refuses this event only (nothing written).
fn decide_in(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    works: &mut BTreeMap<&str, Work>,
    at: Timestamp,
    req: &Request,
) -> Result<Result<Committed, DecideError>, DecideError> {
    let kind = &req.kind;
    let evidence = req.evidence.as_ref();
    let asset = kind.asset();
    let (Some(asset_policy), Some(work)) = (policy.config.asset(asset), works.get_mut(asset))
    else {
        return Ok(Err(DecideError::Refused(
            kinko_policy::DecideError::UnknownAsset(asset.chars().take(64).collect()),
        )));
    };
    let mut s = row::asset_state(&work.row, work.core.clone());
    let event = Event::new(at, kind.clone());
    // Load just what the decision reads (see `Event::touches`).
    let touches = event.touches();
    let touched = match (touches.user, touches.destination) {
        // A withdrawal request names everything it reads: one read.
        (Some(user), Some(dest)) => {
            let t = tx.touched(asset, touches.withdrawal, Some(user), Some(dest))?;
            (t, user.to_owned(), Some(dest.to_owned()))
        }
        // Otherwise the withdrawal first, then its user's and destination's rows.
        _ => {
            let withdrawal = match touches.withdrawal {
                Some(id) => tx.withdrawal(id)?,
                None => None,
            };
            let mut user = touches.user.map(str::to_owned);
            let mut destination = touches.destination.map(str::to_owned);
            if let Some((_, rec)) = &withdrawal {
                let w = row::withdrawal(rec)?;
                user.get_or_insert(w.user.into());
                destination.get_or_insert(w.destination.into());
            }
            let t = tx.touched(asset, None, user.as_deref(), destination.as_deref())?;
            let t = store::Touched { withdrawal, ..t };
            (t, user.unwrap_or_default(), destination)
        }
    };
    let (t, user, destination) = touched;
    if let (Some(id), Some((w_asset, rec))) = (touches.withdrawal, t.withdrawal) {
        if w_asset != asset {
            return Ok(Err(DecideError::IdOfOtherAsset));
        }
        s.withdrawals
            .insert(row::name(id, "withdrawal")?, row::withdrawal(&rec)?);
    }
    // The withdrawals a confirmed transaction settles (the engine refuses
    // an unknown one).
    for id in touches.settles {
        if let Some((w_asset, rec)) = tx.withdrawal(id)? {
            if w_asset != asset {
                return Ok(Err(DecideError::IdOfOtherAsset));
            }
            s.withdrawals.insert(id.clone(), row::withdrawal(&rec)?);
        }
    }
    if let Some(text) = t.user_windows {
        s.user_windows
            .insert(row::name(&user, "user windows")?, row::user_windows(&text)?);
    }
    if let (Some(d), Some(entry)) = (destination, t.allowlist) {
        s.allowlist
            .insert(row::name(&d, "allowlist")?, row::allowlist_entry(entry));
    }

    // A reservation cosigned for a transaction is not released by a failure
    // report (the signed transaction may still be broadcast) — unless the
    // caller names the confirmed transaction that conflicts with every one
    // it was cosigned for (evidence `conflict`; the policy cosigner checks
    // it against its own records before it asks, and again on replay).
    let mut s = AssetState::from_parts(s);
    let conflict = evidence.is_some_and(|e| e.get("conflict").is_some());
    if let (EventKind::Failed { id, .. }, false) = (kind, conflict) {
        let reserved = s
            .withdrawal(id)
            .is_some_and(|w| w.status == WithdrawalStatus::Reserved);
        if reserved {
            if let Some(txid) = tx.cosign_mark(id)? {
                return refuse_cosigned(tx, policy, work, &event, id, txid, evidence);
            }
        }
    }

    let outcome = match decide_asset(asset_policy, &mut s, &event) {
        Ok(o) => o,
        Err(kinko_policy::DecideError::Corrupt(_)) => {
            return Err(DecideError::Damaged("asset state"))
        }
        Err(kinko_policy::DecideError::TimeWentBackwards { last, at }) => {
            return Ok(Err(DecideError::ClockWentBackwards { last, at }))
        }
        Err(e) => return Ok(Err(DecideError::Refused(e))),
    };
    let s = s.into_parts();
    // The SQL columns are i64: refuse (before writing anything) what they
    // cannot hold.
    if !row::fits_columns(&s) {
        return Ok(Err(DecideError::AmountTooLarge));
    }

    // Persist what changed.
    let mut new_w = None;
    let mut changed_w = Vec::new();
    let mut changed_user = None;
    for c in &outcome.changes {
        match c {
            Change::WithdrawalRecorded { id, .. } => new_w = Some(id),
            Change::ApprovalAdded { id, .. }
            | Change::Reserved { id, .. }
            | Change::PendingDenied { id, .. }
            | Change::Settled { id, .. }
            | Change::Released { id, .. }
                if changed_w.last() != Some(&id) =>
            {
                changed_w.push(id);
            }
            Change::UsageAdded {
                window: WindowRef::User { user, .. },
                ..
            } => changed_user = Some(user),
            Change::AllowlistAdded { destination, entry } => {
                tx.put_allowlist(asset, destination, Some(row::allowlist_row(entry)))?
            }
            Change::AllowlistRemoved { destination } => {
                tx.put_allowlist(asset, destination, None)?
            }
            _ => {}
        }
    }
    let writes = new_w
        .map(|id| (id, true))
        .into_iter()
        .chain(changed_w.into_iter().map(|id| (id, false)));
    for (id, insert) in writes {
        let w = s
            .withdrawals
            .get(id)
            .ok_or(DecideError::Damaged("withdrawal"))?;
        let row = row::withdrawal_row(asset, id, w)?;
        if insert {
            // The id was free when read; a worker deciding on another asset
            // inserted it since (PostgreSQL; SQLite has one writer). The
            // transaction is aborted: fail the batch, nothing committed; a
            // retry refuses this event alone.
            tx.insert_withdrawal(&row).map_err(|e| {
                if e.is_unique_violation() {
                    DecideError::IdOfOtherAsset
                } else {
                    DecideError::Storage(e)
                }
            })?;
        } else {
            tx.update_withdrawal(&row)?;
        }
    }
    if let Some(u) = changed_user {
        let usage = match s.user_windows.get(u) {
            Some(v) => Some(row::user_windows_row(v)?),
            None => None,
        };
        tx.put_user_windows(asset, u, usage.as_deref())?;
    }

    let payload = serde_json::to_string(&Payload {
        event: &event,
        decision: &outcome.decision,
        changes: &outcome.changes,
        proposals: &outcome.proposals,
        policy: policy.sha256(),
        evidence,
    })
    .map_err(damaged("audit payload"))?;
    let record = work.append(tx, asset, at, kind.type_name(), payload)?;

    row::store_asset_state(s, &mut work.row, &mut work.core);
    Ok(Ok(Committed {
        at,
        outcome,
        audit_seq: record.seq,
        audit_hash: record.hash,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "sqlite")]
    #[test]
    fn urls_are_checked_and_never_echoed() {
        for url in [
            "",
            "sqlite:",
            "sqlite://",
            "mysql://root:hunter2@db/x",
            "file:/tmp/x",
            "SQLITE:/tmp/x",
        ] {
            let e = Ledger::open(url).unwrap_err();
            assert!(matches!(e, OpenError::UnsupportedUrl), "{url}: {e:?}");
            assert!(!e.to_string().contains("hunter2"));
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = format!("sqlite:{}", dir.path().join("none.db").display());
        assert!(matches!(
            Ledger::open_existing(&missing),
            Err(OpenError::NotFound)
        ));
        // Both URL forms open the same file.
        let path = dir.path().join("l.db");
        drop(Ledger::open(&format!("sqlite:{}", path.display())).unwrap());
        assert!(Ledger::open_existing(&format!("sqlite://{}", path.display())).is_ok());
    }

    #[test]
    fn schema_versions() {
        assert_eq!(store::check_schema(None).unwrap(), 0);
        assert_eq!(store::check_schema(Some(Ok(1))).unwrap(), 1);
        assert_eq!(store::check_schema(Some(Ok(2))).unwrap(), 2);
        assert_eq!(store::check_schema(Some(Ok(3))).unwrap(), 3);
        assert!(matches!(
            store::check_schema(Some(Ok(4))),
            Err(OpenError::NewerSchema {
                found: 4,
                supported: 3
            })
        ));
        assert!(matches!(
            store::check_schema(Some(Err("x"))),
            Err(OpenError::DamagedSchema)
        ));
        assert_eq!(store::MIGRATIONS.len() as u32, SCHEMA_VERSION);
    }

    #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
    #[test]
    fn a_backend_left_out_is_named() {
        #[cfg(not(feature = "sqlite"))]
        assert!(matches!(
            Ledger::open("sqlite:/nonexistent/l.db"),
            Err(OpenError::BackendNotBuilt("sqlite"))
        ));
        #[cfg(not(feature = "postgres"))]
        assert!(matches!(
            Ledger::open("postgres://u:hunter2@127.0.0.1/x"),
            Err(OpenError::BackendNotBuilt("postgres"))
        ));
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn debug_never_shows_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("secret-name.db").display());
        let l = Ledger::open(&url).unwrap();
        assert!(!format!("{l:?}").contains("secret-name"));
    }
}

#[cfg(test)]
mod layers {
    /// The backends, the store and the shared queries name only the
    /// modules below the facade (`crate::error`, `crate::store`, ...), never
    /// an item of lib.rs itself (`crate::Ledger`, `crate::Policy`, ...).
    #[test]
    fn backends_and_store_import_nothing_from_the_facade() {
        let below = ["audit", "error", "sql", "store"];
        for (file, text) in [
            ("pg.rs", include_str!("pg.rs")),
            ("sqlite.rs", include_str!("sqlite.rs")),
            ("store.rs", include_str!("store.rs")),
            ("sql.rs", include_str!("sql.rs")),
        ] {
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for part in line.split("crate::").skip(1) {
                    let name: String = part
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
                        .collect();
                    assert!(
                        below.contains(&name.as_str()),
                        "{file} names crate::{name}: {line}"
                    );
                }
            }
        }
    }
}
