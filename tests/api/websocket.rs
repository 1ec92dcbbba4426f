//! `/graphql/ws` speaks graphql-transport-ws; the token travels in
//! `connection_init` and a bad one closes the socket with 4403.

use agency_center::domain::Principal;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{TestApp, spawn_app};

const EVENTS: &str = "subscription { invitationEvents { kind } }";

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws socket to the server at `base`, upgraded.
pub async fn connect(base: &str) -> Socket {
    let url = format!("{}/graphql/ws", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

/// Sends `connection_init` with the token, if any, as graphql-ws clients do.
pub async fn send_init(socket: &mut Socket, token: Option<&str>) {
    let payload = token.map_or(
        json!({}),
        |t| json!({"Authorization": format!("Bearer {t}")}),
    );
    socket
        .send(Message::text(
            json!({"type": "connection_init", "payload": payload}).to_string(),
        ))
        .await
        .unwrap();
}

async fn init(app: &TestApp, payload: Value) -> Option<Message> {
    let mut socket = connect(&app.base).await;
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

/// A socket past `connection_ack`.
async fn acked(app: &TestApp, token: Option<&str>) -> Socket {
    let mut socket = connect(&app.base).await;
    send_init(&mut socket, token).await;
    let ack = next_frame(&mut socket, 10).await;
    assert!(
        matches!(&ack, Some(Message::Text(t)) if t.contains("connection_ack")),
        "{ack:?}"
    );
    socket
}

/// The next frame that is not a ping or pong, if any within `seconds`.
async fn next_frame(socket: &mut Socket, seconds: u64) -> Option<Message> {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(seconds), socket.next()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(Some(Ok(m))) => return Some(m),
            _ => return None,
        }
    }
}

fn close_code(frame: Option<Message>) -> u16 {
    match frame {
        Some(Message::Close(Some(f))) => f.code.into(),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn the_token_expiry_closes_the_socket() {
    let app = spawn_app().await;
    let token = app
        .keys
        .issue(
            &Principal::Admin("brief".into()),
            std::time::Duration::from_secs(2),
            None,
        )
        .unwrap();
    let mut socket = acked(&app, Some(&token)).await;
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(close_code(next_frame(&mut socket, 10).await), 4403);
}

#[tokio::test]
async fn messages_over_64_kib_close_the_socket_and_run_nothing() {
    let app = spawn_app().await;
    let admin = app.admin();
    let mut socket = acked(&app, Some(&admin)).await;
    let padding = " ".repeat(100 * 1024);
    let mutation = format!(
        "mutation {{ createAgency(input: {{slug: \"padded\", name: \"Padded\", regions: [\"FR\"], languages: [\"fr\"], specialties: [GAMING], capacity: 5}}) {{ agency {{ id }} }} }} #{padding}"
    );
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": mutation}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(close_code(next_frame(&mut socket, 10).await), 1009);
    let found = app
        .gql(
            Some(&admin),
            "{ agency(slug: \"padded\") { id } }",
            json!({}),
        )
        .await;
    assert!(found.assert_ok()["agency"].is_null(), "nothing ran");
}

#[tokio::test]
async fn a_socket_holds_at_most_twenty_operations() {
    let app = spawn_app().await;
    let admin = app.admin();
    let mut socket = acked(&app, Some(&admin)).await;
    for id in 1..=21 {
        socket
            .send(Message::text(
                json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": EVENTS}})
                    .to_string(),
            ))
            .await
            .unwrap();
    }
    let Some(Message::Text(text)) = next_frame(&mut socket, 10).await else {
        panic!("expected an error for the 21st subscription")
    };
    let refusal: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(refusal["type"], "error");
    assert_eq!(refusal["id"], "21");
    assert_eq!(refusal["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    // Ending one frees a place.
    for message in [
        json!({"id": "1", "type": "complete"}),
        json!({"id": "22", "type": "subscribe", "payload": {"query": EVENTS}}),
        json!({"type": "ping"}),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    // `complete` for the ended one, then no error for the 22nd: the pong.
    loop {
        let Some(Message::Text(text)) = next_frame(&mut socket, 10).await else {
            panic!("expected a pong")
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("pong") => break,
            Some("complete") => assert_eq!(message["id"], "1"),
            _ => panic!("unexpected {message}"),
        }
    }
}

#[tokio::test]
async fn connection_init_must_come_within_ten_seconds() {
    let app = spawn_app().await;
    let mut socket = connect(&app.base).await;
    let started = std::time::Instant::now();
    assert_eq!(close_code(next_frame(&mut socket, 15).await), 4408);
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
}

#[tokio::test]
async fn queries_over_a_socket_obey_the_cost_limit() {
    let app = spawn_app().await;
    let admin = app.admin();
    let mut socket = acked(&app, Some(&admin)).await;
    let costly = "{ agencies(first: 100) { edges { node { members(first: 100) { edges { node { handle } } } } } } }";
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": costly}}).to_string(),
        ))
        .await
        .unwrap();
    let Some(Message::Text(text)) = next_frame(&mut socket, 10).await else {
        panic!("expected an answer")
    };
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{answer}"
    );
    assert!(answer["payload"]["data"].is_null(), "nothing ran: {answer}");
}

#[tokio::test]
async fn the_server_pings_idle_sockets() {
    let app = spawn_app().await;
    let mut socket = acked(&app, None).await;
    let ping = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    })
    .await;
    assert_eq!(ping, Ok(true), "a ping within 20 s");
}

#[tokio::test]
async fn a_stopping_server_closes_its_sockets_with_1001() {
    let app = spawn_app().await;
    let admin = app.admin();
    let mut socket = acked(&app, Some(&admin)).await;
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}).to_string(),
        ))
        .await
        .unwrap();
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), app.stop());
    let (frame, stopped) = tokio::join!(next_frame(&mut socket, 10), stopped);
    assert_eq!(close_code(frame), 1001);
    stopped.expect("run returns").expect("cleanly");
}

/// The open-sockets gauge, read from `/metrics`.
async fn sockets_open(app: &TestApp) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("agency_center_websockets_open "))
        .and_then(|v| v.parse().ok())
        .expect("the gauge")
}

/// Queues `n` graphql-transport-ws pings without reading any answer.
async fn flood_with_pings(socket: &mut Socket, n: usize) {
    for _ in 0..n {
        socket
            .feed(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_flood_of_pings_is_answered_and_the_socket_keeps_working() {
    let app = spawn_app().await;
    let mut socket = acked(&app, Some(&app.admin())).await;
    // 500 pings sent without reading an answer, then a query.
    flood_with_pings(&mut socket, 500).await;
    socket
        .send(Message::text(
            json!({"id": "q", "type": "subscribe", "payload": {"query": "{ viewer { role } }"}})
                .to_string(),
        ))
        .await
        .unwrap();
    let (mut pongs, mut answered) = (0, false);
    while !answered {
        let Some(Message::Text(text)) = next_frame(&mut socket, 10).await else {
            panic!("the socket stalled after {pongs} pongs")
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        match message["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("next") => {
                assert_eq!(message["payload"]["data"]["viewer"]["role"], "ADMIN");
                answered = true;
            }
            other => panic!("unexpected {other:?}: {message}"),
        }
    }
    assert_eq!(pongs, 500);
}

#[tokio::test]
async fn binary_frames_are_held_to_the_rules_of_text_frames() {
    let app = spawn_app().await;
    let binary = |v: Value| Message::binary(v.to_string().into_bytes());
    // The token of a binary connection_init is checked.
    let mut socket = connect(&app.base).await;
    socket
        .send(binary(
            json!({"type": "connection_init", "payload": {"Authorization": "Bearer nonsense"}}),
        ))
        .await
        .unwrap();
    assert_eq!(close_code(next_frame(&mut socket, 10).await), 4403);
    // And binary subscriptions count against the twenty.
    let mut socket = acked(&app, Some(&app.admin())).await;
    for id in 1..=21 {
        socket
            .send(binary(
                json!({"id": id.to_string(), "type": "subscribe", "payload": {"query": EVENTS}}),
            ))
            .await
            .unwrap();
    }
    let Some(Message::Text(text)) = next_frame(&mut socket, 10).await else {
        panic!("expected an error for the 21st subscription")
    };
    let refusal: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (refusal["type"].as_str(), refusal["id"].as_str()),
        (Some("error"), Some("21"))
    );
    // A binary frame that is not text closes the socket.
    socket
        .send(Message::binary(vec![0xff, 0xfe]))
        .await
        .unwrap();
    assert_eq!(close_code(next_frame(&mut socket, 10).await), 4400);
}

#[tokio::test]
async fn pings_before_connection_init_do_not_extend_its_deadline() {
    let app = spawn_app().await;
    let mut socket = connect(&app.base).await;
    socket.send(Message::Ping(Vec::new().into())).await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(close_code(next_frame(&mut socket, 15).await), 4408);
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
}

#[tokio::test]
async fn a_client_that_goes_away_is_counted_out_at_once() {
    let app = spawn_app().await;
    let mut socket = acked(&app, Some(&app.admin())).await;
    // A flood it never reads the answers of, then it goes.
    flood_with_pings(&mut socket, 500).await;
    socket.flush().await.unwrap();
    assert_eq!(sockets_open(&app).await, 1.0);
    drop(socket);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while sockets_open(&app).await > 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the socket is still counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // And a stopping server does not wait for it.
    tokio::time::timeout(std::time::Duration::from_secs(5), app.stop())
        .await
        .expect("the server stops")
        .expect("cleanly");
}
