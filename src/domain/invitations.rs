//! Invitations: who may read one, and the status it reads as now.

use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use super::{DomainResult, Principal, Viewer};

/// The status as of `now`: a PENDING invitation past its expiry reads as
/// EXPIRED even before a sweep has persisted it.
pub fn effective_status(inv: &invitation::Model, now: DateTime<Utc>) -> Status {
    if inv.status == Status::Pending && now >= inv.expires_at {
        Status::Expired
    } else {
        inv.status
    }
}

/// Its creator, its agency and admins; nobody else learns it exists.
pub fn visible_to(viewer: &Viewer, inv: &invitation::Model) -> bool {
    match viewer.principal {
        Principal::Admin(_) => true,
        Principal::Creator(id) => id == inv.creator_id,
        Principal::Agency(id) => id == inv.agency_id,
        Principal::Anonymous => false,
    }
}

pub struct InvitationService<'a> {
    db: &'a DatabaseConnection,
}

impl<'a> InvitationService<'a> {
    pub fn new(db: &'a DatabaseConnection) -> Self {
        Self { db }
    }

    /// The invitation if the viewer may see it, else `None` as if absent.
    pub async fn find_visible(
        &self,
        viewer: &Viewer,
        id: Uuid,
    ) -> DomainResult<Option<invitation::Model>> {
        let found = invitation::Entity::find_by_id(id).one(self.db).await?;
        Ok(found.filter(|inv| visible_to(viewer, inv)))
    }
}
