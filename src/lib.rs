//! Agency Center: the LIVE creator-discovery backend.
//!
//! Layout, outside in:
//! * [`http`]: routes, GraphiQL, health, the bearer token → [`domain::Viewer`].
//! * [`graphql`]: schema, thin resolvers, DataLoaders, error mapping.
//! * [`domain`]: the rules (validation, visibility, authorisation).
//! * `entity` and `migration` crates: the storage, via sea-orm.
//! * [`auth`]: JWT issue and verification; [`db`]: pools and migrations;
//!   [`seed`]: deterministic fake data; [`config`]: the CLI.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod seed;

use std::future::Future;
use std::net::SocketAddr;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::auth::TokenKeys;
use crate::config::LimitArgs;
use crate::db::StatementCounter;

/// What a server needs to start.
pub struct AppConfig {
    pub database_url: String,
    pub addr: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub limits: LimitArgs,
}

/// A migrated database and a bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub db: DatabaseConnection,
    pub statements: StatementCounter,
}

impl Application {
    /// Connects, migrates and binds (port 0 picks a free port).
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        let (db, statements) = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        let state = http::AppState {
            schema: graphql::build_schema(db.clone(), &config.limits),
            db: db.clone(),
            keys: TokenKeys::new(&config.jwt_secret),
        };
        let router = http::router(state, &config.limits);
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        Ok(Self {
            listener,
            router,
            db,
            statements,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
