//! What a `serve --demo` server hands out: the demo accounts with tokens
//! signed by the public demo secret, and the ids the explorer's ready-made
//! operations start from. Read from the seeded data once the server is up;
//! the banner and the GraphiQL page both take them from here.

use std::time::Duration;

use chrono::Utc;

use entity::{creator, invitation};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::TokenKeys;
use crate::domain::agencies::AgencyService;
use crate::domain::creators::CreatorService;
use crate::domain::recommendations::{FilterInput, RecommendationQuery, RecommendationService};
use crate::domain::{Domain, Principal, Viewer};
use crate::ranking::SIGNAL_COUNT;
use crate::seed;

/// How long the demo tokens last.
const TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct DemoAccount {
    /// The slug, handle or admin name.
    pub name: String,
    pub principal: Principal,
    pub token: String,
}

pub struct DemoAccounts {
    pub agency: Option<DemoAccount>,
    pub creator: Option<DemoAccount>,
    pub admin: DemoAccount,
    /// The demo creator's PENDING invitation from the demo agency.
    pub pending_invitation: Option<Uuid>,
    /// The demo agency's best-ranked candidates, best first (a few).
    pub top_ranked: Vec<creator::Model>,
}

/// How many of the demo agency's candidates the ready-made operations name.
const TOP_RANKED: usize = 3;

impl DemoAccounts {
    pub async fn find(domain: &Domain, keys: &TokenKeys) -> anyhow::Result<Self> {
        let account = |name: String, principal: Principal| -> anyhow::Result<DemoAccount> {
            Ok(DemoAccount {
                token: keys.issue(&principal, TOKEN_TTL, None)?,
                name,
                principal,
            })
        };
        let agency = AgencyService::new(domain)
            .find_by_slug(seed::DEMO_AGENCY)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let creator = CreatorService::new(domain)
            .find_by_handle(seed::DEMO_CREATOR)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let top_ranked = match &agency {
            Some(agency) => top_ranked(domain, agency.id).await?,
            None => Vec::new(),
        };
        let pending_invitation = match (&agency, &creator) {
            (Some(agency), Some(creator)) => invitation::Entity::find()
                .filter(invitation::Column::AgencyId.eq(agency.id))
                .filter(invitation::Column::CreatorId.eq(creator.id))
                .filter(invitation::Column::Status.eq(invitation::Status::Pending))
                .one(&domain.db)
                .await?
                .map(|i| i.id),
            _ => None,
        };
        Ok(Self {
            agency: agency
                .map(|a| account(a.slug, Principal::Agency(a.id)))
                .transpose()?,
            creator: creator
                .map(|c| account(c.handle, Principal::Creator(c.id)))
                .transpose()?,
            admin: account(
                seed::DEMO_ADMIN.to_owned(),
                Principal::Admin(seed::DEMO_ADMIN.to_owned()),
            )?,
            pending_invitation,
            top_ranked,
        })
    }
}

/// The agency's first candidates, as `recommendedCreators` ranks them now.
async fn top_ranked(domain: &Domain, agency_id: Uuid) -> anyhow::Result<Vec<creator::Model>> {
    let viewer = Viewer::new(Principal::Agency(agency_id), None);
    let ranking = RecommendationService::new(domain)
        .recommend(
            &viewer,
            RecommendationQuery {
                agency_id,
                filter: FilterInput::default(),
                weights: [None; SIGNAL_COUNT],
                diversity: None,
                first: TOP_RANKED,
                after: None,
                now: Utc::now(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ids: Vec<Uuid> = ranking.items.iter().map(|r| r.id).collect();
    let mut creators = creator::Entity::find()
        .filter(creator::Column::Id.is_in(ids.clone()))
        .all(&domain.db)
        .await?;
    creators.sort_by_key(|c| ids.iter().position(|id| *id == c.id));
    Ok(creators)
}
