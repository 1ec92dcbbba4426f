//! What an operator sees: `/metrics` counting operations by name and
//! outcome, ranking and index figures, sockets and subscriptions, rate
//! limiting; a request id on every answer and on every log line of its
//! request; JSON logs; the slow-request log.

use std::time::Duration;

use serde_json::{Value, json};

use crate::events::Subscription;
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::instances::instance_with;
use crate::ranking::{RANK, Spec, creator};

async fn metrics_at(base: &str) -> String {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let kind = response.headers()["content-type"].to_str().unwrap();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.unwrap()
}

/// The value of the sample `name` (labels included, as rendered), if any.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (bounded) until the sample reads `want`.
async fn until_sample(app: &TestApp, name: &str, want: f64) {
    for _ in 0..100 {
        if sample(&metrics_at(&app.base).await, name) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never read {want}:\n{}", metrics_at(&app.base).await);
}

#[tokio::test]
async fn operations_are_counted_by_name_and_outcome() {
    let app = spawn_app().await;
    let admin = app.admin();
    for _ in 0..2 {
        app.gql(Some(&admin), "query Who { viewer { role } }", json!({}))
            .await
            .assert_ok();
    }
    app.gql(None, "query Broken { viewer { nope } }", json!({}))
        .await
        .assert_error("BAD_USER_INPUT");
    app.gql(None, "{ viewer { role } }", json!({}))
        .await
        .assert_ok();
    let two = "query A { viewer { role } } query B { viewer { role } }";
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({"query": two, "operationName": "B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let text = metrics_at(&app.base).await;
    let count = |op: &str, outcome: &str| {
        sample(
            &text,
            &format!(
                r#"agency_center_graphql_requests_total{{operation="{op}",outcome="{outcome}"}}"#
            ),
        )
    };
    assert_eq!(count("Who", "ok"), Some(2.0), "{text}");
    assert_eq!(count("Broken", "BAD_USER_INPUT"), Some(1.0), "{text}");
    assert_eq!(count("anonymous", "ok"), Some(1.0), "{text}");
    assert_eq!(count("B", "ok"), Some(1.0), "{text}");
    assert_eq!(count("A", "ok"), None, "only the selected operation counts");
    assert_eq!(
        sample(
            &text,
            r#"agency_center_graphql_request_duration_seconds_count{operation="Who"}"#
        ),
        Some(2.0)
    );
    assert!(
        sample(
            &text,
            r#"agency_center_database_connections{state="in_use"}"#
        )
        .is_some(),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn rankings_and_the_index_are_measured() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("gauge-agency", &["FR"], 5).await;
    for handle in ["gauge.one", "gauge.two", "gauge.three"] {
        creator(&app, &Spec::new(handle)).await;
    }
    app.gql(Some(&agency), RANK, json!({"agency": agency_id}))
        .await
        .assert_ok();
    let text = metrics_at(&app.base).await;
    assert_eq!(
        sample(&text, "agency_center_ranking_index_creators"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "agency_center_ranking_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "agency_center_ranking_candidates_sum"),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "agency_center_ranking_scanned_creators_total"),
        Some(3.0)
    );
    assert!(sample(&text, "agency_center_ranking_index_bytes").unwrap() > 0.0);
    // The ranking read the change log just now.
    let lag = sample(&text, "agency_center_change_log_lag_seconds").unwrap();
    assert!((0.0..60.0).contains(&lag), "{lag}");
}

#[tokio::test]
async fn sockets_and_subscriptions_are_gauged_while_open() {
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("socket-agency", &["FR"], 5).await;
    until_sample(&app, "agency_center_websockets_open", 0.0).await;
    let subscription = Subscription::open(&app.base, Some(&agency)).await;
    until_sample(&app, "agency_center_websockets_open", 1.0).await;
    until_sample(&app, "agency_center_subscriptions_active", 1.0).await;
    drop(subscription);
    until_sample(&app, "agency_center_websockets_open", 0.0).await;
    until_sample(&app, "agency_center_subscriptions_active", 0.0).await;
}

#[tokio::test]
async fn rate_limit_rejections_are_counted() {
    let app = spawn_app_with(|c| {
        c.limits.rate_limit_capacity = 3;
        c.limits.rate_limit_restore = 1;
    })
    .await;
    let admin = app.admin();
    let mut limited = 0;
    for _ in 0..6 {
        let res = app
            .gql(
                Some(&admin),
                "{ viewer { role } agencies(first: 1) { totalCount } }",
                json!({}),
            )
            .await;
        if res.codes().iter().any(|c| c == "RATE_LIMITED") {
            limited += 1;
        }
    }
    assert!(limited > 0, "the bucket of 3 points ran dry");
    let text = metrics_at(&app.base).await;
    assert_eq!(
        sample(&text, "agency_center_rate_limit_rejections_total"),
        Some(f64::from(limited))
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("x-request-id on the answer")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let fresh = app.get("/healthz").await;
    let generated = id_of(&fresh);
    assert!(uuid::Uuid::parse_str(&generated).is_ok(), "{generated}");
    assert_ne!(
        id_of(&app.get("/healthz").await),
        generated,
        "one per request"
    );

    let with = |id: &str| {
        app.client
            .post(format!("{}/graphql", app.base))
            .header("x-request-id", id)
            .json(&json!({"query": "{ viewer { role } }"}))
            .send()
    };
    assert_eq!(
        id_of(&with("trace-7f3a.client_1").await.unwrap()),
        "trace-7f3a.client_1"
    );
    // Too long, or not plain: replaced (it would go into every log line).
    for unfit in ["x".repeat(129), "two words".to_owned(), "a\"b".to_owned()] {
        let got = id_of(&with(&unfit).await.unwrap());
        assert!(
            uuid::Uuid::parse_str(&got).is_ok(),
            "{unfit:?} became {got:?}"
        );
    }
}

/// A request whose body arrives `pause` after its headers (over a raw
/// connection): slow on the server's clock whatever the machine's speed.
/// Returns the status line and the answer's request id.
async fn slow_request(base: &str, request_id: &str, pause: Duration) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let body = json!({"query": "query Slowpoke { viewer { role } }"}).to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nX-Request-Id: {request_id}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(pause).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let id = answer
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-request-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, id)
}

#[tokio::test]
async fn json_logs_carry_the_request_id_and_name_slow_requests() {
    let app = spawn_app().await;
    let (instance, logs) = instance_with(
        &app,
        &["--log-format", "json", "--slow-request-threshold", "200ms"],
    )
    .await;
    let (status, id) = slow_request(&instance.base, "slow-req-1", Duration::from_millis(500)).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(id, "slow-req-1");
    let (status, _) = slow_request(&instance.base, "quick-req-2", Duration::ZERO).await;
    assert_eq!(status, "HTTP/1.1 200 OK");

    let mut slow_line = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while slow_line.is_none() && std::time::Instant::now() < deadline {
        let Ok(line) = logs.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let parsed: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(
            !line.contains("quick-req-2"),
            "a quick request is not logged at WARN: {line}"
        );
        if parsed["fields"]["message"] == "slow request" {
            slow_line = Some(parsed);
        }
    }
    let line = slow_line.expect("the slow request was logged");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["span"]["request_id"], "slow-req-1", "{line}");
    assert_eq!(line["span"]["operation"], "Slowpoke", "{line}");
    assert_eq!(line["fields"]["status"], 200);
    // The pause began before the server had the headers.
    assert!(
        line["fields"]["latency_ms"].as_f64().unwrap() >= 400.0,
        "{line}"
    );
    let text = metrics_at(&instance.base).await;
    assert_eq!(
        sample(&text, "agency_center_slow_requests_total"),
        Some(1.0),
        "{text}"
    );
}
