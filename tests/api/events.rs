//! `invitationEvents` over graphql-transport-ws: who receives what, expiry
//! events from the sweep, and refusal of anonymous subscribers.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{invite, respond, spawn_app, spawn_app_with};

const EVENTS: &str = "subscription { invitationEvents { kind at invitation { id status agency { slug } creator { handle } } } }";

/// One graphql-transport-ws subscription to `invitationEvents`.
pub struct Subscription {
    socket: crate::websocket::Socket,
}

impl Subscription {
    pub async fn open(base: &str, token: Option<&str>) -> Self {
        Self::open_query(base, token, EVENTS).await
    }

    /// A subscription to `query`, live once this returns.
    pub async fn open_query(base: &str, token: Option<&str>, query: &str) -> Self {
        let mut socket = crate::websocket::connect(base).await;
        crate::websocket::send_init(&mut socket, token).await;
        let mut this = Self { socket };
        let ack = this
            .next_message(Duration::from_secs(10))
            .await
            .expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack");
        this.socket
            .send(Message::text(
                json!({"id": "1", "type": "subscribe", "payload": {"query": query}}).to_string(),
            ))
            .await
            .unwrap();
        // The subscription is live once the server has processed `subscribe`;
        // a ping round trip orders us after it.
        this.socket
            .send(Message::text(json!({"type": "ping"}).to_string()))
            .await
            .unwrap();
        loop {
            let msg = this
                .next_message(Duration::from_secs(10))
                .await
                .expect("pong");
            if msg["type"] == "pong" {
                break;
            }
            assert_ne!(msg["type"], "error", "{msg}");
        }
        // The server polls the new stream (which registers the subscriber)
        // right after answering the ping; leave it that moment.
        tokio::time::sleep(Duration::from_millis(50)).await;
        this
    }

    async fn next_message(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).ok(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                _ => return None,
            }
        }
    }

    /// The next event's `invitationEvents` payload, or `None` if none
    /// arrives within `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let msg = self.next_message(wait).await?;
            match msg["type"].as_str() {
                Some("next") => return Some(msg["payload"]["data"]["invitationEvents"].clone()),
                Some("ping") => continue,
                _ => panic!("unexpected message {msg}"),
            }
        }
    }

    /// Whether the socket still answers a graphql-transport-ws ping.
    pub async fn answers_ping(&mut self, wait: Duration) -> bool {
        let ping = json!({"type": "ping"}).to_string();
        if self.socket.send(Message::text(ping)).await.is_err() {
            return false;
        }
        loop {
            match self.next_message(wait).await {
                Some(msg) if msg["type"] == "pong" => return true,
                Some(msg) if msg["type"] == "ping" => continue,
                _ => return false,
            }
        }
    }

    /// Every event that arrives within `wait` of the previous one.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut events = Vec::new();
        while let Some(e) = self.next_event(wait).await {
            events.push(e);
        }
        events
    }
}

const QUIET: Duration = Duration::from_millis(400);
const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn each_side_hears_about_its_own_invitations_only() {
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("broadcaster", &["FR"], 5).await;
    let (_, _, rival) = app.agency_with_token("rival-cast", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("listener", "FR").await;
    let (_, _, bystander) = app.discoverable_creator("bystander", "FR").await;

    let mut as_creator = Subscription::open(&app.base, Some(&creator)).await;
    let mut as_agency = Subscription::open(&app.base, Some(&agency)).await;
    let mut as_rival = Subscription::open(&app.base, Some(&rival)).await;
    let mut as_bystander = Subscription::open(&app.base, Some(&bystander)).await;
    let mut as_admin = Subscription::open(&app.base, Some(&app.admin())).await;

    let ours = invite(&app, &agency, &creator_id).await;
    let theirs = invite(&app, &rival, &creator_id).await;
    respond(&app, Some(&creator), "acceptInvitation", &ours)
        .await
        .assert_ok();

    let kinds = |events: &[Value]| -> Vec<(String, String)> {
        events
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap().to_owned(),
                    e["invitation"]["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let created = |id: &str| ("CREATED".to_owned(), id.to_owned());
    let accepted = ("ACCEPTED".to_owned(), ours.clone());
    let cancelled = ("CANCELLED".to_owned(), theirs.clone());

    let creator_events = as_creator.drain(QUIET).await;
    assert_eq!(
        kinds(&creator_events),
        vec![
            created(&ours),
            created(&theirs),
            accepted.clone(),
            cancelled.clone()
        ]
    );
    assert_eq!(creator_events[2]["invitation"]["status"], "ACCEPTED");
    assert_eq!(
        creator_events[3]["invitation"]["agency"]["slug"],
        "rival-cast"
    );
    assert_eq!(
        kinds(&as_agency.drain(QUIET).await),
        vec![created(&ours), accepted.clone()]
    );
    assert_eq!(
        kinds(&as_rival.drain(QUIET).await),
        vec![created(&theirs), cancelled.clone()]
    );
    assert_eq!(as_admin.drain(QUIET).await.len(), 4);
    assert!(
        as_bystander.drain(QUIET).await.is_empty(),
        "no leak to other creators"
    );
}

#[tokio::test]
async fn declines_and_withdrawals_are_announced() {
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("announcer", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("decider", "FR").await;
    let (other_id, _, _) = app.discoverable_creator("withdrawn.one", "FR").await;
    let mut as_agency = Subscription::open(&app.base, Some(&agency)).await;
    let declined = invite(&app, &agency, &creator_id).await;
    let withdrawn = invite(&app, &agency, &other_id).await;
    respond(&app, Some(&creator), "declineInvitation", &declined)
        .await
        .assert_ok();
    respond(&app, Some(&agency), "withdrawInvitation", &withdrawn)
        .await
        .assert_ok();
    let kinds: Vec<String> = as_agency
        .drain(QUIET)
        .await
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["invitation"]["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "CREATED PENDING",
            "CREATED PENDING",
            "DECLINED DECLINED",
            "WITHDRAWN WITHDRAWN"
        ]
    );
}

#[tokio::test]
async fn the_sweep_persists_expiry_and_announces_it() {
    let app = spawn_app_with(|c| {
        c.settings.invitation_ttl = chrono::TimeDelta::seconds(1);
        c.expiry_sweep_interval = Duration::from_millis(200);
    })
    .await;
    let (_, _, agency) = app.agency_with_token("fleeting", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("too.late", "FR").await;
    let mut as_creator = Subscription::open(&app.base, Some(&creator)).await;
    let inv = invite(&app, &agency, &creator_id).await;
    assert_eq!(
        as_creator.next_event(SOON).await.unwrap()["kind"],
        "CREATED"
    );
    let expired = as_creator.next_event(SOON).await.expect("an EXPIRED event");
    assert_eq!(expired["kind"], "EXPIRED");
    assert_eq!(expired["invitation"]["id"], inv.as_str());
    let stored = entity::invitation::Entity::find_by_id(crate::helpers::uuid_of(&inv))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.status,
        entity::invitation::Status::Expired,
        "persisted, not only derived"
    );
    assert!(as_creator.drain(QUIET).await.is_empty(), "expired once");
}

#[tokio::test]
async fn anonymous_subscribers_are_refused() {
    let app = spawn_app().await;
    let mut socket = crate::websocket::connect(&app.base).await;
    crate::websocket::send_init(&mut socket, None).await;
    let _ack = socket.next().await;
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": EVENTS}}).to_string(),
        ))
        .await
        .unwrap();
    let Some(Ok(Message::Text(text))) = socket.next().await else {
        panic!("an answer")
    };
    let msg: Value = serde_json::from_str(&text).unwrap();
    // async-graphql answers a failed subscription with its errors in `next`.
    assert_eq!(msg["payload"]["data"], Value::Null, "{msg}");
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
}
