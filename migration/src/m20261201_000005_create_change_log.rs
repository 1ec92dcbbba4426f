//! The change log: one row per entity a committed write changed, in the
//! same transaction as the change. Every instance reads it by position to
//! keep its ranking index fresh with what other instances wrote.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeLog::Table)
                    .col(
                        big_integer(ChangeLog::Position)
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(string_len(ChangeLog::Kind, 32))
                    .col(uuid(ChangeLog::EntityId))
                    .col(uuid_null(ChangeLog::CreatorId))
                    .col(timestamp_with_time_zone(ChangeLog::CommittedAt))
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_change_log_committed_at")
                    .table(ChangeLog::Table)
                    .col(ChangeLog::CommittedAt)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres
            && has_transaction_ids(manager).await?
        {
            // A sequence value taken by a transaction that commits later can
            // be smaller than one already visible, so readers cannot trust
            // position alone: the writing transaction's id lets them re-read
            // everything no older transaction could still add to
            // (`pg_snapshot_xmin`). SQLite writers are serialised
            // (BEGIN IMMEDIATE), so positions commit in order there.
            // Engines without transaction ids (CockroachDB, YugabyteDB,
            // PostgreSQL before 13) get no column; their readers re-read a
            // time window instead.
            let conn = manager.get_connection();
            conn.execute_unprepared(
                "ALTER TABLE change_log ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id()",
            )
            .await?;
            conn.execute_unprepared("CREATE INDEX idx_change_log_txid ON change_log (txid)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ChangeLog::Table).to_owned())
            .await
    }
}

/// Whether the engine has PostgreSQL 13's transaction ids and snapshots.
async fn has_transaction_ids(manager: &SchemaManager<'_>) -> Result<bool, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS n FROM pg_catalog.pg_proc \
             WHERE proname IN ('pg_current_xact_id', 'pg_current_snapshot', 'pg_snapshot_xmin')",
        ))
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<i64>("", "n").ok())
        .unwrap_or(0)
        >= 3)
}

#[derive(DeriveIden)]
pub enum ChangeLog {
    Table,
    Position,
    Kind,
    EntityId,
    CreatorId,
    CommittedAt,
}
