//! What an operator watches: the Prometheus metrics one server instance
//! keeps, and their text exposition at `/metrics`.
//!
//! Each [`Metrics`] owns its registry (no global recorder), so several
//! servers in one process (the tests) count apart. Figures that already
//! live elsewhere (the index size, the database pool, how long ago the
//! index last read the change log) are read when scraped, not mirrored.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Distinct operation names given their own label; later ones count as
/// [`OTHER_OPERATIONS`] (clients choose names, and every label value is a
/// series Prometheus keeps forever).
pub const MAX_OPERATION_LABELS: usize = 200;
pub const OTHER_OPERATIONS: &str = "other";

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub operation: String,
    /// `ok`, or the first error's code.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: String,
}

/// What became of a query that could be answered from memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Served from the kept answers.
    Kept,
    /// Run, and kept.
    Read,
    /// Run, not kept (errors, or it depends on the very moment).
    NotKept,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AnswerLabel {
    /// `kept`, `read` or `not_kept`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// `in_use` or `idle`.
    pub state: &'static str,
}

/// What is read at scrape time, from where it lives.
pub struct Snapshot {
    pub index_creators: usize,
    pub index_bytes: usize,
    pub pool_size: u32,
    pub pool_idle: usize,
    /// Since the index last applied the change log whole (None: never).
    pub index_sync_age: Option<Duration>,
    /// Change-log rows the catch-ups have read, ever.
    pub change_log_rows_read: u64,
    pub kept_answer_bytes: u64,
    pub kept_document_bytes: u64,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<OperationLabel, Histogram>,
    operations: Mutex<HashSet<String>>,
    pub ranking_seconds: Histogram,
    pub ranking_candidates: Histogram,
    pub ranking_scanned: Counter,
    pub rate_limited: Counter,
    pub websockets_open: Gauge,
    pub subscriptions_active: Gauge,
    pub slow_requests: Counter,
    index_creators: Gauge,
    index_bytes: Gauge,
    pool: Family<PoolLabel, Gauge>,
    index_sync_age: Gauge<f64, AtomicU64>,
    change_log_rows_read: Counter,
    answers: Family<AnswerLabel, Counter>,
    kept_answer_bytes: Gauge,
    kept_document_bytes: Gauge,
}

/// 1 ms to about 16 s, doubling.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agency_center");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "graphql_requests",
            "GraphQL operations answered (HTTP and websocket), by operation name and outcome",
            requests.clone(),
        );
        let request_seconds =
            Family::<OperationLabel, Histogram>::new_with_constructor(latency_buckets as fn() -> _);
        registry.register(
            "graphql_request_duration_seconds",
            "Time to answer a GraphQL operation, by operation name",
            request_seconds.clone(),
        );
        let ranking_seconds = latency_buckets();
        registry.register(
            "ranking_duration_seconds",
            "Time to rank one recommendedCreators page, reads of the database included",
            ranking_seconds.clone(),
        );
        let ranking_candidates = Histogram::new(exponential_buckets(1.0, 4.0, 12));
        registry.register(
            "ranking_candidates",
            "Creators that passed every filter of a ranking query",
            ranking_candidates.clone(),
        );
        let ranking_scanned = Counter::default();
        registry.register(
            "ranking_scanned_creators",
            "Index entries ranking scans have read",
            ranking_scanned.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limit_rejections",
            "Operations refused with RATE_LIMITED",
            rate_limited.clone(),
        );
        let websockets_open = Gauge::default();
        registry.register(
            "websockets_open",
            "Open graphql-transport-ws connections",
            websockets_open.clone(),
        );
        let subscriptions_active = Gauge::default();
        registry.register(
            "subscriptions_active",
            "Running subscriptions",
            subscriptions_active.clone(),
        );
        let slow_requests = Counter::default();
        registry.register(
            "slow_requests",
            "HTTP requests slower than --slow-request-threshold",
            slow_requests.clone(),
        );
        let index_creators = Gauge::default();
        registry.register(
            "ranking_index_creators",
            "Creators in this instance's ranking index",
            index_creators.clone(),
        );
        let index_bytes = Gauge::default();
        registry.register(
            "ranking_index_bytes",
            "Memory the ranking index holds",
            index_bytes.clone(),
        );
        let pool = Family::<PoolLabel, Gauge>::default();
        registry.register(
            "database_connections",
            "Database pool connections, in use and idle",
            pool.clone(),
        );
        let index_sync_age = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "change_log_lag_seconds",
            "Since the ranking index last applied the change log (what other instances committed); -1 before the first time",
            index_sync_age.clone(),
        );
        let answers = Family::<AnswerLabel, Counter>::default();
        registry.register(
            "answers",
            "Queries by HTTP that could be answered from memory: kept (served from memory), read (run and kept), not_kept",
            answers.clone(),
        );
        let kept_answer_bytes = Gauge::default();
        registry.register(
            "kept_answer_bytes",
            "Memory the kept answers hold",
            kept_answer_bytes.clone(),
        );
        let change_log_rows_read = Counter::default();
        registry.register(
            "change_log_rows_read",
            "Change-log rows read by the catch-ups (each should be read about once)",
            change_log_rows_read.clone(),
        );
        let kept_document_bytes = Gauge::default();
        registry.register(
            "kept_document_bytes",
            "Memory the kept (parsed and persisted) documents hold, estimated",
            kept_document_bytes.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            operations: Mutex::new(HashSet::new()),
            ranking_seconds,
            ranking_candidates,
            ranking_scanned,
            rate_limited,
            websockets_open,
            subscriptions_active,
            slow_requests,
            index_creators,
            index_bytes,
            pool,
            index_sync_age,
            change_log_rows_read,
            answers,
            kept_answer_bytes,
            kept_document_bytes,
        }
    }

    pub fn count_answer(&self, outcome: AnswerOutcome) {
        let outcome = match outcome {
            AnswerOutcome::Kept => "kept",
            AnswerOutcome::Read => "read",
            AnswerOutcome::NotKept => "not_kept",
        };
        self.answers.get_or_create(&AnswerLabel { outcome }).inc();
    }

    /// Counts one answered operation.
    pub fn observe_request(&self, operation: &str, outcome: &str, elapsed: Duration) {
        let operation = self.operation_label(operation);
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&OperationLabel { operation })
            .observe(elapsed.as_secs_f64());
    }

    fn operation_label(&self, operation: &str) -> String {
        let mut seen = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(operation) {
            return operation.to_owned();
        }
        if seen.len() < MAX_OPERATION_LABELS {
            seen.insert(operation.to_owned());
            return operation.to_owned();
        }
        OTHER_OPERATIONS.to_owned()
    }

    /// The OpenMetrics text of every metric, with `now`'s readings.
    pub fn render(&self, now: Snapshot) -> String {
        let gauge = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        self.index_creators.set(gauge(now.index_creators));
        self.index_bytes.set(gauge(now.index_bytes));
        let idle = now.pool_idle.min(now.pool_size as usize);
        self.pool
            .get_or_create(&PoolLabel { state: "in_use" })
            .set(i64::from(now.pool_size) - gauge(idle));
        self.pool
            .get_or_create(&PoolLabel { state: "idle" })
            .set(gauge(idle));
        self.index_sync_age
            .set(now.index_sync_age.map_or(-1.0, |d| d.as_secs_f64()));
        let read = self.change_log_rows_read.get();
        self.change_log_rows_read
            .inc_by(now.change_log_rows_read.saturating_sub(read));
        self.kept_answer_bytes
            .set(i64::try_from(now.kept_answer_bytes).unwrap_or(i64::MAX));
        self.kept_document_bytes
            .set(i64::try_from(now.kept_document_bytes).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Holds a gauge up by one while alive (an open socket, a subscription).
pub struct GaugeGuard(Gauge);

impl GaugeGuard {
    pub fn hold(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            index_creators: 3,
            index_bytes: 192,
            pool_size: 4,
            pool_idle: 1,
            index_sync_age: None,
            change_log_rows_read: 0,
            kept_answer_bytes: 0,
            kept_document_bytes: 0,
        }
    }

    #[test]
    fn operation_labels_are_bounded() {
        let m = Metrics::new();
        for i in 0..MAX_OPERATION_LABELS + 5 {
            m.observe_request(&format!("Op{i}"), "ok", Duration::from_millis(2));
        }
        let text = m.render(snapshot());
        assert!(
            text.contains(
                r#"agency_center_graphql_requests_total{operation="Op0",outcome="ok"} 1"#
            )
        );
        assert!(
            text.contains(
                r#"agency_center_graphql_requests_total{operation="other",outcome="ok"} 5"#
            )
        );
        assert!(!text.contains(&format!("Op{MAX_OPERATION_LABELS}\"")));
    }

    #[test]
    fn scrape_time_readings_are_rendered() {
        let text = Metrics::new().render(snapshot());
        assert!(text.contains("agency_center_ranking_index_creators 3\n"));
        assert!(text.contains(r#"agency_center_database_connections{state="in_use"} 3"#));
        assert!(text.contains(r#"agency_center_database_connections{state="idle"} 1"#));
        assert!(text.contains("agency_center_change_log_lag_seconds -1"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_guard_holds_its_gauge_while_alive() {
        let m = Metrics::new();
        let a = GaugeGuard::hold(&m.websockets_open);
        let b = GaugeGuard::hold(&m.websockets_open);
        assert_eq!(m.websockets_open.get(), 2);
        drop(a);
        drop(b);
        assert_eq!(m.websockets_open.get(), 0);
    }
}
