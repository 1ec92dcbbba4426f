//! `/graphql/ws` speaks graphql-transport-ws; the token travels in
//! `connection_init` and a bad one closes the socket with 4403.

use agency_center::domain::Principal;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{TestApp, spawn_app};

async fn init(app: &TestApp, payload: Value) -> Option<Message> {
    let url = format!("{}/graphql/ws", app.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": payload}).to_string(),
        ))
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
        .await
        .expect("an answer to connection_init")
        .map(|m| m.expect("a frame"))
}

#[tokio::test]
async fn a_valid_token_is_acknowledged() {
    let app = spawn_app().await;
    let token = app.token(Principal::Admin("ops".into()));
    let answer = init(&app, json!({"Authorization": format!("Bearer {token}")})).await;
    let Some(Message::Text(text)) = answer else {
        panic!("expected an ack, got {answer:?}")
    };
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["type"],
        "connection_ack"
    );
}

#[tokio::test]
async fn a_bad_token_closes_the_socket_with_4403() {
    let app = spawn_app().await;
    let answer = init(&app, json!({"Authorization": "Bearer not-a-token"})).await;
    let Some(Message::Close(Some(frame))) = answer else {
        panic!("expected a close frame, got {answer:?}")
    };
    assert_eq!(frame.code, CloseCode::from(4403));
}
