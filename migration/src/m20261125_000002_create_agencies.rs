use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agencies::Table)
                    .col(pk_uuid(Agencies::Id))
                    .col(string_len_uniq(Agencies::Slug, 40))
                    .col(string_len(Agencies::Name, 100))
                    .col(string_len(Agencies::Regions, 64))
                    .col(string_len(Agencies::Languages, 128))
                    .col(string_len(Agencies::Specialties, 160))
                    .col(integer(Agencies::Capacity))
                    .col(integer(Agencies::DailyInviteLimit).default(50))
                    .col(boolean(Agencies::Verified).default(false))
                    .col(timestamp_with_time_zone(Agencies::CreatedAt))
                    .col(timestamp_with_time_zone(Agencies::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Agencies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Agencies {
    Table,
    Id,
    Slug,
    Name,
    Regions,
    Languages,
    Specialties,
    Capacity,
    DailyInviteLimit,
    Verified,
    CreatedAt,
    UpdatedAt,
}
