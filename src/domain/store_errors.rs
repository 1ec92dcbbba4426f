//! What the database's own refusals mean to the domain: which unique rule a
//! violation broke (by constraint name, never "any unique violation"), and
//! which failures are transient conflicts a write may simply run again.

use std::future::Future;
use std::time::Duration;

use sea_orm::sqlx::error::DatabaseError;
use sea_orm::{DbErr, RuntimeErr};

use super::{DomainError, DomainResult, Refusal};

/// The uniqueness rules the schema enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueRule {
    CreatorHandle,
    AgencySlug,
    OneMembershipPerCreator,
    OnePendingInvitationPerPair,
    IdempotencyKeyPerAgency,
}

impl UniqueRule {
    /// PostgreSQL names the constraint; SQLite names the columns, after
    /// "UNIQUE constraint failed: ".
    const NAMES: [(UniqueRule, &'static str, &'static str); 5] = [
        (
            UniqueRule::CreatorHandle,
            "creators_handle_key",
            "creators.handle",
        ),
        (UniqueRule::AgencySlug, "agencies_slug_key", "agencies.slug"),
        (
            UniqueRule::OneMembershipPerCreator,
            "memberships_creator_id_key",
            "memberships.creator_id",
        ),
        (
            UniqueRule::OnePendingInvitationPerPair,
            "uq_invitations_pending_agency_creator",
            "invitations.agency_id, invitations.creator_id",
        ),
        (
            UniqueRule::IdempotencyKeyPerAgency,
            "uq_invitations_agency_idempotency_key",
            "invitations.agency_id, invitations.idempotency_key",
        ),
    ];

    fn of(error: &dyn DatabaseError) -> Option<Self> {
        if !error.is_unique_violation() {
            return None;
        }
        let columns = error
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or_default();
        let constraint = error.constraint().unwrap_or_default();
        Self::NAMES
            .iter()
            .find(|(_, pg, sqlite)| constraint == *pg || columns == *sqlite)
            .map(|(rule, _, _)| *rule)
    }
}

fn database_error(err: &DbErr) -> Option<&dyn DatabaseError> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error()
        }
        _ => None,
    }
}

/// Which unique rule `err` broke, if it is a unique violation we know.
pub fn violated(err: &DbErr) -> Option<UniqueRule> {
    database_error(err).and_then(UniqueRule::of)
}

/// Turns a violation of `rule` into a refusal, any other error into
/// itself: the database, not a prior SELECT, has the last word on
/// uniqueness, so concurrent writers cannot both win.
pub fn on_violation(
    err: DbErr,
    rule: UniqueRule,
    refusal: impl FnOnce() -> Refusal,
) -> DomainError {
    if violated(&err) == Some(rule) {
        DomainError::refused(refusal())
    } else {
        DomainError::Database(err)
    }
}

/// A deadlock or serialisation failure (PostgreSQL 40P01, 40001), or a
/// busy or locked SQLite database: the transaction was rolled back and
/// running it again may succeed.
pub fn is_transient(err: &DbErr) -> bool {
    database_error(err)
        .and_then(|e| e.code())
        .is_some_and(|code| matches!(code.as_ref(), "40001" | "40P01" | "5" | "6" | "517"))
}

/// How many times a write runs at most when the database keeps aborting it.
pub const MAX_WRITE_ATTEMPTS: u32 = 5;

/// Runs `attempt`, one whole write transaction, again when the database
/// aborted it for a transient conflict, after a short randomised pause, at
/// most [`MAX_WRITE_ATTEMPTS`] times in all.
pub async fn retrying<T, Fut>(mut attempt: impl FnMut() -> Fut) -> DomainResult<T>
where
    Fut: Future<Output = DomainResult<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(DomainError::Database(e)) if is_transient(&e) && tries < MAX_WRITE_ATTEMPTS => {
                tracing::debug!(error = %e, tries, "write conflict: running it again");
                // Any spread will do to part writers that collided.
                let jitter = u64::from(chrono::Utc::now().timestamp_subsec_micros())
                    % (5 * u64::from(tries));
                tokio::time::sleep(Duration::from_millis(2 * u64::from(tries) + jitter)).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sea_orm::sqlx;

    use super::*;

    /// A database error as a driver reports it: an SQLSTATE and a message.
    #[derive(Debug)]
    struct Reported {
        code: &'static str,
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl std::fmt::Display for Reported {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.message)
        }
    }

    impl std::error::Error for Reported {}

    impl DatabaseError for Reported {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(self.code.into())
        }
        fn constraint(&self) -> Option<&str> {
            self.constraint
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            if matches!(self.code, "23505" | "2067") {
                sqlx::error::ErrorKind::UniqueViolation
            } else {
                sqlx::error::ErrorKind::Other
            }
        }
    }

    fn reported(
        code: &'static str,
        message: &'static str,
        constraint: Option<&'static str>,
    ) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(sqlx::Error::Database(
            Box::new(Reported {
                code,
                message,
                constraint,
            }),
        ))))
    }

    #[test]
    fn violations_are_known_by_constraint_or_columns() {
        let pg = reported("23505", "duplicate key", Some("memberships_creator_id_key"));
        assert_eq!(violated(&pg), Some(UniqueRule::OneMembershipPerCreator));
        let sqlite = reported(
            "2067",
            "UNIQUE constraint failed: invitations.agency_id, invitations.idempotency_key",
            None,
        );
        assert_eq!(violated(&sqlite), Some(UniqueRule::IdempotencyKeyPerAgency));
        // Another unique rule is not mistaken for the one a caller expects.
        let other = reported("23505", "duplicate key", Some("some_other_key"));
        assert_eq!(violated(&other), None);
        assert!(matches!(
            on_violation(other, UniqueRule::CreatorHandle, || Refusal::invalid(
                &[],
                "x"
            )),
            DomainError::Database(_)
        ));
    }

    #[tokio::test]
    async fn deadlocks_are_run_again_a_bounded_number_of_times() {
        let attempts = AtomicU32::new(0);
        let result: DomainResult<u32> = retrying(|| async {
            let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            if n < 3 {
                Err(DomainError::Database(reported(
                    "40P01",
                    "deadlock detected",
                    None,
                )))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 3);

        attempts.store(0, Ordering::SeqCst);
        let result: DomainResult<()> = retrying(|| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(DomainError::Database(reported(
                "40001",
                "could not serialize",
                None,
            )))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), MAX_WRITE_ATTEMPTS);

        attempts.store(0, Ordering::SeqCst);
        let result: DomainResult<()> = retrying(|| async {
            attempts.fetch_add(1, Ordering::SeqCst);
            Err(DomainError::Database(reported(
                "23503",
                "foreign key",
                None,
            )))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "other errors are not retried"
        );
    }
}
