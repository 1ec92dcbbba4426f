//! DataLoaders: a relation costs one SQL statement per query level, so the
//! number of statements does not grow with the page size.

use serde_json::json;

use crate::helpers::{TestApp, spawn_uncached_app};

async fn statements_for(app: &TestApp, token: &str, query: &str) -> u64 {
    // Let the previous request's background work settle.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before = app.statements.get();
    app.gql(Some(token), query, json!({})).await.assert_ok();
    app.statements.get() - before
}

#[tokio::test]
async fn agency_directory_relations_are_batched() {
    let app = spawn_uncached_app().await;
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
    // the page + one batched member count (no totalCount asked: no count)
    assert_eq!(large, 2);
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
    let app = spawn_uncached_app().await;
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

/// The dashboard read: agencies → invitations → creator, and members with
/// counts. With 2 parents or 20, the same statements: each connection under
/// the list is one statement for all parents (plus one for its totals).
#[tokio::test]
async fn nested_connections_cost_the_same_for_two_parents_or_twenty() {
    let app = spawn_uncached_app().await;
    let mut agencies = Vec::new();
    for i in 0..20 {
        let (_, id) = app
            .create_agency(&format!("parent-{i:02}"), &["FR"], 10)
            .await;
        agencies.push(id);
    }
    for (i, agency) in agencies.iter().enumerate() {
        for j in 0..3 {
            let (_, c) = app.create_creator(&format!("kid_{i:02}_{j}"), "FR").await;
            if j == 0 {
                app.insert_membership(*agency, c).await;
            } else {
                app.insert_invitation(*agency, c).await;
            }
        }
    }
    let token = app.admin();
    let dashboard = |n: u32| {
        format!(
            "{{ agencies(first: {n}) {{ edges {{ node {{ name \
             invitations(first: 10) {{ totalCount edges {{ node {{ status creator {{ handle stats {{ followers }} }} }} }} }} \
             members(first: 5) {{ totalCount edges {{ node {{ handle }} }} }} }} }} }} }}"
        )
    };
    let two = statements_for(&app, &token, &dashboard(2)).await;
    let twenty = statements_for(&app, &token, &dashboard(20)).await;
    assert_eq!(two, twenty, "statements must not grow with the parents");
    // The agencies page; the invitation pages with their creators joined,
    // and their totals; the member pages with their creators joined, and
    // the member counts.
    assert_eq!(twenty, 5);
    let data = app.ok(&token, &dashboard(20), json!({})).await;
    for edge in data["agencies"]["edges"].as_array().unwrap() {
        let node = &edge["node"];
        assert_eq!(node["invitations"]["totalCount"], 2, "{node}");
        assert_eq!(node["invitations"]["edges"].as_array().unwrap().len(), 2);
        assert_eq!(node["members"]["totalCount"], 1);
        assert_eq!(node["members"]["edges"].as_array().unwrap().len(), 1);
    }
}

/// Per-parent pages keep their own cursor: paging one agency's invitations
/// by two walks exactly its own, newest first.
#[tokio::test]
async fn batched_pages_walk_each_parent_exactly() {
    let app = spawn_uncached_app().await;
    let (_, a) = app.create_agency("walk-a", &["FR"], 10).await;
    let (_, b) = app.create_agency("walk-b", &["FR"], 10).await;
    let mut expected = Vec::new();
    for i in 0..5 {
        let (_, c) = app.create_creator(&format!("walker_{i}"), "FR").await;
        expected.push(app.insert_invitation(a, c).await);
        app.insert_invitation(b, c).await;
    }
    expected.reverse();
    let token = app.admin();
    let q = "query($after: String) { agencies(first: 2) { edges { node { slug invitations(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage } } } } } }";
    let mut after = serde_json::Value::Null;
    let mut seen = Vec::new();
    loop {
        let data = app.ok(&token, q, json!({"after": after})).await;
        let walk_a = &data["agencies"]["edges"][0]["node"];
        assert_eq!(walk_a["slug"], "walk-a");
        let edges = walk_a["invitations"]["edges"].as_array().unwrap().clone();
        for e in &edges {
            seen.push(crate::helpers::uuid_of(e["node"]["id"].as_str().unwrap()));
        }
        if walk_a["invitations"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = edges.last().unwrap()["cursor"].clone();
    }
    assert_eq!(seen, expected, "newest first, no gap, no repeat");
}

/// A level of more parents than SQLite joins in one compound statement
/// (500) is split: 600 agencies' pages take two statements and one count,
/// on both engines, and each page is still its own parent's newest first.
#[tokio::test]
async fn six_hundred_parents_take_two_statements_each_page_exact() {
    use agency_center::domain::pages::{InvitationParent, PageArgs, invitation_pages};

    let app = spawn_uncached_app().await;
    let (_, a) = app.create_agency("many-a", &["FR"], 10).await;
    let (_, b) = app.create_agency("many-b", &["FR"], 10).await;
    let mut of_a = Vec::new();
    for i in 0..3 {
        let (_, c) = app.create_creator(&format!("many_{i}"), "FR").await;
        of_a.push(app.insert_invitation(a, c).await);
        if i == 0 {
            app.insert_invitation(b, c).await;
        }
    }
    of_a.reverse();
    let mut parents = vec![a];
    parents.extend((0..598).map(|_| uuid::Uuid::now_v7()));
    parents.push(b);
    let args = PageArgs {
        first: 2,
        after: None,
        with_total: true,
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let before = app.statements.get();
    let pages = invitation_pages(
        &app.db,
        InvitationParent::Agency,
        &parents,
        None,
        args,
        true,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        app.statements.get() - before,
        3,
        "two pages' statements (their creators joined), one count"
    );
    assert_eq!(pages.len(), 600);
    let page_a = &pages[&a];
    for (inv, creator) in &page_a.items {
        assert_eq!(creator.as_ref().map(|c| c.id), Some(inv.creator_id));
    }
    let ids: Vec<_> = page_a.items.iter().map(|i| i.0.id).collect();
    assert_eq!(ids, of_a[..2], "newest first");
    assert!(page_a.has_next);
    assert_eq!(page_a.total, 3);
    let page_b = &pages[&b];
    assert_eq!(
        (page_b.items.len(), page_b.has_next, page_b.total),
        (1, false, 1)
    );
    assert!(parents[1..599].iter().all(|p| pages[p].items.is_empty()));
}
