//! Agency Center: the LIVE creator-discovery backend.
//!
//! `docs/architecture.md` in the repository draws the layers and says where
//! each rule lives; in short, outside in:
//! * [`http`]: routes, the explorer, health, the bearer token → [`domain::Viewer`].
//! * [`graphql`]: the front every operation passes (limits, kept answers),
//!   thin resolvers, DataLoaders.
//! * [`domain`]: the rules, the one write path, the ranking index kept fresh.
//! * [`ranking`]: the index and the scoring model; pure, no I/O.
//! * [`events`]: invitation events, in process and across instances.

pub mod auth;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod ranking;
pub mod rate_limit;
pub mod seed;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::auth::TokenKeys;
use crate::config::LimitArgs;
use crate::db::StatementCounter;
use crate::domain::index::{LoadReport, LogOrder, RankingIndex};
use crate::domain::invitations::InvitationService;
use crate::domain::{Domain, Settings};
use crate::events::{EventBus, EventTransport};

/// What a server needs to start.
pub struct AppConfig {
    pub database_url: String,
    pub addr: SocketAddr,
    pub jwt_secret: Vec<u8>,
    pub limits: LimitArgs,
    pub settings: Settings,
    /// How often PENDING invitations past their expiry are persisted as
    /// EXPIRED (and their events sent).
    pub expiry_sweep_interval: Duration,
    /// How events reach other instances.
    pub events: EventTransport,
    /// In change-log mode, how often the log is read for other instances'
    /// events and changes.
    pub change_log_poll_interval: Duration,
    /// A `serve --demo` server: the explorer offers the demo accounts.
    pub demo: bool,
}

/// A migrated database and a bound listener, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pub db: DatabaseConnection,
    pub statements: StatementCounter,
    pub domain: Domain,
    /// What loading the ranking index took (printed at start).
    pub index_report: LoadReport,
    /// On a `serve --demo` server, the demo accounts and their tokens.
    pub demo: Option<demo::DemoAccounts>,
    expiry_sweep_interval: Duration,
    /// How often other instances' changes (and, in change-log mode, their
    /// events) are applied unprompted.
    sync_interval: Duration,
    /// Relays other instances' events (PostgreSQL), listening before the
    /// server reports ready.
    event_relay: Option<tokio::task::JoinHandle<()>>,
    /// Tells open websockets the server is stopping.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Closed once every websocket has ended.
    sockets_done: tokio::sync::mpsc::Receiver<()>,
}

/// How long a stopping server waits for its websockets to close.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_secs(5);

impl Application {
    /// Connects, migrates and binds (port 0 picks a free port).
    pub async fn build(config: AppConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.expiry_sweep_interval.is_zero(),
            "the expiry sweep interval must be more than zero"
        );
        let (db, statements) = db::connect(&config.database_url).await?;
        db::migrate(&db).await?;
        // Change-log mode is the portable one: no NOTIFY, and no
        // transaction ids to order the log by.
        let portable = config.events == EventTransport::ChangeLog;
        let order = LogOrder::detect(&db, portable).await?;
        tracing::info!(?order, "change log reader");
        let (index, index_report) = RankingIndex::load_with(&db, order).await?;
        let domain = Domain {
            db: db.clone(),
            settings: config.settings,
            events: EventBus::new(config.events),
            index,
            metrics: Default::default(),
        };
        let (stopping, stop_signal) = tokio::sync::watch::channel(false);
        let (socket_alive, sockets_done) = tokio::sync::mpsc::channel(1);
        let keys = TokenKeys::new(&config.jwt_secret);
        let demo = match config.demo {
            true => Some(demo::DemoAccounts::find(&domain, &keys).await?),
            false => None,
        };
        let state = http::AppState {
            api: graphql::build_api(domain.clone(), &config.limits),
            db: db.clone(),
            keys,
            sockets: http::Sockets {
                stopping: stop_signal,
                alive: socket_alive,
            },
            metrics: domain.metrics.clone(),
            index: domain.index.clone(),
            explorer: http::explorer::Explorer::new(demo.as_ref()),
            trusted_proxies: http::TrustedProxies::new(config.limits.trusted_proxies.clone()),
            probe_url: (!config.database_url.starts_with("sqlite"))
                .then(|| config.database_url.clone()),
        };
        let router = http::router(state, &config.limits);
        let event_relay = if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
            && config.events == EventTransport::Notify
        {
            Some(
                domain
                    .events
                    .listen_postgres(&config.database_url)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot LISTEN for events: {e}"))?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        Ok(Self {
            listener,
            router,
            db,
            statements,
            domain,
            index_report,
            demo,
            expiry_sweep_interval: config.expiry_sweep_interval,
            sync_interval: match config.events {
                EventTransport::Notify => crate::domain::index::SYNC_INTERVAL,
                EventTransport::ChangeLog => config.change_log_poll_interval,
            },
            event_relay,
            stopping,
            sockets_done,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests
    /// and closes websockets with a close frame (1001, going away).
    /// Also runs the expiry sweep and, on PostgreSQL, the listener that
    /// relays other instances' events.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = self.stopping;
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let mut background = vec![
            spawn_expiry_sweep(self.domain.clone(), self.expiry_sweep_interval),
            spawn_index_sync(self.domain.clone(), self.sync_interval),
        ];
        background.extend(self.event_relay);
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        // The router, and with it the state every socket cloned, is gone:
        // the channel closes when the last socket has sent its close frame.
        let _ = tokio::time::timeout(SOCKET_CLOSE_GRACE, self.sockets_done.recv()).await;
        for task in background {
            task.abort();
        }
        Ok(served?)
    }
}

fn spawn_expiry_sweep(domain: Domain, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // The first sweep waits a whole interval: reads derive an expiry
        // without it, and instances started together do not all write at
        // once.
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match InvitationService::new(&domain).sweep_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "invitations expired"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
        }
    })
}

/// Applies other instances' changes every `every` (and relays their
/// events in change-log mode), so an instance that ranks rarely stays
/// within the log's retention, and prunes the log.
fn spawn_index_sync(domain: Domain, every: Duration) -> tokio::task::JoinHandle<()> {
    use crate::domain::index::CHANGE_LOG_RETENTION;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Pruning once an hour is plenty for a 24 h retention.
        let prune_every = Duration::from_secs(3600);
        let mut pruned_at = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            if let Err(e) = domain.apply_change_log().await {
                tracing::warn!(error = %e, "applying the change log failed");
            }
            if pruned_at.elapsed() >= prune_every {
                pruned_at = tokio::time::Instant::now();
                match RankingIndex::prune_log(&domain.db, chrono::Utc::now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(pruned = n, ?CHANGE_LOG_RETENTION, "change log pruned"),
                    Err(e) => tracing::warn!(error = %e, "pruning the change log failed"),
                }
            }
        }
    })
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
