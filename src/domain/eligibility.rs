//! Eligibility: whether an agency may invite a creator now, and if not,
//! why. One function answers both `sendInvitation` and
//! `invitationEligibility`, so the two can never disagree.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::invitation::{self, Status};
use entity::{agency, creator, membership, split_list};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
};
use uuid::Uuid;

use super::RefusalCode;
use super::invitations::status_condition;

pub const COOLDOWN_DAYS: i64 = 30;
pub const QUOTA_WINDOW_HOURS: i64 = 24;
pub(crate) const MINIMUM_AGE_YEARS: u32 = 18;

fn is_adult(birth_date: NaiveDate, today: NaiveDate) -> bool {
    super::index::adult_on(birth_date).is_some_and(|adult_on| adult_on <= today)
}

/// Why an agency may not invite a creator now; `None`: it may. Refusals
/// are checked in the documented order, the first one wins. Runs a fixed
/// number of queries whatever the number of creators.
pub async fn eligibility(
    conn: &impl ConnectionTrait,
    agency: &agency::Model,
    creator_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Vec<Option<RefusalCode>>, DbErr> {
    use invitation::Column as I;
    let ids = || creator_ids.iter().copied();
    let creators: HashMap<Uuid, creator::Model> = creator::Entity::find()
        .filter(creator::Column::Id.is_in(ids()))
        .all(conn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let members: HashSet<Uuid> = membership::Entity::find()
        .filter(membership::Column::CreatorId.is_in(ids()))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.creator_id)
        .collect();
    let related: Vec<invitation::Model> = invitation::Entity::find()
        .filter(I::AgencyId.eq(agency.id))
        .filter(I::CreatorId.is_in(ids()))
        .filter(
            Condition::any()
                .add(status_condition(Status::Pending, now))
                .add(
                    Condition::all()
                        .add(I::Status.eq(Status::Declined))
                        .add(I::RespondedAt.gt(now - Duration::days(COOLDOWN_DAYS))),
                ),
        )
        .all(conn)
        .await?;
    let cooling: HashSet<Uuid> = related
        .iter()
        .filter(|i| i.status == Status::Declined)
        .map(|i| i.creator_id)
        .collect();
    let pending: HashSet<Uuid> = related
        .iter()
        .filter(|i| i.status == Status::Pending)
        .map(|i| i.creator_id)
        .collect();
    let member_count = member_count(conn, agency.id).await?;
    let used = used_quota(conn, agency.id, now).await?.used;
    let regions = split_list(&agency.regions);
    let today = now.date_naive();

    Ok(creator_ids
        .iter()
        .map(|id| {
            let Some(c) = creators.get(id) else {
                return Some(RefusalCode::NotFound);
            };
            if !c.discoverable {
                Some(RefusalCode::NotDiscoverable)
            } else if !is_adult(c.birth_date, today) || !regions.contains(&c.region) {
                Some(RefusalCode::NotEligible)
            } else if members.contains(id) {
                Some(RefusalCode::AlreadyInAgency)
            } else if cooling.contains(id) {
                Some(RefusalCode::Cooldown)
            } else if pending.contains(id) {
                Some(RefusalCode::AlreadyInvited)
            } else if member_count >= i64::from(agency.capacity) {
                Some(RefusalCode::AgencyAtCapacity)
            } else if used >= i64::from(agency.daily_invite_limit) {
                Some(RefusalCode::QuotaExceeded)
            } else {
                None
            }
        })
        .collect())
}

pub(crate) async fn member_count(
    conn: &impl ConnectionTrait,
    agency_id: Uuid,
) -> Result<i64, DbErr> {
    let n = membership::Entity::find()
        .filter(membership::Column::AgencyId.eq(agency_id))
        .count(conn)
        .await?;
    Ok(i64::try_from(n).unwrap_or(i64::MAX))
}

/// What an agency used of its quota at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaUse {
    /// Invitations sent in the rolling window, whatever became of them.
    pub used: i64,
    /// When the oldest of them leaves the window (the count drops then,
    /// if nothing is sent); `None` while none counts.
    pub drops_at: Option<DateTime<Utc>>,
}

pub(crate) async fn used_quota(
    conn: &impl ConnectionTrait,
    agency_id: Uuid,
    now: DateTime<Utc>,
) -> Result<QuotaUse, DbErr> {
    let window = Duration::hours(QUOTA_WINDOW_HOURS);
    let used: Option<(i64, Option<DateTime<Utc>>)> = invitation::Entity::find()
        .select_only()
        .column_as(invitation::Column::Id.count(), "used")
        .column_as(invitation::Column::CreatedAt.min(), "oldest")
        .filter(invitation::Column::AgencyId.eq(agency_id))
        .filter(invitation::Column::CreatedAt.gt(now - window))
        .into_tuple()
        .one(conn)
        .await?;
    let (used, oldest) = used.unwrap_or_default();
    Ok(QuotaUse {
        used,
        drops_at: oldest.map(|at| at + window),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adulthood_starts_on_the_eighteenth_birthday() {
        let birth = NaiveDate::from_ymd_opt(2008, 2, 29).unwrap();
        assert!(!is_adult(
            birth,
            NaiveDate::from_ymd_opt(2026, 2, 27).unwrap()
        ));
        assert!(is_adult(
            birth,
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        ));
    }
}
