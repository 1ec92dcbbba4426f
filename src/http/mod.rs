//! The HTTP edge: routes, the GraphiQL page, health and readiness, and the
//! `Authorization` header turned into a [`Viewer`] for each request.

mod over_http;

use std::net::SocketAddr;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::header::{ACCEPT, AUTHORIZATION};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{AuthError, TokenKeys};
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
}

pub fn router(state: AppState, limits: &LimitArgs) -> Router {
    Router::new()
        .route("/graphql", get(graphiql_or_query).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
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
fn rate_key(viewer: &Viewer, peer: Option<SocketAddr>) -> RateKey {
    RateKey(match &viewer.principal {
        Principal::Anonymous => match peer {
            Some(addr) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".into(),
        },
        principal => principal.subject(),
    })
}

/// graphql-transport-ws (and the legacy protocol); the token travels in the
/// `connection_init` payload, since browsers cannot set headers on sockets.
async fn graphql_ws(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol))
}

/// Reads `connection_init` first so a bad token closes the socket with
/// 4403 (graphql-transport-ws "Forbidden") before anything is executed;
/// the message is then handed on to async-graphql's protocol handler.
async fn serve_socket(socket: WebSocket, state: AppState, protocol: GraphQLProtocol) {
    let (mut sink, mut stream) = socket.split();
    let first = match tokio::time::timeout(CONNECTION_INIT_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(message))) => message,
        Ok(_) => return,
        Err(_) => {
            let _ = sink
                .send(close(4408, "connection initialisation timeout"))
                .await;
            return;
        }
    };
    let viewer = match viewer_from_init(&state.keys, &first) {
        Ok(viewer) => viewer,
        Err(e) => {
            let _ = sink.send(close(4403, &e.to_string())).await;
            return;
        }
    };
    let mut data = Data::default();
    data.insert(viewer);
    data.insert(Loaders::new(&state.db));
    let stream = futures_util::stream::once(async move { Ok(first) }).chain(stream);
    GraphQLWebSocket::new_with_pair(sink, stream, state.schema, protocol)
        .with_data(data)
        .serve()
        .await;
}

const CONNECTION_INIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The viewer named by a `connection_init` payload's `Authorization`; no
/// token is an anonymous viewer. Anything but `connection_init` is left to
/// the protocol handler, which refuses it.
fn viewer_from_init(keys: &TokenKeys, message: &Message) -> Result<Viewer, AuthError> {
    let Message::Text(text) = message else {
        return Ok(Viewer::ANONYMOUS);
    };
    let Ok(init) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(Viewer::ANONYMOUS);
    };
    let header = init["payload"]
        .get("Authorization")
        .or_else(|| init["payload"].get("authorization"))
        .map(|v| v.as_str().ok_or(AuthError::MalformedHeader))
        .transpose()?;
    keys.viewer_from_header(header)
}
