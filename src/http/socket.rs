//! `/graphql/ws`: graphql-transport-ws (and the legacy protocol) with the
//! limits of DESIGN.md. The token travels in `connection_init` (browsers
//! cannot set headers on sockets), which must come within 10 s; a bad
//! token closes with 4403 before anything runs, and so does the token's
//! expiry for the life of the socket. Messages are at most 64 KiB, a
//! socket holds at most 20 operations at once, the server pings it, and a
//! stopping server closes it with 1001.
//!
//! One loop reads every frame kind: text and binary frames are held to
//! the same rules (a binary frame is its UTF-8 text, else the socket
//! closes with 4400), pings before `connection_init` do not extend its
//! deadline, and the loop never waits on its own queue to the protocol
//! handler while that handler waits on the loop to send its answers: a
//! message the handler cannot take yet waits in one slot, and the loop
//! keeps sending answers, pinging and watching the token's expiry. A
//! client that stops reading is closed after [`SEND_TIMEOUT`].

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
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tracing::{Instrument, Span};

use super::AppState;
use crate::auth::{AuthError, TokenKeys};
use crate::domain::Viewer;
use crate::graphql::Loaders;
use crate::graphql::error::RATE_LIMITED;
use crate::metrics::GaugeGuard;

const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
pub const MAX_OPERATIONS: usize = 20;
const PING_EVERY: Duration = Duration::from_secs(15);
/// How long a frame may wait for a client that does not read.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

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
        .on_upgrade(move |socket| {
            serve(socket, state, protocol, peer, headers).instrument(Span::current())
        })
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

/// A data frame's text: a text frame, or a binary one that is UTF-8.
/// `Err` for a binary frame that is not.
fn text_of(message: Message) -> Result<Option<String>, ()> {
    match message {
        Message::Text(text) => Ok(Some(text.as_str().to_owned())),
        Message::Binary(bytes) => String::from_utf8(bytes.to_vec()).map(Some).map_err(|_| ()),
        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => Ok(None),
    }
}

/// Sends a frame, unless the client has not taken it within
/// [`SEND_TIMEOUT`]; whether it went.
async fn send_within(sink: &mut SplitSink<WebSocket, Message>, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// What a socket's loop does next.
enum Step {
    Continue,
    Close(u16, &'static str),
    End,
}

async fn serve(
    socket: WebSocket,
    state: Arc<AppState>,
    protocol: WebSocketProtocols,
    peer: Option<SocketAddr>,
    headers: HeaderMap,
) {
    let _open = GaugeGuard::hold(&state.metrics.websockets_open);
    let (mut sink, mut stream) = socket.split();
    // The first data frame, within the deadline whatever comes before it.
    let deadline = tokio::time::Instant::now() + CONNECTION_INIT_TIMEOUT;
    let first = loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                send_within(&mut sink, close(4408, "connection initialisation timeout")).await;
                return;
            }
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(message))) => match text_of(message) {
                Ok(Some(text)) => break text,
                Ok(None) => continue,
                Err(()) => {
                    send_within(&mut sink, close(4400, "binary frames must be UTF-8 JSON")).await;
                    return;
                }
            },
        }
    };
    let (viewer, expires_at) = match session_from_init(&state.keys, &first) {
        Ok(session) => session,
        Err(e) => {
            send_within(&mut sink, close(4403, &e.to_string())).await;
            return;
        }
    };
    let mut data = Data::default();
    data.insert(state.rate_key(&viewer, peer, &headers));
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
    // A client message the protocol handler has not taken yet; while it
    // waits, no further frame is read (the client's own back-pressure).
    let mut waiting: Option<String> = Some(first);

    loop {
        let step = tokio::select! {
            permit = to_protocol.reserve(), if waiting.is_some() => match permit {
                Ok(permit) => {
                    permit.send(waiting.take().unwrap_or_default().into_bytes());
                    Step::Continue
                }
                Err(_) => Step::End,
            },
            message = stream.next(), if waiting.is_none() => match message {
                None | Some(Ok(Message::Close(_))) => Step::End,
                Some(Err(_)) => Step::Close(1009, "messages are at most 64 KiB"),
                Some(Ok(message)) => match text_of(message) {
                    Ok(None) => Step::Continue,
                    Err(()) => Step::Close(4400, "binary frames must be UTF-8 JSON"),
                    Ok(Some(text)) => match client_operation(&text) {
                        Operation::Start(id) if operations.len() >= MAX_OPERATIONS => {
                            state.metrics.rate_limited.inc();
                            let refusal = json!({"type": "error", "id": id, "payload": [{
                                "message": format!("at most {MAX_OPERATIONS} operations per socket at once"),
                                "extensions": {"code": RATE_LIMITED},
                            }]});
                            if send_within(&mut sink, Message::Text(refusal.to_string().into())).await {
                                Step::Continue
                            } else {
                                Step::End
                            }
                        }
                        started_or_stopped => {
                            match started_or_stopped {
                                Operation::Start(id) => {
                                    operations.insert(id);
                                }
                                Operation::Stop(id) => {
                                    operations.remove(&id);
                                }
                                Operation::Other => {}
                            }
                            waiting = Some(text);
                            Step::Continue
                        }
                    },
                },
            },
            out = protocol.next() => match out {
                None => Step::End,
                Some(WsMessage::Close(code, reason)) => {
                    send_within(&mut sink, close(code, &reason)).await;
                    Step::End
                }
                Some(WsMessage::Text(text)) => {
                    if let Some(id) = ended_operation(&text) {
                        operations.remove(&id);
                    }
                    if send_within(&mut sink, Message::Text(text.into())).await {
                        Step::Continue
                    } else {
                        Step::End
                    }
                }
            },
            _ = pings.tick() => {
                if send_within(&mut sink, Message::Ping(Vec::new().into())).await {
                    Step::Continue
                } else {
                    Step::End
                }
            }
            () = &mut expiry => Step::Close(4403, "the token has expired"),
            // The one change the server makes is to stopping.
            _ = stopping.changed() => Step::Close(1001, "the server is stopping"),
        };
        match step {
            Step::Continue => {}
            Step::Close(code, reason) => {
                send_within(&mut sink, close(code, reason)).await;
                break;
            }
            Step::End => break,
        }
    }
}

/// The viewer named by a `connection_init` payload's `Authorization`, and
/// the token's expiry; no token is an anonymous viewer. Anything but
/// `connection_init` is left to the protocol handler, which refuses it.
fn session_from_init(keys: &TokenKeys, text: &str) -> Result<(Viewer, Option<i64>), AuthError> {
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
