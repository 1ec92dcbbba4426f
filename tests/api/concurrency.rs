//! Races, fired for real: many requests at once through HTTP. The database
//! decides; no request may answer 5xx or break an invariant.

use std::collections::{HashMap, HashSet};

use entity::{invitation, membership};
use futures_util::future::join_all;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::{invite, respond, spawn_app};

#[tokio::test]
async fn a_hundred_accepts_at_once_keep_every_invariant() {
    let app = spawn_app().await;
    let capacities = [1, 2, 2, 3, 4];
    let mut agencies = Vec::new();
    for (i, capacity) in capacities.iter().enumerate() {
        let (_, uuid, token) = app
            .agency_with_token(&format!("racer-{i}"), &["FR"], *capacity)
            .await;
        agencies.push((uuid, token, *capacity));
    }
    let mut creators = Vec::new();
    for i in 0..20 {
        creators.push(
            app.discoverable_creator(&format!("runner_{i:02}"), "FR")
                .await,
        );
    }
    let mut invitations = Vec::new();
    for (_, agency_token, _) in &agencies {
        for (creator_id, _, creator_token) in &creators {
            invitations.push((
                invite(&app, agency_token, creator_id).await,
                creator_token.clone(),
            ));
        }
    }
    assert_eq!(invitations.len(), 100);

    let answers = join_all(
        invitations
            .iter()
            .map(|(id, token)| respond(&app, Some(token), "acceptInvitation", id)),
    )
    .await;
    let mut accepted = 0;
    let mut refusals: HashMap<String, usize> = HashMap::new();
    for res in &answers {
        let data = res.assert_ok();
        match res.user_errors("acceptInvitation").first() {
            None => {
                assert_eq!(data["acceptInvitation"]["invitation"]["status"], "ACCEPTED");
                accepted += 1;
            }
            Some((code, _)) => *refusals.entry(code.clone()).or_default() += 1,
        }
    }
    for code in refusals.keys() {
        assert!(
            [
                "ALREADY_IN_AGENCY",
                "INVITATION_NOT_PENDING",
                "AGENCY_AT_CAPACITY"
            ]
            .contains(&code.as_str()),
            "unexpected refusal {code}"
        );
    }

    let members = membership::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(
        members.len(),
        accepted,
        "one membership per accepted invitation"
    );
    let distinct: HashSet<_> = members.iter().map(|m| m.creator_id).collect();
    assert_eq!(distinct.len(), members.len(), "one membership per creator");
    for (agency, _, capacity) in &agencies {
        let seated = members.iter().filter(|m| m.agency_id == *agency).count();
        assert!(
            seated <= *capacity as usize,
            "agency over capacity: {seated} > {capacity}"
        );
    }
    assert!(accepted > 0 && accepted <= 12);
    let all = invitation::Entity::find().all(&app.db).await.unwrap();
    for member in &members {
        let theirs: Vec<_> = all
            .iter()
            .filter(|i| i.creator_id == member.creator_id)
            .collect();
        let won: Vec<_> = theirs
            .iter()
            .filter(|i| i.status == invitation::Status::Accepted)
            .collect();
        assert_eq!(won.len(), 1, "exactly one accepted invitation per member");
        assert_eq!(won[0].agency_id, member.agency_id);
        assert!(
            theirs
                .iter()
                .all(|i| i.status != invitation::Status::Pending),
            "a member keeps no pending invitation"
        );
    }
    println!("100 concurrent accepts: {accepted} accepted, refusals {refusals:?}");
}

#[tokio::test]
async fn the_last_seat_goes_to_exactly_one_creator() {
    let app = spawn_app().await;
    for round in 0..5 {
        let (_, _, agency) = app
            .agency_with_token(&format!("one-seat-{round}"), &["FR"], 1)
            .await;
        let (a_id, _, a) = app
            .discoverable_creator(&format!("left_{round}"), "FR")
            .await;
        let (b_id, _, b) = app
            .discoverable_creator(&format!("right_{round}"), "FR")
            .await;
        let inv_a = invite(&app, &agency, &a_id).await;
        let inv_b = invite(&app, &agency, &b_id).await;
        let (ra, rb) = tokio::join!(
            respond(&app, Some(&a), "acceptInvitation", &inv_a),
            respond(&app, Some(&b), "acceptInvitation", &inv_b)
        );
        let errors: Vec<_> = [&ra, &rb]
            .iter()
            .map(|r| r.user_errors("acceptInvitation"))
            .collect();
        let winners = errors.iter().filter(|e| e.is_empty()).count();
        assert_eq!(winners, 1, "round {round}: {} / {}", ra.body, rb.body);
        let loser = errors.iter().find(|e| !e.is_empty()).unwrap();
        assert_eq!(loser[0].0, "AGENCY_AT_CAPACITY");
    }
}

#[tokio::test]
async fn concurrent_retries_with_one_idempotency_key_send_once() {
    let app = spawn_app().await;
    let (agency_id, _, agency) = app.agency_with_token("retrier", &["FR"], 5).await;
    let (creator_id, _, _) = app.discoverable_creator("retried", "FR").await;
    let mut events = crate::events::Subscription::open(&app.base, Some(&agency)).await;
    let input = json!({"input": {"creatorId": creator_id, "idempotencyKey": "partner-42", "message": "Hello"}});
    let answers =
        join_all((0..12).map(|_| app.gql(Some(&agency), crate::helpers::SEND, input.clone())))
            .await;
    let ids: HashSet<String> = answers
        .iter()
        .map(|r| {
            let data = r.assert_ok();
            assert_eq!(r.user_errors("sendInvitation"), vec![], "{}", r.body);
            data["sendInvitation"]["invitation"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every retry returns the first invitation");
    assert_eq!(app.invitation_count().await, 1);
    let quota = app
        .ok(
            &agency,
            "query($id: ID!) { agency(id: $id) { invitationQuota { usedLast24h } } }",
            json!({"id": agency_id}),
        )
        .await;
    assert_eq!(
        quota["agency"]["invitationQuota"]["usedLast24h"], 1,
        "retries consume no quota"
    );
    // The one event comes however loaded the machine; then nothing more.
    let mut created: Vec<_> = events
        .next_event(std::time::Duration::from_secs(10))
        .await
        .into_iter()
        .collect();
    created.extend(events.drain(std::time::Duration::from_millis(500)).await);
    assert_eq!(
        created.len(),
        1,
        "one CREATED event for twelve retries: {created:?}"
    );
    // A later retry, after the invitation changed, still answers the first one.
    let first = ids.into_iter().next().unwrap();
    respond(&app, Some(&agency), "withdrawInvitation", &first)
        .await
        .assert_ok();
    let late = app.gql(Some(&agency), crate::helpers::SEND, input).await;
    assert_eq!(
        late.assert_ok()["sendInvitation"]["invitation"]["id"],
        first.as_str()
    );
    assert_eq!(
        late.data()["sendInvitation"]["invitation"]["status"],
        "WITHDRAWN"
    );
}

#[tokio::test]
async fn concurrent_sends_never_exceed_the_daily_limit() {
    let app = spawn_app().await;
    let admin = app.admin();
    let (agency_id, _, agency) = app.agency_with_token("limited", &["FR"], 100).await;
    app.ok(&admin, "mutation($id: ID!) { updateAgency(input: {agencyId: $id, dailyInviteLimit: 5}) { agency { id } } }", json!({"id": agency_id}))
        .await;
    let mut targets = Vec::new();
    for i in 0..15 {
        targets.push(
            app.discoverable_creator(&format!("target_{i:02}"), "FR")
                .await
                .0,
        );
    }
    let answers = join_all(
        targets
            .iter()
            .map(|id| crate::helpers::send(&app, &agency, id)),
    )
    .await;
    let sent = answers
        .iter()
        .filter(|r| r.user_errors("sendInvitation").is_empty())
        .count();
    assert_eq!(sent, 5);
    assert!(answers.iter().all(|r| {
        r.user_errors("sendInvitation")
            .iter()
            .all(|(code, _)| code == "QUOTA_EXCEEDED")
    }));
    assert_eq!(app.invitation_count().await, 5);
}

/// A send and an accept for one creator serialise on the creator's row: the
/// send waits for the accept and is then refused ALREADY_IN_AGENCY, or
/// commits first and is CANCELLED by the accept. Without the creator lock
/// the send could commit a PENDING invitation for a fresh member.
#[tokio::test]
async fn a_send_racing_an_accept_never_leaves_a_member_invited() {
    let app = spawn_app().await;
    let (_, _, sender) = app.agency_with_token("sender", &["FR"], 100).await;
    let (_, _, winner) = app.agency_with_token("winner", &["FR"], 100).await;
    for round in 0..20 {
        let (creator_id, _, creator) = app
            .discoverable_creator(&format!("raced_{round:02}"), "FR")
            .await;
        let inv = invite(&app, &winner, &creator_id).await;
        let (sent, accepted) = tokio::join!(
            crate::helpers::send(&app, &sender, &creator_id),
            respond(&app, Some(&creator), "acceptInvitation", &inv)
        );
        sent.assert_ok();
        assert_eq!(
            accepted.assert_ok()["acceptInvitation"]["invitation"]["status"],
            "ACCEPTED",
            "{}",
            accepted.body
        );
        for (code, _) in sent.user_errors("sendInvitation") {
            assert_eq!(code, "ALREADY_IN_AGENCY", "round {round}: {}", sent.body);
        }
    }
    let members = membership::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(members.len(), 20);
    let pending: Vec<_> = invitation::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.status == invitation::Status::Pending)
        .collect();
    assert_eq!(pending, vec![], "no member holds a PENDING invitation");
}

/// Two stats batches over the same creators in opposite orders: written in
/// id order, neither waits on the other in a cycle, so neither deadlocks.
#[tokio::test]
async fn stats_batches_in_opposite_orders_both_succeed() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            app.create_creator(&format!("streamer_{i:02}"), "FR")
                .await
                .0,
        );
    }
    let batch = |ids: &[String], followers: i64| {
        json!({"input": ids.iter().map(|id| json!({
            "creatorId": id, "followers": followers, "avgViewers": 10.0, "peakViewers": 20,
            "liveHours30d": 10.0, "liveDays30d": 5, "diamonds30d": 100,
            "followerGrowth30d": 0.0, "engagementRate": 0.1
        })).collect::<Vec<_>>()})
    };
    let reversed: Vec<String> = ids.iter().rev().cloned().collect();
    let admin = app.admin();
    let q = "mutation($input: [CreatorStatsInput!]!) { upsertCreatorStats(input: $input) { updated userErrors { code } } }";
    for round in 0..10 {
        let (a, b) = tokio::join!(
            app.gql(Some(&admin), q, batch(&ids, round)),
            app.gql(Some(&admin), q, batch(&reversed, round + 1000))
        );
        for res in [&a, &b] {
            assert_eq!(
                res.assert_ok()["upsertCreatorStats"]["updated"],
                30,
                "round {round}: {}",
                res.body
            );
        }
    }
}

/// A send and a switch-off of one creator serialise on the creator's row:
/// an invitation that was sent was written before the switch went off (its
/// change-log position is the earlier one); a send judged after it is
/// refused NOT_DISCOVERABLE. Never does a send land after the switch-off.
#[tokio::test]
async fn a_send_never_lands_after_the_switch_off_returned() {
    use entity::change_log;
    use sea_orm::{ColumnTrait, QueryFilter};
    let app = spawn_app().await;
    let (_, _, agency) = app.agency_with_token("late-sender", &["FR"], 100).await;
    let off = "mutation { setDiscoverable(discoverable: false) { creator { discoverable } userErrors { code } } }";
    for round in 0..20 {
        let (creator_id, creator_uuid, creator) = app
            .discoverable_creator(&format!("leaving_{round:02}"), "FR")
            .await;
        let (sent, switched) = tokio::join!(
            crate::helpers::send(&app, &agency, &creator_id),
            app.gql(Some(&creator), off, json!({}))
        );
        assert_eq!(
            switched.assert_ok()["setDiscoverable"]["creator"]["discoverable"],
            false
        );
        sent.assert_ok();
        if let Some((code, _)) = sent.user_errors("sendInvitation").first() {
            assert_eq!(code, "NOT_DISCOVERABLE", "round {round}");
            continue;
        }
        let log = change_log::Entity::find()
            .filter(change_log::Column::CreatorId.eq(creator_uuid))
            .all(&app.db)
            .await
            .unwrap();
        let position_of = |kind: &str| {
            log.iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.position)
                .max()
                .unwrap()
        };
        assert!(
            position_of("invitation.created") < position_of("creator.discoverable"),
            "round {round}: the send was written after the switch-off"
        );
    }
}
