//! The command line and its environment fallbacks: one place for every
//! setting (README's configuration table mirrors this file).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::events::EventTransport;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://agency-center.db?mode=rwc";

#[derive(Debug, Parser)]
#[command(
    name = "agency-center",
    version,
    about = "The LIVE Agency Center GraphQL server"
)]
pub struct Cli {
    /// Database URL: `sqlite://file.db?mode=rwc` (embedded) or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// Log lines as `text` (for people) or `json` (one object a line, for
    /// log collectors); each line of a request carries its request id.
    #[arg(long, env = "AGENCY_CENTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (migrates the database first).
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Fill the database with deterministic, realistic fake data.
    Seed(SeedArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print a signed bearer token for a creator, an agency or an admin.
    Token(TokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENCY_CENTER_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Demo mode: fixed development secret, demo data seeded into an empty
    /// database, ready-to-paste tokens printed.
    #[arg(long)]
    pub demo: bool,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub secret: SecretArgs,

    /// How long an invitation stays answerable (humantime: `7d`, `2s`;
    /// 1s to 365d).
    #[arg(long, env = "AGENCY_CENTER_INVITATION_TTL", default_value = "7d", value_parser = invitation_ttl)]
    pub invitation_ttl: chrono::TimeDelta,

    /// How often expired invitations are persisted and announced (10ms to 1d).
    #[arg(long, env = "AGENCY_CENTER_EXPIRY_SWEEP_INTERVAL", default_value = "30s", value_parser = sweep_interval)]
    pub expiry_sweep_interval: Duration,

    /// How events reach other instances: `notify` (PostgreSQL LISTEN/NOTIFY)
    /// or `change-log` (read back from the change log, for engines without
    /// NOTIFY).
    #[arg(long, env = "AGENCY_CENTER_EVENTS_VIA", value_enum, default_value_t = EventTransport::Notify)]
    pub events_via: EventTransport,

    /// With `--events-via change-log`: how often the log is read (10ms to 10s).
    #[arg(long, env = "AGENCY_CENTER_CHANGE_LOG_POLL_INTERVAL", default_value = "200ms", value_parser = poll_interval)]
    pub change_log_poll_interval: Duration,
}

fn poll_interval(raw: &str) -> Result<Duration, String> {
    bounded_duration(
        raw,
        Duration::from_millis(10)..=Duration::from_secs(10),
        "10ms and 10s",
    )
}

/// A humantime duration within `range`, else an error naming the bounds.
fn bounded_duration(
    raw: &str,
    range: std::ops::RangeInclusive<Duration>,
    bounds: &str,
) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if range.contains(&d) {
        Ok(d)
    } else {
        Err(format!("must be between {bounds}"))
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);

fn invitation_ttl(raw: &str) -> Result<chrono::TimeDelta, String> {
    let d = bounded_duration(raw, Duration::from_secs(1)..=365 * DAY, "1s and 365d")?;
    chrono::TimeDelta::from_std(d).map_err(|e| e.to_string())
}

fn sweep_interval(raw: &str) -> Result<Duration, String> {
    bounded_duration(raw, Duration::from_millis(10)..=DAY, "10ms and 1d")
}

#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// HS256 secret that signs and verifies tokens (required unless --demo).
    #[arg(
        long = "jwt-secret",
        env = "AGENCY_CENTER_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Deepest nesting of the API's own fields a query may have
    /// (introspection is not counted).
    #[arg(long, env = "AGENCY_CENTER_MAX_QUERY_DEPTH", default_value_t = 12)]
    pub max_query_depth: u32,

    /// Highest cost a query may have: every field 1, a connection
    /// multiplying what it selects by its `first`.
    #[arg(
        long,
        env = "AGENCY_CENTER_MAX_QUERY_COMPLEXITY",
        default_value_t = 5000
    )]
    pub max_query_complexity: u64,

    /// Turns introspection (`__schema`, `__type`) off.
    #[arg(long, env = "AGENCY_CENTER_NO_INTROSPECTION")]
    pub no_introspection: bool,

    /// Cost points in each caller's bucket (0: rate limiting off).
    #[arg(
        long,
        env = "AGENCY_CENTER_RATE_LIMIT_CAPACITY",
        default_value_t = 10_000
    )]
    pub rate_limit_capacity: u32,

    /// Cost points restored to each bucket per second.
    #[arg(long, env = "AGENCY_CENTER_RATE_LIMIT_RESTORE", default_value_t = 500)]
    pub rate_limit_restore: u32,

    /// Largest request body, in bytes.
    #[arg(long, env = "AGENCY_CENTER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest a request may take before it is answered 408 (humantime).
    #[arg(long, env = "AGENCY_CENTER_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// HTTP requests slower than this are logged at WARN with their
    /// operation and request id, and counted (humantime; 1ms to 1h).
    #[arg(long, env = "AGENCY_CENTER_SLOW_REQUEST_THRESHOLD", default_value = "1s", value_parser = slow_request_threshold)]
    pub slow_request_threshold: Duration,

    /// Memory for answers kept for repeated queries (keys and JSON text,
    /// in bytes; 0: every query runs). A kept answer is served only while
    /// nothing changed, on any instance, since it was read.
    #[arg(
        long,
        env = "AGENCY_CENTER_ANSWER_CACHE_BYTES",
        default_value_t = 64 * 1024 * 1024
    )]
    pub answer_cache_bytes: u64,

    /// Load balancers and proxies (CIDR, comma-separated) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client an
    /// anonymous caller's rate limit is keyed by; from any other peer
    /// those headers are ignored. Default: none trusted.
    #[arg(long, env = "AGENCY_CENTER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

fn slow_request_threshold(raw: &str) -> Result<Duration, String> {
    bounded_duration(
        raw,
        Duration::from_millis(1)..=Duration::from_secs(3600),
        "1ms and 1h",
    )
}

impl Default for LimitArgs {
    fn default() -> Self {
        Self {
            max_query_depth: 12,
            max_query_complexity: 5000,
            no_introspection: false,
            rate_limit_capacity: 10_000,
            rate_limit_restore: 500,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            slow_request_threshold: Duration::from_secs(1),
            answer_cache_bytes: 64 * 1024 * 1024,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Creators to generate.
    #[arg(long, default_value_t = 1000)]
    pub creators: u32,
    /// Agencies to generate.
    #[arg(long, default_value_t = 20)]
    pub agencies: u32,
    /// Random seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub subject: TokenSubject,

    /// How long the token is valid (humantime: `24h`, `7d`, `30m`).
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration, global = true)]
    pub ttl: Duration,

    /// Space-separated scopes (`read write ingest`); none: all the role allows.
    #[arg(long, global = true)]
    pub scope: Option<String>,

    /// Sign with the public demo secret (for a `serve --demo` server).
    #[arg(long, global = true)]
    pub demo: bool,

    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenSubject {
    /// A creator, by handle.
    Creator { handle: String },
    /// An agency, by slug.
    Agency { slug: String },
    /// An admin, by name (any name: admins are not stored).
    Admin { name: String },
}
