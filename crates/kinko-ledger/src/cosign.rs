//! The policy cosigner's one atomic step: check a transaction against an
//! approved reservation and mark the reservation spent, in the same
//! transaction, under the asset's lock — so two cosigner processes can never
//! both sign two different transactions for one reservation.

use kinko_policy::{Timestamp, Withdrawal, WithdrawalStatus};
use serde::Serialize;

use crate::audit::AuditRecord;
use crate::store::StorageError;
use crate::{Core, Ledger, ReadError, TimeSource};

/// The cosigner's verdict on the transaction it was asked to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CosignVerdict {
    /// The transaction pays exactly what was approved: sign it.
    Sign {
        /// Its txid.
        txid: String,
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
    },
    /// Refused (`not-reserved`, `reservation-spent`, or the check's rule).
    Refused {
        /// A stable rule name.
        rule: String,
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

/// Why nothing was recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// No withdrawal with this id.
    #[error("unknown withdrawal")]
    UnknownWithdrawal,
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

#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    #[serde(flatten)]
    result: &'a CosignResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence: Option<&'a serde_json::Value>,
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
        let expect = self.expect.take();
        let Ledger {
            backend,
            time,
            cache,
            signer,
            ..
        } = self;
        let damaged = |what| move |_| CosignError::Damaged(what);
        let mut tx = backend.begin()?;
        let Some((asset, _)) = tx.withdrawal(id)? else {
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
        let mut core: Core = match (&row.core, cached) {
            (Some(text), _) => serde_json::from_str(text).map_err(damaged("asset state"))?,
            (None, Some((_, core))) => core.clone(),
            (None, None) => return Err(CosignError::Damaged("asset state")),
        };
        // Re-read under the lock: the status may have changed since.
        let (_, rec) = tx.withdrawal(id)?.ok_or(CosignError::UnknownWithdrawal)?;
        let withdrawal: Withdrawal = serde_json::from_str(&rec).map_err(damaged("withdrawal"))?;
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

        let mut evidence = None;
        let result = if withdrawal.status != WithdrawalStatus::Reserved {
            CosignResult::Refused {
                rule: "not-reserved".into(),
                detail: format!("withdrawal is {}", withdrawal.status.name()),
            }
        } else {
            let mark = tx.cosign_mark(id)?;
            let (verdict, ev) = check(&asset, &withdrawal);
            match (verdict, mark) {
                (CosignVerdict::Refuse { rule, detail }, _) => {
                    CosignResult::Refused { rule, detail }
                }
                (CosignVerdict::Sign { txid }, Some(marked)) if marked == txid => {
                    CosignResult::Signed { txid, again: true }
                }
                (CosignVerdict::Sign { txid }, Some(marked)) => CosignResult::Refused {
                    rule: "reservation-spent".into(),
                    detail: format!("reservation already spent by {marked}, not {txid}"),
                },
                (CosignVerdict::Sign { txid }, None) => {
                    tx.put_cosign_mark(id, &asset, &txid, at.unix())?;
                    evidence = ev;
                    CosignResult::Signed { txid, again: false }
                }
            }
        };

        let payload = serde_json::to_string(&Payload {
            id,
            result: &result,
            evidence: evidence.as_ref(),
        })
        .map_err(damaged("audit payload"))?;
        let seq = row.audit_count + 1;
        let record = AuditRecord::new(&asset, seq, at, "cosign", payload, &row.audit_head);
        tx.append_audit(&record)?;
        if let Some(signer) = signer {
            let head = signer
                .sign_head(&asset, seq, &record.hash, at)
                .map_err(CosignError::Damaged)?;
            tx.put_signed_head(&head)?;
        }
        core.last_at = Some(core.last_at.map_or(at, |l| l.max(at)));
        row.audit_count = seq;
        row.audit_head = record.hash;
        row.version += 1;
        row.core = Some(serde_json::to_string(&core).map_err(damaged("asset state"))?);
        tx.update_asset(&asset, &row)?;
        tx.commit()?;
        cache.insert(asset.clone(), (row.version, core));
        Ok(CosignRecord {
            asset,
            withdrawal,
            result,
            audit_seq: seq,
        })
    }

    /// The txid a reservation was cosigned for, if any.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn cosign_mark(&mut self, id: &str) -> Result<Option<String>, ReadError> {
        let mut tx = self.backend.begin_read()?;
        Ok(tx.cosign_mark(id)?)
    }
}
