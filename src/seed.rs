//! Deterministic fake data that looks like a LIVE market: followers with a
//! heavy tail, regions weighted by audience size, languages that go with
//! the region, and stats consistent with each other (viewers scale with
//! followers, diamonds with viewers and hours). Same seed, same data.
//!
//! Rows are generated and inserted in batches inside one transaction, which
//! keeps a million creators well under a minute on SQLite. What it wrote
//! is logged in the change log in that transaction
//! ([`crate::domain::writes::BulkLog`]), so servers already running on
//! the database rank the new creators and drop their kept answers at once.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{agency, creator, invitation, membership};
use fake::Fake;
use fake::faker::company::raw::CompanyName;
use fake::faker::name::raw::Name;
use fake::locales::{AR_SA, DE_DE, EN, FR_FR, IT_IT, JA_JP, PT_BR, TR_TR, ZH_CN};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use uuid::Uuid;

use crate::domain::Category;
use crate::domain::agencies::DEFAULT_DAILY_INVITE_LIMIT;
use crate::domain::values::Handle;
use crate::domain::writes::{BulkLog, ChangeKind};

/// Rows per INSERT: under SQLite's and PostgreSQL's bound-parameter limits.
const BATCH: usize = 1000;

/// (region, weight, main language).
const MARKETS: &[(&str, u32, &str)] = &[
    ("US", 20, "en"),
    ("BR", 10, "pt"),
    ("ID", 8, "id"),
    ("MX", 6, "es"),
    ("GB", 6, "en"),
    ("FR", 5, "fr"),
    ("DE", 5, "de"),
    ("PH", 5, "tl"),
    ("TR", 4, "tr"),
    ("JP", 4, "ja"),
    ("ES", 4, "es"),
    ("VN", 4, "vi"),
    ("TH", 4, "th"),
    ("IT", 3, "it"),
    ("SA", 3, "ar"),
    ("EG", 3, "ar"),
    ("KR", 3, "ko"),
    ("CA", 3, "en"),
    ("NG", 3, "en"),
    ("AU", 2, "en"),
    ("TW", 2, "zh"),
];

/// Categories by popularity on LIVE.
const CATEGORY_WEIGHTS: &[(Category, u32)] = &[
    (Category::Gaming, 18),
    (Category::Music, 14),
    (Category::Lifestyle, 12),
    (Category::Dance, 10),
    (Category::Beauty, 8),
    (Category::Comedy, 8),
    (Category::Fashion, 6),
    (Category::Food, 5),
    (Category::Fitness, 5),
    (Category::Education, 4),
    (Category::Sports, 4),
    (Category::Tech, 3),
    (Category::Travel, 3),
    (Category::Shopping, 3),
    (Category::Art, 3),
];

#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    pub creators: u32,
    pub agencies: u32,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct SeedReport {
    pub creators: u64,
    pub agencies: u64,
    pub memberships: u64,
    pub invitations: u64,
}

fn weighted<T: Copy>(rng: &mut StdRng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (item, w) in items {
        if pick < *w {
            return *item;
        }
        pick -= w;
    }
    items[items.len() - 1].0
}

fn market(rng: &mut StdRng) -> (&'static str, &'static str) {
    let total: u32 = MARKETS.iter().map(|m| m.1).sum();
    let mut pick = rng.random_range(0..total);
    for (region, w, lang) in MARKETS {
        if pick < *w {
            return (region, lang);
        }
        pick -= w;
    }
    ("US", "en")
}

fn display_name(rng: &mut StdRng, region: &str) -> String {
    match region {
        "FR" | "CA" if rng.random_bool(0.7) => Name(FR_FR).fake_with_rng(rng),
        "BR" => Name(PT_BR).fake_with_rng(rng),
        "DE" => Name(DE_DE).fake_with_rng(rng),
        "IT" => Name(IT_IT).fake_with_rng(rng),
        "JP" => Name(JA_JP).fake_with_rng(rng),
        "TR" => Name(TR_TR).fake_with_rng(rng),
        "SA" | "EG" => Name(AR_SA).fake_with_rng(rng),
        "TW" => Name(ZH_CN).fake_with_rng(rng),
        _ => Name(EN).fake_with_rng(rng),
    }
}

/// `first.last` in ASCII, then a base-36 serial that makes it unique.
fn handle_for(name: &str, serial: u64) -> String {
    let mut suffix = String::new();
    let mut n = serial;
    loop {
        suffix.insert(0, char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let mut base: String = deunicode_ascii(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '.'
            }
        })
        .collect();
    while base.contains("..") {
        base = base.replace("..", ".");
    }
    let base = base.trim_matches('.');
    let room = 24 - suffix.len() - 1;
    let base = if base.is_empty() {
        "live"
    } else {
        &base[..base.len().min(room)]
    };
    format!("{}_{suffix}", base.trim_end_matches('.'))
}

fn deunicode_ascii(s: &str) -> String {
    deunicode::deunicode(s)
}

fn categories(rng: &mut StdRng, max: usize) -> Vec<Category> {
    let n = rng.random_range(1..=max);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let c = weighted(rng, CATEGORY_WEIGHTS);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// One creator; `serial` makes the handle unique.
fn fake_creator(rng: &mut StdRng, serial: u64, now: DateTime<Utc>) -> creator::ActiveModel {
    let (region, lang) = market(rng);
    let name = display_name(rng, region);
    let mut languages = vec![lang];
    if lang != "en" && rng.random_bool(0.3) {
        languages.push("en");
    }
    if region == "US" && rng.random_bool(0.15) {
        languages.push("es");
    }
    // Pareto tail: most creators have a few hundred followers, a few millions.
    let u: f64 = rng.random_range(1e-9..1.0);
    let followers = (300.0 / u.powf(1.0 / 1.05)).min(40_000_000.0) as i64;
    let avg_viewers = (followers as f64 * rng.random_range(0.001..0.02))
        .round()
        .max(1.0);
    let peak_viewers = (avg_viewers * rng.random_range(1.5..6.0)) as i64;
    let live_days = (rng.random::<f64>().powf(0.8) * 30.0).round() as i32;
    let live_hours = (live_days as f64 * rng.random_range(0.5..4.0) * 10.0).round() / 10.0;
    let diamonds = (avg_viewers * live_hours * rng.random_range(0.0..3.0)) as i64;
    let growth = ((rng.random::<f64>() - 0.25) * 0.4 * 1000.0).round() / 1000.0;
    let engagement = (rng.random_range(0.01..0.25f64) * 1000.0).round() / 1000.0;
    let discoverable = rng.random_bool(0.4);
    let age_days = rng.random_range(16 * 365..45 * 365);
    let birth_date = (now - Duration::days(age_days)).date_naive();
    let created_at = now - Duration::days(rng.random_range(30..1500));
    let since = discoverable.then(|| now - Duration::minutes(rng.random_range(10..60 * 24 * 90)));
    creator::ActiveModel {
        id: Set(Uuid::now_v7()),
        handle: Set(handle_for(&name, serial)),
        display_name: Set(name.chars().take(64).collect()),
        region: Set(region.to_owned()),
        languages: Set(languages.join(",")),
        categories: Set(Category::join(&categories(rng, 3))),
        birth_date: Set(birth_date),
        discoverable: Set(discoverable),
        discoverable_since: Set(since),
        followers: Set(followers),
        avg_viewers: Set(avg_viewers),
        peak_viewers: Set(peak_viewers),
        live_hours_30d: Set(live_hours),
        live_days_30d: Set(live_days),
        diamonds_30d: Set(diamonds),
        follower_growth_30d: Set(growth),
        engagement_rate: Set(engagement),
        stats_updated_at: Set(now - Duration::hours(rng.random_range(1..48))),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    }
}

fn slugify(name: &str, serial: u64) -> String {
    let mut slug: String = deunicode_ascii(name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while slug.contains("--") {
        slug = slug.replace("--", "-");
    }
    let suffix = format!("-{serial}");
    let base = slug.trim_matches('-');
    let base = &base[..base.len().min(40 - suffix.len())];
    format!("{}{suffix}", base.trim_end_matches('-'))
}

fn fake_agency(rng: &mut StdRng, serial: u64, now: DateTime<Utc>) -> agency::ActiveModel {
    let company: String = CompanyName(EN).fake_with_rng(rng);
    let name = format!("{company} Talent");
    let n_regions = rng.random_range(1..=4);
    let mut regions: Vec<&str> = Vec::new();
    let mut languages: Vec<&str> = Vec::new();
    while regions.len() < n_regions {
        let (r, l) = market(rng);
        if !regions.contains(&r) {
            regions.push(r);
        }
        if !languages.contains(&l) {
            languages.push(l);
        }
    }
    let created_at = now - Duration::days(rng.random_range(30..2000));
    agency::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slugify(&company, serial)),
        name: Set(name.chars().take(100).collect()),
        regions: Set(regions.join(",")),
        languages: Set(languages.join(",")),
        specialties: Set(Category::join(&categories(rng, 4))),
        capacity: Set(rng.random_range(50..2000)),
        daily_invite_limit: Set(DEFAULT_DAILY_INVITE_LIMIT),
        verified: Set(rng.random_bool(0.6)),
        created_at: Set(created_at),
        updated_at: Set(created_at),
    }
}

/// Generates and inserts `plan`'s data; returns how many rows of each.
pub async fn seed(db: &DatabaseConnection, plan: SeedPlan) -> anyhow::Result<SeedReport> {
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let txn = crate::domain::write_txn(db).await?;
    // Serials continue after existing rows so a second seed never collides.
    let creator_base = creator::Entity::find().count(&txn).await?;
    let agency_base = agency::Entity::find().count(&txn).await?;
    let mut report = SeedReport::default();

    let agencies: Vec<agency::ActiveModel> = (0..plan.agencies)
        .map(|i| fake_agency(&mut rng, agency_base + u64::from(i), now))
        .collect();
    let agency_ids: Vec<(Uuid, i32)> = agencies
        .iter()
        .map(|a| (*a.id.as_ref(), *a.capacity.as_ref()))
        .collect();
    let mut log = BulkLog::default();
    for a in &agency_ids {
        log.agency_changed(ChangeKind::AgencyCreated, a.0);
    }
    for chunk in agencies.chunks(BATCH) {
        agency::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    report.agencies = agency_ids.len() as u64;

    let mut seats: Vec<i32> = agency_ids.iter().map(|(_, cap)| cap / 2).collect();
    // Agencies recruit within their regions: members and invitations only
    // pair a creator with an agency of their market.
    let mut recruiters: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for (i, a) in agencies.iter().enumerate() {
        for region in a.regions.as_ref().split(',') {
            recruiters.entry(region.to_owned()).or_default().push(i);
        }
    }
    let today = now.date_naive();
    let mut done = 0u32;
    while done < plan.creators {
        let n = (plan.creators - done).min(BATCH as u32);
        let batch: Vec<creator::ActiveModel> = (0..n)
            .map(|i| fake_creator(&mut rng, creator_base + u64::from(done + i), now))
            .collect();
        let mut members = Vec::new();
        let mut invites = Vec::new();
        for c in &batch {
            let Some(local) = recruiters.get(c.region.as_ref()) else {
                continue;
            };
            let creator_id = *c.id.as_ref();
            let a = local[rng.random_range(0..local.len())];
            let adult = c
                .birth_date
                .as_ref()
                .checked_add_months(chrono::Months::new(18 * 12))
                .is_some_and(|d| d <= today);
            if rng.random_bool(0.03) && seats[a] > 0 {
                seats[a] -= 1;
                members.push(membership::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    agency_id: Set(agency_ids[a].0),
                    creator_id: Set(creator_id),
                    joined_at: Set(now - Duration::days(rng.random_range(1..400))),
                });
            } else if *c.discoverable.as_ref() && adult && rng.random_bool(0.05) {
                invites.push(fake_invitation(&mut rng, agency_ids[a].0, creator_id, now));
            }
        }
        for c in &batch {
            log.creator_changed(ChangeKind::CreatorCreated, *c.id.as_ref());
        }
        for m in &members {
            log.link_changed(
                ChangeKind::MembershipCreated,
                *m.id.as_ref(),
                *m.creator_id.as_ref(),
                *m.agency_id.as_ref(),
            );
        }
        for i in &invites {
            log.link_changed(
                ChangeKind::InvitationCreated,
                *i.id.as_ref(),
                *i.creator_id.as_ref(),
                *i.agency_id.as_ref(),
            );
        }
        creator::Entity::insert_many(batch).exec(&txn).await?;
        report.memberships += members.len() as u64;
        report.invitations += invites.len() as u64;
        if !members.is_empty() {
            membership::Entity::insert_many(members).exec(&txn).await?;
        }
        if !invites.is_empty() {
            invitation::Entity::insert_many(invites).exec(&txn).await?;
        }
        done += n;
    }
    report.creators = u64::from(done);
    log.append(&txn).await?;
    txn.commit().await?;
    // Statistics for the planner now, not whenever autovacuum (if it runs
    // at all) next looks: a page of invitations for twenty agencies was
    // planned as a scan of the whole table without them.
    db.execute_unprepared("ANALYZE").await?;
    Ok(report)
}

fn fake_invitation(
    rng: &mut StdRng,
    agency_id: Uuid,
    creator_id: Uuid,
    now: DateTime<Utc>,
) -> invitation::ActiveModel {
    use entity::invitation::Status;
    let created_at = now - Duration::hours(rng.random_range(1..24 * 20));
    let expires_at = created_at + Duration::days(7);
    let status = if expires_at <= now {
        [Status::Declined, Status::Expired][rng.random_range(0..2)]
    } else {
        Status::Pending
    };
    let responded_at =
        (status == Status::Declined).then(|| created_at + Duration::hours(rng.random_range(1..48)));
    invitation::ActiveModel {
        id: Set(Uuid::now_v7()),
        agency_id: Set(agency_id),
        creator_id: Set(creator_id),
        status: Set(status),
        message: Set(Some(
            "We'd love to help you grow your LIVE audience.".to_owned(),
        )),
        idempotency_key: Set(None),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
        responded_at: Set(responded_at),
    }
}

/// Fixed accounts the demo prints tokens for.
pub const DEMO_CREATOR: &str = "demo.creator";
pub const DEMO_AGENCY: &str = "demo-agency";
pub const DEMO_ADMIN: &str = "demo";

/// Seeds an empty database for `serve --demo`: a market of fake creators
/// and agencies plus the demo accounts. Returns false if it had data.
pub async fn seed_demo(db: &DatabaseConnection) -> anyhow::Result<bool> {
    if creator::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    seed(
        db,
        SeedPlan {
            creators: 2000,
            agencies: 25,
            seed: 7,
        },
    )
    .await?;
    let now = Utc::now();
    let mut rng = StdRng::seed_from_u64(7_007);
    let mut me = fake_creator(&mut rng, 0, now);
    me.handle = Set(Handle::parse(DEMO_CREATOR)
        .map_err(anyhow::Error::msg)?
        .to_string());
    me.display_name = Set("Demo Creator".to_owned());
    me.region = Set("FR".to_owned());
    me.languages = Set("fr,en".to_owned());
    me.birth_date = Set(NaiveDate::from_ymd_opt(1998, 5, 17).unwrap_or_default());
    me.discoverable = Set(true);
    me.discoverable_since = Set(Some(now - Duration::days(2)));
    let creator_id = *me.id.as_ref();
    let mut agency = fake_agency(&mut rng, 0, now);
    agency.slug = Set(DEMO_AGENCY.to_owned());
    agency.name = Set("Demo Agency".to_owned());
    agency.regions = Set("FR,US,GB,BR,DE".to_owned());
    agency.languages = Set("fr,en,pt,de".to_owned());
    agency.verified = Set(true);
    let agency_id = *agency.id.as_ref();
    let txn = crate::domain::write_txn(db).await?;
    creator::Entity::insert(me).exec(&txn).await?;
    agency::Entity::insert(agency).exec(&txn).await?;
    let mut invite = fake_invitation(&mut rng, agency_id, creator_id, now);
    let mut log = BulkLog::default();
    log.creator_changed(ChangeKind::CreatorCreated, creator_id);
    log.agency_changed(ChangeKind::AgencyCreated, agency_id);
    log.link_changed(
        ChangeKind::InvitationCreated,
        *invite.id.as_ref(),
        creator_id,
        agency_id,
    );
    invite.status = Set(entity::invitation::Status::Pending);
    invite.created_at = Set(now - Duration::hours(3));
    invite.expires_at = Set(now + Duration::days(7) - Duration::hours(3));
    invite.responded_at = Set(None);
    invitation::Entity::insert(invite).exec(&txn).await?;
    log.append(&txn).await?;
    txn.commit().await?;
    Ok(true)
}

/// Whether a connection can see the schema (for a clear `token` error).
pub async fn has_schema(db: &impl ConnectionTrait) -> bool {
    creator::Entity::find().count(db).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_handles_and_slugs_are_valid_and_unique_per_serial() {
        let mut rng = StdRng::seed_from_u64(1);
        let now = Utc::now();
        let mut handles = std::collections::HashSet::new();
        for serial in 0..2000 {
            let c = fake_creator(&mut rng, serial, now);
            let h = c.handle.as_ref().clone();
            assert!(Handle::parse(&h).is_ok(), "{h}");
            assert!(handles.insert(h));
        }
        let long = handle_for("Ünïcödé Ñame With A Very Long Surname", 1_000_000);
        assert!(long.len() <= 24 && Handle::parse(&long).is_ok(), "{long}");
        for serial in [0, 7, 123_456] {
            let a = fake_agency(&mut rng, serial, now);
            assert!(crate::domain::values::Slug::parse(a.slug.as_ref()).is_ok());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_market() {
        let now = Utc::now();
        let a = fake_creator(&mut StdRng::seed_from_u64(9), 0, now);
        let b = fake_creator(&mut StdRng::seed_from_u64(9), 0, now);
        assert_eq!(a.handle, b.handle);
        assert_eq!(a.followers, b.followers);
    }
}
