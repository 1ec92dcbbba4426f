//! Invitation events fan-out.
//!
//! In one process: a bounded `tokio::sync::broadcast` channel, so a slow
//! subscriber lags (and skips) instead of blocking publishers or growing
//! memory. Across instances on PostgreSQL: each event is also sent with
//! `pg_notify` inside the transaction that made the change (delivered only
//! if it commits), and every instance LISTENs and re-broadcasts events that
//! other instances published. Engines without LISTEN/NOTIFY use the change
//! log instead ([`EventTransport::ChangeLog`]): each event is written into
//! its change-log row, and instances relay the rows they read while
//! keeping their ranking index fresh.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::invitation;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

const CHANNEL: &str = "agency_center_invitation_events";
/// Events a subscriber may fall behind by before it skips ahead.
const BUFFER: usize = 1024;
/// While the database is down, each reconnection attempt of the listener
/// gives up after this long, and the next starts this much later.
const LISTENER_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
const LISTENER_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    Created,
    Accepted,
    Declined,
    Withdrawn,
    Expired,
    Cancelled,
}

/// A state change of one invitation, with the invitation as it became.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationEvent {
    pub kind: EventKind,
    pub invitation: invitation::Model,
    pub at: DateTime<Utc>,
}

impl InvitationEvent {
    pub fn new(kind: EventKind, invitation: invitation::Model, at: DateTime<Utc>) -> Self {
        Self {
            kind,
            invitation,
            at,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    instance: Uuid,
    event: InvitationEvent,
}

/// How events reach the other instances on the same database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EventTransport {
    /// PostgreSQL's LISTEN/NOTIFY: the fast path (SQLite: no other
    /// instances, nothing sent).
    #[default]
    Notify,
    /// Read back from the change log every instance polls: for engines
    /// without LISTEN/NOTIFY (CockroachDB, YugabyteDB), or any engine.
    ChangeLog,
}

#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<InvitationEvent>>,
    instance: Uuid,
    transport: EventTransport,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(EventTransport::default())
    }
}

impl EventBus {
    pub fn new(transport: EventTransport) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        Self {
            sender,
            instance: Uuid::now_v7(),
            transport,
        }
    }

    /// The event as it travels between instances (NOTIFY payload and
    /// change-log column alike): tagged with this instance, so its own
    /// events are not delivered twice.
    pub fn encode(&self, event: &InvitationEvent) -> String {
        serde_json::to_string(&Envelope {
            instance: self.instance,
            event: event.clone(),
        })
        .expect("ids, strings and times always encode")
    }

    /// Delivers, in change-log mode, the events other instances wrote into
    /// the log rows the index just applied.
    pub fn relay_logged(&self, payloads: Vec<String>) {
        if self.transport != EventTransport::ChangeLog {
            return;
        }
        for payload in payloads {
            self.relay_payload(&payload);
        }
    }

    fn relay_payload(&self, payload: &str) {
        match serde_json::from_str::<Envelope>(payload) {
            Ok(envelope) if envelope.instance != self.instance => {
                let _ = self.sender.send(Arc::new(envelope.event));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "undecodable event"),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<InvitationEvent>> {
        self.sender.subscribe()
    }

    /// Queues encoded events for other instances inside the caller's
    /// transaction (PostgreSQL in notify mode only; SQLite is a
    /// single-instance engine).
    pub async fn notify_in(
        &self,
        conn: &impl ConnectionTrait,
        payloads: &[&str],
    ) -> Result<(), DbErr> {
        if conn.get_database_backend() != DatabaseBackend::Postgres
            || self.transport != EventTransport::Notify
        {
            return Ok(());
        }
        for payload in payloads {
            conn.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), (*payload).into()],
            ))
            .await?;
        }
        Ok(())
    }

    /// Delivers to this instance's subscribers (after the commit).
    pub fn deliver(&self, events: Vec<InvitationEvent>) {
        for event in events {
            // No subscriber is not an error.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// Re-broadcasts events other instances commit. Returns once LISTEN is
    /// in place, so an instance that reports ready misses nothing published
    /// after; then relays until the process ends, reconnecting after a lost
    /// connection within about a second of the database answering again
    /// (events published meanwhile are lost to this instance).
    pub async fn listen_postgres(
        &self,
        database_url: &str,
    ) -> Result<tokio::task::JoinHandle<()>, sea_orm::sqlx::Error> {
        let pool = sea_orm::sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(LISTENER_CONNECT_TIMEOUT)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy(database_url)?;
        let first = Self::listener(&pool).await?;
        let bus = self.clone();
        Ok(tokio::spawn(async move {
            let mut listener = Some(first);
            let mut failing = false;
            loop {
                let current = match listener.take() {
                    Some(l) => Ok(l),
                    None => Self::listener(&pool).await,
                };
                let result = match current {
                    Ok(l) => {
                        if std::mem::take(&mut failing) {
                            tracing::info!("event listener reconnected");
                        }
                        bus.relay(l).await
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = result
                    && !std::mem::replace(&mut failing, true)
                {
                    tracing::warn!(error = %e, "event listener lost its connection; reconnecting");
                }
                tokio::time::sleep(LISTENER_RETRY).await;
            }
        }))
    }

    async fn listener(pool: &sea_orm::sqlx::PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    async fn relay(&self, mut listener: PgListener) -> Result<(), sea_orm::sqlx::Error> {
        loop {
            let notification = listener.recv().await?;
            self.relay_payload(notification.payload());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::RecvError;

    fn event(n: usize) -> InvitationEvent {
        let now = Utc::now();
        InvitationEvent::new(
            EventKind::Created,
            invitation::Model {
                id: Uuid::now_v7(),
                agency_id: Uuid::nil(),
                creator_id: Uuid::nil(),
                status: invitation::Status::Pending,
                message: Some(n.to_string()),
                idempotency_key: None,
                created_at: now,
                expires_at: now,
                responded_at: None,
            },
            now,
        )
    }

    #[tokio::test]
    async fn a_slow_subscriber_skips_ahead_without_holding_back_others() {
        let bus = EventBus::default();
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        let total = BUFFER * 3;
        for n in 0..total {
            bus.deliver(vec![event(n)]);
            let got = fast.recv().await.expect("the fast subscriber keeps up");
            assert_eq!(
                got.invitation.message.as_deref(),
                Some(n.to_string().as_str())
            );
        }
        // The slow one lost what fell out of the bounded buffer, then resumes
        // with the newest events: memory stays bounded by BUFFER.
        match slow.recv().await {
            Err(RecvError::Lagged(skipped)) => assert_eq!(skipped, (total - BUFFER) as u64),
            other => panic!("expected a lag, got {other:?}"),
        }
        let mut rest = 0;
        while slow.try_recv().is_ok() {
            rest += 1;
        }
        assert_eq!(rest, BUFFER);
    }

    #[test]
    fn events_survive_the_notify_round_trip() {
        let original = event(7);
        let payload = serde_json::to_string(&Envelope {
            instance: Uuid::nil(),
            event: original.clone(),
        })
        .unwrap();
        assert!(
            payload.len() < 8000,
            "NOTIFY payloads must stay under 8000 bytes"
        );
        let back: Envelope = serde_json::from_str(&payload).unwrap();
        assert_eq!(back.event.invitation, original.invitation);
        assert_eq!(back.event.kind, original.kind);
    }

    #[test]
    fn logged_events_of_other_instances_are_relayed_in_change_log_mode_only() {
        let writer = EventBus::new(EventTransport::ChangeLog);
        let reader = EventBus::new(EventTransport::ChangeLog);
        let notified = EventBus::new(EventTransport::Notify);
        let payload = writer.encode(&event(1));
        let (mut own, mut other, mut by_notify) =
            (writer.subscribe(), reader.subscribe(), notified.subscribe());
        for bus in [&writer, &reader, &notified] {
            bus.relay_logged(vec![payload.clone(), "not an event".into()]);
        }
        assert_eq!(
            other.try_recv().unwrap().invitation.message.as_deref(),
            Some("1")
        );
        assert!(other.try_recv().is_err(), "the undecodable row is skipped");
        assert!(
            own.try_recv().is_err(),
            "its own events were delivered at commit"
        );
        assert!(by_notify.try_recv().is_err(), "NOTIFY brings those");
    }
}
