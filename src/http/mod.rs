//! The HTTP edge: routes, the GraphiQL page, health and readiness, and the
//! `Authorization` header turned into a [`Viewer`] for each request.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{AuthError, TokenKeys};
use crate::config::LimitArgs;
use crate::domain::Viewer;
use crate::graphql::error::{BAD_USER_INPUT, QUERY_TOO_COMPLEX, UNAUTHENTICATED};
use crate::graphql::{AppSchema, Loaders};

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    pub keys: TokenKeys,
}

pub fn router(state: AppState, limits: &LimitArgs) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
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

async fn graphiql() -> Html<String> {
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

async fn graphql(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    let header = headers
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let viewer = match state.keys.viewer_from_header(header) {
        Ok(viewer) => viewer,
        Err(e) => return unauthenticated(&e),
    };
    let request = request
        .into_inner()
        .data(viewer)
        .data(Loaders::new(&state.db));
    let mut response = state.schema.execute(request).await;
    for error in &mut response.errors {
        tag_with_code(error);
    }
    GraphQLResponse::from(response).into_response()
}

/// Errors raised by async-graphql itself (parse, validation, limits) carry
/// no code; ours always do. Give every error one so clients can branch.
fn tag_with_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    if has_code {
        return;
    }
    let code = if error.message.contains("nested too deep") || error.message.contains("too complex")
    {
        QUERY_TOO_COMPLEX
    } else {
        BAD_USER_INPUT
    };
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code);
}

fn unauthenticated(err: &AuthError) -> Response {
    let mut error = ServerError::new(err.to_string(), None);
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", UNAUTHENTICATED);
    let body = GraphQLResponse::from(async_graphql::Response::from_errors(vec![error]));
    (StatusCode::UNAUTHORIZED, body).into_response()
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
