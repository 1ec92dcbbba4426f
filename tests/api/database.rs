//! How the server connects to its database.

use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::spawn_app;

/// The one value a statement answers, in a column named `v`.
async fn scalar<T: sea_orm::TryGetable>(db: &sea_orm::DatabaseConnection, sql: &str) -> T {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<T>("", "v")
        .unwrap()
}

async fn uses_tls(db: &sea_orm::DatabaseConnection) -> bool {
    scalar(
        db,
        "SELECT ssl AS v FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await
}

/// TLS to a server on this machine protects nothing and costs every round
/// trip: without an sslmode in the URL it is off for loopback addresses,
/// and an sslmode that asks for it is kept.
#[tokio::test]
async fn a_local_postgresql_is_reached_without_tls_unless_the_url_asks() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    assert!(!uses_tls(&app.db).await, "{}", app.database_url);
    let server_ssl: String = scalar(&app.db, "SELECT current_setting('ssl') AS v").await;
    if server_ssl == "on" {
        let separator = if app.database_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{separator}sslmode=require", app.database_url);
        let (db, _) = agency_center::db::connect(&url).await.unwrap();
        assert!(uses_tls(&db).await, "sslmode=require is kept");
    }
}

/// The bundled SQLite is built with the query planner stability guarantee
/// (`.cargo/config.toml`): cached statements are not planned again on
/// every run because a bound LIMIT changed.
#[tokio::test]
async fn sqlite_keeps_its_plans_across_bindings() {
    let app = spawn_app().await;
    if app.database_url.starts_with("postgres") {
        return;
    }
    let found: i64 = scalar(
        &app.db,
        "SELECT count(*) AS v FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'",
    )
    .await;
    assert_eq!(found, 1, "SQLite built without SQLITE_ENABLE_QPSG");
}

/// Connections share no lock in the bundled SQLite (`.cargo/config.toml`):
/// no memory statistics behind a global mutex, and a page cache per
/// connection instead of one behind a mutex for all.
#[tokio::test]
async fn sqlite_connections_share_no_global_lock() {
    let app = spawn_app().await;
    if app.database_url.starts_with("postgres") {
        return;
    }
    let option = |name: &'static str| {
        let db = app.db.clone();
        async move {
            let sql = format!(
                "SELECT count(*) AS v FROM pragma_compile_options WHERE compile_options = '{name}'"
            );
            scalar::<i64>(&db, &sql).await
        }
    };
    assert_eq!(
        option("DEFAULT_MEMSTATUS=0").await,
        1,
        "memory statistics on"
    );
    assert_eq!(
        option("ENABLE_MEMORY_MANAGEMENT").await,
        0,
        "one page cache shared by every connection"
    );
}

/// PostgreSQL: creators' pages keep room for their stats updates to stay
/// heap-only (no index entries written).
#[tokio::test]
async fn creators_pages_keep_room_for_stats_updates() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let options: String = scalar(
        &app.db,
        "SELECT array_to_string(reloptions, ',') AS v FROM pg_class WHERE relname = 'creators'",
    )
    .await;
    assert_eq!(options, "fillfactor=80");
}
