//! DataLoaders: a relation costs one SQL statement per query level, so the
//! number of statements does not grow with the page size.

use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

async fn statements_for(app: &TestApp, token: &str, query: &str) -> u64 {
    // Let the previous request's background work settle.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before = app.statements.get();
    app.gql(Some(token), query, json!({})).await.assert_ok();
    app.statements.get() - before
}

#[tokio::test]
async fn agency_directory_relations_are_batched() {
    let app = spawn_app().await;
    let mut agencies = Vec::new();
    for i in 0..30 {
        let (_, id) = app
            .create_agency(&format!("agency-{i:02}"), &["FR"], 10)
            .await;
        agencies.push(id);
    }
    for (i, agency) in agencies.iter().enumerate().take(10) {
        let (_, c) = app.create_creator(&format!("member_{i}"), "FR").await;
        app.insert_membership(*agency, c).await;
    }
    let token = app.admin();
    let page = |n: u32| {
        format!("{{ agencies(first: {n}) {{ edges {{ node {{ slug memberCount }} }} }} }}")
    };
    let small = statements_for(&app, &token, &page(3)).await;
    let large = statements_for(&app, &token, &page(30)).await;
    assert_eq!(small, large, "statements must not grow with the page size");
    // count + page + one batched member count
    assert_eq!(large, 3);
    let counts = app.gql(Some(&token), &page(30), json!({})).await;
    let members: i64 = counts.assert_ok()["agencies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["memberCount"].as_i64().unwrap())
        .sum();
    assert_eq!(members, 10);
}

#[tokio::test]
async fn invitation_list_relations_are_batched() {
    let app = spawn_app().await;
    let (agency_id, agency) = app.create_agency("batcher", &["FR"], 10).await;
    for i in 0..30 {
        let (_, c) = app.create_creator(&format!("invited_{i:02}"), "FR").await;
        app.insert_invitation(agency, c).await;
    }
    let token = app.admin();
    let page = |n: u32| {
        format!(
            "{{ agency(id: \"{agency_id}\") {{ invitations(first: {n}) {{ edges {{ node {{ status creator {{ handle agency {{ slug }} }} agency {{ slug memberCount }} }} }} }} }} }}"
        )
    };
    let small = statements_for(&app, &token, &page(3)).await;
    let large = statements_for(&app, &token, &page(30)).await;
    assert_eq!(small, large, "statements must not grow with the page size");
}
