//! Agency type, the public directory and agency mutations.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::{agency, split_list};

use super::answers::Holds;
use super::connection::{
    PageInfo, count, decode_cursor, decode_id_cursor, encode_cursor, page_info, page_size,
};
use super::creator::{Category, Creator, CreatorConnection, CreatorEdge, categories_of};
use super::error::{GqlResultExt, UserError, bad_user_input, payload};
use super::ids::{self, NodeKind};
use super::invitation::{InvitationConnection, InvitationStatus, invitation_page};
use super::{domain, judged, loaders, read, read_now, reader, viewer};
use crate::domain::agencies::{AgencyService, AgencyUpdate, NewAgency};
use crate::domain::invitations::{InvitationService, Owner};
use crate::domain::pages::PageArgs;
use crate::domain::scopes::Scope;

pub struct Agency(pub agency::Model);

impl Agency {
    /// An agency a query read.
    pub fn read(ctx: &Context<'_>, model: agency::Model) -> Self {
        read(ctx, Scope::Agency(model.id));
        Self(model)
    }
}

/// A LIVE talent agency.
#[Object]
impl Agency {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Agency, self.0.id)
    }

    /// Unique, lowercase `[a-z0-9-]`, 2..40 characters.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The markets it recruits in (ISO 3166-1 alpha-2).
    async fn regions(&self) -> Vec<String> {
        split_list(&self.0.regions)
    }

    async fn languages(&self) -> Vec<String> {
        split_list(&self.0.languages)
    }

    async fn specialties(&self) -> Vec<Category> {
        categories_of(&self.0.specialties)
    }

    /// Most members it takes.
    async fn capacity(&self) -> i32 {
        self.0.capacity
    }

    async fn member_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        read(ctx, Scope::AgencyMembers(self.0.id));
        let count = loaders(ctx).member_count.load_one(self.0.id).await.gql()?;
        Ok(count.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)))
    }

    async fn verified(&self) -> bool {
        self.0.verified
    }

    /// The agency itself and admins only (others: FORBIDDEN and null).
    /// In the order they joined.
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<CreatorConnection>> {
        viewer(ctx).require_agency(self.0.id).gql()?;
        read(ctx, Scope::AgencyMembers(self.0.id));
        let args = PageArgs {
            first: page_size(first)?,
            after: decode_id_cursor(MEMBERS_CURSOR, after.as_deref())?,
            // The total is `memberCount`'s: one count for both.
            with_total: false,
        };
        let loaders = loaders(ctx);
        let page = loaders
            .member_pages
            .load_one((self.0.id, args))
            .await
            .gql()?
            .unwrap_or_default();
        let total = if ctx.look_ahead().field("totalCount").exists() {
            let n = loaders.member_count.load_one(self.0.id).await.gql()?;
            n.map_or(0, |n| u64::try_from(n).unwrap_or(0))
        } else {
            0
        };
        let edges: Vec<CreatorEdge> = page
            .items
            .iter()
            .map(|(membership_id, c)| CreatorEdge {
                cursor: encode_cursor(MEMBERS_CURSOR, &membership_id.to_string()),
                node: Creator::read(ctx, c.clone()),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(Some(CreatorConnection {
            edges,
            page_info: page_info(&cursors, page.has_next, after.is_some()),
            total_count: count(total),
        }))
    }

    /// The agency itself and admins only (others: FORBIDDEN and null).
    /// Newest first.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        status: Option<InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<InvitationConnection>> {
        invitation_page(ctx, Owner::Agency(self.0.id), status, first, after).await
    }

    /// The agency itself and admins only (others: FORBIDDEN and null).
    async fn invitation_quota(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<InvitationQuota>> {
        read(ctx, Scope::AgencyInvitations(self.0.id));
        let quota = InvitationService::new(domain(ctx))
            .quota(viewer(ctx), &self.0, read_now(ctx))
            .await
            .gql()?;
        judged(ctx, quota.changes_at.map_or(Holds::Always, Holds::Until));
        let int = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(Some(InvitationQuota {
            daily_limit: int(quota.daily_limit),
            used_last_24h: int(quota.used_last_24h),
            remaining: int(quota.remaining),
        }))
    }
}

/// Invitations an agency may still send in the rolling 24 hours.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct InvitationQuota {
    pub daily_limit: i32,
    #[graphql(name = "usedLast24h")]
    pub used_last_24h: i32,
    pub remaining: i32,
}

const MEMBERS_CURSOR: &str = "members";

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct AgencyEdge {
    pub cursor: String,
    pub node: Agency,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct AgencyConnection {
    pub edges: Vec<AgencyEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

const DIRECTORY_CURSOR: &str = "agencies";

#[derive(Default)]
pub struct AgencyQuery;

#[Object]
impl AgencyQuery {
    /// An agency by id or slug (exactly one). Agencies are public.
    async fn agency(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        slug: Option<String>,
    ) -> async_graphql::Result<Option<Agency>> {
        reader(ctx)?;
        let service = AgencyService::new(domain(ctx));
        let found = match (id, slug) {
            (Some(id), None) => {
                let uuid = ids::decode(&id, NodeKind::Agency).map_err(bad_user_input)?;
                read(ctx, Scope::Agency(uuid));
                service.find(uuid).await.gql()?
            }
            (None, Some(slug)) => {
                read(ctx, Scope::Agencies);
                service.find_by_slug(&slug).await.gql()?
            }
            _ => return Err(bad_user_input("pass exactly one of id and slug")),
        };
        Ok(found.map(|a| Agency::read(ctx, a)))
    }

    /// The public directory of agencies, by slug; region: those recruiting in it.
    async fn agencies(
        &self,
        ctx: &Context<'_>,
        region: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AgencyConnection> {
        reader(ctx)?;
        read(ctx, Scope::Agencies);
        let first = page_size(first)?;
        let after_key = after
            .as_deref()
            .map(|c| decode_cursor(DIRECTORY_CURSOR, c))
            .transpose()?;
        let page = AgencyService::new(domain(ctx))
            .directory(
                region.as_deref(),
                first,
                after_key.as_deref(),
                ctx.look_ahead().field("totalCount").exists(),
            )
            .await
            .gql()?;
        let edges: Vec<AgencyEdge> = page
            .items
            .into_iter()
            .map(|a| AgencyEdge {
                cursor: encode_cursor(DIRECTORY_CURSOR, &a.slug),
                node: Agency(a),
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(AgencyConnection {
            edges,
            page_info: page_info(&cursors, page.has_next, after.is_some()),
            total_count: count(page.total),
        })
    }
}

#[derive(InputObject)]
pub struct CreateAgencyInput {
    pub slug: String,
    pub name: String,
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    pub specialties: Vec<Category>,
    pub capacity: i32,
    /// Invitations per rolling 24 h; default 50.
    pub daily_invite_limit: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateAgencyInput {
    /// Admins only.
    pub agency_id: Option<ID>,
    pub name: Option<String>,
    /// Admins only.
    pub regions: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub specialties: Option<Vec<Category>>,
    /// Admins only.
    pub capacity: Option<i32>,
    /// Admins only.
    pub daily_invite_limit: Option<i32>,
    /// Admins only.
    pub verified: Option<bool>,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct AgencyPayload {
    pub agency: Option<Agency>,
    pub user_errors: Vec<UserError>,
}

impl AgencyPayload {
    fn from_result(
        result: crate::domain::DomainResult<agency::Model>,
    ) -> async_graphql::Result<Self> {
        let (agency, user_errors) = payload(result)?;
        Ok(Self {
            agency: agency.map(Agency),
            user_errors,
        })
    }
}

#[derive(Default)]
pub struct AgencyMutation;

#[Object]
impl AgencyMutation {
    /// Admins only.
    async fn create_agency(
        &self,
        ctx: &Context<'_>,
        input: CreateAgencyInput,
    ) -> async_graphql::Result<AgencyPayload> {
        let result = AgencyService::new(domain(ctx))
            .create(
                viewer(ctx),
                NewAgency {
                    slug: input.slug,
                    name: input.name,
                    regions: input.regions,
                    languages: input.languages,
                    specialties: input.specialties.into_iter().map(Into::into).collect(),
                    capacity: input.capacity,
                    daily_invite_limit: input.daily_invite_limit,
                },
            )
            .await;
        AgencyPayload::from_result(result)
    }

    /// The viewer agency edits itself; admins pass agencyId and may change
    /// regions, capacity, limits and verification.
    async fn update_agency(
        &self,
        ctx: &Context<'_>,
        input: UpdateAgencyInput,
    ) -> async_graphql::Result<AgencyPayload> {
        let agency_id = input
            .agency_id
            .as_deref()
            .map(|id| ids::decode(id, NodeKind::Agency));
        let result = AgencyService::new(domain(ctx))
            .update(
                viewer(ctx),
                AgencyUpdate {
                    agency_id,
                    name: input.name,
                    regions: input.regions,
                    languages: input.languages,
                    specialties: input
                        .specialties
                        .map(|s| s.into_iter().map(Into::into).collect()),
                    capacity: input.capacity,
                    daily_invite_limit: input.daily_invite_limit,
                    verified: input.verified,
                },
            )
            .await;
        AgencyPayload::from_result(result)
    }
}
