//! The change log names the agency an invitation or a membership concerns,
//! so every instance knows which agency's lists and counts a change
//! touched (kept answers are dropped by what they read, not all at once).
//! Rows written before it have none: readers treat them as touching
//! everything.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261201_000005_create_change_log::ChangeLog;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgencyId {
    AgencyId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeLog::Table)
                    .add_column(uuid_null(AgencyId::AgencyId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeLog::Table)
                    .drop_column(AgencyId::AgencyId)
                    .to_owned(),
            )
            .await
    }
}
