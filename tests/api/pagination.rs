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
    for after in ["garbage", "QWdlbmN5OjE", ""] {
        app.gql(None, PAGE, json!({"after": after}))
            .await
            .assert_error("BAD_USER_INPUT");
    }
    app.gql(None, PAGE, json!({"region": "XX"}))
        .await
        .assert_error("BAD_USER_INPUT");
}
