//! The load-and-fault run: two instances on a private PostgreSQL cluster,
//! a mixed workload (nested reads, rankings, sends, accepts and declines,
//! switches) from `LOAD_CONCURRENCY` clients (64) for `LOAD_SECONDS` (CI: 6;
//! the full run, `bench/load-and-fault.sh`: 60), the cluster restarted once
//! in the middle. Each acknowledged answer to an invitation is read back at
//! once through the other instance, which read it just before (kept
//! answers must not hide it). Then: every acknowledged write is in the database, one
//! membership per creator, capacities, quotas and one PENDING per pair
//! held, and both instances' ranking indexes equal a fresh load. It prints
//! the counts. Loopback only; bounded by time and by `LOAD_MAX_REQUESTS`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agency_center::domain::index::RankingIndex;
use entity::{agency, creator, invitation, membership};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{SEND, TestApp, spawn_app_at, uuid_of};
use crate::outage::{PrivateCluster, postgres_pass};
use crate::ranking::RANK;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const NESTED: &str = "{ agencies(first: 5) { edges { node { slug invitations(first: 5) { edges { node { status creator { handle followers } } } } } } } }";
const STATUS: &str = "query($id: ID!) { invitation(id: $id) { status } }";
const INBOX: &str = "{ viewer { creator { invitations(status: PENDING, first: 3) { edges { node { id agency { id } } } } } } }";

#[derive(Default, Debug)]
struct Counts {
    reads: u64,
    rankings: u64,
    sends: u64,
    sends_refused: u64,
    accepts: u64,
    declines: u64,
    answers_refused: u64,
    switches: u64,
    /// Reads through the other instance right after an acknowledged
    /// answer, which showed it (kept answers included).
    read_own_writes: u64,
    /// Such reads that showed the invitation as it was before: must be 0.
    stale_reads: u64,
    failed: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.reads += o.reads;
        self.rankings += o.rankings;
        self.sends += o.sends;
        self.sends_refused += o.sends_refused;
        self.accepts += o.accepts;
        self.declines += o.declines;
        self.answers_refused += o.answers_refused;
        self.switches += o.switches;
        self.read_own_writes += o.read_own_writes;
        self.stale_reads += o.stale_reads;
        self.failed += o.failed;
    }
}

/// What the server acknowledged, to be found in the database.
#[derive(Default)]
struct Acknowledged {
    /// Invitation → (agency, creator).
    sent: HashMap<Uuid, (Uuid, Uuid)>,
    /// Invitation → the status it was answered with.
    answered: HashMap<Uuid, invitation::Status>,
    /// Creator → the last acknowledged switch, unless an attempt after it
    /// failed (then the outcome is unknown: it may have committed).
    switched: HashMap<Uuid, Option<bool>>,
}

struct World {
    instances: [Arc<TestApp>; 2],
    agencies: Vec<(String, Uuid, String)>,
    creators: Vec<(String, Uuid, String)>,
}

fn failed(res: &Value) -> bool {
    !res["errors"].is_null() || res.is_null()
}

/// One client: its own creators (every `concurrency`-th), any agency.
async fn client(
    world: Arc<World>,
    me: usize,
    concurrency: usize,
    stop: Arc<AtomicBool>,
    budget: Arc<AtomicU64>,
) -> (Counts, Acknowledged) {
    let mut rng = StdRng::seed_from_u64(me as u64);
    let app = &world.instances[me % 2];
    let other = &world.instances[(me + 1) % 2];
    let mine: Vec<&(String, Uuid, String)> = world
        .creators
        .iter()
        .skip(me)
        .step_by(concurrency)
        .collect();
    let mut counts = Counts::default();
    let mut acks = Acknowledged::default();
    let spend = || {
        budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    };
    while !stop.load(Ordering::Relaxed) && spend() {
        let roll = rng.random_range(0..100);
        let (agency_id, _, agency_token) =
            &world.agencies[rng.random_range(0..world.agencies.len())];
        if roll < 30 {
            let res = app.gql(Some(agency_token), NESTED, json!({})).await.body;
            count(&mut counts.reads, &mut counts.failed, failed(&res));
        } else if roll < 50 {
            let res = app
                .gql(
                    Some(agency_token),
                    RANK,
                    json!({"agency": agency_id, "first": 10}),
                )
                .await
                .body;
            count(&mut counts.rankings, &mut counts.failed, failed(&res));
        } else if roll < 70 {
            let (creator_id, creator_uuid, _) =
                &world.creators[rng.random_range(0..world.creators.len())];
            let res = app
                .gql(
                    Some(agency_token),
                    SEND,
                    json!({"input": {"creatorId": creator_id}}),
                )
                .await
                .body;
            match res["data"]["sendInvitation"]["invitation"]["id"].as_str() {
                Some(id) => {
                    counts.sends += 1;
                    acks.sent
                        .insert(uuid_of(id), (uuid_of(agency_id), *creator_uuid));
                }
                None if failed(&res) => counts.failed += 1,
                None => counts.sends_refused += 1,
            }
        } else if roll < 85 {
            let Some((_, _, creator_token)) = mine.get(rng.random_range(0..mine.len().max(1)))
            else {
                continue;
            };
            let inbox = app.gql(Some(creator_token), INBOX, json!({})).await.body;
            let pending = inbox["data"]["viewer"]["creator"]["invitations"]["edges"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let Some(edge) = pending.first() else {
                count(&mut counts.reads, &mut counts.failed, failed(&inbox));
                continue;
            };
            let id = edge["node"]["id"].as_str().unwrap_or_default().to_owned();
            // The other instance reads (and may keep) it before the answer...
            let read_there = || other.gql(Some(creator_token), STATUS, json!({"id": id}));
            read_there().await;
            let (mutation, status, answer) = if rng.random_bool(0.6) {
                ("acceptInvitation", "ACCEPTED", invitation::Status::Accepted)
            } else {
                (
                    "declineInvitation",
                    "DECLINED",
                    invitation::Status::Declined,
                )
            };
            let res = app
                .gql(
                    Some(creator_token),
                    &format!("mutation($id: ID!) {{ {mutation}(id: $id) {{ invitation {{ status }} userErrors {{ code }} }} }}"),
                    json!({"id": id}),
                )
                .await
                .body;
            if res["data"][mutation]["invitation"]["status"] == status {
                if answer == invitation::Status::Accepted {
                    counts.accepts += 1;
                } else {
                    counts.declines += 1;
                }
                acks.answered.insert(uuid_of(&id), answer);
                // ...and must show the answer as soon as it is acknowledged.
                let seen = read_there().await.body;
                if failed(&seen) {
                    counts.failed += 1;
                } else if seen["data"]["invitation"]["status"] == status {
                    counts.read_own_writes += 1;
                } else {
                    counts.stale_reads += 1;
                }
            } else if failed(&res) {
                counts.failed += 1;
            } else {
                counts.answers_refused += 1;
            }
        } else {
            let Some((_, creator_uuid, creator_token)) =
                mine.get(rng.random_range(0..mine.len().max(1)))
            else {
                continue;
            };
            let on = rng.random_bool(0.5);
            let res = app
                .gql(
                    Some(creator_token),
                    "mutation($on: Boolean!) { setDiscoverable(discoverable: $on) { creator { discoverable } userErrors { code } } }",
                    json!({"on": on}),
                )
                .await
                .body;
            if res["data"]["setDiscoverable"]["creator"]["discoverable"] == on {
                counts.switches += 1;
                acks.switched.insert(*creator_uuid, Some(on));
            } else {
                counts.failed += 1;
                acks.switched.insert(*creator_uuid, None);
            }
        }
    }
    (counts, acks)
}

fn count(ok: &mut u64, failed: &mut u64, was_failed: bool) {
    if was_failed {
        *failed += 1;
    } else {
        *ok += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_and_fault() {
    if !postgres_pass() {
        return;
    }
    let seconds = setting("LOAD_SECONDS", 6);
    let concurrency = setting("LOAD_CONCURRENCY", 64) as usize;
    let budget = Arc::new(AtomicU64::new(setting("LOAD_MAX_REQUESTS", 500_000)));
    let cluster = PrivateCluster::create();
    let a = Arc::new(spawn_app_at(cluster.url()).await);
    let b = Arc::new(spawn_app_at(cluster.url()).await);

    let mut agencies = Vec::new();
    for i in 0..10 {
        agencies.push(
            a.agency_with_token(&format!("load-agency-{i}"), &["FR"], 25)
                .await,
        );
    }
    let mut creators = Vec::new();
    for i in 0..concurrency * 4 {
        creators.push(
            a.discoverable_creator(&format!("load.creator.{i}"), "FR")
                .await,
        );
    }
    let world = Arc::new(World {
        instances: [a.clone(), b.clone()],
        agencies,
        creators,
    });

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..concurrency)
        .map(|me| {
            tokio::spawn(client(
                world.clone(),
                me,
                concurrency,
                stop.clone(),
                budget.clone(),
            ))
        })
        .collect();
    let half = Duration::from_secs(seconds) / 2;
    tokio::time::sleep(half).await;
    cluster.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start();
    let restarted_at = started.elapsed();
    tokio::time::sleep(Duration::from_secs(seconds).saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    let mut counts = Counts::default();
    let mut acks = Acknowledged::default();
    for c in clients {
        let (c, k) = c.await.unwrap();
        counts.add(&c);
        acks.sent.extend(k.sent);
        acks.answered.extend(k.answered);
        // Creators belong to one client each: no two clients merge the same key.
        acks.switched.extend(k.switched);
    }
    let elapsed = started.elapsed();
    let requests = counts.reads
        + counts.rankings
        + counts.sends
        + counts.sends_refused
        + counts.accepts
        + counts.declines
        + counts.answers_refused
        + counts.switches
        + counts.read_own_writes
        + counts.stale_reads
        + counts.failed;
    println!(
        "load-and-fault: {concurrency} clients, {:.1} s, database restarted at {:.1} s; {requests} requests ({:.0}/s): {counts:?}",
        elapsed.as_secs_f64(),
        restarted_at.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64()
    );
    assert!(
        counts.sends > 0 && counts.accepts > 0 && counts.switches > 0,
        "{counts:?}"
    );
    assert_eq!(counts.stale_reads, 0, "read your own writes: {counts:?}");
    assert!(counts.read_own_writes > 0, "{counts:?}");

    // Every acknowledged write is in the database.
    let db = &a.db;
    let invitations: HashMap<Uuid, invitation::Model> = invitation::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    for (id, (agency_id, creator_id)) in &acks.sent {
        let row = invitations
            .get(id)
            .expect("an acknowledged invitation is stored");
        assert_eq!((row.agency_id, row.creator_id), (*agency_id, *creator_id));
    }
    let memberships = membership::Entity::find().all(db).await.unwrap();
    for (id, status) in &acks.answered {
        let row = &invitations[id];
        assert_eq!(row.status, *status, "invitation {id}");
        if *status == invitation::Status::Accepted {
            assert!(
                memberships
                    .iter()
                    .any(|m| m.creator_id == row.creator_id && m.agency_id == row.agency_id),
                "an accepted invitation made a membership"
            );
        }
    }
    let creator_rows: HashMap<Uuid, creator::Model> = creator::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut unknown = 0;
    for (id, last) in &acks.switched {
        match last {
            Some(on) => assert_eq!(creator_rows[id].discoverable, *on, "creator {id}"),
            None => unknown += 1,
        }
    }

    // The invariants.
    let mut per_creator: HashMap<Uuid, u32> = HashMap::new();
    let mut per_agency: HashMap<Uuid, i32> = HashMap::new();
    for m in &memberships {
        *per_creator.entry(m.creator_id).or_default() += 1;
        *per_agency.entry(m.agency_id).or_default() += 1;
    }
    assert!(
        per_creator.values().all(|n| *n == 1),
        "one membership per creator"
    );
    let agency_rows = agency::Entity::find().all(db).await.unwrap();
    for ag in &agency_rows {
        assert!(
            per_agency.get(&ag.id).copied().unwrap_or(0) <= ag.capacity,
            "{} over capacity",
            ag.slug
        );
        let sent = invitations
            .values()
            .filter(|i| i.agency_id == ag.id)
            .count();
        assert!(
            sent as i32 <= ag.daily_invite_limit,
            "{} over its daily quota",
            ag.slug
        );
    }
    let mut pending: HashMap<(Uuid, Uuid), u32> = HashMap::new();
    for i in invitations
        .values()
        .filter(|i| i.status == invitation::Status::Pending)
    {
        *pending.entry((i.agency_id, i.creator_id)).or_default() += 1;
    }
    assert!(
        pending.values().all(|n| *n == 1),
        "one PENDING invitation per pair"
    );

    // Both indexes equal a fresh load, once they have read the log.
    let (fresh, _) = RankingIndex::load(db).await.unwrap();
    for (name, app) in [("A", &a), ("B", &b)] {
        app.domain.apply_change_log().await.unwrap();
        assert_eq!(
            app.domain.index.read().contents(),
            fresh.read().contents(),
            "instance {name}'s index is the database's"
        );
    }
    println!(
        "checked: {} invitations acknowledged ({} stored), {} answers, {} switches ({} creators' last switch unknown after a failed attempt), {} memberships, {} indexed creators on each instance",
        acks.sent.len(),
        invitations.len(),
        acks.answered.len(),
        counts.switches,
        unknown,
        memberships.len(),
        fresh.read().len()
    );
}
