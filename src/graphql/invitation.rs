//! Invitation type and the `invitation(id)` query.

use async_graphql::{Context, Enum, ID, Object};
use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};

use super::agency::Agency;
use super::creator::Creator;
use super::error::{GqlResultExt, INTERNAL_SERVER_ERROR, bad_user_input, coded};
use super::ids::{self, NodeKind};
use super::{db, loaders, reader};
use crate::domain::invitations::{InvitationService, effective_status};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "Status")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Declined,
    Withdrawn,
    Expired,
    Cancelled,
}

pub struct Invitation(pub invitation::Model);

/// An agency's invitation to a creator.
#[Object]
impl Invitation {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Invitation, self.0.id)
    }

    async fn agency(&self, ctx: &Context<'_>) -> async_graphql::Result<Agency> {
        loaders(ctx)
            .agency
            .load_one(self.0.agency_id)
            .await
            .gql()?
            .map(Agency)
            .ok_or_else(|| dangling("agency"))
    }

    async fn creator(&self, ctx: &Context<'_>) -> async_graphql::Result<Creator> {
        loaders(ctx)
            .creator
            .load_one(self.0.creator_id)
            .await
            .gql()?
            .map(Creator)
            .ok_or_else(|| dangling("creator"))
    }

    /// As of now: a PENDING invitation past `expiresAt` reads as EXPIRED.
    async fn status(&self) -> InvitationStatus {
        effective_status(&self.0, Utc::now()).into()
    }

    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.0.responded_at
    }
}

/// Foreign keys make this impossible; if it happens it is our bug.
fn dangling(what: &str) -> async_graphql::Error {
    tracing::error!(relation = what, "invitation refers to a missing row");
    coded("internal server error", INTERNAL_SERVER_ERROR)
}

#[derive(Default)]
pub struct InvitationQuery;

#[Object]
impl InvitationQuery {
    /// An invitation its creator, its agency or an admin may see; else null.
    async fn invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<Invitation>> {
        let viewer = reader(ctx)?;
        let uuid = ids::decode(&id, NodeKind::Invitation).map_err(bad_user_input)?;
        Ok(InvitationService::new(db(ctx))
            .find_visible(viewer, uuid)
            .await
            .gql()?
            .map(Invitation))
    }
}
