//! How the server connects to its database.

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::helpers::spawn_app;

async fn uses_tls(db: &sea_orm::DatabaseConnection) -> bool {
    db.query_one_raw(Statement::from_string(
        DatabaseBackend::Postgres,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ))
    .await
    .unwrap()
    .unwrap()
    .try_get::<bool>("", "ssl")
    .unwrap()
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
    let server_ssl = app
        .db
        .query_one_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SHOW ssl",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "ssl")
        .unwrap();
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
