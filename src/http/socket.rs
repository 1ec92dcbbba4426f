//! `/graphql/ws`: graphql-transport-ws (and the legacy protocol) with the
//! limits of DESIGN.md. The token travels in `connection_init` (browsers
//! cannot set headers on sockets), which must come within 10 s; a bad
//! token closes with 4403 before anything runs, and so does the token's
//! expiry for the life of the socket. Messages are at most 64 KiB, a
//! socket holds at most 20 operations at once, the server pings it, and a
//! stopping server closes it with 1001.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, WebSocket as ProtocolHandler, WebSocketProtocols, WsMessage,
};
use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header::SEC_WEBSOCKET_PROTOCOL};
use axum::response::IntoResponse;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tracing::{Instrument, Span};

use super::{AppState, rate_key};
use crate::auth::{AuthError, TokenKeys};
use crate::domain::Viewer;
use crate::graphql::Loaders;
use crate::graphql::error::RATE_LIMITED;
use crate::metrics::GaugeGuard;

const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_OPERATIONS: usize = 20;
const PING_EVERY: Duration = Duration::from_secs(15);

pub async fn graphql_ws(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    // The first subprotocol the client offers that we speak.
    let offered = headers
        .get(SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(protocol) = offered
        .split(',')
        .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
    else {
        return (
            StatusCode::BAD_REQUEST,
            "offer graphql-transport-ws (or graphql-ws) in Sec-WebSocket-Protocol",
        )
            .into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // The socket's lines carry the upgrade request's id.
        .on_upgrade(move |socket| serve(socket, state, protocol, peer).instrument(Span::current()))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The operation a client message starts or stops, by id.
enum Operation {
    Start(String),
    Stop(String),
    Other,
}

fn client_operation(text: &str) -> Operation {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return Operation::Other;
    };
    let id = message["id"].as_str().map(str::to_owned);
    match (message["type"].as_str(), id) {
        (Some("subscribe" | "start"), Some(id)) => Operation::Start(id),
        (Some("complete" | "stop"), Some(id)) => Operation::Stop(id),
        _ => Operation::Other,
    }
}

/// The operation a server message ends, if any.
fn ended_operation(text: &str) -> Option<String> {
    let message = serde_json::from_str::<Value>(text).ok()?;
    matches!(message["type"].as_str(), Some("complete" | "error"))
        .then(|| message["id"].as_str().map(str::to_owned))
        .flatten()
}

async fn serve(
    socket: WebSocket,
    state: Arc<AppState>,
    protocol: WebSocketProtocols,
    peer: Option<SocketAddr>,
) {
    let _open = GaugeGuard::hold(&state.metrics.websockets_open);
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
    let (viewer, expires_at) = match session_from_init(&state.keys, &first) {
        Ok(session) => session,
        Err(e) => {
            let _ = sink.send(close(4403, &e.to_string())).await;
            return;
        }
    };
    let mut data = Data::default();
    data.insert(rate_key(&viewer, peer));
    data.insert(viewer);
    data.insert(Loaders::new(&state.db));

    // The protocol handler reads what the loop below lets through.
    let (to_protocol, from_client) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let input = futures_util::stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    });
    let mut protocol = ProtocolHandler::new(state.api.clone(), input, protocol)
        .connection_data(data)
        .boxed();
    let expiry = tokio::time::sleep(expires_at.map_or(Duration::MAX / 4, |at| {
        let left = at - chrono::Utc::now().timestamp();
        Duration::from_secs(u64::try_from(left).unwrap_or(0))
    }));
    tokio::pin!(expiry);
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut stopping = state.sockets.stopping.clone();
    // Dropped when this socket ends: the stopping server waits for that.
    let _alive = state.sockets.alive.clone();
    let mut operations: HashSet<String> = HashSet::new();
    let mut pending = Some(first);

    loop {
        let incoming = match pending.take() {
            Some(first) => Some(Ok(first)),
            None => tokio::select! {
                message = stream.next() => message,
                out = protocol.next() => {
                    let Some(out) = out else { break };
                    let message = match out {
                        WsMessage::Text(text) => {
                            if let Some(id) = ended_operation(&text) {
                                operations.remove(&id);
                            }
                            Message::Text(text.into())
                        }
                        WsMessage::Close(code, reason) => close(code, &reason),
                    };
                    let closing = matches!(message, Message::Close(_));
                    if sink.send(message).await.is_err() || closing {
                        break;
                    }
                    continue;
                }
                _ = pings.tick() => {
                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                    continue;
                }
                () = &mut expiry => {
                    let _ = sink.send(close(4403, "the token has expired")).await;
                    break;
                }
                // The one change the server makes is to stopping.
                _ = stopping.changed() => {
                    let _ = sink.send(close(1001, "the server is stopping")).await;
                    break;
                }
            },
        };
        let bytes = match incoming {
            None | Some(Ok(Message::Close(_))) => break,
            Some(Err(_)) => {
                let _ = sink.send(close(1009, "messages are at most 64 KiB")).await;
                break;
            }
            Some(Ok(Message::Text(text))) => {
                match client_operation(&text) {
                    Operation::Start(id) if operations.len() >= MAX_OPERATIONS => {
                        state.metrics.rate_limited.inc();
                        let refusal = json!({"type": "error", "id": id, "payload": [{
                            "message": format!("at most {MAX_OPERATIONS} operations per socket at once"),
                            "extensions": {"code": RATE_LIMITED},
                        }]});
                        if sink
                            .send(Message::Text(refusal.to_string().into()))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        continue;
                    }
                    Operation::Start(id) => {
                        operations.insert(id);
                    }
                    Operation::Stop(id) => {
                        operations.remove(&id);
                    }
                    Operation::Other => {}
                }
                text.as_bytes().to_vec()
            }
            Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
        };
        if to_protocol.send(bytes).await.is_err() {
            break;
        }
    }
}

/// The viewer named by a `connection_init` payload's `Authorization`, and
/// the token's expiry; no token is an anonymous viewer. Anything but
/// `connection_init` is left to the protocol handler, which refuses it.
fn session_from_init(
    keys: &TokenKeys,
    message: &Message,
) -> Result<(Viewer, Option<i64>), AuthError> {
    let Message::Text(text) = message else {
        return Ok((Viewer::ANONYMOUS, None));
    };
    let Ok(init) = serde_json::from_str::<Value>(text) else {
        return Ok((Viewer::ANONYMOUS, None));
    };
    let header = init["payload"]
        .get("Authorization")
        .or_else(|| init["payload"].get("authorization"))
        .map(|v| v.as_str().ok_or(AuthError::MalformedHeader))
        .transpose()?;
    keys.session_from_header(header)
}
