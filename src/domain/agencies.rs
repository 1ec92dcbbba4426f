//! Agencies: the public directory, creation and profile rules.

use chrono::Utc;
use entity::{agency, join_list};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::store_errors::{UniqueRule, on_violation, retrying};
use super::values::{Category, Language, Region, Slug, parse_categories, parse_list, parse_name};
use super::writes::ChangeKind;
use super::{
    Domain, DomainError, DomainResult, Page, Refusal, RefusalCode, Refusals, Role, Viewer,
};

/// Invitations an agency may send per rolling 24 h unless told otherwise.
pub const DEFAULT_DAILY_INVITE_LIMIT: i32 = 50;
const MAX_CAPACITY: i32 = 100_000;
const MAX_DAILY_INVITE_LIMIT: i32 = 10_000;

pub struct NewAgency {
    pub slug: String,
    pub name: String,
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    pub specialties: Vec<Category>,
    pub capacity: i32,
    pub daily_invite_limit: Option<i32>,
}

#[derive(Default)]
pub struct AgencyUpdate {
    /// `Err` carries why the API could not read the id it was given.
    pub agency_id: Option<Result<Uuid, String>>,
    pub name: Option<String>,
    pub regions: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub specialties: Option<Vec<Category>>,
    pub capacity: Option<i32>,
    pub daily_invite_limit: Option<i32>,
    pub verified: Option<bool>,
}

fn check_range(
    value: i32,
    range: std::ops::RangeInclusive<i32>,
    field: &str,
) -> Result<i32, Refusal> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Refusal::invalid(
            &["input", field],
            format!(
                "{field} must be between {} and {}",
                range.start(),
                range.end()
            ),
        ))
    }
}

fn regions(raw: &[String]) -> Result<Vec<Region>, Refusal> {
    parse_list(raw, "regions", 1..=10, Region::parse)
        .map_err(|m| Refusal::invalid(&["input", "regions"], m))
}

fn languages(raw: &[String]) -> Result<Vec<Language>, Refusal> {
    parse_list(raw, "languages", 1..=20, Language::parse)
        .map_err(|m| Refusal::invalid(&["input", "languages"], m))
}

fn specialties(raw: &[Category]) -> Result<Vec<Category>, Refusal> {
    parse_categories(raw, "specialties", 1..=Category::ALL.len())
        .map_err(|m| Refusal::invalid(&["input", "specialties"], m))
}

fn name(raw: &str) -> Result<String, Refusal> {
    parse_name(raw, "name", 100).map_err(|m| Refusal::invalid(&["input", "name"], m))
}

pub struct AgencyService<'a> {
    domain: &'a Domain,
}

impl<'a> AgencyService<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    pub async fn find(&self, id: Uuid) -> DomainResult<Option<agency::Model>> {
        Ok(agency::Entity::find_by_id(id).one(&self.domain.db).await?)
    }

    pub async fn find_by_slug(&self, raw: &str) -> DomainResult<Option<agency::Model>> {
        let slug =
            Slug::parse(raw).map_err(|m| DomainError::refused(Refusal::invalid(&["slug"], m)))?;
        Ok(agency::Entity::find()
            .filter(agency::Column::Slug.eq(slug.as_ref()))
            .one(&self.domain.db)
            .await?)
    }

    /// The public directory, ordered by slug, optionally only the agencies
    /// recruiting in `region`; `after` is the last slug of the previous page.
    /// The total is counted only `with_total`.
    pub async fn directory(
        &self,
        region: Option<&str>,
        first: u64,
        after: Option<&str>,
        with_total: bool,
    ) -> DomainResult<Page<agency::Model>> {
        let mut filter = Condition::all();
        if let Some(raw) = region {
            let region = Region::parse(raw)
                .map_err(|m| DomainError::refused(Refusal::invalid(&["region"], m)))?;
            // Stored codes are exactly two letters joined by commas, so a
            // two-letter substring can only match a whole code.
            filter = filter.add(agency::Column::Regions.contains(region.as_str()));
        }
        let total = if with_total {
            agency::Entity::find()
                .filter(filter.clone())
                .count(&self.domain.db)
                .await?
        } else {
            0
        };
        let mut page = agency::Entity::find().filter(filter);
        if let Some(after) = after {
            let after = Slug::parse(after)
                .map_err(|m| DomainError::refused(Refusal::invalid(&["after"], m)))?;
            page = page.filter(agency::Column::Slug.gt(after.as_ref()));
        }
        let mut items = page
            .order_by_asc(agency::Column::Slug)
            .limit(first + 1)
            .all(&self.domain.db)
            .await?;
        let has_next = items.len() as u64 > first;
        items.truncate(first as usize);
        Ok(Page {
            items,
            has_next,
            total,
        })
    }

    pub async fn create(&self, viewer: &Viewer, input: NewAgency) -> DomainResult<agency::Model> {
        viewer.require_admin()?;
        let mut refusals = Refusals::default();
        let slug = refusals
            .check(Slug::parse(&input.slug).map_err(|m| Refusal::invalid(&["input", "slug"], m)));
        let name = refusals.check(name(&input.name));
        let regions = refusals.check(regions(&input.regions));
        let languages = refusals.check(languages(&input.languages));
        let specialties = refusals.check(specialties(&input.specialties));
        let capacity = refusals.check(check_range(input.capacity, 1..=MAX_CAPACITY, "capacity"));
        let daily_limit = refusals.check(check_range(
            input
                .daily_invite_limit
                .unwrap_or(DEFAULT_DAILY_INVITE_LIMIT),
            1..=MAX_DAILY_INVITE_LIMIT,
            "dailyInviteLimit",
        ));
        refusals.into_result()?;
        let (
            Some(slug),
            Some(name),
            Some(regions),
            Some(languages),
            Some(specialties),
            Some(capacity),
            Some(daily_limit),
        ) = (
            slug,
            name,
            regions,
            languages,
            specialties,
            capacity,
            daily_limit,
        )
        else {
            unreachable!("every None was recorded as a refusal");
        };
        let now = Utc::now();
        let id = Uuid::now_v7();
        let model = agency::ActiveModel {
            id: Set(id),
            slug: Set(slug.to_string()),
            name: Set(name),
            regions: Set(join_list(&regions)),
            languages: Set(join_list(&languages)),
            specialties: Set(Category::join(&specialties)),
            capacity: Set(capacity),
            daily_invite_limit: Set(daily_limit),
            verified: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let mut write = self.domain.begin_write().await?;
        let created = model.insert(write.txn()).await.map_err(|e| {
            on_violation(e, UniqueRule::AgencySlug, || {
                Refusal::new(
                    RefusalCode::Duplicate,
                    &["input", "slug"],
                    format!("slug {slug} is taken"),
                )
            })
        })?;
        write.agency_changed(ChangeKind::AgencyCreated, id);
        write.commit().await?;
        Ok(created)
    }

    /// An agency edits its own name, languages and specialties; markets,
    /// capacity, limits and verification are decided by admins.
    pub async fn update(
        &self,
        viewer: &Viewer,
        input: AgencyUpdate,
    ) -> DomainResult<agency::Model> {
        viewer.require_write()?;
        let target = viewer.acting_for(Role::Agency, input.agency_id, &["input", "agencyId"])?;
        if !viewer.is_admin() {
            let admin_only = [
                ("regions", input.regions.is_some()),
                ("capacity", input.capacity.is_some()),
                ("dailyInviteLimit", input.daily_invite_limit.is_some()),
                ("verified", input.verified.is_some()),
            ];
            if let Some((field, _)) = admin_only.iter().find(|(_, set)| *set) {
                return Err(DomainError::forbidden(format!(
                    "{field} is for admins only"
                )));
            }
        }
        let mut refusals = Refusals::default();
        let name = input
            .name
            .as_deref()
            .and_then(|raw| refusals.check(name(raw)));
        let regions = input
            .regions
            .as_deref()
            .and_then(|raw| refusals.check(regions(raw)));
        let languages = input
            .languages
            .as_deref()
            .and_then(|raw| refusals.check(languages(raw)));
        let specialties = input
            .specialties
            .as_deref()
            .and_then(|raw| refusals.check(specialties(raw)));
        let capacity = input
            .capacity
            .and_then(|v| refusals.check(check_range(v, 1..=MAX_CAPACITY, "capacity")));
        let daily_limit = input.daily_invite_limit.and_then(|v| {
            refusals.check(check_range(
                v,
                1..=MAX_DAILY_INVITE_LIMIT,
                "dailyInviteLimit",
            ))
        });
        refusals.into_result()?;
        let regions = regions.map(|v| join_list(&v));
        let languages = languages.map(|v| join_list(&v));
        let specialties = specialties.map(|v| Category::join(&v));
        let (name, regions, languages, specialties) = (&name, &regions, &languages, &specialties);
        let verified = input.verified;
        retrying(move || async move {
            let mut write = self.domain.begin_write().await?;
            let existing = locked(write.txn(), target).await?;
            let mut model: agency::ActiveModel = existing.into();
            if let Some(v) = name {
                model.name = Set(v.clone());
            }
            if let Some(v) = regions {
                model.regions = Set(v.clone());
            }
            if let Some(v) = languages {
                model.languages = Set(v.clone());
            }
            if let Some(v) = specialties {
                model.specialties = Set(v.clone());
            }
            if let Some(v) = capacity {
                model.capacity = Set(v);
            }
            if let Some(v) = daily_limit {
                model.daily_invite_limit = Set(v);
            }
            if let Some(v) = verified {
                model.verified = Set(v);
            }
            model.updated_at = Set(Utc::now());
            let updated = model.update(write.txn()).await?;
            write.agency_changed(ChangeKind::AgencyUpdated, target);
            write.commit().await?;
            Ok(updated)
        })
        .await
    }
}

/// The agency named by `input.agencyId`, its row locked for the write
/// (after the creator's, where both are written); NOT_FOUND if none.
pub(crate) async fn locked(
    txn: &sea_orm::DatabaseTransaction,
    id: Uuid,
) -> DomainResult<agency::Model> {
    agency::Entity::find_by_id(id)
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| DomainError::refused(Refusal::not_found(&["input", "agencyId"], "agency")))
}
