//! `recommendedCreators`: the ranking's arguments in, ranked edges with
//! their explanations and reasons out.

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};

use super::answers::Holds;
use super::connection::{PageInfo, count, decode_cursor, encode_cursor, page_info, page_size};
use super::creator::{Category, Creator};
use super::error::{GqlResultExt, bad_user_input};
use super::ids::{self, NodeKind};
use super::{domain, judged, loaders, read_now, reader};
use crate::domain::recommendations::{FilterInput, RecommendationQuery, RecommendationService};
use crate::ranking;

const RECOMMENDATIONS_CURSOR: &str = "recommendations";

/// A signal of the ranking model. New values may be added.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "ranking::Signal")]
pub enum RankingSignal {
    CategoryFit,
    LanguageMatch,
    Audience,
    LiveActivity,
    Viewers,
    Engagement,
    Momentum,
    Monetization,
    Freshness,
}

/// One signal's part in a score.
#[derive(SimpleObject)]
#[graphql(serial)]
pub struct ScoreComponent {
    pub signal: RankingSignal,
    /// The creator's normalised signal, 0..1.
    pub value: f64,
    /// The weight used for this query.
    pub weight: f64,
    /// The share of the score; contributions sum to the score.
    pub contribution: f64,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct RecommendationEdge {
    pub cursor: String,
    pub node: Creator,
    /// 1-based position in the whole ranking.
    pub rank: i32,
    /// 0..1.
    pub score: f64,
    /// One entry per RankingSignal, zero weights included.
    pub explanation: Vec<ScoreComponent>,
    /// The strongest contributions in plain words.
    pub reasons: Vec<String>,
}

#[derive(SimpleObject)]
#[graphql(serial)]
pub struct RecommendationConnection {
    pub edges: Vec<RecommendationEdge>,
    pub page_info: PageInfo,
    /// Creators that passed every filter.
    pub total_candidates: i32,
}

#[derive(InputObject, Default)]
pub struct CreatorFilter {
    /// Narrows within the agency's own regions (default: all of them);
    /// others are BAD_USER_INPUT.
    pub regions: Option<Vec<String>>,
    /// Any of.
    pub languages: Option<Vec<String>>,
    /// Any of.
    pub categories: Option<Vec<Category>>,
    pub min_followers: Option<i32>,
    pub max_followers: Option<i32>,
    pub min_avg_viewers: Option<f64>,
    #[graphql(name = "minLiveDays30d")]
    pub min_live_days_30d: Option<i32>,
    /// Case-insensitive match on handle or display name.
    pub query: Option<String>,
    /// Default false: hide creators this agency already has a PENDING
    /// invitation for.
    pub include_invited: Option<bool>,
}

/// Each weight 0..10 (else BAD_USER_INPUT); an omitted weight keeps the
/// server's default; at least one must be > 0.
#[derive(InputObject, Default)]
pub struct RankingWeights {
    pub category_fit: Option<f64>,
    pub language_match: Option<f64>,
    pub audience: Option<f64>,
    pub live_activity: Option<f64>,
    pub viewers: Option<f64>,
    pub engagement: Option<f64>,
    pub momentum: Option<f64>,
    pub monetization: Option<f64>,
    pub freshness: Option<f64>,
}

impl RankingWeights {
    fn in_signal_order(&self) -> [Option<f64>; ranking::SIGNAL_COUNT] {
        [
            self.category_fit,
            self.language_match,
            self.audience,
            self.live_activity,
            self.viewers,
            self.engagement,
            self.momentum,
            self.monetization,
            self.freshness,
        ]
    }
}

/// The shortest decimal that reads back as the same `f32` (0.3, not
/// 0.30000001192092896).
fn decimal(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

#[derive(Default)]
pub struct RecommendationQueryRoot;

#[Object]
impl RecommendationQueryRoot {
    /// Discoverable, eligible creators ranked for one agency: score
    /// descending, then id. The agency itself and admins only.
    #[allow(clippy::too_many_arguments)]
    async fn recommended_creators(
        &self,
        ctx: &Context<'_>,
        agency_id: ID,
        filter: Option<CreatorFilter>,
        weights: Option<RankingWeights>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(
            desc = "0..1 (default 0): re-ranks so that one category cannot fill the page; 0 keeps pure score order."
        )]
        diversity: Option<f64>,
    ) -> async_graphql::Result<RecommendationConnection> {
        let viewer = reader(ctx)?;
        let agency_id = ids::decode(&agency_id, NodeKind::Agency).map_err(bad_user_input)?;
        let first = page_size(first)? as usize;
        let token = after
            .as_deref()
            .map(|c| decode_cursor(RECOMMENDATIONS_CURSOR, c))
            .transpose()?;
        let f = filter.unwrap_or_default();
        let query = RecommendationQuery {
            agency_id,
            filter: FilterInput {
                regions: f.regions,
                languages: f.languages,
                categories: f
                    .categories
                    .map(|cs| cs.into_iter().map(Into::into).collect()),
                min_followers: f.min_followers.map(i64::from),
                max_followers: f.max_followers.map(i64::from),
                min_avg_viewers: f.min_avg_viewers,
                min_live_days_30d: f.min_live_days_30d,
                query: f.query,
                include_invited: f.include_invited.unwrap_or(false),
            },
            weights: weights.unwrap_or_default().in_signal_order(),
            diversity,
            first,
            after: token,
            now: read_now(ctx),
        };
        // The index moves with every write and the scores with the minute.
        judged(ctx, Holds::Instant);
        let ranking = RecommendationService::new(domain(ctx))
            .recommend(viewer, query)
            .await
            .gql()?;
        let ids: Vec<uuid::Uuid> = ranking.items.iter().map(|r| r.id).collect();
        // Straight to the batch function: these are all the ids there will
        // be, so the DataLoader's batching window would only add latency.
        let mut creators = loaders(ctx).creator.loader().load(&ids).await.gql()?;
        let edges: Vec<RecommendationEdge> = ranking
            .items
            .into_iter()
            .filter_map(|r| {
                let node = creators.remove(&r.id)?;
                Some(RecommendationEdge {
                    cursor: encode_cursor(RECOMMENDATIONS_CURSOR, &r.cursor.to_token()),
                    node: Creator(node),
                    rank: i32::try_from(r.rank).unwrap_or(i32::MAX),
                    score: decimal(r.score),
                    explanation: r
                        .explanation
                        .iter()
                        .map(|c| ScoreComponent {
                            signal: c.signal.into(),
                            value: decimal(c.value),
                            weight: decimal(c.weight),
                            contribution: decimal(c.contribution),
                        })
                        .collect(),
                    reasons: r.reasons,
                })
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(RecommendationConnection {
            edges,
            page_info: page_info(&cursors, ranking.has_next, after.is_some()),
            total_candidates: count(ranking.total_candidates),
        })
    }
}
