//! Request-scoped DataLoaders, one per relation: whatever the page size, a
//! relation costs one SQL statement per level of the query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{agency, creator, membership};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

pub struct CreatorById(DatabaseConnection);
pub struct AgencyById(DatabaseConnection);
/// creator id → the agency the creator is a member of.
pub struct AgencyOfCreator(DatabaseConnection);
/// agency id → number of members.
pub struct MemberCount(DatabaseConnection);

impl Loader<Uuid> for CreatorById {
    type Value = creator::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(creator::Entity::find()
            .filter(creator::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

impl Loader<Uuid> for AgencyById {
    type Value = agency::Model;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(agency::Entity::find()
            .filter(agency::Column::Id.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

impl Loader<Uuid> for AgencyOfCreator {
    type Value = Uuid;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        Ok(membership::Entity::find()
            .filter(membership::Column::CreatorId.is_in(keys.iter().copied()))
            .all(&self.0)
            .await?
            .into_iter()
            .map(|m| (m.creator_id, m.agency_id))
            .collect())
    }
}

impl Loader<Uuid> for MemberCount {
    type Value = i64;
    type Error = Arc<DbErr>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let counts: Vec<(Uuid, i64)> = membership::Entity::find()
            .select_only()
            .column(membership::Column::AgencyId)
            .column_as(membership::Column::Id.count(), "members")
            .filter(membership::Column::AgencyId.is_in(keys.iter().copied()))
            .group_by(membership::Column::AgencyId)
            .into_tuple()
            .all(&self.0)
            .await?;
        Ok(counts.into_iter().collect())
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub creator: DataLoader<CreatorById>,
    pub agency: DataLoader<AgencyById>,
    pub agency_of_creator: DataLoader<AgencyOfCreator>,
    pub member_count: DataLoader<MemberCount>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            creator: DataLoader::new(CreatorById(db.clone()), tokio::spawn),
            agency: DataLoader::new(AgencyById(db.clone()), tokio::spawn),
            agency_of_creator: DataLoader::new(AgencyOfCreator(db.clone()), tokio::spawn),
            member_count: DataLoader::new(MemberCount(db.clone()), tokio::spawn),
        }
    }
}
