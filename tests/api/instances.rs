//! Two server processes on one database: a change made through one is seen
//! through the other at once, and on PostgreSQL its event reaches a
//! subscriber of the other (LISTEN/NOTIFY). SQLite is embedded, one
//! instance per file by design, so there the test checks state only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::events::Subscription;
use agency_center::events::EventTransport;

use crate::helpers::{Gql, SECRET, TestApp, invite, spawn_app_with};

/// A second instance: the real binary, on the same database.
pub(crate) struct Instance {
    child: Child,
    pub base: String,
}

impl Instance {
    /// The process's resident memory, in bytes (Linux).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the instance runs");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib * 1024
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn second_instance(app: &TestApp) -> Instance {
    instance_with(app, &[]).await.0
}

/// An instance started with `extra` arguments; its log lines (stderr)
/// arrive on the receiver.
pub(crate) async fn instance_with(
    app: &TestApp,
    extra: &[&str],
) -> (Instance, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agency-center"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--database-url",
            &app.database_url,
        ])
        .args(extra)
        .env(
            "AGENCY_CENTER_JWT_SECRET",
            std::str::from_utf8(SECRET).unwrap(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("agency-center listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let (log_tx, logs) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = log_tx.send(line);
        }
    });
    let base = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("the instance listens")
        .unwrap();
    (Instance { child, base }, logs)
}

pub(crate) async fn gql_at(
    base: &str,
    token: &str,
    query: &str,
    variables: serde_json::Value,
) -> Gql {
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    Gql {
        status: response.status(),
        body: response.json().await.unwrap(),
    }
}

/// Both instances relaying events through the change log.
pub(crate) const CHANGE_LOG_ARGS: [&str; 4] = [
    "--events-via",
    "change-log",
    "--change-log-poll-interval",
    "50ms",
];

/// A pair of instances on one database, sending events as `transport`
/// says (the test's own in-process one and the real binary).
pub(crate) async fn pair(transport: EventTransport) -> (TestApp, Instance) {
    let a = spawn_app_with(|c| {
        c.events = transport;
        c.change_log_poll_interval = Duration::from_millis(50);
    })
    .await;
    let b = match transport {
        EventTransport::Notify => second_instance(&a).await,
        EventTransport::ChangeLog => instance_with(&a, &CHANGE_LOG_ARGS).await.0,
    };
    (a, b)
}

#[tokio::test]
async fn a_change_through_one_instance_is_seen_through_the_other_by_notify() {
    seen_through_the_other(EventTransport::Notify).await;
}

#[tokio::test]
async fn a_change_through_one_instance_is_seen_through_the_other_by_the_change_log() {
    seen_through_the_other(EventTransport::ChangeLog).await;
}

async fn seen_through_the_other(transport: EventTransport) {
    let (a, b) = pair(transport).await;
    // NOTIFY needs PostgreSQL; the change log crosses instances anywhere.
    let events_cross =
        a.database_url.starts_with("postgres") || transport == EventTransport::ChangeLog;
    let (_, _, agency) = a.agency_with_token("twin-agency", &["FR"], 5).await;
    let (creator_id, _, creator) = a.discoverable_creator("twin.creator", "FR").await;

    let mut creator_on_b = if events_cross {
        Some(Subscription::open(&b.base, Some(&creator)).await)
    } else {
        None
    };
    let mut agency_on_a = Subscription::open(&a.base, Some(&agency)).await;

    // Sent through A: B serves the new state, and B's subscriber hears it.
    let inv = invite(&a, &agency, &creator_id).await;
    let on_b = gql_at(
        &b.base,
        &creator,
        "query($id: ID!) { invitation(id: $id) { status agency { slug } } }",
        json!({"id": inv}),
    )
    .await;
    assert_eq!(
        on_b.assert_ok()["invitation"],
        json!({"status": "PENDING", "agency": {"slug": "twin-agency"}})
    );
    if let Some(sub) = creator_on_b.as_mut() {
        let event = sub
            .next_event(Duration::from_secs(10))
            .await
            .expect("the event crossed instances");
        assert_eq!(event["kind"], "CREATED");
        assert_eq!(event["invitation"]["id"], inv.as_str());
    }
    assert_eq!(
        agency_on_a
            .next_event(Duration::from_secs(5))
            .await
            .unwrap()["kind"],
        "CREATED"
    );

    // A keeps these answers; B's write below must not leave A serving them.
    let invitation_on_a = || async {
        a.ok(
            &creator,
            "query($id: ID!) { invitation(id: $id) { status } }",
            json!({"id": inv}),
        )
        .await["invitation"]["status"]
            .clone()
    };
    let membership_on_a = || async {
        a.ok(
            &creator,
            "{ viewer { creator { agency { slug memberCount } } } }",
            json!({}),
        )
        .await["viewer"]["creator"]["agency"]
            .clone()
    };
    for _ in 0..2 {
        assert_eq!(invitation_on_a().await, "PENDING");
        assert_eq!(membership_on_a().await, json!(null));
    }

    // Accepted through B: A serves the membership, A's subscriber hears it.
    let accepted = gql_at(
        &b.base,
        &creator,
        "mutation($id: ID!) { acceptInvitation(id: $id) { invitation { status } userErrors { code } } }",
        json!({"id": inv}),
    )
    .await;
    assert_eq!(
        accepted.assert_ok()["acceptInvitation"]["invitation"]["status"],
        "ACCEPTED"
    );
    assert_eq!(invitation_on_a().await, "ACCEPTED");
    assert_eq!(
        membership_on_a().await,
        json!({"slug": "twin-agency", "memberCount": 1})
    );
    if events_cross {
        let event = agency_on_a
            .next_event(Duration::from_secs(10))
            .await
            .expect("the event crossed instances");
        assert_eq!(event["kind"], "ACCEPTED");
        // Delivered once: the originating instance does not echo its own.
        if let Some(sub) = creator_on_b.as_mut() {
            let mut got: Vec<_> = sub
                .next_event(Duration::from_secs(10))
                .await
                .into_iter()
                .collect();
            got.extend(sub.drain(Duration::from_millis(500)).await);
            let kinds: Vec<_> = got.into_iter().map(|e| e["kind"].clone()).collect();
            assert_eq!(kinds, vec![json!("ACCEPTED")]);
        }
    }
}
