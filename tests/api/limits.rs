//! The limits of public clients through the real server: query cost and
//! depth (refused before anything runs, whatever the transport),
//! introspection for everyone, and per-principal rate limiting.

use agency_center::domain::Principal;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

/// graphql-js's `getIntrospectionQuery()`: what GraphiQL, Apollo and the
/// code generators send.
fn standard_introspection_query() -> String {
    crate::conformance::install_clients();
    let output = std::process::Command::new("node")
        .args([
            "--input-type=module",
            "-e",
            "import { getIntrospectionQuery } from 'graphql'; process.stdout.write(getIntrospectionQuery());",
        ])
        .current_dir(crate::conformance::conformance_dir())
        .output()
        .expect("node runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_standard_introspection_query_works_for_anonymous_callers() {
    let app = spawn_app().await;
    let res = app
        .gql(None, &standard_introspection_query(), json!({}))
        .await;
    let types = res.assert_ok()["__schema"]["types"].as_array().unwrap();
    assert!(
        types
            .iter()
            .any(|t| t["name"] == "RecommendationConnection"),
        "the schema is described"
    );
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let app = spawn_app_with(|c| c.limits.no_introspection = true).await;
    let res = app
        .gql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        res.body["data"]["__schema"].is_null() || res.body["errors"].is_array(),
        "{}",
        res.body
    );
    assert!(res.body["errors"].is_array(), "{}", res.body);
}

#[tokio::test]
async fn introspection_that_nests_type_lists_is_refused() {
    let app = spawn_app().await;
    let res = app
        .gql(
            None,
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
            json!({}),
        )
        .await;
    res.assert_error("QUERY_TOO_COMPLEX");
}

#[tokio::test]
async fn nested_connections_cost_their_pages_and_nothing_runs() {
    let app = spawn_app().await;
    let admin = app.admin();
    // Three levels of first: 100: a million nodes.
    let q = "{ agencies(first: 100) { edges { node { members(first: 100) { edges { node { invitations(first: 100) { totalCount } } } } } } } }";
    let res = app.gql(Some(&admin), q, json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    assert!(res.body.get("data").is_none(), "{}", res.body);
    // A mutation whose answer would cost too much is not run at all.
    let create = "mutation { createAgency(input: {slug: \"too-costly\", name: \"Too Costly\", regions: [\"FR\"], languages: [\"fr\"], specialties: [GAMING], capacity: 5}) { agency { members(first: 100) { edges { node { invitations(first: 100) { totalCount } } } } } } }";
    app.gql(Some(&admin), create, json!({}))
        .await
        .assert_error("QUERY_TOO_COMPLEX");
    let found = app
        .gql(
            Some(&admin),
            "{ agency(slug: \"too-costly\") { id } }",
            json!({}),
        )
        .await;
    assert!(found.assert_ok()["agency"].is_null(), "nothing ran");
    // The same by variables.
    let by_vars = app
        .gql(
            Some(&admin),
            "query($n: Int) { agencies(first: $n) { edges { node { members(first: $n) { totalCount } } } } }",
            json!({"n": 100}),
        )
        .await;
    by_vars.assert_error("QUERY_TOO_COMPLEX");
    // A page of 100 recommendations with explanations fits.
    let (agency_id, _, agency) = app.agency_with_token("fits", &["FR"], 5).await;
    let page = app
        .gql(
            Some(&agency),
            "query($a: ID!) { recommendedCreators(agencyId: $a, first: 100) { totalCandidates edges { cursor rank score node { id handle displayName region languages categories stats { followers avgViewers liveDays30d } } explanation { signal value weight contribution } reasons } pageInfo { hasNextPage endCursor } } }",
            json!({"a": agency_id}),
        )
        .await;
    page.assert_ok();
    let cost = &page.body["extensions"]["cost"];
    assert!(
        cost["requestedQueryCost"].as_u64().unwrap() <= 5000,
        "{cost}"
    );
}

#[tokio::test]
async fn depth_counts_the_apis_own_fields() {
    let app = spawn_app().await;
    let admin = app.admin();
    // 13 levels: agencies edges node members edges node invitations edges
    // node agency members edges node.
    let deep = "{ agencies(first: 1) { edges { node { members(first: 1) { edges { node { invitations(first: 1) { edges { node { agency { members(first: 1) { edges { node { handle } } } } } } } } } } } } } }";
    let res = app.gql(Some(&admin), deep, json!({})).await;
    res.assert_error("QUERY_TOO_COMPLEX");
    let message = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("depth"), "{message}");
}

#[tokio::test]
async fn every_answer_reports_its_cost() {
    let app = spawn_app().await;
    let res = app
        .gql(
            None,
            "{ agencies(first: 5) { totalCount edges { node { slug } } } }",
            json!({}),
        )
        .await;
    res.assert_ok();
    let cost = &res.body["extensions"]["cost"];
    assert_eq!(
        cost["requestedQueryCost"],
        1 + 5 * 4, // agencies + 5 × (totalCount + edges + node + slug)
        "{cost}"
    );
    assert_eq!(
        cost["actualQueryCost"], 3,
        "agencies, totalCount, edges (empty)"
    );
}

/// A bucket of 100 points restoring 1 a second: a page of ten agencies
/// (requested 31, actual 22) runs until the bucket cannot cover 31, then is
/// RATE_LIMITED with 429 and a retry time; another caller's bucket is
/// untouched, and an exhausted one runs nothing.
#[tokio::test]
async fn rate_limits_are_per_principal_and_answer_429() {
    let app = spawn_app_with(|c| {
        c.limits.rate_limit_capacity = 100;
        c.limits.rate_limit_restore = 1;
    })
    .await;
    for i in 0..10 {
        app.create_agency(&format!("listed-{i}"), &["FR"], 5).await;
    }
    let reader = app.token(Principal::Admin("reader".into()));
    let page = "{ agencies(first: 10) { edges { node { slug } } } }";
    let mut available = Vec::new();
    let limited = loop {
        let res = app.gql(Some(&reader), page, json!({})).await;
        if res.status != StatusCode::OK {
            break res;
        }
        let cost = &res.body["extensions"]["cost"];
        assert_eq!(cost["requestedQueryCost"], 31, "{cost}");
        assert_eq!(cost["actualQueryCost"], 22, "{cost}");
        available.push(
            cost["throttleStatus"]["currentlyAvailable"]
                .as_f64()
                .unwrap(),
        );
        assert!(available.len() <= 5, "never limited: {available:?}");
    };
    assert_eq!(available.len(), 4, "{available:?}");
    assert!(available.windows(2).all(|w| w[1] < w[0]), "{available:?}");
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.codes(), vec!["RATE_LIMITED"]);
    let retry = limited.body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .unwrap();
    assert!((1..=31).contains(&retry), "{}", limited.body);
    assert_eq!(
        limited.body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"],
        100.0
    );

    // Another principal has its own bucket; an exhausted one runs nothing.
    let (_, creator_id) = app.create_creator("throttled", "FR").await;
    let creator = app.token(Principal::Creator(creator_id));
    let switch = "mutation($on: Boolean!) { setDiscoverable(discoverable: $on) { creator { discoverable } } }";
    app.gql(Some(&creator), switch, json!({"on": true}))
        .await
        .assert_ok();
    for _ in 0..40 {
        let res = app.gql(Some(&creator), switch, json!({"on": false})).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                app.creator_row(creator_id).await.discoverable,
                "nothing ran"
            );
            return;
        }
        app.gql(Some(&creator), switch, json!({"on": true})).await;
    }
    panic!("the creator's bucket never emptied");
}

#[tokio::test]
async fn queries_come_by_get_and_mutations_do_not() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    let res = app
        .client
        .get(&url)
        .query(&[("query", "{ agencies { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"]["agencies"]["totalCount"], 0);
    let mutation = app
        .client
        .get(&url)
        .bearer_auth(app.admin())
        .query(&[(
            "query",
            "mutation { createAgency(input: {slug: \"by-get\", name: \"By Get\", regions: [\"FR\"], languages: [\"fr\"], specialties: [GAMING], capacity: 5}) { agency { id } } }",
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(mutation.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(mutation.headers()["allow"], "POST");
    let count = app
        .gql(None, "{ agencies { totalCount } }", json!({}))
        .await;
    assert_eq!(
        count.assert_ok()["agencies"]["totalCount"],
        0,
        "nothing ran"
    );
}

#[tokio::test]
async fn media_types_are_negotiated() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.base);
    let post = |accept: &'static str, content_type: &'static str, body: &'static str| {
        app.client
            .post(&url)
            .header("accept", accept)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let ok = r#"{"query": "{ __typename }"}"#;
    let json_answer = post("application/json", "application/json", ok)
        .await
        .unwrap();
    assert_eq!(json_answer.status(), StatusCode::OK);
    assert!(
        json_answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let strict = post("application/graphql-response+json", "application/json", ok)
        .await
        .unwrap();
    assert!(
        strict.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/graphql-response+json")
    );
    let invalid = r#"{"query": "{ nope }"}"#;
    let refused = post(
        "application/graphql-response+json",
        "application/json",
        invalid,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert!(body.get("data").is_none(), "{body}");
    let legacy = post("application/json", "application/json", invalid)
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::OK);
    assert_eq!(
        post("text/html", "application/json", ok)
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_ACCEPTABLE
    );
    assert_eq!(
        post("application/json", "text/plain", ok)
            .await
            .unwrap()
            .status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

/// The `extensions` that name a query by its SHA-256 (Apollo's protocol).
fn persisted_by_hash(query: &str) -> Value {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"persistedQuery": {"version": 1, "sha256Hash": hash}})
}

/// A mutation named by its persisted hash alone still may not come by GET:
/// only the schema knows what the hash names, and it refuses with 405.
#[tokio::test]
async fn a_persisted_mutation_by_get_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin();
    let mutation = "mutation { createAgency(input: {slug: \"hashed\", name: \"Hashed\", regions: [\"FR\"], languages: [\"fr\"], specialties: [GAMING], capacity: 5}) { agency { id } } }";
    let persisted = persisted_by_hash(mutation);
    // Unknown: PersistedQueryNotFound, 200, nothing ran.
    let url = format!("{}/graphql", app.base);
    let unknown: Value = app
        .client
        .post(&url)
        .bearer_auth(&admin)
        .json(&json!({"extensions": persisted}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    // A wrong hash for a query is refused.
    let wrong = app
        .client
        .post(&url)
        .bearer_auth(&admin)
        .json(&json!({"query": "{ __typename }", "extensions": persisted}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::OK);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    // Registered and run by POST, then the hash alone by GET: 405.
    app.client
        .post(&url)
        .bearer_auth(&admin)
        .json(&json!({"query": mutation, "extensions": persisted}))
        .send()
        .await
        .unwrap();
    let by_get = app
        .client
        .get(&url)
        .bearer_auth(&admin)
        .query(&[("extensions", persisted.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(by_get.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(by_get.headers()["allow"], "POST");
    let count = app
        .gql(None, "{ agencies { totalCount } }", json!({}))
        .await;
    assert_eq!(
        count.assert_ok()["agencies"]["totalCount"],
        1,
        "run once, by POST"
    );
}

/// A query sent once in full is remembered by its hash: the hash alone
/// then runs it, by POST and by GET.
#[tokio::test]
async fn a_query_sent_in_full_can_then_be_sent_by_its_hash() {
    let app = spawn_app().await;
    let query = "{ agencies { totalCount } }";
    let persisted = persisted_by_hash(query);
    let url = format!("{}/graphql", app.base);
    let by_hash = async || -> Value {
        app.client
            .post(&url)
            .json(&json!({"extensions": persisted}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    assert_eq!(
        by_hash().await["errors"][0]["message"],
        "PersistedQueryNotFound"
    );
    app.gql(None, query, json!({})).await.assert_ok();
    assert_eq!(by_hash().await["data"]["agencies"]["totalCount"], 0);
    let by_get: Value = app
        .client
        .get(&url)
        .query(&[("extensions", persisted.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_get["data"]["agencies"]["totalCount"], 0);
}

/// Anonymous POSTs of `{ __typename }` from `client` (as its proxy says)
/// until one is refused; how many ran.
async fn anonymous_until_limited(app: &crate::helpers::TestApp, client: &str) -> usize {
    for ran in 0..100 {
        let res = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("x-forwarded-for", client)
            .json(&json!({"query": "{ __typename }"}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            return ran;
        }
    }
    100
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_bucket() {
    let limited = |trusted: bool| {
        spawn_app_with(move |c| {
            c.limits.rate_limit_capacity = 5;
            c.limits.rate_limit_restore = 1;
            if trusted {
                c.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
    };
    let app = limited(true).await;
    let first = anonymous_until_limited(&app, "198.51.100.1").await;
    assert!((2..10).contains(&first), "{first}");
    // Another client behind the same proxy still has its whole bucket.
    let second = anonymous_until_limited(&app, "198.51.100.2").await;
    assert!(second >= 2, "{second}");
    // A client cannot pick a fresh bucket by forging the leftmost hop.
    let forged = anonymous_until_limited(&app, "203.0.113.9, 198.51.100.1").await;
    assert_eq!(forged, 0);

    // By default no peer is trusted: the header is ignored.
    let app = limited(false).await;
    anonymous_until_limited(&app, "198.51.100.1").await;
    assert_eq!(anonymous_until_limited(&app, "198.51.100.2").await, 0);
}
