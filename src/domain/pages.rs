//! Pages of a list for many parents at once: one statement per list for all
//! the parents of a level (the invitations of twenty agencies, their
//! members), each parent's keyset page cut by `ROW_NUMBER() OVER
//! (PARTITION BY parent ...)`, which SQLite and PostgreSQL both run, and
//! one grouped count when totals are asked for. Callers authorise each
//! parent first; the DataLoaders of the GraphQL layer batch the calls.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::invitation::{self, Status};
use entity::{creator, membership};
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, WindowStatement};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait,
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

const ROW: &str = "row_in_parent";

/// Keeps, of `inner`'s rows, the first `first + 1` of each parent in
/// `order`: the page and whether another follows.
fn per_parent(
    mut inner: sea_orm::sea_query::SelectStatement,
    parent: impl sea_orm::sea_query::IntoColumnRef + Clone,
    order_by: impl sea_orm::sea_query::IntoColumnRef + Clone,
    order: Order,
    first: u64,
) -> sea_orm::sea_query::SelectStatement {
    inner.expr_window_as(
        Expr::cust("ROW_NUMBER()"),
        WindowStatement::partition_by(parent)
            .order_by(order_by, order)
            .to_owned(),
        Alias::new(ROW),
    );
    Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("per_parent"))
        .and_where(Expr::col(Alias::new(ROW)).lte(first + 1))
        .to_owned()
}

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

/// Invitations of each of `parents`, newest first, filtered by `status`
/// as of `now`. Parents with none get an empty page.
pub async fn invitation_pages(
    db: &impl ConnectionTrait,
    parent: InvitationParent,
    parents: &[Uuid],
    status: Option<Status>,
    args: PageArgs,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, Page<invitation::Model>>, DbErr> {
    let mut filter = Condition::all().add(parent.column().is_in(parents.iter().copied()));
    if let Some(status) = status {
        filter = filter.add(status_condition(status, now));
    }
    let mut inner = invitation::Entity::find().filter(filter.clone());
    if let Some(after) = args.after {
        inner = inner.filter(invitation::Column::Id.lt(after));
    }
    let outer = per_parent(
        inner.into_query(),
        parent.column(),
        invitation::Column::Id,
        Order::Desc,
        args.first,
    )
    .order_by(invitation::Column::Id, Order::Desc)
    .to_owned();
    let rows = invitation::Entity::find()
        .from_raw_sql(db.get_database_backend().build(&outer))
        .all(db)
        .await?;
    let mut pages = split(rows, args.first, |inv| parent.of(inv));
    if args.with_total {
        let counts: Vec<(Uuid, i64)> = invitation::Entity::find()
            .select_only()
            .column(parent.column())
            .column_as(invitation::Column::Id.count(), "n")
            .filter(filter)
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
/// their membership ids (the cursor keys).
pub async fn member_pages(
    db: &impl ConnectionTrait,
    agencies: &[Uuid],
    args: PageArgs,
) -> Result<HashMap<Uuid, Page<(Uuid, creator::Model)>>, DbErr> {
    let of_agencies = membership::Column::AgencyId.is_in(agencies.iter().copied());
    let mut inner = membership::Entity::find().filter(of_agencies.clone());
    if let Some(after) = args.after {
        inner = inner.filter(membership::Column::Id.gt(after));
    }
    let outer = per_parent(
        inner.into_query(),
        membership::Column::AgencyId,
        membership::Column::Id,
        Order::Asc,
        args.first,
    )
    .order_by(membership::Column::Id, Order::Asc)
    .to_owned();
    let memberships = membership::Entity::find()
        .from_raw_sql(db.get_database_backend().build(&outer))
        .all(db)
        .await?;
    let creators: HashMap<Uuid, creator::Model> = creator::Entity::find()
        .filter(creator::Column::Id.is_in(memberships.iter().map(|m| m.creator_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let rows: Vec<(Uuid, Uuid, creator::Model)> = memberships
        .into_iter()
        .filter_map(|m| Some((m.agency_id, m.id, creators.get(&m.creator_id)?.clone())))
        .collect();
    let mut pages: HashMap<Uuid, Page<(Uuid, creator::Model)>> =
        split(rows, args.first, |(agency, _, _)| *agency)
            .into_iter()
            .map(|(agency, page)| {
                (
                    agency,
                    Page {
                        items: page.items.into_iter().map(|(_, m, c)| (m, c)).collect(),
                        has_next: page.has_next,
                        total: 0,
                    },
                )
            })
            .collect();
    if args.with_total {
        let counts: Vec<(Uuid, i64)> = membership::Entity::find()
            .select_only()
            .column(membership::Column::AgencyId)
            .column_as(membership::Column::Id.count(), "n")
            .filter(of_agencies)
            .group_by(membership::Column::AgencyId)
            .into_tuple()
            .all(db)
            .await?;
        fill_totals(&mut pages, counts);
    }
    fill_empty(&mut pages, agencies);
    Ok(pages)
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
