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
