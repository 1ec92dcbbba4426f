//! Relay pagination of the agency directory: keyset cursors, no duplicates
//! or gaps across pages, `first` capped at 100.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::spawn_app;

const PAGE: &str = "query($first: Int, $after: String, $region: String) {
  agencies(first: $first, after: $after, region: $region) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { slug regions } }
  }
}";

#[tokio::test]
async fn walking_the_directory_visits_every_agency_once() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for i in 0..23 {
        let slug = format!("agency-{:02}", (i * 7) % 23);
        let region = if i % 3 == 0 { "BR" } else { "FR" };
        app.create_agency(&slug, &[region, "DE"], 5).await;
        expected.push(slug);
    }
    expected.sort();

    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let res = app
            .gql(None, PAGE, json!({"first": 5, "after": after}))
            .await;
        let conn = &res.assert_ok()["agencies"];
        assert_eq!(conn["totalCount"], 23);
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], pages > 0);
        let edges = conn["edges"].as_array().unwrap();
        assert!(edges.len() <= 5);
        assert_eq!(
            conn["pageInfo"]["endCursor"],
            edges.last().map_or(Value::Null, |e| e["cursor"].clone())
        );
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["slug"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, expected, "in slug order, no duplicates, no gaps");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 23);

    // A region filter, normalised, narrows the directory and its count.
    let res = app
        .gql(None, PAGE, json!({"first": 100, "region": " br "}))
        .await;
    let conn = &res.assert_ok()["agencies"];
    assert_eq!(conn["totalCount"], 8);
    assert!(
        conn["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["regions"][0] == "BR")
    );
}

#[tokio::test]
async fn page_size_defaults_to_20_and_is_capped_at_100() {
    let app = spawn_app().await;
    for i in 0..21 {
        app.create_agency(&format!("cap-{i:02}"), &["FR"], 5).await;
    }
    let res = app.gql(None, PAGE, json!({})).await;
    assert_eq!(
        res.assert_ok()["agencies"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(res.data()["agencies"]["pageInfo"]["hasNextPage"], true);
    let res = app.gql(None, PAGE, json!({"first": 100})).await;
    assert_eq!(
        res.assert_ok()["agencies"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        21
    );
    for bad in [101, -1] {
        let res = app.gql(None, PAGE, json!({"first": bad})).await;
        res.assert_error("BAD_USER_INPUT");
        assert!(res.data().is_null());
    }
}

#[tokio::test]
async fn bad_cursors_and_regions_are_bad_user_input() {
    let app = spawn_app().await;
    app.create_agency("only-one", &["FR"], 5).await;
    use base64::Engine;
    let forged = |key: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("agencies|{key}"))
    };
    // Well-formed cursors of this list whose key no server made: a NUL
    // (PostgreSQL refuses it in text), a slug that is no slug, a long one.
    let nul = forged("only\u{0}one");
    let not_a_slug = forged("Only One!");
    let long = forged(&"a".repeat(10_000));
    for after in ["garbage", "QWdlbmN5OjE", "", &nul, &not_a_slug, &long] {
        let res = app.gql(None, PAGE, json!({"after": after})).await;
        res.assert_error("BAD_USER_INPUT");
        assert!(res.data().is_null(), "{}", res.body);
    }
    app.gql(None, PAGE, json!({"region": "XX"}))
        .await
        .assert_error("BAD_USER_INPUT");
}

/// Walks a connection at `path` (under `data`) page by page; returns node
/// keys in order and asserts totalCount on every page.
async fn walk(
    app: &crate::helpers::TestApp,
    token: &str,
    query: &str,
    path: &[&str],
    key: &str,
    expected_total: u64,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .ok(token, query, json!({"first": 7, "after": after}))
            .await;
        let conn = path.iter().fold(&data, |v, p| &v[*p]);
        assert_eq!(conn["totalCount"], expected_total);
        for edge in conn["edges"].as_array().unwrap() {
            seen.push(edge["node"][key].as_str().unwrap().to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            return seen;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn invitation_and_member_lists_page_without_gaps() {
    let app = spawn_app().await;
    let (_, agency, token) = app.agency_with_token("pager", &["FR"], 100).await;
    for i in 0..25 {
        let (_, uuid) = app.create_creator(&format!("paged_{i:02}"), "FR").await;
        app.insert_invitation(agency, uuid).await;
        if i < 18 {
            app.insert_membership(agency, uuid).await;
        }
    }
    let q = "query($first: Int, $after: String) { viewer { agency { invitations(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id createdAt } } } } } }";
    let ids = walk(
        &app,
        &token,
        q,
        &["viewer", "agency", "invitations"],
        "id",
        25,
    )
    .await;
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        25,
        "no duplicates"
    );
    let q = "query($first: Int, $after: String) { viewer { agency { members(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { handle } } } } } }";
    let handles = walk(
        &app,
        &token,
        q,
        &["viewer", "agency", "members"],
        "handle",
        18,
    )
    .await;
    let expected: Vec<String> = (0..18).map(|i| format!("paged_{i:02}")).collect();
    assert_eq!(
        handles, expected,
        "members in the order they joined, no gaps"
    );
    // A cursor of one list is refused by another.
    let data = app.ok(&token, q, json!({"first": 1})).await;
    let members_cursor = data["viewer"]["agency"]["members"]["pageInfo"]["endCursor"].clone();
    let q =
        "query($after: String) { viewer { agency { invitations(after: $after) { totalCount } } } }";
    app.gql(Some(&token), q, json!({"after": members_cursor}))
        .await
        .assert_error("BAD_USER_INPUT");
}
