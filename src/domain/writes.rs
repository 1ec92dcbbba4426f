//! The one write path. Every mutation opens a [`Write`], changes rows
//! through its transaction, records what it changed, and commits through
//! [`Write::commit`]: inside the transaction the change log rows are
//! appended, events included (and, on PostgreSQL in notify mode, the
//! events `pg_notify`d), then the transaction commits, then the events
//! are delivered here. Every instance, this one included, applies the
//! change from the log. Dropping a `Write` without committing rolls
//! everything back, log included.

use chrono::Utc;
use entity::change_log;
use sea_orm::{DatabaseTransaction, DbErr, EntityTrait, Set};
use uuid::Uuid;

use super::{Domain, write_txn};
use crate::events::InvitationEvent;

/// What changed, as the change log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    CreatorCreated,
    CreatorProfile,
    CreatorDiscoverable,
    CreatorStats,
    AgencyCreated,
    AgencyUpdated,
    InvitationCreated,
    InvitationAnswered,
    MembershipCreated,
    MembershipEnded,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CreatorCreated => "creator.created",
            ChangeKind::CreatorProfile => "creator.profile",
            ChangeKind::CreatorDiscoverable => "creator.discoverable",
            ChangeKind::CreatorStats => "creator.stats",
            ChangeKind::AgencyCreated => "agency.created",
            ChangeKind::AgencyUpdated => "agency.updated",
            ChangeKind::InvitationCreated => "invitation.created",
            ChangeKind::InvitationAnswered => "invitation.answered",
            ChangeKind::MembershipCreated => "membership.created",
            ChangeKind::MembershipEnded => "membership.ended",
        }
    }

    /// The kind a change-log row names; `None` for one this version does
    /// not know (written by a newer one).
    pub fn parse(stored: &str) -> Option<Self> {
        ALL_KINDS.into_iter().find(|k| k.as_str() == stored)
    }
}

const ALL_KINDS: [ChangeKind; 10] = [
    ChangeKind::CreatorCreated,
    ChangeKind::CreatorProfile,
    ChangeKind::CreatorDiscoverable,
    ChangeKind::CreatorStats,
    ChangeKind::AgencyCreated,
    ChangeKind::AgencyUpdated,
    ChangeKind::InvitationCreated,
    ChangeKind::InvitationAnswered,
    ChangeKind::MembershipCreated,
    ChangeKind::MembershipEnded,
];

#[derive(Debug, Clone)]
struct Change {
    kind: ChangeKind,
    entity_id: Uuid,
    creator_id: Option<Uuid>,
    agency_id: Option<Uuid>,
    /// The encoded event this change publishes.
    event: Option<String>,
}

impl Change {
    /// A change of a creator's row.
    fn creator(kind: ChangeKind, creator_id: Uuid) -> Self {
        Self::quiet(kind, creator_id, Some(creator_id), None)
    }

    /// A change of an agency's row.
    fn agency(kind: ChangeKind, agency_id: Uuid) -> Self {
        Self::quiet(kind, agency_id, None, Some(agency_id))
    }

    /// A link between a creator and an agency (an invitation, a
    /// membership) changed.
    fn link(kind: ChangeKind, link_id: Uuid, creator_id: Uuid, agency_id: Uuid) -> Self {
        Self::quiet(kind, link_id, Some(creator_id), Some(agency_id))
    }

    /// A change that publishes no event.
    fn quiet(
        kind: ChangeKind,
        entity_id: Uuid,
        creator_id: Option<Uuid>,
        agency_id: Option<Uuid>,
    ) -> Self {
        Self {
            kind,
            entity_id,
            creator_id,
            agency_id,
            event: None,
        }
    }
}

/// Rows per change-log INSERT: under both engines' bound-parameter limits.
const LOG_BATCH: usize = 1000;

/// One transaction of the domain and what it changed.
pub struct Write<'d> {
    domain: &'d Domain,
    txn: DatabaseTransaction,
    changes: Vec<Change>,
    events: Vec<InvitationEvent>,
}

/// Appends the change-log rows of `changes` in `txn`, last thing before
/// COMMIT, each batch stamped as it goes in: what a time-window reader
/// relies on is the time from taking a position to COMMIT, which is then
/// only these inserts' and the notification's
/// ([`super::index::COMMIT_WINDOW`]).
async fn append_log(txn: &DatabaseTransaction, changes: &[Change]) -> Result<(), DbErr> {
    for batch in changes.chunks(LOG_BATCH) {
        let now = Utc::now();
        change_log::Entity::insert_many(batch.iter().map(|c| change_log::ActiveModel {
            kind: Set(c.kind.as_str().to_owned()),
            entity_id: Set(c.entity_id),
            creator_id: Set(c.creator_id),
            agency_id: Set(c.agency_id),
            committed_at: Set(now),
            event: Set(c.event.clone()),
            ..Default::default()
        }))
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// What a bulk writer outside any server (`agency-center seed`) changed:
/// logged in its own transaction like every write, so running instances
/// apply it (their ranking indexes, their kept answers) at their next
/// catch-up. It publishes no events.
#[derive(Debug, Default)]
pub struct BulkLog(Vec<Change>);

impl BulkLog {
    pub fn creator_changed(&mut self, kind: ChangeKind, creator_id: Uuid) {
        self.0.push(Change::creator(kind, creator_id));
    }

    pub fn agency_changed(&mut self, kind: ChangeKind, agency_id: Uuid) {
        self.0.push(Change::agency(kind, agency_id));
    }

    /// An invitation or a membership changed.
    pub fn link_changed(
        &mut self,
        kind: ChangeKind,
        link_id: Uuid,
        creator_id: Uuid,
        agency_id: Uuid,
    ) {
        self.0
            .push(Change::link(kind, link_id, creator_id, agency_id));
    }

    /// Appends the rows, in the writer's transaction, just before it commits.
    pub async fn append(self, txn: &DatabaseTransaction) -> Result<(), DbErr> {
        append_log(txn, &self.0).await
    }
}

impl Domain {
    /// Opens the transaction a mutation writes in.
    pub async fn begin_write(&self) -> Result<Write<'_>, DbErr> {
        Ok(Write {
            domain: self,
            txn: write_txn(&self.db).await?,
            changes: Vec::new(),
            events: Vec::new(),
        })
    }
}

impl Write<'_> {
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// A creator's row (or whether they may be ranked) changed.
    pub fn creator_changed(&mut self, kind: ChangeKind, creator_id: Uuid) {
        self.changes.push(Change::creator(kind, creator_id));
    }

    /// An agency's row changed.
    pub fn agency_changed(&mut self, kind: ChangeKind, agency_id: Uuid) {
        self.changes.push(Change::agency(kind, agency_id));
    }

    /// A link between a creator and an agency changed: a membership, or
    /// an invitation changed without an event (invitations otherwise
    /// change through [`Self::emit`]).
    pub fn link_changed(
        &mut self,
        kind: ChangeKind,
        link_id: Uuid,
        creator_id: Uuid,
        agency_id: Uuid,
    ) {
        self.changes
            .push(Change::link(kind, link_id, creator_id, agency_id));
    }

    /// Invitation events to publish once the transaction commits; each is
    /// logged, encoded, as a change of its invitation.
    pub fn emit(&mut self, events: impl IntoIterator<Item = InvitationEvent>) {
        for event in events {
            let kind = match event.kind {
                crate::events::EventKind::Created => ChangeKind::InvitationCreated,
                _ => ChangeKind::InvitationAnswered,
            };
            self.changes.push(Change {
                event: Some(self.domain.events.encode(&event)),
                ..Change::link(
                    kind,
                    event.invitation.id,
                    event.invitation.creator_id,
                    event.invitation.agency_id,
                )
            });
            self.events.push(event);
        }
    }

    /// Logs the changes and commits; then delivers the events. This
    /// instance's index and kept answers learn of the change as every
    /// other instance's do, from the log: whatever reads them catches up
    /// first, so re-reading the creators here too would only do it twice
    /// (and make a stats batch wait for it).
    pub async fn commit(self) -> Result<(), DbErr> {
        let Write {
            domain,
            txn,
            changes,
            events,
        } = self;
        append_log(&txn, &changes).await?;
        let payloads: Vec<&str> = changes.iter().filter_map(|c| c.event.as_deref()).collect();
        domain.events.notify_in(&txn, &payloads).await?;
        txn.commit().await?;
        domain.events.deliver(events);
        Ok(())
    }
}
