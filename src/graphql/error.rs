//! The one place domain errors become GraphQL errors. Every top-level error
//! carries `extensions.code`; database failures are logged with their cause
//! and answered with a generic message, never SQL text.

use async_graphql::{ErrorExtensions, SimpleObject};

use crate::domain::{DomainError, Refusal, RefusalCode};

pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
pub const RATE_LIMITED: &str = "RATE_LIMITED";

/// An error raised outside a resolver (transport, limits), with its code.
pub fn coded_server_error(message: impl Into<String>, code: &str) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(async_graphql::ErrorExtensionValues::default)
        .set("code", code);
    error
}

pub fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

pub fn bad_user_input(message: impl Into<String>) -> async_graphql::Error {
    coded(message, BAD_USER_INPUT)
}

pub fn forbidden(message: impl Into<String>) -> async_graphql::Error {
    coded(message, FORBIDDEN)
}

/// Maps a domain error raised where no payload can carry `userErrors`
/// (queries, field resolvers): refusals become BAD_USER_INPUT.
pub fn to_graphql(err: DomainError) -> async_graphql::Error {
    match err {
        DomainError::Refused(refusals) => bad_user_input(
            refusals
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        DomainError::Unauthenticated => coded("authentication required", UNAUTHENTICATED),
        DomainError::Forbidden(why) => forbidden(why),
        DomainError::Database(e) => {
            tracing::error!(error = ?e, "database error");
            coded("internal server error", INTERNAL_SERVER_ERROR)
        }
    }
}

/// Lets resolvers write `service.call().await.gql()?`.
pub trait GqlResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> GqlResultExt<T> for Result<T, DomainError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(to_graphql)
    }
}

impl<T> GqlResultExt<T> for Result<T, std::sync::Arc<sea_orm::DbErr>> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| {
            tracing::error!(error = ?e, "database error in a data loader");
            coded("internal server error", INTERNAL_SERVER_ERROR)
        })
    }
}

/// The API's spelling of [`RefusalCode`].
#[derive(async_graphql::Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "UserErrorCode", remote = "RefusalCode")]
pub enum UserErrorCode {
    InvalidInput,
    NotFound,
    NotDiscoverable,
    NotEligible,
    AlreadyInvited,
    AlreadyInAgency,
    AgencyAtCapacity,
    QuotaExceeded,
    Cooldown,
    InvitationNotPending,
    InvitationExpired,
    NotInAgency,
    Duplicate,
}

/// A rule of the domain that refused the mutation. Nothing was changed.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct UserError {
    pub code: UserErrorCode,
    /// Path into the input, when one field is at fault.
    pub field: Option<Vec<String>>,
    pub message: String,
}

impl From<Refusal> for UserError {
    fn from(r: Refusal) -> Self {
        Self {
            code: r.code.into(),
            field: r.field,
            message: r.message,
        }
    }
}

/// Splits a mutation's outcome: refusals go to `userErrors`, anything else
/// is a top-level error.
pub fn payload<T>(
    result: Result<T, DomainError>,
) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match result {
        Ok(v) => Ok((Some(v), Vec::new())),
        Err(DomainError::Refused(refusals)) => {
            Ok((None, refusals.into_iter().map(Into::into).collect()))
        }
        Err(other) => Err(to_graphql(other)),
    }
}
