//! What a hostile or careless client can send, through the real server:
//! documents built to exhaust the stack or the memory, costly requests
//! sent at once, lists and introspection that return far more than they
//! look, names megabytes long. Each answered with a clear error, or kept
//! within its bound, and the server stays up.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::instances::{gql_at, instance_with};

/// `n` fragments, each spreading the next: about 36 bytes each.
fn fragment_chain(n: usize) -> String {
    let mut q = String::from("query { ...F0 }\n");
    for i in 0..n {
        q.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
    }
    q.push_str(&format!("fragment F{n} on Query {{ __typename }}\n"));
    q
}

async fn still_up(app: &TestApp) {
    let res = app.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(res.assert_ok()["__typename"], "Query");
}

fn message(res: &crate::helpers::Gql) -> String {
    res.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn documents_built_to_exhaust_the_stack_are_refused_and_the_server_stays_up() {
    let app = spawn_app().await;
    // The review's request: 4,000 fragments in a chain, 146 KB.
    let review = fragment_chain(4_000);
    assert!(review.len() > 140_000);
    let res = app.gql(None, &review, json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(message(&res).contains("bytes"), "{}", res.body);
    still_up(&app).await;
    // Small enough to be parsed, too deep to be walked.
    let res = app.gql(None, &fragment_chain(1_000), json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(message(&res).contains("nest"), "{}", res.body);
    still_up(&app).await;
    // Selections nested 40,000 deep: refused before the parser recurses.
    let deep = format!("{}{}", "{a".repeat(40_000), "}".repeat(40_000));
    let res = app.gql(None, &deep[..100_000], json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    still_up(&app).await;
    // A chain within the bound is measured and runs.
    let res = app.gql(None, &fragment_chain(20), json!({})).await;
    assert_eq!(res.assert_ok()["__typename"], "Query");
}

/// A document of about `bytes`, distinct by `n`, asking for `field`
/// under as many aliases as fit.
fn aliased(n: usize, field: &str, bytes: usize) -> String {
    let mut q = format!("query Q{n} {{ ");
    let mut i = 0;
    while q.len() < bytes {
        q.push_str(&format!("a{i}: {field} "));
        i += 1;
    }
    q.push('}');
    q
}

#[tokio::test]
async fn kept_documents_stay_within_their_memory_budget() {
    let app = spawn_app().await;
    let (instance, _logs) = instance_with(&app, &["--rate-limit-capacity", "0"]).await;
    let token = app.admin();
    let send = |q: String| {
        let (base, token) = (instance.base.clone(), token.clone());
        async move { gql_at(&base, &token, &q, json!({})).await }
    };
    send("{ __typename }".into()).await.assert_ok();
    let before = instance.rss_bytes();
    // Distinct documents of 95 KB: refused as too costly (each parsed one
    // is tens of megabytes), then ones that pass and are kept.
    for n in 0..40 {
        send(aliased(n, "agencies { totalCount }", 95_000))
            .await
            .assert_error("QUERY_TOO_COMPLEX");
    }
    for n in 40..80 {
        let res = send(aliased(n, "__typename", 60_000)).await;
        assert!(res.codes().is_empty(), "{}", res.body);
    }
    let grown = instance.rss_bytes().saturating_sub(before);
    eprintln!("rss grew by {} MiB", grown / (1024 * 1024));
    // 32 MiB of documents, 64 MiB of answers, room for the allocator.
    assert!(
        grown < 200 * 1024 * 1024,
        "the server grew by {} MiB",
        grown / (1024 * 1024)
    );
    let metrics = reqwest::get(format!("{}/metrics", instance.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let kept: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("agency_center_kept_document_bytes "))
        .and_then(|v| v.parse().ok())
        .expect("the kept documents' bytes are a metric");
    assert!(kept > 0.0 && kept <= 32.0 * 1024.0 * 1024.0, "{kept}");
}

fn available(res: &crate::helpers::Gql) -> f64 {
    res.body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .unwrap_or_else(|| panic!("no throttle status: {}", res.body))
}

#[tokio::test]
async fn requests_sent_at_once_cannot_overdraw_the_bucket() {
    let app = spawn_app_with(|c| {
        c.limits.rate_limit_capacity = 10_000;
        c.limits.rate_limit_restore = 500;
    })
    .await;
    let admin = app.admin();
    for i in 0..100 {
        app.create_agency(&format!("bucket-{i:03}"), &["FR"], 5)
            .await;
    }
    // Ten pages of 100 agencies: asks 4,010 points, costs about 3,020.
    let pages: String = (0..10)
        .map(|i| format!("p{i}: agencies(first: 100) {{ edges {{ node {{ slug name }} }} }} "))
        .collect();
    let costly = format!("{{ {pages} }}");
    let started = Instant::now();
    let answers =
        futures_util::future::join_all((0..40).map(|_| app.gql(Some(&admin), &costly, json!({}))))
            .await;
    let elapsed = started.elapsed().as_secs_f64();
    let ran: Vec<&crate::helpers::Gql> = answers.iter().filter(|r| r.codes().is_empty()).collect();
    let limited = answers
        .iter()
        .filter(|r| r.codes().iter().any(|c| c == "RATE_LIMITED"))
        .count();
    assert_eq!(ran.len() + limited, 40, "each ran or was limited");
    let actual = ran[0].body["extensions"]["cost"]["actualQueryCost"]
        .as_u64()
        .unwrap();
    assert!(actual > 3_000, "{actual}");
    // What ran fits in the bucket, what it restored meanwhile, and the
    // one request that may start from a full-enough bucket.
    let spent = ran.len() as f64 * actual as f64;
    assert!(
        spent <= 10_000.0 + 500.0 * elapsed + 4_010.0,
        "{} requests of {actual} points ran in {elapsed:.1} s",
        ran.len()
    );
}

#[tokio::test]
async fn refused_requests_pay_for_the_text_they_sent() {
    let app = spawn_app_with(|c| {
        c.limits.rate_limit_capacity = 10_000;
        c.limits.rate_limit_restore = 1;
    })
    .await;
    let token = app.admin();
    // 10 documents of 50 KB that do not parse, 10 that name no operation
    // of theirs: 50 points each.
    for n in 0..10 {
        let broken = format!("{{ {} ", "__typename ".repeat(5_000 + n));
        app.gql(Some(&token), &broken, json!({}))
            .await
            .assert_error("BAD_USER_INPUT");
        let body = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&token)
            .json(&json!({
                "query": format!("query Real {{ {} }}", "__typename ".repeat(5_000 + n)),
                "operationName": "Missing",
            }))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert!(body["errors"].is_array(), "{body}");
    }
    let res = app.gql(Some(&token), "{ __typename }", json!({})).await;
    res.assert_ok();
    assert!(available(&res) <= 10_000.0 - 20.0 * 50.0, "{}", res.body);
}

#[tokio::test]
async fn lists_and_introspection_cost_what_they_return() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("lists", &["FR"], 5).await;
    let ids: Vec<String> = (0..100)
        .map(|_| crate::helpers::global_id("Creator", uuid::Uuid::now_v7()))
        .collect();
    // The review's 2,400 aliases sharing one 100-id variable.
    let aliases: String = (0..2_400)
        .map(|i| {
            format!("e{i}: invitationEligibility(agencyId: $a, creatorIds: $ids) {{ invitable }} ")
        })
        .collect();
    let query = format!("query($a: ID!, $ids: [ID!]!) {{ {aliases} }}");
    let started = Instant::now();
    let res = app
        .gql(Some(&agency), &query, json!({"a": agency_id, "ids": ids}))
        .await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(res.body.get("data").is_none(), "nothing ran: {}", res.body);
    // Compact enough to be parsed (62 KB): priced by its 100 ids.
    let aliases: String = (0..1_000)
        .map(|i| format!("e{i}:invitationEligibility(agencyId:$a,creatorIds:$i){{invitable}} "))
        .collect();
    let query = format!("query($a:ID!,$i:[ID!]!){{{aliases}}}");
    let res = app
        .gql(Some(&agency), &query, json!({"a": agency_id, "i": ids}))
        .await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert_eq!(
        res.body["extensions"]["cost"]["requestedQueryCost"],
        1_000 * (1 + 100),
        "{}",
        res.body
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    // One call with 100 ids is priced by them, and fits.
    let one = app
        .gql(
            Some(&agency),
            "query($a: ID!, $ids: [ID!]!) { invitationEligibility(agencyId: $a, creatorIds: $ids) { invitable } }",
            json!({"a": agency_id, "ids": ids}),
        )
        .await;
    one.assert_ok();
    assert_eq!(
        one.body["extensions"]["cost"]["requestedQueryCost"],
        1 + 100
    );
    // 161 aliased introspection queries: far more than three standard ones.
    let schema = "__schema { types { name kind fields(includeDeprecated: true) { name args { name type { name kind ofType { name kind } } } type { name kind ofType { name kind } } } } }";
    let many: String = (0..161).map(|i| format!("s{i}: {schema} ")).collect();
    let res = app.gql(None, &format!("{{ {many} }}"), json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(message(&res).contains("introspection"), "{}", res.body);
    let res = app.gql(None, &format!("{{ {schema} }}"), json!({})).await;
    let requested = res.body["extensions"]["cost"]["requestedQueryCost"]
        .as_u64()
        .unwrap();
    let actual = res.body["extensions"]["cost"]["actualQueryCost"]
        .as_u64()
        .unwrap();
    assert!(requested >= actual, "priced {requested}, returned {actual}");
}

#[tokio::test]
async fn long_operation_names_are_kept_bounded() {
    let app = spawn_app().await;
    let metrics = || async { app.get("/metrics").await.text().await.unwrap() };
    let before = metrics().await.len();
    for n in 0..5 {
        let name = format!("N{n}{}", "x".repeat(90_000));
        let res = app
            .gql(None, &format!("query {name} {{ __typename }}"), json!({}))
            .await;
        res.assert_ok();
    }
    let text = metrics().await;
    assert!(
        text.len() < before + 50_000,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
    assert!(text.contains("operation=\"#"), "long names by their hash");
}
