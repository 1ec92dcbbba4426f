//! The rules of the Agency Center: who may see and change what, and which
//! inputs are valid. Nothing here knows GraphQL or HTTP; services take a
//! [`Viewer`] and plain values and answer with models or a [`DomainError`].

pub mod agencies;
pub mod creators;
pub mod eligibility;
pub mod index;
pub mod invitations;
pub mod memberships;
pub mod pages;
pub mod recommendations;
pub mod scopes;
pub mod store_errors;
pub mod values;
pub mod viewer;
pub mod writes;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::events::EventBus;

pub use values::Category;
pub use viewer::{Principal, Role, Scopes, Viewer};

/// Why the domain refused a mutation; the API's `UserErrorCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalCode {
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

/// Tunables of the rules.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long an invitation stays answerable.
    pub invitation_ttl: chrono::TimeDelta,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            invitation_ttl: chrono::TimeDelta::days(7),
        }
    }
}

/// What the services work with: the store, the settings, the event bus,
/// this instance's ranking index and its metrics. Cheap to clone.
#[derive(Clone)]
pub struct Domain {
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub events: EventBus,
    pub index: index::RankingIndex,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Domain {
    /// A domain with an empty, unloaded index (for tools that only read,
    /// such as `token`); servers load theirs with [`index::RankingIndex::load`].
    pub fn new(db: DatabaseConnection, settings: Settings) -> Self {
        Self {
            db,
            settings,
            events: EventBus::default(),
            index: index::RankingIndex::default(),
            metrics: Default::default(),
        }
    }

    /// Brings the ranking index up to date with what other instances
    /// committed before this call, and (in change-log mode) relays their
    /// events found there. Concurrent callers share one read of the log.
    pub async fn apply_change_log(&self) -> Result<(), DbErr> {
        let events = self.index.catch_up(&self.db).await?;
        self.events.relay_logged(events);
        Ok(())
    }
}

/// Opens a transaction that writes (through [`writes::Write`] only). On SQLite it takes the write lock up
/// front (`BEGIN IMMEDIATE`): a deferred transaction that read first could
/// not upgrade while another writer commits, and would fail instead of
/// waiting. PostgreSQL ignores the mode and relies on row locks.
pub(crate) async fn write_txn(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// One broken rule, with the path of the input field at fault if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub code: RefusalCode,
    pub field: Option<Vec<String>>,
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, field: &[&str], message: impl Into<String>) -> Self {
        Self {
            code,
            field: (!field.is_empty()).then(|| field.iter().map(|s| (*s).to_owned()).collect()),
            message: message.into(),
        }
    }

    /// Nothing by that id, or nothing the viewer may see: the same answer.
    pub fn not_found(field: &[&str], what: &str) -> Self {
        Self::new(RefusalCode::NotFound, field, format!("no such {what}"))
    }

    pub fn invalid(field: &[&str], message: impl Into<String>) -> Self {
        Self::new(RefusalCode::InvalidInput, field, message)
    }

    /// Prefixes the field path, e.g. with `["input", "3"]` for a batch row.
    pub fn under(mut self, prefix: &[&str]) -> Self {
        let mut path: Vec<String> = prefix.iter().map(|s| (*s).to_owned()).collect();
        path.extend(self.field.take().unwrap_or_default());
        self.field = Some(path);
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request was understood but breaks a rule; nothing was changed.
    #[error("refused: {0:?}")]
    Refused(Vec<Refusal>),
    /// The caller is not signed in and the action needs a signed-in viewer.
    #[error("authentication required")]
    Unauthenticated,
    /// The viewer's role or token scope may never do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error(transparent)]
    Database(#[from] DbErr),
}

impl DomainError {
    pub fn refused(refusal: Refusal) -> Self {
        Self::Refused(vec![refusal])
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::Forbidden(why.into())
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            has_next: false,
            total: 0,
        }
    }
}

/// A page of a keyset-paginated list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    pub total: u64,
}

/// Collects refusals so a mutation can report every invalid field at once.
#[derive(Default)]
pub struct Refusals(Vec<Refusal>);

impl Refusals {
    /// Keeps the value, or records the refusal and yields `None`.
    pub fn check<T>(&mut self, result: Result<T, Refusal>) -> Option<T> {
        result.map_err(|r| self.0.push(r)).ok()
    }

    pub fn push(&mut self, refusal: Refusal) {
        self.0.push(refusal);
    }

    pub fn into_result(self) -> DomainResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Refused(self.0))
        }
    }
}
