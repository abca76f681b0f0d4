//! The policy cosigner's one atomic step: check a transaction against an
//! approved reservation and mark the reservation spent, in the same
//! transaction, under the asset's lock — so two cosigner processes can never
//! both sign two different transactions for one reservation.

use kinko_policy::{Timestamp, Withdrawal, WithdrawalStatus};
use serde::{Serialize, Serializer};

use crate::audit::AuditRecord;
use crate::error::{damaged, CosignRefusal, Damaged, ReadError, StorageError};
use crate::row::{self, Core};
use crate::{Ledger, TimeSource};

/// The rule that refused a cosign: the ledger's own, or the one the check
/// named in [`CosignVerdict::Refuse`]. Stored (and serialized) as its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalRule {
    /// The ledger refused before or after the check.
    Ledger(CosignRefusal),
    /// The check refused, by this rule name.
    Check(String),
}

impl RefusalRule {
    /// The rule name.
    pub fn as_str(&self) -> &str {
        match self {
            RefusalRule::Ledger(r) => r.rule(),
            RefusalRule::Check(rule) => rule,
        }
    }
}

impl std::fmt::Display for RefusalRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RefusalRule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The cosigner's verdict on the transaction it was asked to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignVerdict {
    /// The transaction pays exactly what was approved: sign it (the
    /// reservations must not be marked yet, or marked for this very txid).
    Sign {
        /// Its txid.
        txid: String,
    },
    /// The transaction replaces (BIP125) the payout family that holds `of`:
    /// every reservation must be marked for a family holding `of`; `txid`
    /// joins each family.
    Replace {
        /// Its txid.
        txid: String,
        /// A transaction of the family it replaces.
        of: String,
    },
    /// Do not sign.
    Refuse {
        /// A stable rule name.
        rule: String,
        /// For people.
        detail: String,
    },
}

/// What was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CosignResult {
    /// Signed; the reservation is marked spent by `txid`. `again`: the same
    /// txid was already marked (an idempotent retry).
    Signed {
        /// The txid.
        txid: String,
        /// A retry of an earlier signature of the same transaction.
        again: bool,
        /// The transaction of the family this one replaces (fee bumping).
        #[serde(skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
    },
    /// Refused by the ledger ([`CosignRefusal::NotReserved`],
    /// [`CosignRefusal::ReservationSpent`]) or the check.
    Refused {
        /// The rule (serialized as its stable name).
        rule: RefusalRule,
        /// For people.
        detail: String,
    },
}

/// A committed cosign decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignRecord {
    /// The withdrawal's asset.
    pub asset: String,
    /// The withdrawal, as read under the lock.
    pub withdrawal: Withdrawal,
    /// What was decided.
    pub result: CosignResult,
    /// The audit record's sequence number in the asset's chain.
    pub audit_seq: u64,
}

/// A committed cosign decision on a payout of one or more reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRecord {
    /// The withdrawals' asset.
    pub asset: String,
    /// The withdrawals, as read under the lock, in the order asked.
    pub withdrawals: Vec<Withdrawal>,
    /// What was decided.
    pub result: CosignResult,
    /// The audit records written: one per reservation when it was signed
    /// for the first time, else one.
    pub audit_seqs: std::ops::RangeInclusive<u64>,
}

/// Why nothing was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// No withdrawal with this id.
    #[error("unknown withdrawal")]
    UnknownWithdrawal,
    /// A payout names no withdrawal, one twice, or withdrawals of two assets.
    #[error("a payout names one or more distinct withdrawals of one asset")]
    BadPayout,
    /// The asset's chain does not end where the caller expected
    /// ([`Ledger::expect_head`]): nothing was written.
    #[error("the {asset} audit chain has {found} records, {expected} were expected; nothing was written")]
    HeadMoved {
        /// The asset.
        asset: String,
        /// The count expected.
        expected: u64,
        /// The count found.
        found: u64,
    },
    /// The time is older than the asset's last event: fail closed.
    #[error("clock went backwards: {at} is before the last event at {last}")]
    ClockWentBackwards {
        /// The asset's last event.
        last: Timestamp,
        /// The time given or read.
        at: Timestamp,
    },
    /// A stored row does not parse.
    #[error("stored {0} is damaged")]
    Damaged(&'static str),
    /// The store failed; nothing was committed.
    #[error("storage failed; nothing was committed")]
    Storage(#[source] StorageError),
}

impl From<StorageError> for CosignError {
    fn from(e: StorageError) -> Self {
        CosignError::Storage(e)
    }
}

impl From<Damaged> for CosignError {
    fn from(d: Damaged) -> Self {
        CosignError::Damaged(d.0)
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    /// Every reservation of the payout, in a record that speaks for all of
    /// them (a refusal, a retry); absent for a single reservation.
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [String]>,
    #[serde(flatten)]
    result: &'a CosignResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a serde_json::Value>,
}

/// The transactions of a mark (`txid` column): the first, then its
/// replacements.
pub fn mark_family(mark: &str) -> impl Iterator<Item = &str> {
    mark.split(' ').filter(|t| !t.is_empty())
}

impl Ledger {
    /// Checks and marks a reservation in one transaction: finds withdrawal
    /// `id`, locks its asset, re-reads it; if it is not reserved, refuses
    /// (`not-reserved`) without calling `check`; otherwise calls
    /// `check(asset, &withdrawal)`. A `Sign { txid }` marks the reservation
    /// spent by `txid` — or, if it is already marked, is `Signed { again:
    /// true }` for the same txid and refused (`reservation-spent`) for
    /// another. Every outcome appends one audit record (kind `cosign`) and
    /// commits before it is returned.
    ///
    /// # Errors
    /// [`CosignError`]: nothing was recorded.
    pub fn cosign(
        &mut self,
        id: &str,
        at: Option<Timestamp>,
        check: impl FnOnce(&str, &Withdrawal) -> CosignVerdict,
    ) -> Result<CosignRecord, CosignError> {
        self.cosign_with_evidence(id, at, |asset, w| (check(asset, w), None))
    }

    /// [`Ledger::cosign`], where `check` also returns evidence for the audit
    /// record (what was signed: fee, change index), stored in its payload as
    /// field `evidence` when the verdict is `Sign` and not a retry.
    ///
    /// # Errors
    /// [`CosignError`]: nothing was recorded.
    pub fn cosign_with_evidence(
        &mut self,
        id: &str,
        at: Option<Timestamp>,
        check: impl FnOnce(&str, &Withdrawal) -> (CosignVerdict, Option<serde_json::Value>),
    ) -> Result<CosignRecord, CosignError> {
        let ids = [id.to_owned()];
        let rec = self.cosign_payout(&ids, at, |asset, ws, _| {
            let (v, ev) = check(asset, &ws[0]);
            (v, vec![ev])
        })?;
        Ok(CosignRecord {
            asset: rec.asset,
            withdrawal: rec
                .withdrawals
                .into_iter()
                .next()
                .ok_or(CosignError::BadPayout)?,
            result: rec.result,
            audit_seq: *rec.audit_seqs.end(),
        })
    }

    /// Checks and marks the reservations one transaction pays, in one ledger
    /// transaction: finds every withdrawal of `ids` (distinct, one asset),
    /// locks the asset, re-reads them; unless all are reserved, refuses
    /// (`not-reserved`) without calling `check`. Otherwise calls
    /// `check(asset, withdrawals, families)` (each reservation's cosigned
    /// transactions, first to last, empty when none) and records its
    /// verdict:
    ///
    /// - `Sign { txid }`: marks every reservation (none may be marked
    ///   already), one audit record per reservation with its evidence; if
    ///   every family already holds `txid`, a retry (`again`, one record);
    ///   else refused `reservation-spent`.
    /// - `Replace { txid, of }`: every family must hold `of` (else
    ///   `reservation-spent`); adds `txid` to each (one record per
    ///   reservation), or is a retry when each holds it already.
    /// - `Refuse`: one record naming every reservation.
    ///
    /// All marks and records commit together, or none.
    ///
    /// # Errors
    /// [`CosignError`]: nothing was recorded.
    #[allow(clippy::type_complexity)]
    pub fn cosign_payout(
        &mut self,
        ids: &[String],
        at: Option<Timestamp>,
        check: impl FnOnce(
            &str,
            &[Withdrawal],
            &[Vec<String>],
        ) -> (CosignVerdict, Vec<Option<serde_json::Value>>),
    ) -> Result<PayoutRecord, CosignError> {
        let expect = self.expect.take();
        let Ledger {
            backend,
            time,
            cache,
            signer,
            ..
        } = self;
        let Some(first) = ids.first() else {
            return Err(CosignError::BadPayout);
        };
        let mut distinct = std::collections::HashSet::with_capacity(ids.len());
        if !ids.iter().all(|i| distinct.insert(i.as_str())) {
            return Err(CosignError::BadPayout);
        }
        let mut tx = backend.begin()?;
        let Some((asset, _)) = tx.withdrawal(first)? else {
            return Err(CosignError::UnknownWithdrawal);
        };
        let cached = cache.get(&asset);
        let mut row = tx.lock_asset(&asset, cached.map(|c| c.0))?;
        if let Some(e) = &expect {
            e.check(&asset, &row)
                .map_err(|(expected, found)| CosignError::HeadMoved {
                    asset: asset.clone(),
                    expected,
                    found,
                })?;
        }
        let mut core = Core::of_locked(&row, cached.map(|c| &c.1))?;
        // Read under the lock: the status may have changed since.
        let mut withdrawals = Vec::with_capacity(ids.len());
        for id in ids {
            let (a, rec) = tx.withdrawal(id)?.ok_or(CosignError::UnknownWithdrawal)?;
            if a != asset {
                return Err(CosignError::BadPayout);
            }
            withdrawals.push(row::withdrawal(&rec)?);
        }
        let at = match (at, time) {
            (Some(t), _) => t,
            (None, TimeSource::Store) => tx.now()?,
            (None, TimeSource::Custom(f)) => f(),
        };
        if let Some(last) = core.last_at {
            if at < last {
                return Err(CosignError::ClockWentBackwards { last, at });
            }
        }

        let refused = |rule: CosignRefusal, detail: String| CosignResult::Refused {
            rule: RefusalRule::Ledger(rule),
            detail,
        };
        // (result, evidence per reservation when each gets its own record)
        let (result, per_id): (CosignResult, Option<Vec<Option<serde_json::Value>>>) =
            match withdrawals
                .iter()
                .zip(ids)
                .find(|(w, _)| w.status != WithdrawalStatus::Reserved)
            {
                Some((w, id)) => (
                    refused(
                        CosignRefusal::NotReserved,
                        format!("withdrawal {id} is {}", w.status.name()),
                    ),
                    None,
                ),
                None => {
                    let mut marks = Vec::with_capacity(ids.len());
                    for id in ids {
                        marks.push(tx.cosign_mark(id)?.unwrap_or_default());
                    }
                    let families: Vec<Vec<String>> = marks
                        .iter()
                        .map(|m| mark_family(m).map(str::to_owned).collect())
                        .collect();
                    let (verdict, evidence) = check(&asset, &withdrawals, &families);
                    let holds = |t: &str| families.iter().all(|f| f.iter().any(|x| x == t));
                    let spent = |txid: &str| {
                        let other = families
                            .iter()
                            .zip(ids)
                            .find_map(|(f, id)| f.last().map(|l| (id, l)));
                        let (id, by) = other.map_or(("?", "?"), |(i, l)| (i.as_str(), l.as_str()));
                        refused(
                            CosignRefusal::ReservationSpent,
                            format!("reservation {id} already spent by {by}, not {txid}"),
                        )
                    };
                    match verdict {
                        CosignVerdict::Refuse { rule, detail } => (
                            CosignResult::Refused {
                                rule: RefusalRule::Check(rule),
                                detail,
                            },
                            None,
                        ),
                        CosignVerdict::Sign { txid } | CosignVerdict::Replace { txid, .. }
                            if holds(&txid) =>
                        {
                            (
                                CosignResult::Signed {
                                    txid,
                                    again: true,
                                    replaces: None,
                                },
                                None,
                            )
                        }
                        CosignVerdict::Sign { txid } => {
                            if families.iter().any(|f| !f.is_empty()) {
                                (spent(&txid), None)
                            } else {
                                for id in ids {
                                    tx.put_cosign_mark(id, &asset, &txid, at.unix())?;
                                }
                                let result = CosignResult::Signed {
                                    txid,
                                    again: false,
                                    replaces: None,
                                };
                                (result, Some(evidence))
                            }
                        }
                        CosignVerdict::Replace { txid, of } => {
                            if !holds(&of) || families.iter().any(|f| f.contains(&txid)) {
                                (spent(&txid), None)
                            } else {
                                for (id, mark) in ids.iter().zip(&marks) {
                                    let family = format!("{mark} {txid}");
                                    tx.put_cosign_mark(id, &asset, &family, at.unix())?;
                                }
                                let result = CosignResult::Signed {
                                    txid,
                                    again: false,
                                    replaces: Some(of),
                                };
                                (result, Some(evidence))
                            }
                        }
                    }
                }
            };

        let mut payloads = Vec::new();
        match per_id {
            Some(evidence) => {
                for (i, id) in ids.iter().enumerate() {
                    let ev = evidence.get(i).and_then(Option::as_ref);
                    payloads.push(
                        serde_json::to_string(&Payload {
                            id,
                            ids: None,
                            result: &result,
                            evidence: ev,
                        })
                        .map_err(damaged("audit payload"))?,
                    );
                }
            }
            None => payloads.push(
                serde_json::to_string(&Payload {
                    id: first,
                    ids: (ids.len() > 1).then_some(ids),
                    result: &result,
                    evidence: None,
                })
                .map_err(damaged("audit payload"))?,
            ),
        }
        let first_seq = row.audit_count + 1;
        for payload in payloads {
            let seq = row.audit_count + 1;
            let record = AuditRecord::new(&asset, seq, at, "cosign", payload, &row.audit_head);
            tx.append_audit(&record)?;
            row.audit_count = seq;
            row.audit_head = record.hash;
        }
        if let Some(signer) = signer {
            let head = signer
                .sign_head(&asset, row.audit_count, &row.audit_head, at)
                .map_err(CosignError::Damaged)?;
            tx.put_signed_head(&head)?;
        }
        core.last_at = Some(core.last_at.map_or(at, |l| l.max(at)));
        core.store(&mut row)?;
        tx.update_asset(&asset, &row)?;
        tx.commit()?;
        cache.insert(asset.clone(), (row.version, core));
        Ok(PayoutRecord {
            asset,
            withdrawals,
            result,
            audit_seqs: first_seq..=row.audit_count,
        })
    }

    /// The txid a reservation was cosigned for first, if any.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, ReadError> {
        Ok(self.cosign_family(id)?.into_iter().next())
    }

    /// Every txid a reservation was cosigned for: the first, then its
    /// replacements (empty when it was never cosigned).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn cosign_family(&mut self, id: &str) -> Result<Vec<String>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        let mark = tx.cosign_mark(id)?.unwrap_or_default();
        Ok(mark_family(&mark).map(str::to_owned).collect())
    }
}
