//! A ranking query: candidates and filters decided inside one parallel
//! scan, a bounded top-k per chunk merged into the page, keyset pages that
//! carry their as-of time, and the greedy diversified order.

use std::collections::BinaryHeap;

use chrono::{DateTime, Utc};
use memchr::memmem;
use rayon::prelude::*;
use uuid::Uuid;

use super::index::{Index, LANGUAGE_OVERFLOW, category_bit, epoch_days};
use super::model::{self, Facts, SIGNAL_COUNT, Signal, Weights, dequantise};
use crate::domain::Category;

/// Slots a scan task covers: big enough to amortise the task, small enough
/// that two cores share the work evenly.
pub const CHUNK: usize = 16 * 1024;
/// Deepest rank a diversified ranking may be paged to.
pub const MAX_DIVERSE_RANK: u32 = 1000;
/// Reasons given per recommendation, at most.
pub const MAX_REASONS: usize = 3;
/// A signal whose value is below this is not worth a reason.
const REASON_MIN_VALUE: f32 = 0.1;

/// The agency a ranking is for.
#[derive(Debug, Clone)]
pub struct Agency {
    pub regions: Vec<String>,
    pub languages: Vec<String>,
    pub specialties: Vec<Category>,
}

/// Narrowing filters, already normalised and validated by the caller.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Within the agency's regions; `None`: all of them.
    pub regions: Option<Vec<String>>,
    /// Any of.
    pub languages: Option<Vec<String>>,
    /// Any of.
    pub categories: Option<Vec<Category>>,
    pub min_followers: Option<i64>,
    pub max_followers: Option<i64>,
    pub min_avg_viewers: Option<f64>,
    pub min_live_days_30d: Option<i32>,
    /// Case-insensitive substring of the handle or the display name.
    pub query: Option<String>,
}

pub struct Request<'a> {
    pub agency: &'a Agency,
    pub filter: &'a Filter,
    pub weights: Weights,
    /// 0..1; 0 is the pure score order.
    pub diversity: f32,
    pub first: usize,
    pub after: Option<&'a Continuation>,
    /// The ranking's time for a first page (later pages use the cursor's).
    pub now: DateTime<Utc>,
    /// Creators this query must not return (this agency's pending
    /// invitations, its cooldowns).
    pub excluded: &'a [Uuid],
    /// Identifies the arguments; a cursor made with others is refused.
    pub fingerprint: u64,
}

/// A position in the order: score descending, then id ascending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    pub score: f32,
    pub id: u128,
}

impl Key {
    /// Whether `self` comes before `other` in the ranking.
    fn precedes(&self, other: &Key) -> bool {
        match self.score.total_cmp(&other.score) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => self.id < other.id,
        }
    }
}

/// What continuing a ranking needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Continuation {
    pub fingerprint: u64,
    /// Unix seconds: the instant FRESHNESS and age are judged at.
    pub as_of: i64,
    /// Ranks already handed out.
    pub position: u32,
    pub state: Progress,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The last key handed out.
    Pure(Key),
    /// Per primary category present so far: how many were handed out and
    /// the last one's key.
    Diverse(Vec<(u8, u32, Key)>),
}

impl Continuation {
    /// A compact, versioned text form (the API wraps it in an opaque cursor).
    pub fn to_token(&self) -> String {
        let head = format!("1.{:x}.{}.{}", self.fingerprint, self.as_of, self.position);
        let key = |k: &Key| format!("{:x}:{:x}", k.score.to_bits(), k.id);
        match &self.state {
            Progress::Pure(k) => format!("{head}.p.{}", key(k)),
            Progress::Diverse(cats) => {
                let parts: Vec<String> = cats
                    .iter()
                    .map(|(c, n, k)| format!("{c}:{n}:{}", key(k)))
                    .collect();
                format!("{head}.d.{}", parts.join(","))
            }
        }
    }

    pub fn from_token(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        if parts.next()? != "1" {
            return None;
        }
        let fingerprint = u64::from_str_radix(parts.next()?, 16).ok()?;
        let as_of = parts.next()?.parse().ok()?;
        let position = parts.next()?.parse().ok()?;
        let kind = parts.next()?;
        let body = parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        let key = |score: &str, id: &str| {
            let score = f32::from_bits(u32::from_str_radix(score, 16).ok()?);
            score.is_finite().then_some(())?;
            Some(Key {
                score,
                id: u128::from_str_radix(id, 16).ok()?,
            })
        };
        let state = match kind {
            "p" => {
                let (score, id) = body.split_once(':')?;
                Progress::Pure(key(score, id)?)
            }
            "d" => {
                let mut cats = Vec::new();
                for part in body.split(',').filter(|p| !p.is_empty()) {
                    let f: Vec<&str> = part.split(':').collect();
                    let [c, n, score, id] = f[..] else {
                        return None;
                    };
                    let c: u8 = c.parse().ok()?;
                    if usize::from(c) >= Category::ALL.len() || cats.iter().any(|(x, _, _)| *x == c)
                    {
                        return None;
                    }
                    cats.push((c, n.parse().ok()?, key(score, id)?));
                }
                Progress::Diverse(cats)
            }
            _ => return None,
        };
        Some(Self {
            fingerprint,
            as_of,
            position,
            state,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    pub signal: Signal,
    pub value: f32,
    pub weight: f32,
    pub contribution: f32,
}

#[derive(Debug, Clone)]
pub struct Recommendation {
    pub id: Uuid,
    /// 1-based position in the whole ranking.
    pub rank: u32,
    pub score: f32,
    /// One per signal, in [`Signal::ALL`] order.
    pub explanation: [Component; SIGNAL_COUNT],
    pub reasons: Vec<String>,
    /// Continues the ranking after this recommendation.
    pub cursor: Continuation,
}

#[derive(Debug)]
pub struct Ranking {
    pub items: Vec<Recommendation>,
    /// Creators that passed every filter (whatever the page).
    pub total_candidates: u64,
    pub has_next: bool,
    pub as_of: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RankError {
    #[error("this cursor belongs to a ranking with other arguments")]
    ForeignCursor,
    #[error("a diversified ranking can be paged to rank {MAX_DIVERSE_RANK} at most")]
    TooDeep,
    #[error("diversity must be between 0 and 1")]
    BadDiversity,
}

/// A heap entry: ordered so that the heap's top is the worst kept.
#[derive(Clone, Copy)]
struct Entry {
    key: Key,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    /// "Greater" is worse: lower score, then higher id.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .key
            .score
            .total_cmp(&self.key.score)
            .then(self.key.id.cmp(&other.key.id))
    }
}

/// The best `k` entries offered.
struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024) + 1),
        }
    }

    #[inline]
    fn offer(&mut self, e: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && e < *worst
        {
            *worst = e;
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        for e in other.heap {
            self.offer(e);
        }
        self
    }

    /// Best first.
    fn into_sorted(self) -> Vec<Entry> {
        self.heap.into_sorted_vec()
    }
}

/// `shared / min(count, other)` (see [`model::overlap`]) looked up instead
/// of divided, for the set sizes creators have.
struct OverlapTable {
    by_shared_and_count: [[f32; 16]; 16],
    other: u32,
}

impl OverlapTable {
    fn new(other: u32) -> Self {
        let mut by_shared_and_count = [[0.0; 16]; 16];
        for (shared, row) in by_shared_and_count.iter_mut().enumerate().skip(1) {
            for (count, cell) in row.iter_mut().enumerate() {
                *cell = Self::compute(shared as u32, count as u32, other);
            }
        }
        Self {
            by_shared_and_count,
            other,
        }
    }

    fn compute(shared: u32, count: u32, other: u32) -> f32 {
        if shared == 0 {
            return 0.0;
        }
        shared as f32 / count.min(other) as f32
    }

    #[inline]
    fn get(&self, shared: u32, count: u32) -> f32 {
        if shared < 16 && count < 16 {
            self.by_shared_and_count[shared as usize][count as usize]
        } else {
            Self::compute(shared, count, self.other)
        }
    }
}

/// A query compiled against the index's codes.
struct Plan {
    regions: [u64; 4],
    adult_by: i32,
    categories: Option<u16>,
    min_followers: u32,
    max_followers: u32,
    min_avg_viewers: f64,
    min_live_days: u8,
    /// Whether any of the four bounds above is set.
    bounded: bool,
    /// Any-of language filter: mask of the low bits, and the overflow ids.
    languages: Option<(u64, Vec<u16>)>,
    agency_languages: u64,
    agency_overflow: Vec<u16>,
    language_overlap: OverlapTable,
    specialties: u16,
    category_overlap: OverlapTable,
    query: Option<memmem::Finder<'static>>,
    /// `wᵢ/Σw`, over the quantisation scale for the static signals.
    term_factors: [f32; SIGNAL_COUNT],
    as_of_minutes: u32,
    /// Sorted slots the query must skip.
    excluded: Vec<u32>,
}

/// Splits codes into the low-bit mask and the ids past bit 62. Codes the
/// index has never seen match nobody and are dropped.
fn language_mask(index: &Index, codes: &[String]) -> (u64, Vec<u16>) {
    let mut mask = 0u64;
    let mut overflow = Vec::new();
    for code in codes {
        if let Some(id) = index.languages.get(code) {
            if id < 63 {
                mask |= 1 << id;
            } else {
                overflow.push(id);
            }
        }
    }
    (mask, overflow)
}

impl Plan {
    fn new(index: &Index, req: &Request<'_>, as_of: DateTime<Utc>) -> Self {
        let f = req.filter;
        let mut regions = [0u64; 4];
        for code in f.regions.as_ref().unwrap_or(&req.agency.regions) {
            if let Some(id) = index.regions.get(code) {
                regions[usize::from(id) / 64] |= 1 << (id % 64);
            }
        }
        let clamp_u32 = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let (agency_languages, agency_overflow) = language_mask(index, &req.agency.languages);
        let specialties = req
            .agency
            .specialties
            .iter()
            .fold(0u16, |m, c| m | category_bit(*c));
        let mut excluded: Vec<u32> = req
            .excluded
            .iter()
            .filter_map(|id| index.slot_of(*id))
            .map(|s| s as u32)
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        Self {
            regions,
            adult_by: epoch_days(as_of.date_naive()),
            categories: f
                .categories
                .as_ref()
                .map(|cs| cs.iter().fold(0, |m, c| m | category_bit(*c))),
            min_followers: f.min_followers.map_or(0, clamp_u32),
            max_followers: f.max_followers.map_or(u32::MAX, clamp_u32),
            min_avg_viewers: f.min_avg_viewers.unwrap_or(f64::NEG_INFINITY),
            min_live_days: f
                .min_live_days_30d
                .map_or(0, |d| u8::try_from(d.clamp(0, 31)).unwrap_or(31)),
            bounded: f.min_followers.is_some()
                || f.max_followers.is_some()
                || f.min_avg_viewers.is_some()
                || f.min_live_days_30d.is_some(),
            languages: f.languages.as_ref().map(|l| language_mask(index, l)),
            agency_languages,
            agency_overflow,
            language_overlap: OverlapTable::new(req.agency.languages.len() as u32),
            specialties,
            category_overlap: OverlapTable::new(specialties.count_ones()),
            query: f
                .query
                .as_ref()
                .map(|q| memmem::Finder::new(q.to_lowercase().as_bytes()).into_owned()),
            term_factors: {
                let mut f = req.weights.factors();
                for x in &mut f[2..8] {
                    *x /= f32::from(u16::MAX);
                }
                f
            },
            as_of_minutes: model::minutes(as_of),
            excluded,
        }
    }

    /// Every rule but the exclusions.
    #[inline(always)]
    fn admits(&self, index: &Index, s: usize) -> bool {
        self.admits_by_attributes(index, s)
            && (!self.by_language_or_name() || self.admits_by_language_and_name(index, s))
    }

    fn by_language_or_name(&self) -> bool {
        self.languages.is_some() || self.query.is_some()
    }

    /// Region, age, categories and bounds, evaluated whole without a
    /// branch per rule: which creators pass is data the CPU cannot
    /// predict, so one mispredicted jump per rejected creator would cost
    /// more than the checks. The per-query choices (a category filter,
    /// bounds) are branches every creator takes the same way.
    #[inline(always)]
    fn admits_by_attributes(&self, index: &Index, s: usize) -> bool {
        let h = &index.hot;
        let region = h.region[s];
        let mut ok = (self.regions[usize::from(region / 64)] >> (region % 64)) & 1 != 0;
        ok &= h.adult_on[s] <= self.adult_by;
        if let Some(mask) = self.categories {
            ok &= h.categories[s] & mask != 0;
        }
        // Most queries have no bounds: their arrays are then not read.
        if self.bounded {
            ok &= (h.followers[s] >= self.min_followers)
                & (h.followers[s] <= self.max_followers)
                & (h.live_days[s] >= self.min_live_days)
                & (h.avg_viewers[s] >= self.min_avg_viewers);
        }
        ok
    }

    /// The filters only some queries have, out of the scan loop's body.
    #[inline(never)]
    fn admits_by_language_and_name(&self, index: &Index, s: usize) -> bool {
        let h = &index.hot;
        if let Some((mask, overflow)) = &self.languages {
            let langs = h.languages[s];
            let speaks = langs & mask != 0
                || (langs & LANGUAGE_OVERFLOW != 0
                    && index.cold[s].languages.iter().any(|l| overflow.contains(l)));
            if !speaks {
                return false;
            }
        }
        if let Some(finder) = &self.query
            && finder.find(index.names.get(s).as_bytes()).is_none()
        {
            return false;
        }
        true
    }

    /// LANGUAGE_MATCH: exact even for languages past the mask's bits.
    #[inline(always)]
    fn language_match(&self, index: &Index, s: usize) -> f32 {
        let langs = index.hot.languages[s];
        if langs & LANGUAGE_OVERFLOW == 0 {
            return self.language_overlap.get(
                (langs & self.agency_languages).count_ones(),
                langs.count_ones(),
            );
        }
        self.language_match_by_list(index, s)
    }

    /// A creator speaking a language past the mask's bits (rare).
    #[inline(never)]
    fn language_match_by_list(&self, index: &Index, s: usize) -> f32 {
        let list = &index.cold[s].languages;
        let shared = list
            .iter()
            .filter(|l| {
                if **l < 63 {
                    self.agency_languages & (1 << **l) != 0
                } else {
                    self.agency_overflow.contains(l)
                }
            })
            .count();
        self.language_overlap.get(shared as u32, list.len() as u32)
    }

    #[inline(always)]
    fn values(&self, index: &Index, s: usize) -> [f32; SIGNAL_COUNT] {
        let h = &index.hot;
        let q = &h.signals[s];
        [
            self.category_overlap.get(
                (h.categories[s] & self.specialties).count_ones(),
                h.categories[s].count_ones(),
            ),
            self.language_match(index, s),
            dequantise(q[0]),
            dequantise(q[1]),
            dequantise(q[2]),
            dequantise(q[3]),
            dequantise(q[4]),
            dequantise(q[5]),
            model::freshness(h.since[s], self.as_of_minutes),
        ]
    }

    /// Each signal's contribution: its factor times its value, the static
    /// signals' factors divided by the quantisation scale once per query
    /// (a multiply a creator instead of a divide).
    #[inline(always)]
    fn contributions(&self, index: &Index, s: usize) -> [f32; SIGNAL_COUNT] {
        let h = &index.hot;
        let q = &h.signals[s];
        let f = &self.term_factors;
        [
            f[0] * self.category_overlap.get(
                (h.categories[s] & self.specialties).count_ones(),
                h.categories[s].count_ones(),
            ),
            f[1] * self.language_match(index, s),
            f[2] * f32::from(q[0]),
            f[3] * f32::from(q[1]),
            f[4] * f32::from(q[2]),
            f[5] * f32::from(q[3]),
            f[6] * f32::from(q[4]),
            f[7] * f32::from(q[5]),
            f[8] * model::freshness(h.since[s], self.as_of_minutes),
        ]
    }

    /// The score: the contributions summed in signal order, so that an
    /// explanation's contributions sum to exactly what was ranked.
    #[inline(always)]
    fn score(contributions: &[f32; SIGNAL_COUNT]) -> f32 {
        contributions.iter().sum()
    }
}

/// What one chunk's scan collects.
trait Collector: Send + Sized {
    /// Whether the collector keeps candidates per primary category.
    const BY_CATEGORY: bool;
    /// False when a candidate with this score cannot be kept whatever its
    /// id: most are turned away here, before their id is read.
    fn wants(&self, score: f32, primary: u8) -> bool;
    fn offer(&mut self, e: Entry, primary: u8);
    fn merge(self, other: Self) -> Self;
}

impl TopK {
    #[inline]
    fn wants(&self, score: f32) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|w| score >= w.key.score)
    }
}

impl Collector for TopK {
    const BY_CATEGORY: bool = false;
    #[inline]
    fn wants(&self, score: f32, _: u8) -> bool {
        TopK::wants(self, score)
    }
    #[inline]
    fn offer(&mut self, e: Entry, _: u8) {
        TopK::offer(self, e);
    }
    fn merge(self, other: Self) -> Self {
        TopK::merge(self, other)
    }
}

/// One top-k per primary category, each after its own key.
struct PerCategory {
    heaps: Vec<TopK>,
    after: [Option<Key>; 15],
}

impl Collector for PerCategory {
    const BY_CATEGORY: bool = true;
    #[inline]
    fn wants(&self, score: f32, primary: u8) -> bool {
        let c = usize::from(primary);
        self.heaps[c].wants(score) && self.after[c].is_none_or(|k| score <= k.score)
    }
    #[inline]
    fn offer(&mut self, e: Entry, primary: u8) {
        let c = usize::from(primary);
        if self.after[c].is_none_or(|k| k.precedes(&e.key)) {
            self.heaps[c].offer(e);
        }
    }
    fn merge(mut self, other: Self) -> Self {
        for (mine, theirs) in self.heaps.iter_mut().zip(other.heaps) {
            let taken = std::mem::replace(mine, TopK::new(0));
            *mine = taken.merge(theirs);
        }
        self
    }
}

impl Index {
    /// Scans the slots of the query's regions in parallel chunks: counts
    /// the candidates and offers each one that comes after `after` to the
    /// chunk's collector.
    fn scan<C: Collector>(
        &self,
        plan: &Plan,
        after: Option<Key>,
        empty: impl Fn() -> C + Sync,
    ) -> (u64, C) {
        let chunks: Vec<(usize, usize)> = self
            .region_ranges(&plan.regions)
            .into_iter()
            .flat_map(|(from, to)| {
                (from..to)
                    .step_by(CHUNK)
                    .map(move |start| (start, (start + CHUNK).min(to)))
            })
            .collect();
        chunks
            .into_par_iter()
            .map(|(start, end)| {
                let mut collector = empty();
                let mut count = 0u64;
                let excluded = {
                    let from = plan.excluded.partition_point(|x| (*x as usize) < start);
                    let to = plan.excluded.partition_point(|x| (*x as usize) < end);
                    &plan.excluded[from..to]
                };
                let by_language_or_name = plan.by_language_or_name();
                for s in start..end {
                    let mut ok = plan.admits_by_attributes(self, s);
                    if by_language_or_name && ok {
                        ok = plan.admits_by_language_and_name(self, s);
                    }
                    count += u64::from(ok);
                    // Scored whether admitted or not, so that the one
                    // branch left is the rarely taken "worth keeping".
                    let score = Plan::score(&plan.contributions(self, s));
                    let primary = if C::BY_CATEGORY {
                        self.hot.primary[s]
                    } else {
                        0
                    };
                    // Past the last key handed out means a score no higher.
                    let in_range = after.is_none_or(|a| score <= a.score);
                    if !(ok & in_range & collector.wants(score, primary)) {
                        continue;
                    }
                    if excluded.binary_search(&(s as u32)).is_ok() {
                        continue;
                    }
                    let key = Key {
                        score,
                        id: self.hot.ids[s],
                    };
                    if after.is_none_or(|a| a.precedes(&key)) {
                        collector.offer(
                            Entry {
                                key,
                                slot: s as u32,
                            },
                            primary,
                        );
                    }
                }
                // The excluded were counted with the rest.
                count -= excluded
                    .iter()
                    .filter(|x| plan.admits(self, **x as usize))
                    .count() as u64;
                (count, collector)
            })
            .reduce(
                || (0, empty()),
                |(n1, c1), (n2, c2)| (n1 + n2, c1.merge(c2)),
            )
    }

    /// Ranks the index's creators for `req`.
    pub fn rank(&self, req: &Request<'_>) -> Result<Ranking, RankError> {
        if !(0.0..=1.0).contains(&req.diversity) {
            return Err(RankError::BadDiversity);
        }
        if let Some(after) = req.after
            && after.fingerprint != req.fingerprint
        {
            return Err(RankError::ForeignCursor);
        }
        let as_of = match req.after {
            Some(after) => {
                DateTime::from_timestamp(after.as_of, 0).ok_or(RankError::ForeignCursor)?
            }
            None => DateTime::from_timestamp(req.now.timestamp(), 0).unwrap_or(req.now),
        };
        let plan = Plan::new(self, req, as_of);
        let position = req.after.map_or(0, |a| a.position);
        let base = |progress: Progress, position: u32| Continuation {
            fingerprint: req.fingerprint,
            as_of: as_of.timestamp(),
            position,
            state: progress,
        };
        let (total, picked, has_next) = if req.diversity > 0.0 {
            let counts = match req.after.map(|a| &a.state) {
                None => Vec::new(),
                Some(Progress::Diverse(c)) => c.clone(),
                Some(Progress::Pure(_)) => return Err(RankError::ForeignCursor),
            };
            if position >= MAX_DIVERSE_RANK && req.after.is_some() {
                return Err(RankError::TooDeep);
            }
            let room = (MAX_DIVERSE_RANK - position) as usize;
            self.diversified(&plan, req.diversity, req.first.min(room), counts, room)
                .map(|(total, picked, has_next)| {
                    let picked = picked
                        .into_iter()
                        .enumerate()
                        .map(|(i, (e, state))| (e, base(state, position + i as u32 + 1)))
                        .collect::<Vec<_>>();
                    (total, picked, has_next)
                })?
        } else {
            let after = match req.after.map(|a| &a.state) {
                None => None,
                Some(Progress::Pure(k)) => Some(*k),
                Some(Progress::Diverse(_)) => return Err(RankError::ForeignCursor),
            };
            let (total, top) = self.scan(&plan, after, || TopK::new(req.first + 1));
            let mut sorted = top.into_sorted();
            let has_next = sorted.len() > req.first;
            sorted.truncate(req.first);
            let picked = sorted
                .into_iter()
                .enumerate()
                .map(|(i, e)| (e, base(Progress::Pure(e.key), position + i as u32 + 1)))
                .collect();
            (total, picked, has_next)
        };
        let items = picked
            .into_iter()
            .map(|(e, cursor)| self.recommendation(&plan, req, e, cursor))
            .collect();
        Ok(Ranking {
            items,
            total_candidates: total,
            has_next,
            as_of,
        })
    }

    /// The greedy diversified continuation: at each rank, the candidate
    /// with the highest `score·(1−d)^k`, k being how many of its primary
    /// category stand above it; ties in pure order. Within a category the
    /// adjustment is the same for every candidate, so each category's
    /// candidates are taken in pure order: only the next `first + 1` after
    /// each category's last key are needed.
    #[allow(clippy::type_complexity)]
    fn diversified(
        &self,
        plan: &Plan,
        d: f32,
        first: usize,
        mut counts: Vec<(u8, u32, Key)>,
        room: usize,
    ) -> Result<(u64, Vec<(Entry, Progress)>, bool), RankError> {
        let mut after = [None; 15];
        for (c, _, k) in &counts {
            after[usize::from(*c)] = Some(*k);
        }
        let (total, per) = self.scan(plan, None, || PerCategory {
            heaps: (0..15).map(|_| TopK::new(first + 1)).collect(),
            after,
        });
        let mut queues: Vec<std::collections::VecDeque<Entry>> = per
            .heaps
            .into_iter()
            .map(|h| h.into_sorted().into())
            .collect();
        let keep = 1.0 - f64::from(d);
        let mut picked = Vec::with_capacity(first);
        while picked.len() < first {
            let mut best: Option<(usize, f64, Key)> = None;
            for (c, q) in queues.iter().enumerate() {
                let Some(head) = q.front() else { continue };
                let k = counts
                    .iter()
                    .find(|(x, _, _)| usize::from(*x) == c)
                    .map_or(0, |e| e.1);
                let adjusted = f64::from(head.key.score) * keep.powi(k as i32);
                let better = match best {
                    None => true,
                    Some((_, a, key)) => adjusted > a || (adjusted == a && head.key.precedes(&key)),
                };
                if better {
                    best = Some((c, adjusted, head.key));
                }
            }
            let Some((c, _, _)) = best else { break };
            let e = queues[c].pop_front().expect("the best head exists");
            let cat = c as u8;
            match counts.iter_mut().find(|(x, _, _)| *x == cat) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 = e.key;
                }
                None => counts.push((cat, 1, e.key)),
            }
            picked.push((e, Progress::Diverse(counts.clone())));
        }
        let more = queues.iter().any(|q| !q.is_empty());
        let has_next = more && picked.len() < room;
        Ok((total, picked, has_next))
    }

    fn recommendation(
        &self,
        plan: &Plan,
        req: &Request<'_>,
        e: Entry,
        cursor: Continuation,
    ) -> Recommendation {
        let s = e.slot as usize;
        let values = plan.values(self, s);
        let contributions = plan.contributions(self, s);
        let explanation = std::array::from_fn(|i| Component {
            signal: Signal::ALL[i],
            value: values[i],
            weight: req.weights.0[i],
            contribution: contributions[i],
        });
        Recommendation {
            id: Uuid::from_u128(e.key.id),
            rank: cursor.position,
            score: e.key.score,
            reasons: self.reasons(plan, req, s, &explanation),
            explanation,
            cursor,
        }
    }

    /// The strongest contributions in plain words, strongest first.
    fn reasons(
        &self,
        plan: &Plan,
        req: &Request<'_>,
        s: usize,
        explanation: &[Component; SIGNAL_COUNT],
    ) -> Vec<String> {
        let mut strongest: Vec<&Component> = explanation
            .iter()
            .filter(|c| c.contribution > 0.0 && c.value >= REASON_MIN_VALUE)
            .collect();
        strongest.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
        strongest.truncate(MAX_REASONS);
        if strongest.is_empty() {
            return Vec::new();
        }
        let h = &self.hot;
        let cold = &self.cold[s];
        let agency_languages = &req.agency.languages;
        let facts = Facts {
            shared_categories: Category::ALL
                .iter()
                .filter(|c| {
                    let bit = category_bit(**c);
                    h.categories[s] & bit != 0 && plan.specialties & bit != 0
                })
                .map(|c| c.title())
                .collect(),
            shared_languages: cold
                .languages
                .iter()
                .map(|l| self.languages.code(*l))
                .filter(|code| agency_languages.iter().any(|a| a == code))
                .map(language_name)
                .collect(),
            followers: h.followers[s],
            avg_viewers: h.avg_viewers[s],
            live_days_30d: h.live_days[s],
            live_hours_30d: cold.live_hours,
            engagement_rate: cold.engagement,
            follower_growth_30d: cold.growth,
            diamonds_30d: cold.diamonds,
            opted_in_hours_ago: f64::from(plan.as_of_minutes.saturating_sub(h.since[s])) / 60.0,
        };
        strongest
            .into_iter()
            .map(|c| model::reason(c.signal, &facts))
            .collect()
    }
}

/// "French" for "fr"; the code itself for a code without an English name.
fn language_name(code: &str) -> String {
    isolang::Language::from_639_1(code)
        .map(|l| l.to_name().to_owned())
        .unwrap_or_else(|| code.to_uppercase())
}
