//! Memberships: leaving an agency (member lists are in `pages`).

use entity::{creator, membership};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

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
            write.link_changed(
                ChangeKind::MembershipEnded,
                ended.id,
                creator_id,
                ended.agency_id,
            );
        }
        write.commit().await?;
        Ok(me)
    }
}
