//! The Agency Center lifecycle end to end: the switch, invitations,
//! membership, leaving, and every refusal code with nothing changed.

use serde_json::{Value, json};

use crate::helpers::{As, TestApp, invite, respond, send, spawn_app, spawn_app_with};

const SET: &str = "mutation($on: Boolean!, $id: ID) { setDiscoverable(discoverable: $on, creatorId: $id) { creator { discoverable discoverableSince } userErrors { code field message } } }";
const ELIGIBILITY: &str = "query($agency: ID!, $ids: [ID!]!) { invitationEligibility(agencyId: $agency, creatorIds: $ids) { creatorId invitable reason } }";

#[tokio::test]
async fn the_switch_is_idempotent_and_stamps_since() {
    let app = spawn_app().await;
    let (_, creator) = app.create_creator("switchy", "FR").await;
    let token = app.token(As::Creator(creator));
    let on = app.ok(&token, SET, json!({"on": true})).await;
    let since = on["setDiscoverable"]["creator"]["discoverableSince"].clone();
    assert_eq!(on["setDiscoverable"]["creator"]["discoverable"], true);
    assert!(since.is_string());
    let again = app.ok(&token, SET, json!({"on": true})).await;
    assert_eq!(
        again["setDiscoverable"]["creator"]["discoverableSince"], since,
        "switching on twice keeps the first stamp"
    );
    let off = app.ok(&token, SET, json!({"on": false})).await;
    assert_eq!(
        off["setDiscoverable"]["creator"],
        json!({"discoverable": false, "discoverableSince": null})
    );
    let off_again = app.ok(&token, SET, json!({"on": false})).await;
    assert_eq!(
        off_again["setDiscoverable"]["creator"]["discoverable"],
        false
    );
}

#[tokio::test]
async fn the_full_lifecycle() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("lumen", &["FR", "BE"], 5).await;
    let (_, _, rival) = app.agency_with_token("rival", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("lea.live", "FR").await;

    // The agency invites with a message; both sides see the invitation.
    let res = app
        .gql(Some(&agency), crate::helpers::SEND, json!({"input": {"creatorId": creator_id, "message": "  Bienvenue !\nOn adore tes lives.  "}}))
        .await;
    let sent = &res.assert_ok()["sendInvitation"]["invitation"];
    assert_eq!(sent["status"], "PENDING");
    assert_eq!(sent["message"], "Bienvenue !\nOn adore tes lives.");
    assert_eq!(sent["agency"]["slug"], "lumen");
    let invitation = sent["id"].as_str().unwrap().to_owned();
    let rival_invitation = invite(&app, &rival, &creator_id).await;

    let mine = app
        .ok(&creator, "{ viewer { creator { invitations(status: PENDING) { totalCount edges { node { id agency { slug } } } } } } }", json!({}))
        .await;
    assert_eq!(mine["viewer"]["creator"]["invitations"]["totalCount"], 2);
    let theirs = app
        .ok(&agency, "query($id: ID!) { agency(id: $id) { invitations { totalCount edges { node { id creator { handle } } } } invitationQuota { dailyLimit usedLast24h remaining } } }", json!({"id": agency_id}))
        .await;
    assert_eq!(
        theirs["agency"]["invitations"]["edges"][0]["node"]["id"],
        invitation.as_str()
    );
    assert_eq!(
        theirs["agency"]["invitationQuota"],
        json!({"dailyLimit": 50, "usedLast24h": 1, "remaining": 49})
    );
    let check = app
        .ok(
            &agency,
            ELIGIBILITY,
            json!({"agency": agency_id, "ids": [creator_id]}),
        )
        .await;
    assert_eq!(
        check["invitationEligibility"][0]["reason"],
        "ALREADY_INVITED"
    );

    // Accepting joins the agency and cancels the rival's invitation.
    let res = respond(&app, Some(&creator), "acceptInvitation", &invitation).await;
    let accepted = &res.assert_ok()["acceptInvitation"]["invitation"];
    assert_eq!(accepted["status"], "ACCEPTED");
    assert!(accepted["respondedAt"].is_string());
    let after = app
        .ok(&creator, "query($id: ID!) { viewer { creator { discoverable agency { slug memberCount } } } rival: invitation(id: $id) { status } }", json!({"id": rival_invitation}))
        .await;
    assert_eq!(
        after["viewer"]["creator"]["agency"],
        json!({"slug": "lumen", "memberCount": 1})
    );
    assert_eq!(after["rival"]["status"], "CANCELLED");
    let members = app
        .ok(&agency, "query($id: ID!) { agency(id: $id) { members { totalCount edges { node { handle } } } } }", json!({"id": agency_id}))
        .await;
    assert_eq!(
        members["agency"]["members"]["edges"][0]["node"]["handle"],
        "lea.live"
    );
    assert_eq!(app.membership_count().await, 1);

    // Leaving ends the membership and keeps the switch as it was.
    let left = app.ok(&creator, "mutation { leaveAgency { creator { discoverable agency { slug } } userErrors { code } } }", json!({})).await;
    assert_eq!(
        left["leaveAgency"]["creator"],
        json!({"discoverable": true, "agency": null})
    );
    assert_eq!(app.membership_count().await, 0);
    let again = app
        .gql(
            Some(&creator),
            "mutation { leaveAgency { creator { handle } userErrors { code } } }",
            json!({}),
        )
        .await;
    again.assert_refused("leaveAgency", "NOT_IN_AGENCY", &[]);
}

/// Asserts `sendInvitation` and `invitationEligibility` agree on `code`,
/// and that the refusal created nothing.
async fn assert_refused_both_ways(
    app: &TestApp,
    agency_token: &str,
    agency_id: &str,
    creator_id: &str,
    code: &str,
) {
    let before = app.invitation_count().await;
    let res = send(app, agency_token, creator_id).await;
    let errors = res.user_errors("sendInvitation");
    assert_eq!(
        errors.first().map(|e| e.0.as_str()),
        Some(code),
        "{}",
        res.body
    );
    assert_eq!(res.data()["sendInvitation"]["invitation"], Value::Null);
    assert_eq!(
        app.invitation_count().await,
        before,
        "{code}: nothing changed"
    );
    let check = app
        .ok(
            agency_token,
            ELIGIBILITY,
            json!({"agency": agency_id, "ids": [creator_id]}),
        )
        .await;
    assert_eq!(
        check["invitationEligibility"][0],
        json!({"creatorId": creator_id, "invitable": false, "reason": code})
    );
}

#[tokio::test]
async fn every_refusal_code_of_sending() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("strict", &["FR"], 2).await;

    let ghost = crate::helpers::global_id("Creator", uuid::Uuid::now_v7());
    assert_refused_both_ways(&app, &agency, &agency_id, &ghost, "NOT_FOUND").await;

    let (hidden, _) = app.create_creator("hidden", "FR").await;
    assert_refused_both_ways(&app, &agency, &agency_id, &hidden, "NOT_DISCOVERABLE").await;

    let (abroad, _, _) = app.discoverable_creator("abroad", "US").await;
    assert_refused_both_ways(&app, &agency, &agency_id, &abroad, "NOT_ELIGIBLE").await;

    let admin = app.admin();
    let minor_birth = (chrono::Utc::now() - chrono::Duration::days(17 * 365))
        .format("%Y-%m-%d")
        .to_string();
    let res = app
        .gql(Some(&admin), "mutation($input: CreateCreatorInput!) { createCreator(input: $input) { creator { id } } }",
            json!({"input": {"handle": "minor", "displayName": "Minor", "region": "FR", "languages": ["fr"], "categories": ["ART"], "birthDate": minor_birth}}))
        .await;
    let minor = res.assert_ok()["createCreator"]["creator"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(&admin, SET, json!({"on": true, "id": minor})).await;
    assert_refused_both_ways(&app, &agency, &agency_id, &minor, "NOT_ELIGIBLE").await;

    let (_, _, other_agency) = app.agency_with_token("other", &["FR"], 5).await;
    let (member, _, member_token) = app.discoverable_creator("member", "FR").await;
    let joined = invite(&app, &other_agency, &member).await;
    respond(&app, Some(&member_token), "acceptInvitation", &joined)
        .await
        .assert_ok();
    assert_refused_both_ways(&app, &agency, &agency_id, &member, "ALREADY_IN_AGENCY").await;

    let (cool, _, cool_token) = app.discoverable_creator("cool", "FR").await;
    let declined = invite(&app, &agency, &cool).await;
    respond(&app, Some(&cool_token), "declineInvitation", &declined)
        .await
        .assert_ok();
    assert_refused_both_ways(&app, &agency, &agency_id, &cool, "COOLDOWN").await;

    let (twice, _, _) = app.discoverable_creator("twice", "FR").await;
    invite(&app, &agency, &twice).await;
    assert_refused_both_ways(&app, &agency, &agency_id, &twice, "ALREADY_INVITED").await;

    // Fill the agency's two seats.
    for handle in ["seat.one", "seat.two"] {
        let (id, _, token) = app.discoverable_creator(handle, "FR").await;
        let inv = invite(&app, &agency, &id).await;
        respond(&app, Some(&token), "acceptInvitation", &inv)
            .await
            .assert_ok();
    }
    let (late, _, _) = app.discoverable_creator("late", "FR").await;
    assert_refused_both_ways(&app, &agency, &agency_id, &late, "AGENCY_AT_CAPACITY").await;

    // The order of the rules: not discoverable wins over not eligible.
    let (both, _) = app.create_creator("both.wrong", "US").await;
    assert_refused_both_ways(&app, &agency, &agency_id, &both, "NOT_DISCOVERABLE").await;
}

#[tokio::test]
async fn the_daily_quota_counts_every_invitation_sent() {
    let app = spawn_app().await;
    let admin = app.admin();
    let (agency_id, _, agency) = app.agency_with_token("tiny-quota", &["FR"], 50).await;
    app.ok(&admin, "mutation($id: ID!) { updateAgency(input: {agencyId: $id, dailyInviteLimit: 2}) { agency { id } } }", json!({"id": agency_id})).await;
    let mut sent = Vec::new();
    for handle in ["q.one", "q.two"] {
        let (id, _, _) = app.discoverable_creator(handle, "FR").await;
        sent.push(invite(&app, &agency, &id).await);
    }
    // Withdrawing does not give the quota back.
    respond(&app, Some(&agency), "withdrawInvitation", &sent[0])
        .await
        .assert_ok();
    let (third, _, _) = app.discoverable_creator("q.three", "FR").await;
    assert_refused_both_ways(&app, &agency, &agency_id, &third, "QUOTA_EXCEEDED").await;
    let quota = app
        .ok(
            &agency,
            "{ viewer { agency { invitationQuota { dailyLimit usedLast24h remaining } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        quota["viewer"]["agency"]["invitationQuota"],
        json!({"dailyLimit": 2, "usedLast24h": 2, "remaining": 0})
    );
}

#[tokio::test]
async fn responses_need_a_pending_invitation() {
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("responder", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("answers", "FR").await;
    let inv = invite(&app, &agency, &creator_id).await;
    respond(&app, Some(&creator), "declineInvitation", &inv)
        .await
        .assert_ok();
    for (token, mutation) in [
        (&creator, "declineInvitation"),
        (&creator, "acceptInvitation"),
        (&agency, "withdrawInvitation"),
    ] {
        let res = respond(&app, Some(token), mutation, &inv).await;
        res.assert_refused(mutation, "INVITATION_NOT_PENDING", &["id"]);
    }
    let status = app
        .ok(
            &creator,
            "query($id: ID!) { invitation(id: $id) { status } }",
            json!({"id": inv}),
        )
        .await;
    assert_eq!(
        status["invitation"]["status"], "DECLINED",
        "refusals changed nothing"
    );
    let res = respond(&app, Some(&creator), "acceptInvitation", "garbage").await;
    res.assert_refused("acceptInvitation", "INVALID_INPUT", &["id"]);
}

#[tokio::test]
async fn switching_off_keeps_pending_invitations_answerable() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("patient", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("shy", "FR").await;
    let inv = invite(&app, &agency, &creator_id).await;
    app.ok(&creator, SET, json!({"on": false})).await;
    assert_refused_both_ways(&app, &agency, &agency_id, &creator_id, "NOT_DISCOVERABLE").await;
    // The agency still sees the creator it invited, and the creator can accept.
    let seen = app
        .ok(
            &agency,
            "query($id: ID!) { creator(id: $id) { handle } }",
            json!({"id": creator_id}),
        )
        .await;
    assert_eq!(seen["creator"]["handle"], "shy");
    let res = respond(&app, Some(&creator), "acceptInvitation", &inv).await;
    assert_eq!(
        res.assert_ok()["acceptInvitation"]["invitation"]["status"],
        "ACCEPTED"
    );
}

#[tokio::test]
async fn messages_and_keys_are_validated() {
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("wordy", &["FR"], 5).await;
    let (creator_id, _, _) = app.discoverable_creator("reader", "FR").await;
    for (field, input) in [
        (
            "message",
            json!({"creatorId": creator_id, "message": "é".repeat(501)}),
        ),
        (
            "message",
            json!({"creatorId": creator_id, "message": "ring \u{7} bell"}),
        ),
        (
            "idempotencyKey",
            json!({"creatorId": creator_id, "idempotencyKey": "  "}),
        ),
        ("creatorId", json!({"creatorId": "not-an-id"})),
    ] {
        let res = app
            .gql(Some(&agency), crate::helpers::SEND, json!({"input": input}))
            .await;
        res.assert_refused("sendInvitation", "INVALID_INPUT", &["input", field]);
    }
    assert_eq!(app.invitation_count().await, 0);
    let ok = app
        .gql(
            Some(&agency),
            crate::helpers::SEND,
            json!({"input": {"creatorId": creator_id, "message": "é".repeat(500)}}),
        )
        .await;
    assert_eq!(
        ok.assert_ok()["sendInvitation"]["invitation"]["status"],
        "PENDING"
    );
}

#[tokio::test]
async fn expired_invitations_cannot_be_accepted_and_free_the_pair() {
    let app = spawn_app_with(|c| c.settings.invitation_ttl = chrono::TimeDelta::seconds(1)).await;
    let (_, _, agency) = app.agency_with_token("hasty", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("slow.reader", "FR").await;
    let inv = invite(&app, &agency, &creator_id).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let res = respond(&app, Some(&creator), "acceptInvitation", &inv).await;
    res.assert_refused("acceptInvitation", "INVITATION_EXPIRED", &["id"]);
    let read = app.ok(&creator, "query($id: ID!) { invitation(id: $id) { status } viewer { creator { invitations(status: EXPIRED) { totalCount } pending: invitations(status: PENDING) { totalCount } } } }", json!({"id": inv})).await;
    assert_eq!(read["invitation"]["status"], "EXPIRED");
    assert_eq!(read["viewer"]["creator"]["invitations"]["totalCount"], 1);
    assert_eq!(read["viewer"]["creator"]["pending"]["totalCount"], 0);
    assert_eq!(app.membership_count().await, 0);
    // The agency may invite again: the stale one is expired, not in the way.
    let again = invite(&app, &agency, &creator_id).await;
    assert_ne!(again, inv);
}

/// An invitation past its expiry but not yet swept is EXPIRED, not
/// CANCELLED, when its creator accepts another: the accept persists what
/// it already was and announces EXPIRED.
#[tokio::test]
async fn accepting_leaves_an_expired_invitation_expired() {
    use entity::invitation;
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let app = spawn_app().await;
    let (_, _, stale) = app.agency_with_token("stale", &["FR"], 5).await;
    let (_, _, chosen) = app.agency_with_token("chosen", &["FR"], 5).await;
    let (creator_id, _, creator) = app.discoverable_creator("chooser", "FR").await;
    let old = invite(&app, &stale, &creator_id).await;
    let other = invite(&app, &chosen, &creator_id).await;
    let open = invite(
        &app,
        &stale.clone(),
        &app.discoverable_creator("bystander", "FR").await.0,
    )
    .await;
    // Time passes for one invitation only: its expiry is behind us.
    let row = invitation::Entity::find_by_id(crate::helpers::uuid_of(&old))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    let mut row: invitation::ActiveModel = row.into();
    row.expires_at = Set(chrono::Utc::now() - chrono::TimeDelta::minutes(1));
    row.update(&app.db).await.unwrap();
    let mut events = crate::events::Subscription::open(&app.base, Some(&creator)).await;

    let res = respond(&app, Some(&creator), "acceptInvitation", &other).await;
    assert_eq!(
        res.assert_ok()["acceptInvitation"]["invitation"]["status"],
        "ACCEPTED"
    );
    let stored = invitation::Entity::find_by_id(crate::helpers::uuid_of(&old))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, invitation::Status::Expired);
    // Both come, however loaded the machine; then nothing more.
    let mut got = Vec::new();
    for _ in 0..2 {
        got.extend(events.next_event(std::time::Duration::from_secs(10)).await);
    }
    got.extend(events.drain(std::time::Duration::from_millis(500)).await);
    let seen: Vec<String> = got
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["invitation"]["id"].as_str().unwrap()
            )
        })
        .collect();
    assert!(seen.contains(&format!("ACCEPTED {other}")), "{seen:?}");
    assert!(seen.contains(&format!("EXPIRED {old}")), "{seen:?}");
    assert!(!seen.iter().any(|e| e.starts_with("CANCELLED")), "{seen:?}");
    // Another creator's invitation is untouched.
    let untouched = invitation::Entity::find_by_id(crate::helpers::uuid_of(&open))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.status, invitation::Status::Pending);
}

/// One request, one instant: while invitations cross their expiry, a page
/// filtered PENDING or EXPIRED holds only invitations whose `status` reads
/// the same in that answer, and together they hold every one.
#[tokio::test]
async fn a_status_page_and_its_items_read_the_same_clock() {
    let app = spawn_app_with(|c| c.settings.invitation_ttl = chrono::TimeDelta::seconds(2)).await;
    let (_, _, agency) = app.agency_with_token("one-clock", &["FR"], 50).await;
    for i in 0..20 {
        let (creator_id, _, _) = app.discoverable_creator(&format!("clock.{i}"), "FR").await;
        invite(&app, &agency, &creator_id).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let query = "{ viewer { agency { pending: invitations(status: PENDING, first: 100) { edges { node { status } } } expired: invitations(status: EXPIRED, first: 100) { edges { node { status } } } } } }";
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(3500);
    let mut answers = 0;
    while std::time::Instant::now() < deadline {
        let data = app.ok(&agency, query, json!({})).await;
        let statuses = |page: &str| -> Vec<String> {
            data["viewer"]["agency"][page]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["status"].as_str().unwrap().to_owned())
                .collect()
        };
        let (pending, expired) = (statuses("pending"), statuses("expired"));
        assert!(pending.iter().all(|s| s == "PENDING"), "{pending:?}");
        assert!(expired.iter().all(|s| s == "EXPIRED"), "{expired:?}");
        assert_eq!(pending.len() + expired.len(), 20);
        answers += 1;
    }
    assert!(answers > 10);
}
