//! A PostgreSQL outage under load, on a private cluster this test starts
//! itself (`initdb` in a temporary folder, its own port; never the shared
//! server): the server stays up, `/readyz` turns 503, requests fail with
//! INTERNAL_SERVER_ERROR and no SQL, subscriptions stay open; within 5 s
//! of PostgreSQL returning everything works again, events from another
//! instance arrive (the listener reconnected), its writes reach our
//! ranking (the change log), and no acknowledged write was lost.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::events::Subscription;
use crate::helpers::{TestApp, global_id, spawn_app_at};
use crate::instances::{gql_at, instance_with};
use crate::ranking::{RANK, Spec, creator, handles};

/// A PostgreSQL cluster of the test's own, stopped and deleted on drop.
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

/// `initdb` and `postgres` refuse to run as root: run them as `postgres`.
fn pg_command(bin: &std::path::Path, tool: &str) -> Command {
    let tool = bin.join(tool);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The installed PostgreSQL's binaries (Debian keeps them per version).
fn pg_bin() -> PathBuf {
    let root = std::path::Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .expect("PostgreSQL is installed under /usr/lib/postgresql")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateCluster {
    pub fn create() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(chown.success());
        }
        let bin = pg_bin();
        let init = pg_command(&bin, "initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(dir.path().join("data"))
            .output()
            .unwrap();
        assert!(init.status.success(), "initdb: {init:?}");
        let cluster = Self {
            dir,
            bin,
            port: free_port(),
        };
        cluster.start();
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let started = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(started.status.success(), "pg_ctl start: {started:?}");
    }

    /// As an operator's restart would: fast shutdown, open sessions cut.
    pub fn stop(&self) {
        let stopped = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .unwrap();
        assert!(stopped.status.success(), "pg_ctl stop: {stopped:?}");
    }
}

impl PrivateCluster {
    /// A smart shutdown, not waited for: no new sessions are accepted,
    /// the open ones go on until their clients leave.
    pub fn stop_smart(&self) {
        let stopping = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "smart", "-W", "stop"])
            .output()
            .unwrap();
        assert!(stopping.status.success(), "pg_ctl stop: {stopping:?}");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Whether this run is the PostgreSQL pass (the outage is PostgreSQL's;
/// on the SQLite pass there is nothing to take down).
pub fn postgres_pass() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

/// Creates creators as fast as it can until told to stop; returns the
/// handles whose creation was acknowledged.
async fn creating(app: Arc<TestApp>, stop: Arc<AtomicBool>, tag: usize) -> Vec<String> {
    let admin = app.admin();
    let mut acknowledged = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let handle = format!("load{tag}_{n}");
        let res = app
            .gql(
                Some(&admin),
                "mutation($input: CreateCreatorInput!) { createCreator(input: $input) { creator { id } userErrors { code } } }",
                json!({"input": {"handle": handle, "displayName": "Load", "region": "FR",
                    "languages": ["fr"], "categories": ["GAMING"], "birthDate": "1999-01-01"}}),
            )
            .await;
        if res.body["data"]["createCreator"]["creator"]["id"].is_string() {
            acknowledged.push(handle);
        } else {
            // What a client sees while the database is down.
            let errors = res.body["errors"].to_string();
            assert!(
                !errors.to_lowercase().contains("select")
                    && !errors.to_lowercase().contains("insert")
                    && !errors.contains("sqlx"),
                "no SQL reaches clients: {errors}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    acknowledged
}

#[tokio::test]
async fn the_server_rides_out_a_database_restart() {
    if !postgres_pass() {
        return;
    }
    let cluster = PrivateCluster::create();
    let app = Arc::new(spawn_app_at(cluster.url()).await);
    let (agency_id, _, agency) = app.agency_with_token("outage-agency", &["FR"], 50).await;
    let (steady, _) = creator(&app, &Spec::new("steady").followers(10_000)).await;
    // Creators for B to invite after the restart, one per attempt.
    let mut to_invite = Vec::new();
    for (handle, followers) in [("later.a", 500), ("later.b", 400), ("later.c", 300)] {
        to_invite.push((
            handle,
            creator(&app, &Spec::new(handle).followers(followers))
                .await
                .1,
        ));
    }
    let (b, _) = instance_with(&app, &[]).await;
    let mut events_on_a = Subscription::open(&app.base, Some(&agency)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|t| tokio::spawn(creating(app.clone(), stop.clone(), t)))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    cluster.stop();
    // Down: the process answers, says it is not ready, and refuses
    // requests with a plain INTERNAL_SERVER_ERROR.
    assert_eq!(app.get("/healthz").await.status(), 200);
    // Every probe, while the load keeps the pool's connections busy.
    for probe in 0..13 {
        assert_eq!(app.get("/readyz").await.status(), 503, "probe {probe}");
        assert_eq!(
            reqwest::get(format!("{}/readyz", b.base))
                .await
                .unwrap()
                .status(),
            503,
            "probe {probe} of the other instance"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let down = app
        .gql(None, "{ agencies(first: 5) { totalCount } }", json!({}))
        .await;
    down.assert_error("INTERNAL_SERVER_ERROR");
    assert_eq!(down.body["errors"][0]["message"], "internal server error");
    assert!(
        events_on_a.answers_ping(Duration::from_secs(5)).await,
        "the subscription stays open"
    );

    cluster.start();
    let back = Instant::now();
    loop {
        let ready = app.get("/readyz").await.status() == 200;
        let answers = app
            .gql(None, "{ agencies(first: 5) { totalCount } }", json!({}))
            .await
            .body["errors"]
            .is_null();
        if ready && answers {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(5),
            "working again within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for task in load {
        acknowledged.extend(task.await.unwrap());
    }

    // Another instance's write reaches our subscriber (NOTIFY, once the
    // listener has reconnected: events sent before that are lost, so B
    // tries again until 5 s after the restart) and our ranking (the
    // change log).
    let mut invited = Vec::new();
    let mut heard = false;
    for (handle, uuid) in &to_invite {
        let invitation = invite_via(&b.base, &agency, &global_id("Creator", *uuid)).await;
        invited.push(*handle);
        while let Some(event) = events_on_a.next_event(Duration::from_secs(1)).await {
            if event["invitation"]["id"] == invitation.as_str() {
                heard = true;
                break;
            }
        }
        if heard || back.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert!(heard, "within 5 s, B's events reach A's subscriber again");
    let off = gql_at(
        &b.base,
        &app.admin(),
        "mutation($c: ID!) { setDiscoverable(discoverable: false, creatorId: $c) { userErrors { code } } }",
        json!({"c": steady}),
    )
    .await;
    off.assert_ok();
    let ranked = app
        .gql(Some(&agency), RANK, json!({"agency": agency_id}))
        .await;
    let expected: Vec<&str> = ["later.a", "later.b", "later.c"]
        .into_iter()
        .filter(|h| !invited.contains(h))
        .collect();
    assert_eq!(
        handles(ranked.assert_ok()),
        expected,
        "B's switch-off (through the change log) and invitations are in A's ranking"
    );

    // Every acknowledged write is there.
    assert!(!acknowledged.is_empty(), "the load made progress");
    for handle in &acknowledged {
        let found = app
            .gql(
                Some(&app.admin()),
                "query($h: String!) { creator(handle: $h) { id } }",
                json!({"h": handle}),
            )
            .await;
        assert!(
            found.assert_ok()["creator"]["id"].is_string(),
            "acknowledged {handle} is in the database"
        );
    }
}

async fn invite_via(base: &str, agency: &str, creator_id: &str) -> String {
    let res = gql_at(
        base,
        agency,
        "mutation($c: ID!) { sendInvitation(input: { creatorId: $c }) { invitation { id } userErrors { code message } } }",
        json!({"c": creator_id}),
    )
    .await;
    res.assert_ok()["sendInvitation"]["invitation"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", res.body))
        .to_owned()
}

/// A server that takes no new sessions is not ready, though the pool's
/// sessions still answer: readiness asks on a session of its own.
#[tokio::test]
async fn readiness_needs_a_server_that_takes_new_sessions() {
    if !postgres_pass() {
        return;
    }
    let cluster = PrivateCluster::create();
    let app = spawn_app_at(cluster.url()).await;
    app.gql(None, "{ agencies(first: 1) { totalCount } }", json!({}))
        .await
        .assert_ok();
    assert_eq!(app.get("/readyz").await.status(), 200);
    cluster.stop_smart();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for probe in 0..5 {
        assert_eq!(app.get("/readyz").await.status(), 503, "probe {probe}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await.expect("the server stops");
}
