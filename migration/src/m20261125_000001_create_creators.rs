use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Creators::Table)
                    .col(pk_uuid(Creators::Id))
                    .col(string_len_uniq(Creators::Handle, 24))
                    .col(string_len(Creators::DisplayName, 64))
                    .col(string_len(Creators::Region, 2))
                    .col(string_len(Creators::Languages, 128))
                    .col(string_len(Creators::Categories, 64))
                    .col(date(Creators::BirthDate))
                    .col(boolean(Creators::Discoverable).default(false))
                    .col(timestamp_with_time_zone_null(Creators::DiscoverableSince))
                    .col(big_integer(Creators::Followers).default(0))
                    .col(double(Creators::AvgViewers).default(0.0))
                    .col(big_integer(Creators::PeakViewers).default(0))
                    .col(double(Creators::LiveHours30d).default(0.0))
                    .col(integer(Creators::LiveDays30d).default(0))
                    .col(big_integer(Creators::Diamonds30d).default(0))
                    .col(double(Creators::FollowerGrowth30d).default(0.0))
                    .col(double(Creators::EngagementRate).default(0.0))
                    .col(timestamp_with_time_zone(Creators::StatsUpdatedAt))
                    .col(timestamp_with_time_zone(Creators::CreatedAt))
                    .col(timestamp_with_time_zone(Creators::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // The ranking index loads discoverable creators at start-up.
        manager
            .create_index(
                Index::create()
                    .name("idx_creators_discoverable")
                    .table(Creators::Table)
                    .col(Creators::Discoverable)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Creators::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Creators {
    Table,
    Id,
    Handle,
    DisplayName,
    Region,
    Languages,
    Categories,
    BirthDate,
    Discoverable,
    DiscoverableSince,
    Followers,
    AvgViewers,
    PeakViewers,
    #[sea_orm(iden = "live_hours_30d")]
    LiveHours30d,
    #[sea_orm(iden = "live_days_30d")]
    LiveDays30d,
    #[sea_orm(iden = "diamonds_30d")]
    Diamonds30d,
    #[sea_orm(iden = "follower_growth_30d")]
    FollowerGrowth30d,
    EngagementRate,
    StatsUpdatedAt,
    CreatedAt,
    UpdatedAt,
}
