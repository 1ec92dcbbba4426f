//! Relay `Node` lookup and the `viewer` query.

use async_graphql::{Context, Enum, ID, Interface, Object, SimpleObject};

use super::agency::Agency;
use super::creator::Creator;
use super::error::{GqlResultExt, bad_user_input};
use super::ids::{self, NodeKind};
use super::invitation::Invitation;
use super::{domain, read, reader};
use crate::domain::agencies::AgencyService;
use crate::domain::creators::CreatorService;
use crate::domain::invitations::InvitationService;
use crate::domain::scopes::Scope;
use crate::domain::{self, Principal};

/// Relay global object identification: opaque, typed IDs.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Creator(Creator),
    Agency(Agency),
    Invitation(Invitation),
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "domain::Role")]
pub enum Role {
    Anonymous,
    Creator,
    Agency,
    Admin,
}

/// Who the request is made as.
#[derive(SimpleObject)]
#[graphql(name = "Viewer", serial)]
pub struct ViewerInfo {
    pub role: Role,
    /// Set when role = CREATOR.
    pub creator: Option<Creator>,
    /// Set when role = AGENCY.
    pub agency: Option<Agency>,
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by global ID; null if absent or not visible to the viewer.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let viewer = reader(ctx)?;
        let domain = domain(ctx);
        let (kind, uuid) = ids::decode_any(&id).map_err(bad_user_input)?;
        Ok(match kind {
            NodeKind::Creator => {
                read(ctx, Scope::Creator(uuid));
                let found = CreatorService::new(domain).find(uuid).await.gql()?;
                Creator::visible(ctx, viewer, found)
                    .await?
                    .map(Node::Creator)
            }
            NodeKind::Agency => {
                read(ctx, Scope::Agency(uuid));
                AgencyService::new(domain)
                    .find(uuid)
                    .await
                    .gql()?
                    .map(|a| Node::Agency(Agency(a)))
            }
            NodeKind::Invitation => {
                read(ctx, Scope::Invitation(uuid));
                InvitationService::new(domain)
                    .find_visible(viewer, uuid)
                    .await
                    .gql()?
                    .map(|i| Node::Invitation(Invitation(i)))
            }
        })
    }

    /// The caller: role, and their creator or agency profile.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<ViewerInfo> {
        let viewer = reader(ctx)?;
        let domain = domain(ctx);
        let (creator, agency) = match viewer.principal {
            Principal::Creator(id) => {
                read(ctx, Scope::Creator(id));
                let creator = CreatorService::new(domain).find(id).await.gql()?;
                (creator.map(Creator), None)
            }
            Principal::Agency(id) => {
                read(ctx, Scope::Agency(id));
                let agency = AgencyService::new(domain).find(id).await.gql()?;
                (None, agency.map(Agency))
            }
            _ => (None, None),
        };
        Ok(ViewerInfo {
            role: viewer.role().into(),
            creator,
            agency,
        })
    }
}
