//! The authorisation matrix: each lifecycle operation × anonymous, the
//! creator, another creator, the agency, another agency and an admin. A role
//! that may never call it gets a top-level FORBIDDEN (UNAUTHENTICATED when
//! anonymous); an invitation the caller may not see is a NOT_FOUND userError.

use serde_json::{Value, json};

use crate::helpers::{As, Gql, TestApp, invite, respond, spawn_app};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Ok,
    Unauthenticated,
    Forbidden,
    /// A `userErrors` entry with this code.
    Refused(&'static str),
}

struct Cast {
    tokens: Vec<(&'static str, Option<String>)>,
    creator_id: String,
    agency_id: String,
}

async fn cast(app: &TestApp) -> Cast {
    let (agency_id, agency) = app.create_agency("the-agency", &["FR"], 10).await;
    let (_, other_agency) = app.create_agency("another-agency", &["FR"], 10).await;
    let (creator_id, creator) = app.create_creator("the.creator", "FR").await;
    let (_, other_creator) = app.create_creator("another.creator", "FR").await;
    app.set_discoverable(creator, true).await;
    Cast {
        tokens: vec![
            ("anonymous", None),
            ("creator", Some(app.token(As::Creator(creator)))),
            ("other creator", Some(app.token(As::Creator(other_creator)))),
            ("agency", Some(app.token(As::Agency(agency)))),
            ("other agency", Some(app.token(As::Agency(other_agency)))),
            ("admin", Some(app.admin())),
        ],
        creator_id,
        agency_id,
    }
}

fn outcome(res: &Gql, field: &str) -> Expect {
    match res.codes().first().map(String::as_str) {
        Some("UNAUTHENTICATED") => return Expect::Unauthenticated,
        Some("FORBIDDEN") => return Expect::Forbidden,
        Some(other) => panic!("unexpected error {other}: {}", res.body),
        None => {}
    }
    match res.user_errors(field).first() {
        Some((code, _)) => Expect::Refused(match code.as_str() {
            "NOT_FOUND" => "NOT_FOUND",
            "INVALID_INPUT" => "INVALID_INPUT",
            "NOT_IN_AGENCY" => "NOT_IN_AGENCY",
            other => panic!("unexpected userError {other}: {}", res.body),
        }),
        None => Expect::Ok,
    }
}

/// Runs `mutation` for each role against a fresh PENDING invitation.
async fn matrix(mutation: &str, expected: [Expect; 6]) {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let agency_token = cast.tokens[3].1.clone().unwrap();
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let inv = invite(&app, &agency_token, &cast.creator_id).await;
        let res = respond(&app, token.as_deref(), mutation, &inv).await;
        assert_eq!(
            outcome(&res, mutation),
            want,
            "{mutation} as {role}: {}",
            res.body
        );
        let status = app
            .ok(
                &app.admin(),
                "query($id: ID!) { invitation(id: $id) { status } }",
                json!({"id": inv}),
            )
            .await;
        let pending = status["invitation"]["status"] == "PENDING";
        assert_eq!(
            pending,
            want != Expect::Ok,
            "{mutation} as {role} changed only what it may"
        );
        app.reset_lifecycle().await;
    }
}

use Expect::{Forbidden, Ok, Refused, Unauthenticated};

#[tokio::test]
async fn who_may_accept() {
    matrix(
        "acceptInvitation",
        [
            Unauthenticated,
            Ok,
            Refused("NOT_FOUND"),
            Forbidden,
            Forbidden,
            Forbidden,
        ],
    )
    .await;
}

#[tokio::test]
async fn who_may_decline() {
    matrix(
        "declineInvitation",
        [
            Unauthenticated,
            Ok,
            Refused("NOT_FOUND"),
            Forbidden,
            Forbidden,
            Forbidden,
        ],
    )
    .await;
}

#[tokio::test]
async fn who_may_withdraw() {
    matrix(
        "withdrawInvitation",
        [
            Unauthenticated,
            Forbidden,
            Forbidden,
            Ok,
            Refused("NOT_FOUND"),
            Ok,
        ],
    )
    .await;
}

#[tokio::test]
async fn who_may_send() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let expected = [
        Unauthenticated,
        Forbidden,
        Forbidden,
        Ok,
        Ok,
        Refused("INVALID_INPUT"),
    ];
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let res = app
            .gql(
                token.as_deref(),
                crate::helpers::SEND,
                json!({"input": {"creatorId": cast.creator_id}}),
            )
            .await;
        app.reset_lifecycle().await;
        assert_eq!(
            outcome(&res, "sendInvitation"),
            want,
            "send as {role}: {}",
            res.body
        );
    }
    // An admin sends on an agency's behalf by naming it; an agency cannot
    // name another.
    let admin = app.admin();
    let (fresh, _) = app.create_creator("fresh.face", "FR").await;
    app.ok(&admin, "mutation($id: ID) { setDiscoverable(discoverable: true, creatorId: $id) { creator { id } } }", json!({"id": fresh})).await;
    let res = app
        .gql(
            Some(&admin),
            crate::helpers::SEND,
            json!({"input": {"creatorId": fresh, "agencyId": cast.agency_id}}),
        )
        .await;
    assert_eq!(
        res.assert_ok()["sendInvitation"]["invitation"]["agency"]["slug"],
        "the-agency"
    );
    let other_agency = cast.tokens[4].1.as_deref().unwrap();
    let res = app
        .gql(
            Some(other_agency),
            crate::helpers::SEND,
            json!({"input": {"creatorId": fresh, "agencyId": cast.agency_id}}),
        )
        .await;
    res.assert_error("FORBIDDEN");
}

#[tokio::test]
async fn who_may_switch_and_leave() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let set = "mutation($id: ID) { setDiscoverable(discoverable: true, creatorId: $id) { creator { id } userErrors { code } } }";
    // For oneself (no creatorId): creators only; admins must name someone.
    let expected = [
        Unauthenticated,
        Ok,
        Ok,
        Forbidden,
        Forbidden,
        Refused("INVALID_INPUT"),
    ];
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let res = app.gql(token.as_deref(), set, json!({})).await;
        assert_eq!(
            outcome(&res, "setDiscoverable"),
            want,
            "setDiscoverable as {role}: {}",
            res.body
        );
    }
    // For the creator by id: the creator themself and admins.
    let expected = [Unauthenticated, Ok, Forbidden, Forbidden, Forbidden, Ok];
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let res = app
            .gql(token.as_deref(), set, json!({"id": cast.creator_id}))
            .await;
        assert_eq!(
            outcome(&res, "setDiscoverable"),
            want,
            "setDiscoverable(creatorId) as {role}: {}",
            res.body
        );
    }
    let leave = "mutation { leaveAgency { creator { id } userErrors { code } } }";
    let expected = [
        Unauthenticated,
        Refused("NOT_IN_AGENCY"),
        Refused("NOT_IN_AGENCY"),
        Forbidden,
        Forbidden,
        Forbidden,
    ];
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let res = app.gql(token.as_deref(), leave, json!({})).await;
        assert_eq!(
            outcome(&res, "leaveAgency"),
            want,
            "leaveAgency as {role}: {}",
            res.body
        );
    }
}

#[tokio::test]
async fn who_may_read_lists_quota_and_eligibility() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let agency_token = cast.tokens[3].1.clone().unwrap();
    invite(&app, &agency_token, &cast.creator_id).await;
    let q = "query($agency: ID!, $creator: ID!) {
        agency(id: $agency) { slug members { totalCount } invitations { totalCount } invitationQuota { remaining } }
        creator(id: $creator) { handle invitations { totalCount } }
    }";
    // (members/invitations/quota of the agency, creator.invitations)
    let expected: [(bool, Option<bool>); 6] = [
        (false, None),        // anonymous: sees no creator at all
        (false, Some(true)),  // the creator
        (false, None),        // another creator: sees no other creator
        (true, Some(false)),  // the agency: sees the creator it invited, not their inbox
        (false, Some(false)), // another agency: the creator is discoverable
        (true, Some(true)),   // admin
    ];
    for ((role, token), (agency_lists, creator_inbox)) in cast.tokens.iter().zip(expected) {
        let res = app
            .gql(
                token.as_deref(),
                q,
                json!({"agency": cast.agency_id, "creator": cast.creator_id}),
            )
            .await;
        let data = res.data();
        assert_eq!(
            data["agency"]["slug"], "the-agency",
            "{role}: the directory is public"
        );
        for field in ["members", "invitations", "invitationQuota"] {
            assert_eq!(
                !data["agency"][field].is_null(),
                agency_lists,
                "{role} reads agency.{field}: {}",
                res.body
            );
        }
        match creator_inbox {
            None => assert_eq!(data["creator"], Value::Null, "{role}"),
            Some(visible) => assert_eq!(
                !data["creator"]["invitations"].is_null(),
                visible,
                "{role} reads creator.invitations"
            ),
        }
        if !agency_lists || creator_inbox == Some(false) {
            let denied = if token.is_none() {
                "UNAUTHENTICATED"
            } else {
                "FORBIDDEN"
            };
            assert!(
                res.codes().iter().all(|c| c == denied),
                "{role}: denied fields are {denied}: {}",
                res.body
            );
            assert!(!res.codes().is_empty(), "{role}");
        }
    }
    let eligibility = "query($agency: ID!, $ids: [ID!]!) { invitationEligibility(agencyId: $agency, creatorIds: $ids) { reason } }";
    let expected = [
        Some("UNAUTHENTICATED"),
        Some("FORBIDDEN"),
        Some("FORBIDDEN"),
        None,
        Some("FORBIDDEN"),
        None,
    ];
    for ((role, token), want) in cast.tokens.iter().zip(expected) {
        let res = app
            .gql(
                token.as_deref(),
                eligibility,
                json!({"agency": cast.agency_id, "ids": [cast.creator_id]}),
            )
            .await;
        assert_eq!(
            res.codes().first().map(String::as_str),
            want,
            "eligibility as {role}: {}",
            res.body
        );
    }
    let too_many: Vec<String> = (0..101).map(|_| cast.creator_id.clone()).collect();
    let admin = app.admin();
    app.gql(
        Some(&admin),
        eligibility,
        json!({"agency": cast.agency_id, "ids": too_many}),
    )
    .await
    .assert_error("BAD_USER_INPUT");
}

#[tokio::test]
async fn who_may_run_the_admin_mutations() {
    let app = spawn_app().await;
    let cast = cast(&app).await;
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        n
    };
    // (mutation, field, variables builder, expected per role)
    type Vars = Box<dyn Fn(usize) -> Value>;
    let creator_id = cast.creator_id.clone();
    let agency_id = cast.agency_id.clone();
    let stats_creator = creator_id.clone();
    let cases: Vec<(&str, &str, Vars, [Expect; 6])> = vec![
        (
            "mutation($input: CreateCreatorInput!) { createCreator(input: $input) { creator { id } userErrors { code } } }",
            "createCreator",
            Box::new(
                |i| json!({"input": {"handle": format!("made_{i}"), "displayName": "M", "region": "FR", "languages": ["fr"], "categories": ["ART"], "birthDate": "1990-01-01"}}),
            ),
            [
                Unauthenticated,
                Forbidden,
                Forbidden,
                Forbidden,
                Forbidden,
                Ok,
            ],
        ),
        (
            "mutation($input: CreateAgencyInput!) { createAgency(input: $input) { agency { id } userErrors { code } } }",
            "createAgency",
            Box::new(
                |i| json!({"input": {"slug": format!("made-{i}"), "name": "M", "regions": ["FR"], "languages": ["fr"], "specialties": ["ART"], "capacity": 3}}),
            ),
            [
                Unauthenticated,
                Forbidden,
                Forbidden,
                Forbidden,
                Forbidden,
                Ok,
            ],
        ),
        (
            "mutation($input: UpdateCreatorProfileInput!) { updateCreatorProfile(input: $input) { creator { id } userErrors { code } } }",
            "updateCreatorProfile",
            Box::new(
                move |_| json!({"input": {"creatorId": creator_id, "displayName": "Renamed"}}),
            ),
            [Unauthenticated, Ok, Forbidden, Forbidden, Forbidden, Ok],
        ),
        (
            "mutation($input: UpdateAgencyInput!) { updateAgency(input: $input) { agency { id } userErrors { code } } }",
            "updateAgency",
            Box::new(move |_| json!({"input": {"agencyId": agency_id, "name": "Renamed"}})),
            [Unauthenticated, Forbidden, Forbidden, Ok, Forbidden, Ok],
        ),
        (
            "mutation($input: [CreatorStatsInput!]!) { upsertCreatorStats(input: $input) { updated userErrors { code } } }",
            "upsertCreatorStats",
            Box::new(
                move |_| json!({"input": [{"creatorId": stats_creator, "followers": 10, "avgViewers": 1.0, "peakViewers": 2, "liveHours30d": 1.0, "liveDays30d": 1, "diamonds30d": 0, "followerGrowth30d": 0.0, "engagementRate": 0.1}]}),
            ),
            [
                Unauthenticated,
                Forbidden,
                Forbidden,
                Forbidden,
                Forbidden,
                Ok,
            ],
        ),
    ];
    for (query, field, vars, expected) in &cases {
        for ((role, token), want) in cast.tokens.iter().zip(expected) {
            let res = app.gql(token.as_deref(), query, vars(fresh())).await;
            assert_eq!(
                outcome(&res, field),
                *want,
                "{field} as {role}: {}",
                res.body
            );
        }
    }
}
