//! The policy cosigner as the one authority over the hot wallet.
//!
//! An [`Authority`] is opened from a custody set-up signed by the admin
//! quorum ([`crate::setup::Setup`]), the cosigner's keys and its own ledger.
//! From then on nothing a caller says can decide, loosen or choose:
//!
//! - **the set-up is pinned**: the asset, network, hot and cold wallets,
//!   policy, fee limits, change gap and every key come from the signed
//!   set-up, never from a request;
//! - **its own clock**: every decision and cosign takes [`Clock`]'s time;
//!   requests carry none;
//! - **its own state**: before every decision and cosign the audit chain is
//!   replayed ([`crate::replay::Replay`]) — each record decided again by the
//!   engine under the set-up's policy — and the ledger's rows are compared
//!   with it; a row edited, inserted or deleted is refused as
//!   `state-mismatch`, naming it; the chain's head must be the one the audit
//!   key signed;
//! - **signed human actions**: approvals, unfreeze votes, allowlist changes
//!   and custody statements are BIP-340 signatures by keys of the set-up
//!   ([`kinko_auth`]); a name is not an approval;
//! - **custody it can vouch for**: cold deposits are not taken from a
//!   report; share limits are measured against admin-signed custody;
//! - **transactions it can stand behind**: the reservation's asset is the
//!   set-up's, the lock time is final, no relative lock, change within the
//!   gap, fees within the set-up's limits; sweeps pay only the pinned cold
//!   wallet, at the next cold index the cosigner hands out.

use std::collections::HashSet;
use std::sync::Arc;

use bitcoin::hex::DisplayHex;
use bitcoin::psbt::Psbt;
use bitcoin::secp256k1::{Keypair, XOnlyPublicKey};
use bitcoin::{Address, Amount};
use kinko_auth::{Action, ActionRefusal, ActionRule, SignedAction, UnixTime, Verifier};
use kinko_ledger::{
    AuditSigner, Committed, CosignRefusal, CosignResult, CosignVerdict, Ledger, RefusalRule,
    Request,
};
use kinko_policy::{
    Amount as Units, AssetId, Decision, Destination, EventKind, IdError, Timestamp, Wallet,
    WithdrawalId, WithdrawalStatus,
};
use kinko_wallet::{Keychain, OutputKind, PsbtAnalysis, SigningKeys};
use serde_json::{json, Value};

use crate::check::{
    check_consolidation, check_payout, check_sweep, check_transaction, destination_script, TxRules,
};
use crate::replay::{Mismatch, Replay};
use crate::setup::Setup;
use crate::{
    ConsolidationCosigned, CosignError, CosignRule, Cosigned, Cosigner, PayoutCosigned, Refusal,
    SweepCosigned,
};

/// Where the cosigner's time comes from: its own host's clock, never a
/// request. `Custom` is for simulations and tests run by the cosigner's own
/// operator (the exchange's day runs a day in seconds).
#[derive(Clone, Default)]
pub enum Clock {
    /// The system clock of the cosigner's host.
    #[default]
    System,
    /// A function (simulations, tests).
    Custom(Arc<dyn Fn() -> Timestamp + Send + Sync>),
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Clock::System => "System",
            Clock::Custom(_) => "Custom",
        })
    }
}

impl Clock {
    /// The time now.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                Timestamp::from_unix(i64::try_from(secs).unwrap_or(i64::MAX))
            }
            Clock::Custom(f) => f(),
        }
    }
}

/// The rule behind a refusal of the authority. Names are stable (kebab
/// case): the CLI exits 3 naming them, the audit log records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthorityRule {
    /// A transaction rule of the cosigner (`destination-mismatch`,
    /// `non-final-locktime`, `wrong-asset`, `state-mismatch`, …).
    Cosign(CosignRule),
    /// A signed action was refused (`bad-signature`, `unknown-signer`,
    /// `wrong-setup`, `expired`, `replayed`, `object-mismatch`, …).
    Action(ActionRule),
    /// Fewer distinct admins signed than the set-up's quorum
    /// (`quorum-not-met`).
    QuorumNotMet,
    /// A cold deposit reported by the backend (`unvouched-cold-deposit`):
    /// cold custody changes only through sweeps the cosigner cosigned,
    /// reported refills and admin-signed custody statements.
    UnvouchedColdDeposit,
    /// The time is older than the asset's last event
    /// (`clock-went-backwards`).
    ClockWentBackwards,
    /// `fail` for a reservation with a cosigned transaction
    /// (`reservation-cosigned`).
    ReservationCosigned,
    /// The engine refused the event outright (`invalid-event`).
    InvalidEvent,
    /// A confirmation of a transaction the cosigner never signed
    /// (`unknown-transaction`).
    UnknownTransaction,
    /// A confirmation of a payout family one of whose transactions is
    /// already recorded as confirmed (`already-confirmed`).
    AlreadyConfirmed,
    /// A release of a cosigned reservation whose evidence is not a confirmed
    /// transaction conflicting with every transaction of its family
    /// (`conflict-not-proven`).
    ConflictNotProven,
    /// A policy change that does not read, names another asset or an
    /// approver without a key, or moves a window (`invalid-policy`).
    InvalidPolicy,
}

impl AuthorityRule {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityRule::Cosign(r) => r.as_str(),
            AuthorityRule::Action(r) => r.as_str(),
            AuthorityRule::QuorumNotMet => "quorum-not-met",
            AuthorityRule::UnvouchedColdDeposit => "unvouched-cold-deposit",
            AuthorityRule::ClockWentBackwards => "clock-went-backwards",
            AuthorityRule::ReservationCosigned => "reservation-cosigned",
            AuthorityRule::InvalidEvent => "invalid-event",
            AuthorityRule::UnknownTransaction => "unknown-transaction",
            AuthorityRule::AlreadyConfirmed => "already-confirmed",
            AuthorityRule::ConflictNotProven => "conflict-not-proven",
            AuthorityRule::InvalidPolicy => "invalid-policy",
        }
    }
}

impl std::fmt::Display for AuthorityRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the authority did not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// A rule refused (nothing signed; recorded in the audit log where there
    /// is a withdrawal of the set-up's asset to attach it to).
    #[error("refused by rule {rule}: {detail}")]
    Refused {
        /// The rule.
        rule: AuthorityRule,
        /// For people (never a secret).
        detail: String,
    },
    /// The ledger failed; nothing was signed.
    #[error("ledger failed: {0}")]
    Ledger(String),
    /// Signing failed after the check.
    #[error("signing failed")]
    Sign(#[source] CosignError),
    /// The request ([`Authority::with_request`]) was answered before, by
    /// audit record `audit_seq`: nothing was written now. `same` is false
    /// when that record answered another request under the same id.
    #[error("request already answered by audit record {audit_seq}")]
    AlreadyAnswered {
        /// The record that answered it.
        audit_seq: u64,
        /// The earlier request had the same digest.
        same: bool,
    },
}

impl AuthorityError {
    /// The rule, when a rule refused.
    pub fn rule(&self) -> Option<AuthorityRule> {
        match self {
            AuthorityError::Refused { rule, .. } => Some(*rule),
            _ => None,
        }
    }

    fn refused(rule: AuthorityRule, detail: impl Into<String>) -> Self {
        AuthorityError::Refused {
            rule,
            detail: detail.into(),
        }
    }

    fn ledger(e: impl std::error::Error) -> Self {
        let mut s = e.to_string();
        let mut src = e.source();
        while let Some(c) = src {
            s.push_str(": ");
            s.push_str(&c.to_string());
            src = c.source();
        }
        AuthorityError::Ledger(s)
    }
}

impl From<ActionRefusal> for AuthorityError {
    fn from(r: ActionRefusal) -> Self {
        AuthorityError::refused(AuthorityRule::Action(r.rule), r.detail)
    }
}

impl From<Refusal> for AuthorityError {
    fn from(r: Refusal) -> Self {
        AuthorityError::refused(AuthorityRule::Cosign(r.rule), r.detail)
    }
}

impl From<IdError> for AuthorityError {
    fn from(e: IdError) -> Self {
        // The engine's own refusal of a bad name, as before names were
        // checked when made.
        let e = kinko_policy::DecideError::from(e);
        AuthorityError::refused(AuthorityRule::InvalidEvent, e.to_string())
    }
}

impl From<Mismatch> for AuthorityError {
    fn from(m: Mismatch) -> Self {
        AuthorityError::refused(AuthorityRule::Cosign(CosignRule::StateMismatch), m.0)
    }
}

/// Why an authority could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenAuthorityError {
    /// The audit key given is not the set-up's `audit_key`.
    #[error("the audit key is not the set-up's audit key")]
    WrongAuditKey,
    /// The cosigner's keys are not in the set-up's hot wallet.
    #[error("cannot cosign for the set-up's wallets: {0}")]
    Cosigner(#[from] crate::NewCosignerError),
    /// The ledger did not open.
    #[error("cannot open the ledger")]
    Ledger(#[source] kinko_ledger::OpenError),
    /// The ledger's state is not what its audit chain replays to, or the
    /// chain's head is not the one the audit key signed.
    #[error("{0}")]
    Refused(#[source] AuthorityError),
}

/// How many audit records a catch-up reads per query.
const PAGE: u32 = 2_000;

/// How many times a write (or a check) is done again when another
/// authority on the same ledger moved the chain on between this one's check
/// and its write. Each time means another authority committed, so the
/// fleet progresses; the bound only keeps one authority from waiting
/// forever behind the others.
const MOVED_TRIES: u32 = 64;

/// The policy cosigner of one custody set-up.
pub struct Authority<K> {
    setup: Setup,
    cosigner: Cosigner<K>,
    ledger: Ledger,
    replay: Replay,
    clock: Clock,
    /// Writes and checks done again because another authority moved the
    /// chain on meanwhile.
    moved: u64,
    /// The client's request the records written now answer
    /// ([`Authority::with_request`]).
    request: Option<Value>,
}

impl<K> std::fmt::Debug for Authority<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("setup", &self.setup.id().to_string())
            .field("head", &self.replay.head())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

fn signed_json(s: &SignedAction) -> Value {
    serde_json::from_str(&s.to_json()).unwrap_or(Value::Null)
}

fn sig_hex(s: &SignedAction) -> String {
    s.signature.serialize().as_hex().to_string()
}

impl<K: SigningKeys> Authority<K> {
    /// Opens the authority of `setup` over the ledger at `ledger_url`,
    /// signing transactions with `keys` and audit heads with `audit_key`;
    /// replays the whole audit chain and compares the ledger's rows with it.
    ///
    /// # Errors
    /// [`OpenAuthorityError`]; a ledger whose rows or chain do not hold is
    /// refused (`state-mismatch`, naming what differs).
    pub fn open(
        setup: Setup,
        ledger_url: &str,
        keys: K,
        audit_key: Keypair,
        clock: Clock,
    ) -> Result<Self, OpenAuthorityError> {
        if audit_key.x_only_public_key().0 != setup.audit_key() {
            return Err(OpenAuthorityError::WrongAuditKey);
        }
        let (max_fee, max_rate) = setup.fee_limits();
        let cosigner = Cosigner::new(setup.hot_wallet().clone(), keys)?
            .with_cold_wallet(setup.cold_wallet().clone())?
            .with_fee_limits(max_fee, max_rate);
        let ledger = Ledger::open(ledger_url)
            .map_err(OpenAuthorityError::Ledger)?
            .with_policy(setup.policy().clone())
            .with_audit_signer(AuditSigner::new(audit_key, setup.id()));
        let replay = Replay::new(setup.asset(), setup.policy().clone())
            .map_err(|m| OpenAuthorityError::Refused(m.into()))?;
        let mut a = Authority {
            setup,
            cosigner,
            ledger,
            replay,
            clock,
            moved: 0,
            request: None,
        };
        a.sync().map_err(OpenAuthorityError::Refused)?;
        Ok(a)
    }

    /// The set-up in force.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The cosigner's time now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The state the audit chain replays to (what the authority decides on).
    pub fn state(&self) -> &kinko_policy::AssetState {
        self.replay.state()
    }

    /// How many writes (and checks) this authority did again since it was
    /// opened because another authority on the same ledger moved the chain
    /// on between its check and its write.
    pub fn chain_moved(&self) -> u64 {
        self.moved
    }

    /// The replayed chain (sweeps, cosigned reservations, head).
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// The ledger, for reading (audit export, heads). Writing through it
    /// bypasses nothing: every write is replayed and checked before the next
    /// decision.
    pub fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    /// Runs `f` with every audit record it writes naming the client's
    /// request (`id`, and `sha256`, the hex SHA-256 of the request as the
    /// service read it), so that a retry of the request is answered from
    /// its first record ([`Replay::request`]), also after a crash: the name
    /// is written in the same transaction as the decision.
    pub fn with_request<T>(&mut self, id: &str, sha256: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.request = Some(json!({ "id": id, "sha256": sha256 }));
        let out = f(self);
        self.request = None;
        out
    }

    /// Refuses to write again for a request the chain answered already
    /// (checked on the head the write goes to: two services that got the
    /// same request write it once).
    fn answered_before(&self) -> Result<(), AuthorityError> {
        let Some(req) = &self.request else {
            return Ok(());
        };
        let id = req["id"].as_str().unwrap_or_default();
        match self.replay.request(id) {
            Some(m) => Err(AuthorityError::AlreadyAnswered {
                audit_seq: m.audit_seq,
                same: req["sha256"].as_str() == Some(m.sha256.as_str()),
            }),
            None => Ok(()),
        }
    }

    /// `evidence` with the request being answered, if any.
    fn tagged(&self, evidence: Option<Value>) -> Option<Value> {
        let Some(req) = &self.request else {
            return evidence;
        };
        let mut ev = match evidence {
            Some(Value::Object(m)) => m,
            Some(other) => {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), other);
                m
            }
            None => serde_json::Map::new(),
        };
        ev.insert("request".into(), req.clone());
        Some(Value::Object(ev))
    }

    /// Reads the audit records the replay has not seen and feeds them.
    fn catch_up(&mut self) -> Result<(), AuthorityError> {
        let asset = self.setup.asset().to_owned();
        loop {
            let after = self.replay.head().0;
            let page = self
                .ledger
                .audit_records(&asset, after, PAGE)
                .map_err(AuthorityError::ledger)?;
            for r in &page {
                self.replay.feed(r)?;
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// Brings the replay up to the chain's end, checks that end is the head
    /// the audit key signed, and that the ledger's rows are the replayed
    /// state.
    ///
    /// # Errors
    /// `state-mismatch` naming what differs; [`AuthorityError::Ledger`].
    pub fn sync(&mut self) -> Result<(), AuthorityError> {
        self.sync_and(|_| Ok(()))
    }

    /// [`Authority::sync`], then `check` (a row the next write relies on).
    /// The chain, its stored and signed heads and the rows are read one
    /// after the other: another authority on the same ledger may commit in
    /// between, and the later reads then see a newer chain than the replay
    /// read — a mismatch of two moments, not an edit. A mismatch found while
    /// the stored head is past the replay's is checked again on the new
    /// head (at most [`MOVED_TRIES`] times); any other is refused.
    fn sync_and(
        &mut self,
        check: impl Fn(&mut Self) -> Result<(), AuthorityError>,
    ) -> Result<(), AuthorityError> {
        let mut tries = 0;
        loop {
            self.catch_up()?;
            let Err(e) = self.check_rows().and_then(|()| check(self)) else {
                return Ok(());
            };
            let mismatch = e.rule() == Some(AuthorityRule::Cosign(CosignRule::StateMismatch));
            if !mismatch || tries == MOVED_TRIES || !self.moved_on()? {
                return Err(e);
            }
            self.moved_again(&mut tries);
        }
    }

    /// Counts one more try after another authority moved the chain on, and
    /// waits a little first: a host that lost the race re-reads the chain
    /// and the rows before it tries again, the others are quicker, and
    /// without a pause (growing, with jitter) it can lose every time.
    fn moved_again(&mut self, tries: &mut u32) {
        *tries += 1;
        self.moved += 1;
        let jitter = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() % 5);
        let ms = u64::from((*tries).min(10) + jitter);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    /// Whether the chain's stored end is past the replay's (another
    /// authority appended since the replay read it).
    fn moved_on(&mut self) -> Result<bool, AuthorityError> {
        let asset = self.setup.asset().to_owned();
        let stored = self
            .ledger
            .audit_head(&asset)
            .map_err(AuthorityError::ledger)?;
        Ok(stored.is_some_and(|h| h.count > self.replay.head().0))
    }

    /// The heads and rows are the replayed chain's.
    fn check_rows(&mut self) -> Result<(), AuthorityError> {
        self.check_stored_head()?;
        self.check_signed_head()?;
        let asset = self.setup.asset().to_owned();
        let rows = self
            .ledger
            .asset_state(&asset)
            .map_err(AuthorityError::ledger)?
            .unwrap_or_default();
        self.replay.compare(&rows)?;
        Ok(())
    }

    /// The chain's end the ledger will append to (its asset row's head)
    /// must be the replay's: records rewritten and relinked, or truncated,
    /// behind a replay that already read them would otherwise be built on —
    /// and signed — by the next write.
    fn check_stored_head(&mut self) -> Result<(), AuthorityError> {
        let asset = self.setup.asset().to_owned();
        let stored = self
            .ledger
            .audit_head(&asset)
            .map_err(AuthorityError::ledger)?;
        let (count, hash) = self.replay.head();
        let (s_count, s_hash) = stored
            .as_ref()
            .map_or((0, kinko_ledger::audit::GENESIS), |h| {
                (h.count, h.hash.as_str())
            });
        if (s_count, s_hash) != (count, hash) {
            return Err(Mismatch(format!(
                "the {asset} chain's stored head is record {s_count} ({s_hash}), the replayed \
                 chain ends at record {count} ({hash})"
            ))
            .into());
        }
        Ok(())
    }

    /// The ledger's cosign mark of `id` (what its one-transaction-per-
    /// reservation rule and its refusal to release a cosigned reservation
    /// read) must be the chain's: a deleted mark would let the ledger sign
    /// a second transaction for the reservation or release it.
    fn check_cosign_mark(&mut self, id: &str) -> Result<(), AuthorityError> {
        let mark = self
            .ledger
            .cosign_family(id)
            .map_err(AuthorityError::ledger)?;
        let chain = self.replay.family(id);
        if mark != chain {
            let say = |f: &[String]| {
                if f.is_empty() {
                    "not cosigned".to_owned()
                } else {
                    f.join(" ")
                }
            };
            return Err(Mismatch(format!(
                "the cosign mark row of withdrawal {id:?} says {}, the chain says {}",
                say(&mark),
                say(chain)
            ))
            .into());
        }
        Ok(())
    }

    fn check_signed_head(&mut self) -> Result<(), AuthorityError> {
        let (count, hash) = self.replay.head();
        if count == 0 {
            return Ok(());
        }
        let asset = self.setup.asset();
        let heads = self.ledger.signed_heads().map_err(AuthorityError::ledger)?;
        let found = heads.iter().find(|h| h.action.asset() == Some(asset));
        let Some(h) = found else {
            return Err(Mismatch(format!(
                "the {asset} audit chain has {count} records but no signed head"
            ))
            .into());
        };
        let ok_sig = h.signer == self.setup.audit_key() && h.verify().is_ok();
        let matches = match &h.action {
            Action::AuditHead {
                setup_id,
                count: c,
                hash: hh,
                ..
            } => *setup_id == self.setup.id() && *c == count && hh.to_string() == hash,
            _ => false,
        };
        if !ok_sig {
            return Err(Mismatch(format!(
                "the {asset} audit head is not signed by the set-up's audit key"
            ))
            .into());
        }
        if !matches {
            return Err(Mismatch(format!(
                "the {asset} audit chain ends at record {count}, which is not the head the audit key signed"
            ))
            .into());
        }
        Ok(())
    }

    /// Decides one event at the authority's own time, with evidence for the
    /// audit log, after checking the state; feeds the new record.
    fn decide(
        &mut self,
        kind: EventKind,
        evidence: Option<Value>,
    ) -> Result<Committed, AuthorityError> {
        let evidence = self.tagged(evidence);
        // A write that finds the chain moved since the check (another
        // authority on the same PostgreSQL, or a record slipped in) writes
        // nothing: check again, at most a few times.
        let mut tries = 0;
        let mut out = loop {
            self.sync()?;
            self.answered_before()?;
            let at = self.now();
            self.recheck(evidence.as_ref(), at)?;
            // The policy in force at this time: the set-up's, or the last
            // change taken whose time has come.
            let in_force = self.replay.policy_at(at);
            if self.ledger.policy().and_then(|p| p.sha256()) != in_force.sha256() {
                let p = in_force.clone();
                self.ledger.set_policy(p);
            }
            let req = Request {
                at: Some(at),
                kind: kind.clone(),
                evidence: evidence.clone(),
            };
            self.expect_head();
            match self.ledger.decide_batch(std::slice::from_ref(&req)) {
                Err(kinko_ledger::DecideError::HeadMoved { .. }) if tries < MOVED_TRIES => {
                    self.moved_again(&mut tries)
                }
                Err(e) => return Err(AuthorityError::ledger(e)),
                Ok(out) => break out,
            }
        };
        let res = out
            .pop()
            .ok_or_else(|| AuthorityError::Ledger("no result".into()))?;
        let committed = res.map_err(|e| match e {
            kinko_ledger::DecideError::ClockWentBackwards { last, at } => {
                clock_went_backwards(last, at)
            }
            kinko_ledger::DecideError::ReservationCosigned {
                id,
                txid,
                audit_seq,
            } => AuthorityError::refused(
                AuthorityRule::ReservationCosigned,
                format!(
                    "reservation {id} was cosigned for transaction {txid}, which may still be \
                         broadcast; only its confirmation releases it (refusal recorded as audit \
                         record {audit_seq})"
                ),
            ),
            kinko_ledger::DecideError::Refused(e) => {
                AuthorityError::refused(AuthorityRule::InvalidEvent, e.to_string())
            }
            other => AuthorityError::ledger(other),
        });
        // The new record (or a recorded refusal) is replayed before anything
        // else is decided.
        self.catch_up()?;
        committed
    }

    fn asset(&self) -> AssetId {
        self.setup.asset_id().clone()
    }

    /// What a decision's evidence rests on still holds on the chain it is
    /// about to be written to. The signed-action calls check on the head
    /// they synced to; when another authority on the same ledger moved the
    /// chain on before the write, the write is made on the new head, where
    /// the same signatures may have been taken meanwhile (the same action
    /// relayed to two authorities at once): a policy change twice under one
    /// sequence number would leave a record the replay refuses, and every
    /// authority then refuses everything.
    fn recheck(&self, evidence: Option<&Value>, at: Timestamp) -> Result<(), AuthorityError> {
        let Some(ev) = evidence else { return Ok(()) };
        // A sweep's or consolidation's fee fits the 24-hour budget on the
        // head it is written to (another authority may have signed since).
        if let Some(tx) = ev.get("tx") {
            let txid = tx.get("txid").and_then(Value::as_str).unwrap_or_default();
            let fee = tx.get("fee_sat").and_then(Value::as_u64);
            if let (None, Some(fee)) = (self.replay.tx(txid), fee) {
                self.check_fee_budget(Amount::from_sat(fee), None)?;
            }
        }
        let signed = ev.get("signatures").and_then(Value::as_array);
        for s in signed.into_iter().flatten() {
            let Ok(s) = SignedAction::from_json(&s.to_string()) else {
                continue;
            };
            self.unused(&s)?;
            // A statement counted before the one in force would set the
            // vouched custody back up (the outflow settled between the two
            // would be vouched for again): statements only move forward.
            if let (Action::CustodyStatement { as_of, .. }, Some(last)) =
                (&s.action, self.replay.custody_as_of())
            {
                if *as_of <= last {
                    return Err(AuthorityError::refused(
                        AuthorityRule::Action(ActionRule::ObjectMismatch),
                        format!(
                            "the statement counts custody as of {as_of}; the one in force counted it as of {last}"
                        ),
                    ));
                }
            }
            if let Action::Unfreeze { frozen_at, .. } = &s.action {
                let freeze = self.replay.state().freeze();
                if freeze.is_none_or(|f| f.at.unix() != frozen_at.unix()) {
                    return Err(AuthorityError::refused(
                        AuthorityRule::Action(ActionRule::ObjectMismatch),
                        format!("the freeze of {frozen_at} is no longer in force"),
                    ));
                }
            }
        }
        let pending = self.replay.pending_change(at).map(|p| p.sequence);
        let change = ev
            .pointer("/policy_change/sequence")
            .and_then(Value::as_u64);
        if change.is_some_and(|c| c != self.replay.next_policy_sequence() || pending.is_some()) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                "another policy change was taken meanwhile",
            ));
        }
        let cancel = ev
            .pointer("/policy_cancel/sequence")
            .and_then(Value::as_u64);
        if cancel.is_some_and(|c| pending != Some(c)) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                "the policy change is no longer waiting",
            ));
        }
        Ok(())
    }

    /// The next ledger write must find the chain where the replay ends.
    fn expect_head(&mut self) {
        let (count, hash) = self.replay.head();
        let hash = hash.to_owned();
        self.ledger.expect_head(self.setup.asset(), count, &hash);
    }

    /// Records a refused signed action where there is a withdrawal of the
    /// set-up's asset to attach it to (the refusal itself is returned).
    fn record_refused(
        &mut self,
        id: &str,
        signed: &SignedAction,
        e: AuthorityError,
    ) -> AuthorityError {
        let AuthorityError::Refused { rule, detail } = &e else {
            return e;
        };
        if self.replay.state().withdrawal(id).is_none() {
            return e;
        }
        let payload = json!({
            "refused": {
                "action": signed.action.name(),
                "id": id,
                "rule": rule.as_str(),
                "detail": detail,
            },
            "evidence": self.tagged(Some(json!({ "signatures": [signed_json(signed)] }))),
        });
        let at = self.now();
        self.expect_head();
        let asset = self.asset();
        // Best effort: the refusal stands whether or not it could be recorded.
        if self.ledger.record_refusal(&asset, at, &payload).is_ok() {
            let _ = self.catch_up();
        }
        e
    }

    fn verifier<'a>(&'a self, keys: &'a [(String, XOnlyPublicKey)]) -> Verifier<'a> {
        Verifier {
            setup_id: self.setup.id(),
            keys,
            now: UnixTime::from_unix(self.now().unix()),
        }
    }

    fn unused(&self, s: &SignedAction) -> Result<(), AuthorityError> {
        match self.replay.action_used(&sig_hex(s)) {
            Some(seq) => Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::Replayed),
                format!("this signature was already used (audit record {seq})"),
            )),
            None => Ok(()),
        }
    }

    /// A user asks to withdraw: decided by the engine under the set-up's
    /// policy at the authority's time, reserved in its ledger.
    ///
    /// # Errors
    /// `destination-invalid` when the destination is not an address of the
    /// set-up's network; [`AuthorityError`].
    pub fn request_withdrawal(
        &mut self,
        id: &str,
        user: &str,
        destination: &str,
        amount: u64,
    ) -> Result<Committed, AuthorityError> {
        destination_script(destination, self.setup.network())?;
        self.decide(
            EventKind::Withdrawal {
                id: id.parse()?,
                user: user.parse()?,
                asset: self.asset(),
                destination: destination.parse()?,
                amount: Units::from_units(amount),
            },
            None,
        )
    }

    /// An approver's signed approval of a pending withdrawal: the signer
    /// must be an approver of the set-up, the action for this set-up and
    /// asset, unexpired on the authority's clock, for exactly the pending
    /// withdrawal's destination and amount, and not used before.
    ///
    /// # Errors
    /// The signed-action rules; [`AuthorityError`].
    pub fn approve(&mut self, signed: &SignedAction) -> Result<Committed, AuthorityError> {
        let r = self.approve_checked(signed);
        match (r, &signed.action) {
            // A refused signature of a known withdrawal goes to its chain.
            (
                Err(
                    e @ AuthorityError::Refused {
                        rule: AuthorityRule::Action(_),
                        ..
                    },
                ),
                Action::Approval { withdrawal_id, .. },
            ) => Err(self.record_refused(withdrawal_id, signed, e)),
            (r, _) => r,
        }
    }

    fn approve_checked(&mut self, signed: &SignedAction) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let Action::Approval {
            withdrawal_id,
            destination,
            amount,
            ..
        } = &signed.action
        else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                format!("a {} is not an approval", signed.action.name()),
            ));
        };
        let asset = self.asset();
        let name = self
            .verifier(self.setup.approvers())
            .check(signed, Some(&asset))?
            .to_owned();
        // A replay is named as one whatever the withdrawal's state (after the
        // approval that completed the quorum it is no longer pending).
        self.unused(signed)?;
        let Some(w) = self.replay.state().withdrawal(withdrawal_id) else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!("no withdrawal {withdrawal_id:?} of {asset}"),
            ));
        };
        if w.destination != destination.as_str() || w.amount != *amount {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "the approval is for {amount} to {destination:?}; withdrawal {withdrawal_id:?} is {} to {:?}",
                    w.amount, w.destination
                ),
            ));
        }
        if w.approvals.contains(&name) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::Replayed),
                format!("{name} already approved {withdrawal_id:?}"),
            ));
        }
        if w.status != WithdrawalStatus::Pending {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "withdrawal {withdrawal_id:?} is {}, not pending",
                    w.status.name()
                ),
            ));
        }
        self.decide(
            EventKind::Approval {
                asset,
                id: withdrawal_id.parse()?,
                approver: name,
            },
            Some(json!({ "signatures": [signed_json(signed)] })),
        )
    }

    /// An approver's signed vote to lift the freeze in force (the vote names
    /// the freeze by the time it began).
    ///
    /// # Errors
    /// The signed-action rules (`object-mismatch` when not frozen or another
    /// freeze); [`AuthorityError`].
    pub fn unfreeze(&mut self, signed: &SignedAction) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let Action::Unfreeze { frozen_at, .. } = &signed.action else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                format!("a {} is not an unfreeze vote", signed.action.name()),
            ));
        };
        let asset = self.asset();
        let name = self
            .verifier(self.setup.approvers())
            .check(signed, Some(&asset))?
            .to_owned();
        let Some(f) = &self.replay.state().freeze() else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!("{asset} is not frozen"),
            ));
        };
        if f.at.unix() != frozen_at.unix() {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "the vote is for the freeze of {frozen_at}; the freeze in force began {}",
                    f.at
                ),
            ));
        }
        if f.votes.contains(&name) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::Replayed),
                format!("{name} already voted to lift this freeze"),
            ));
        }
        self.unused(signed)?;
        self.decide(
            EventKind::Unfreeze {
                asset,
                approver: name,
            },
            Some(json!({ "signatures": [signed_json(signed)] })),
        )
    }

    /// Freezes all outflow (anyone may tighten).
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn freeze(&mut self, by: &str, reason: &str) -> Result<Committed, AuthorityError> {
        self.decide(
            EventKind::Freeze {
                asset: self.asset(),
                by: by.to_owned(),
                reason: reason.to_owned(),
            },
            None,
        )
    }

    /// Checks that `signed` are the same `expected` action signed by at
    /// least the admin quorum of distinct admins, none used before.
    fn admin_quorum(&self, signed: &[SignedAction]) -> Result<Value, AuthorityError> {
        let Some(first) = signed.first() else {
            return Err(AuthorityError::refused(
                AuthorityRule::QuorumNotMet,
                "no signature given",
            ));
        };
        let asset = self.asset();
        let v = self.verifier(self.setup.admins());
        let mut names = std::collections::BTreeSet::new();
        for s in signed {
            if s.action != first.action {
                return Err(AuthorityError::refused(
                    AuthorityRule::Action(ActionRule::ObjectMismatch),
                    "the signatures are over different actions",
                ));
            }
            names.insert(v.check(s, Some(&asset))?.to_owned());
            self.unused(s)?;
        }
        let need = self.setup.admin_quorum() as usize;
        if names.len() < need {
            return Err(AuthorityError::refused(
                AuthorityRule::QuorumNotMet,
                format!("{} of {need} admins signed", names.len()),
            ));
        }
        Ok(json!({ "signatures": signed.iter().map(signed_json).collect::<Vec<_>>() }))
    }

    /// Adds a destination to the allowlist: the admin quorum's signatures
    /// over the same `allowlist-add`; active after the policy's delay on the
    /// authority's clock.
    ///
    /// # Errors
    /// The signed-action rules, `quorum-not-met`; [`AuthorityError`].
    pub fn allowlist_add(&mut self, signed: &[SignedAction]) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let evidence = self.admin_quorum(signed)?;
        let Some(Action::AllowlistAdd { destination, .. }) = signed.first().map(|s| &s.action)
        else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                "not an allowlist-add",
            ));
        };
        let destination: Destination = destination.parse()?;
        self.decide(
            EventKind::AllowlistAdd {
                asset: self.asset(),
                destination: destination.parse()?,
            },
            Some(evidence),
        )
    }

    /// Cancels an allowlist entry: one admin's signature (tightening).
    ///
    /// # Errors
    /// The signed-action rules; [`AuthorityError`].
    pub fn allowlist_cancel(&mut self, signed: &SignedAction) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let Action::AllowlistCancel { destination, .. } = &signed.action else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                format!("a {} is not an allowlist-cancel", signed.action.name()),
            ));
        };
        let asset = self.asset();
        self.verifier(self.setup.admins())
            .check(signed, Some(&asset))?;
        self.unused(signed)?;
        let destination: Destination = destination.parse()?;
        self.decide(
            EventKind::AllowlistCancel { asset, destination },
            Some(json!({ "signatures": [signed_json(signed)] })),
        )
    }

    /// An admin-signed custody statement (the admin quorum over the same
    /// `custody-statement`): from then on share limits are measured against
    /// at most this custody, less what settles.
    ///
    /// # Errors
    /// The signed-action rules, `quorum-not-met`, `object-mismatch` when the
    /// statement is dated in the future; [`AuthorityError`].
    pub fn custody_statement(
        &mut self,
        signed: &[SignedAction],
    ) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let evidence = self.admin_quorum(signed)?;
        let Some(Action::CustodyStatement { amount, as_of, .. }) =
            signed.first().map(|s| &s.action)
        else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                "not a custody-statement",
            ));
        };
        if as_of.unix() > self.now().unix() {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!("the statement is dated {as_of}, after the cosigner's now"),
            ));
        }
        let amount = *amount;
        self.decide(
            EventKind::CustodyStatement {
                asset: self.asset(),
                amount: Units::from_units(amount),
            },
            Some(evidence),
        )
    }

    /// Takes a policy change: `policy_text` (kinko-policy TOML for the
    /// set-up's asset) and the admin quorum's signatures over the same
    /// `policy-change` naming its SHA-256 and the next sequence number. A
    /// change that only tightens applies at once; one that loosens anything
    /// waits the set-up's `policy_delay` on the cosigner's clock and can be
    /// cancelled meanwhile ([`Authority::cancel_policy_change`]). Window
    /// usage, freezes and reservations carry over. One change may wait at a
    /// time.
    ///
    /// # Errors
    /// The signed-action rules, `quorum-not-met`, `object-mismatch` (another
    /// hash or sequence, a change already waiting), `invalid-policy`;
    /// [`AuthorityError`].
    pub fn propose_policy_change(
        &mut self,
        policy_text: &str,
        signed: &[SignedAction],
    ) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let mut evidence = self.admin_quorum(signed)?;
        let Some(Action::PolicyChange {
            policy_sha256,
            sequence,
            ..
        }) = signed.first().map(|s| &s.action)
        else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                "not a policy-change",
            ));
        };
        let new =
            crate::setup::check_policy(self.setup.asset(), self.setup.approvers(), policy_text)
                .map_err(|e| {
                    AuthorityError::refused(AuthorityRule::InvalidPolicy, e.to_string())
                })?;
        if new.sha256() != Some(policy_sha256.to_string().as_str()) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "the signatures are for policy {policy_sha256}, the text given is {}",
                    new.sha256().unwrap_or_default()
                ),
            ));
        }
        let now = self.now();
        if *sequence != self.replay.next_policy_sequence() {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "the signatures are for change #{sequence}, the next is #{}",
                    self.replay.next_policy_sequence()
                ),
            ));
        }
        if let Some(p) = self.replay.pending_change(now) {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::ObjectMismatch),
                format!(
                    "change #{} waits until {}; cancel it or wait",
                    p.sequence, p.active_at
                ),
            ));
        }
        let asset = self.asset();
        let old = self.replay.policy_at(now);
        let (Some(old), Some(new_asset)) = (old.config().asset(&asset), new.config().asset(&asset))
        else {
            return Err(AuthorityError::refused(
                AuthorityRule::InvalidPolicy,
                "no policy for the set-up's asset",
            ));
        };
        let loosens = crate::policy_change::loosenings(old, new_asset)
            .map_err(|e| AuthorityError::refused(AuthorityRule::InvalidPolicy, e.to_string()))?;
        let active_at = if loosens.is_empty() {
            now
        } else {
            now.saturating_add(self.setup.policy_delay())
        };
        evidence["policy_change"] = json!({
            "sequence": sequence,
            "sha256": new.sha256(),
            "text": policy_text,
            "active_at": active_at.unix(),
            "loosening": !loosens.is_empty(),
            "loosens": loosens,
        });
        self.decide(EventKind::Tick { asset }, Some(evidence))
    }

    /// Cancels the policy change that waits: one admin's `policy-cancel`
    /// naming its sequence number (tightening: at once).
    ///
    /// # Errors
    /// The signed-action rules, `object-mismatch` when no such change waits;
    /// [`AuthorityError`].
    pub fn cancel_policy_change(
        &mut self,
        signed: &SignedAction,
    ) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let Action::PolicyCancel { sequence, .. } = &signed.action else {
            return Err(AuthorityError::refused(
                AuthorityRule::Action(ActionRule::WrongAction),
                format!("a {} is not a policy-cancel", signed.action.name()),
            ));
        };
        let asset = self.asset();
        self.verifier(self.setup.admins())
            .check(signed, Some(&asset))?;
        self.unused(signed)?;
        let now = self.now();
        match self.replay.pending_change(now) {
            Some(p) if p.sequence == *sequence => {}
            _ => {
                return Err(AuthorityError::refused(
                    AuthorityRule::Action(ActionRule::ObjectMismatch),
                    format!("policy change #{sequence} is not waiting"),
                ))
            }
        }
        self.decide(
            EventKind::Tick { asset },
            Some(json!({
                "signatures": [signed_json(signed)],
                "policy_cancel": { "sequence": sequence },
            })),
        )
    }

    /// The backend reports a deposit. Hot deposits make the books larger
    /// for paying (share limits stay at the vouched custody); cold deposits
    /// are refused (`unvouched-cold-deposit`).
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn report_deposit(
        &mut self,
        wallet: Wallet,
        amount: u64,
    ) -> Result<Committed, AuthorityError> {
        if wallet == Wallet::Cold {
            return Err(AuthorityError::refused(
                AuthorityRule::UnvouchedColdDeposit,
                "cold custody changes only through cosigned sweeps, refills and admin-signed \
                 custody statements",
            ));
        }
        self.decide(
            EventKind::Deposit {
                asset: self.asset(),
                wallet,
                amount: Units::from_units(amount),
            },
            None,
        )
    }

    /// The backend reports the hot wallet's balance seen on chain (less than
    /// the books freezes the asset).
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn report_hot_balance(&mut self, balance: u64) -> Result<Committed, AuthorityError> {
        self.decide(
            EventKind::HotBalance {
                asset: self.asset(),
                balance: Units::from_units(balance),
            },
            None,
        )
    }

    /// The backend reports a refill (cold → hot) executed by the cold key
    /// holders.
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn report_refill(&mut self, amount: u64) -> Result<Committed, AuthorityError> {
        self.decide(
            EventKind::Refill {
                asset: self.asset(),
                amount: Units::from_units(amount),
            },
            None,
        )
    }

    /// The backend reports a reserved withdrawal confirmed on chain. When
    /// the cosigner signed one transaction for it, this is
    /// [`Authority::confirm_tx`] of that transaction (which settles every
    /// reservation it pays and books its fee); after a fee bump the
    /// transaction must be named (`unknown-transaction`).
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn confirm(&mut self, id: &str) -> Result<Committed, AuthorityError> {
        self.sync()?;
        match self.replay.family(id) {
            [] => {}
            [only] => {
                let only = only.clone();
                return self.confirm_tx(&only);
            }
            family => {
                return Err(AuthorityError::refused(
                    AuthorityRule::UnknownTransaction,
                    format!(
                        "withdrawal {id:?} was cosigned in {} transactions ({}); confirm the one that confirmed by its txid",
                        family.len(),
                        family.join(", ")
                    ),
                ))
            }
        }
        self.decide(
            EventKind::Confirmed {
                asset: self.asset(),
                id: id.parse()?,
            },
            None,
        )
    }

    /// The backend reports a reserved withdrawal failed (never broadcast):
    /// released, unless a transaction was cosigned for it
    /// (`reservation-cosigned`, recorded).
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn fail(&mut self, id: &str) -> Result<Committed, AuthorityError> {
        // The ledger keeps a cosigned reservation by its mark row: check the
        // row is the chain's before it decides.
        self.sync_and(|a| a.check_cosign_mark(id))?;
        self.decide(
            EventKind::Failed {
                asset: self.asset(),
                id: id.parse()?,
            },
            None,
        )
    }

    /// A ping of time: windows age, proposals follow.
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn tick(&mut self) -> Result<Committed, AuthorityError> {
        self.decide(
            EventKind::Tick {
                asset: self.asset(),
            },
            None,
        )
    }

    /// The cold index and address the next sweep must pay: handed out by the
    /// authority (one past the sweeps its chain records), never chosen by
    /// the caller.
    ///
    /// # Errors
    /// [`AuthorityError`].
    pub fn next_sweep_address(&mut self) -> Result<(u32, Address), AuthorityError> {
        self.sync()?;
        let index = u32::try_from(self.replay.sweeps().len()).unwrap_or(u32::MAX);
        let address = self
            .setup
            .cold_wallet()
            .address(Keychain::Receive, index)
            .map_err(|e| {
                AuthorityError::refused(
                    AuthorityRule::Cosign(CosignRule::SweepNotCold),
                    e.to_string(),
                )
            })?;
        Ok((index, address))
    }

    fn tx_rules(&self) -> TxRules {
        let seen = self.replay.max_change_index().unwrap_or(0);
        TxRules {
            now: self.now().unix(),
            chain_reference: self.setup.chain_reference(),
            max_change_index: seen.saturating_add(self.setup.change_gap()),
        }
    }

    /// Cosigns a sweep to the pinned cold wallet at the index
    /// [`Authority::next_sweep_address`] hands out (a retry of the same
    /// transaction is signed again at its recorded index), within the fee
    /// limit of a transaction of that many inputs (as a consolidation's)
    /// and the transaction rules; the sweep is recorded in the ledger and the
    /// audit log before the signature is given.
    ///
    /// # Errors
    /// `sweep-not-cold`, the transaction rules; [`AuthorityError`].
    pub fn cosign_sweep(&mut self, psbt: &mut Psbt) -> Result<SweepCosigned, AuthorityError> {
        self.sync()?;
        // A sweep of many small deposits may pay more than one payment's
        // fee: the limit scales with its inputs as a consolidation's.
        let n = psbt.unsigned_tx.input.len();
        let max_fee = self
            .setup
            .batch_limits()
            .fee_limit(self.setup.fee_limits().0, n);
        let analysis = self.cosigner.analyze_with_max_fee(psbt, max_fee);
        let txid = analysis.txid.to_string();
        let retry = self
            .replay
            .sweeps()
            .iter()
            .find(|s| s.txid == txid)
            .cloned();
        let index = match &retry {
            Some(s) => s.cold_index,
            None => u32::try_from(self.replay.sweeps().len()).unwrap_or(u32::MAX),
        };
        let cold_script = self
            .setup
            .cold_wallet()
            .script_pubkey(Keychain::Receive, index)
            .map_err(|e| {
                AuthorityError::refused(
                    AuthorityRule::Cosign(CosignRule::SweepNotCold),
                    e.to_string(),
                )
            })?;
        let payment = check_sweep(&analysis, &cold_script)?;
        check_transaction(psbt, &analysis, &self.tx_rules())?;
        let amount = analysis.outputs[payment.payment_output].amount;
        if retry.is_none() {
            let mut tx = tx_evidence(&analysis, payment.fee, Some(index));
            tx["inputs"] = json!(analysis
                .inputs
                .iter()
                .map(|i| i.outpoint.to_string())
                .collect::<Vec<_>>());
            let evidence = json!({ "tx": tx });
            self.decide(
                EventKind::Sweep {
                    asset: self.asset(),
                    amount: Units::from_units(amount.to_sat()),
                },
                Some(evidence),
            )?;
        }
        let signatures = self
            .cosigner
            .sign_checked(psbt)
            .map_err(AuthorityError::Sign)?;
        Ok(SweepCosigned {
            txid: analysis.txid,
            payment,
            amount,
            signatures,
        })
    }

    /// Cosigns a withdrawal PSBT: the reservation must be the chain's (of the
    /// set-up's asset, reserved by a decision record the engine makes again),
    /// the PSBT must pay exactly its destination and amount and nothing else
    /// but verified change, within the fee and transaction rules. The
    /// decision is committed (and the reservation marked) before the
    /// signature is given; a refusal of a known reservation is recorded.
    /// [`Authority::cosign_payout`] of one reservation.
    ///
    /// # Errors
    /// The cosign rules; [`AuthorityError`].
    pub fn cosign_withdrawal(
        &mut self,
        id: &str,
        psbt: &mut Psbt,
    ) -> Result<Cosigned, AuthorityError> {
        let p = self.cosign_payout(&[id.to_owned()], psbt)?;
        Ok(Cosigned {
            id: id.to_owned(),
            asset: p.asset,
            txid: p.txid,
            payment: crate::CheckedPayment {
                payment_output: p.payout.payment_outputs[0],
                change: p.payout.change,
                fee: p.payout.fee,
            },
            signatures: p.signatures,
            again: p.again,
            audit_seq: p.audit_seqs.1,
        })
    }

    /// Cosigns one transaction that pays the reservations `ids` (one, or a
    /// batch of at most the set-up's `max_batch_payouts`): every output but
    /// verified change pays exactly one of them (destination and amount
    /// exact), none twice, all of them reserved by the chain and of the
    /// set-up's asset, within the fee limit of a payout of that size and the
    /// transaction rules. All are marked in one ledger transaction (one audit
    /// record each) before the signature is given, or none are.
    ///
    /// A reservation already cosigned is paid again only by a fee bump
    /// (BIP125) of its payout family: the same reservations exactly, a
    /// transaction that spends an input of every transaction of the family
    /// (so at most one of them can confirm) and a fee above each of theirs.
    /// A retry of a transaction already cosigned is signed again.
    ///
    /// # Errors
    /// The cosign rules (`reservation-spent`, `reservation-paid-twice`,
    /// `batch-too-large`, `replacement-not-conflicting`,
    /// `replacement-fee-not-higher`, …); [`AuthorityError`].
    pub fn cosign_payout(
        &mut self,
        ids: &[String],
        psbt: &mut Psbt,
    ) -> Result<PayoutCosigned, AuthorityError> {
        let asset = self.asset();
        let limits = self.setup.batch_limits();
        if ids.is_empty() {
            return Err(Refusal::new(
                CosignRule::UnknownWithdrawal,
                "a payout names no withdrawal",
            )
            .into());
        }
        if ids.len() > limits.max_payouts {
            return Err(Refusal::new(
                CosignRule::BatchTooLarge,
                format!(
                    "{} reservations in one payout; the set-up allows {}",
                    ids.len(),
                    limits.max_payouts
                ),
            )
            .into());
        }
        let mut seen = HashSet::with_capacity(ids.len());
        if let Some(twice) = ids.iter().find(|i| !seen.insert(i.as_str())) {
            return Err(Refusal::new(
                CosignRule::ReservationPaidTwice,
                format!("the payout names withdrawal {twice:?} twice"),
            )
            .into());
        }
        for id in ids {
            match self.ledger.withdrawal(id).map_err(AuthorityError::ledger)? {
                None => {
                    return Err(Refusal::new(
                        CosignRule::UnknownWithdrawal,
                        format!("the ledger has no withdrawal {id:?}"),
                    )
                    .into())
                }
                Some((a, _)) if a != asset.as_str() => {
                    return Err(Refusal::new(
                        CosignRule::WrongAsset,
                        format!(
                            "withdrawal {id:?} is of asset {a:?}; this cosigner guards {asset:?}"
                        ),
                    )
                    .into())
                }
                Some(_) => {}
            }
        }
        let max_fee = limits.fee_limit(self.setup.fee_limits().0, ids.len());
        let analysis = self.cosigner.analyze_with_max_fee(psbt, max_fee);
        let txid = analysis.txid;
        let inputs: Vec<String> = analysis
            .inputs
            .iter()
            .map(|i| i.outpoint.to_string())
            .collect();
        let network = self.setup.network();
        let mut tries = 0;
        let (record, checked, refused) = loop {
            // A mark row that is not the chain's refuses before anything is
            // written.
            self.sync_and(|a| ids.iter().try_for_each(|id| a.check_cosign_mark(id)))?;
            let mut chain_ws = Vec::with_capacity(ids.len());
            let mut chain_families = Vec::with_capacity(ids.len());
            for id in ids {
                let Some(w) = self.replay.state().withdrawal(id).cloned() else {
                    return Err(
                        Mismatch(format!("withdrawal {id:?} has no decision record")).into(),
                    );
                };
                chain_ws.push(w);
                chain_families.push(self.replay.family(id).to_vec());
            }
            let mut bump = self.bump_check(ids, &chain_families, &analysis, &inputs);
            // A retry (the family holds it) pays nothing new.
            let retry = chain_families
                .first()
                .is_some_and(|f| f.contains(&txid.to_string()));
            if let (Ok(of), false, Some(fee)) = (&bump, retry, analysis.fee) {
                let root = of
                    .as_ref()
                    .and(chain_families[0].first().map(String::as_str));
                if let Err(r) = self.check_fee_budget(fee, root) {
                    bump = Err(r);
                }
            }
            let rules = self.tx_rules();
            let now = self.now();
            let tag = self.tagged(None);
            let mut checked = None;
            let mut refused: Option<Refusal> = None;
            self.expect_head();
            let res = self.ledger.cosign_payout(ids, Some(now), |_asset, ws, families| {
                let res = if ws != chain_ws.as_slice() {
                    Err(Refusal::new(
                        CosignRule::StateMismatch,
                        "a withdrawal row differs from its audit records",
                    ))
                } else if families != chain_families.as_slice() {
                    Err(Refusal::new(
                        CosignRule::StateMismatch,
                        "a cosign mark row differs from the audit records",
                    ))
                } else {
                    ws.iter()
                        .map(|w| {
                            destination_script(&w.destination, network)
                                .map(|s| (s, bitcoin::Amount::from_sat(w.amount.units())))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .and_then(|payouts| check_payout(&analysis, &payouts))
                        .and_then(|p| check_transaction(psbt, &analysis, &rules).map(|()| p))
                        .and_then(|p| bump.clone().map(|of| (p, of)))
                };
                match res {
                    Ok((p, of)) => {
                        let mut first = json!({
                            "tx": tx_evidence(&analysis, p.fee, None),
                        });
                        first["tx"]["inputs"] = json!(inputs);
                        if ids.len() > 1 {
                            first["tx"]["payouts"] = json!(ids.len());
                        }
                        if let Some(t) = &tag {
                            first["request"] = t["request"].clone();
                        }
                        let rest = json!({ "tx": { "txid": txid.to_string(), "fee_sat": p.fee.to_sat() } });
                        let mut evidence = vec![Some(first)];
                        evidence.extend((1..ids.len()).map(|_| Some(rest.clone())));
                        checked = Some(p);
                        let txid = txid.to_string();
                        let verdict = match of {
                            Some(of) => CosignVerdict::Replace { txid, of },
                            None => CosignVerdict::Sign { txid },
                        };
                        (verdict, evidence)
                    }
                    Err(r) => {
                        let v = CosignVerdict::Refuse {
                            rule: r.rule.as_str().to_owned(),
                            detail: r.detail.clone(),
                        };
                        refused = Some(r);
                        (v, Vec::new())
                    }
                }
            });
            match res {
                Err(kinko_ledger::CosignError::HeadMoved { .. }) if tries < MOVED_TRIES => {
                    self.moved_again(&mut tries)
                }
                Err(kinko_ledger::CosignError::ClockWentBackwards { last, at }) => {
                    return Err(clock_went_backwards(last, at))
                }
                Err(e) => return Err(AuthorityError::ledger(e)),
                Ok(record) => break (record, checked, refused),
            }
        };
        self.catch_up()?;
        let (again, replaces) = match record.result {
            CosignResult::Signed {
                again, replaces, ..
            } => (again, replaces),
            CosignResult::Refused { rule, detail } => {
                // The check's own refusal, or one of the ledger's.
                let r = match (refused, rule) {
                    (Some(r), _) => r,
                    (None, RefusalRule::Ledger(CosignRefusal::ReservationSpent)) => {
                        Refusal::new(CosignRule::ReservationSpent, detail)
                    }
                    (None, RefusalRule::Ledger(CosignRefusal::NotReserved)) => {
                        Refusal::new(CosignRule::NotReserved, detail)
                    }
                    (None, other) => {
                        return Err(AuthorityError::Ledger(format!(
                            "the ledger refused by an unknown rule {:?}",
                            other.as_str()
                        )))
                    }
                };
                return Err(r.into());
            }
            _ => {
                return Err(Refusal::new(
                    CosignRule::NotReserved,
                    "the ledger's answer is not understood",
                )
                .into())
            }
        };
        let Some(payout) = checked else {
            return Err(Refusal::new(CosignRule::NotReserved, "the check did not run").into());
        };
        let signatures = self
            .cosigner
            .sign_checked(psbt)
            .map_err(AuthorityError::Sign)?;
        Ok(PayoutCosigned {
            asset: record.asset,
            txid,
            ids: ids.to_vec(),
            payout,
            replaces,
            signatures,
            again,
            audit_seqs: (*record.audit_seqs.start(), *record.audit_seqs.end()),
        })
    }

    /// Refuses `fee` when it would take the fees of what this cosigner
    /// signed in the last 24 hours above the set-up's `max_fees_24h_sat`
    /// (`bump`: the first txid of the payout family it bumps).
    fn check_fee_budget(&self, fee: Amount, bump: Option<&str>) -> Result<(), Refusal> {
        let limit = self.setup.batch_limits().max_fees_24h.to_sat();
        let since = Timestamp::from_unix(self.now().unix().saturating_sub(24 * 60 * 60));
        let fee = fee.to_sat();
        let total = match bump {
            Some(root) => crate::replay::fees_since(&self.replay, since, Some((root, fee))),
            None => crate::replay::fees_since(&self.replay, since, None).saturating_add(fee),
        };
        if total > limit {
            return Err(Refusal::new(
                CosignRule::FeeBudgetExceeded,
                format!(
                    "fees of {total} sat in 24 hours with this transaction; the set-up allows {limit}"
                ),
            ));
        }
        Ok(())
    }

    /// Whether a payout of `ids` is new (`Ok(None)`), a retry or fee bump of
    /// their one payout family (`Ok(Some(the family's last txid))`, a retry
    /// when the family holds the transaction already), or refused.
    fn bump_check(
        &self,
        ids: &[String],
        families: &[Vec<String>],
        analysis: &PsbtAnalysis,
        inputs: &[String],
    ) -> Result<Option<String>, Refusal> {
        let txid = analysis.txid.to_string();
        if families.iter().all(Vec::is_empty) {
            return Ok(None);
        }
        let family = &families[0];
        let spent = |detail: String| Refusal::new(CosignRule::ReservationSpent, detail);
        if families.iter().any(|f| f != family) || family.is_empty() {
            return Err(spent(
                "a reservation of the payout is already in another cosigned payout".into(),
            ));
        }
        let last = family.last().cloned().unwrap_or_default();
        if family.contains(&txid) {
            return Ok(Some(last));
        }
        // A replacement pays exactly the family's reservations.
        let first = family[0].as_str();
        let paid: HashSet<&str> = self
            .replay
            .tx(first)
            .map(|t| t.withdrawals.iter().map(WithdrawalId::as_str).collect())
            .unwrap_or_default();
        let asked: HashSet<&str> = ids.iter().map(String::as_str).collect();
        if paid != asked {
            return Err(spent(format!(
                "the reservations were cosigned in {first} with {} others; a fee bump pays exactly them",
                paid.len().saturating_sub(1)
            )));
        }
        let fee = analysis.fee.map_or(0, |f| f.to_sat());
        for t in family {
            let Some(member) = self.replay.tx(t) else {
                return Err(spent(format!("{t} is not in the chain's records")));
            };
            if !member.inputs.iter().any(|i| inputs.contains(i)) {
                return Err(Refusal::new(
                    CosignRule::ReplacementNotConflicting,
                    format!(
                        "the transaction spends none of the inputs of {t}, so both could confirm"
                    ),
                ));
            }
            if fee <= member.fee.units() {
                return Err(Refusal::new(
                    CosignRule::ReplacementFeeNotHigher,
                    format!("fee {fee} sat is not above the {} sat of {t}", member.fee),
                ));
            }
        }
        Ok(Some(last))
    }

    /// Cosigns a consolidation of the hot wallet's coins, or a child that
    /// pays for a stuck parent from its change: every output is verified
    /// change, within the fee limit of a transaction of that many inputs
    /// (the payout scaling of the set-up's `[fees]`) and the transaction
    /// rules. Recorded (a `tick` with the transaction as evidence) before
    /// the signature is given; its fee leaves the books when it confirms
    /// ([`Authority::confirm_tx`]).
    ///
    /// # Errors
    /// `not-consolidation`, the analysis' and transaction rules;
    /// [`AuthorityError`].
    pub fn cosign_consolidation(
        &mut self,
        psbt: &mut Psbt,
    ) -> Result<ConsolidationCosigned, AuthorityError> {
        self.sync()?;
        let limits = self.setup.batch_limits();
        let n = psbt.unsigned_tx.input.len();
        let max_fee = limits.fee_limit(self.setup.fee_limits().0, n);
        let analysis = self.cosigner.analyze_with_max_fee(psbt, max_fee);
        let fee = check_consolidation(&analysis)?;
        check_transaction(psbt, &analysis, &self.tx_rules())?;
        let txid = analysis.txid;
        if self.replay.tx(&txid.to_string()).is_none() {
            let mut tx = tx_evidence(&analysis, fee, None);
            tx["consolidation"] = json!(true);
            tx["inputs"] = json!(analysis
                .inputs
                .iter()
                .map(|i| i.outpoint.to_string())
                .collect::<Vec<_>>());
            self.decide(
                EventKind::Tick {
                    asset: self.asset(),
                },
                Some(json!({ "tx": tx })),
            )?;
        }
        let signatures = self
            .cosigner
            .sign_checked(psbt)
            .map_err(AuthorityError::Sign)?;
        Ok(ConsolidationCosigned {
            txid,
            fee,
            signatures,
        })
    }

    /// The backend reports a transaction the cosigner signed confirmed on
    /// chain: one `tx_confirmed` event settles every reservation it pays and
    /// books its fee, as the cosigner's own records of that transaction say
    /// (the caller names only the txid). A payout family settles once: the
    /// other transactions of the family are recorded as replaced (evidence
    /// `replaced`).
    ///
    /// # Errors
    /// `unknown-transaction`, `already-confirmed`; [`AuthorityError`].
    pub fn confirm_tx(&mut self, txid: &str) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let Some(rec) = self.replay.tx(txid).cloned() else {
            return Err(AuthorityError::refused(
                AuthorityRule::UnknownTransaction,
                format!(
                    "the cosigner signed no transaction {}",
                    txid.chars().take(64).collect::<String>()
                ),
            ));
        };
        let family: Vec<String> = rec
            .withdrawals
            .first()
            .map(|id| self.replay.family(id).to_vec())
            .unwrap_or_else(|| vec![txid.to_owned()]);
        let done = family
            .iter()
            .find(|t| self.replay.tx(t).is_some_and(|r| r.confirmed));
        if let Some(done) = done {
            return Err(AuthorityError::refused(
                AuthorityRule::AlreadyConfirmed,
                format!("{done} of this payout family is already recorded as confirmed"),
            ));
        }
        let replaced: Vec<&String> = family.iter().filter(|t| *t != txid).collect();
        let evidence = (!replaced.is_empty()).then(|| json!({ "replaced": replaced }));
        self.decide(
            EventKind::TxConfirmed {
                asset: self.asset(),
                tx: txid.to_owned(),
                withdrawals: rec.withdrawals,
                fee: rec.fee,
            },
            evidence,
        )
    }

    /// Releases a cosigned reservation whose transactions can no longer
    /// confirm: `conflict` must be a transaction the cosigner signed, recorded
    /// as confirmed, outside the reservation's payout family, that spends an
    /// input of every transaction of the family.
    ///
    /// # Errors
    /// `conflict-not-proven`; [`AuthorityError`].
    pub fn fail_with_conflict(
        &mut self,
        id: &str,
        conflict: &str,
    ) -> Result<Committed, AuthorityError> {
        self.sync()?;
        let family = self.replay.family(id).to_vec();
        if family.is_empty() {
            return self.fail(id);
        }
        if !crate::replay::conflicts_with_family(self.replay.txs(), &family, conflict) {
            return Err(AuthorityError::refused(
                AuthorityRule::ConflictNotProven,
                format!(
                    "{} is not a confirmed transaction of this cosigner spending an input of each of {}",
                    conflict.chars().take(64).collect::<String>(),
                    family.join(", ")
                ),
            ));
        }
        self.decide(
            EventKind::Failed {
                asset: self.asset(),
                id: id.parse()?,
            },
            Some(json!({ "conflict": conflict })),
        )
    }

    /// Whether a decision approved, for callers that only need that.
    pub fn approved(c: &Committed) -> bool {
        matches!(c.outcome.decision, Decision::Approved { .. })
    }
}

fn clock_went_backwards(last: Timestamp, at: Timestamp) -> AuthorityError {
    AuthorityError::refused(
        AuthorityRule::ClockWentBackwards,
        format!("the cosigner's clock {at} is before the asset's last event at {last}"),
    )
}

fn tx_evidence(a: &PsbtAnalysis, fee: Amount, cold_index: Option<u32>) -> Value {
    let change_index = a.outputs.iter().find_map(|o| match o.kind {
        OutputKind::Change { index, .. } => Some(index),
        _ => None,
    });
    let mut v = json!({
        "txid": a.txid.to_string(),
        "fee_sat": fee.to_sat(),
    });
    if let Some(c) = change_index {
        v["change_index"] = json!(c);
    }
    if let Some(i) = cold_index {
        v["cold_index"] = json!(i);
    }
    v
}
