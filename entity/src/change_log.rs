//! One row per entity a committed write changed (see the migration): what
//! other instances read to keep their ranking index fresh.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "change_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub position: i64,
    /// What changed, e.g. `creator.stats` or `membership.created`.
    pub kind: String,
    pub entity_id: Uuid,
    /// The creator whose ranking data may have changed, if any.
    pub creator_id: Option<Uuid>,
    /// The agency an invitation or a membership concerns.
    pub agency_id: Option<Uuid>,
    pub committed_at: DateTimeUtc,
    /// The invitation event this change published, as the instance that
    /// wrote it encoded it (see `events`), for readers that relay events
    /// from the log.
    #[sea_orm(column_type = "Text", nullable)]
    pub event: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
