//! The ranking core against the physical floor: a full `recommendedCreators`
//! page (first 20, explanations and reasons) over 100k and 1M indexed
//! creators, beside parallel passes in the same chunks that sum one field
//! of every entry, and one field of every array a scan reads (what no scan
//! can beat). The floor reads every slot, so the ranking it compares with
//! is an agency in every region (reading every slot too); the usual agency,
//! in 5 of the 8 regions, reads only those regions' slots.
//!
//! `cargo bench --bench ranking`

use std::hint::black_box;

use agency_center::domain::Category;
use agency_center::ranking::{Agency, CreatorRecord, Filter, Index, Request, Weights};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use uuid::Uuid;

const REGIONS: [&str; 8] = ["US", "BR", "FR", "DE", "GB", "MX", "ID", "JP"];
const LANGUAGES: [&str; 8] = ["en", "pt", "fr", "de", "en", "es", "id", "ja"];

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap()
}

/// A market like the seed's: heavy-tailed followers, regions by size.
fn records(n: usize) -> Vec<CreatorRecord> {
    let mut rng = StdRng::seed_from_u64(42);
    (0..n)
        .map(|i| {
            let m = rng.random_range(0..REGIONS.len());
            let u: f64 = rng.random_range(1e-9..1.0);
            let followers = (300.0 / u.powf(1.0 / 1.05)).min(4e7) as i64;
            let c1 = Category::ALL[rng.random_range(0..15)];
            let c2 = Category::ALL[rng.random_range(0..15)];
            CreatorRecord {
                id: Uuid::from_u128(rng.random::<u128>() | i as u128),
                handle: format!("creator_{i}"),
                display_name: format!("Creator Name {i}"),
                region: REGIONS[m].into(),
                languages: if rng.random_bool(0.3) {
                    vec![LANGUAGES[m].into(), "en".into()]
                } else {
                    vec![LANGUAGES[m].into()]
                },
                categories: if c1 == c2 { vec![c1] } else { vec![c1, c2] },
                adult_on: NaiveDate::from_ymd_opt(rng.random_range(1995..2032), 6, 1),
                discoverable_since: now() - Duration::minutes(rng.random_range(10..60 * 24 * 90)),
                followers,
                avg_viewers: (followers as f64 * rng.random_range(0.001..0.02)).max(1.0),
                live_hours_30d: rng.random_range(0.0..120.0),
                live_days_30d: rng.random_range(0..=30),
                diamonds_30d: rng.random_range(0..1_000_000),
                follower_growth_30d: rng.random_range(-0.1..0.3),
                engagement_rate: rng.random_range(0.01..0.25),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let agency = Agency {
        regions: vec![
            "US".into(),
            "FR".into(),
            "GB".into(),
            "BR".into(),
            "DE".into(),
        ],
        languages: vec!["en".into(), "fr".into(), "pt".into(), "de".into()],
        specialties: vec![Category::Gaming, Category::Music, Category::Dance],
    };
    let everywhere = Agency {
        regions: REGIONS.iter().map(|r| r.to_string()).collect(),
        ..agency.clone()
    };
    let filter = Filter::default();
    let mut group = c.benchmark_group("ranking");
    group.sample_size(30);
    for n in [100_000, 1_000_000] {
        let index = Index::from_records(records(n));
        eprintln!("{}", index.footprint());
        for (name, all_arrays) in [
            ("floor: one field", false),
            ("floor: every scanned array", true),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), &index, |b, index| {
                b.iter(|| black_box(index.memory_pass(all_arrays)))
            });
        }
        for (name, agency, diversity) in [
            ("rank first 20, every region", &everywhere, 0.0),
            ("rank first 20", &agency, 0.0),
            ("rank first 20, diversity 0.5", &agency, 0.5),
        ] {
            group.bench_with_input(BenchmarkId::new(name, n), &index, |b, index| {
                b.iter(|| {
                    let request = Request {
                        agency,
                        filter: &filter,
                        weights: Weights::DEFAULT,
                        diversity,
                        first: 20,
                        after: None,
                        now: now(),
                        excluded: &[],
                        fingerprint: 1,
                    };
                    black_box(index.rank(&request).unwrap())
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
