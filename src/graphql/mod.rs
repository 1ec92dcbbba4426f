//! The GraphQL layer: schema building, thin resolvers (one module per
//! resource), DataLoaders, IDs, cursors and error mapping. Resolvers
//! translate arguments, call a domain service and map its answer; no rule
//! is decided here. A rule of the clock is judged at the request's one
//! instant (`read_now`), and the resolver says how long its answer holds
//! (`judged`), which decides how long the answer may be kept
//! ([`answers`]).
//!
//! Types whose fields are values already at hand (edges, connections,
//! stats, payloads) resolve them `serial`: one after the other, rather
//! than each as a task of a concurrent set. Nothing there waits, and a
//! ranked page or a dashboard resolves a thousand of them.

pub mod agency;
pub mod answers;
pub mod api;
pub mod connection;
pub mod cost;
pub mod creator;
pub mod error;
pub mod ids;
pub mod invitation;
pub mod limits;
pub mod loaders;
pub mod node;
pub mod observe;
pub mod persisted;
pub mod recommendation;
pub mod subscription;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema, SchemaBuilder};
use chrono::{DateTime, Utc};

use crate::config::LimitArgs;
use crate::domain::scopes::Scope;
use crate::domain::{Domain, Viewer};
use crate::rate_limit::RateLimiter;
use error::GqlResultExt;
pub use loaders::Loaders;

#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    node::NodeQuery,
    creator::CreatorQuery,
    agency::AgencyQuery,
    invitation::InvitationQuery,
    recommendation::RecommendationQueryRoot,
);

#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    creator::CreatorMutation,
    agency::AgencyMutation,
    invitation::InvitationMutation,
);

pub type AppSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, subscription::SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        subscription::SubscriptionRoot,
    )
}

/// Query text the persisted-query cache holds at most.
pub const PERSISTED_QUERY_BYTES: usize = 32 * 1024 * 1024;

/// The schema served over HTTP and websockets, with the domain, and what
/// every operation passes through on its way in and out.
pub fn build_api(domain: Domain, limits: &LimitArgs) -> api::Api {
    let builder = builder().data(domain.clone());
    let schema = if limits.no_introspection {
        builder.disable_introspection().finish()
    } else {
        builder.finish()
    };
    api::Api::new(
        schema,
        domain,
        persisted::PersistedQueries::new(PERSISTED_QUERY_BYTES),
        limits::Limits::new(
            &sdl(),
            RateLimiter::new(limits.rate_limit_capacity, limits.rate_limit_restore),
            limits,
        ),
        answers::Answers::new(limits.answer_cache_bytes),
    )
}

/// The SDL that `schema.graphql` holds.
pub fn sdl() -> String {
    builder().finish().sdl()
}

pub(crate) fn domain<'a>(ctx: &Context<'a>) -> &'a Domain {
    ctx.data_unchecked::<Domain>()
}

pub(crate) fn loaders<'a>(ctx: &Context<'a>) -> &'a Loaders {
    ctx.data_unchecked::<Loaders>()
}

/// The request's viewer; anonymous if the transport attached none.
pub(crate) fn viewer<'a>(ctx: &Context<'a>) -> &'a Viewer {
    ctx.data_opt::<Viewer>().unwrap_or(&Viewer::ANONYMOUS)
}

/// The instant this read judges the rules of the clock at: its request's
/// [`answers::AsOf`] (a subscription's events, which have none, are judged
/// as they come).
pub(crate) fn read_now(ctx: &Context<'_>) -> DateTime<Utc> {
    ctx.data_opt::<Arc<answers::AsOf>>()
        .map_or_else(Utc::now, |as_of| as_of.now())
}

/// What was just judged at [`read_now`] holds only `holds`.
pub(crate) fn judged(ctx: &Context<'_>, holds: answers::Holds) {
    if let Some(as_of) = ctx.data_opt::<Arc<answers::AsOf>>() {
        as_of.judged(holds);
    }
}

/// What the query just read: a kept answer of it holds until that changes.
/// Every resolver that reads the database names what it read, found or
/// not (a lookup that found nothing depends on what could appear).
pub(crate) fn read(ctx: &Context<'_>, scope: Scope) {
    if let Some(as_of) = ctx.data_opt::<Arc<answers::AsOf>>() {
        as_of.read(scope);
    }
}

/// The viewer of a query, after checking the token may read.
pub(crate) fn reader<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Viewer> {
    let viewer = viewer(ctx);
    viewer.require_read().gql()?;
    Ok(viewer)
}
