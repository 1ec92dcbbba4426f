//! `recommendedCreators` end to end: candidates and every filter, the
//! explanation, authorisation, keyset pages with their as-of time while
//! other creators toggle, diversity, bad input, and freshness of the index
//! after writes (this instance, another instance, and out-of-order commits).

use agency_center::events::EventTransport;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{As, Gql, TestApp, respond, spawn_app, spawn_app_with, uuid_of};

pub const RANK: &str = "query($agency: ID!, $filter: CreatorFilter, $weights: RankingWeights, $first: Int, $after: String, $diversity: Float) {
  recommendedCreators(agencyId: $agency, filter: $filter, weights: $weights, first: $first, after: $after, diversity: $diversity) {
    totalCandidates
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor rank score reasons node { id handle categories } explanation { signal value weight contribution } }
  }
}";

/// A creator as the API creates them, with LIVE figures.
#[derive(Clone)]
pub struct Spec {
    pub handle: &'static str,
    pub region: &'static str,
    pub languages: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub birth_date: &'static str,
    pub followers: i64,
    pub avg_viewers: f64,
    pub live_days: i64,
    pub engagement: f64,
}

impl Spec {
    pub fn followers(mut self, followers: i64) -> Self {
        self.followers = followers;
        self
    }

    pub fn new(handle: &'static str) -> Self {
        Self {
            handle,
            region: "FR",
            languages: &["fr"],
            categories: &["GAMING"],
            birth_date: "1998-03-14",
            followers: 10_000,
            avg_viewers: 50.0,
            live_days: 10,
            engagement: 0.05,
        }
    }
}

/// Creates the creator, switches them on and ingests their figures.
pub async fn creator(app: &TestApp, s: &Spec) -> (String, Uuid) {
    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            "mutation($input: CreateCreatorInput!) { createCreator(input: $input) { creator { id } userErrors { code message } } }",
            json!({"input": {"handle": s.handle, "displayName": format!("Display {}", s.handle),
                "region": s.region, "languages": s.languages, "categories": s.categories, "birthDate": s.birth_date}}),
        )
        .await;
    let id = res.assert_ok()["createCreator"]["creator"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", res.body))
        .to_owned();
    let uuid = uuid_of(&id);
    let on = app
        .gql(
            Some(&app.token(As::Creator(uuid))),
            "mutation { setDiscoverable(discoverable: true) { userErrors { code } } }",
            json!({}),
        )
        .await;
    on.assert_ok();
    stats(
        app,
        &id,
        s.followers,
        s.avg_viewers,
        s.live_days,
        s.engagement,
    )
    .await;
    (id, uuid)
}

pub async fn stats(app: &TestApp, id: &str, followers: i64, avg: f64, days: i64, engagement: f64) {
    let res = app
        .gql(
            Some(&app.admin()),
            "mutation($rows: [CreatorStatsInput!]!) { upsertCreatorStats(input: $rows) { updated userErrors { code field } } }",
            json!({"rows": [{"creatorId": id, "followers": followers, "avgViewers": avg, "peakViewers": 0,
                "liveHours30d": days as f64 * 2.0, "liveDays30d": days, "diamonds30d": followers / 10,
                "followerGrowth30d": 0.0, "engagementRate": engagement}]}),
        )
        .await;
    assert_eq!(
        res.assert_ok()["upsertCreatorStats"]["updated"],
        1,
        "{}",
        res.body
    );
}

pub async fn rank_at(app: &TestApp, token: &str, agency: &str, vars: Value) -> Gql {
    let mut vars = vars;
    vars["agency"] = json!(agency);
    app.gql(Some(token), RANK, vars).await
}

/// The handles of the default ranking's first page.
async fn ranked_handles(app: &TestApp, token: &str, agency: &str) -> Vec<String> {
    handles(rank_at(app, token, agency, json!({})).await.assert_ok())
}

pub fn handles(data: &Value) -> Vec<String> {
    data["recommendedCreators"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {data}"))
        .iter()
        .map(|e| e["node"]["handle"].as_str().unwrap().to_owned())
        .collect()
}

async fn agency(app: &TestApp) -> (String, Uuid, String) {
    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            "mutation($input: CreateAgencyInput!) { createAgency(input: $input) { agency { id } userErrors { code } } }",
            json!({"input": {"slug": "fr-gaming", "name": "FR Gaming", "regions": ["FR", "BE"],
                "languages": ["fr"], "specialties": ["GAMING", "MUSIC"], "capacity": 10}}),
        )
        .await;
    let id = res.assert_ok()["createAgency"]["agency"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let uuid = uuid_of(&id);
    (id, uuid, app.token(As::Agency(uuid)))
}

#[tokio::test]
async fn candidates_are_ranked_explained_and_filtered() {
    let app = spawn_app().await;
    let (agency_id, agency_uuid, token) = agency(&app).await;
    let star = Spec {
        followers: 2_000_000,
        avg_viewers: 3000.0,
        live_days: 28,
        engagement: 0.2,
        ..Spec::new("star.fr")
    };
    creator(&app, &star).await;
    creator(
        &app,
        &Spec {
            region: "BE",
            languages: &["fr", "nl"],
            categories: &["MUSIC", "DANCE"],
            ..Spec::new("belgian.music")
        },
    )
    .await;
    creator(
        &app,
        &Spec {
            categories: &["COMEDY"],
            languages: &["en"],
            followers: 500,
            ..Spec::new("small.comedy")
        },
    )
    .await;
    // Never candidates: another market, a minor, switched off, a member,
    // pending-invited (unless asked), in cooldown.
    creator(
        &app,
        &Spec {
            region: "US",
            ..Spec::new("us.creator")
        },
    )
    .await;
    creator(
        &app,
        &Spec {
            birth_date: "2012-01-01",
            ..Spec::new("minor.fr")
        },
    )
    .await;
    let (_, off) = creator(&app, &Spec::new("switched.off")).await;
    app.set_discoverable(off, false).await;
    let (_, member) = creator(&app, &Spec::new("member.fr")).await;
    let (_, other_agency, _) = app.agency_with_token("other", &["FR"], 5).await;
    app.insert_membership(other_agency, member).await;
    let (_, invited) = creator(&app, &Spec::new("invited.fr")).await;
    app.insert_invitation(agency_uuid, invited).await;
    let (_, cooled) = creator(&app, &Spec::new("declined.fr")).await;
    let inv = app.insert_invitation(agency_uuid, cooled).await;
    let decline = respond(
        &app,
        Some(&app.token(As::Creator(cooled))),
        "declineInvitation",
        &crate::helpers::global_id("Invitation", inv),
    )
    .await;
    decline.assert_ok();

    let res = rank_at(&app, &token, &agency_id, json!({})).await;
    let data = res.assert_ok();
    assert_eq!(handles(data), ["star.fr", "belgian.music", "small.comedy"]);
    let conn = &data["recommendedCreators"];
    assert_eq!(conn["totalCandidates"], 3);
    assert_eq!(conn["pageInfo"]["hasNextPage"], false);
    let mut last = f64::MAX;
    for (i, edge) in conn["edges"].as_array().unwrap().iter().enumerate() {
        assert_eq!(edge["rank"], i + 1);
        let score = edge["score"].as_f64().unwrap();
        assert!(score <= last && (0.0..=1.0).contains(&score));
        last = score;
        let explanation = edge["explanation"].as_array().unwrap();
        let signals: Vec<&str> = explanation
            .iter()
            .map(|c| c["signal"].as_str().unwrap())
            .collect();
        assert_eq!(
            signals,
            [
                "CATEGORY_FIT",
                "LANGUAGE_MATCH",
                "AUDIENCE",
                "LIVE_ACTIVITY",
                "VIEWERS",
                "ENGAGEMENT",
                "MOMENTUM",
                "MONETIZATION",
                "FRESHNESS"
            ]
        );
        let sum: f64 = explanation
            .iter()
            .map(|c| c["contribution"].as_f64().unwrap())
            .sum();
        assert!((sum - score).abs() < 1e-5, "{sum} vs {score}");
    }
    let star_reasons = &conn["edges"][0]["reasons"];
    assert!(
        star_reasons
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "LIVE on 28 of the last 30 days (56 hours)"
                || r == "makes Gaming content, as your agency specialises in"
                || r == "speaks French, as your agency does"),
        "{star_reasons}"
    );

    let filtered = |filter: Value| {
        let (app, token, agency_id) = (&app, &token, &agency_id);
        async move {
            let res = rank_at(app, token, agency_id, json!({"filter": filter})).await;
            let data = res.assert_ok().clone();
            (
                handles(&data),
                data["recommendedCreators"]["totalCandidates"]
                    .as_i64()
                    .unwrap(),
            )
        }
    };
    assert_eq!(
        filtered(json!({"regions": ["be"]})).await,
        (vec!["belgian.music".to_owned()], 1)
    );
    assert_eq!(
        filtered(json!({"languages": ["EN"]})).await.0,
        ["small.comedy"]
    );
    assert_eq!(
        filtered(json!({"categories": ["DANCE", "COMEDY"]})).await.0,
        ["belgian.music", "small.comedy"]
    );
    assert_eq!(filtered(json!({"minFollowers": 10000})).await.1, 2);
    assert_eq!(
        filtered(json!({"maxFollowers": 10000})).await.0,
        ["belgian.music", "small.comedy"]
    );
    assert_eq!(
        filtered(json!({"minAvgViewers": 1000})).await.0,
        ["star.fr"]
    );
    assert_eq!(filtered(json!({"minLiveDays30d": 20})).await.0, ["star.fr"]);
    assert_eq!(
        filtered(json!({"query": "DISPLAY SMALL"})).await.0,
        ["small.comedy"]
    );
    assert_eq!(
        filtered(json!({"query": "belgian"})).await.0,
        ["belgian.music"]
    );
    assert_eq!(filtered(json!({"query": "nobody"})).await, (vec![], 0));
    assert_eq!(
        filtered(json!({"regions": ["FR"], "minFollowers": 100, "categories": ["GAMING"]}))
            .await
            .0,
        ["star.fr"]
    );
    let with_invited = filtered(json!({"includeInvited": true})).await;
    assert_eq!(with_invited.1, 4, "{with_invited:?}");
    assert!(with_invited.0.contains(&"invited.fr".to_owned()));
    assert!(
        !with_invited.0.contains(&"declined.fr".to_owned()),
        "cooldown holds"
    );

    // Weights: only AUDIENCE puts the smallest account last, only LANGUAGE_MATCH
    // puts the English speaker last; a zero weight is listed with 0.
    let res = rank_at(
        &app,
        &token,
        &agency_id,
        json!({"weights": {
        "categoryFit": 0, "languageMatch": 0, "liveActivity": 0, "viewers": 0, "engagement": 0,
        "momentum": 0, "monetization": 0, "freshness": 0, "audience": 1}}),
    )
    .await;
    let data = res.assert_ok();
    assert_eq!(handles(data), ["star.fr", "belgian.music", "small.comedy"]);
    let first = &data["recommendedCreators"]["edges"][0];
    assert_eq!(first["explanation"][0]["weight"], 0.0);
    assert_eq!(first["explanation"][0]["contribution"], 0.0);
    assert_eq!(first["score"], first["explanation"][2]["value"]);
}

#[tokio::test]
async fn only_the_agency_itself_and_admins_rank_for_it() {
    let app = spawn_app().await;
    let (agency_id, _, token) = agency(&app).await;
    let (_, creator_uuid) = creator(&app, &Spec::new("someone")).await;
    let (_, _, other) = app.agency_with_token("rival", &["FR"], 5).await;
    rank_at(&app, &token, &agency_id, json!({}))
        .await
        .assert_ok();
    let admin = rank_at(&app, &app.admin(), &agency_id, json!({})).await;
    assert_eq!(handles(admin.assert_ok()), ["someone"]);
    rank_at(&app, &other, &agency_id, json!({}))
        .await
        .assert_error("FORBIDDEN");
    rank_at(
        &app,
        &app.token(As::Creator(creator_uuid)),
        &agency_id,
        json!({}),
    )
    .await
    .assert_error("FORBIDDEN");
    let anonymous = app.gql(None, RANK, json!({"agency": agency_id})).await;
    anonymous.assert_error("UNAUTHENTICATED");
    let ingest_only = app.token_scoped(As::Agency(uuid_of(&agency_id)), Some("ingest"));
    rank_at(&app, &ingest_only, &agency_id, json!({}))
        .await
        .assert_error("FORBIDDEN");
}

#[tokio::test]
async fn bad_arguments_are_refused_clearly() {
    let app = spawn_app().await;
    let (agency_id, _, token) = agency(&app).await;
    creator(&app, &Spec::new("someone")).await;
    let page = rank_at(&app, &token, &agency_id, json!({"first": 1})).await;
    let cursor = page.assert_ok()["recommendedCreators"]["pageInfo"]["endCursor"].clone();
    let cases = [
        (
            json!({"filter": {"regions": ["US"]}}),
            "US is not one of the agency's regions",
        ),
        (json!({"filter": {"regions": ["XX"]}}), "XX"),
        (json!({"filter": {"languages": ["zz"]}}), "zz"),
        (
            json!({"filter": {"minFollowers": -1}}),
            "minFollowers must be >= 0",
        ),
        (
            json!({"filter": {"minFollowers": 10, "maxFollowers": 5}}),
            "maxFollowers must not be below minFollowers",
        ),
        (json!({"filter": {"minAvgViewers": -2.5}}), "minAvgViewers"),
        (
            json!({"filter": {"minLiveDays30d": 31}}),
            "minLiveDays30d must be between 0 and 30",
        ),
        (
            json!({"filter": {"query": "x".repeat(101)}}),
            "query must be at most 100",
        ),
        (
            json!({"weights": {"audience": 11}}),
            "audience must be between 0 and 10",
        ),
        (
            json!({"weights": {"audience": -1}}),
            "audience must be between 0 and 10",
        ),
        (
            json!({"weights": {"categoryFit": 0, "languageMatch": 0, "audience": 0, "liveActivity": 0,
            "viewers": 0, "engagement": 0, "momentum": 0, "monetization": 0, "freshness": 0}}),
            "at least one weight",
        ),
        (
            json!({"diversity": 1.5}),
            "diversity must be between 0 and 1",
        ),
        (
            json!({"diversity": -0.1}),
            "diversity must be between 0 and 1",
        ),
        (json!({"first": 101}), "first must be between 0 and 100"),
        (json!({"first": -1}), "first must be between 0 and 100"),
        (json!({"after": "garbage"}), "is not a cursor of this list"),
        (
            json!({"after": cursor, "filter": {"minFollowers": 1}}),
            "belongs to a ranking with other arguments",
        ),
        (
            json!({"after": cursor, "diversity": 0.5}),
            "belongs to a ranking with other arguments",
        ),
    ];
    for (vars, message) in cases {
        let res = rank_at(&app, &token, &agency_id, vars.clone()).await;
        res.assert_error("BAD_USER_INPUT");
        let text = res.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(text.contains(message), "{vars}: {text}");
        assert!(res.body["data"].is_null(), "{}", res.body);
    }
    let wrong_type = rank_at(
        &app,
        &token,
        &crate::helpers::global_id("Creator", Uuid::now_v7()),
        json!({}),
    )
    .await;
    wrong_type.assert_error("BAD_USER_INPUT");
    let missing = rank_at(
        &app,
        &app.admin(),
        &crate::helpers::global_id("Agency", Uuid::now_v7()),
        json!({}),
    )
    .await;
    missing.assert_error("BAD_USER_INPUT");
}

async fn all_pages(
    app: &TestApp,
    token: &str,
    agency: &str,
    vars: Value,
    between: impl AsyncFn(usize),
) -> Vec<(String, f64, i64)> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let mut v = vars.clone();
        v["after"] = after.clone();
        let res = rank_at(app, token, agency, v).await;
        let data = res.assert_ok();
        for e in data["recommendedCreators"]["edges"].as_array().unwrap() {
            out.push((
                e["node"]["handle"].as_str().unwrap().to_owned(),
                e["score"].as_f64().unwrap(),
                e["rank"].as_i64().unwrap(),
            ));
        }
        let info = &data["recommendedCreators"]["pageInfo"];
        if info["hasNextPage"] != true {
            break;
        }
        after = info["endCursor"].clone();
        between(page).await;
    }
    out
}

#[tokio::test]
async fn pages_neither_repeat_nor_skip_while_others_toggle_and_keep_their_instant() {
    let app = spawn_app().await;
    let (agency_id, _, token) = agency(&app).await;
    const STABLE: [&str; 12] = [
        "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08", "s09", "s10", "s11",
    ];
    for (i, h) in STABLE.iter().enumerate() {
        creator(&app, &Spec::new(h).followers(1000 * (i as i64 + 1))).await;
    }
    let mut togglers = Vec::new();
    for h in ["t0", "t1", "t2"] {
        togglers.push(creator(&app, &Spec::new(h).followers(6500)).await.1);
    }
    let whole = all_pages(
        &app,
        &token,
        &agency_id,
        json!({"first": 100}),
        async |_| {},
    )
    .await;
    let toggled = std::cell::Cell::new(0usize);
    let paged = all_pages(
        &app,
        &token,
        &agency_id,
        json!({"first": 4}),
        async |page| {
            // Other creators switch off and on between pages.
            let who = togglers[page % togglers.len()];
            app.set_discoverable(who, page % 2 == 1).await;
            toggled.set(toggled.get() + 1);
        },
    )
    .await;
    assert!(toggled.get() >= 3);
    let stable = |list: &[(String, f64, i64)]| -> Vec<(String, f64)> {
        list.iter()
            .filter(|(h, _, _)| h.starts_with('s'))
            .map(|(h, s, _)| (h.clone(), *s))
            .collect()
    };
    // Every unchanged creator exactly once, in order, with the exact score
    // of the first page's instant.
    assert_eq!(stable(&paged), stable(&whole));
    let mut seen = std::collections::HashSet::new();
    assert!(
        paged.iter().all(|(h, _, _)| seen.insert(h.clone())),
        "{paged:?}"
    );
    let ranks: Vec<i64> = paged.iter().map(|(_, _, r)| *r).collect();
    assert_eq!(ranks, (1..=paged.len() as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn diversity_spreads_the_page_over_categories() {
    let app = spawn_app().await;
    let (agency_id, _, token) = agency(&app).await;
    // The four best are gamers; diversity brings the others up.
    for (i, h) in ["g1", "g2", "g3", "g4"].iter().enumerate() {
        creator(&app, &Spec::new(h).followers(900_000 - i as i64 * 1000)).await;
    }
    creator(
        &app,
        &Spec {
            categories: &["MUSIC"],
            ..Spec::new("m1")
        },
    )
    .await;
    creator(
        &app,
        &Spec {
            categories: &["DANCE"],
            followers: 500,
            ..Spec::new("d1")
        },
    )
    .await;
    let pure = rank_at(&app, &token, &agency_id, json!({"first": 3})).await;
    assert_eq!(handles(pure.assert_ok()), ["g1", "g2", "g3"]);
    let zero = rank_at(
        &app,
        &token,
        &agency_id,
        json!({"first": 3, "diversity": 0}),
    )
    .await;
    assert_eq!(handles(zero.assert_ok()), ["g1", "g2", "g3"]);
    let diverse = rank_at(
        &app,
        &token,
        &agency_id,
        json!({"first": 3, "diversity": 1}),
    )
    .await;
    let data = diverse.assert_ok();
    assert_eq!(handles(data), ["g1", "m1", "d1"]);
    let ranks: Vec<i64> = data["recommendedCreators"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rank"].as_i64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2, 3]);
    let rest = all_pages(
        &app,
        &token,
        &agency_id,
        json!({"first": 2, "diversity": 1}),
        async |_| {},
    )
    .await;
    let names: Vec<&str> = rest.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(names, ["g1", "m1", "d1", "g2", "g3", "g4"]);
}

#[tokio::test]
async fn the_index_follows_every_write_at_once() {
    let app = spawn_app().await;
    let (agency_id, _, token) = agency(&app).await;
    let (a, a_uuid) = creator(&app, &Spec::new("alpha").followers(100)).await;
    creator(&app, &Spec::new("beta").followers(50_000)).await;
    let ranked = async || ranked_handles(&app, &token, &agency_id).await;
    assert_eq!(ranked().await, ["beta", "alpha"]);
    // Stats: alpha overtakes.
    stats(&app, &a, 5_000_000, 9000.0, 30, 0.25).await;
    assert_eq!(ranked().await, ["alpha", "beta"]);
    // Switched off: gone the moment the mutation returns; on again: back.
    let alpha = app.token(As::Creator(a_uuid));
    let switch = |on: bool| {
        let alpha = alpha.clone();
        let app = &app;
        async move {
            app.gql(Some(&alpha), "mutation($on: Boolean!) { setDiscoverable(discoverable: $on) { userErrors { code } } }", json!({"on": on}))
                .await
                .assert_ok();
        }
    };
    switch(false).await;
    assert_eq!(ranked().await, ["beta"]);
    switch(true).await;
    assert_eq!(ranked().await, ["alpha", "beta"]);
    // Profile: a category the agency does not coach changes the fit.
    let res = app.gql(Some(&alpha), "mutation { updateCreatorProfile(input: { displayName: \"Renamed Alpha\", categories: [TRAVEL] }) { userErrors { code } } }", json!({})).await;
    res.assert_ok();
    let found = rank_at(
        &app,
        &token,
        &agency_id,
        json!({"filter": {"query": "renamed"}}),
    )
    .await;
    let data = found.assert_ok();
    assert_eq!(handles(data), ["alpha"]);
    assert_eq!(
        data["recommendedCreators"]["edges"][0]["explanation"][0]["value"],
        0.0
    );
    // Joining an agency takes them out; leaving brings them back.
    let (_, other, other_token) = app.agency_with_token("other", &["FR"], 5).await;
    let inv = crate::helpers::invite(&app, &other_token, &a).await;
    respond(&app, Some(&alpha), "acceptInvitation", &inv)
        .await
        .assert_ok();
    assert_eq!(ranked().await, ["beta"]);
    let _ = other;
    app.gql(
        Some(&alpha),
        "mutation { leaveAgency { userErrors { code } } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(ranked().await, ["alpha", "beta"]);
}

#[tokio::test]
async fn a_write_through_one_instance_is_ranked_by_the_other_at_once_by_notify() {
    ranked_by_the_other_at_once(EventTransport::Notify).await;
}

#[tokio::test]
async fn a_write_through_one_instance_is_ranked_by_the_other_at_once_by_the_change_log() {
    ranked_by_the_other_at_once(EventTransport::ChangeLog).await;
}

async fn ranked_by_the_other_at_once(transport: EventTransport) {
    let (a, b) = crate::instances::pair(transport).await;
    let (agency_id, _, token) = agency(&a).await;
    let (one, one_uuid) = creator(&a, &Spec::new("one").followers(1000)).await;
    creator(&a, &Spec::new("two").followers(50_000)).await;
    let ranked_on_b = async |vars: Value| {
        let mut vars = vars;
        vars["agency"] = json!(agency_id);
        let res = crate::instances::gql_at(&b.base, &token, RANK, vars).await;
        handles(res.assert_ok())
    };
    assert_eq!(ranked_on_b(json!({})).await, ["two", "one"]);
    // Switched off through A: the very next ranking on B leaves them out.
    let one_token = a.token(As::Creator(one_uuid));
    a.gql(
        Some(&one_token),
        "mutation { setDiscoverable(discoverable: false) { userErrors { code } } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(ranked_on_b(json!({})).await, ["two"]);
    a.gql(
        Some(&one_token),
        "mutation { setDiscoverable(discoverable: true) { userErrors { code } } }",
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(ranked_on_b(json!({})).await, ["two", "one"]);
    // Stats and profile through A, likewise.
    stats(&a, &one, 9_000_000, 20_000.0, 30, 0.25).await;
    assert_eq!(ranked_on_b(json!({})).await, ["one", "two"]);
    a.gql(Some(&one_token), "mutation { updateCreatorProfile(input: { displayName: \"Zephyrine\" }) { userErrors { code } } }", json!({}))
        .await
        .assert_ok();
    assert_eq!(
        ranked_on_b(json!({"filter": {"query": "zephyr"}})).await,
        ["one"]
    );
    // And the other way round: B's writes reach A's index.
    let res = crate::instances::gql_at(
        &b.base,
        &one_token,
        "mutation { setDiscoverable(discoverable: false) { userErrors { code } } }",
        json!({}),
    )
    .await;
    res.assert_ok();
    assert_eq!(
        handles(rank_at(&a, &token, &agency_id, json!({})).await.assert_ok()),
        ["two"]
    );
}

/// On PostgreSQL a transaction can take a change-log position, hold it,
/// and commit after a later position was read: the reader must still
/// apply it, ordering the log by transaction ids (notify mode) or by a
/// time window (change-log mode, the portable one).
#[tokio::test]
async fn a_change_committed_out_of_position_order_still_reaches_the_index() {
    out_of_position_order(EventTransport::Notify, false).await;
}

#[tokio::test]
async fn a_change_committed_out_of_position_order_reaches_a_portable_reader() {
    out_of_position_order(EventTransport::ChangeLog, false).await;
}

/// The held transaction got its id after the later one did: a snapshot
/// taken once the later one committed has an `xmax` at or below the held
/// one's id, so its `xip` does not list it (the load-and-fault run's stale
/// read, 3 runs in 12 before the reader also read ids from `xmax` up).
#[tokio::test]
async fn a_change_out_of_position_order_from_a_younger_transaction_reaches_the_index() {
    out_of_position_order(EventTransport::Notify, true).await;
}

async fn out_of_position_order(transport: EventTransport, held_is_younger: bool) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app_with(|c| c.events = transport).await;
    if !app.database_url.starts_with("postgres") {
        return; // SQLite serialises writers: positions commit in order.
    }
    let (agency_id, _, token) = agency(&app).await;
    let (_, early) = creator(&app, &Spec::new("early").followers(100)).await;
    let (_, late) = creator(&app, &Spec::new("late").followers(200)).await;
    creator(&app, &Spec::new("base").followers(50_000)).await;
    let ranked = async || ranked_handles(&app, &token, &agency_id).await;
    assert_eq!(ranked().await, ["base", "late", "early"]);

    // Another instance's writes, as its write path makes them.
    let write = |id: Uuid, followers: i64| {
        format!(
            "UPDATE creators SET followers = {followers}, avg_viewers = {followers} / 100, \
             diamonds_30d = {followers} WHERE id = '{id}'; \
             INSERT INTO change_log (kind, entity_id, creator_id, committed_at) \
             VALUES ('creator.stats', '{id}', '{id}', now())"
        )
    };
    let first = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let second = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let later = second.begin().await.unwrap();
    if held_is_younger {
        later
            .execute_unprepared("SELECT pg_current_xact_id()")
            .await
            .unwrap();
    }
    let held = first.begin().await.unwrap();
    held.execute_unprepared(&write(early, 5_000_000))
        .await
        .unwrap();
    let position = |conn: &sea_orm::DatabaseConnection| {
        let conn = conn.clone();
        async move {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT max(position) AS p FROM change_log",
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<i64>("", "p").unwrap()
        }
    };
    let visible_before = position(&first).await;
    later
        .execute_unprepared(&write(late, 1_000_000))
        .await
        .unwrap();
    later.commit().await.unwrap();
    let after_later = position(&first).await;
    assert!(
        after_later > visible_before + 1,
        "the held transaction took the position in between"
    );

    // The ranking sees the later commit, not the one still open...
    assert_eq!(ranked().await, ["late", "base", "early"]);
    held.commit().await.unwrap();
    // ...and the held one once it commits, though its position is older
    // than one the reader has already read.
    assert_eq!(ranked().await, ["early", "late", "base"]);
}

#[tokio::test]
async fn the_change_log_keeps_a_day_of_changes() {
    use agency_center::domain::index::RankingIndex;
    use entity::change_log;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let app = spawn_app().await;
    creator(&app, &Spec::new("logged")).await;
    let logged = change_log::Entity::find().count(&app.db).await.unwrap();
    assert!(
        logged >= 3,
        "create, switch on and stats are logged: {logged}"
    );
    let now = chrono::Utc::now();
    assert_eq!(RankingIndex::prune_log(&app.db, now).await.unwrap(), 0);
    assert_eq!(
        RankingIndex::prune_log(&app.db, now + chrono::Duration::hours(25))
            .await
            .unwrap(),
        logged
    );
    assert_eq!(change_log::Entity::find().count(&app.db).await.unwrap(), 0);
}

#[tokio::test]
async fn a_fresh_load_holds_exactly_the_rankable_creators() {
    use agency_center::domain::index::RankingIndex;
    let app = spawn_app().await;
    let mut rankable = Vec::new();
    for h in ["r0", "r1", "r2", "r3", "r4", "r5", "r6"] {
        rankable.push(creator(&app, &Spec::new(h)).await.1);
    }
    let (_, off) = creator(&app, &Spec::new("off")).await;
    app.set_discoverable(off, false).await;
    let (_, member) = creator(&app, &Spec::new("member")).await;
    let (_, other, _) = app.agency_with_token("other", &["FR"], 5).await;
    app.insert_membership(other, member).await;
    let (index, report) = RankingIndex::load(&app.db).await.unwrap();
    assert_eq!(report.footprint.creators, rankable.len());
    let index = index.read();
    assert!(rankable.iter().all(|id| index.contains(*id)));
    assert!(!index.contains(off) && !index.contains(member));
}

/// PostgreSQL 13+ orders the log by transaction ids unless asked to be
/// portable; SQLite by position.
#[tokio::test]
async fn the_change_log_reader_uses_the_exact_order_the_database_allows() {
    use agency_center::domain::index::LogOrder;
    let app = spawn_app().await;
    let (exact, portable) = (
        LogOrder::detect(&app.db, false).await.unwrap(),
        LogOrder::detect(&app.db, true).await.unwrap(),
    );
    if app.database_url.starts_with("postgres") {
        assert_eq!(
            (exact, portable),
            (LogOrder::TransactionIds, LogOrder::TimeWindow)
        );
    } else {
        assert_eq!((exact, portable), (LogOrder::Serial, LogOrder::Serial));
    }
}

/// A catch-up costs the rows it has not applied: with a transaction left
/// open elsewhere on the server (which holds back every snapshot's
/// horizon) and in the portable mode (which once re-read a time window),
/// a hundred writes, each followed by a catch-up, read about a hundred
/// rows, not the five thousand of re-reading everything since.
#[tokio::test]
async fn a_catch_up_reads_only_what_it_has_not_applied() {
    catch_up_cost(EventTransport::Notify).await;
}

#[tokio::test]
async fn a_portable_catch_up_reads_only_what_it_has_not_applied() {
    catch_up_cost(EventTransport::ChangeLog).await;
}

async fn catch_up_cost(transport: EventTransport) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = spawn_app_with(|c| c.events = transport).await;
    // An idle transaction holding an id, in another database.
    let elsewhere = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if app.database_url.starts_with("postgres") => {
            let conn = sea_orm::Database::connect(&url).await.unwrap();
            let held = conn.begin().await.unwrap();
            held.execute_unprepared("SELECT pg_current_xact_id()")
                .await
                .unwrap();
            Some((conn, held))
        }
        _ => None,
    };
    let (agency_id, _, token) = agency(&app).await;
    let (_, id) = creator(&app, &Spec::new("flips")).await;
    app.domain.apply_change_log().await.unwrap();
    let before = app.domain.index.log_rows_read();
    for i in 0..100 {
        app.set_discoverable(id, i % 2 == 1).await;
        app.domain.apply_change_log().await.unwrap();
    }
    let read = app.domain.index.log_rows_read() - before;
    assert!(
        (100..=150).contains(&read),
        "{read} rows read for 100 writes"
    );
    // And what was read was applied: the creator is ranked (last write: on).
    assert_eq!(ranked_handles(&app, &token, &agency_id).await, ["flips"]);
    drop(elsewhere);
}
