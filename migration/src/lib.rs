//! Schema migrations, run unchanged on SQLite and PostgreSQL.
//!
//! The invariants of the design are enforced here, by the database: unique
//! handle and slug, one membership per creator, one PENDING invitation per
//! (agency, creator) (a partial unique index, supported by both engines),
//! an idempotency key unique per agency, and foreign keys everywhere.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_creators;
mod m20261125_000002_create_agencies;
mod m20261125_000003_create_invitations;
mod m20261125_000004_create_memberships;
mod m20261201_000005_create_change_log;
mod m20261202_000006_index_list_orders;
mod m20261203_000007_change_log_events;
mod m20261204_000008_change_log_agency;
mod m20261205_000009_creators_fillfactor;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_creators::Migration),
            Box::new(m20261125_000002_create_agencies::Migration),
            Box::new(m20261125_000003_create_invitations::Migration),
            Box::new(m20261125_000004_create_memberships::Migration),
            Box::new(m20261201_000005_create_change_log::Migration),
            Box::new(m20261202_000006_index_list_orders::Migration),
            Box::new(m20261203_000007_change_log_events::Migration),
            Box::new(m20261204_000008_change_log_agency::Migration),
            Box::new(m20261205_000009_creators_fillfactor::Migration),
        ]
    }
}
