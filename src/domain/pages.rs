//! Pages of a list for many parents at once: one statement per list for all
//! the parents of a level (the invitations of twenty agencies, their
//! members), each parent's keyset page a `UNION ALL` part of its own,
//! which SQLite and PostgreSQL both run, and one grouped count when totals
//! are asked for. Callers authorise each
//! parent first; the DataLoaders of the GraphQL layer batch the calls.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};
use entity::{creator, membership};
use sea_orm::sea_query::{Alias, Asterisk, Expr, Order, Query, UnionType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic,
    Iterable, JoinType, QueryFilter, QueryResult, QuerySelect, QueryTrait, RelationTrait,
};
use uuid::Uuid;

use super::Page;
use super::invitations::status_condition;

/// Whose invitations a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationParent {
    Creator,
    Agency,
}

impl InvitationParent {
    fn column(self) -> invitation::Column {
        match self {
            InvitationParent::Creator => invitation::Column::CreatorId,
            InvitationParent::Agency => invitation::Column::AgencyId,
        }
    }

    fn of(self, inv: &invitation::Model) -> Uuid {
        match self {
            InvitationParent::Creator => inv.creator_id,
            InvitationParent::Agency => inv.agency_id,
        }
    }
}

/// The arguments every parent's page shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageArgs {
    pub first: u64,
    /// The id (of the row the list orders by) the previous page ended at.
    pub after: Option<Uuid>,
    /// Whether `total` is wanted: one more statement.
    pub with_total: bool,
}

/// Parents per statement: SQLite joins at most 500 SELECTs in one
/// compound statement.
const PARENTS_PER_STATEMENT: usize = 500;

/// One statement per chunk of `parents`: for each parent, `of_parent`'s
/// rows filtered to that parent, the first `first + 1` in `order` (the page
/// and whether another follows), joined by `UNION ALL`. Each part is an
/// index range scan that stops after `first + 1` rows, however many rows
/// a parent has; a window over all of them (`ROW_NUMBER() OVER (PARTITION
/// BY parent)`) reads every one.
fn per_parent(
    of_parent: impl Fn(Uuid) -> sea_orm::sea_query::SelectStatement,
    parents: &[Uuid],
    order_by: impl sea_orm::sea_query::IntoColumnRef + Clone,
    order: Order,
    first: u64,
) -> Vec<sea_orm::sea_query::SelectStatement> {
    let part = |parent: Uuid| {
        let page = of_parent(parent)
            .order_by(order_by.clone(), order.clone())
            .limit(first + 1)
            .to_owned();
        // A part is wrapped: SQLite takes no ORDER BY or LIMIT on a
        // compound's parts themselves.
        Query::select()
            .column(Asterisk)
            .from_subquery(page, Alias::new("page"))
            .to_owned()
    };
    parents
        .chunks(PARENTS_PER_STATEMENT)
        .map(|chunk| {
            let mut statement = part(chunk[0]);
            for parent in &chunk[1..] {
                statement.union(UnionType::All, part(*parent));
            }
            statement
        })
        .collect()
}

/// Runs `statements`, their rows in `key` order (a compound statement's
/// row order is not specified).
async fn rows_of<M: FromQueryResult, K: Ord>(
    db: &impl ConnectionTrait,
    statements: Vec<sea_orm::sea_query::SelectStatement>,
    key: impl Fn(&M) -> K,
) -> Result<Vec<M>, DbErr> {
    let backend = db.get_database_backend();
    let mut rows = Vec::new();
    for statement in statements {
        rows.extend(
            M::find_by_statement(backend.build(&statement))
                .all(db)
                .await?,
        );
    }
    rows.sort_by_key(|row| key(row));
    Ok(rows)
}

/// Cuts `rows`, in list order, into each parent's page of `first`.
fn split<T>(rows: Vec<T>, first: u64, parent_of: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Page<T>> {
    let mut pages: HashMap<Uuid, Page<T>> = HashMap::new();
    for row in rows {
        let page = pages.entry(parent_of(&row)).or_default();
        if page.items.len() as u64 == first {
            page.has_next = true;
        } else {
            page.items.push(row);
        }
    }
    pages
}

/// The prefix of a joined creator's columns.
const CREATOR: &str = "creator_";

/// An invitation and, when asked for, its creator read in the same row.
pub type InvitationRow = (invitation::Model, Option<creator::Model>);

struct WithCreator(invitation::Model, creator::Model);

impl FromQueryResult for WithCreator {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self(
            invitation::Model::from_query_result(row, pre)?,
            creator::Model::from_query_result(row, CREATOR)?,
        ))
    }
}

/// Invitations of each of `parents`, newest first, filtered by `status`
/// as of `now`, each with its creator when `with_creators` (the same
/// statement: a query that shows them costs no level more). Parents with
/// none get an empty page.
pub async fn invitation_pages(
    db: &impl ConnectionTrait,
    parent: InvitationParent,
    parents: &[Uuid],
    status: Option<Status>,
    args: PageArgs,
    with_creators: bool,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Page<InvitationRow>>, DbErr> {
    let mut filter = Condition::all();
    if let Some(status) = status {
        filter = filter.add(status_condition(status, now));
    }
    let of_parent = |id: Uuid| {
        let mut page = invitation::Entity::find()
            .filter(filter.clone())
            .filter(parent.column().eq(id));
        if let Some(after) = args.after {
            page = page.filter(invitation::Column::Id.lt(after));
        }
        if with_creators {
            page = page.join(JoinType::InnerJoin, invitation::Relation::Creator.def());
            for column in creator::Column::iter() {
                page = page.column_as(
                    Expr::col((creator::Entity, column)),
                    format!("{CREATOR}{}", column.as_str()),
                );
            }
        }
        page.into_query()
    };
    let statements = per_parent(
        of_parent,
        parents,
        (invitation::Entity, invitation::Column::Id),
        Order::Desc,
        args.first,
    );
    let newest_first = |inv: &invitation::Model| std::cmp::Reverse(inv.id);
    let rows: Vec<InvitationRow> = if with_creators {
        rows_of(db, statements, |row: &WithCreator| newest_first(&row.0))
            .await?
            .into_iter()
            .map(|WithCreator(inv, creator)| (inv, Some(creator)))
            .collect()
    } else {
        rows_of(db, statements, newest_first)
            .await?
            .into_iter()
            .map(|inv| (inv, None))
            .collect()
    };
    let mut pages = split(rows, args.first, |row| parent.of(&row.0));
    if args.with_total {
        let counts: Vec<(Uuid, i64)> = invitation::Entity::find()
            .select_only()
            .column(parent.column())
            .column_as(invitation::Column::Id.count(), "n")
            .filter(filter.add(parent.column().is_in(parents.iter().copied())))
            .group_by(parent.column())
            .into_tuple()
            .all(db)
            .await?;
        fill_totals(&mut pages, counts);
    }
    fill_empty(&mut pages, parents);
    Ok(pages)
}

/// Members of each agency in `agencies`, in the order they joined, with
/// their membership ids (the cursor keys); no totals (an agency's member
/// count is its own read).
pub async fn member_pages(
    db: &impl ConnectionTrait,
    agencies: &[Uuid],
    args: PageArgs,
) -> Result<HashMap<Uuid, Page<(Uuid, creator::Model)>>, DbErr> {
    let of_agency = |id: Uuid| {
        let mut page = membership::Entity::find()
            .select_only()
            .column_as(
                Expr::col((membership::Entity, membership::Column::Id)),
                "membership_id",
            )
            .column_as(
                Expr::col((membership::Entity, membership::Column::AgencyId)),
                "membership_agency_id",
            )
            .join(JoinType::InnerJoin, membership::Relation::Creator.def())
            .filter(membership::Column::AgencyId.eq(id));
        for column in creator::Column::iter() {
            page = page.column_as(Expr::col((creator::Entity, column)), column.as_str());
        }
        if let Some(after) = args.after {
            page = page.filter(membership::Column::Id.gt(after));
        }
        page.into_query()
    };
    let statements = per_parent(
        of_agency,
        agencies,
        (membership::Entity, membership::Column::Id),
        Order::Asc,
        args.first,
    );
    let members = rows_of(db, statements, |m: &Member| m.membership_id).await?;
    let pages = split(members, args.first, |m| m.agency_id);
    let mut pages: HashMap<Uuid, Page<(Uuid, creator::Model)>> = pages
        .into_iter()
        .map(|(agency, page)| {
            let items = page
                .items
                .into_iter()
                .map(|m| (m.membership_id, m.creator))
                .collect();
            (
                agency,
                Page {
                    items,
                    has_next: page.has_next,
                    total: 0,
                },
            )
        })
        .collect();
    fill_empty(&mut pages, agencies);
    Ok(pages)
}

/// A member read with their membership, in one row.
struct Member {
    membership_id: Uuid,
    agency_id: Uuid,
    creator: creator::Model,
}

impl FromQueryResult for Member {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            membership_id: row.try_get(pre, "membership_id")?,
            agency_id: row.try_get(pre, "membership_agency_id")?,
            creator: creator::Model::from_query_result(row, pre)?,
        })
    }
}

fn fill_totals<T>(pages: &mut HashMap<Uuid, Page<T>>, counts: Vec<(Uuid, i64)>) {
    for (parent, n) in counts {
        pages.entry(parent).or_default().total = u64::try_from(n).unwrap_or(0);
    }
}

fn fill_empty<T>(pages: &mut HashMap<Uuid, Page<T>>, parents: &[Uuid]) {
    for parent in parents {
        pages.entry(*parent).or_default();
    }
}
