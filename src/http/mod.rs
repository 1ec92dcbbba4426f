//! The HTTP edge: routes, the GraphiQL page, health and readiness, and the
//! `Authorization` header turned into a [`Viewer`] for each request.

mod over_http;
mod socket;

use std::net::SocketAddr;

use async_graphql::http::GraphiQLSource;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ACCEPT, AUTHORIZATION};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::TokenKeys;
use crate::config::LimitArgs;
use crate::domain::{Principal, Viewer};
use crate::graphql::error::{BAD_USER_INPUT, UNAUTHENTICATED};
use crate::graphql::limits::RateKey;
use crate::graphql::{AppSchema, Loaders};
use over_http::Answer;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    pub keys: TokenKeys,
    pub sockets: Sockets,
}

/// What websockets share with the server's lifecycle.
#[derive(Clone)]
pub struct Sockets {
    /// Turns true when the server stops: every socket closes (1001).
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Held by each open socket; the server waits for every clone to drop.
    pub alive: tokio::sync::mpsc::Sender<()>,
}

pub fn router(state: AppState, limits: &LimitArgs) -> Router {
    Router::new()
        .route("/graphql", get(graphiql_or_query).post(graphql))
        .route("/graphql/ws", get(socket::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A browser asking for a page gets GraphiQL; anything else is a query
/// by GET.
async fn graphiql_or_query(
    state: State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    let wants_page = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_page && uri.query().is_none_or(|q| !q.contains("query=")) {
        return graphiql().into_response();
    }
    graphql(state, method, uri, headers, peer, Bytes::new()).await
}

fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql/ws")
            .title("Agency Center")
            .finish(),
    )
}

/// Process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// Database reachable: a load balancer may send traffic.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// `/graphql` by POST or GET: parameters read as GraphQL over HTTP says,
/// the token turned into a viewer, the caller's rate-limit key attached.
async fn graphql(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let Some(answer) = Answer::negotiate(accept) else {
        return over_http::error_response(
            Answer::Json,
            StatusCode::NOT_ACCEPTABLE,
            "accept application/graphql-response+json or application/json".into(),
            BAD_USER_INPUT,
        );
    };
    let header = headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let viewer = match state.keys.viewer_from_header(header) {
        Ok(viewer) => viewer,
        Err(e) => {
            return over_http::error_response(
                answer,
                StatusCode::UNAUTHORIZED,
                e.to_string(),
                UNAUTHENTICATED,
            );
        }
    };
    let request = match over_http::parse(&method, &headers, &uri, &body) {
        Ok(request) => request,
        Err(why) => return over_http::refused(answer, why),
    };
    let key = rate_key(&viewer, peer.map(|Extension(ConnectInfo(addr))| addr));
    let request = request.data(key).data(viewer).data(Loaders::new(&state.db));
    over_http::respond(answer, state.schema.execute(request).await)
}

/// Whose bucket a request draws on: the token's subject, else the client's
/// address (all anonymous callers share one bucket when it is unknown).
pub(crate) fn rate_key(viewer: &Viewer, peer: Option<SocketAddr>) -> RateKey {
    RateKey(match &viewer.principal {
        Principal::Anonymous => match peer {
            Some(addr) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".into(),
        },
        principal => principal.subject(),
    })
}
