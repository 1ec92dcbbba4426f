//! Invitations: the lifecycle PENDING → ACCEPTED | DECLINED |
//! WITHDRAWN | EXPIRED | CANCELLED, quotas, expiry and who may read what.
//!
//! Races are settled by the database: writes run in one transaction each,
//! conditional updates (`WHERE status = 'PENDING'`) decide who moved an
//! invitation first, unique indexes decide duplicate memberships and
//! invitations, and on PostgreSQL the creator and agency rows are locked
//! (creator first, then agency) so capacity counts cannot be raced.

use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};
use entity::{agency, creator, membership};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::eligibility::{eligibility, member_count, used_quota};
use super::store_errors::{UniqueRule, on_violation, retrying, violated};
use super::writes::ChangeKind;
use super::{Domain, DomainError, DomainResult, Principal, Refusal, RefusalCode, Role, Viewer};
use crate::events::{EventKind, InvitationEvent};

pub const MAX_MESSAGE_CHARS: usize = 500;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;
pub const MAX_ELIGIBILITY_BATCH: usize = 100;

/// The status as of `now`: a PENDING invitation past its expiry reads as
/// EXPIRED even before a sweep has persisted it.
pub fn effective_status(inv: &invitation::Model, now: DateTime<Utc>) -> Status {
    if inv.status == Status::Pending && now >= inv.expires_at {
        Status::Expired
    } else {
        inv.status
    }
}

/// When the status read at `now` next reads differently by the clock
/// alone: a PENDING invitation's expiry, while it is ahead.
pub fn status_changes_at(inv: &invitation::Model, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (inv.status == Status::Pending && now < inv.expires_at).then_some(inv.expires_at)
}

/// Whether which rows read as `status` depends on the clock (see
/// [`effective_status`]).
pub fn status_reads_by_clock(status: Status) -> bool {
    matches!(status, Status::Pending | Status::Expired)
}

/// Rows that read as `status` at `now` (see [`effective_status`]).
pub(crate) fn status_condition(status: Status, now: DateTime<Utc>) -> Condition {
    use invitation::Column as C;
    match status {
        Status::Pending => Condition::all()
            .add(C::Status.eq(Status::Pending))
            .add(C::ExpiresAt.gt(now)),
        Status::Expired => Condition::any().add(C::Status.eq(Status::Expired)).add(
            Condition::all()
                .add(C::Status.eq(Status::Pending))
                .add(C::ExpiresAt.lte(now)),
        ),
        other => C::Status.eq(other).into_condition(),
    }
}

/// Its creator, its agency and admins; nobody else learns it exists.
pub fn visible_to(viewer: &Viewer, inv: &invitation::Model) -> bool {
    match viewer.principal {
        Principal::Admin(_) => true,
        Principal::Creator(id) => id == inv.creator_id,
        Principal::Agency(id) => id == inv.agency_id,
        Principal::Anonymous => false,
    }
}

fn refusal_message(code: RefusalCode) -> &'static str {
    match code {
        RefusalCode::NotFound => "no such creator",
        RefusalCode::NotDiscoverable => "the creator has not switched on Agency invitation",
        RefusalCode::NotEligible => "the creator is under 18 or outside the agency's regions",
        RefusalCode::AlreadyInAgency => "the creator is already in an agency",
        RefusalCode::Cooldown => "the creator declined this agency in the last 30 days",
        RefusalCode::AlreadyInvited => {
            "the agency already has a pending invitation for this creator"
        }
        RefusalCode::AgencyAtCapacity => "the agency has no free seat",
        RefusalCode::QuotaExceeded => "the agency has used its daily invitation limit",
        RefusalCode::InvitationNotPending => "the invitation is no longer pending",
        RefusalCode::InvitationExpired => "the invitation has expired",
        RefusalCode::NotInAgency => "the creator is not in an agency",
        RefusalCode::InvalidInput => "invalid input",
        RefusalCode::Duplicate => "already exists",
    }
}

fn refused(code: RefusalCode, field: &[&str]) -> DomainError {
    DomainError::refused(Refusal::new(code, field, refusal_message(code)))
}

/// The field a creator-side refusal points at; agency-side ones have none.
fn eligibility_refusal(code: RefusalCode) -> DomainError {
    match code {
        RefusalCode::AgencyAtCapacity | RefusalCode::QuotaExceeded => refused(code, &[]),
        _ => refused(code, &["input", "creatorId"]),
    }
}

/// Trimmed; empty is no message; at most 500 characters; line breaks and
/// tabs allowed, other control characters refused.
pub fn parse_message(raw: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(Refusal::invalid(
            &["input", "message"],
            format!("message must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Refusal::invalid(
            &["input", "message"],
            "message must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(Some(text.to_owned()))
}

fn parse_idempotency_key(raw: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(key) = raw else { return Ok(None) };
    let key = key.trim();
    if key.is_empty()
        || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS
        || key.chars().any(char::is_control)
    {
        return Err(Refusal::invalid(
            &["input", "idempotencyKey"],
            format!("idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"),
        ));
    }
    Ok(Some(key.to_owned()))
}

pub struct SendInvitation {
    /// `Err` carries why the API could not read the id it was given.
    pub creator_id: Result<Uuid, String>,
    pub message: Option<String>,
    pub agency_id: Option<Result<Uuid, String>>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub daily_limit: i64,
    pub used_last_24h: i64,
    pub remaining: i64,
    /// When `used_last_24h` drops by itself; `None` while it is 0.
    pub changes_at: Option<DateTime<Utc>>,
}

pub struct InvitationService<'a> {
    domain: &'a Domain,
}

impl<'a> InvitationService<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// The invitation if the viewer may see it, else `None` as if absent.
    pub async fn find_visible(
        &self,
        viewer: &Viewer,
        id: Uuid,
    ) -> DomainResult<Option<invitation::Model>> {
        let found = invitation::Entity::find_by_id(id)
            .one(&self.domain.db)
            .await?;
        Ok(found.filter(|inv| visible_to(viewer, inv)))
    }

    /// `invitationEligibility`: the same rules as `send`, answered in input order.
    pub async fn check(
        &self,
        viewer: &Viewer,
        agency_id: Uuid,
        creator_ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> DomainResult<Vec<Option<RefusalCode>>> {
        viewer.require_agency(agency_id)?;
        if creator_ids.len() > MAX_ELIGIBILITY_BATCH {
            return Err(DomainError::refused(Refusal::invalid(
                &["creatorIds"],
                format!(
                    "at most {MAX_ELIGIBILITY_BATCH} creators a call, got {}",
                    creator_ids.len()
                ),
            )));
        }
        let Some(agency) = agency::Entity::find_by_id(agency_id)
            .one(&self.domain.db)
            .await?
        else {
            return Err(DomainError::refused(Refusal::not_found(
                &["agencyId"],
                "agency",
            )));
        };
        Ok(eligibility(&self.domain.db, &agency, creator_ids, now).await?)
    }

    /// The rolling 24 hours that end at `now`.
    pub async fn quota(
        &self,
        viewer: &Viewer,
        agency: &agency::Model,
        now: DateTime<Utc>,
    ) -> DomainResult<Quota> {
        viewer.require_agency(agency.id)?;
        let used = used_quota(&self.domain.db, agency.id, now).await?;
        let limit = i64::from(agency.daily_invite_limit);
        Ok(Quota {
            daily_limit: limit,
            used_last_24h: used.used,
            remaining: (limit - used.used).max(0),
            changes_at: used.drops_at,
        })
    }

    pub async fn send(
        &self,
        viewer: &Viewer,
        input: SendInvitation,
    ) -> DomainResult<invitation::Model> {
        viewer.require_write()?;
        let agency_id = viewer.acting_for(Role::Agency, input.agency_id, &["input", "agencyId"])?;
        let creator_id = input
            .creator_id
            .map_err(|msg| DomainError::refused(Refusal::invalid(&["input", "creatorId"], msg)))?;
        let message = parse_message(input.message.as_deref()).map_err(DomainError::refused)?;
        let key = parse_idempotency_key(input.idempotency_key.as_deref())
            .map_err(DomainError::refused)?;

        retrying(|| self.insert(agency_id, creator_id, message.as_deref(), key.as_deref())).await
    }

    /// One attempt at `send`, after its input is validated.
    async fn insert(
        &self,
        agency_id: Uuid,
        creator_id: Uuid,
        message: Option<&str>,
        key: Option<&str>,
    ) -> DomainResult<invitation::Model> {
        let mut write = self.domain.begin_write().await?;
        // Creator first, then agency, as every writer takes them: a send
        // waits for an accept or a switch-off of the same creator to commit
        // and then sees it.
        creator::Entity::find_by_id(creator_id)
            .lock_exclusive()
            .one(write.txn())
            .await?;
        let agency = super::agencies::locked(write.txn(), agency_id).await?;
        let now = Utc::now();
        if let Some(key) = key
            && let Some(first) = by_idempotency_key(write.txn(), agency_id, key).await?
        {
            return Ok(first);
        }
        // A PENDING row past its expiry still holds the one-pending index:
        // persist its expiry first so the agency may invite again.
        let mut events = expire(write.txn(), Expiring::Pair(agency_id, creator_id), now).await?;
        if let Some(code) = eligibility(write.txn(), &agency, &[creator_id], now).await?[0] {
            return Err(eligibility_refusal(code));
        }
        let inserted = invitation::ActiveModel {
            id: Set(Uuid::now_v7()),
            agency_id: Set(agency_id),
            creator_id: Set(creator_id),
            status: Set(Status::Pending),
            message: Set(message.map(str::to_owned)),
            idempotency_key: Set(key.map(str::to_owned)),
            created_at: Set(now),
            expires_at: Set(now + self.domain.settings.invitation_ttl),
            responded_at: Set(None),
        }
        .insert(write.txn())
        .await;
        let created = match inserted {
            Ok(created) => created,
            Err(e) => {
                drop(write);
                // Lost a race the locks did not cover: the key's first use
                // wins, else the pending invitation that beat this one does.
                if let Some(key) = key
                    && violated(&e) == Some(UniqueRule::IdempotencyKeyPerAgency)
                    && let Some(first) = by_idempotency_key(&self.domain.db, agency_id, key).await?
                {
                    return Ok(first);
                }
                return Err(on_violation(
                    e,
                    UniqueRule::OnePendingInvitationPerPair,
                    || {
                        Refusal::new(
                            RefusalCode::AlreadyInvited,
                            &["input", "creatorId"],
                            refusal_message(RefusalCode::AlreadyInvited),
                        )
                    },
                ));
            }
        };
        events.push(InvitationEvent::new(
            EventKind::Created,
            created.clone(),
            now,
        ));
        write.emit(events);
        write.commit().await?;
        Ok(created)
    }

    /// The agency (or an admin) takes back a PENDING invitation.
    pub async fn withdraw(&self, viewer: &Viewer, id: Uuid) -> DomainResult<invitation::Model> {
        viewer.require_write()?;
        if !matches!(viewer.principal, Principal::Agency(_) | Principal::Admin(_)) {
            return Err(DomainError::forbidden(
                "only the inviting agency withdraws an invitation",
            ));
        }
        self.respond(viewer, id, Status::Withdrawn).await
    }

    /// The invited creator says no; the agency is in cooldown for 30 days.
    pub async fn decline(&self, viewer: &Viewer, id: Uuid) -> DomainResult<invitation::Model> {
        viewer.require_write()?;
        if !matches!(viewer.principal, Principal::Creator(_)) {
            return Err(DomainError::forbidden(
                "only the invited creator declines an invitation",
            ));
        }
        self.respond(viewer, id, Status::Declined).await
    }

    /// Moves a visible PENDING invitation to `to`; the conditional update
    /// decides between concurrent responses.
    async fn respond(
        &self,
        viewer: &Viewer,
        id: Uuid,
        to: Status,
    ) -> DomainResult<invitation::Model> {
        retrying(|| self.respond_once(viewer, id, to)).await
    }

    async fn respond_once(
        &self,
        viewer: &Viewer,
        id: Uuid,
        to: Status,
    ) -> DomainResult<invitation::Model> {
        let mut write = self.domain.begin_write().await?;
        let invitation = self.visible_for_update(write.txn(), viewer, id).await?;
        let now = Utc::now();
        if effective_status(&invitation, now) != Status::Pending {
            return Err(refused(RefusalCode::InvitationNotPending, &["id"]));
        }
        let Some(updated) = transition(write.txn(), id, to, now).await? else {
            return Err(refused(RefusalCode::InvitationNotPending, &["id"]));
        };
        let kind = if to == Status::Withdrawn {
            EventKind::Withdrawn
        } else {
            EventKind::Declined
        };
        write.emit(vec![InvitationEvent::new(kind, updated.clone(), now)]);
        write.commit().await?;
        Ok(updated)
    }

    /// The invited creator joins the agency: invitation ACCEPTED, membership
    /// created (capacity re-checked), the creator's other PENDING invitations
    /// CANCELLED, all in one transaction.
    pub async fn accept(&self, viewer: &Viewer, id: Uuid) -> DomainResult<invitation::Model> {
        viewer.require_write()?;
        let Principal::Creator(creator_id) = viewer.principal else {
            return Err(DomainError::forbidden(
                "only the invited creator accepts an invitation",
            ));
        };
        retrying(|| self.accept_once(viewer, creator_id, id)).await
    }

    async fn accept_once(
        &self,
        viewer: &Viewer,
        creator_id: Uuid,
        id: Uuid,
    ) -> DomainResult<invitation::Model> {
        let mut write = self.domain.begin_write().await?;
        // Creator first, then agency: every writer takes them in this order.
        creator::Entity::find_by_id(creator_id)
            .lock_exclusive()
            .one(write.txn())
            .await?;
        let invitation = self.visible_for_update(write.txn(), viewer, id).await?;
        let Some(agency) = agency::Entity::find_by_id(invitation.agency_id)
            .lock_exclusive()
            .one(write.txn())
            .await?
        else {
            return Err(DomainError::refused(Refusal::not_found(
                &["id"],
                "invitation",
            )));
        };
        let now = Utc::now();
        match effective_status(&invitation, now) {
            Status::Pending => {}
            Status::Expired => return Err(refused(RefusalCode::InvitationExpired, &["id"])),
            _ => return Err(refused(RefusalCode::InvitationNotPending, &["id"])),
        }
        let already_member = membership::Entity::find()
            .filter(membership::Column::CreatorId.eq(creator_id))
            .count(write.txn())
            .await?
            > 0;
        if already_member {
            return Err(refused(RefusalCode::AlreadyInAgency, &["id"]));
        }
        if member_count(write.txn(), agency.id).await? >= i64::from(agency.capacity) {
            return Err(refused(RefusalCode::AgencyAtCapacity, &["id"]));
        }
        let Some(accepted) = transition(write.txn(), id, Status::Accepted, now).await? else {
            return Err(refused(RefusalCode::InvitationNotPending, &["id"]));
        };
        let membership_id = Uuid::now_v7();
        membership::ActiveModel {
            id: Set(membership_id),
            agency_id: Set(agency.id),
            creator_id: Set(creator_id),
            joined_at: Set(now),
        }
        .insert(write.txn())
        .await
        .map_err(|e| {
            on_violation(e, UniqueRule::OneMembershipPerCreator, || {
                Refusal::new(
                    RefusalCode::AlreadyInAgency,
                    &["id"],
                    refusal_message(RefusalCode::AlreadyInAgency),
                )
            })
        })?;
        write.link_changed(
            ChangeKind::MembershipCreated,
            membership_id,
            creator_id,
            agency.id,
        );
        let mut events = vec![InvitationEvent::new(
            EventKind::Accepted,
            accepted.clone(),
            now,
        )];
        // The creator's other invitations end: those already past their
        // expiry as EXPIRED (what they are, swept or not), the rest CANCELLED.
        events.extend(expire(write.txn(), Expiring::OfCreator(creator_id), now).await?);
        let cancelled = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value(Status::Cancelled))
            .col_expr(invitation::Column::RespondedAt, Expr::value(now))
            .filter(invitation::Column::CreatorId.eq(creator_id))
            .filter(status_condition(Status::Pending, now))
            .filter(invitation::Column::Id.ne(id))
            .exec_with_returning(write.txn())
            .await?;
        events.extend(
            cancelled
                .into_iter()
                .map(|inv| InvitationEvent::new(EventKind::Cancelled, inv, now)),
        );
        write.emit(events);
        write.commit().await?;
        Ok(accepted)
    }

    /// The invitation, locked, if the viewer may see it; else NOT_FOUND
    /// exactly as if it did not exist.
    async fn visible_for_update(
        &self,
        txn: &DatabaseTransaction,
        viewer: &Viewer,
        id: Uuid,
    ) -> DomainResult<invitation::Model> {
        invitation::Entity::find_by_id(id)
            .lock_exclusive()
            .one(txn)
            .await?
            .filter(|inv| visible_to(viewer, inv))
            .ok_or_else(|| DomainError::refused(Refusal::not_found(&["id"], "invitation")))
    }

    /// Persists the expiry of every PENDING invitation past `expires_at`
    /// and emits EXPIRED for each; returns how many.
    pub async fn sweep_expired(&self) -> DomainResult<usize> {
        retrying(move || async move {
            let mut write = self.domain.begin_write().await?;
            let now = Utc::now();
            let events = expire(write.txn(), Expiring::All, now).await?;
            let n = events.len();
            write.emit(events);
            write.commit().await?;
            Ok(n)
        })
        .await
    }
}

/// Whose invitations a list shows.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Creator(Uuid),
    Agency(Uuid),
}

/// Who may list whose invitations: the creator themself, the agency itself,
/// admins.
pub fn require_list_access(viewer: &Viewer, owner: Owner) -> DomainResult<()> {
    match owner {
        Owner::Creator(id) => viewer.require_creator(id),
        Owner::Agency(id) => viewer.require_agency(id),
    }
}

async fn by_idempotency_key(
    conn: &impl ConnectionTrait,
    agency_id: Uuid,
    key: &str,
) -> Result<Option<invitation::Model>, DbErr> {
    invitation::Entity::find()
        .filter(invitation::Column::AgencyId.eq(agency_id))
        .filter(invitation::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// PENDING → `to` if still PENDING and unexpired; `None` if another
/// writer got there first.
async fn transition(
    txn: &DatabaseTransaction,
    id: Uuid,
    to: Status,
    now: DateTime<Utc>,
) -> Result<Option<invitation::Model>, DbErr> {
    let mut updated = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(to))
        .col_expr(invitation::Column::RespondedAt, Expr::value(now))
        .filter(invitation::Column::Id.eq(id))
        .filter(status_condition(Status::Pending, now))
        .exec_with_returning(txn)
        .await?;
    Ok(updated.pop())
}

/// Which PENDING invitations past their expiry to persist as EXPIRED.
#[derive(Debug, Clone, Copy)]
enum Expiring {
    All,
    /// Agency, creator.
    Pair(Uuid, Uuid),
    OfCreator(Uuid),
}

/// Marks PENDING invitations past their expiry EXPIRED and returns their
/// events.
async fn expire(
    txn: &DatabaseTransaction,
    which: Expiring,
    now: DateTime<Utc>,
) -> Result<Vec<InvitationEvent>, DbErr> {
    let mut update = invitation::Entity::update_many()
        .col_expr(invitation::Column::Status, Expr::value(Status::Expired))
        .filter(invitation::Column::Status.eq(Status::Pending))
        .filter(invitation::Column::ExpiresAt.lte(now));
    match which {
        Expiring::All => {}
        Expiring::Pair(agency_id, creator_id) => {
            update = update
                .filter(invitation::Column::AgencyId.eq(agency_id))
                .filter(invitation::Column::CreatorId.eq(creator_id));
        }
        Expiring::OfCreator(creator_id) => {
            update = update.filter(invitation::Column::CreatorId.eq(creator_id));
        }
    }
    Ok(update
        .exec_with_returning(txn)
        .await?
        .into_iter()
        .map(|inv| InvitationEvent::new(EventKind::Expired, inv, now))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(parse_message(None), Ok(None));
        assert_eq!(parse_message(Some("   ")), Ok(None));
        assert_eq!(
            parse_message(Some(" Hi\n\tthere ")),
            Ok(Some("Hi\n\tthere".into()))
        );
        assert!(parse_message(Some(&"é".repeat(500))).is_ok());
        assert!(parse_message(Some(&"é".repeat(501))).is_err());
        assert!(parse_message(Some("bell\u{7}")).is_err());
        assert!(parse_message(Some("nul\u{0}")).is_err());
    }
}
