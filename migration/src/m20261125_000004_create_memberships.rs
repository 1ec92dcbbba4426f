use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_creators::Creators;
use crate::m20261125_000002_create_agencies::Agencies;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(pk_uuid(Memberships::Id))
                    .col(uuid(Memberships::AgencyId))
                    // One membership per creator, whatever the race.
                    .col(uuid_uniq(Memberships::CreatorId))
                    .col(timestamp_with_time_zone(Memberships::JoinedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_agency")
                            .from(Memberships::Table, Memberships::AgencyId)
                            .to(Agencies::Table, Agencies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_creator")
                            .from(Memberships::Table, Memberships::CreatorId)
                            .to(Creators::Table, Creators::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_memberships_agency")
                    .table(Memberships::Table)
                    .col(Memberships::AgencyId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Memberships::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Memberships {
    Table,
    Id,
    AgencyId,
    CreatorId,
    JoinedAt,
}
