//! Memberships: leaving an agency and listing an agency's members.

use entity::{creator, membership};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Page;
use super::store_errors::retrying;
use super::writes::ChangeKind;
use super::{Domain, DomainError, DomainResult, Principal, Refusal, RefusalCode, Viewer};

pub struct MembershipService<'a> {
    domain: &'a Domain,
}

impl<'a> MembershipService<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The viewer creator ends their membership; discoverability is unchanged.
    pub async fn leave(&self, viewer: &Viewer) -> DomainResult<creator::Model> {
        viewer.require_write()?;
        let Principal::Creator(creator_id) = viewer.principal else {
            return Err(DomainError::forbidden("only a creator leaves their agency"));
        };
        retrying(|| self.leave_once(creator_id)).await
    }

    async fn leave_once(&self, creator_id: Uuid) -> DomainResult<creator::Model> {
        let mut write = self.domain.begin_write().await?;
        let Some(me) = creator::Entity::find_by_id(creator_id)
            .lock_exclusive()
            .one(write.txn())
            .await?
        else {
            return Err(DomainError::refused(Refusal::not_found(&[], "creator")));
        };
        let removed = membership::Entity::delete_many()
            .filter(membership::Column::CreatorId.eq(creator_id))
            .exec_with_returning(write.txn())
            .await?;
        if removed.is_empty() {
            return Err(DomainError::refused(Refusal::new(
                RefusalCode::NotInAgency,
                &[],
                "the creator is not in an agency",
            )));
        }
        for ended in removed {
            write.changed(ChangeKind::MembershipEnded, ended.id, Some(creator_id));
        }
        write.commit().await?;
        Ok(me)
    }

    /// Members of an agency in the order they joined; the agency itself and
    /// admins only. `after` is the membership id of the previous page's last.
    pub async fn members(
        &self,
        viewer: &Viewer,
        agency_id: Uuid,
        first: u64,
        after: Option<Uuid>,
    ) -> DomainResult<Page<(Uuid, creator::Model)>> {
        viewer.require_agency(agency_id)?;
        let db = &self.domain.db;
        let total = membership::Entity::find()
            .filter(membership::Column::AgencyId.eq(agency_id))
            .count(db)
            .await?;
        let mut page = membership::Entity::find()
            .filter(membership::Column::AgencyId.eq(agency_id))
            .find_also_related(creator::Entity);
        if let Some(after) = after {
            page = page.filter(membership::Column::Id.gt(after));
        }
        let rows = page
            .order_by_asc(membership::Column::Id)
            .limit(first + 1)
            .all(db)
            .await?;
        let has_next = rows.len() as u64 > first;
        let items = rows
            .into_iter()
            .take(first as usize)
            .filter_map(|(m, c)| c.map(|c| (m.id, c)))
            .collect();
        Ok(Page {
            items,
            has_next,
            total,
        })
    }
}
