//! Privacy: who may read which creator and invitation, on every read path
//! (`creator(id)`, `creator(handle)`, `node`). A hidden object reads exactly
//! like an absent one.

use agency_center::domain::Principal;
use serde_json::{Value, json};

use crate::helpers::{TestApp, global_id, spawn_app};

/// What `viewer` gets for `creator(id)`, `creator(handle)` and `node(id)`;
/// asserts the three paths agree.
async fn creator_seen_by(app: &TestApp, token: Option<&str>, id: &str, handle: &str) -> bool {
    let q = "query($id: ID!, $handle: String!) {
        byId: creator(id: $id) { handle }
        byHandle: creator(handle: $handle) { handle }
        node(id: $id) { id ... on Creator { handle } }
    }";
    let res = app.gql(token, q, json!({"id": id, "handle": handle})).await;
    let data = res.assert_ok();
    let seen = [&data["byId"], &data["byHandle"], &data["node"]].map(|v| !v.is_null());
    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "read paths disagree: {data}"
    );
    seen[0]
}

#[tokio::test]
async fn who_sees_which_creator() {
    let app = spawn_app().await;
    let (_, agency) = app.create_agency("watcher", &["FR"], 10).await;
    let (_, other_agency) = app.create_agency("bystander", &["FR"], 10).await;
    let (hidden_id, hidden) = app.create_creator("hidden.one", "FR").await;
    let (open_id, open) = app.create_creator("open.one", "FR").await;
    let (invited_id, invited) = app.create_creator("invited.one", "FR").await;
    let (member_id, member) = app.create_creator("member.one", "FR").await;
    app.set_discoverable(open, true).await;
    app.insert_invitation(agency, invited).await;
    app.insert_membership(agency, member).await;

    let agency_token = app.token(Principal::Agency(agency));
    let other_token = app.token(Principal::Agency(other_agency));
    let hidden_token = app.token(Principal::Creator(hidden));
    let admin = app.admin();

    for (id, handle, for_agency, for_other) in [
        (&hidden_id, "hidden.one", false, false),
        (&open_id, "open.one", true, true),
        (&invited_id, "invited.one", true, false),
        (&member_id, "member.one", true, false),
    ] {
        assert_eq!(
            creator_seen_by(&app, Some(&agency_token), id, handle).await,
            for_agency,
            "agency sees {handle}"
        );
        assert_eq!(
            creator_seen_by(&app, Some(&other_token), id, handle).await,
            for_other,
            "other agency sees {handle}"
        );
        assert!(
            creator_seen_by(&app, Some(&admin), id, handle).await,
            "admin sees {handle}"
        );
        assert!(
            !creator_seen_by(&app, None, id, handle).await,
            "anonymous sees no creator"
        );
    }
    // A creator sees themself, and no other creator, discoverable or not.
    assert!(creator_seen_by(&app, Some(&hidden_token), &hidden_id, "hidden.one").await);
    assert!(!creator_seen_by(&app, Some(&hidden_token), &open_id, "open.one").await);

    // Switching off hides the creator again from an unrelated agency.
    app.set_discoverable(open, false).await;
    assert!(!creator_seen_by(&app, Some(&other_token), &open_id, "open.one").await);
}

#[tokio::test]
async fn an_unknown_creator_reads_like_a_hidden_one() {
    let app = spawn_app().await;
    let (_, agency) = app.create_agency("prober", &["FR"], 10).await;
    let token = app.token(Principal::Agency(agency));
    let ghost = global_id("Creator", uuid::Uuid::now_v7());
    assert!(!creator_seen_by(&app, Some(&token), &ghost, "nobody.here").await);
}

#[tokio::test]
async fn invitations_are_seen_by_their_creator_their_agency_and_admins() {
    let app = spawn_app().await;
    let (_, agency) = app.create_agency("inviter", &["FR"], 10).await;
    let (_, other_agency) = app.create_agency("outsider", &["FR"], 10).await;
    let (_, creator) = app.create_creator("guest.star", "FR").await;
    let (_, other_creator) = app.create_creator("someone.else", "FR").await;
    let invitation = global_id("Invitation", app.insert_invitation(agency, creator).await);
    let q = "query($id: ID!) {
        invitation(id: $id) { status message agency { slug } creator { handle } }
        node(id: $id) { ... on Invitation { status } }
    }";
    let read = |token: Option<String>| {
        let invitation = invitation.clone();
        let app = &app;
        async move {
            let res = app
                .gql(token.as_deref(), q, json!({"id": invitation}))
                .await;
            res.assert_ok().clone()
        }
    };
    for token in [
        app.token(Principal::Agency(agency)),
        app.token(Principal::Creator(creator)),
        app.admin(),
    ] {
        let data = read(Some(token)).await;
        assert_eq!(data["invitation"]["status"], "PENDING");
        assert_eq!(data["invitation"]["agency"]["slug"], "inviter");
        assert_eq!(data["invitation"]["creator"]["handle"], "guest.star");
        assert_eq!(data["node"]["status"], "PENDING");
    }
    for token in [
        Some(app.token(Principal::Agency(other_agency))),
        Some(app.token(Principal::Creator(other_creator))),
        None,
    ] {
        let data = read(token).await;
        assert_eq!(data["invitation"], Value::Null);
        assert_eq!(data["node"], Value::Null);
    }
}

#[tokio::test]
async fn the_agency_directory_is_public() {
    let app = spawn_app().await;
    let (agency_id, _) = app.create_agency("open-door", &["fr", "be"], 10).await;
    let res = app
        .gql(
            None,
            "query($id: ID!) { byId: agency(id: $id) { slug regions verified memberCount } bySlug: agency(slug: \" Open-Door \") { slug } node(id: $id) { id } }",
            json!({"id": agency_id}),
        )
        .await;
    let data = res.assert_ok();
    assert_eq!(data["byId"]["regions"], json!(["FR", "BE"]));
    assert_eq!(data["bySlug"]["slug"], "open-door");
    assert_eq!(data["node"]["id"], agency_id.as_str());
}

#[tokio::test]
async fn ids_are_typed_and_arguments_validated() {
    let app = spawn_app().await;
    let (agency_id, _) = app.create_agency("typed", &["FR"], 10).await;
    let admin = app.admin();
    let res = app
        .gql(
            Some(&admin),
            "query($id: ID!) { creator(id: $id) { handle } }",
            json!({"id": agency_id}),
        )
        .await;
    res.assert_error("BAD_USER_INPUT");
    let msg = res.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("expected a Creator ID, got an Agency ID"),
        "{msg}"
    );
    for q in [
        "{ creator { handle } }",
        "{ creator(handle: \"Not A Handle!\") { handle } }",
        "{ agency(slug: \"x\") { slug } }",
        "{ node(id: \"garbage\") { id } }",
        "{ invitation(id: \"garbage\") { id } }",
    ] {
        app.gql(Some(&admin), q, json!({}))
            .await
            .assert_error("BAD_USER_INPUT");
    }
}
