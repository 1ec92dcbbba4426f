//! Admin mutations: every validation refusal is a `userError` with its code
//! and field path, and a refused mutation changes nothing.

use agency_center::domain::Principal;
use serde_json::{Value, json};

use crate::helpers::{spawn_app, uuid_of};

const CREATE_CREATOR: &str = "mutation($input: CreateCreatorInput!) {
  createCreator(input: $input) { creator { id handle region languages categories discoverable discoverableSince } userErrors { code field message } }
}";
const CREATE_AGENCY: &str = "mutation($input: CreateAgencyInput!) {
  createAgency(input: $input) { agency { id slug regions languages specialties capacity verified } userErrors { code field message } }
}";
const UPDATE_PROFILE: &str = "mutation($input: UpdateCreatorProfileInput!) {
  updateCreatorProfile(input: $input) { creator { displayName languages categories } userErrors { code field message } }
}";
const UPDATE_AGENCY: &str = "mutation($input: UpdateAgencyInput!) {
  updateAgency(input: $input) { agency { name capacity verified regions } userErrors { code field message } }
}";
const UPSERT_STATS: &str = "mutation($input: [CreatorStatsInput!]!) {
  upsertCreatorStats(input: $input) { updated userErrors { code field message } }
}";

fn creator_input() -> Value {
    json!({"handle": "  Nova.Live ", "displayName": " Nova ", "region": "fr", "languages": ["FR", "en", "fr"],
           "categories": ["MUSIC", "DANCE"], "birthDate": "2001-06-30"})
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

#[tokio::test]
async fn create_creator_normalises_and_stores() {
    let app = spawn_app().await;
    let res = app
        .gql(
            Some(&app.admin()),
            CREATE_CREATOR,
            json!({"input": creator_input()}),
        )
        .await;
    let created = &res.assert_ok()["createCreator"];
    assert_eq!(created["userErrors"], json!([]));
    assert_eq!(created["creator"]["handle"], "nova.live");
    assert_eq!(created["creator"]["region"], "FR");
    assert_eq!(created["creator"]["languages"], json!(["fr", "en"]));
    assert_eq!(created["creator"]["categories"], json!(["MUSIC", "DANCE"]));
    assert_eq!(created["creator"]["discoverable"], false);
    assert_eq!(created["creator"]["discoverableSince"], Value::Null);
}

#[tokio::test]
async fn create_creator_refusals_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin();
    app.create_creator("taken.handle", "FR").await;
    let cases = [
        (
            with(creator_input(), "handle", json!("x")),
            "INVALID_INPUT",
            "handle",
        ),
        (
            with(creator_input(), "handle", json!("bad handle!")),
            "INVALID_INPUT",
            "handle",
        ),
        (
            with(creator_input(), "handle", json!(" Taken.Handle ")),
            "DUPLICATE",
            "handle",
        ),
        (
            with(creator_input(), "displayName", json!("   ")),
            "INVALID_INPUT",
            "displayName",
        ),
        (
            with(creator_input(), "displayName", json!("bell\u{7}")),
            "INVALID_INPUT",
            "displayName",
        ),
        (
            with(creator_input(), "region", json!("XX")),
            "INVALID_INPUT",
            "region",
        ),
        (
            with(creator_input(), "region", json!("FRA")),
            "INVALID_INPUT",
            "region",
        ),
        (
            with(creator_input(), "languages", json!([])),
            "INVALID_INPUT",
            "languages",
        ),
        (
            with(creator_input(), "languages", json!(["zz"])),
            "INVALID_INPUT",
            "languages",
        ),
        (
            with(creator_input(), "categories", json!([])),
            "INVALID_INPUT",
            "categories",
        ),
        (
            with(
                creator_input(),
                "categories",
                json!(["ART", "FOOD", "TECH", "MUSIC"]),
            ),
            "INVALID_INPUT",
            "categories",
        ),
        (
            with(creator_input(), "birthDate", json!("30/06/2001")),
            "INVALID_INPUT",
            "birthDate",
        ),
        (
            with(creator_input(), "birthDate", json!("2999-01-01")),
            "INVALID_INPUT",
            "birthDate",
        ),
    ];
    for (input, code, field) in cases {
        let res = app
            .gql(Some(&admin), CREATE_CREATOR, json!({"input": input}))
            .await;
        res.assert_refused("createCreator", code, &["input", field]);
        assert_eq!(res.data()["createCreator"]["creator"], Value::Null);
        assert_eq!(
            app.creator_count().await,
            1,
            "{code} {field} changed nothing"
        );
    }
    // Several invalid fields are all reported at once.
    let input = with(
        with(creator_input(), "region", json!("??")),
        "handle",
        json!("!"),
    );
    let res = app
        .gql(Some(&admin), CREATE_CREATOR, json!({"input": input}))
        .await;
    assert_eq!(res.user_errors("createCreator").len(), 2);
}

#[tokio::test]
async fn only_admins_create() {
    let app = spawn_app().await;
    let (_, agency) = app.create_agency("wannabe", &["FR"], 1).await;
    let (_, creator) = app.create_creator("self.made", "FR").await;
    for token in [
        app.token(Principal::Agency(agency)),
        app.token(Principal::Creator(creator)),
    ] {
        let res = app
            .gql(
                Some(&token),
                CREATE_CREATOR,
                json!({"input": creator_input()}),
            )
            .await;
        res.assert_error("FORBIDDEN");
    }
    let res = app
        .gql(None, CREATE_CREATOR, json!({"input": creator_input()}))
        .await;
    res.assert_error("UNAUTHENTICATED");
    let res = app
        .gql(
            Some(&app.token(Principal::Agency(agency))),
            CREATE_AGENCY,
            json!({"input": {"slug": "x-y", "name": "X", "regions": ["FR"], "languages": ["fr"], "specialties": ["ART"], "capacity": 3}}),
        )
        .await;
    res.assert_error("FORBIDDEN");
    assert_eq!(app.creator_count().await, 1);
}

fn agency_input() -> Value {
    json!({"slug": " Star-Makers ", "name": "Star Makers", "regions": ["fr", "BE"], "languages": ["fr"],
           "specialties": ["GAMING"], "capacity": 50})
}

#[tokio::test]
async fn create_agency_validates_every_field() {
    let app = spawn_app().await;
    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            CREATE_AGENCY,
            json!({"input": agency_input()}),
        )
        .await;
    let agency = &res.assert_ok()["createAgency"]["agency"];
    assert_eq!(agency["slug"], "star-makers");
    assert_eq!(agency["regions"], json!(["FR", "BE"]));
    assert_eq!(agency["verified"], false);
    let cases = [
        (
            with(agency_input(), "slug", json!("star-makers")),
            "DUPLICATE",
            "slug",
        ),
        (
            with(agency_input(), "slug", json!("under_score")),
            "INVALID_INPUT",
            "slug",
        ),
        (
            with(agency_input(), "name", json!("")),
            "INVALID_INPUT",
            "name",
        ),
        (
            with(agency_input(), "regions", json!([])),
            "INVALID_INPUT",
            "regions",
        ),
        (
            with(agency_input(), "regions", json!(["FR", "QQ"])),
            "INVALID_INPUT",
            "regions",
        ),
        (
            with(agency_input(), "languages", json!(["french"])),
            "INVALID_INPUT",
            "languages",
        ),
        (
            with(agency_input(), "specialties", json!([])),
            "INVALID_INPUT",
            "specialties",
        ),
        (
            with(agency_input(), "capacity", json!(0)),
            "INVALID_INPUT",
            "capacity",
        ),
        (
            with(agency_input(), "dailyInviteLimit", json!(-5)),
            "INVALID_INPUT",
            "dailyInviteLimit",
        ),
    ];
    for (input, code, field) in cases {
        let input = if code == "DUPLICATE" {
            input
        } else {
            let slug = input_slug(&input);
            with(input, "slug", slug)
        };
        let res = app
            .gql(Some(&admin), CREATE_AGENCY, json!({"input": input}))
            .await;
        res.assert_refused("createAgency", code, &["input", field]);
    }
    let all = app
        .gql(None, "{ agencies { totalCount } }", json!({}))
        .await;
    assert_eq!(
        all.assert_ok()["agencies"]["totalCount"],
        1,
        "refusals created nothing"
    );
}

/// Keeps a deliberately bad slug, else makes the slug unique per case.
fn input_slug(input: &Value) -> Value {
    let slug = input["slug"].as_str().unwrap_or_default();
    if slug.contains('_') {
        json!(slug)
    } else {
        json!(format!("fresh-{}", uuid::Uuid::new_v4().simple()))
    }
}

#[tokio::test]
async fn creators_edit_their_own_profile_only() {
    let app = spawn_app().await;
    let (me_id, me) = app.create_creator("me.myself", "FR").await;
    let (other_id, _) = app.create_creator("not.me", "FR").await;
    let mine = app.token(Principal::Creator(me));
    let res = app
        .gql(
            Some(&mine),
            UPDATE_PROFILE,
            json!({"input": {"displayName": "Me!", "languages": ["DE"], "categories": ["ART"]}}),
        )
        .await;
    let updated = &res.assert_ok()["updateCreatorProfile"]["creator"];
    assert_eq!(updated["displayName"], "Me!");
    assert_eq!(updated["languages"], json!(["de"]));
    let res = app
        .gql(
            Some(&mine),
            UPDATE_PROFILE,
            json!({"input": {"creatorId": other_id, "displayName": "Hijack"}}),
        )
        .await;
    res.assert_error("FORBIDDEN");
    assert_eq!(
        app.creator_row(uuid_of(&other_id)).await.display_name,
        "Creator not.me"
    );
    let res = app
        .gql(
            Some(&mine),
            UPDATE_PROFILE,
            json!({"input": {"languages": ["xx"]}}),
        )
        .await;
    res.assert_refused(
        "updateCreatorProfile",
        "INVALID_INPUT",
        &["input", "languages"],
    );
    assert_eq!(
        app.creator_row(me).await.languages,
        "de",
        "refusal changed nothing"
    );

    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            UPDATE_PROFILE,
            json!({"input": {"displayName": "Who?"}}),
        )
        .await;
    res.assert_refused(
        "updateCreatorProfile",
        "INVALID_INPUT",
        &["input", "creatorId"],
    );
    let ghost = crate::helpers::global_id("Creator", uuid::Uuid::now_v7());
    let res = app
        .gql(
            Some(&admin),
            UPDATE_PROFILE,
            json!({"input": {"creatorId": ghost, "displayName": "Boo"}}),
        )
        .await;
    res.assert_refused("updateCreatorProfile", "NOT_FOUND", &["input", "creatorId"]);
    let (agency_id, _) = app.create_agency("not-a-creator", &["FR"], 1).await;
    let res = app
        .gql(
            Some(&admin),
            UPDATE_PROFILE,
            json!({"input": {"creatorId": agency_id, "displayName": "Boo"}}),
        )
        .await;
    res.assert_refused(
        "updateCreatorProfile",
        "INVALID_INPUT",
        &["input", "creatorId"],
    );
    let res = app
        .gql(
            Some(&admin),
            UPDATE_PROFILE,
            json!({"input": {"creatorId": me_id, "displayName": "By admin"}}),
        )
        .await;
    assert_eq!(
        res.assert_ok()["updateCreatorProfile"]["creator"]["displayName"],
        "By admin"
    );
}

#[tokio::test]
async fn agencies_edit_themselves_but_not_admin_fields() {
    let app = spawn_app().await;
    let (agency_id, agency) = app.create_agency("self-edit", &["FR"], 10).await;
    let (other_id, _) = app.create_agency("other-one", &["FR"], 10).await;
    let token = app.token(Principal::Agency(agency));
    let res = app
        .gql(
            Some(&token),
            UPDATE_AGENCY,
            json!({"input": {"name": "Renamed"}}),
        )
        .await;
    assert_eq!(res.assert_ok()["updateAgency"]["agency"]["name"], "Renamed");
    for input in [
        json!({"capacity": 999}),
        json!({"verified": true}),
        json!({"regions": ["US"]}),
        json!({"dailyInviteLimit": 500}),
        json!({"agencyId": other_id, "name": "Hijack"}),
    ] {
        app.gql(Some(&token), UPDATE_AGENCY, json!({"input": input}))
            .await
            .assert_error("FORBIDDEN");
    }
    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            UPDATE_AGENCY,
            json!({"input": {"agencyId": agency_id, "capacity": 0}}),
        )
        .await;
    res.assert_refused("updateAgency", "INVALID_INPUT", &["input", "capacity"]);
    let res = app
        .gql(Some(&admin), UPDATE_AGENCY, json!({"input": {"agencyId": agency_id, "capacity": 99, "verified": true, "regions": ["us", "MX"]}}))
        .await;
    let updated = &res.assert_ok()["updateAgency"]["agency"];
    assert_eq!(updated["capacity"], 99);
    assert_eq!(updated["verified"], true);
    assert_eq!(updated["regions"], json!(["US", "MX"]));
    assert_eq!(updated["name"], "Renamed");
    let (creator_id, _) = app.create_creator("not.an.agency", "FR").await;
    let res = app
        .gql(
            Some(&admin),
            UPDATE_AGENCY,
            json!({"input": {"agencyId": creator_id, "name": "X"}}),
        )
        .await;
    res.assert_refused("updateAgency", "INVALID_INPUT", &["input", "agencyId"]);
}

fn stats_row(creator_id: &str) -> Value {
    json!({"creatorId": creator_id, "followers": 15000, "avgViewers": 120.5, "peakViewers": 480,
           "liveHours30d": 62.5, "liveDays30d": 21, "diamonds30d": 90000,
           "followerGrowth30d": 0.12, "engagementRate": 0.09})
}

#[tokio::test]
async fn stats_batches_are_all_or_nothing() {
    let app = spawn_app().await;
    let (a_id, a) = app.create_creator("stats.a", "FR").await;
    let (b_id, b) = app.create_creator("stats.b", "FR").await;
    let admin = app.admin();

    let res = app
        .gql(
            Some(&admin),
            UPSERT_STATS,
            json!({"input": [stats_row(&a_id), stats_row(&b_id)]}),
        )
        .await;
    assert_eq!(
        res.assert_ok()["upsertCreatorStats"],
        json!({"updated": 2, "userErrors": []})
    );
    let row = app.creator_row(a).await;
    assert_eq!(
        (row.followers, row.live_days_30d, row.diamonds_30d),
        (15000, 21, 90000)
    );
    let before = app.creator_row(b).await;

    let bad_rows = [
        ("engagementRate", json!(1.5)),
        ("liveDays30d", json!(31)),
        ("followers", json!(-1)),
        ("avgViewers", json!(-0.5)),
        ("liveHours30d", json!(721.0)),
        ("followerGrowth30d", json!(-2.0)),
        ("peakViewers", json!(-3)),
        ("diamonds30d", json!(-4)),
    ];
    for (field, value) in bad_rows {
        let mut bad = stats_row(&b_id);
        bad[field] = value;
        bad["followers"] = if field == "followers" {
            json!(-1)
        } else {
            json!(1)
        };
        let mut good = stats_row(&a_id);
        good["followers"] = json!(777);
        let res = app
            .gql(Some(&admin), UPSERT_STATS, json!({"input": [good, bad]}))
            .await;
        res.assert_refused(
            "upsertCreatorStats",
            "INVALID_INPUT",
            &["input", "1", field],
        );
        assert_eq!(res.data()["upsertCreatorStats"]["updated"], 0);
        assert_eq!(
            app.creator_row(a).await.followers,
            15000,
            "the good row was not written either"
        );
    }
    let ghost = crate::helpers::global_id("Creator", uuid::Uuid::now_v7());
    let res = app
        .gql(
            Some(&admin),
            UPSERT_STATS,
            json!({"input": [stats_row(&a_id), stats_row(&ghost)]}),
        )
        .await;
    res.assert_refused(
        "upsertCreatorStats",
        "NOT_FOUND",
        &["input", "1", "creatorId"],
    );
    let res = app
        .gql(
            Some(&admin),
            UPSERT_STATS,
            json!({"input": [stats_row("bogus")]}),
        )
        .await;
    res.assert_refused(
        "upsertCreatorStats",
        "INVALID_INPUT",
        &["input", "0", "creatorId"],
    );
    let res = app
        .gql(
            Some(&admin),
            UPSERT_STATS,
            json!({"input": [stats_row(&a_id), stats_row(&a_id)]}),
        )
        .await;
    res.assert_refused(
        "upsertCreatorStats",
        "INVALID_INPUT",
        &["input", "1", "creatorId"],
    );
    let res = app
        .gql(Some(&admin), UPSERT_STATS, json!({"input": []}))
        .await;
    res.assert_refused("upsertCreatorStats", "INVALID_INPUT", &["input"]);
    let too_many: Vec<Value> = (0..1001).map(|_| stats_row(&a_id)).collect();
    let res = app
        .gql(Some(&admin), UPSERT_STATS, json!({"input": too_many}))
        .await;
    res.assert_refused("upsertCreatorStats", "INVALID_INPUT", &["input"]);
    assert_eq!(
        app.creator_row(b).await,
        before,
        "no refusal wrote anything"
    );

    for token in [
        app.token(Principal::Creator(a)),
        app.token(Principal::Agency(uuid::Uuid::now_v7())),
    ] {
        app.gql(
            Some(&token),
            UPSERT_STATS,
            json!({"input": [stats_row(&a_id)]}),
        )
        .await
        .assert_error("FORBIDDEN");
    }
    app.gql(None, UPSERT_STATS, json!({"input": [stats_row(&a_id)]}))
        .await
        .assert_error("UNAUTHENTICATED");
}

/// A full batch of 1,000 rows costs a fixed handful of statements (it was
/// one UPDATE per row), and is written whole.
#[tokio::test]
async fn a_full_stats_batch_is_one_write_of_a_few_statements() {
    use entity::creator;
    use sea_orm::{EntityTrait, QuerySelect};
    let app = crate::helpers::spawn_app().await;
    agency_center::seed::seed(
        &app.db,
        agency_center::seed::SeedPlan {
            creators: 1000,
            agencies: 1,
            seed: 5,
        },
    )
    .await
    .unwrap();
    let ids: Vec<uuid::Uuid> = creator::Entity::find()
        .select_only()
        .column(creator::Column::Id)
        .into_tuple()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1000);
    let rows: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"creatorId": crate::helpers::global_id("Creator", *id), "followers": 1_000_000 + i,
                "avgViewers": 10.5, "peakViewers": 40, "liveHours30d": 20.0, "liveDays30d": 12,
                "diamonds30d": 5000, "followerGrowth30d": 0.01, "engagementRate": 0.05})
        })
        .collect();
    app.domain.apply_change_log().await.unwrap();
    let before = app.statements.get();
    let res = app
        .gql(
            Some(&app.admin()),
            "mutation($rows: [CreatorStatsInput!]!) { upsertCreatorStats(input: $rows) { updated userErrors { code field } } }",
            json!({"rows": rows}),
        )
        .await;
    let statements = app.statements.get() - before;
    assert_eq!(
        res.assert_ok()["upsertCreatorStats"]["updated"],
        1000,
        "{}",
        res.body
    );
    // On PostgreSQL a fixed handful; SQLite, in process, runs a statement
    // a row.
    let most = if app.database_url.starts_with("postgres") {
        20
    } else {
        1_020
    };
    assert!(statements < most, "{statements} statements for 1,000 rows");
    let stored: Vec<i64> = creator::Entity::find()
        .select_only()
        .column(creator::Column::Followers)
        .into_tuple()
        .all(&app.db)
        .await
        .unwrap();
    assert!(stored.iter().all(|f| (1_000_000..1_001_000).contains(f)));
}
