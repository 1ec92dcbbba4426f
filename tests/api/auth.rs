//! Bearer tokens: every way a token can be wrong is a 401 UNAUTHENTICATED
//! with nothing executed; scopes narrow what a valid token may do.

use agency_center::auth::TokenKeys;
use agency_center::domain::Principal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::helpers::spawn_app;

const VIEWER: &str = "{ viewer { role } }";

#[tokio::test]
async fn each_role_sees_itself_as_the_viewer() {
    let app = spawn_app().await;
    let (_, agency) = app.create_agency("north-star", &["FR"], 10).await;
    let (_, creator) = app.create_creator("lea.live", "FR").await;
    let q = "{ viewer { role creator { handle } agency { slug } } }";

    let anon = app.gql(None, q, json!({})).await;
    assert_eq!(
        anon.assert_ok()["viewer"],
        json!({"role": "ANONYMOUS", "creator": null, "agency": null})
    );
    let as_creator = app
        .gql(Some(&app.token(Principal::Creator(creator))), q, json!({}))
        .await;
    assert_eq!(
        as_creator.assert_ok()["viewer"]["creator"]["handle"],
        "lea.live"
    );
    assert_eq!(as_creator.data()["viewer"]["role"], "CREATOR");
    let as_agency = app
        .gql(Some(&app.token(Principal::Agency(agency))), q, json!({}))
        .await;
    assert_eq!(
        as_agency.assert_ok()["viewer"]["agency"]["slug"],
        "north-star"
    );
    let as_admin = app.gql(Some(&app.admin()), q, json!({})).await;
    assert_eq!(as_admin.assert_ok()["viewer"]["role"], "ADMIN");
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let admin = Principal::Admin("ops".into());
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "admin:ops", "iat": 0, "exp": chrono::Utc::now().timestamp() - 3600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let wrong_signature = TokenKeys::new(b"some-other-secret-of-16+ bytes")
        .issue(&admin, Duration::from_secs(60), None)
        .unwrap();
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(json!({"sub": "admin:ops", "exp": 4_000_000_000u64}).to_string())
    );
    let no_exp = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "admin:ops"}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let unknown_subject = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "root:me", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    for (what, token) in [
        ("expired", expired.as_str()),
        ("wrong signature", wrong_signature.as_str()),
        ("alg none", alg_none.as_str()),
        ("no exp", no_exp.as_str()),
        ("unknown subject", unknown_subject.as_str()),
        ("garbage", "not.a.jwt"),
    ] {
        let res = app.gql(Some(token), VIEWER, json!({})).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{what}: {}", res.body);
        assert_eq!(res.codes(), vec!["UNAUTHENTICATED"], "{what}");
        assert!(res.data().is_null(), "{what}: nothing runs");
    }
    let now = chrono::Utc::now().timestamp();
    let not_yet = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "admin:ops", "exp": now + 3600, "nbf": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let res = app.gql(Some(&not_yet), VIEWER, json!({})).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "nbf: {}", res.body);
    // `iat` is optional (RFC 7519).
    let no_iat = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "admin:ops", "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(crate::helpers::SECRET),
    )
    .unwrap();
    let res = app.gql(Some(&no_iat), VIEWER, json!({})).await;
    assert_eq!(res.assert_ok()["viewer"]["role"], "ADMIN");
    let basic = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("Authorization", "Basic b3BzOm9wcw==")
        .json(&json!({"query": VIEWER}))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_bad_token_runs_no_mutation() {
    let app = spawn_app().await;
    let forged = TokenKeys::new(b"attacker-secret-0123456789")
        .issue(
            &Principal::Admin("ops".into()),
            Duration::from_secs(60),
            None,
        )
        .unwrap();
    let res = app
        .gql(
            Some(&forged),
            r#"mutation { createCreator(input: {handle: "forged", displayName: "F", region: "FR", languages: ["fr"], categories: [ART], birthDate: "1990-01-01"}) { creator { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.creator_count().await, 0);
}

#[tokio::test]
async fn scopes_narrow_a_token() {
    let app = spawn_app().await;
    let (creator_id, _) = app.create_creator("scoped.one", "FR").await;
    let read_only = app.token_scoped(Principal::Admin("partner".into()), Some("read"));
    assert_eq!(
        app.gql(Some(&read_only), VIEWER, json!({}))
            .await
            .assert_ok()["viewer"]["role"],
        "ADMIN"
    );
    let res = app
        .gql(
            Some(&read_only),
            r#"mutation { createAgency(input: {slug: "nope", name: "N", regions: ["FR"], languages: ["fr"], specialties: [ART], capacity: 1}) { agency { id } } }"#,
            json!({}),
        )
        .await;
    res.assert_error("FORBIDDEN");

    let ingest_only = app.token_scoped(Principal::Agency(uuid::Uuid::now_v7()), Some("ingest"));
    app.gql(Some(&ingest_only), VIEWER, json!({}))
        .await
        .assert_error("FORBIDDEN");
    let stats = json!({"input": [{
        "creatorId": creator_id, "followers": 1200, "avgViewers": 35.5, "peakViewers": 90,
        "liveHours30d": 40.0, "liveDays30d": 12, "diamonds30d": 3000,
        "followerGrowth30d": 0.08, "engagementRate": 0.12
    }]});
    let q = "mutation($input: [CreatorStatsInput!]!) { upsertCreatorStats(input: $input) { updated userErrors { code } } }";
    let res = app.gql(Some(&ingest_only), q, stats.clone()).await;
    assert_eq!(res.assert_ok()["upsertCreatorStats"]["updated"], 1);
    assert_eq!(
        app.creator_row(crate::helpers::uuid_of(creator_id.as_str()))
            .await
            .followers,
        1200
    );
}
