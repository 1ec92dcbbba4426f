//! PostgreSQL: creators' pages keep a fifth free, so that the stats
//! ingestion's updates (no indexed column changes) stay on their page as
//! heap-only tuples instead of writing a new entry in every index of the
//! table: the ingestion's UPDATE takes about half the time. Pages written
//! before keep their layout until rewritten (`VACUUM FULL creators`).
//! SQLite has no such setting.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE creators SET (fillfactor = 80)")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE creators RESET (fillfactor)")
                .await?;
        }
        Ok(())
    }
}
