//! The HTTP edge: GraphiQL, health, readiness, and malformed requests that
//! must be client errors, never 5xx.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = spawn_app().await;
    // What a browser sends; without it a GET is a query (and lacks one).
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("graphiql"), "GraphiQL page");
    assert!(html.contains("/graphql/ws"), "subscriptions wired");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    app.db.clone().close().await.unwrap();
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    // With the database gone a query fails with a generic message: no SQL,
    // no driver text.
    let res = app
        .gql(None, "{ agencies { totalCount } }", json!({}))
        .await;
    res.assert_error("INTERNAL_SERVER_ERROR");
    assert_eq!(res.body["errors"][0]["message"], "internal server error");
}

#[tokio::test]
async fn malformed_requests_are_client_errors() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    let not_json = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    // No GraphQL request at all: 400, whatever the client accepts.
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = not_json.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(body.get("data").is_none(), "{body}");
    let strict = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/graphql-response+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(strict.status(), StatusCode::BAD_REQUEST);

    let huge = "x".repeat(2 * 1024 * 1024);
    let too_big = app
        .client
        .post(&url)
        .json(&json!({"query": format!("{{ viewer {{ role }} }} # {huge}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let syntax = app.gql(None, "{ viewer { role ", json!({})).await;
    syntax.assert_error("BAD_USER_INPUT");
    let unknown_field = app.gql(None, "{ nope }", json!({})).await;
    unknown_field.assert_error("BAD_USER_INPUT");
    let wrong_variable = app
        .gql(
            None,
            "query($n: Int) { agencies(first: $n) { totalCount } }",
            json!({"n": "ten"}),
        )
        .await;
    wrong_variable.assert_error("BAD_USER_INPUT");
}

#[tokio::test]
async fn oversized_queries_are_refused_as_too_complex() {
    let app = spawn_app().await;
    let page = "agencies(first: 100) { edges { cursor node { id slug name regions languages specialties capacity verified memberCount } } }";
    let query = format!(
        "{{ {} }}",
        (0..10)
            .map(|i| format!("a{i}: {page}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let res = app.gql(None, &query, json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(res.data().is_null());
}

/// A request whose body is still arriving when the server is told to stop
/// is answered in full before the server exits.
#[tokio::test]
async fn a_stopping_server_finishes_the_request_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let body = r#"{"query":"{ viewer { role } }"}"#;
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let in_flight = async {
        // The stop has begun: now the rest of the request.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let stopped = tokio::time::timeout(std::time::Duration::from_secs(10), app.stop());
    let (answer, stopped) = tokio::join!(in_flight, stopped);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""role":"ANONYMOUS""#), "{answer}");
    stopped.expect("run returns").expect("cleanly");
    // And nothing new is accepted.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err());
}
