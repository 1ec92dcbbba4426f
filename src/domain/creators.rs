//! Creators: profile rules, who may see a creator, and LIVE stats ingestion.

use chrono::Utc;
use entity::{creator, invitation, join_list, membership};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::scopes::Scope;
use super::store_errors::{UniqueRule, on_violation, retrying};
use super::values::{
    Category, Handle, Language, Region, parse_birth_date, parse_categories, parse_list, parse_name,
};
use super::writes::ChangeKind;
use super::{
    Domain, DomainError, DomainResult, Principal, Refusal, RefusalCode, Refusals, Role, Viewer,
};

/// Most rows `upsertCreatorStats` takes at once.
pub const MAX_STATS_BATCH: usize = 1000;

pub struct NewCreator {
    pub handle: String,
    pub display_name: String,
    pub region: String,
    pub languages: Vec<String>,
    pub categories: Vec<Category>,
    pub birth_date: String,
}

pub struct ProfileUpdate {
    /// `Err` carries why the API could not read the id it was given.
    pub creator_id: Option<Result<Uuid, String>>,
    pub display_name: Option<String>,
    pub languages: Option<Vec<String>>,
    pub categories: Option<Vec<Category>>,
}

/// One row of LIVE figures; `creator_id` is `None` when the API could not
/// read the id it was given, so the row is refused with its path.
pub struct StatsRow {
    pub creator_id: Result<Uuid, String>,
    pub followers: i64,
    pub avg_viewers: f64,
    pub peak_viewers: i64,
    pub live_hours_30d: f64,
    pub live_days_30d: i32,
    pub diamonds_30d: i64,
    pub follower_growth_30d: f64,
    pub engagement_rate: f64,
}

impl StatsRow {
    /// Every figure must be finite and within its physical range.
    fn validate(&self) -> Vec<Refusal> {
        let mut out = Vec::new();
        let mut need = |ok: bool, field: &str, msg: &str| {
            if !ok {
                out.push(Refusal::invalid(&[field], msg.to_owned()));
            }
        };
        need(self.followers >= 0, "followers", "followers must be >= 0");
        need(
            self.avg_viewers.is_finite() && self.avg_viewers >= 0.0,
            "avgViewers",
            "avgViewers must be a finite number >= 0",
        );
        need(
            self.peak_viewers >= 0,
            "peakViewers",
            "peakViewers must be >= 0",
        );
        need(
            self.live_hours_30d.is_finite() && (0.0..=720.0).contains(&self.live_hours_30d),
            "liveHours30d",
            "liveHours30d must be between 0 and 720",
        );
        need(
            (0..=30).contains(&self.live_days_30d),
            "liveDays30d",
            "liveDays30d must be between 0 and 30",
        );
        need(
            self.diamonds_30d >= 0,
            "diamonds30d",
            "diamonds30d must be >= 0",
        );
        need(
            self.follower_growth_30d.is_finite() && self.follower_growth_30d >= -1.0,
            "followerGrowth30d",
            "followerGrowth30d must be a finite fraction >= -1",
        );
        need(
            self.engagement_rate.is_finite() && (0.0..=1.0).contains(&self.engagement_rate),
            "engagementRate",
            "engagementRate must be a fraction between 0 and 1",
        );
        out
    }
}

pub struct CreatorService<'a> {
    domain: &'a Domain,
}

impl<'a> CreatorService<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn find(&self, id: Uuid) -> DomainResult<Option<creator::Model>> {
        Ok(creator::Entity::find_by_id(id).one(&self.domain.db).await?)
    }

    /// Looks a handle up after normalising it; a malformed handle is refused.
    pub async fn find_by_handle(&self, raw: &str) -> DomainResult<Option<creator::Model>> {
        let handle = Handle::parse(raw)
            .map_err(|m| DomainError::refused(Refusal::invalid(&["handle"], m)))?;
        Ok(creator::Entity::find()
            .filter(creator::Column::Handle.eq(handle.as_ref()))
            .one(&self.domain.db)
            .await?)
    }

    /// The privacy rule: an agency sees a creator who is discoverable, its
    /// member, or holds an invitation from it; a creator sees themself;
    /// admins see everyone; anonymous callers see no creator.
    /// What [`Self::visible_to`] reads besides the creator's row: for an
    /// agency, its members and its invitations (it sees a creator who
    /// switched off while related to them).
    pub fn visibility_reads(viewer: &Viewer) -> Vec<Scope> {
        match viewer.principal {
            Principal::Agency(agency) => vec![
                Scope::AgencyMembers(agency),
                Scope::AgencyInvitations(agency),
            ],
            _ => Vec::new(),
        }
    }

    pub async fn visible_to(
        &self,
        viewer: &Viewer,
        creator: &creator::Model,
    ) -> DomainResult<bool> {
        Ok(match viewer.principal {
            Principal::Admin(_) => true,
            Principal::Anonymous => false,
            Principal::Creator(id) => id == creator.id,
            Principal::Agency(agency_id) => {
                creator.discoverable
                    || related_to_agency(&self.domain.db, agency_id, creator.id).await?
            }
        })
    }

    pub async fn create(&self, viewer: &Viewer, input: NewCreator) -> DomainResult<creator::Model> {
        viewer.require_admin()?;
        let mut refusals = Refusals::default();
        let handle = refusals.check(
            Handle::parse(&input.handle).map_err(|m| Refusal::invalid(&["input", "handle"], m)),
        );
        let display_name = refusals.check(
            parse_name(&input.display_name, "displayName", 64)
                .map_err(|m| Refusal::invalid(&["input", "displayName"], m)),
        );
        let region = refusals.check(
            Region::parse(&input.region).map_err(|m| Refusal::invalid(&["input", "region"], m)),
        );
        let languages = refusals.check(
            parse_list(&input.languages, "languages", 1..=10, Language::parse)
                .map_err(|m| Refusal::invalid(&["input", "languages"], m)),
        );
        let categories = refusals.check(
            parse_categories(&input.categories, "categories", 1..=3)
                .map_err(|m| Refusal::invalid(&["input", "categories"], m)),
        );
        let now = Utc::now();
        let birth_date = refusals.check(
            parse_birth_date(&input.birth_date, now.date_naive())
                .map_err(|m| Refusal::invalid(&["input", "birthDate"], m)),
        );
        refusals.into_result()?;
        let (
            Some(handle),
            Some(display_name),
            Some(region),
            Some(languages),
            Some(categories),
            Some(birth_date),
        ) = (
            handle,
            display_name,
            region,
            languages,
            categories,
            birth_date,
        )
        else {
            unreachable!("every None was recorded as a refusal");
        };
        let id = Uuid::now_v7();
        let model = creator::ActiveModel {
            id: Set(id),
            handle: Set(handle.to_string()),
            display_name: Set(display_name),
            region: Set(region.to_string()),
            languages: Set(join_list(&languages)),
            categories: Set(Category::join(&categories)),
            birth_date: Set(birth_date),
            discoverable: Set(false),
            discoverable_since: Set(None),
            followers: Set(0),
            avg_viewers: Set(0.0),
            peak_viewers: Set(0),
            live_hours_30d: Set(0.0),
            live_days_30d: Set(0),
            diamonds_30d: Set(0),
            follower_growth_30d: Set(0.0),
            engagement_rate: Set(0.0),
            stats_updated_at: Set(now),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let mut write = self.domain.begin_write().await?;
        let created = model.insert(write.txn()).await.map_err(|e| {
            on_violation(e, UniqueRule::CreatorHandle, || {
                Refusal::new(
                    RefusalCode::Duplicate,
                    &["input", "handle"],
                    format!("handle {handle} is taken"),
                )
            })
        })?;
        write.creator_changed(ChangeKind::CreatorCreated, id);
        write.commit().await?;
        Ok(created)
    }

    /// A creator edits their own profile; an admin edits anyone's by id.
    pub async fn update_profile(
        &self,
        viewer: &Viewer,
        input: ProfileUpdate,
    ) -> DomainResult<creator::Model> {
        viewer.require_write()?;
        let target = viewer.acting_for(Role::Creator, input.creator_id, &["input", "creatorId"])?;
        let mut refusals = Refusals::default();
        let display_name = input.display_name.as_deref().and_then(|raw| {
            refusals.check(
                parse_name(raw, "displayName", 64)
                    .map_err(|m| Refusal::invalid(&["input", "displayName"], m)),
            )
        });
        let languages = input.languages.as_deref().and_then(|raw| {
            refusals.check(
                parse_list(raw, "languages", 1..=10, Language::parse)
                    .map_err(|m| Refusal::invalid(&["input", "languages"], m)),
            )
        });
        let categories = input.categories.as_deref().and_then(|raw| {
            refusals.check(
                parse_categories(raw, "categories", 1..=3)
                    .map_err(|m| Refusal::invalid(&["input", "categories"], m)),
            )
        });
        refusals.into_result()?;
        let languages = languages.map(|l| join_list(&l));
        let categories = categories.map(|c| Category::join(&c));
        let (display_name, languages, categories) = (&display_name, &languages, &categories);
        retrying(move || async move {
            let mut write = self.domain.begin_write().await?;
            let existing = locked(&write, target, &["input", "creatorId"]).await?;
            let mut model: creator::ActiveModel = existing.into();
            if let Some(name) = display_name {
                model.display_name = Set(name.clone());
            }
            if let Some(languages) = languages {
                model.languages = Set(languages.clone());
            }
            if let Some(categories) = categories {
                model.categories = Set(categories.clone());
            }
            model.updated_at = Set(Utc::now());
            let updated = model.update(write.txn()).await?;
            write.creator_changed(ChangeKind::CreatorProfile, target);
            write.commit().await?;
            Ok(updated)
        })
        .await
    }

    /// The "Agency invitation" switch, for the viewer creator or, for an
    /// admin, the creator named. Idempotent: switching on stamps
    /// `discoverable_since` only when it was off; switching off clears it.
    /// PENDING invitations stay answerable either way.
    pub async fn set_discoverable(
        &self,
        viewer: &Viewer,
        on: bool,
        named: Option<Result<Uuid, String>>,
    ) -> DomainResult<creator::Model> {
        viewer.require_write()?;
        let target = viewer.acting_for(Role::Creator, named, &["creatorId"])?;
        retrying(move || async move {
            let mut write = self.domain.begin_write().await?;
            let existing = locked(&write, target, &["creatorId"]).await?;
            if existing.discoverable == on {
                return Ok(existing);
            }
            // Judged once the row is locked, so the stamp orders with the lock.
            let now = Utc::now();
            let mut model: creator::ActiveModel = existing.into();
            model.discoverable = Set(on);
            model.discoverable_since = Set(on.then_some(now));
            model.updated_at = Set(now);
            let updated = model.update(write.txn()).await?;
            write.creator_changed(ChangeKind::CreatorDiscoverable, target);
            write.commit().await?;
            Ok(updated)
        })
        .await
    }

    /// Writes a batch of LIVE figures, all or nothing; returns rows written.
    pub async fn upsert_stats(&self, viewer: &Viewer, rows: Vec<StatsRow>) -> DomainResult<u64> {
        viewer.require_ingest()?;
        if rows.is_empty() || rows.len() > MAX_STATS_BATCH {
            return Err(DomainError::refused(Refusal::invalid(
                &["input"],
                format!(
                    "a batch holds 1 to {MAX_STATS_BATCH} rows, got {}",
                    rows.len()
                ),
            )));
        }
        let mut refusals = Refusals::default();
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let index = i.to_string();
            match &row.creator_id {
                Err(msg) => refusals
                    .push(Refusal::invalid(&["creatorId"], msg.clone()).under(&["input", &index])),
                Ok(id) if !seen.insert(*id) => refusals.push(
                    Refusal::invalid(&["creatorId"], "this creator appears twice in the batch")
                        .under(&["input", &index]),
                ),
                Ok(_) => {}
            }
            for refusal in row.validate() {
                refusals.push(refusal.under(&["input", &index]));
            }
        }
        refusals.into_result()?;

        // Rows written in id order: two batches over the same creators lock
        // them in the same order and cannot deadlock each other.
        let mut rows: Vec<(usize, Uuid, StatsRow)> = rows
            .into_iter()
            .enumerate()
            .filter_map(|(i, row)| Some((i, row.creator_id.clone().ok()?, row)))
            .collect();
        rows.sort_unstable_by_key(|(_, id, _)| *id);
        retrying(|| self.write_stats(&rows)).await
    }

    /// One attempt at `upsert_stats`: rows validated, in id order, with
    /// their index in the batch.
    async fn write_stats(&self, rows: &[(usize, Uuid, StatsRow)]) -> DomainResult<u64> {
        let mut write = self.domain.begin_write().await?;
        let now = Utc::now();
        // The batch in one statement (a statement a row was most of the
        // time on PostgreSQL, a round trip each, and half of it on SQLite);
        // the ids it updated tell which creators exist. Any missing: the
        // write is dropped, so nothing of the batch stays.
        let backend = write.txn().get_database_backend();
        let updated: std::collections::HashSet<Uuid> = write
            .txn()
            .query_all_raw(stats_update(backend, rows, now))
            .await?
            .iter()
            .map(|row| row.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?;
        let mut missing: Vec<usize> = rows
            .iter()
            .filter(|(_, id, _)| !updated.contains(id))
            .map(|(i, _, _)| *i)
            .collect();
        missing.sort_unstable();
        let mut refusals = Refusals::default();
        for i in missing {
            refusals.push(
                Refusal::not_found(&["creatorId"], "creator").under(&["input", &i.to_string()]),
            );
        }
        refusals.into_result()?;
        for (_, id, _) in rows {
            write.creator_changed(ChangeKind::CreatorStats, *id);
        }
        write.commit().await?;
        Ok(updated.len() as u64)
    }
}

/// One statement for a batch of figures: `UPDATE … FROM (VALUES …)
/// RETURNING id`,
/// which PostgreSQL and SQLite (3.33+) both accept, the VALUES columns
/// named `column1…` by both. SQLite's placeholders are plain `?` in text
/// order: numbered ones (`?NNN`) made a 9,000-value batch four times slower
/// to bind than a statement a row.
fn stats_update(
    backend: DatabaseBackend,
    rows: &[(usize, Uuid, StatsRow)],
    now: chrono::DateTime<Utc>,
) -> Statement {
    const FIELDS: usize = 9;
    // The stamp is the first placeholder in the text, then the rows'.
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(rows.len() * FIELDS + 1);
    values.push(now.into());
    let placeholder = |n: usize| match backend {
        DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    let stamp = placeholder(1);
    let mut tuples = Vec::with_capacity(rows.len());
    for (_, id, row) in rows {
        let first = values.len() + 1;
        values.extend([
            (*id).into(),
            row.followers.into(),
            row.avg_viewers.into(),
            row.peak_viewers.into(),
            row.live_hours_30d.into(),
            row.live_days_30d.into(),
            row.diamonds_30d.into(),
            row.follower_growth_30d.into(),
            row.engagement_rate.into(),
        ]);
        let slots: Vec<String> = (first..first + FIELDS).map(placeholder).collect();
        tuples.push(format!("({})", slots.join(", ")));
    }
    let sql = format!(
        "UPDATE creators SET followers = v.column2, avg_viewers = v.column3, \
         peak_viewers = v.column4, live_hours_30d = v.column5, live_days_30d = v.column6, \
         diamonds_30d = v.column7, follower_growth_30d = v.column8, \
         engagement_rate = v.column9, stats_updated_at = {stamp} \
         FROM (VALUES {}) AS v WHERE creators.id = v.column1 RETURNING creators.id",
        tuples.join(", ")
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// The creator's row, locked for the write; NOT_FOUND at `field` if none.
async fn locked(
    write: &super::writes::Write<'_>,
    id: Uuid,
    field: &[&str],
) -> DomainResult<creator::Model> {
    creator::Entity::find_by_id(id)
        .lock_exclusive()
        .one(write.txn())
        .await?
        .ok_or_else(|| DomainError::refused(Refusal::not_found(field, "creator")))
}

/// Whether the creator is the agency's member or holds any invitation from it.
async fn related_to_agency(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    creator_id: Uuid,
) -> Result<bool, sea_orm::DbErr> {
    let member = membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(agency_id))
        .filter(membership::Column::CreatorId.eq(creator_id))
        .count(db)
        .await?;
    if member > 0 {
        return Ok(true);
    }
    let invited = invitation::Entity::find()
        .filter(invitation::Column::AgencyId.eq(agency_id))
        .filter(invitation::Column::CreatorId.eq(creator_id))
        .count(db)
        .await?;
    Ok(invited > 0)
}
