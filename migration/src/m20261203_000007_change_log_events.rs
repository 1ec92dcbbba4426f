//! The change log carries each invitation event it records, so instances
//! can relay events to their subscribers by reading the log alone (engines
//! without LISTEN/NOTIFY; `--events-via change-log`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261201_000005_create_change_log::ChangeLog;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Event {
    Event,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeLog::Table)
                    .add_column(text_null(Event::Event))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChangeLog::Table)
                    .drop_column(Event::Event)
                    .to_owned(),
            )
            .await
    }
}
