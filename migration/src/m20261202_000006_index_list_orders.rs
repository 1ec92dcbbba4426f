//! Indexes for the orders lists are read in: invitations of an agency or a
//! creator newest first by id, members of an agency by membership id (the
//! keyset each page continues from, for every parent at once), and PENDING
//! invitations by expiry for the sweep.

use sea_orm_migration::prelude::*;

use crate::m20261125_000004_create_memberships::Memberships;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, [&str; 2]); 4] = [
    (
        "idx_invitations_agency_id_order",
        "invitations",
        ["agency_id", "id"],
    ),
    (
        "idx_invitations_creator_id_order",
        "invitations",
        ["creator_id", "id"],
    ),
    (
        "idx_memberships_agency_id_order",
        "memberships",
        ["agency_id", "id"],
    ),
    (
        "idx_invitations_status_expires",
        "invitations",
        ["status", "expires_at"],
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Alias::new(table));
            for column in columns {
                index.col(Alias::new(column));
            }
            manager.create_index(index.to_owned()).await?;
        }
        // Superseded: (agency_id, id) serves every read it did. The
        // (agency, created_at) index stays for the daily quota.
        manager
            .drop_index(
                Index::drop()
                    .name("idx_memberships_agency")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
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
}
