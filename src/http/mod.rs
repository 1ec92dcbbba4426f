//! The HTTP edge: routes, the GraphiQL page, health and readiness, and the
//! `Authorization` header turned into a [`Viewer`] for each request.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, ErrorExtensionValues, ServerError};
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{AuthError, TokenKeys};
use crate::domain::Viewer;
use crate::graphql::error::{BAD_USER_INPUT, QUERY_TOO_COMPLEX, UNAUTHENTICATED};
use crate::graphql::{AppSchema, Loaders};

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    pub keys: TokenKeys,
}

pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
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
        .on_upgrade(move |socket| {
            let AppState { schema, db, keys } = state;
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let header = payload
                        .get("Authorization")
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str());
                    let viewer: Viewer = keys
                        .viewer_from_header(header)
                        .map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let mut data = Data::default();
                    data.insert(viewer);
                    data.insert(Loaders::new(&db));
                    Ok(data)
                })
                .serve()
        })
}
