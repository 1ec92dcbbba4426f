//! Creator type, its queries and its admin mutations.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{creator, split_list};

use super::agency::Agency;
use super::connection::PageInfo;
use super::error::{GqlResultExt, UserError, bad_user_input, payload};
use super::ids::{self, NodeKind};
use super::invitation::{InvitationConnection, InvitationStatus, invitation_page};
use super::{domain, loaders, read, reader, viewer};
use crate::domain::creators::{CreatorService, NewCreator, ProfileUpdate, StatsRow};
use crate::domain::invitations::Owner;
use crate::domain::memberships::MembershipService;
use crate::domain::scopes::Scope;
use crate::domain::{Viewer, values};

/// Content categories.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "values::Category")]
pub enum Category {
    Art,
    Beauty,
    Comedy,
    Dance,
    Education,
    Fashion,
    Fitness,
    Food,
    Gaming,
    Lifestyle,
    Music,
    Shopping,
    Sports,
    Tech,
    Travel,
}

pub fn categories_of(stored: &str) -> Vec<Category> {
    values::Category::parse_stored(stored)
        .into_iter()
        .map(Into::into)
        .collect()
}

fn to_domain(categories: Vec<Category>) -> Vec<values::Category> {
    categories.into_iter().map(Into::into).collect()
}

pub struct Creator(pub creator::Model);

impl Creator {
    /// A creator a query read.
    pub fn read(ctx: &Context<'_>, model: creator::Model) -> Self {
        read(ctx, Scope::Creator(model.id));
        Self(model)
    }

    /// The creator found by a lookup, if the viewer may see them.
    pub async fn visible(
        ctx: &Context<'_>,
        viewer: &Viewer,
        found: Option<creator::Model>,
    ) -> async_graphql::Result<Option<Self>> {
        let Some(found) = found else {
            return Ok(None);
        };
        read(ctx, Scope::Creator(found.id));
        for scope in CreatorService::visibility_reads(viewer) {
            read(ctx, scope);
        }
        let visible = CreatorService::new(domain(ctx))
            .visible_to(viewer, &found)
            .await
            .gql()?;
        Ok(visible.then_some(Self(found)))
    }
}

// `serial`: a dashboard resolves hundreds of creators, mostly their own
// fields; `agency` and `invitations` asked together load one after the
// other, each still one statement for all the creators of the page.
/// A LIVE creator.
#[Object(serial)]
impl Creator {
    pub async fn id(&self) -> ID {
        ids::encode(NodeKind::Creator, self.0.id)
    }

    /// Unique, lowercase `[a-z0-9._]`, 2..24 characters.
    async fn handle(&self) -> &str {
        &self.0.handle
    }

    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// ISO 3166-1 alpha-2, upper case.
    async fn region(&self) -> &str {
        &self.0.region
    }

    /// ISO 639-1, lower case.
    async fn languages(&self) -> Vec<String> {
        split_list(&self.0.languages)
    }

    async fn categories(&self) -> Vec<Category> {
        categories_of(&self.0.categories)
    }

    /// The "Agency invitation" switch.
    async fn discoverable(&self) -> bool {
        self.0.discoverable
    }

    /// When the switch was last turned on; null while off.
    async fn discoverable_since(&self) -> Option<DateTime<Utc>> {
        self.0.discoverable_since
    }

    async fn stats(&self) -> LiveStats {
        LiveStats::from(&self.0)
    }

    /// The agency network the creator belongs to, if any.
    async fn agency(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Agency>> {
        let loaders = loaders(ctx);
        read(ctx, Scope::CreatorMembership(self.0.id));
        let Some(agency_id) = loaders.agency_of_creator.load_one(self.0.id).await.gql()? else {
            return Ok(None);
        };
        read(ctx, Scope::Agency(agency_id));
        Ok(loaders.agency.load_one(agency_id).await.gql()?.map(Agency))
    }

    /// Only the creator themself and admins may read this; others get
    /// FORBIDDEN and null. Newest first.
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        status: Option<InvitationStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Option<InvitationConnection>> {
        invitation_page(ctx, Owner::Creator(self.0.id), status, first, after).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct CreatorEdge {
    pub cursor: String,
    pub node: Creator,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct CreatorConnection {
    pub edges: Vec<CreatorEdge>,
    pub page_info: PageInfo,
    pub total_count: i32,
}

/// LIVE figures over the last 30 days (followers: current).
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct LiveStats {
    followers: i32,
    avg_viewers: f64,
    peak_viewers: i32,
    #[graphql(name = "liveHours30d")]
    live_hours_30d: f64,
    /// Days with a valid LIVE, 0..30.
    #[graphql(name = "liveDays30d")]
    live_days_30d: i32,
    /// Gifts received.
    #[graphql(name = "diamonds30d")]
    diamonds_30d: i32,
    /// Fraction, e.g. 0.12 = +12 %.
    #[graphql(name = "followerGrowth30d")]
    follower_growth_30d: f64,
    /// Fraction, 0..1.
    engagement_rate: f64,
    updated_at: DateTime<Utc>,
}

fn saturating_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

impl From<&creator::Model> for LiveStats {
    fn from(m: &creator::Model) -> Self {
        Self {
            followers: saturating_i32(m.followers),
            avg_viewers: m.avg_viewers,
            peak_viewers: saturating_i32(m.peak_viewers),
            live_hours_30d: m.live_hours_30d,
            live_days_30d: m.live_days_30d,
            diamonds_30d: saturating_i32(m.diamonds_30d),
            follower_growth_30d: m.follower_growth_30d,
            engagement_rate: m.engagement_rate,
            updated_at: m.stats_updated_at,
        }
    }
}

#[derive(Default)]
pub struct CreatorQuery;

#[Object]
impl CreatorQuery {
    /// A creator by id or handle (exactly one); null if absent or not
    /// visible to the viewer.
    async fn creator(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
        handle: Option<String>,
    ) -> async_graphql::Result<Option<Creator>> {
        let viewer = reader(ctx)?;
        let service = CreatorService::new(domain(ctx));
        let found = match (id, handle) {
            (Some(id), None) => {
                let uuid = ids::decode(&id, NodeKind::Creator).map_err(bad_user_input)?;
                read(ctx, Scope::Creator(uuid));
                service.find(uuid).await.gql()?
            }
            (None, Some(handle)) => {
                read(ctx, Scope::Creators);
                service.find_by_handle(&handle).await.gql()?
            }
            _ => return Err(bad_user_input("pass exactly one of id and handle")),
        };
        Creator::visible(ctx, viewer, found).await
    }
}

#[derive(InputObject)]
pub struct CreateCreatorInput {
    pub handle: String,
    pub display_name: String,
    pub region: String,
    pub languages: Vec<String>,
    pub categories: Vec<Category>,
    /// YYYY-MM-DD; creators under 18 are NOT_ELIGIBLE for invitations.
    pub birth_date: String,
}

#[derive(InputObject)]
pub struct UpdateCreatorProfileInput {
    /// Admins only.
    pub creator_id: Option<ID>,
    pub display_name: Option<String>,
    pub languages: Option<Vec<String>>,
    pub categories: Option<Vec<Category>>,
}

#[derive(InputObject)]
pub struct CreatorStatsInput {
    pub creator_id: ID,
    pub followers: i32,
    pub avg_viewers: f64,
    pub peak_viewers: i32,
    #[graphql(name = "liveHours30d")]
    pub live_hours_30d: f64,
    #[graphql(name = "liveDays30d")]
    pub live_days_30d: i32,
    #[graphql(name = "diamonds30d")]
    pub diamonds_30d: i32,
    #[graphql(name = "followerGrowth30d")]
    pub follower_growth_30d: f64,
    pub engagement_rate: f64,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct CreatorPayload {
    pub creator: Option<Creator>,
    pub user_errors: Vec<UserError>,
}

impl CreatorPayload {
    fn from_result(
        result: crate::domain::DomainResult<creator::Model>,
    ) -> async_graphql::Result<Self> {
        let (creator, user_errors) = payload(result)?;
        Ok(Self {
            creator: creator.map(Creator),
            user_errors,
        })
    }
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct UpsertStatsPayload {
    /// Rows written.
    pub updated: i32,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct DiscoverabilityPayload {
    pub creator: Option<Creator>,
    pub user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct CreatorMutation;

#[Object]
impl CreatorMutation {
    /// The viewer creator switches Agency invitation on or off (admins may
    /// pass creatorId). Idempotent.
    async fn set_discoverable(
        &self,
        ctx: &Context<'_>,
        discoverable: bool,
        creator_id: Option<ID>,
    ) -> async_graphql::Result<DiscoverabilityPayload> {
        let named = creator_id
            .as_deref()
            .map(|id| ids::decode(id, NodeKind::Creator));
        let result = CreatorService::new(domain(ctx))
            .set_discoverable(viewer(ctx), discoverable, named)
            .await;
        let (creator, user_errors) = payload(result)?;
        Ok(DiscoverabilityPayload {
            creator: creator.map(Creator),
            user_errors,
        })
    }

    /// The viewer creator leaves their agency; discoverability is unchanged.
    async fn leave_agency(&self, ctx: &Context<'_>) -> async_graphql::Result<CreatorPayload> {
        CreatorPayload::from_result(MembershipService::new(domain(ctx)).leave(viewer(ctx)).await)
    }

    /// Admins only.
    async fn create_creator(
        &self,
        ctx: &Context<'_>,
        input: CreateCreatorInput,
    ) -> async_graphql::Result<CreatorPayload> {
        let viewer = viewer(ctx);
        let result = CreatorService::new(domain(ctx))
            .create(
                viewer,
                NewCreator {
                    handle: input.handle,
                    display_name: input.display_name,
                    region: input.region,
                    languages: input.languages,
                    categories: to_domain(input.categories),
                    birth_date: input.birth_date,
                },
            )
            .await;
        CreatorPayload::from_result(result)
    }

    /// The viewer creator edits their profile (admins pass creatorId).
    async fn update_creator_profile(
        &self,
        ctx: &Context<'_>,
        input: UpdateCreatorProfileInput,
    ) -> async_graphql::Result<CreatorPayload> {
        let viewer = viewer(ctx);
        let creator_id = input
            .creator_id
            .as_deref()
            .map(|id| ids::decode(id, NodeKind::Creator));
        let result = CreatorService::new(domain(ctx))
            .update_profile(
                viewer,
                ProfileUpdate {
                    creator_id,
                    display_name: input.display_name,
                    languages: input.languages,
                    categories: input.categories.map(to_domain),
                },
            )
            .await;
        CreatorPayload::from_result(result)
    }

    /// Batch ingestion of LIVE figures by admins or tokens with scope
    /// ingest; 1..1000 rows, all or nothing.
    async fn upsert_creator_stats(
        &self,
        ctx: &Context<'_>,
        input: Vec<CreatorStatsInput>,
    ) -> async_graphql::Result<UpsertStatsPayload> {
        let viewer = viewer(ctx);
        let rows = input
            .into_iter()
            .map(|r| StatsRow {
                creator_id: ids::decode(&r.creator_id, NodeKind::Creator),
                followers: r.followers.into(),
                avg_viewers: r.avg_viewers,
                peak_viewers: r.peak_viewers.into(),
                live_hours_30d: r.live_hours_30d,
                live_days_30d: r.live_days_30d,
                diamonds_30d: r.diamonds_30d.into(),
                follower_growth_30d: r.follower_growth_30d,
                engagement_rate: r.engagement_rate,
            })
            .collect();
        let (updated, user_errors) = payload(
            CreatorService::new(domain(ctx))
                .upsert_stats(viewer, rows)
                .await,
        )?;
        Ok(UpsertStatsPayload {
            updated: updated.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
            user_errors,
        })
    }
}
