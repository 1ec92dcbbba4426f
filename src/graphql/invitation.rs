//! Invitation type, its connection, the lifecycle mutations and the
//! eligibility check.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};

use super::agency::Agency;
use super::answers::Holds;
use super::connection::{PageInfo, count, decode_id_cursor, encode_cursor, page_info, page_size};
use super::creator::Creator;
use super::error::{
    GqlResultExt, INTERNAL_SERVER_ERROR, UserError, UserErrorCode, bad_user_input, coded, payload,
};
use super::ids::{self, NodeKind};
use super::loaders::InvitationPageKey;
use super::{domain, judged, loaders, read, read_now, reader, viewer};
use crate::domain::invitations::{
    InvitationService, Owner, SendInvitation, effective_status, require_list_access,
    status_changes_at, status_reads_by_clock,
};
use crate::domain::pages::{InvitationParent, PageArgs};
use crate::domain::scopes::Scope;
use crate::domain::{DomainError, Refusal};

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

// `serial`: a page resolves hundreds of invitations, mostly their own
// fields; `agency` and `creator` asked together load one after the
// other, each still one statement for the whole page.
/// An agency's invitation to a creator.
#[Object(serial)]
impl Invitation {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Invitation, self.0.id)
    }

    async fn agency(&self, ctx: &Context<'_>) -> async_graphql::Result<Agency> {
        read(ctx, Scope::Agency(self.0.agency_id));
        loaders(ctx)
            .agency
            .load_one(self.0.agency_id)
            .await
            .gql()?
            .map(Agency)
            .ok_or_else(|| dangling("agency"))
    }

    async fn creator(&self, ctx: &Context<'_>) -> async_graphql::Result<Creator> {
        read(ctx, Scope::Creator(self.0.creator_id));
        loaders(ctx)
            .creator
            .load_one(self.0.creator_id)
            .await
            .gql()?
            .map(Creator)
            .ok_or_else(|| dangling("creator"))
    }

    /// As of now: a PENDING invitation past `expiresAt` reads as EXPIRED.
    async fn status(&self, ctx: &Context<'_>) -> InvitationStatus {
        let now = read_now(ctx);
        judged(
            ctx,
            status_changes_at(&self.0, now).map_or(Holds::Always, Holds::Until),
        );
        effective_status(&self.0, now).into()
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

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct InvitationEdge {
    pub cursor: String,
    pub node: Invitation,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct InvitationConnection {
    pub edges: Vec<InvitationEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

const INVITATIONS_CURSOR: &str = "invitations";

/// One page of a creator's or an agency's invitations, newest first.
pub async fn invitation_page(
    ctx: &Context<'_>,
    owner: Owner,
    status: Option<InvitationStatus>,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<Option<InvitationConnection>> {
    require_list_access(viewer(ctx), owner).gql()?;
    let status: Option<Status> = status.map(Into::into);
    if status.is_some_and(status_reads_by_clock) {
        judged(ctx, Holds::Instant);
    }
    let (parent, id) = match owner {
        Owner::Creator(id) => (InvitationParent::Creator, id),
        Owner::Agency(id) => (InvitationParent::Agency, id),
    };
    read(
        ctx,
        match owner {
            Owner::Creator(id) => Scope::CreatorInvitations(id),
            Owner::Agency(id) => Scope::AgencyInvitations(id),
        },
    );
    let key = InvitationPageKey {
        parent,
        id,
        status,
        args: PageArgs {
            first: page_size(first)?,
            after: decode_id_cursor(INVITATIONS_CURSOR, after.as_deref())?,
            with_total: ctx.look_ahead().field("totalCount").exists(),
        },
        with_creators: ctx
            .look_ahead()
            .field("edges")
            .field("node")
            .field("creator")
            .exists(),
        now: read_now(ctx),
    };
    let loaders = loaders(ctx);
    let page = loaders
        .invitation_pages
        .load_one(key)
        .await
        .gql()?
        .unwrap_or_default();
    loaders
        .creator
        .feed_many(
            page.items
                .iter()
                .filter_map(|(_, creator)| Some((creator.as_ref()?.id, creator.clone()?))),
        )
        .await;
    let edges: Vec<InvitationEdge> = page
        .items
        .iter()
        .map(|(inv, _)| InvitationEdge {
            cursor: encode_cursor(INVITATIONS_CURSOR, &inv.id.to_string()),
            node: Invitation(inv.clone()),
        })
        .collect();
    let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
    Ok(Some(InvitationConnection {
        edges,
        page_info: page_info(&cursors, page.has_next, after.is_some()),
        total_count: count(page.total),
    }))
}

/// Whether an agency may invite a creator now, and if not, why.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct Eligibility {
    pub creator_id: ID,
    pub invitable: bool,
    /// Null when invitable.
    pub reason: Option<UserErrorCode>,
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
        read(ctx, Scope::Invitation(uuid));
        Ok(InvitationService::new(domain(ctx))
            .find_visible(viewer, uuid)
            .await
            .gql()?
            .map(Invitation))
    }

    /// At most 100 ids a call, answered in input order; the agency itself
    /// and admins only. The same rules as `sendInvitation`.
    async fn invitation_eligibility(
        &self,
        ctx: &Context<'_>,
        agency_id: ID,
        creator_ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Eligibility>> {
        let viewer = reader(ctx)?;
        let agency = ids::decode(&agency_id, NodeKind::Agency).map_err(bad_user_input)?;
        let creators = creator_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                ids::decode(id, NodeKind::Creator)
                    .map_err(|m| bad_user_input(format!("creatorIds[{i}]: {m}")))
            })
            .collect::<async_graphql::Result<Vec<_>>>()?;
        judged(ctx, Holds::Instant);
        let reasons = InvitationService::new(domain(ctx))
            .check(viewer, agency, &creators, read_now(ctx))
            .await
            .gql()?;
        Ok(creator_ids
            .into_iter()
            .zip(reasons)
            .map(|(creator_id, reason)| Eligibility {
                creator_id,
                invitable: reason.is_none(),
                reason: reason.map(Into::into),
            })
            .collect())
    }
}

#[derive(InputObject)]
pub struct SendInvitationInput {
    pub creator_id: ID,
    /// At most 500 characters (Unicode scalar values); line breaks allowed,
    /// other control characters refused.
    pub message: Option<String>,
    /// Admins only; an agency always invites as itself.
    pub agency_id: Option<ID>,
    /// A retry with the same key returns the first result.
    pub idempotency_key: Option<String>,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct InvitationPayload {
    pub invitation: Option<Invitation>,
    pub user_errors: Vec<UserError>,
}

impl InvitationPayload {
    fn from_result(
        result: crate::domain::DomainResult<invitation::Model>,
    ) -> async_graphql::Result<Self> {
        let (invitation, user_errors) = payload(result)?;
        Ok(Self {
            invitation: invitation.map(Invitation),
            user_errors,
        })
    }
}

/// The answers to a PENDING invitation.
enum Answer {
    Accept,
    Decline,
    Withdraw,
}

/// Runs an answer; a malformed id is INVALID_INPUT at `id`.
async fn answer(
    ctx: &Context<'_>,
    id: &ID,
    answer: Answer,
) -> async_graphql::Result<InvitationPayload> {
    let service = InvitationService::new(domain(ctx));
    let viewer = viewer(ctx);
    let result = match ids::decode(id, NodeKind::Invitation) {
        Err(msg) => Err(DomainError::refused(Refusal::invalid(&["id"], msg))),
        Ok(uuid) => match answer {
            Answer::Accept => service.accept(viewer, uuid).await,
            Answer::Decline => service.decline(viewer, uuid).await,
            Answer::Withdraw => service.withdraw(viewer, uuid).await,
        },
    };
    InvitationPayload::from_result(result)
}

#[derive(Default)]
pub struct InvitationMutation;

#[Object]
impl InvitationMutation {
    /// An agency (or an admin on its behalf, with agencyId) invites a creator.
    async fn send_invitation(
        &self,
        ctx: &Context<'_>,
        input: SendInvitationInput,
    ) -> async_graphql::Result<InvitationPayload> {
        let result = InvitationService::new(domain(ctx))
            .send(
                viewer(ctx),
                SendInvitation {
                    creator_id: ids::decode(&input.creator_id, NodeKind::Creator),
                    message: input.message,
                    agency_id: input
                        .agency_id
                        .as_deref()
                        .map(|id| ids::decode(id, NodeKind::Agency)),
                    idempotency_key: input.idempotency_key,
                },
            )
            .await;
        InvitationPayload::from_result(result)
    }

    /// The inviting agency takes back a PENDING invitation.
    async fn withdraw_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<InvitationPayload> {
        answer(ctx, &id, Answer::Withdraw).await
    }

    /// The invited creator joins the agency.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<InvitationPayload> {
        answer(ctx, &id, Answer::Accept).await
    }

    /// The invited creator says no (the agency may not invite again for 30 days).
    async fn decline_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<InvitationPayload> {
        answer(ctx, &id, Answer::Decline).await
    }
}
