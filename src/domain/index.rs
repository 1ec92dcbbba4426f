//! This instance's ranking index, kept a faithful cache of the database.
//!
//! Loaded at start; before every ranking query (and every kept answer, and
//! every few seconds in the background), brought up to date with what was
//! committed, by any instance this one included, read from the change log
//! by position. Applying a change means re-reading the creator's current
//! row, so applying one twice, or late, is harmless.
//!
//! Out-of-order commits: on PostgreSQL a sequence value taken by a
//! transaction that commits later can be smaller than one already read. So
//! the reader does not trust "position > last" there; how it reads instead
//! is its [`LogOrder`], chosen once at load: transaction ids where the
//! engine has them (PostgreSQL 13+), a time window where it does not
//! (CockroachDB, YugabyteDB, older PostgreSQL, or when asked to be
//! portable). SQLite serialises writers (BEGIN IMMEDIATE), so there
//! positions commit in order and "position > last" is exact.
//!
//! All catch-ups run under one async mutex, so one that read older
//! rows can never overwrite one that read newer rows; rankings only take
//! the index's read lock. Callers that ask for a catch-up while one is
//! under way share the next one: a read of the log begun after they asked
//! answers for all of them, so a burst of requests costs one statement.
//!
//! The index also counts the changes this instance has seen
//! ([`RankingIndex::changes_seen`]): the change-log reads that found a row
//! new to it, its own writes' rows included (each is found new exactly
//! once), and notes at which count each [`Scope`] last changed. What holds
//! a copy of a read, such as the API's kept answers, asks
//! [`RankingIndex::unchanged_since`] whether anything it read changed
//! after the count it was read at.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Months, NaiveDate, Utc};
use entity::{change_log, creator, membership, split_list};
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::Category;
use super::scopes::{ChangeClock, Scope, Touched, touched};
use super::writes::ChangeKind;
use crate::ranking::{CreatorRecord, Footprint, Index};

/// Creators re-read per statement (bound-parameter limits).
const REFRESH_BATCH: usize = 1000;
/// Creators read per statement while loading.
const LOAD_BATCH: u64 = 20_000;

/// How the change-log reader knows it has seen every committed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogOrder {
    /// Positions commit in order (SQLite): read past the last one applied.
    Serial,
    /// PostgreSQL 13+: read past the last position, and the rows of the
    /// transactions the previous read could not see: those its snapshot
    /// lists as running (`pg_snapshot_xip`), and every id from its `xmax`
    /// up (a transaction can hold an id at or past `xmax`, and a position
    /// below one already read, and not be listed: the load-and-fault run
    /// found one). Only they can commit a position below one already
    /// read. Exact, and each read costs the rows it has not applied,
    /// however long some transaction elsewhere stays open.
    TransactionIds,
    /// Any engine: read past the last position, and the gaps below it
    /// (positions not seen, taken by writes still running or rolled back)
    /// until [`COMMIT_WINDOW`] after each was noticed. Exact while a
    /// write commits within the window of taking its positions (the write
    /// path inserts its log rows just before COMMIT).
    TimeWindow,
}

/// How long after inserting its change-log rows a write may take to
/// commit for a [`LogOrder::TimeWindow`] reader to still see them.
pub const COMMIT_WINDOW: Duration = Duration::from_secs(10);

impl LogOrder {
    /// The exact order this database allows; `portable` asks for the one
    /// every engine allows (PostgreSQL-compatible engines without
    /// transaction ids).
    pub async fn detect(db: &DatabaseConnection, portable: bool) -> Result<Self, DbErr> {
        if db.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(Self::Serial);
        }
        if portable {
            return Ok(Self::TimeWindow);
        }
        // The migration adds the column only where the engine has
        // `pg_current_xact_id`.
        let txid = db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT count(*) AS n FROM information_schema.columns \
                 WHERE table_name = 'change_log' AND column_name = 'txid'",
            ))
            .await?
            .and_then(|r| r.try_get::<i64>("", "n").ok())
            .unwrap_or(0);
        Ok(if txid > 0 {
            Self::TransactionIds
        } else {
            Self::TimeWindow
        })
    }
}

/// Positions below the last one read that were not seen: a write still
/// running took them, or one rolled back. Noticed at `noticed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gap {
    first: i64,
    last: i64,
    noticed: DateTime<Utc>,
}

/// Gaps read by ranges in one statement; past this, by one range over
/// all of them (more rows read, the same ones applied).
const MAX_GAP_RANGES: usize = 64;

/// Where the reader stands in the change log.
#[derive(Debug, Default)]
struct LogCursor {
    /// The last position applied (every reader reads past it).
    last_position: i64,
    /// Transaction ids: the transactions running at the last read, whose
    /// rows may yet commit below `last_position`.
    in_doubt: Vec<u64>,
    /// Transaction ids: the last read's snapshot's `xmax`. Ids from it up
    /// were invisible to that read and are not in its `xip` (which lists
    /// running ids below `xmax` only), yet one of them may already have
    /// taken a position below `last_position`.
    unseen_from: Option<u64>,
    /// Time window: positions below `last_position` not seen yet.
    gaps: Vec<Gap>,
    /// The number of the catch-up this cursor came from (see
    /// [`Shared::catch_ups_begun`]).
    catch_up: u64,
}

/// One read of the change log: what to apply, and where the reader then stands.
struct LogRead {
    creators: Vec<Uuid>,
    /// What the rows touched, for what keeps copies of reads.
    touched: Vec<Touched>,
    events: Vec<String>,
    /// Some row was new to this instance.
    changed: bool,
    /// Rows the statement returned.
    read_rows: usize,
    next: LogCursor,
}

/// How long the change log keeps a row. Every instance reads the log at
/// least every [`SYNC_INTERVAL`]; one that could not for half of this
/// (a long database outage) reloads the whole index instead, since rows it
/// never read may be gone.
pub const CHANGE_LOG_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How often an instance applies other instances' changes unprompted
/// (rankings also do before they run).
pub const SYNC_INTERVAL: Duration = Duration::from_secs(5);

struct Shared {
    index: RwLock<Index>,
    order: LogOrder,
    log: tokio::sync::Mutex<LogCursor>,
    /// When the log was last applied whole, readable without waiting for
    /// a catch-up that holds `log`.
    synced_at: std::sync::Mutex<Option<Instant>>,
    /// Catch-ups begun so far, each numbered by this count as it begins.
    catch_ups_begun: AtomicU64,
    /// Change-log reads that found a row new to this instance.
    changes_seen: AtomicU64,
    /// When each scope last changed, in `changes_seen` counts.
    clock: ChangeClock,
    /// Change-log rows read, ever (what catch-ups cost).
    rows_read: AtomicU64,
}

/// What loading the index took.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    pub footprint: Footprint,
    pub elapsed: Duration,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "index: {}, loaded in {:.1?}",
            self.footprint, self.elapsed
        )
    }
}

/// A shared handle to the index; cheap to clone.
#[derive(Clone)]
pub struct RankingIndex(Arc<Shared>);

impl Default for RankingIndex {
    fn default() -> Self {
        Self::empty(LogOrder::Serial)
    }
}

/// The day a creator turns 18: the one rule for "adult" that both
/// eligibility and the index use.
pub fn adult_on(birth_date: NaiveDate) -> Option<NaiveDate> {
    birth_date.checked_add_months(Months::new(12 * super::eligibility::MINIMUM_AGE_YEARS))
}

/// The columns the index needs (reading whole rows costs a second per
/// 100k creators in timestamp parsing alone).
#[derive(FromQueryResult)]
struct RankableRow {
    id: Uuid,
    handle: String,
    display_name: String,
    region: String,
    languages: String,
    categories: String,
    birth_date: NaiveDate,
    discoverable_since: Option<chrono::DateTime<chrono::Utc>>,
    followers: i64,
    avg_viewers: f64,
    live_hours_30d: f64,
    live_days_30d: i32,
    diamonds_30d: i64,
    follower_growth_30d: f64,
    engagement_rate: f64,
}

fn record(c: RankableRow) -> CreatorRecord {
    CreatorRecord {
        id: c.id,
        region: c.region,
        languages: split_list(&c.languages),
        categories: Category::parse_stored(&c.categories),
        adult_on: adult_on(c.birth_date),
        // A discoverable creator always has the stamp; without one they
        // count as long opted in (no freshness boost).
        discoverable_since: c.discoverable_since.unwrap_or_default(),
        followers: c.followers,
        avg_viewers: c.avg_viewers,
        live_hours_30d: c.live_hours_30d,
        live_days_30d: c.live_days_30d,
        diamonds_30d: c.diamonds_30d,
        follower_growth_30d: c.follower_growth_30d,
        engagement_rate: c.engagement_rate,
        handle: c.handle,
        display_name: c.display_name,
    }
}

/// Creators who may be ranked: discoverable and in no agency.
fn rankable() -> sea_orm::Select<creator::Entity> {
    use creator::Column as C;
    creator::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::Handle,
            C::DisplayName,
            C::Region,
            C::Languages,
            C::Categories,
            C::BirthDate,
            C::DiscoverableSince,
            C::Followers,
            C::AvgViewers,
            C::LiveHours30d,
            C::LiveDays30d,
            C::Diamonds30d,
            C::FollowerGrowth30d,
            C::EngagementRate,
        ])
        .filter(creator::Column::Discoverable.eq(true))
        .filter(
            creator::Column::Id.not_in_subquery(
                Query::select()
                    .column(membership::Column::CreatorId)
                    .from(membership::Entity)
                    .to_owned(),
            ),
        )
}

/// A change-log row as the readers take it.
#[derive(FromQueryResult)]
struct LogRow {
    position: i64,
    kind: String,
    entity_id: Uuid,
    creator_id: Option<Uuid>,
    agency_id: Option<Uuid>,
    event: Option<String>,
}

impl LogRow {
    fn columns() -> [change_log::Column; 6] {
        use change_log::Column as C;
        [
            C::Position,
            C::Kind,
            C::EntityId,
            C::CreatorId,
            C::AgencyId,
            C::Event,
        ]
    }
}

/// A [`LogRow`] beside the snapshot it was read in (all `None` when no
/// row is new: the outer join still brings the snapshot).
#[derive(FromQueryResult)]
struct XidLogRow {
    position: Option<i64>,
    kind: Option<String>,
    entity_id: Option<Uuid>,
    creator_id: Option<Uuid>,
    agency_id: Option<Uuid>,
    event: Option<String>,
    snapshot: String,
}

/// What a read in `snapshot` (`pg_snapshot` text, `xmin:xmax:xip,…`)
/// could not see: the transactions it lists as running, and every id from
/// its `xmax` up (running ones there are not listed).
fn in_doubt_after(snapshot: &str) -> (Vec<u64>, Option<u64>) {
    let mut parts = snapshot.split(':');
    let xmax = parts.nth(1).and_then(|x| x.parse().ok());
    let running = parts
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    (running, xmax)
}

impl RankingIndex {
    fn empty(order: LogOrder) -> Self {
        Self(Arc::new(Shared {
            index: RwLock::new(Index::new()),
            order,
            log: tokio::sync::Mutex::new(LogCursor::default()),
            synced_at: std::sync::Mutex::new(None),
            catch_ups_begun: AtomicU64::new(0),
            changes_seen: AtomicU64::new(0),
            clock: ChangeClock::default(),
            rows_read: AtomicU64::new(0),
        }))
    }

    /// Loads every rankable creator, reading the change log in the exact
    /// order the database allows.
    pub async fn load(db: &DatabaseConnection) -> Result<(Self, LoadReport), DbErr> {
        Self::load_with(db, LogOrder::detect(db, false).await?).await
    }

    /// Loads every rankable creator. The log position is taken first, so
    /// whatever commits during the load is applied again afterwards.
    pub async fn load_with(
        db: &DatabaseConnection,
        order: LogOrder,
    ) -> Result<(Self, LoadReport), DbErr> {
        let started = Instant::now();
        let handle = Self::empty(order);
        {
            let mut cursor = handle.0.log.lock().await;
            handle.rebuild(&mut cursor, db).await?;
        }
        let footprint = handle.read().footprint();
        Ok((
            handle,
            LoadReport {
                footprint,
                elapsed: started.elapsed(),
            },
        ))
    }

    /// Replaces the index with a fresh read of the database.
    async fn rebuild(&self, cursor: &mut LogCursor, db: &DatabaseConnection) -> Result<(), DbErr> {
        let mut fresh_cursor = start_of_log(db, self.0.order).await?;
        fresh_cursor.catch_up = self.begin_catch_up();
        // In keyset batches: memory stays bounded by a batch of rows rather
        // than by the whole table.
        let mut index = Index::for_bulk_load();
        let mut last: Option<Uuid> = None;
        loop {
            let mut batch = rankable().order_by_asc(creator::Column::Id);
            if let Some(last) = last {
                batch = batch.filter(creator::Column::Id.gt(last));
            }
            let rows = batch
                .limit(LOAD_BATCH)
                .into_model::<RankableRow>()
                .all(db)
                .await?;
            let Some(tail) = rows.last() else { break };
            last = Some(tail.id);
            let full = rows.len() as u64 == LOAD_BATCH;
            for row in rows {
                index.upsert(record(row));
            }
            if !full {
                break;
            }
        }
        index.group_by_region();
        index.shrink_to_fit();
        *self.0.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        *cursor = fresh_cursor;
        self.saw_change(&[Touched::Everything]);
        self.mark_synced();
        Ok(())
    }

    fn begin_catch_up(&self) -> u64 {
        self.0.catch_ups_begun.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Counts one more change seen, which `touched`: the clock first, so
    /// whoever reads the new count finds the scopes already ticked.
    /// Callers hold the log mutex.
    fn saw_change(&self, touched: &[Touched]) {
        let at = self.changes_seen() + 1;
        for t in touched {
            self.0.clock.tick(t, at);
        }
        self.0.changes_seen.store(at, Ordering::SeqCst);
    }

    /// Whether a read of `scopes`, made once this instance had seen `seen`
    /// changes, would still read the same (as of the last catch-up).
    pub fn unchanged_since(&self, scopes: &[Scope], seen: u64) -> bool {
        self.0.clock.unchanged_since(scopes, seen)
    }

    /// How many changes this instance has seen so far. Two equal readings
    /// with a [`Self::catch_up`] between them (begun after the first)
    /// mean nothing committed anywhere in between.
    pub fn changes_seen(&self) -> u64 {
        self.0.changes_seen.load(Ordering::SeqCst)
    }

    /// Change-log rows this instance's catch-ups have read, ever.
    pub fn log_rows_read(&self) -> u64 {
        self.0.rows_read.load(Ordering::Relaxed)
    }

    /// Deletes change-log rows older than [`CHANGE_LOG_RETENTION`].
    pub async fn prune_log(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let cutoff = now - chrono::Duration::from_std(CHANGE_LOG_RETENTION).unwrap_or_default();
        Ok(change_log::Entity::delete_many()
            .filter(change_log::Column::CommittedAt.lt(cutoff))
            .exec(db)
            .await?
            .rows_affected)
    }

    fn mark_synced(&self) {
        *self.0.synced_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Since the index last applied the change log whole (`None`: never).
    pub fn sync_age(&self) -> Option<Duration> {
        self.0
            .synced_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|at| at.elapsed())
    }

    /// The index, for a ranking scan.
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        // A panic while writing leaves whole values behind: each field is
        // assigned at once, so the index is still usable.
        self.0.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-reads these creators and puts the index in line with their rows.
    async fn reload(&self, db: &DatabaseConnection, creators: &[Uuid]) -> Result<(), DbErr> {
        let mut found = Vec::with_capacity(creators.len());
        for batch in creators.chunks(REFRESH_BATCH) {
            found.extend(
                rankable()
                    .filter(creator::Column::Id.is_in(batch.iter().copied()))
                    .into_model::<RankableRow>()
                    .all(db)
                    .await?,
            );
        }
        let rankable: std::collections::HashSet<Uuid> = found.iter().map(|c| c.id).collect();
        let mut index = self.0.index.write().unwrap_or_else(|e| e.into_inner());
        for id in creators.iter().filter(|id| !rankable.contains(id)) {
            index.remove(*id);
        }
        for c in found {
            index.upsert(record(c));
        }
        Ok(())
    }

    /// Applies what other instances committed before this call; returns
    /// the encoded events of the rows it applied (whoever wrote them).
    /// When a catch-up begun after this call has finished meanwhile, that
    /// one answered for it (and relayed its events): nothing more is read.
    pub async fn catch_up(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        let asked_after = self.0.catch_ups_begun.load(Ordering::SeqCst);
        let mut cursor = self.0.log.lock().await;
        if cursor.catch_up > asked_after {
            return Ok(Vec::new());
        }
        if self
            .sync_age()
            .is_some_and(|age| age > CHANGE_LOG_RETENTION / 2)
        {
            tracing::warn!("the change log was not read for too long: reloading the ranking index");
            self.rebuild(&mut cursor, db).await?;
            return Ok(Vec::new());
        }
        // The cursor moves only once the changes are applied: a failed
        // re-read leaves them to be read again next time.
        let number = self.begin_catch_up();
        let LogRead {
            mut creators,
            touched,
            events,
            changed,
            read_rows,
            mut next,
        } = match self.0.order {
            LogOrder::Serial => read_serial(db, &cursor).await?,
            LogOrder::TransactionIds => read_by_transaction_ids(db, &cursor).await?,
            LogOrder::TimeWindow => read_by_time_window(db, &cursor).await?,
        };
        self.0
            .rows_read
            .fetch_add(read_rows as u64, Ordering::Relaxed);
        creators.sort_unstable();
        creators.dedup();
        if !creators.is_empty() {
            self.reload(db, &creators).await?;
        }
        next.catch_up = number;
        *cursor = next;
        if changed {
            self.saw_change(&touched);
        }
        self.mark_synced();
        Ok(events)
    }
}

/// Where a reader that has seen nothing yet starts.
async fn start_of_log(db: &DatabaseConnection, order: LogOrder) -> Result<LogCursor, DbErr> {
    let mut cursor = LogCursor::default();
    match order {
        LogOrder::TransactionIds => {
            // The last position and the running transactions, as of one
            // snapshot.
            let row = db
                .query_one_raw(Statement::from_string(
                    DatabaseBackend::Postgres,
                    "SELECT (SELECT max(position) FROM change_log) AS last, \
                     pg_current_snapshot()::text AS snapshot",
                ))
                .await?;
            if let Some(row) = row {
                cursor.last_position = row.try_get::<Option<i64>>("", "last")?.unwrap_or(0);
                (cursor.in_doubt, cursor.unseen_from) =
                    in_doubt_after(&row.try_get::<String>("", "snapshot")?);
            }
        }
        LogOrder::TimeWindow => {
            // What was taken within the window and is not visible yet may
            // still commit: the holes among the recent positions.
            let now = Utc::now();
            let since = now - chrono::Duration::from_std(COMMIT_WINDOW).unwrap_or_default();
            let recent: Vec<i64> = change_log::Entity::find()
                .select_only()
                .column(change_log::Column::Position)
                .filter(change_log::Column::CommittedAt.gte(since))
                .order_by_asc(change_log::Column::Position)
                .into_tuple()
                .all(db)
                .await?;
            cursor.last_position = last_position(db).await?;
            if let Some(&first) = recent.first() {
                cursor.gaps = holes(first - 1, &recent, now);
            }
        }
        LogOrder::Serial => cursor.last_position = last_position(db).await?,
    }
    Ok(cursor)
}

/// The holes above `after` among `seen` (ascending), noticed `now`.
fn holes(after: i64, seen: &[i64], now: DateTime<Utc>) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut previous = after;
    for &position in seen {
        if position > previous + 1 {
            gaps.push(Gap {
                first: previous + 1,
                last: position - 1,
                noticed: now,
            });
        }
        previous = previous.max(position);
    }
    gaps
}

async fn last_position(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let last: Option<Option<i64>> = change_log::Entity::find()
        .select_only()
        .column_as(change_log::Column::Position.max(), "last")
        .into_tuple()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

impl LogRead {
    /// The rows read (all new to this reader), ascending.
    fn of(rows: Vec<LogRow>, read_rows: usize, next: LogCursor) -> Self {
        let mut read = LogRead {
            creators: Vec::with_capacity(rows.len()),
            touched: Vec::with_capacity(rows.len()),
            events: Vec::new(),
            changed: !rows.is_empty(),
            read_rows,
            next,
        };
        for row in rows {
            read.touched.push(touched(
                ChangeKind::parse(&row.kind),
                row.entity_id,
                row.creator_id,
                row.agency_id,
            ));
            read.creators.extend(row.creator_id);
            read.events.extend(row.event);
            read.next.last_position = read.next.last_position.max(row.position);
        }
        read
    }
}

async fn read_serial(db: &DatabaseConnection, cursor: &LogCursor) -> Result<LogRead, DbErr> {
    let rows: Vec<LogRow> = change_log::Entity::find()
        .select_only()
        .columns(LogRow::columns())
        .filter(change_log::Column::Position.gt(cursor.last_position))
        .order_by_asc(change_log::Column::Position)
        .into_model()
        .all(db)
        .await?;
    let read_rows = rows.len();
    Ok(LogRead::of(
        rows,
        read_rows,
        LogCursor {
            last_position: cursor.last_position,
            ..Default::default()
        },
    ))
}

async fn read_by_transaction_ids(
    db: &DatabaseConnection,
    cursor: &LogCursor,
) -> Result<LogRead, DbErr> {
    let in_doubt = format!(
        "{{{}}}",
        cursor
            .in_doubt
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    // The rows and the snapshot they were read in, in one statement; the
    // transactions listed in doubt only when there are some.
    let mut wanted = "c.position > $1".to_owned();
    let mut values: Vec<sea_orm::Value> = vec![cursor.last_position.into()];
    if let Some(from) = cursor.unseen_from {
        values.push(from.to_string().into());
        wanted += &format!(" OR c.txid >= ${}::text::xid8", values.len());
    }
    if !cursor.in_doubt.is_empty() {
        values.push(in_doubt.into());
        wanted += &format!(" OR c.txid = ANY(${}::text::xid8[])", values.len());
    }
    let rows = XidLogRow::find_by_statement(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        format!(
            "WITH s AS (SELECT pg_current_snapshot()::text AS snapshot) \
             SELECT c.position, c.kind, c.entity_id, c.creator_id, c.agency_id, \
             c.event, s.snapshot \
             FROM s LEFT JOIN change_log c ON {wanted} \
             ORDER BY c.position"
        ),
        values,
    ))
    .all(db)
    .await?;
    let (running, unseen_from) = rows
        .first()
        .map(|r| in_doubt_after(&r.snapshot))
        .unwrap_or_else(|| (cursor.in_doubt.clone(), cursor.unseen_from));
    let changes: Vec<LogRow> = rows
        .into_iter()
        .filter_map(|r| {
            Some(LogRow {
                position: r.position?,
                kind: r.kind?,
                entity_id: r.entity_id?,
                creator_id: r.creator_id,
                agency_id: r.agency_id,
                event: r.event,
            })
        })
        .collect();
    let read_rows = changes.len();
    Ok(LogRead::of(
        changes,
        read_rows,
        LogCursor {
            last_position: cursor.last_position,
            in_doubt: running,
            unseen_from,
            ..Default::default()
        },
    ))
}

async fn read_by_time_window(
    db: &DatabaseConnection,
    cursor: &LogCursor,
) -> Result<LogRead, DbErr> {
    let began = Utc::now();
    let window = chrono::Duration::from_std(COMMIT_WINDOW).unwrap_or_default();
    let gaps: Vec<Gap> = cursor
        .gaps
        .iter()
        .filter(|g| g.noticed + window >= began)
        .copied()
        .collect();
    let mut wanted = Condition::any().add(change_log::Column::Position.gt(cursor.last_position));
    if gaps.len() <= MAX_GAP_RANGES {
        for gap in &gaps {
            wanted = wanted.add(change_log::Column::Position.between(gap.first, gap.last));
        }
    } else if let (Some(first), Some(last)) = (gaps.first(), gaps.last()) {
        wanted = wanted.add(change_log::Column::Position.between(first.first, last.last));
    }
    let rows: Vec<LogRow> = change_log::Entity::find()
        .select_only()
        .columns(LogRow::columns())
        .filter(wanted)
        .order_by_asc(change_log::Column::Position)
        .into_model()
        .all(db)
        .await?;
    let read_rows = rows.len();
    let in_gap = |p: i64| gaps.iter().any(|g| (g.first..=g.last).contains(&p));
    // New: past the last position, or filling a gap (a merged range
    // also brings rows already applied).
    let rows: Vec<LogRow> = rows
        .into_iter()
        .filter(|r| r.position > cursor.last_position || in_gap(r.position))
        .collect();
    // Gaps that stay open, and the holes among the new positions.
    let filled: Vec<i64> = rows
        .iter()
        .map(|r| r.position)
        .filter(|p| in_gap(*p))
        .collect();
    let mut next_gaps = Vec::with_capacity(gaps.len());
    for gap in gaps {
        let inside: Vec<i64> = filled
            .iter()
            .copied()
            .filter(|p| (gap.first..=gap.last).contains(p))
            .collect();
        let mut open = holes(gap.first - 1, &inside, gap.noticed);
        if let Some(&top) = inside.last() {
            if top < gap.last {
                open.push(Gap {
                    first: top + 1,
                    ..gap
                });
            }
        } else {
            open.push(gap);
        }
        next_gaps.extend(open);
    }
    let beyond: Vec<i64> = rows
        .iter()
        .map(|r| r.position)
        .filter(|p| *p > cursor.last_position)
        .collect();
    next_gaps.extend(holes(cursor.last_position, &beyond, began));
    Ok(LogRead::of(
        rows,
        read_rows,
        LogCursor {
            last_position: cursor.last_position,
            gaps: next_gaps,
            ..Default::default()
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_the_positions_not_seen() {
        let now = Utc::now();
        let gap = |first, last| Gap {
            first,
            last,
            noticed: now,
        };
        assert_eq!(
            holes(10, &[11, 12, 15, 16, 20], now),
            [gap(13, 14), gap(17, 19)]
        );
        assert_eq!(holes(10, &[], now), []);
        assert_eq!(holes(4, &[7], now), [gap(5, 6)]);
    }

    #[test]
    fn the_running_transactions_are_read_off_a_snapshot() {
        assert_eq!(
            in_doubt_after("100:104:100,102"),
            (vec![100, 102], Some(104))
        );
        assert_eq!(in_doubt_after("100:100:"), (vec![], Some(100)));
    }
}
