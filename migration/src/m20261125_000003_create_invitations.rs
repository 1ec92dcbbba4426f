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
                    .table(Invitations::Table)
                    .col(pk_uuid(Invitations::Id))
                    .col(uuid(Invitations::AgencyId))
                    .col(uuid(Invitations::CreatorId))
                    .col(string_len(Invitations::Status, 16))
                    .col(text_null(Invitations::Message))
                    .col(string_len_null(Invitations::IdempotencyKey, 128))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Invitations::RespondedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_agency")
                            .from(Invitations::Table, Invitations::AgencyId)
                            .to(Agencies::Table, Agencies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_invitations_creator")
                            .from(Invitations::Table, Invitations::CreatorId)
                            .to(Creators::Table, Creators::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_invitations_agency_created",
                [Invitations::AgencyId, Invitations::CreatedAt],
            ),
            (
                "idx_invitations_creator_created",
                [Invitations::CreatorId, Invitations::CreatedAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Invitations::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // NULL keys are distinct in a unique index on both engines, so only
        // invitations sent with a key are constrained.
        manager
            .create_index(
                Index::create()
                    .name("uq_invitations_agency_idempotency_key")
                    .table(Invitations::Table)
                    .col(Invitations::AgencyId)
                    .col(Invitations::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Partial unique indexes are plain SQL of the same spelling on SQLite
        // and PostgreSQL; sea-query's builder has no portable form for them.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_invitations_pending_agency_creator \
                 ON invitations (agency_id, creator_id) WHERE status = 'PENDING'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Invitations {
    Table,
    Id,
    AgencyId,
    CreatorId,
    Status,
    Message,
    IdempotencyKey,
    CreatedAt,
    ExpiresAt,
    RespondedAt,
}
