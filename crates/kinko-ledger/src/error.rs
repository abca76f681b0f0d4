//! Why the ledger failed or refused: the store's errors and the facade's
//! (re-exported at the crate root), and the ledger's own cosign refusals.
//!
//! A bottom module: it imports nothing else of the crate, so the backends,
//! the store and the facade can all use it.

use kinko_policy::Timestamp;

/// Why the store failed. Messages never contain the ledger URL (it may hold a
/// password).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// SQLite failed.
    #[cfg(feature = "sqlite")]
    #[error("sqlite error")]
    Sqlite(#[source] rusqlite::Error),
    /// PostgreSQL failed.
    #[cfg(feature = "postgres")]
    #[error("postgresql error")]
    Postgres(#[source] postgres::Error),
    /// A stored row does not parse (damaged or edited by hand).
    #[error("stored {what} is damaged")]
    Damaged {
        /// Which row.
        what: &'static str,
    },
    /// An amount above `i64::MAX`, which the SQL integer columns cannot hold.
    #[error("amount {0} is above the ledger's maximum {max}", max = i64::MAX)]
    AmountTooLarge(u64),
    /// The system clock is before 1970.
    #[error("system clock is before the unix epoch")]
    ClockBeforeEpoch,
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> Self {
        StorageError::Sqlite(e)
    }
}

#[cfg(feature = "postgres")]
impl From<postgres::Error> for StorageError {
    fn from(e: postgres::Error) -> Self {
        StorageError::Postgres(e)
    }
}

impl StorageError {
    /// Whether retrying the whole transaction may succeed (a lock wait timed
    /// out, a serialization failure, a deadlock the database broke).
    pub fn is_transient(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            StorageError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            #[cfg(feature = "postgres")]
            StorageError::Postgres(e) => e.code().is_some_and(|c| {
                *c == postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                    || *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED
            }),
            _ => false,
        }
    }

    /// Whether a unique constraint refused an insert.
    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            #[cfg(feature = "sqlite")]
            StorageError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            #[cfg(feature = "postgres")]
            StorageError::Postgres(e) => {
                e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// Why a ledger did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Not `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    #[error("unsupported ledger url (expected sqlite:PATH or postgres://...)")]
    UnsupportedUrl,
    /// The URL names a backend this build left out (its cargo feature,
    /// `sqlite` or `postgres`, was not enabled).
    #[error("this kinko was built without the {0} ledger backend (cargo feature {0})")]
    BackendNotBuilt(&'static str),
    /// No ledger at this path (and creating one was not asked for).
    #[error("no ledger at this path")]
    NotFound,
    /// The ledger was written by a newer kinko.
    #[error("ledger schema version {found} is newer than this kinko supports ({supported}); upgrade kinko")]
    NewerSchema {
        /// The stored version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// The stored schema version is not a number.
    #[error("ledger schema version is damaged")]
    DamagedSchema,
    /// The store failed.
    #[error("cannot open the ledger")]
    Storage(#[source] StorageError),
}

/// The ledger's own refusals around cosigning, as opposed to the rules of
/// the policy engine or of the cosigner's check. Their rule names are
/// stable (audit records, the CLI's exit 3, the API's `refused.rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CosignRefusal {
    /// A cosign asked for a withdrawal that is not reserved (the check is
    /// not asked).
    NotReserved,
    /// A cosign of a reservation marked for another transaction than the
    /// one signed (and not a replacement of its family).
    ReservationSpent,
    /// A `Failed` report for a reservation a transaction was cosigned for
    /// ([`DecideError::ReservationCosigned`]).
    ReservationCosigned,
}

impl CosignRefusal {
    /// Every refusal, for lookups by name.
    const ALL: [CosignRefusal; 3] = [
        CosignRefusal::NotReserved,
        CosignRefusal::ReservationSpent,
        CosignRefusal::ReservationCosigned,
    ];

    /// The stable rule name (kebab-case).
    pub const fn rule(self) -> &'static str {
        match self {
            CosignRefusal::NotReserved => "not-reserved",
            CosignRefusal::ReservationSpent => "reservation-spent",
            CosignRefusal::ReservationCosigned => "reservation-cosigned",
        }
    }

    /// The refusal a rule name stands for. Also reads
    /// `reservation_cosigned`, the spelling of the audit records written
    /// before the rule names were all kebab-case.
    pub fn from_rule(rule: &str) -> Option<Self> {
        if rule == "reservation_cosigned" {
            return Some(CosignRefusal::ReservationCosigned);
        }
        Self::ALL.into_iter().find(|r| r.rule() == rule)
    }
}

impl std::fmt::Display for CosignRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.rule())
    }
}

/// Why an event was not decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecideError {
    /// The ledger was opened without a policy.
    #[error("no policy loaded")]
    NoPolicy,
    /// The engine refused the event outright; nothing was recorded.
    #[error("event refused")]
    Refused(#[source] kinko_policy::DecideError),
    /// The time is older than the asset's last event: fail closed.
    #[error("clock went backwards: {at} is before the last event at {last}")]
    ClockWentBackwards {
        /// The asset's last event.
        last: Timestamp,
        /// The time given or read.
        at: Timestamp,
    },
    /// The withdrawal id is already used by another asset. Returned as the
    /// error of a whole batch (nothing committed) when a worker deciding on
    /// another asset inserted the same id concurrently; retrying the batch
    /// then refuses just this event.
    #[error("withdrawal id is already used by another asset")]
    IdOfOtherAsset,
    /// A `Failed` report for a reservation the policy cosigner already
    /// cosigned a transaction for. Releasing it would free the reservation
    /// (and let the window and the hot balance be spent again) while a
    /// signed transaction exists that the hot key's holder could still
    /// broadcast: the amount could leave twice. Only `Confirmed` ends such a
    /// reservation. Unlike the other refusals this one is recorded: an audit
    /// record of kind `refused` (rule `reservation-cosigned`) is committed.
    #[error("reservation {id} was cosigned for transaction {txid}; only its confirmation releases it (rule reservation-cosigned)")]
    ReservationCosigned {
        /// The withdrawal.
        id: String,
        /// The transaction it was cosigned for.
        txid: String,
        /// The refusal's audit record's sequence number.
        audit_seq: u64,
    },
    /// The asset's chain does not end where the caller expected
    /// ([`crate::Ledger::expect_head`]): nothing was written.
    #[error("the {asset} audit chain has {found} records, {expected} were expected; nothing was written")]
    HeadMoved {
        /// The asset.
        asset: String,
        /// The count expected.
        expected: u64,
        /// The count found.
        found: u64,
    },
    /// An amount above what the ledger's integer columns hold (`i64::MAX`).
    #[error("amount above the ledger's maximum")]
    AmountTooLarge,
    /// The stored state does not parse or does not fit the changes.
    #[error("stored {0} is damaged")]
    Damaged(&'static str),
    /// The store failed; nothing of the batch was committed.
    #[error("storage failed; nothing was committed")]
    Storage(#[source] StorageError),
}

impl From<StorageError> for DecideError {
    fn from(e: StorageError) -> Self {
        DecideError::Storage(e)
    }
}

impl DecideError {
    /// The stable rule name of a refusal for a security reason (`kinko`
    /// exits 3 naming it), `None` for other errors.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            DecideError::ClockWentBackwards { .. } => Some("clock-went-backwards"),
            DecideError::ReservationCosigned { .. } => {
                Some(CosignRefusal::ReservationCosigned.rule())
            }
            _ => None,
        }
    }

    /// Whether the error means a storage failure worth retrying (lock
    /// timeout, serialization failure, deadlock): nothing was committed.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecideError::Storage(e) if e.is_transient())
    }
}

/// Why reading the ledger failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The store failed.
    #[error("cannot read the ledger")]
    Storage(#[source] StorageError),
    /// A stored row does not parse.
    #[error("stored {0} is damaged")]
    Damaged(&'static str),
    /// Writing the output failed.
    #[error("cannot write the output")]
    Io(#[source] std::io::Error),
}

impl From<StorageError> for ReadError {
    fn from(e: StorageError) -> Self {
        ReadError::Storage(e)
    }
}

/// A stored value that does not parse or does not fit: which one. The row
/// mapping returns it; each facade error has its own `Damaged` variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Damaged(pub &'static str);

impl From<Damaged> for DecideError {
    fn from(d: Damaged) -> Self {
        DecideError::Damaged(d.0)
    }
}

impl From<Damaged> for ReadError {
    fn from(d: Damaged) -> Self {
        ReadError::Damaged(d.0)
    }
}

/// `map_err` for a value that does not parse: [`Damaged`] naming `what`.
pub(crate) fn damaged<T>(what: &'static str) -> impl FnOnce(T) -> Damaged {
    move |_| Damaged(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_rules_are_kebab_case_and_read_back() {
        for r in CosignRefusal::ALL {
            assert!(r.rule().chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(CosignRefusal::from_rule(r.rule()), Some(r));
        }
        assert_eq!(
            CosignRefusal::from_rule("reservation_cosigned"),
            Some(CosignRefusal::ReservationCosigned)
        );
        assert_eq!(CosignRefusal::from_rule("not_reserved"), None);
    }
}
