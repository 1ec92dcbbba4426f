//! The HTTP edge: routes, the GraphiQL explorer, health and readiness, and the
//! `Authorization` header turned into a [`Viewer`] for each request.

mod client_ip;
pub use client_ip::TrustedProxies;
pub mod explorer;
mod over_http;
mod socket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::TokenKeys;
use crate::config::LimitArgs;
use crate::domain::index::RankingIndex;
use crate::domain::{Principal, Viewer};
use crate::graphql::Loaders;
use crate::graphql::api::Api;
use crate::graphql::error::{BAD_USER_INPUT, UNAUTHENTICATED};
use crate::graphql::limits::RateKey;
use crate::metrics::{self, Metrics, Snapshot};
use over_http::Answer;

#[derive(Clone)]
pub struct AppState {
    pub api: Api,
    pub db: DatabaseConnection,
    pub keys: TokenKeys,
    pub sockets: Sockets,
    pub metrics: Arc<Metrics>,
    pub index: RankingIndex,
    pub explorer: explorer::Explorer,
    pub trusted_proxies: client_ip::TrustedProxies,
    /// Where readiness probes a database server (none for SQLite, a file
    /// the pool already has open).
    pub probe_url: Option<String>,
}

/// What websockets share with the server's lifecycle.
#[derive(Clone)]
pub struct Sockets {
    /// Turns true when the server stops: every socket closes (1001).
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// Held by each open socket; the server waits for every clone to drop.
    pub alive: tokio::sync::mpsc::Sender<()>,
}

/// The header a request id travels in, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest request id a client may choose.
const MAX_REQUEST_ID_CHARS: usize = 128;

pub fn router(state: AppState, limits: &LimitArgs) -> Router {
    let slow = limits.slow_request_threshold;
    let metrics = state.metrics.clone();
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            // At ERROR level, so that the span (and the request id on every
            // line inside it) survives whatever level the logs are filtered to.
            tracing::error_span!(
                "request",
                request_id = id,
                method = %request.method(),
                path = request.uri().path(),
                operation = tracing::field::Empty,
            )
        })
        .on_response(
            move |response: &Response, latency: Duration, span: &tracing::Span| {
                let status = response.status().as_u16();
                let ms = latency.as_secs_f64() * 1e3;
                span.in_scope(|| {
                    if latency >= slow {
                        metrics.slow_requests.inc();
                        tracing::warn!(status, latency_ms = ms, "slow request");
                    } else {
                        tracing::debug!(status, latency_ms = ms, "answered");
                    }
                });
            },
        );
    Router::new()
        .route("/graphql", get(graphiql_or_query).post(graphql))
        .route("/graphql/ws", get(socket::graphql_ws))
        .route(
            &format!("{}/{{file}}", explorer::ASSETS_PATH),
            get(explorer::serve_asset),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(drop_unfit_request_id))
        // Behind an Arc: each request's extractor clones one pointer, not
        // the schema, pool, keys and channels.
        .with_state(Arc::new(state))
}

/// A client's own request id is kept when it is short and plain (it goes
/// into every log line); any other is replaced by a fresh one.
async fn drop_unfit_request_id<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let fit = request.headers().get(REQUEST_ID).is_none_or(|v| {
        v.len() <= MAX_REQUEST_ID_CHARS
            && !v.is_empty()
            && v.as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !fit {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Prometheus metrics, with the readings taken now.
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let (pool_size, pool_idle) = crate::db::pool_usage(&state.db);
    let footprint = state.index.read().footprint();
    let text = state.metrics.render(Snapshot {
        index_creators: footprint.creators,
        index_bytes: footprint.scanned_bytes + footprint.name_bytes + footprint.other_bytes,
        pool_size,
        pool_idle,
        index_sync_age: state.index.sync_age(),
        change_log_rows_read: state.index.log_rows_read(),
        kept_answer_bytes: state.api.kept_answer_bytes(),
        kept_document_bytes: state.api.kept_document_bytes(),
    });
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// A browser asking for a page gets GraphiQL; anything else is a query
/// by GET.
async fn graphiql_or_query(
    state: State<Arc<AppState>>,
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
        return state.explorer.response();
    }
    graphql(state, method, uri, headers, peer, Bytes::new()).await
}

/// Process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the database: a load balancer's probe
/// gets its 503 well before its own timeout.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Database reachable: a load balancer may send traffic. The pool must
/// answer, and a database server also on a connection made for the probe
/// (a pooled session that outlived a restart proves nothing of it).
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let round_trip = async {
        let pooled = state.db.execute_unprepared("SELECT 1");
        match &state.probe_url {
            Some(url) => {
                let fresh = crate::db::probe(url, READINESS_TIMEOUT);
                futures_util::try_join!(pooled, fresh).map(|_| ())
            }
            None => pooled.await.map(|_| ()),
        }
    };
    let error = match tokio::time::timeout(READINESS_TIMEOUT, round_trip).await {
        Ok(Ok(())) => return (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {READINESS_TIMEOUT:?}"),
    };
    tracing::warn!(error, "readiness check failed");
    (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
}

/// `/graphql` by POST or GET: parameters read as GraphQL over HTTP says,
/// the token turned into a viewer, the caller's rate-limit key attached.
async fn graphql(
    State(state): State<Arc<AppState>>,
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
    let key = state.rate_key(
        &viewer,
        peer.map(|Extension(ConnectInfo(addr))| addr),
        &headers,
    );
    let request = request.data(key).data(viewer).data(Loaders::new(&state.db));
    over_http::respond(answer, state.api.answer(request).await)
}

impl AppState {
    /// Whose bucket a request draws on: the token's subject, else the
    /// client's address (all anonymous callers share one bucket when it
    /// is unknown).
    pub(crate) fn rate_key(
        &self,
        viewer: &Viewer,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> RateKey {
        RateKey(match &viewer.principal {
            Principal::Anonymous => match self.trusted_proxies.client(peer, headers) {
                Some(ip) => format!("ip:{ip}"),
                None => "ip:unknown".into(),
            },
            principal => principal.subject(),
        })
    }
}
