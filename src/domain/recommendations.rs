//! Recommendations: who may rank for an agency, what a ranking's arguments
//! may be, and which creators this agency must not be shown (its pending
//! invitations, its cooldowns). The order itself is [`crate::ranking`]'s.

use chrono::{DateTime, Duration, Utc};
use entity::invitation::{self, Status};
use entity::{agency, split_list};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::eligibility::COOLDOWN_DAYS;
use super::invitations::status_condition;
use super::values::{Category, Language, Region, parse_categories, parse_list};
use super::{Domain, DomainError, DomainResult, Refusal, Refusals, Viewer};
use crate::ranking::{self, Continuation, RankError, Ranking, SIGNAL_COUNT, Weights};

/// Longest `query` string, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// `recommendedCreators`' filter as the API received it.
#[derive(Debug, Default, Clone)]
pub struct FilterInput {
    pub regions: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    pub categories: Option<Vec<Category>>,
    pub min_followers: Option<i64>,
    pub max_followers: Option<i64>,
    pub min_avg_viewers: Option<f64>,
    pub min_live_days_30d: Option<i32>,
    pub query: Option<String>,
    pub include_invited: bool,
}

pub struct RecommendationQuery {
    pub agency_id: Uuid,
    pub filter: FilterInput,
    /// Per signal, in `Signal::ALL` order; `None` keeps the default.
    pub weights: [Option<f64>; SIGNAL_COUNT],
    pub diversity: Option<f64>,
    pub first: usize,
    /// The continuation token inside the API's cursor.
    pub after: Option<String>,
    pub now: DateTime<Utc>,
}

/// The API names of the weights, in `Signal::ALL` order.
pub const WEIGHT_FIELDS: [&str; SIGNAL_COUNT] = [
    "categoryFit",
    "languageMatch",
    "audience",
    "liveActivity",
    "viewers",
    "engagement",
    "momentum",
    "monetization",
    "freshness",
];

fn weights(raw: &[Option<f64>; SIGNAL_COUNT]) -> Result<Weights, Refusal> {
    let mut w = Weights::DEFAULT;
    for (i, v) in raw.iter().enumerate() {
        if let Some(v) = v {
            if !v.is_finite() || !(0.0..=f64::from(ranking::model::MAX_WEIGHT)).contains(v) {
                return Err(Refusal::invalid(
                    &["weights", WEIGHT_FIELDS[i]],
                    format!("{} must be between 0 and 10", WEIGHT_FIELDS[i]),
                ));
            }
            w.0[i] = *v as f32;
        }
    }
    w.validate()
        .map_err(|_| Refusal::invalid(&["weights"], "at least one weight must be above 0"))?;
    Ok(w)
}

fn diversity(raw: Option<f64>) -> Result<f32, Refusal> {
    match raw {
        None => Ok(0.0),
        Some(d) if d.is_finite() && (0.0..=1.0).contains(&d) => Ok(d as f32),
        Some(_) => Err(Refusal::invalid(
            &["diversity"],
            "diversity must be between 0 and 1",
        )),
    }
}

/// Normalises and checks the filter against the agency's markets; what
/// is wrong goes to `refusals` (the filter is then not to be used).
fn filter(
    raw: &FilterInput,
    agency_regions: &[String],
    refusals: &mut Refusals,
) -> ranking::Filter {
    let at = |field: &str| ["filter".to_owned(), field.to_owned()];
    let invalid = |field: &str, m: String| {
        let path = at(field);
        Refusal::invalid(&[path[0].as_str(), path[1].as_str()], m)
    };
    let regions = raw.regions.as_deref().and_then(|r| {
        let parsed = parse_list(r, "regions", 1..=10, Region::parse);
        let checked = parsed.and_then(|regions| {
            match regions
                .iter()
                .find(|r| !agency_regions.iter().any(|a| a == r.as_str()))
            {
                Some(outside) => Err(format!(
                    "{outside} is not one of the agency's regions ({})",
                    agency_regions.join(", ")
                )),
                None => Ok(regions.iter().map(|r| r.to_string()).collect()),
            }
        });
        refusals.check(checked.map_err(|m| invalid("regions", m)))
    });
    let languages = raw.languages.as_deref().and_then(|l| {
        refusals.check(
            parse_list(l, "languages", 1..=20, Language::parse)
                .map(|ls| ls.iter().map(|l| l.to_string()).collect())
                .map_err(|m| invalid("languages", m)),
        )
    });
    let categories = raw.categories.as_deref().and_then(|c| {
        refusals.check(
            parse_categories(c, "categories", 1..=Category::ALL.len())
                .map_err(|m| invalid("categories", m)),
        )
    });
    for (value, field) in [
        (raw.min_followers, "minFollowers"),
        (raw.max_followers, "maxFollowers"),
    ] {
        if value.is_some_and(|v| v < 0) {
            refusals.push(invalid(field, format!("{field} must be >= 0")));
        }
    }
    if let (Some(min), Some(max)) = (raw.min_followers, raw.max_followers)
        && min > max
    {
        refusals.push(invalid(
            "maxFollowers",
            "maxFollowers must not be below minFollowers".to_owned(),
        ));
    }
    if raw
        .min_avg_viewers
        .is_some_and(|v| !v.is_finite() || v < 0.0)
    {
        refusals.push(invalid(
            "minAvgViewers",
            "minAvgViewers must be a finite number >= 0".to_owned(),
        ));
    }
    if raw
        .min_live_days_30d
        .is_some_and(|d| !(0..=30).contains(&d))
    {
        refusals.push(invalid(
            "minLiveDays30d",
            "minLiveDays30d must be between 0 and 30".to_owned(),
        ));
    }
    let query = raw
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .and_then(|q| {
            let ok = q.chars().count() <= MAX_QUERY_CHARS && !q.chars().any(char::is_control);
            refusals.check(if ok {
                Ok(q.to_owned())
            } else {
                Err(invalid(
                    "query",
                    format!("query must be at most {MAX_QUERY_CHARS} printable characters"),
                ))
            })
        });
    ranking::Filter {
        regions,
        languages,
        categories,
        min_followers: raw.min_followers,
        max_followers: raw.max_followers,
        min_avg_viewers: raw.min_avg_viewers,
        min_live_days_30d: raw.min_live_days_30d,
        query,
    }
}

/// FNV-1a: a stable hash (the same on every instance and release) that
/// ties a cursor to the arguments it was made with.
fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

fn arguments_fingerprint(
    agency_id: Uuid,
    f: &ranking::Filter,
    include_invited: bool,
    w: &Weights,
    d: f32,
) -> u64 {
    let sorted = |v: &Option<Vec<String>>| {
        v.as_ref().map(|v| {
            let mut v = v.clone();
            v.sort();
            v.join(",")
        })
    };
    let categories = f.categories.as_ref().map(|c| {
        let mut names: Vec<&str> = c.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.join(",")
    });
    let text = format!(
        "{agency_id}|{:?}|{:?}|{categories:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{include_invited}",
        sorted(&f.regions),
        sorted(&f.languages),
        f.min_followers,
        f.max_followers,
        f.min_avg_viewers.map(f64::to_bits),
        f.min_live_days_30d,
        f.query.as_ref().map(|q| q.to_lowercase()),
    );
    let weights: Vec<u8> = w.0.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
    fingerprint(&[text.as_bytes(), &weights, &d.to_bits().to_le_bytes()])
}

pub struct RecommendationService<'a> {
    domain: &'a Domain,
}

impl<'a> RecommendationService<'a> {
    pub fn new(domain: &'a Domain) -> Self {
        Self { domain }
    }

    /// Ranks the agency's candidates; the agency itself or an admin only.
    pub async fn recommend(
        &self,
        viewer: &Viewer,
        q: RecommendationQuery,
    ) -> DomainResult<Ranking> {
        viewer.require_agency(q.agency_id)?;
        let started = std::time::Instant::now();
        let db = &self.domain.db;
        // Three independent reads, on three connections at once.
        let (agency, _, excluded) = tokio::try_join!(
            agency::Entity::find_by_id(q.agency_id).one(db),
            self.domain.apply_change_log(),
            self.excluded(q.agency_id, q.filter.include_invited, q.now),
        )?;
        let Some(agency) = agency else {
            return Err(DomainError::refused(Refusal::not_found(
                &["agencyId"],
                "agency",
            )));
        };
        let profile = ranking::Agency {
            regions: split_list(&agency.regions),
            languages: split_list(&agency.languages),
            specialties: Category::parse_stored(&agency.specialties),
        };
        let mut refusals = Refusals::default();
        let weights = refusals.check(weights(&q.weights));
        let diversity = refusals.check(diversity(q.diversity));
        let filter = filter(&q.filter, &profile.regions, &mut refusals);
        let after = match q.after.as_deref().map(Continuation::from_token) {
            Some(None) => {
                refusals.push(Refusal::invalid(&["after"], "not a cursor of this ranking"));
                None
            }
            other => other.flatten(),
        };
        refusals.into_result()?;
        let (Some(weights), Some(diversity)) = (weights, diversity) else {
            unreachable!("every None was recorded as a refusal");
        };
        let fingerprint = arguments_fingerprint(
            agency.id,
            &filter,
            q.filter.include_invited,
            &weights,
            diversity,
        );
        let index = self.domain.index.clone();
        let (first, now) = (q.first, q.now);
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The scan is CPU work for rayon's pool, not for the async runtime.
        rayon::spawn(move || {
            let request = ranking::Request {
                agency: &profile,
                filter: &filter,
                weights,
                diversity,
                first,
                after: after.as_ref(),
                now,
                excluded: &excluded,
                fingerprint,
            };
            let index = index.read();
            let _ = tx.send((index.rank(&request), index.len()));
        });
        let (ranked, scanned) = rx
            .await
            .map_err(|_| DomainError::Database(sea_orm::DbErr::Custom("ranking aborted".into())))?;
        if let Ok(ranking) = &ranked {
            let metrics = &self.domain.metrics;
            metrics
                .ranking_seconds
                .observe(started.elapsed().as_secs_f64());
            metrics
                .ranking_candidates
                .observe(ranking.total_candidates as f64);
            metrics.ranking_scanned.inc_by(scanned as u64);
        }
        ranked.map_err(|e| {
            let field = match e {
                RankError::BadDiversity => "diversity",
                RankError::ForeignCursor | RankError::TooDeep => "after",
            };
            DomainError::refused(Refusal::invalid(&[field], e.to_string()))
        })
    }

    /// Creators this agency must not be shown: those it has a PENDING
    /// invitation for (unless asked), those who declined it in the last
    /// 30 days.
    async fn excluded(
        &self,
        agency_id: Uuid,
        include_invited: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<Uuid>, sea_orm::DbErr> {
        use invitation::Column as I;
        let mut which = Condition::any().add(
            Condition::all()
                .add(I::Status.eq(Status::Declined))
                .add(I::RespondedAt.gt(now - Duration::days(COOLDOWN_DAYS))),
        );
        if !include_invited {
            which = which.add(status_condition(Status::Pending, now));
        }
        invitation::Entity::find()
            .select_only()
            .column(I::CreatorId)
            .filter(I::AgencyId.eq(agency_id))
            .filter(which)
            .into_tuple()
            .all(&self.domain.db)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_default_when_omitted_and_are_bounded() {
        assert_eq!(weights(&[None; SIGNAL_COUNT]).unwrap(), Weights::DEFAULT);
        let mut raw = [None; SIGNAL_COUNT];
        raw[8] = Some(10.5);
        assert_eq!(
            weights(&raw).unwrap_err().field,
            Some(vec!["weights".into(), "freshness".into()])
        );
        assert!(weights(&[Some(0.0); SIGNAL_COUNT]).is_err());
    }

    #[test]
    fn filter_regions_must_lie_within_the_agencys() {
        let agency = vec!["FR".to_owned(), "BE".to_owned()];
        let ok = FilterInput {
            regions: Some(vec![" fr ".into()]),
            ..Default::default()
        };
        let mut refusals = Refusals::default();
        assert_eq!(
            filter(&ok, &agency, &mut refusals).regions,
            Some(vec!["FR".into()])
        );
        assert!(refusals.into_result().is_ok());
        let outside = FilterInput {
            regions: Some(vec!["US".into()]),
            ..Default::default()
        };
        let mut refusals = Refusals::default();
        filter(&outside, &agency, &mut refusals);
        let Err(DomainError::Refused(refused)) = refusals.into_result() else {
            panic!("US is outside the agency's regions");
        };
        assert_eq!(
            refused[0].field,
            Some(vec!["filter".into(), "regions".into()])
        );
    }

    #[test]
    fn the_fingerprint_ignores_list_order_but_not_values() {
        let f = |regions: &[&str]| ranking::Filter {
            regions: Some(regions.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let id = Uuid::nil();
        let w = Weights::DEFAULT;
        let a = arguments_fingerprint(id, &f(&["FR", "BE"]), false, &w, 0.0);
        assert_eq!(
            a,
            arguments_fingerprint(id, &f(&["BE", "FR"]), false, &w, 0.0)
        );
        assert_ne!(a, arguments_fingerprint(id, &f(&["FR"]), false, &w, 0.0));
        assert_ne!(
            a,
            arguments_fingerprint(id, &f(&["FR", "BE"]), true, &w, 0.0)
        );
        assert_ne!(
            a,
            arguments_fingerprint(id, &f(&["FR", "BE"]), false, &w, 0.5)
        );
    }
}
