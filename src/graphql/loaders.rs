//! Request-scoped DataLoaders, one per relation: whatever the page size and
//! however many parents, a relation costs one SQL statement per level of
//! the query (connections: one for the pages, one for the totals if asked).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::{DateTime, Utc};
use entity::invitation::Status;
use entity::{agency, creator, membership};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::domain::Page;
use crate::domain::pages::{
    InvitationParent, InvitationRow, PageArgs, invitation_pages, member_pages,
};

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

/// One parent's page of invitations: parents that share the rest of the
/// key are loaded by one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvitationPageKey {
    pub parent: InvitationParent,
    pub id: Uuid,
    pub status: Option<Status>,
    pub args: PageArgs,
    /// Whether the query shows the invitations' creators: read with them.
    pub with_creators: bool,
    /// The request's instant: PENDING and EXPIRED are told apart by it,
    /// as every `status` of the same request is.
    pub now: DateTime<Utc>,
}

/// (parent, status, page arguments) → invitation pages.
pub struct InvitationPages(DatabaseConnection);

impl Loader<InvitationPageKey> for InvitationPages {
    type Value = Arc<Page<InvitationRow>>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[InvitationPageKey],
    ) -> Result<HashMap<InvitationPageKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<InvitationPageKey, Vec<Uuid>> = HashMap::new();
        for key in keys {
            let group = InvitationPageKey {
                id: Uuid::nil(),
                ..*key
            };
            groups.entry(group).or_default().push(key.id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (group, ids) in groups {
            let pages = invitation_pages(
                &self.0,
                group.parent,
                &ids,
                group.status,
                group.args,
                group.with_creators,
                group.now,
            )
            .await?;
            for (id, page) in pages {
                let key = InvitationPageKey { id, ..group };
                out.insert(key, Arc::new(page));
            }
        }
        Ok(out)
    }
}

/// (agency, page arguments) → member pages.
pub struct MemberPages(DatabaseConnection);

impl Loader<(Uuid, PageArgs)> for MemberPages {
    type Value = Arc<Page<(Uuid, creator::Model)>>;
    type Error = Arc<DbErr>;

    async fn load(
        &self,
        keys: &[(Uuid, PageArgs)],
    ) -> Result<HashMap<(Uuid, PageArgs), Self::Value>, Self::Error> {
        let mut groups: HashMap<PageArgs, Vec<Uuid>> = HashMap::new();
        for (id, args) in keys {
            groups.entry(*args).or_default().push(*id);
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (args, ids) in groups {
            for (id, page) in member_pages(&self.0, &ids, args).await? {
                out.insert((id, args), Arc::new(page));
            }
        }
        Ok(out)
    }
}

/// The loaders of one request.
pub struct Loaders {
    /// Cached for the request: pages that read their creators with them
    /// feed it.
    pub creator: DataLoader<CreatorById, HashMapCache>,
    pub agency: DataLoader<AgencyById>,
    pub agency_of_creator: DataLoader<AgencyOfCreator>,
    pub member_count: DataLoader<MemberCount>,
    pub invitation_pages: DataLoader<InvitationPages>,
    pub member_pages: DataLoader<MemberPages>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Self {
            creator: DataLoader::with_cache(
                CreatorById(db.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            agency: DataLoader::new(AgencyById(db.clone()), tokio::spawn),
            agency_of_creator: DataLoader::new(AgencyOfCreator(db.clone()), tokio::spawn),
            member_count: DataLoader::new(MemberCount(db.clone()), tokio::spawn),
            invitation_pages: DataLoader::new(InvitationPages(db.clone()), tokio::spawn),
            member_pages: DataLoader::new(MemberPages(db.clone()), tokio::spawn),
        }
    }
}
