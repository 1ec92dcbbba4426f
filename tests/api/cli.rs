//! The command line, run as a user would: `schema`, `migrate`, `seed`,
//! `token`, and `serve` refusing to start without a secret.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use agency_center::auth::TokenKeys;
use agency_center::domain::Principal;
use entity::creator;
use sea_orm::{EntityTrait, PaginatorTrait};

const BIN: &str = env!("CARGO_BIN_EXE_agency-center");
const SECRET: &str = "cli-test-secret-0123456789";

fn run(args: &[&str], url: &str) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--database-url", url])
        .env_remove("AGENCY_CENTER_JWT_SECRET")
        .env("RUST_LOG", "error")
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.path().join(name).display())
}

#[test]
fn schema_prints_the_exported_sdl() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["schema"], &sqlite_url(&dir, "unused.db"));
    assert!(out.status.success());
    assert_eq!(stdout(&out), agency_center::graphql::sdl());
}

async fn handles(url: &str) -> BTreeSet<String> {
    let db = sea_orm::Database::connect(url).await.unwrap();
    creator::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.handle)
        .collect()
}

#[tokio::test]
async fn seed_is_deterministic_and_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (sqlite_url(&dir, "a.db"), sqlite_url(&dir, "b.db"));
    assert!(run(&["migrate"], &a).status.success());
    for url in [&a, &b] {
        let out = run(
            &[
                "seed",
                "--creators",
                "1500",
                "--agencies",
                "7",
                "--seed",
                "3",
            ],
            url,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout(&out).contains("seeded 1500 creators, 7 agencies"),
            "{}",
            stdout(&out)
        );
    }
    assert_eq!(
        handles(&a).await,
        handles(&b).await,
        "same seed, same creators"
    );
    // Seeding again adds rows without colliding with the first batch.
    assert!(
        run(
            &[
                "seed",
                "--creators",
                "100",
                "--agencies",
                "2",
                "--seed",
                "3"
            ],
            &a
        )
        .status
        .success()
    );
    let db = sea_orm::Database::connect(&a).await.unwrap();
    assert_eq!(creator::Entity::find().count(&db).await.unwrap(), 1600);
}

#[tokio::test]
async fn token_signs_for_stored_principals_only() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "t.db");
    assert!(
        run(&["seed", "--creators", "10", "--agencies", "2"], &url)
            .status
            .success()
    );
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let agency = entity::agency::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();

    let out = Command::new(BIN)
        .args([
            "token",
            "agency",
            &agency.slug.to_uppercase(),
            "--ttl",
            "1h",
            "--scope",
            "read",
            "--database-url",
            &url,
        ])
        .env("AGENCY_CENTER_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let viewer = TokenKeys::new(SECRET.as_bytes())
        .verify(stdout(&out).trim())
        .expect("a valid token");
    assert_eq!(viewer.principal, Principal::Agency(agency.id));
    assert!(viewer.scopes.is_some_and(|s| s.read && !s.write));

    let missing_secret = run(&["token", "admin", "ops"], &url);
    assert!(!missing_secret.status.success());
    assert!(String::from_utf8_lossy(&missing_secret.stderr).contains("AGENCY_CENTER_JWT_SECRET"));
    let unknown = Command::new(BIN)
        .args(["token", "creator", "no.such.handle", "--database-url", &url])
        .env("AGENCY_CENTER_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no creator with handle"));
}

#[test]
fn serve_refuses_to_start_without_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["serve", "--addr", "127.0.0.1:0"],
        &sqlite_url(&dir, "s.db"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AGENCY_CENTER_JWT_SECRET"));
}

#[test]
fn serve_refuses_an_answer_memory_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "m.db");
    for value in ["lots", "-1", "64MiB"] {
        let flag = format!("--answer-cache-bytes={value}");
        let out = run(&["serve", "--demo", "--addr", "127.0.0.1:0", &flag], &url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains("--answer-cache-bytes"), "{value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn serve_refuses_durations_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "d.db");
    for (flag, value, bounds) in [
        ("--expiry-sweep-interval", "0s", "10ms and 1d"),
        ("--invitation-ttl", "1000000years", "1s and 365d"),
        ("--invitation-ttl", "0s", "1s and 365d"),
    ] {
        let out = run(
            &["serve", "--demo", "--addr", "127.0.0.1:0", flag, value],
            &url,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(bounds),
            "{flag} {value}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `seed` against a database a server is using: the server answers with
/// the seeded rows at once (its kept answers and index follow the log).
#[tokio::test]
async fn a_running_server_sees_seeded_rows_at_once() {
    let app = crate::helpers::spawn_app().await;
    let admin = app.admin();
    let count = async || {
        app.ok(
            &admin,
            "{ agencies(first: 1) { totalCount } }",
            serde_json::json!({}),
        )
        .await["agencies"]["totalCount"]
            .as_u64()
            .unwrap()
    };
    app.create_agency("before-seed", &["FR"], 5).await;
    assert_eq!(count().await, 1);
    assert_eq!(count().await, 1, "kept");
    let out = run(
        &["seed", "--creators", "50", "--agencies", "3", "--seed", "9"],
        &app.database_url,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count().await, 4);
    // And the index holds exactly what a fresh load of the database does.
    let rankable = app.domain.index.read().footprint().creators;
    let (fresh, _) = agency_center::domain::index::RankingIndex::load(&app.db)
        .await
        .unwrap();
    let expected = fresh.read().footprint().creators;
    assert!(expected > 0);
    assert_eq!(rankable, expected);
}
