//! The ranking against a naive oracle (every record scored from its raw
//! fields, fully sorted), and the properties pages and diversity promise.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use super::model::{self, quantise};
use super::*;
use crate::domain::Category;

const REGIONS: [&str; 4] = ["FR", "US", "BR", "DE"];
const LANGUAGES: [&str; 5] = ["fr", "en", "pt", "de", "es"];

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

fn record(n: u128, seed: u64) -> CreatorRecord {
    // A cheap deterministic spread of attributes.
    let x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add((n as u64).wrapping_mul(1442695040888963407));
    let pick = |shift: u32, m: u64| ((x >> shift) % m) as usize;
    let cats = [Category::ALL[pick(3, 15)], Category::ALL[pick(9, 15)]];
    let categories: Vec<Category> = if cats[0] == cats[1] {
        vec![cats[0]]
    } else {
        cats.to_vec()
    };
    CreatorRecord {
        id: Uuid::from_u128(n + 1),
        handle: format!("creator_{n}"),
        display_name: format!("Name {}", pick(20, 50)),
        region: REGIONS[pick(1, 4)].into(),
        languages: vec![LANGUAGES[pick(5, 5)].into()],
        categories,
        adult_on: NaiveDate::from_ymd_opt(2000 + pick(13, 30) as i32, 1, 1),
        discoverable_since: now() - Duration::hours(pick(17, 500) as i64),
        followers: (pick(25, 1000) * pick(30, 1000)) as i64,
        avg_viewers: pick(35, 500) as f64,
        live_hours_30d: pick(40, 150) as f64,
        live_days_30d: pick(45, 31) as i32,
        diamonds_30d: (pick(50, 1000) * 100) as i64,
        follower_growth_30d: pick(55, 100) as f64 / 100.0 - 0.3,
        engagement_rate: pick(58, 30) as f64 / 100.0,
    }
}

fn agency() -> Agency {
    Agency {
        regions: vec!["FR".into(), "US".into(), "BR".into()],
        languages: vec!["fr".into(), "en".into()],
        specialties: vec![Category::Gaming, Category::Music],
    }
}

fn request<'a>(
    agency: &'a Agency,
    filter: &'a Filter,
    first: usize,
    after: Option<&'a Continuation>,
) -> Request<'a> {
    Request {
        agency,
        filter,
        weights: Weights::DEFAULT,
        diversity: 0.0,
        first,
        after,
        now: now(),
        excluded: &[],
        fingerprint: 7,
    }
}

/// Score from the raw record, written out independently of the scan.
fn oracle_score(r: &CreatorRecord, agency: &Agency, weights: &Weights) -> f32 {
    let share = |a: usize, b: usize, shared: usize| {
        if shared == 0 {
            0.0
        } else {
            shared as f32 / a.min(b) as f32
        }
    };
    let cat_shared = r
        .categories
        .iter()
        .filter(|c| agency.specialties.contains(c))
        .count();
    let lang_shared = r
        .languages
        .iter()
        .filter(|l| agency.languages.contains(l))
        .count();
    // Static signals are stored in 16 bits; their factor carries the scale.
    let q = |v: f32| f32::from(quantise(v));
    let scale = f32::from(u16::MAX);
    let f = weights.factors();
    let terms = [
        f[0] * share(r.categories.len(), agency.specialties.len(), cat_shared),
        f[1] * share(r.languages.len(), agency.languages.len(), lang_shared),
        f[2] / scale * q(model::audience(r.followers)),
        f[3] / scale * q(model::live_activity(r.live_days_30d, r.live_hours_30d)),
        f[4] / scale * q(model::viewers(r.avg_viewers)),
        f[5] / scale * q(model::engagement(r.engagement_rate)),
        f[6] / scale * q(model::momentum(r.follower_growth_30d)),
        f[7] / scale * q(model::monetization(r.diamonds_30d)),
        f[8] * model::freshness(model::minutes(r.discoverable_since), model::minutes(now())),
    ];
    terms.iter().sum()
}

fn oracle_admits(r: &CreatorRecord, agency: &Agency, f: &Filter, excluded: &[Uuid]) -> bool {
    let regions = f.regions.as_ref().unwrap_or(&agency.regions);
    regions.contains(&r.region)
        && r.adult_on.is_some_and(|d| d <= now().date_naive())
        && f.categories
            .as_ref()
            .is_none_or(|cs| r.categories.iter().any(|c| cs.contains(c)))
        && f.languages
            .as_ref()
            .is_none_or(|ls| r.languages.iter().any(|l| ls.contains(l)))
        && f.min_followers.is_none_or(|m| r.followers >= m)
        && f.max_followers.is_none_or(|m| r.followers <= m)
        && f.min_avg_viewers.is_none_or(|m| r.avg_viewers >= m)
        && f.min_live_days_30d.is_none_or(|m| r.live_days_30d >= m)
        && f.query.as_ref().is_none_or(|q| {
            let q = q.to_lowercase();
            r.handle.to_lowercase().contains(&q) || r.display_name.to_lowercase().contains(&q)
        })
        && !excluded.contains(&r.id)
}

/// Every candidate in the pure order: (id, score).
fn oracle(
    records: &[CreatorRecord],
    agency: &Agency,
    f: &Filter,
    excluded: &[Uuid],
    w: &Weights,
) -> Vec<(Uuid, f32)> {
    let mut all: Vec<(Uuid, f32)> = records
        .iter()
        .filter(|r| oracle_admits(r, agency, f, excluded))
        .map(|r| (r.id, oracle_score(r, agency, w)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

fn arb_filter() -> impl Strategy<Value = Filter> {
    (
        proptest::option::of(proptest::sample::subsequence(vec!["FR", "US", "BR"], 1..=3)),
        proptest::option::of(proptest::sample::subsequence(LANGUAGES.to_vec(), 1..=2)),
        proptest::option::of(proptest::sample::subsequence(Category::ALL.to_vec(), 1..=3)),
        proptest::option::of(0i64..200_000),
        proptest::option::of(0i64..600_000),
        proptest::option::of(0.0f64..300.0),
        proptest::option::of(0i32..31),
        proptest::option::of(proptest::sample::select(vec![
            "name 1",
            "CREATOR_1",
            "4",
            "zzz",
        ])),
    )
        .prop_map(
            |(regions, languages, categories, min_f, max_f, min_v, min_d, query)| Filter {
                regions: regions.map(|r| r.into_iter().map(String::from).collect()),
                languages: languages.map(|l| l.into_iter().map(String::from).collect()),
                categories,
                min_followers: min_f,
                max_followers: max_f,
                min_avg_viewers: min_v,
                min_live_days_30d: min_d,
                query: query.map(String::from),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The parallel scan with per-chunk top-k, paged, equals a full sort.
    #[test]
    fn parallel_top_k_pages_equal_a_naive_full_sort(
        n in 0usize..40_000,
        seed in any::<u64>(),
        filter in arb_filter(),
        first in 1usize..60,
        weights in proptest::array::uniform9(0.0f32..10.0),
        excluded_every in 3usize..50,
    ) {
        let records: Vec<CreatorRecord> = (0..n as u128).map(|i| record(i, seed)).collect();
        let index = Index::from_records(records.clone());
        let agency = agency();
        let weights = if weights.iter().all(|w| *w == 0.0) { Weights::DEFAULT } else { Weights(weights) };
        let excluded: Vec<Uuid> = records.iter().step_by(excluded_every).map(|r| r.id).collect();
        let expected = oracle(&records, &agency, &filter, &excluded, &weights);
        let mut got = Vec::new();
        let mut after = None;
        for _ in 0..3 {
            let mut req = request(&agency, &filter, first, after.as_ref());
            req.weights = weights;
            req.excluded = &excluded;
            let page = index.rank(&req).unwrap();
            prop_assert_eq!(page.total_candidates as usize, expected.len());
            got.extend(page.items.iter().map(|r| (r.id, r.score)));
            prop_assert_eq!(page.has_next, got.len() < expected.len());
            match page.items.last() {
                Some(last) if page.has_next => after = Some(last.cursor.clone()),
                _ => break,
            }
        }
        let want: Vec<(Uuid, f32)> = expected.into_iter().take(got.len()).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn contributions_sum_to_the_score_and_every_signal_is_listed() {
    let records: Vec<CreatorRecord> = (0..500).map(|i| record(i, 3)).collect();
    let index = Index::from_records(records);
    let (agency, filter) = (agency(), Filter::default());
    let mut req = request(&agency, &filter, 50, None);
    req.weights.0[Signal::Momentum.index()] = 0.0;
    let page = index.rank(&req).unwrap();
    assert_eq!(page.items.len(), 50);
    for r in &page.items {
        let signals: Vec<Signal> = r.explanation.iter().map(|c| c.signal).collect();
        assert_eq!(signals, Signal::ALL.to_vec());
        let sum: f32 = r.explanation.iter().map(|c| c.contribution).sum();
        assert!((sum - r.score).abs() < 1e-5, "{sum} vs {}", r.score);
        assert!((0.0..=1.0).contains(&r.score));
        for c in &r.explanation {
            assert!((0.0..=1.0).contains(&c.value), "{c:?}");
        }
        let momentum = r.explanation[Signal::Momentum.index()];
        assert_eq!((momentum.weight, momentum.contribution), (0.0, 0.0));
        assert!(
            !r.reasons.is_empty() && r.reasons.len() <= 3,
            "{:?}",
            r.reasons
        );
    }
    let ranks: Vec<u32> = page.items.iter().map(|r| r.rank).collect();
    assert_eq!(ranks, (1..=50).collect::<Vec<_>>());
}

#[test]
fn a_single_weight_orders_by_that_signal_alone() {
    let records: Vec<CreatorRecord> = (0..2000).map(|i| record(i, 11)).collect();
    let index = Index::from_records(records);
    let (agency, filter) = (agency(), Filter::default());
    for signal in Signal::ALL {
        let mut req = request(&agency, &filter, 100, None);
        req.weights = Weights([0.0; SIGNAL_COUNT]);
        req.weights.0[signal.index()] = 1.0;
        let page = index.rank(&req).unwrap();
        let values: Vec<f32> = page
            .items
            .iter()
            .map(|r| r.explanation[signal.index()].value)
            .collect();
        assert!(
            values.windows(2).all(|w| w[0] >= w[1]),
            "{signal:?}: {values:?}"
        );
        for r in &page.items {
            assert!((r.score - r.explanation[signal.index()].value).abs() < 1e-6);
        }
    }
}

#[test]
fn a_fresh_opt_in_outranks_an_identical_older_one() {
    let mut old = record(1, 5);
    old.discoverable_since = now() - Duration::days(20);
    let mut fresh = old.clone();
    fresh.id = Uuid::from_u128(999);
    fresh.discoverable_since = now() - Duration::minutes(30);
    old.adult_on = NaiveDate::from_ymd_opt(2000, 1, 1);
    old.region = "FR".into();
    let mut fresh = old.clone();
    fresh.id = Uuid::from_u128(999);
    fresh.discoverable_since = now() - Duration::minutes(30);
    let index = Index::from_records([old, fresh.clone()]);
    let (agency, filter) = (agency(), Filter::default());
    let page = index.rank(&request(&agency, &filter, 2, None)).unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.items[0].id, fresh.id);
    let mut boosted = request(&agency, &filter, 1, None);
    boosted.weights.0[Signal::Freshness.index()] = 10.0;
    let page = index.rank(&boosted).unwrap();
    assert_eq!(
        page.items[0].reasons[0],
        "switched on Agency invitation within the hour"
    );
}

#[test]
fn later_pages_reuse_the_first_pages_instant() {
    let records: Vec<CreatorRecord> = (0..300).map(|i| record(i, 8)).collect();
    let index = Index::from_records(records);
    let (agency, filter) = (agency(), Filter::default());
    let first = index.rank(&request(&agency, &filter, 10, None)).unwrap();
    let cursor = first.items[4].cursor.clone();
    // A day later, the continuation still ranks as of the first page: the
    // items after rank 5 are exactly the first page's, scores included.
    let mut later = request(&agency, &filter, 5, Some(&cursor));
    later.now = now() + Duration::days(1);
    let second = index.rank(&later).unwrap();
    assert_eq!(second.as_of, first.as_of);
    let a: Vec<(Uuid, f32, u32)> = first.items[5..]
        .iter()
        .map(|r| (r.id, r.score, r.rank))
        .collect();
    let b: Vec<(Uuid, f32, u32)> = second
        .items
        .iter()
        .map(|r| (r.id, r.score, r.rank))
        .collect();
    assert_eq!(a, b);
}

#[test]
fn a_cursor_only_continues_the_ranking_it_came_from() {
    let index = Index::from_records((0..100).map(|i| record(i, 2)));
    let (agency, filter) = (agency(), Filter::default());
    let page = index.rank(&request(&agency, &filter, 3, None)).unwrap();
    let cursor = page.items[2].cursor.clone();
    let mut other = request(&agency, &filter, 3, Some(&cursor));
    other.fingerprint = 8;
    assert_eq!(index.rank(&other).unwrap_err(), RankError::ForeignCursor);
    let mut diverse = request(&agency, &filter, 3, Some(&cursor));
    diverse.diversity = 0.5;
    assert_eq!(index.rank(&diverse).unwrap_err(), RankError::ForeignCursor);
    assert_eq!(Continuation::from_token(&cursor.to_token()), Some(cursor));
    for bad in [
        "",
        "1",
        "2.7.0.0.p.0:0",
        "1.7.0.0.x.0:0",
        "1.7.0.0.d.99:1:0:0",
        "1.7.0.0.p.7fc00000:1",
    ] {
        assert_eq!(Continuation::from_token(bad), None, "{bad}");
    }
}

fn primary(index_records: &[CreatorRecord], id: Uuid) -> Category {
    index_records
        .iter()
        .find(|r| r.id == id)
        .unwrap()
        .categories[0]
}

#[test]
fn high_diversity_spreads_categories_and_zero_keeps_the_pure_order() {
    let records: Vec<CreatorRecord> = (0..3000).map(|i| record(i, 21)).collect();
    let index = Index::from_records(records.clone());
    let (agency, filter) = (agency(), Filter::default());
    let pure = index.rank(&request(&agency, &filter, 30, None)).unwrap();
    let mut zero = request(&agency, &filter, 30, None);
    zero.diversity = 0.0;
    let zero = index.rank(&zero).unwrap();
    let ids = |r: &Ranking| r.items.iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(&pure), ids(&zero));

    // Pure order: the agency's specialties fill the top.
    let top_pure: HashSet<Category> = pure.items.iter().map(|r| primary(&records, r.id)).collect();
    let mut diverse = request(&agency, &filter, 15, None);
    diverse.diversity = 0.9;
    let page = index.rank(&diverse).unwrap();
    let mut per_category = std::collections::HashMap::new();
    for r in &page.items {
        *per_category.entry(primary(&records, r.id)).or_insert(0) += 1;
    }
    assert!(
        per_category.len() > top_pure.len(),
        "{per_category:?} vs {top_pure:?}"
    );
    assert!(per_category.values().all(|n| *n <= 2), "{per_category:?}");
    // Scores stay the creators' own; ranks are positions.
    for (i, r) in page.items.iter().enumerate() {
        assert_eq!(r.rank, i as u32 + 1);
        let sum: f32 = r.explanation.iter().map(|c| c.contribution).sum();
        assert!((sum - r.score).abs() < 1e-5);
    }
}

#[test]
fn diversified_pages_neither_repeat_nor_skip() {
    let records: Vec<CreatorRecord> = (0..2000).map(|i| record(i, 4)).collect();
    let index = Index::from_records(records);
    let (agency, filter) = (agency(), Filter::default());
    let mut whole = request(&agency, &filter, 100, None);
    whole.diversity = 0.6;
    let whole = index.rank(&whole).unwrap();
    let mut paged = Vec::new();
    let mut after: Option<Continuation> = None;
    while paged.len() < 100 {
        let mut req = request(&agency, &filter, 7, after.as_ref());
        req.diversity = 0.6;
        let page = index.rank(&req).unwrap();
        paged.extend(page.items.iter().map(|r| (r.id, r.rank)));
        after = page.items.last().map(|r| r.cursor.clone());
    }
    paged.truncate(100);
    let want: Vec<(Uuid, u32)> = whole.items.iter().map(|r| (r.id, r.rank)).collect();
    assert_eq!(paged, want);
}

#[test]
fn a_diversified_ranking_stops_at_rank_1000() {
    let records: Vec<CreatorRecord> = (0..5000).map(|i| record(i, 9)).collect();
    let index = Index::from_records(records);
    let (agency, filter) = (agency(), Filter::default());
    let mut after: Option<Continuation> = None;
    let mut seen = 0;
    loop {
        let mut req = request(&agency, &filter, 100, after.as_ref());
        req.diversity = 0.3;
        let page = index.rank(&req).unwrap();
        seen += page.items.len();
        if !page.has_next {
            break;
        }
        after = page.items.last().map(|r| r.cursor.clone());
    }
    assert_eq!(seen, MAX_DIVERSE_RANK as usize);
    let mut deeper = request(&agency, &filter, 100, None);
    let mut cursor = Continuation::from_token("1.7.0.1000.d.").unwrap();
    cursor.as_of = now().timestamp();
    deeper.after = Some(&cursor);
    deeper.diversity = 0.3;
    assert_eq!(index.rank(&deeper).unwrap_err(), RankError::TooDeep);
}

#[test]
fn minors_and_excluded_creators_are_never_candidates() {
    let mut minor = record(1, 1);
    minor.region = "FR".into();
    minor.adult_on = Some(now().date_naive() + Duration::days(1));
    let mut adult = minor.clone();
    adult.id = Uuid::from_u128(50);
    adult.adult_on = Some(now().date_naive());
    let mut excluded = adult.clone();
    excluded.id = Uuid::from_u128(51);
    let index = Index::from_records([minor, adult.clone(), excluded.clone()]);
    let (agency, filter) = (agency(), Filter::default());
    let mut req = request(&agency, &filter, 10, None);
    let skip = [excluded.id];
    req.excluded = &skip;
    let page = index.rank(&req).unwrap();
    assert_eq!(
        page.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![adult.id]
    );
    assert_eq!(page.total_candidates, 1);
}

#[test]
fn contents_ignore_build_order_but_not_data() {
    let records: Vec<CreatorRecord> = (0..300).map(|i| record(i, 11)).collect();
    let forward = Index::from_records(records.clone());
    // Built backwards, with removals and re-inserts along the way: other
    // slots, other interned ids, the same creators.
    let mut churned = Index::from_records(records.iter().rev().cloned());
    for r in records.iter().step_by(7) {
        churned.remove(r.id);
    }
    for r in records.iter().step_by(7) {
        churned.upsert(r.clone());
    }
    assert_eq!(forward.contents(), churned.contents());
    let mut changed = records[5].clone();
    changed.followers += 1;
    churned.upsert(changed);
    assert_ne!(forward.contents(), churned.contents());
    churned.remove(records[5].id);
    assert_eq!(churned.contents().len(), 299);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Creators added, moved between regions and removed one at a time
    /// leave the index grouped by region and equal to a fresh load of the
    /// same creators: the same contents and the same ranking.
    #[test]
    fn changes_one_at_a_time_keep_the_index_a_fresh_load(
        loaded in 0u128..200,
        ops in proptest::collection::vec((0u128..300, 0usize..REGIONS.len(), 0u8..4), 0..400),
        seed in any::<u64>(),
    ) {
        let mut live: std::collections::BTreeMap<Uuid, CreatorRecord> =
            (0..loaded).map(|n| record(n, seed)).map(|r| (r.id, r)).collect();
        let mut index = Index::from_records(live.values().cloned());
        for (n, region, op) in ops {
            let mut r = record(n, seed ^ u64::from(op));
            r.region = REGIONS[region].into();
            if op == 0 {
                prop_assert_eq!(index.remove(r.id), live.remove(&r.id).is_some());
            } else {
                live.insert(r.id, r.clone());
                index.upsert(r);
            }
        }
        index.assert_grouped_by_region();
        let fresh = Index::from_records(live.values().cloned());
        prop_assert_eq!(index.contents(), fresh.contents());
        let (agency, filter) = (agency(), Filter::default());
        let ranked = |index: &Index| {
            let page = index.rank(&request(&agency, &filter, 50, None)).unwrap();
            let items: Vec<(Uuid, f32)> = page.items.iter().map(|r| (r.id, r.score)).collect();
            (page.total_candidates, items)
        };
        prop_assert_eq!(ranked(&index), ranked(&fresh));
    }
}
