//! Bad input, end to end: each case gets a clear error (a status a client
//! can act on, an `extensions.code`, a message), never a 5xx or a panic,
//! and nothing in the database changes.

use agency_center::domain::Principal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Rows of every table a mutation could touch.
async fn snapshot(app: &TestApp) -> Vec<u64> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    vec![
        entity::creator::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        entity::agency::Entity::find().count(&app.db).await.unwrap(),
        entity::invitation::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        entity::membership::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        entity::change_log::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
    ]
}

/// One hostile request: how it is sent.
enum Send {
    Raw {
        content_type: &'static str,
        body: Vec<u8>,
        token: Option<String>,
    },
    Gql {
        query: String,
        variables: Value,
        token: Option<String>,
    },
}

fn gql(query: impl Into<String>, variables: Value, token: Option<&str>) -> Send {
    Send::Gql {
        query: query.into(),
        variables,
        token: token.map(str::to_owned),
    }
}

fn raw(content_type: &'static str, body: impl Into<Vec<u8>>) -> Send {
    Send::Raw {
        content_type,
        body: body.into(),
        token: None,
    }
}

async fn fire(app: &TestApp, send: Send) -> (StatusCode, String) {
    let url = format!("{}/graphql", app.base);
    let request = match send {
        Send::Raw {
            content_type,
            body,
            token,
        } => {
            let r = app
                .client
                .post(&url)
                .header("content-type", content_type)
                .body(body);
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        }
        Send::Gql {
            query,
            variables,
            token,
        } => {
            let r = app
                .client
                .post(&url)
                .json(&json!({"query": query, "variables": variables}));
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        }
    };
    let res = request.send().await.expect("the server answers");
    let status = res.status();
    (status, res.text().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let app = spawn_app().await;
    let admin = app.admin();
    let (agency_id, _, agency) = app.agency_with_token("battered", &["FR"], 5).await;
    let (creator_id, creator_uuid, creator) = app.discoverable_creator("target", "FR").await;
    let other_creator = app.token(Principal::Creator(uuid::Uuid::now_v7()));
    let before = snapshot(&app).await;

    let deep = format!(
        "{{ {} }}",
        "viewer { agency { members { edges { node { agency { ".repeat(20)
            + &"} } } } } }".repeat(20)
    );
    let wide = format!(
        "{{ {} }}",
        (0..3000)
            .map(|i| format!("a{i}: agencies {{ totalCount }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let alias_flood = format!(
        "mutation {{ {} }}",
        (0..2000)
            .map(|i| format!(
                "m{i}: setDiscoverable(discoverable: false) {{ userErrors {{ code }} }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "admin:ops", "exp": 1}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"sub": "admin:ops", "exp": 4_000_000_000u64}).to_string())
    );
    let batch: Vec<Value> = (0..1000)
        .map(|_| json!({"query": "mutation { setDiscoverable(discoverable: false) { userErrors { code } } }"}))
        .collect();
    let send = "mutation($input: SendInvitationInput!) { sendInvitation(input: $input) { invitation { id } userErrors { code field } } }";
    let create_agency = "mutation($input: CreateAgencyInput!) { createAgency(input: $input) { agency { id } userErrors { code field } } }";
    let agency_input = |slug: &str, name: &str| json!({"input": {"slug": slug, "name": name, "regions": ["FR"], "languages": ["fr"], "specialties": ["GAMING"], "capacity": 5}});
    let stats = "mutation($input: [CreatorStatsInput!]!) { upsertCreatorStats(input: $input) { updated userErrors { code field } } }";
    let stats_row = |followers: Value, avg: Value| json!({"input": [{"creatorId": creator_id, "followers": followers, "avgViewers": avg, "peakViewers": 1, "liveHours30d": 1.0, "liveDays30d": 1, "diamonds30d": 1, "followerGrowth30d": 0.0, "engagementRate": 0.1}]});

    let cases: Vec<(&str, Send)> = vec![
        ("malformed JSON", raw("application/json", "{\"query\": ")),
        (
            "wrong content type",
            raw("text/plain", "{ viewer { role } }"),
        ),
        (
            "form content type",
            raw("application/x-www-form-urlencoded", "query=%7B%7D"),
        ),
        ("empty body", raw("application/json", "")),
        (
            "JSON that is not an object",
            raw("application/json", "\"{ viewer { role } }\""),
        ),
        (
            "query not a string",
            raw("application/json", r#"{"query": 42}"#),
        ),
        (
            "variables not an object",
            raw(
                "application/json",
                r#"{"query": "{ viewer { role } }", "variables": [1]}"#,
            ),
        ),
        (
            "invalid UTF-8",
            raw("application/json", b"{\"query\": \"\xff\xfe\"}".to_vec()),
        ),
        (
            "10 MB body",
            raw(
                "application/json",
                format!(
                    r#"{{"query": "{{ viewer {{ role }} }} #{}"}}"#,
                    "x".repeat(10 * 1024 * 1024)
                ),
            ),
        ),
        (
            "batch flood",
            raw("application/json", serde_json::to_vec(&batch).unwrap()),
        ),
        ("deep query", gql(deep, json!({}), Some(&admin))),
        ("wide query", gql(wide, json!({}), None)),
        (
            "alias flood of mutations",
            gql(alias_flood, json!({}), Some(&creator)),
        ),
        (
            "huge first",
            gql(
                "{ agencies(first: 1000000) { totalCount } }",
                json!({}),
                None,
            ),
        ),
        (
            "negative first",
            gql("{ agencies(first: -5) { totalCount } }", json!({}), None),
        ),
        (
            "first beyond Int",
            gql(
                "{ agencies(first: 99999999999) { totalCount } }",
                json!({}),
                None,
            ),
        ),
        (
            "unknown id",
            gql(
                "{ node(id: \"bm90aGluZw\") { id } }",
                json!({}),
                Some(&admin),
            ),
        ),
        (
            "garbage id in a mutation",
            gql(send, json!({"input": {"creatorId": "%%%"}}), Some(&agency)),
        ),
        (
            "id of the wrong type",
            gql(
                send,
                json!({"input": {"creatorId": agency_id}}),
                Some(&agency),
            ),
        ),
        (
            "wrong-type variable",
            gql(
                "query($n: Int) { agencies(first: $n) { totalCount } }",
                json!({"n": "ten"}),
                None,
            ),
        ),
        (
            "missing variable",
            gql(
                "query($n: Int!) { agencies(first: $n) { totalCount } }",
                json!({}),
                None,
            ),
        ),
        (
            "invalid region code",
            gql(
                create_agency,
                json!({"input": {"slug": "bad-region", "name": "Bad", "regions": ["XX"], "languages": ["fr"], "specialties": ["GAMING"], "capacity": 5}}),
                Some(&admin),
            ),
        ),
        (
            "invalid language code",
            gql(
                create_agency,
                json!({"input": {"slug": "bad-lang", "name": "Bad", "regions": ["FR"], "languages": ["zz"], "specialties": ["GAMING"], "capacity": 5}}),
                Some(&admin),
            ),
        ),
        (
            "invalid enum value",
            gql(
                create_agency,
                json!({"input": {"slug": "bad-cat", "name": "Bad", "regions": ["FR"], "languages": ["fr"], "specialties": ["NOPE"], "capacity": 5}}),
                Some(&admin),
            ),
        ),
        (
            "control characters",
            gql(
                create_agency,
                agency_input("nul-name", "Bad\u{0}Name"),
                Some(&admin),
            ),
        ),
        (
            "control characters in a slug",
            gql(
                create_agency,
                agency_input("nul\u{0}slug", "Bad"),
                Some(&admin),
            ),
        ),
        (
            "over-long string",
            gql(
                create_agency,
                agency_input("long-name", &"n".repeat(100_000)),
                Some(&admin),
            ),
        ),
        (
            "over-long message",
            gql(
                send,
                json!({"input": {"creatorId": creator_id, "message": "m".repeat(100_000)}}),
                Some(&agency),
            ),
        ),
        (
            "non-finite float literal",
            gql(
                format!(
                    "mutation {{ upsertCreatorStats(input: [{{creatorId: \"{creator_id}\", followers: 1, avgViewers: 1e400, peakViewers: 1, liveHours30d: 1, liveDays30d: 1, diamonds30d: 1, followerGrowth30d: 0, engagementRate: 0.1}}]) {{ updated userErrors {{ code }} }} }}"
                ),
                json!({}),
                Some(&admin),
            ),
        ),
        (
            "negative followers",
            gql(stats, stats_row(json!(-1), json!(1.0)), Some(&admin)),
        ),
        (
            "int overflow",
            gql(
                stats,
                stats_row(json!(1u64 << 63), json!(1.0)),
                Some(&admin),
            ),
        ),
        (
            "garbage token",
            gql("{ viewer { role } }", json!({}), Some("not-a-token")),
        ),
        (
            "expired token",
            gql("{ viewer { role } }", json!({}), Some(&expired)),
        ),
        (
            "alg none token",
            gql(
                "mutation { setDiscoverable(discoverable: false) { userErrors { code } } }",
                json!({}),
                Some(&alg_none),
            ),
        ),
        (
            "someone else's token for a creator that does not exist",
            gql(
                "mutation { setDiscoverable(discoverable: false) { userErrors { code } } }",
                json!({}),
                Some(&other_creator),
            ),
        ),
        (
            "subscription over HTTP",
            gql(
                "subscription { invitationEvents { kind } }",
                json!({}),
                Some(&admin),
            ),
        ),
        (
            "unknown operation name",
            raw(
                "application/json",
                r#"{"query": "query A { viewer { role } }", "operationName": "B"}"#,
            ),
        ),
        (
            "two operations, no name",
            raw(
                "application/json",
                r#"{"query": "query A { viewer { role } } query B { viewer { role } }"}"#,
            ),
        ),
    ];

    for (what, send) in cases {
        let (status, body) = fire(&app, send).await;
        println!("{what}: {status} {}", &body[..body.len().min(160)]);
        assert!(!status.is_server_error(), "{what}: {status} {body}");
        assert!(!body.contains("panicked"), "{what}: {body}");
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            continue;
        }
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
        // Either a top-level error with a code and a message, or a payload
        // refusal (userErrors): each says what is wrong.
        let errors = answer["errors"].as_array().cloned().unwrap_or_default();
        let user_errors: Vec<&Value> = answer["data"]
            .as_object()
            .into_iter()
            .flat_map(|d| d.values())
            .filter_map(|v| v["userErrors"].as_array())
            .flatten()
            .collect();
        assert!(
            !errors.is_empty() || !user_errors.is_empty(),
            "{what}: no error: {body}"
        );
        for e in &errors {
            let code = e["extensions"]["code"].as_str().unwrap_or_default();
            assert!(
                [
                    "BAD_USER_INPUT",
                    "UNAUTHENTICATED",
                    "FORBIDDEN",
                    "NOT_FOUND",
                    "QUERY_TOO_COMPLEX"
                ]
                .contains(&code),
                "{what}: code {code:?}: {body}"
            );
            assert!(
                !e["message"].as_str().unwrap_or_default().is_empty(),
                "{what}: {body}"
            );
        }
        assert_eq!(snapshot(&app).await, before, "{what}: something changed");
    }
    // The creator the cases aimed at is as it was, and the server still serves.
    assert!(app.creator_row(creator_uuid).await.discoverable);
    app.gql(None, "{ agencies { totalCount } }", json!({}))
        .await
        .assert_ok();
}
