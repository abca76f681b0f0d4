//! The cosigner's state, derived from its audit chain.
//!
//! The ledger's rows are where the engine's state is kept, but a database
//! writer can edit them. The chain cannot be edited unnoticed (its head is
//! signed by the cosigner's audit key), and every record carries the event
//! it decided, so the state the chain leads to can be computed again: the
//! [`Replay`] feeds every record to the engine, under the set-up's policy, and
//! checks that the engine decides **exactly** what the record says (the
//! decision, the changes, the proposals, the policy's hash). A record decided
//! on edited rows (a reset window, a cleared freeze, an inserted allowlist
//! entry) decides otherwise here and is refused, naming the record; a row
//! edited but not yet used is found by [`Replay::compare`], naming the row.

use std::collections::{BTreeMap, HashMap};

use kinko_auth::UnixTime;
use kinko_ledger::audit::{record_hash, AuditRecord, GENESIS};
use kinko_ledger::Policy;
use kinko_policy::{
    decide_asset, Amount, AssetPolicy, AssetState, Change, Decision, Event, EventKind, Proposal,
    Timestamp, WithdrawalId, WithdrawalStatus,
};
use serde::Deserialize;

/// A difference between the chain and what the cosigner is asked to trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

fn mismatch(s: impl Into<String>) -> Mismatch {
    Mismatch(s.into())
}

/// The audit payload of a decided event (as `kinko-ledger` writes it).
#[derive(Deserialize)]
struct DecisionPayload {
    event: Event,
    decision: Decision,
    changes: Vec<Change>,
    proposals: Vec<Proposal>,
    policy: Option<String>,
    #[serde(default)]
    evidence: Option<serde_json::Value>,
}

/// The audit payload of a cosign decision.
#[derive(Deserialize)]
struct CosignPayload {
    id: String,
    result: String,
    #[serde(default)]
    txid: Option<String>,
    #[serde(default)]
    again: bool,
    #[serde(default)]
    replaces: Option<String>,
    #[serde(default)]
    evidence: Option<serde_json::Value>,
}

/// What a cosigned transaction left in the chain's evidence.
#[derive(Debug, Clone, Default, Deserialize)]
struct TxEvidence {
    #[serde(default)]
    txid: Option<String>,
    #[serde(default)]
    fee_sat: Option<u64>,
    #[serde(default)]
    change_index: Option<u32>,
    #[serde(default)]
    cold_index: Option<u32>,
    #[serde(default)]
    inputs: Option<Vec<String>>,
    #[serde(default)]
    consolidation: bool,
}

/// What a transaction the cosigner signed is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxPurpose {
    /// It pays reservations (one, or a batch).
    Payout,
    /// It sweeps to the cold wallet.
    Sweep,
    /// It pays only the hot wallet's own change (a consolidation, or a
    /// child paying for a stuck parent).
    Consolidation,
}

/// A transaction the cosigner signed, as its chain records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    /// What it is for.
    pub purpose: TxPurpose,
    /// The reservations it pays, in the order recorded.
    pub withdrawals: Vec<WithdrawalId>,
    /// The fee it pays (base units).
    pub fee: Amount,
    /// The outpoints it spends (`txid:vout`).
    pub inputs: Vec<String>,
    /// The transaction of its payout family it replaced, if any.
    pub replaces: Option<String>,
    /// Recorded as confirmed (`tx_confirmed`).
    pub confirmed: bool,
    /// The audit record of its first signature.
    pub audit_seq: u64,
    /// When it was signed first (the cosigner's clock).
    pub at: Timestamp,
}

/// A sweep the cosigner cosigned, as the chain records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepRecord {
    /// Its txid.
    pub txid: String,
    /// The cold wallet's receive index it paid.
    pub cold_index: u32,
    /// The audit record.
    pub audit_seq: u64,
}

/// The first record a client's request wrote (its evidence names the
/// request: `{"request": {"id": …, "sha256": …}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMark {
    /// The SHA-256 (hex) of the request as the service read it.
    pub sha256: String,
    /// The audit record.
    pub audit_seq: u64,
}

/// A policy change the chain records.
#[derive(Debug, Clone)]
pub struct PolicyChange {
    /// Its sequence number (1 for the first change after the set-up).
    pub sequence: u64,
    /// When it takes effect (the cosigner's clock when it was taken, plus
    /// the set-up's delay if it loosens anything).
    pub active_at: Timestamp,
    /// Whether it loosens anything.
    pub loosening: bool,
    /// Cancelled before it took effect.
    pub cancelled: bool,
    /// The policy.
    pub policy: Policy,
    /// The audit record that took it.
    pub audit_seq: u64,
}

/// The state of one asset computed from its audit chain.
#[derive(Debug, Clone)]
pub struct Replay {
    asset: String,
    base: Policy,
    changes: Vec<PolicyChange>,
    policy: AssetPolicy,
    policy_sha256: Option<String>,
    state: AssetState,
    seq: u64,
    hash: String,
    cosigned: HashMap<String, Vec<String>>,
    txs: HashMap<String, TxRecord>,
    sweeps: Vec<SweepRecord>,
    max_change: Option<u32>,
    signed_actions: BTreeMap<String, u64>,
    custody_as_of: Option<UnixTime>,
    requests: HashMap<String, RequestMark>,
    /// The first record that did not replay: from then on the state is not
    /// the chain's (a refused record may have been applied in part), so
    /// every feed and compare is refused with it until the chain is replayed
    /// again from the start.
    broken: Option<Mismatch>,
}

impl Replay {
    /// An empty chain of `asset` under the set-up's `policy` (whose text's
    /// hash every decision records).
    ///
    /// # Errors
    /// [`Mismatch`] when the policy has no policy for `asset`.
    pub fn new(asset: &str, policy: Policy) -> Result<Self, Mismatch> {
        let asset_policy = policy
            .config()
            .asset(asset)
            .cloned()
            .ok_or_else(|| mismatch(format!("the policy has no policy for {asset:?}")))?;
        Ok(Replay {
            asset: asset.to_owned(),
            policy_sha256: policy.sha256().map(str::to_owned),
            base: policy,
            changes: Vec::new(),
            policy: asset_policy,
            state: AssetState::default(),
            seq: 0,
            hash: GENESIS.to_owned(),
            cosigned: HashMap::new(),
            txs: HashMap::new(),
            sweeps: Vec::new(),
            max_change: None,
            signed_actions: BTreeMap::new(),
            custody_as_of: None,
            requests: HashMap::new(),
            broken: None,
        })
    }

    /// The policy in force at `at`: the last change taken and not cancelled
    /// whose time has come, else the set-up's.
    pub fn policy_at(&self, at: Timestamp) -> &Policy {
        self.changes
            .iter()
            .rev()
            .find(|c| !c.cancelled && c.active_at <= at)
            .map_or(&self.base, |c| &c.policy)
    }

    /// The policy changes the chain records, in order.
    pub fn policy_changes(&self) -> &[PolicyChange] {
        &self.changes
    }

    /// A change taken but not in force at `at` and not cancelled.
    pub fn pending_change(&self, at: Timestamp) -> Option<&PolicyChange> {
        self.changes
            .iter()
            .find(|c| !c.cancelled && c.active_at > at)
    }

    /// The sequence number the next policy change must carry.
    pub fn next_policy_sequence(&self) -> u64 {
        self.changes.len() as u64 + 1
    }

    fn use_policy_at(&mut self, at: Timestamp) -> Result<(), Mismatch> {
        let p = self.policy_at(at);
        let sha = p.sha256().map(str::to_owned);
        if sha != self.policy_sha256 {
            let ap = p
                .config()
                .asset(&self.asset)
                .cloned()
                .ok_or_else(|| mismatch("a policy change has no policy for the asset"))?;
            self.policy = ap;
            self.policy_sha256 = sha;
        }
        Ok(())
    }

    /// The state the chain leads to.
    pub fn state(&self) -> &AssetState {
        &self.state
    }

    /// Records fed so far, and the last one's hash.
    pub fn head(&self) -> (u64, &str) {
        (self.seq, &self.hash)
    }

    /// The txid a reservation was first cosigned for, per the chain.
    pub fn cosigned(&self, id: &str) -> Option<&str> {
        self.family(id).first().map(String::as_str)
    }

    /// Every transaction a reservation was cosigned for (its payout family:
    /// the first, then its replacements), per the chain.
    pub fn family(&self, id: &str) -> &[String] {
        self.cosigned.get(id).map_or(&[], Vec::as_slice)
    }

    /// A transaction the cosigner signed, per the chain.
    pub fn tx(&self, txid: &str) -> Option<&TxRecord> {
        self.txs.get(txid)
    }

    /// Every transaction the cosigner signed, by txid.
    pub fn txs(&self) -> &HashMap<String, TxRecord> {
        &self.txs
    }

    /// The sweeps cosigned, in order.
    pub fn sweeps(&self) -> &[SweepRecord] {
        &self.sweeps
    }

    /// The highest change index of a transaction the cosigner signed.
    pub fn max_change_index(&self) -> Option<u32> {
        self.max_change
    }

    /// When the custody of the last custody statement taken was counted.
    pub fn custody_as_of(&self) -> Option<UnixTime> {
        self.custody_as_of
    }

    /// Whether this signed action (by its signature's hex) was already used,
    /// and in which record.
    pub fn action_used(&self, signature_hex: &str) -> Option<u64> {
        self.signed_actions.get(signature_hex).copied()
    }

    /// Feeds the next record of the chain.
    ///
    /// # Errors
    /// [`Mismatch`] naming the record: out of order, a broken link or hash,
    /// a payload that does not parse, another policy, or a decision the
    /// engine does not make again on the chain's own state. After one
    /// refusal every later feed is refused the same way: the state may hold
    /// part of the refused record.
    pub fn feed(&mut self, r: &AuditRecord) -> Result<(), Mismatch> {
        if let Some(m) = &self.broken {
            return Err(m.clone());
        }
        let res = self.feed_record(r);
        if let Err(m) = &res {
            self.broken = Some(m.clone());
        }
        res
    }

    fn feed_record(&mut self, r: &AuditRecord) -> Result<(), Mismatch> {
        let at_rec = format!("audit record {}#{}", self.asset, r.seq);
        if r.asset != self.asset {
            return Err(mismatch(format!("{at_rec} belongs to asset {:?}", r.asset)));
        }
        if r.seq != self.seq + 1 {
            return Err(mismatch(format!(
                "{at_rec} follows record {} (a record is missing or repeated)",
                self.seq
            )));
        }
        if r.prev_hash != self.hash {
            return Err(mismatch(format!(
                "{at_rec} does not link to the record before it"
            )));
        }
        if record_hash(&r.prev_hash, &r.asset, r.seq, r.at, &r.kind, &r.payload) != r.hash {
            return Err(mismatch(format!("{at_rec} was edited (hash mismatch)")));
        }
        match r.kind.as_str() {
            "cosign" => self.feed_cosign(r, &at_rec)?,
            "refused" => {
                // A refused failure report: only the clock moves.
                self.touch_clock(r.at, &at_rec)?;
            }
            _ => self.feed_decision(r, &at_rec)?,
        }
        self.note_request(r);
        self.seq = r.seq;
        self.hash = r.hash.clone();
        Ok(())
    }

    /// Indexes the request a record answered (the first record of an id
    /// counts: a retry is answered from it).
    fn note_request(&mut self, r: &AuditRecord) {
        if !r.payload.contains("\"request\"") {
            return;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.payload) else {
            return;
        };
        let Some(req) = v.pointer("/evidence/request") else {
            return;
        };
        if let (Some(id), Some(sha)) = (
            req.get("id").and_then(|v| v.as_str()),
            req.get("sha256").and_then(|v| v.as_str()),
        ) {
            self.requests
                .entry(id.to_owned())
                .or_insert_with(|| RequestMark {
                    sha256: sha.to_owned(),
                    audit_seq: r.seq,
                });
        }
    }

    /// The first record written for the client's request `id`, if any.
    pub fn request(&self, id: &str) -> Option<&RequestMark> {
        self.requests.get(id)
    }

    fn touch_clock(&mut self, at: Timestamp, at_rec: &str) -> Result<(), Mismatch> {
        if let Some(last) = self.state.last_at() {
            if at < last {
                return Err(mismatch(format!(
                    "{at_rec} at {at} is older than the record before it"
                )));
            }
        }
        self.move_clock(at);
        Ok(())
    }

    /// Moves the asset's clock, as the ledger does for a record that is not
    /// an engine decision (a clock change never fails).
    fn move_clock(&mut self, at: Timestamp) {
        let _ = self.state.apply(&Change::Clock { at });
    }

    fn feed_cosign(&mut self, r: &AuditRecord, at_rec: &str) -> Result<(), Mismatch> {
        let p: CosignPayload = serde_json::from_str(&r.payload)
            .map_err(|_| mismatch(format!("{at_rec}: cosign payload does not parse")))?;
        // The ledger's cosign step moves the clock to max(last, at).
        let last = self.state.last_at();
        self.move_clock(last.map_or(r.at, |l| l.max(r.at)));
        if p.result != "signed" || p.again {
            return Ok(());
        }
        let w = self.state.withdrawal(&p.id);
        if !w.is_some_and(|w| w.status == WithdrawalStatus::Reserved) {
            return Err(mismatch(format!(
                "{at_rec} cosigned {:?}, which the chain never reserved",
                p.id
            )));
        }
        let txid = p.txid.unwrap_or_default();
        let family = self.cosigned.entry(p.id.clone()).or_default();
        match (&p.replaces, family.last()) {
            (None, None) => {}
            (Some(of), Some(_)) if family.contains(of) && !family.contains(&txid) => {}
            (_, Some(t)) if *t == txid => return Ok(()),
            (None, Some(t)) => {
                return Err(mismatch(format!(
                    "{at_rec} cosigned {:?} twice, for {t} and {txid}",
                    p.id
                )))
            }
            (Some(of), _) => {
                return Err(mismatch(format!(
                    "{at_rec} replaces {of} for {:?}, which is not in its family",
                    p.id
                )))
            }
        }
        family.push(txid.clone());
        let ev: TxEvidence = p
            .evidence
            .as_ref()
            .and_then(|e| e.get("tx"))
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        let rec = self.txs.entry(txid).or_insert_with(|| TxRecord {
            purpose: TxPurpose::Payout,
            withdrawals: Vec::new(),
            fee: Amount::from_units(ev.fee_sat.unwrap_or(0)),
            inputs: Vec::new(),
            replaces: p.replaces.clone(),
            confirmed: false,
            audit_seq: r.seq,
            at: r.at,
        });
        let id = WithdrawalId::new(&p.id)
            .map_err(|_| mismatch(format!("{at_rec}: cosign payload names a bad id")))?;
        rec.withdrawals.push(id);
        if let Some(inputs) = ev.inputs {
            rec.inputs = inputs;
        }
        if let Some(ev) = p.evidence {
            self.note_evidence(&ev, r.seq, r.at, false);
        }
        Ok(())
    }

    /// Checks a `tx_confirmed` against the transaction the chain recorded:
    /// the same reservations and fee, no member of its family confirmed.
    fn check_confirmed(&self, ev: &Event, at_rec: &str) -> Result<(), Mismatch> {
        let EventKind::TxConfirmed {
            tx,
            withdrawals,
            fee,
            ..
        } = &ev.kind
        else {
            return Ok(());
        };
        let Some(rec) = self.txs.get(tx) else {
            return Err(mismatch(format!(
                "{at_rec} confirms {tx}, which the cosigner never signed"
            )));
        };
        let family = rec
            .withdrawals
            .first()
            .map_or(std::slice::from_ref(tx), |id| self.family(id));
        if rec.confirmed
            || family
                .iter()
                .any(|t| self.txs.get(t).is_some_and(|r| r.confirmed))
        {
            return Err(mismatch(format!(
                "{at_rec} confirms {tx}, whose payout is already confirmed"
            )));
        }
        if rec.withdrawals != *withdrawals || rec.fee != *fee {
            return Err(mismatch(format!(
                "{at_rec} confirms {tx} with other payments or another fee than it was signed with"
            )));
        }
        Ok(())
    }

    /// Checks a release of a cosigned reservation: its evidence must name a
    /// confirmed transaction, outside the reservation's family, that spends
    /// an input of every transaction of the family.
    fn check_release(&self, id: &str, ev: Option<&serde_json::Value>) -> Result<(), String> {
        let family = self.family(id);
        let Some(first) = family.first() else {
            return Ok(());
        };
        let conflict = ev
            .and_then(|e| e.get("conflict"))
            .and_then(|c| c.as_str())
            .ok_or_else(|| format!("it was cosigned for {first}"))?;
        if conflicts_with_family(&self.txs, family, conflict) {
            Ok(())
        } else {
            Err(format!(
                "its evidence {conflict} is not a confirmed transaction spending an input of each of {}",
                family.join(", ")
            ))
        }
    }

    fn feed_decision(&mut self, r: &AuditRecord, at_rec: &str) -> Result<(), Mismatch> {
        let p: DecisionPayload = serde_json::from_str(&r.payload)
            .map_err(|_| mismatch(format!("{at_rec}: payload does not parse")))?;
        if p.event.at != r.at || p.event.kind.type_name() != r.kind {
            return Err(mismatch(format!(
                "{at_rec}: the record's time or kind is not its event's"
            )));
        }
        self.use_policy_at(r.at)?;
        if p.policy != self.policy_sha256 {
            return Err(mismatch(format!(
                "{at_rec} was decided under policy {}, not the set-up's {}",
                p.policy.as_deref().unwrap_or("(none)"),
                self.policy_sha256.as_deref().unwrap_or("(none)")
            )));
        }
        // A cosigned transaction may still be broadcast: only its
        // confirmation releases the reservation, or the confirmation of one
        // that conflicts with every transaction of its family.
        if let EventKind::Failed { id, .. } = &p.event.kind {
            let reserved = self
                .state
                .withdrawal(id)
                .is_some_and(|w| w.status == WithdrawalStatus::Reserved);
            if reserved {
                self.check_release(id, p.evidence.as_ref()).map_err(|why| {
                    mismatch(format!("{at_rec} releases withdrawal {id:?}: {why}"))
                })?;
            }
        }
        self.check_confirmed(&p.event, at_rec)?;
        let out = decide_asset(&self.policy, &mut self.state, &p.event).map_err(|e| {
            mismatch(format!(
                "{at_rec}: the engine refuses its event on the chain's state ({e})"
            ))
        })?;
        if out.decision != p.decision {
            return Err(mismatch(format!(
                "{at_rec} says {}, the chain's state decides {}",
                describe(&p.decision),
                describe(&out.decision)
            )));
        }
        if out.changes != p.changes || out.proposals != p.proposals {
            return Err(mismatch(format!(
                "{at_rec}: its changes are not the ones the chain's state makes"
            )));
        }
        if let EventKind::TxConfirmed { tx, .. } = &p.event.kind {
            if let Some(rec) = self.txs.get_mut(tx) {
                rec.confirmed = true;
            }
        }
        if let Some(ev) = p.evidence {
            self.note_evidence(&ev, r.seq, r.at, true);
            self.note_policy(&ev, r, at_rec)?;
        }
        Ok(())
    }

    /// A policy change or cancellation the cosigner took (recorded as the
    /// evidence of a tick).
    fn note_policy(
        &mut self,
        ev: &serde_json::Value,
        r: &AuditRecord,
        at_rec: &str,
    ) -> Result<(), Mismatch> {
        if let Some(c) = ev.get("policy_change") {
            let bad = || mismatch(format!("{at_rec}: its policy change does not read"));
            let sequence = c.get("sequence").and_then(|v| v.as_u64()).ok_or_else(bad)?;
            let text = c.get("text").and_then(|v| v.as_str()).ok_or_else(bad)?;
            let active = c
                .get("active_at")
                .and_then(|v| v.as_i64())
                .ok_or_else(bad)?;
            let loosening = c
                .get("loosening")
                .and_then(|v| v.as_bool())
                .ok_or_else(bad)?;
            if sequence != self.next_policy_sequence() {
                return Err(mismatch(format!(
                    "{at_rec} takes policy change #{sequence}, the next is #{}",
                    self.next_policy_sequence()
                )));
            }
            let policy = Policy::from_toml_str(text).map_err(|_| bad())?;
            if policy.config().asset(&self.asset).is_none() {
                return Err(bad());
            }
            self.changes.push(PolicyChange {
                sequence,
                active_at: Timestamp::from_unix(active),
                loosening,
                cancelled: false,
                policy,
                audit_seq: r.seq,
            });
        }
        if let Some(c) = ev.get("policy_cancel") {
            let sequence = c.get("sequence").and_then(|v| v.as_u64());
            let at = r.at;
            let change = self
                .changes
                .iter_mut()
                .find(|ch| Some(ch.sequence) == sequence && !ch.cancelled && ch.active_at > at);
            match change {
                Some(ch) => ch.cancelled = true,
                None => {
                    return Err(mismatch(format!(
                        "{at_rec} cancels a policy change that is not pending"
                    )))
                }
            }
        }
        Ok(())
    }

    /// Evidence the cosigner recorded with a decision: the signed actions it
    /// used (so none is used twice) and what it cosigned.
    fn note_evidence(&mut self, ev: &serde_json::Value, seq: u64, at: Timestamp, decision: bool) {
        if let Some(sigs) = ev.get("signatures").and_then(|v| v.as_array()) {
            for s in sigs {
                if let Some(sig) = s.get("signature").and_then(|v| v.as_str()) {
                    self.signed_actions.insert(sig.to_owned(), seq);
                }
                let as_of = s.pointer("/action/as_of").and_then(|v| v.as_str());
                if let (true, Some(t)) = (
                    decision,
                    as_of.and_then(|t| UnixTime::parse_rfc3339(t).ok()),
                ) {
                    self.custody_as_of = Some(self.custody_as_of.map_or(t, |m| m.max(t)));
                }
            }
        }
        if let Some(tx) = ev.get("tx") {
            let tx: TxEvidence = serde_json::from_value(tx.clone()).unwrap_or_default();
            if let Some(c) = tx.change_index {
                self.max_change = Some(self.max_change.map_or(c, |m| m.max(c)));
            }
            let purpose = match (tx.cold_index, tx.consolidation) {
                (Some(_), _) => Some(TxPurpose::Sweep),
                (None, true) => Some(TxPurpose::Consolidation),
                (None, false) => None,
            };
            if let (true, Some(purpose), Some(txid)) = (decision, purpose, &tx.txid) {
                self.txs.entry(txid.clone()).or_insert_with(|| TxRecord {
                    purpose,
                    withdrawals: Vec::new(),
                    fee: Amount::from_units(tx.fee_sat.unwrap_or(0)),
                    inputs: tx.inputs.clone().unwrap_or_default(),
                    replaces: None,
                    confirmed: false,
                    audit_seq: seq,
                    at,
                });
            }
            if let (true, Some(i), Some(txid)) = (decision, tx.cold_index, tx.txid) {
                self.sweeps.push(SweepRecord {
                    txid,
                    cold_index: i,
                    audit_seq: seq,
                });
            }
        }
    }

    /// Compares a state read from the ledger's rows with the chain's, both
    /// pruned at the chain's last time (pruning never changes a decision;
    /// the ledger prunes only what a decision touched).
    ///
    /// # Errors
    /// [`Mismatch`] naming the first row that differs.
    pub fn compare(&self, rows: &AssetState) -> Result<(), Mismatch> {
        if let Some(m) = &self.broken {
            return Err(m.clone());
        }
        let mut mine = self.state.clone();
        let mut theirs = rows.clone();
        if let Some(at) = mine.last_at() {
            mine.prune(&self.policy, at);
            theirs.prune(&self.policy, at);
        }
        compare_states(&self.asset, &mine, &theirs)
    }

    /// Compares just the asset's own row (books, windows, breaker, freeze,
    /// clock) and one withdrawal: what a cosign reads.
    ///
    /// # Errors
    /// [`Mismatch`] naming the row.
    pub fn compare_core(&self, rows: &AssetState) -> Result<(), Mismatch> {
        if let Some(m) = &self.broken {
            return Err(m.clone());
        }
        compare_core(&self.asset, &self.state, rows)
    }
}

fn compare_core(a: &str, m: &AssetState, t: &AssetState) -> Result<(), Mismatch> {
    {
        if (m.hot(), m.cold(), m.reserved()) != (t.hot(), t.cold(), t.reserved()) {
            return Err(mismatch(format!(
                "the {a} books row says hot {} cold {} reserved {}, the chain says hot {} cold {} reserved {}",
                t.hot(), t.cold(), t.reserved(), m.hot(), m.cold(), m.reserved()
            )));
        }
        if m.freeze() != t.freeze() {
            return Err(mismatch(format!(
                "the {a} freeze row says {}, the chain says {}",
                freeze_word(t),
                freeze_word(m)
            )));
        }
        if m.vouched() != t.vouched() {
            return Err(mismatch(format!(
                "the {a} vouched custody row differs from the chain"
            )));
        }
        Ok(())
    }
}

/// The fees of the transactions the cosigner signed after `since`: a payout
/// family counts once, with the highest fee of its transactions (only one
/// of them can confirm); `bump` (a family's first txid and a new fee) is
/// counted as if that transaction were already in its family.
pub(crate) fn fees_since(replay: &Replay, since: Timestamp, bump: Option<(&str, u64)>) -> u64 {
    let mut by_family: HashMap<&str, u64> = HashMap::new();
    for (txid, t) in &replay.txs {
        if t.at <= since {
            continue;
        }
        let key = t
            .withdrawals
            .first()
            .and_then(|id| replay.family(id).first())
            .map_or(txid.as_str(), String::as_str);
        let e = by_family.entry(key).or_default();
        *e = (*e).max(t.fee.units());
    }
    if let Some((root, fee)) = bump {
        let e = by_family.entry(root).or_default();
        *e = (*e).max(fee);
    }
    by_family.values().fold(0u64, |a, f| a.saturating_add(*f))
}

/// Whether `conflict` is a confirmed transaction outside `family` that
/// spends an input of every transaction of it: then none of them can confirm.
pub(crate) fn conflicts_with_family(
    txs: &HashMap<String, TxRecord>,
    family: &[String],
    conflict: &str,
) -> bool {
    let Some(c) = txs.get(conflict) else {
        return false;
    };
    c.confirmed
        && !family.iter().any(|t| t == conflict)
        && family.iter().all(|t| {
            txs.get(t)
                .is_some_and(|m| m.inputs.iter().any(|i| c.inputs.contains(i)))
        })
}

fn freeze_word(s: &AssetState) -> String {
    match &s.freeze() {
        Some(f) => format!("frozen since {} ({})", f.at, f.reason),
        None => "not frozen".into(),
    }
}

fn describe(d: &Decision) -> String {
    match d {
        Decision::Approved { id } => format!("approved {id:?}"),
        Decision::Pending { id, .. } => format!("pending {id:?}"),
        Decision::Denied { id, rule } => format!("denied {id:?} ({})", rule.name()),
        Decision::Duplicate { id, .. } => format!("duplicate {id:?}"),
        _ => "recorded".into(),
    }
}

fn compare_states(a: &str, m: &AssetState, t: &AssetState) -> Result<(), Mismatch> {
    compare_core(a, m, t)?;
    if m.last_at() != t.last_at() {
        return Err(mismatch(format!(
            "the {a} clock row says {:?}, the chain says {:?}",
            t.last_at().map(|x| x.to_string()),
            m.last_at().map(|x| x.to_string())
        )));
    }
    if m.windows() != t.windows() {
        return Err(mismatch(format!(
            "the {a} velocity window usage row differs from the chain"
        )));
    }
    if m.breaker() != t.breaker() {
        return Err(mismatch(format!(
            "the {a} circuit breaker usage row differs from the chain"
        )));
    }
    for (id, w) in t.withdrawals() {
        match m.withdrawals().get(id) {
            None => {
                return Err(mismatch(format!(
                    "withdrawal {id:?} ({} of {a}) is in the ledger's rows but in no audit record",
                    w.status.name()
                )))
            }
            Some(mw) if mw != w => {
                return Err(mismatch(format!(
                    "withdrawal {id:?} row says {} {} to {:?}, the chain says {} {} to {:?}",
                    w.status.name(),
                    w.amount,
                    w.destination,
                    mw.status.name(),
                    mw.amount,
                    mw.destination
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(id) = m
        .withdrawals()
        .keys()
        .find(|id| !t.withdrawals().contains_key(*id))
    {
        return Err(mismatch(format!(
            "withdrawal {id:?} of {a} is in the audit chain but missing from the rows"
        )));
    }
    let users = t.user_windows().keys().chain(m.user_windows().keys());
    for u in users {
        if m.user_windows().get(u) != t.user_windows().get(u) {
            return Err(mismatch(format!(
                "user {u:?}'s velocity window row differs from the chain"
            )));
        }
    }
    let dests = t.allowlist().keys().chain(m.allowlist().keys());
    for d in dests {
        match (m.allowlist().get(d), t.allowlist().get(d)) {
            (None, Some(_)) => {
                return Err(mismatch(format!(
                    "allowlist entry {d:?} is in the rows but in no audit record"
                )))
            }
            (x, y) if x != y => {
                return Err(mismatch(format!(
                    "allowlist entry {d:?} row differs from the chain"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}
