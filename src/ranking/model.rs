//! The scoring model: the nine signals, how each statistic becomes a value
//! in 0..1, the default weights, and the plain-words reason for a signal.
//!
//! Static signals are computed once, when a creator enters the index, and
//! stored quantised to 16 bits ([`quantise`]); only FRESHNESS depends on
//! the ranking's as-of time and is computed during the scan.

use chrono::{DateTime, Utc};

/// The signals, in the order of [`Signal::ALL`] (the API's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Overlap of the creator's categories with the agency's specialties.
    CategoryFit,
    /// Overlap of the creator's languages with the agency's.
    LanguageMatch,
    /// Followers, log-scaled.
    Audience,
    /// Days and hours LIVE in the last 30 days.
    LiveActivity,
    /// Average viewers, log-scaled.
    Viewers,
    /// Engagement rate.
    Engagement,
    /// Follower growth over 30 days.
    Momentum,
    /// Diamonds (gifts) in the last 30 days, log-scaled.
    Monetization,
    /// Recently switched Agency invitation on: a cold-start boost that
    /// halves every [`FRESHNESS_HALF_LIFE_HOURS`].
    Freshness,
}

pub const SIGNAL_COUNT: usize = 9;

impl Signal {
    pub const ALL: [Signal; SIGNAL_COUNT] = [
        Signal::CategoryFit,
        Signal::LanguageMatch,
        Signal::Audience,
        Signal::LiveActivity,
        Signal::Viewers,
        Signal::Engagement,
        Signal::Momentum,
        Signal::Monetization,
        Signal::Freshness,
    ];

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One weight per signal, indexed by [`Signal::index`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights(pub [f32; SIGNAL_COUNT]);

/// Largest weight a query may give a signal.
pub const MAX_WEIGHT: f32 = 10.0;

impl Weights {
    /// The defaults: fit first (an agency recruits for what it coaches, in
    /// the languages it works in), then a creator who goes LIVE regularly,
    /// then reach and the rest. FRESHNESS gets enough weight that a creator
    /// who has just opted in is seen before the established accounts of
    /// equal fit bury them.
    pub const DEFAULT: Weights = Weights([
        3.0, // CATEGORY_FIT
        2.0, // LANGUAGE_MATCH
        1.5, // AUDIENCE
        2.0, // LIVE_ACTIVITY
        1.5, // VIEWERS
        1.0, // ENGAGEMENT
        1.0, // MOMENTUM
        1.0, // MONETIZATION
        1.0, // FRESHNESS
    ]);

    pub fn get(&self, signal: Signal) -> f32 {
        self.0[signal.index()]
    }

    /// Each weight finite and within 0..=10, at least one above 0.
    pub fn validate(&self) -> Result<(), String> {
        for (signal, w) in Signal::ALL.iter().zip(self.0) {
            if !w.is_finite() || !(0.0..=MAX_WEIGHT).contains(&w) {
                return Err(format!(
                    "the weight of {signal:?} must be between 0 and {MAX_WEIGHT}, got {w}"
                ));
            }
        }
        if self.0.iter().all(|w| *w == 0.0) {
            return Err("at least one weight must be above 0".to_owned());
        }
        Ok(())
    }

    /// `wᵢ / Σw`: the factor each signal's value is multiplied by, so that
    /// the score is `Σ factorᵢ·sᵢ` and the contributions sum to it.
    pub fn factors(&self) -> [f32; SIGNAL_COUNT] {
        let total: f32 = self.0.iter().sum();
        self.0.map(|w| w / total)
    }
}

impl Default for Weights {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Followers at which AUDIENCE reaches 1.
pub const AUDIENCE_FULL: f64 = 10_000_000.0;
/// Average viewers at which VIEWERS reaches 1.
pub const VIEWERS_FULL: f64 = 100_000.0;
/// Diamonds in 30 days at which MONETIZATION reaches 1.
pub const MONETIZATION_FULL: f64 = 10_000_000.0;
/// Hours LIVE in 30 days at which the hours part of LIVE_ACTIVITY is full.
pub const LIVE_HOURS_FULL: f64 = 120.0;
/// Engagement rate at which ENGAGEMENT reaches 1.
pub const ENGAGEMENT_FULL: f64 = 0.25;
/// Growth at which MOMENTUM is ~0.76 (and -this at ~0.24); 0 growth is 0.5.
pub const MOMENTUM_SCALE: f64 = 0.25;
/// FRESHNESS is 1 at opt-in and halves every this many hours.
pub const FRESHNESS_HALF_LIFE_HOURS: f64 = 72.0;

/// `ln(1+x) / ln(1+full)`, clamped to 0..1: the first hundred followers
/// matter as much as the step from 100k to 1M.
fn log_scale(x: f64, full: f64) -> f32 {
    ((x.max(0.0)).ln_1p() / full.ln_1p()).clamp(0.0, 1.0) as f32
}

pub fn audience(followers: i64) -> f32 {
    log_scale(followers as f64, AUDIENCE_FULL)
}

pub fn viewers(avg_viewers: f64) -> f32 {
    log_scale(avg_viewers, VIEWERS_FULL)
}

pub fn monetization(diamonds_30d: i64) -> f32 {
    log_scale(diamonds_30d as f64, MONETIZATION_FULL)
}

/// 60 % days with a valid LIVE (of 30), 40 % hours (full at 120 h).
pub fn live_activity(live_days_30d: i32, live_hours_30d: f64) -> f32 {
    let days = f64::from(live_days_30d.clamp(0, 30)) / 30.0;
    let hours = (live_hours_30d.max(0.0) / LIVE_HOURS_FULL).min(1.0);
    (0.6 * days + 0.4 * hours) as f32
}

pub fn engagement(rate: f64) -> f32 {
    (rate.max(0.0) / ENGAGEMENT_FULL).min(1.0) as f32
}

/// 0.5 for no growth, towards 1 for fast growth, towards 0 for decline.
pub fn momentum(growth_30d: f64) -> f32 {
    (0.5 + 0.5 * (growth_30d / MOMENTUM_SCALE).tanh()) as f32
}

/// Minutes since the Unix epoch: the index's clock (u32 lasts past 10,000 AD).
pub fn minutes(at: DateTime<Utc>) -> u32 {
    u32::try_from(at.timestamp().div_euclid(60)).unwrap_or(0)
}

/// Whole hours after which FRESHNESS is 0 (2⁻⁴⁰ before it: nothing left).
const FRESHNESS_HOURS: usize = 40 * FRESHNESS_HALF_LIFE_HOURS as usize;

/// FRESHNESS by whole hours since opt-in: a scan looks it up instead of
/// computing a power for every creator.
static FRESHNESS_BY_HOUR: std::sync::LazyLock<Box<[f32]>> = std::sync::LazyLock::new(|| {
    (0..FRESHNESS_HOURS)
        .map(|h| (-(h as f64) / FRESHNESS_HALF_LIFE_HOURS).exp2() as f32)
        .collect()
});

/// 1 in the first hour after opt-in, halving every 72 h (by whole hours);
/// a future opt-in (clock skew) counts as now.
#[inline]
pub fn freshness(since_minutes: u32, as_of_minutes: u32) -> f32 {
    let hours = (as_of_minutes.saturating_sub(since_minutes) / 60) as usize;
    FRESHNESS_BY_HOUR.get(hours).copied().unwrap_or(0.0)
}

/// `|a ∩ b| / min(|a|, |b|)`: 1 when the smaller set is inside the larger.
pub fn overlap(a: u64, b: u64) -> f32 {
    let shared = (a & b).count_ones();
    if shared == 0 {
        return 0.0;
    }
    shared as f32 / a.count_ones().min(b.count_ones()) as f32
}

/// A value in 0..1 stored in 16 bits.
pub fn quantise(value: f32) -> u16 {
    (value.clamp(0.0, 1.0) * f32::from(u16::MAX)).round() as u16
}

pub fn dequantise(q: u16) -> f32 {
    f32::from(q) / f32::from(u16::MAX)
}

/// The figures a reason quotes.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Names of the categories shared with the agency's specialties.
    pub shared_categories: Vec<&'static str>,
    /// English names of the languages shared with the agency.
    pub shared_languages: Vec<String>,
    pub followers: u32,
    pub avg_viewers: f64,
    pub live_days_30d: u8,
    pub live_hours_30d: f32,
    pub engagement_rate: f32,
    pub follower_growth_30d: f32,
    pub diamonds_30d: u64,
    /// Hours since the creator switched Agency invitation on.
    pub opted_in_hours_ago: f64,
}

/// "1.2M", "45.3K", "870".
fn compact(n: f64) -> String {
    let (value, unit) = if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e4 {
        (n / 1e3, "K")
    } else {
        return format!("{}", n.round() as u64);
    };
    let text = format!("{value:.1}");
    format!("{}{unit}", text.trim_end_matches(".0"))
}

/// "French", "French and English", "French, English and German".
fn and_list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(AsRef::as_ref)
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

/// The signal in plain words, quoting the creator's figures.
pub fn reason(signal: Signal, facts: &Facts) -> String {
    match signal {
        Signal::CategoryFit => format!(
            "makes {} content, as your agency specialises in",
            and_list(&facts.shared_categories)
        ),
        Signal::LanguageMatch => format!(
            "speaks {}, as your agency does",
            and_list(&facts.shared_languages)
        ),
        Signal::Audience => format!("{} followers", compact(f64::from(facts.followers))),
        Signal::LiveActivity => format!(
            "LIVE on {} of the last 30 days ({} hours)",
            facts.live_days_30d,
            facts.live_hours_30d.round()
        ),
        Signal::Viewers => format!("{} viewers on average per LIVE", compact(facts.avg_viewers)),
        Signal::Engagement => {
            format!("{:.1} % engagement rate", facts.engagement_rate * 100.0).replace(".0 %", " %")
        }
        Signal::Momentum => {
            let pct = (facts.follower_growth_30d * 100.0).round();
            if pct >= 0.0 {
                format!("followers up {pct} % in 30 days")
            } else {
                format!("followers down {} % in 30 days", -pct)
            }
        }
        Signal::Monetization => format!(
            "{} diamonds received in 30 days",
            compact(facts.diamonds_30d as f64)
        ),
        Signal::Freshness => {
            let hours = facts.opted_in_hours_ago;
            if hours < 1.0 {
                "switched on Agency invitation within the hour".to_owned()
            } else if hours < 2.0 {
                "switched on Agency invitation an hour ago".to_owned()
            } else if hours < 48.0 {
                format!("switched on Agency invitation {} hours ago", hours as u64)
            } else {
                format!(
                    "switched on Agency invitation {} days ago",
                    (hours / 24.0) as u64
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_monotonic_in_unit_range(values: impl Iterator<Item = f32>, what: &str) {
        let mut last = f32::MIN;
        for v in values {
            assert!((0.0..=1.0).contains(&v), "{what}: {v} outside 0..1");
            assert!(v >= last, "{what} fell from {last} to {v}");
            last = v;
        }
    }

    #[test]
    fn every_static_signal_is_monotonic_in_its_statistic_and_within_0_1() {
        let counts = [
            0i64,
            1,
            10,
            100,
            1_000,
            50_000,
            1_000_000,
            10_000_000,
            i64::MAX,
        ];
        assert_monotonic_in_unit_range(counts.iter().map(|&n| audience(n)), "audience");
        assert_monotonic_in_unit_range(counts.iter().map(|&n| monetization(n)), "monetization");
        assert_monotonic_in_unit_range(
            [0.0, 0.5, 3.0, 120.0, 1e5, 1e9].iter().map(|&v| viewers(v)),
            "viewers",
        );
        assert_monotonic_in_unit_range((0..=30).map(|d| live_activity(d, 40.0)), "live days");
        assert_monotonic_in_unit_range(
            [0.0, 1.0, 60.0, 120.0, 720.0]
                .iter()
                .map(|&h| live_activity(10, h)),
            "live hours",
        );
        assert_monotonic_in_unit_range(
            [0.0, 0.01, 0.1, 0.25, 1.0].iter().map(|&r| engagement(r)),
            "engagement",
        );
        assert_monotonic_in_unit_range(
            [-1.0, -0.2, 0.0, 0.12, 1.0, 100.0]
                .iter()
                .map(|&g| momentum(g)),
            "momentum",
        );
        assert_eq!(audience(10_000_000), 1.0);
        assert_eq!(live_activity(30, 120.0), 1.0);
        assert!((momentum(0.0) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn freshness_decays_from_one_and_halves_every_72_hours() {
        let now = 10_000_000;
        assert_eq!(freshness(now, now), 1.0);
        assert!((freshness(now - 72 * 60, now) - 0.5).abs() < 1e-6);
        assert!((freshness(now - 144 * 60, now) - 0.25).abs() < 1e-6);
        assert_eq!(freshness(now - 59, now), 1.0, "by whole hours");
        assert_eq!(freshness(0, now), 0.0, "long ago: nothing left");
        // Older opt-ins are never fresher.
        assert_monotonic_in_unit_range(
            (0..100).rev().map(|h| freshness(now - h * 60, now)),
            "freshness",
        );
        assert_eq!(freshness(now + 5, now), 1.0, "clock skew counts as now");
    }

    #[test]
    fn overlap_is_the_share_of_the_smaller_set() {
        assert_eq!(overlap(0b011, 0b110), 0.5);
        assert_eq!(overlap(0b001, 0b111), 1.0);
        assert_eq!(overlap(0b001, 0b010), 0.0);
        assert_eq!(overlap(0, 0b1), 0.0);
    }

    #[test]
    fn weights_are_bounded_and_not_all_zero() {
        assert!(Weights::DEFAULT.validate().is_ok());
        assert!(Weights([0.0; SIGNAL_COUNT]).validate().is_err());
        let mut w = Weights::DEFAULT;
        w.0[3] = 10.5;
        assert!(w.validate().is_err());
        w.0[3] = f32::NAN;
        assert!(w.validate().is_err());
        w.0[3] = -1.0;
        assert!(w.validate().is_err());
        let sum: f32 = Weights::DEFAULT.factors().iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
    }

    #[test]
    fn quantisation_keeps_order_and_range() {
        assert_eq!(dequantise(quantise(0.0)), 0.0);
        assert_eq!(dequantise(quantise(1.0)), 1.0);
        assert!((dequantise(quantise(0.3)) - 0.3).abs() < 1e-4);
        assert!(quantise(0.30001) >= quantise(0.3));
    }

    #[test]
    fn reasons_quote_the_figures_in_plain_words() {
        let facts = Facts {
            shared_categories: vec!["Gaming", "Music"],
            shared_languages: vec!["French".into()],
            followers: 1_234_567,
            avg_viewers: 120.4,
            live_days_30d: 24,
            live_hours_30d: 61.6,
            engagement_rate: 0.09,
            follower_growth_30d: 0.12,
            diamonds_30d: 90_000,
            opted_in_hours_ago: 50.0,
        };
        let r = |s| reason(s, &facts);
        assert_eq!(
            r(Signal::LiveActivity),
            "LIVE on 24 of the last 30 days (62 hours)"
        );
        assert_eq!(
            r(Signal::LanguageMatch),
            "speaks French, as your agency does"
        );
        assert_eq!(
            r(Signal::CategoryFit),
            "makes Gaming and Music content, as your agency specialises in"
        );
        assert_eq!(r(Signal::Audience), "1.2M followers");
        assert_eq!(r(Signal::Viewers), "120 viewers on average per LIVE");
        assert_eq!(r(Signal::Engagement), "9 % engagement rate");
        assert_eq!(r(Signal::Momentum), "followers up 12 % in 30 days");
        assert_eq!(r(Signal::Monetization), "90K diamonds received in 30 days");
        assert_eq!(
            r(Signal::Freshness),
            "switched on Agency invitation 2 days ago"
        );
    }
}
