//! A LIVE creator: profile, the "Agency invitation" switch and LIVE figures.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "creators")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub handle: String,
    pub display_name: String,
    pub region: String,
    /// Comma-separated ISO 639-1 codes.
    pub languages: String,
    /// Comma-separated category names (`GAMING,MUSIC`).
    pub categories: String,
    pub birth_date: Date,
    pub discoverable: bool,
    pub discoverable_since: Option<DateTimeUtc>,
    pub followers: i64,
    pub avg_viewers: f64,
    pub peak_viewers: i64,
    pub live_hours_30d: f64,
    pub live_days_30d: i32,
    pub diamonds_30d: i64,
    pub follower_growth_30d: f64,
    pub engagement_rate: f64,
    pub stats_updated_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::invitation::Entity")]
    Invitation,
    #[sea_orm(has_one = "super::membership::Entity")]
    Membership,
}

impl Related<super::invitation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Invitation.def()
    }
}

impl Related<super::membership::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Membership.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
