//! Database connection: pool settings per engine, migrations, and a
//! statement counter (tests use it to prove DataLoaders batch).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgSslMode;
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// Counts every SQL statement run through a connection.
#[derive(Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens a pool. SQLite runs in WAL mode with a busy timeout so readers do
/// not block the writer and concurrent writers queue instead of failing.
/// Longest wait for a pooled connection.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes of a SQLite database file mapped into memory, at most (SQLite
/// caps it just under 2 GiB). Address space, not memory: the kernel's page
/// cache backs it.
const SQLITE_MMAP_SIZE: u64 = 1 << 31;
/// Connections a server keeps to PostgreSQL.
pub const POSTGRES_POOL_SIZE: u32 = 10;

/// The options every connection to `url` is made with.
fn options(url: &str) -> ConnectOptions {
    let asks_sslmode = url.to_ascii_lowercase().contains("sslmode=");
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        // While the database is down, a request waits this long for a
        // connection, then fails (INTERNAL_SERVER_ERROR), rather than hang
        // until the request timeout.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A ping on every checkout is a round trip per statement. Under
        // load connections are busy and skip it; one that sat idle longer
        // than any database restart takes is tested first, so a restart
        // does not hand requests dead connections.
        .test_before_acquire_if_idle_for(Duration::from_millis(100))
        .map_sqlx_postgres_opts(move |o| {
            // TLS to a server on this machine protects nothing and costs
            // every round trip its encryption (6 % of the CPU of a nested
            // read here); an explicit sslmode is kept.
            if !asks_sslmode && is_local(o.get_host()) {
                o.ssl_mode(PgSslMode::Disable)
            } else {
                o
            }
        })
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true)
                // Pages read from the mapped file rather than copied in by
                // a read(2) each: a page of 200 invitations' creators
                // touches 200 random pages of the creators table.
                .pragma("mmap_size", SQLITE_MMAP_SIZE.to_string())
        });
    opts
}

pub async fn connect(url: &str) -> anyhow::Result<(DatabaseConnection, StatementCounter)> {
    let mut opts = options(url);
    if url.starts_with("sqlite") {
        opts.max_connections(8);
    } else {
        // More connections than the database has cores to run them only
        // queue inside PostgreSQL and switch between its backends: on 2
        // cores, 10 served 17 % more point reads and 10 % more nested
        // reads than 32 at c = 32 (bench/ab-reads.sh), with lower p99.
        opts.max_connections(POSTGRES_POOL_SIZE);
    }
    let mut db = Database::connect(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    let counter = StatementCounter::default();
    let count = counter.0.clone();
    db.set_metric_callback(move |_| {
        count.fetch_add(1, Ordering::Relaxed);
    });
    Ok((db, counter))
}

/// A round trip to a database server on a connection of its own, made
/// now: what a readiness probe must know is whether the server takes
/// work at this moment, not how a pooled connection last fared (a
/// session that outlived a restart, a pool between checks).
pub async fn probe(url: &str, within: Duration) -> Result<(), DbErr> {
    let mut opts = options(url);
    opts.max_connections(1)
        .min_connections(0)
        .connect_timeout(within)
        .acquire_timeout(within);
    let db = Database::connect(opts).await?;
    let answered = db.execute_unprepared("SELECT 1").await.map(|_| ());
    let _ = db.close().await;
    answered
}

/// A loopback address or a Unix socket directory.
fn is_local(host: &str) -> bool {
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))
}

/// The pool's connections: (open, idle).
pub fn pool_usage(db: &DatabaseConnection) -> (u32, usize) {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_local;

    #[test]
    fn only_this_machine_counts_as_local() {
        for local in [
            "127.0.0.1",
            "127.3.2.1",
            "localhost",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(is_local(local), "{local}");
        }
        for remote in ["10.0.0.5", "db.internal", "2001:db8::1", ""] {
            assert!(!is_local(remote), "{remote}");
        }
    }
}
