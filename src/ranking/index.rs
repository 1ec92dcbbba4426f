//! The index of rankable creators: struct-of-arrays, one slot per creator.
//!
//! What every scan reads lives in dense parallel arrays ([`HOT_BYTES_PER_CREATOR`]
//! bytes a creator); what only a page of results needs (the raw figures its
//! reasons quote, the full language list) lives in `cold`, and the lowercased
//! handle and display name that only `query` matches live in one text arena.
//! Removal swaps the last slot into the hole, so the arrays stay dense.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::model::{self, minutes, quantise};
use crate::domain::Category;

/// Bit 63 of a language mask: the creator speaks a language beyond the 63
/// that have their own bit; the exact list is in the cold data.
pub(super) const LANGUAGE_OVERFLOW: u64 = 1 << 63;
const LANGUAGE_BITS: u16 = 63;

/// Static signals stored per creator, in this order.
pub(super) const STATIC_SIGNALS: usize = 6;

/// Bytes per creator in the arrays a scan reads (see `Hot`).
pub const HOT_BYTES_PER_CREATOR: usize =
    16 + 8 + 2 + 1 + 1 + 1 + 4 + 4 + 4 + 8 + 2 * STATIC_SIGNALS;

/// What the index needs to know of a creator who may be ranked.
#[derive(Debug, Clone)]
pub struct CreatorRecord {
    pub id: Uuid,
    pub handle: String,
    pub display_name: String,
    pub region: String,
    pub languages: Vec<String>,
    /// In the API's order; the first is the primary category (diversity).
    pub categories: Vec<Category>,
    /// The day the creator turns 18 (`None`: never, as for a bad date).
    pub adult_on: Option<NaiveDate>,
    pub discoverable_since: DateTime<Utc>,
    pub followers: i64,
    pub avg_viewers: f64,
    pub live_hours_30d: f64,
    pub live_days_30d: i32,
    pub diamonds_30d: i64,
    pub follower_growth_30d: f64,
    pub engagement_rate: f64,
}

/// The arrays a scan reads, indexed by slot.
#[derive(Default)]
pub(super) struct Hot {
    pub ids: Vec<u128>,
    pub languages: Vec<u64>,
    pub categories: Vec<u16>,
    pub primary: Vec<u8>,
    pub region: Vec<u8>,
    pub live_days: Vec<u8>,
    /// Days since the Unix epoch on which the creator turns 18.
    pub adult_on: Vec<i32>,
    /// Minutes since the Unix epoch at which they switched Agency invitation on.
    pub since: Vec<u32>,
    pub followers: Vec<u32>,
    pub avg_viewers: Vec<f64>,
    /// AUDIENCE, LIVE_ACTIVITY, VIEWERS, ENGAGEMENT, MOMENTUM, MONETIZATION.
    pub signals: Vec<[u16; STATIC_SIGNALS]>,
}

impl Hot {
    fn swap(&mut self, a: usize, b: usize) {
        self.ids.swap(a, b);
        self.languages.swap(a, b);
        self.categories.swap(a, b);
        self.primary.swap(a, b);
        self.region.swap(a, b);
        self.live_days.swap(a, b);
        self.adult_on.swap(a, b);
        self.since.swap(a, b);
        self.followers.swap(a, b);
        self.avg_viewers.swap(a, b);
        self.signals.swap(a, b);
    }

    /// Every array reordered so that slot `i` holds what slot `order[i]` held.
    fn permute(&mut self, order: &[u32]) {
        fn gather<T: Copy>(v: &mut Vec<T>, order: &[u32]) {
            *v = order.iter().map(|&s| v[s as usize]).collect();
        }
        gather(&mut self.ids, order);
        gather(&mut self.languages, order);
        gather(&mut self.categories, order);
        gather(&mut self.primary, order);
        gather(&mut self.region, order);
        gather(&mut self.live_days, order);
        gather(&mut self.adult_on, order);
        gather(&mut self.since, order);
        gather(&mut self.followers, order);
        gather(&mut self.avg_viewers, order);
        gather(&mut self.signals, order);
    }
}

/// What only the creators of a result page need.
pub(super) struct Cold {
    pub languages: Box<[u16]>,
    pub live_hours: f32,
    pub engagement: f32,
    pub growth: f32,
    pub diamonds: u64,
}

/// Codes (regions, languages) to small ids, in order of first sight.
#[derive(Default)]
pub(super) struct Interner {
    codes: Vec<String>,
    ids: HashMap<String, u16>,
}

impl Interner {
    pub fn intern(&mut self, code: &str) -> u16 {
        if let Some(id) = self.ids.get(code) {
            return *id;
        }
        let id = u16::try_from(self.codes.len()).unwrap_or(u16::MAX);
        self.codes.push(code.to_owned());
        self.ids.insert(code.to_owned(), id);
        id
    }

    pub fn get(&self, code: &str) -> Option<u16> {
        self.ids.get(code).copied()
    }

    pub fn code(&self, id: u16) -> &str {
        &self.codes[usize::from(id)]
    }
}

/// Lowercased `handle \0 display name` of every slot in one buffer.
#[derive(Default)]
pub(super) struct Names {
    text: String,
    spans: Vec<(u32, u32)>,
    garbage: usize,
}

impl Names {
    pub fn get(&self, slot: usize) -> &str {
        let (start, end) = self.spans[slot];
        &self.text[start as usize..end as usize]
    }

    fn push_text(&mut self, handle: &str, display_name: &str) -> (u32, u32) {
        let start = self.text.len();
        self.text.push_str(&handle.to_lowercase());
        self.text.push('\0');
        self.text.push_str(&display_name.to_lowercase());
        (offset(start), offset(self.text.len()))
    }

    fn set(&mut self, slot: usize, handle: &str, display_name: &str) {
        let (start, end) = self.spans[slot];
        self.garbage += (end - start) as usize;
        self.spans[slot] = self.push_text(handle, display_name);
        self.compact_if_wasteful();
    }

    fn push(&mut self, handle: &str, display_name: &str) {
        let span = self.push_text(handle, display_name);
        self.spans.push(span);
    }

    fn swap_remove(&mut self, slot: usize) {
        let (start, end) = self.spans.swap_remove(slot);
        self.garbage += (end - start) as usize;
        self.compact_if_wasteful();
    }

    /// Rewrites the buffer once more than half of it is dead text.
    fn compact_if_wasteful(&mut self) {
        if self.garbage * 2 <= self.text.len() {
            return;
        }
        let mut text = String::with_capacity(self.text.len() - self.garbage);
        for span in &mut self.spans {
            let start = text.len();
            text.push_str(&self.text[span.0 as usize..span.1 as usize]);
            *span = (offset(start), offset(text.len()));
        }
        self.text = text;
        self.garbage = 0;
    }

    fn bytes(&self) -> usize {
        self.text.capacity() + self.spans.capacity() * std::mem::size_of::<(u32, u32)>()
    }
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("the name arena stays under 4 GiB")
}

/// Memory held by the index, by what reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub creators: usize,
    /// The arrays every scan reads.
    pub scanned_bytes: usize,
    /// Handles and display names (read only by `query`).
    pub name_bytes: usize,
    /// Figures for reasons, the id → slot map.
    pub other_bytes: usize,
}

impl std::fmt::Display for Footprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "{} creators, {:.1} MiB scanned ({} bytes each) + {:.1} MiB names + {:.1} MiB other",
            self.creators,
            mib(self.scanned_bytes),
            HOT_BYTES_PER_CREATOR,
            mib(self.name_bytes),
            mib(self.other_bytes)
        )
    }
}

/// The rankable creators: discoverable and in no agency. Whether one is a
/// candidate for a given agency (region, age, invitations) is decided per
/// query, in the scan.
///
/// Slots are grouped by region, so a query reads only its regions' slots
/// (agencies recruit within their regions: the largest market's agency
/// reads a third of the index). Keeping them grouped costs an insert or a
/// removal one swap per region after the creator's.
#[derive(Default)]
pub struct Index {
    pub(super) hot: Hot,
    pub(super) cold: Vec<Cold>,
    pub(super) names: Names,
    pub(super) regions: Interner,
    pub(super) languages: Interner,
    slots: HashMap<Uuid, u32>,
    /// Region `r` holds slots `region_starts[r]..region_starts[r + 1]`.
    /// Empty while a bulk load appends creators as they come, until
    /// [`Index::group_by_region`].
    region_starts: Vec<u32>,
}

/// Days since the Unix epoch.
pub(super) fn epoch_days(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
}

pub(super) fn category_bit(c: Category) -> u16 {
    1 << category_index(c)
}

pub(super) fn category_index(c: Category) -> u8 {
    Category::ALL.iter().position(|x| *x == c).unwrap_or(0) as u8
}

impl Index {
    pub fn new() -> Self {
        Self {
            region_starts: vec![0],
            ..Self::default()
        }
    }

    /// An empty index for a bulk load: creators are appended as they come
    /// (every slot is scanned meanwhile), then [`Index::group_by_region`]
    /// groups them once.
    pub fn for_bulk_load() -> Self {
        Self::default()
    }

    pub fn from_records(records: impl IntoIterator<Item = CreatorRecord>) -> Self {
        let mut index = Self::for_bulk_load();
        for record in records {
            index.upsert(record);
        }
        index.group_by_region();
        index
    }

    fn grouped(&self) -> bool {
        !self.region_starts.is_empty()
    }

    /// Groups the slots by region (after a bulk load), keeping their order
    /// within each region.
    pub fn group_by_region(&mut self) {
        let n = self.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&s| self.hot.region[s as usize]);
        self.hot.permute(&order);
        let mut cold: Vec<Option<Cold>> = std::mem::take(&mut self.cold)
            .into_iter()
            .map(Some)
            .collect();
        self.cold = order
            .iter()
            .map(|&s| cold[s as usize].take().expect("a permutation"))
            .collect();
        self.names.spans = order
            .iter()
            .map(|&s| self.names.spans[s as usize])
            .collect();
        for (slot, id) in self.hot.ids.iter().enumerate() {
            self.slots.insert(Uuid::from_u128(*id), slot as u32);
        }
        let regions = self.regions.codes.len();
        let mut starts = vec![0u32; regions + 1];
        for region in &self.hot.region {
            starts[usize::from(*region) + 1] += 1;
        }
        for r in 0..regions {
            starts[r + 1] += starts[r];
        }
        self.region_starts = starts;
    }

    /// The slot ranges holding these regions (a bit per interned region
    /// id), adjacent ones merged; the whole index while it is not grouped.
    pub(super) fn region_ranges(&self, regions: &[u64; 4]) -> Vec<(usize, usize)> {
        if !self.grouped() {
            return vec![(0, self.len())];
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for r in 0..self.region_starts.len() - 1 {
            if (regions[r / 64] >> (r % 64)) & 1 == 0 {
                continue;
            }
            let (start, end) = (
                self.region_starts[r] as usize,
                self.region_starts[r + 1] as usize,
            );
            match ranges.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ if start < end => ranges.push((start, end)),
                _ => {}
            }
        }
        ranges
    }

    /// Panics unless every region's slots hold that region's creators and
    /// the id map points at each creator's slot.
    #[cfg(test)]
    pub(super) fn assert_grouped_by_region(&self) {
        assert!(self.grouped());
        assert_eq!(self.region_starts.len(), self.regions.codes.len() + 1);
        assert_eq!(*self.region_starts.last().unwrap() as usize, self.len());
        for r in 0..self.region_starts.len() - 1 {
            let (from, to) = (self.region_starts[r], self.region_starts[r + 1]);
            assert!(from <= to);
            for s in from..to {
                assert_eq!(usize::from(self.hot.region[s as usize]), r, "slot {s}");
            }
        }
        assert_eq!(self.slots.len(), self.len());
        for (s, id) in self.hot.ids.iter().enumerate() {
            assert_eq!(self.slots[&Uuid::from_u128(*id)] as usize, s);
        }
    }

    /// Swaps what two slots hold, the id map included.
    fn swap_slots(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.hot.swap(a, b);
        self.cold.swap(a, b);
        self.names.spans.swap(a, b);
        for s in [a, b] {
            if let Some(slot) = self.slots.get_mut(&Uuid::from_u128(self.hot.ids[s])) {
                *slot = s as u32;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.hot.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hot.ids.is_empty()
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.slots.contains_key(&id)
    }

    pub(super) fn slot_of(&self, id: Uuid) -> Option<usize> {
        self.slots.get(&id).map(|s| *s as usize)
    }

    /// Adds the creator, or replaces what the index holds of them.
    pub fn upsert(&mut self, r: CreatorRecord) {
        let mut language_mask = 0u64;
        let mut language_ids = Vec::with_capacity(r.languages.len());
        for code in &r.languages {
            let id = self.languages.intern(code);
            language_ids.push(id);
            language_mask |= if id < LANGUAGE_BITS {
                1 << id
            } else {
                LANGUAGE_OVERFLOW
            };
        }
        // ISO 3166-1 has 249 codes, so every valid region fits in a byte.
        let region = u8::try_from(self.regions.intern(&r.region)).unwrap_or(u8::MAX);
        if self.grouped() {
            while self.region_starts.len() <= self.regions.codes.len() {
                self.region_starts.push(offset(self.len()));
            }
            // Another region: out of the old one's slots, into the new one's.
            if self
                .slot_of(r.id)
                .is_some_and(|s| self.hot.region[s] != region)
            {
                self.remove(r.id);
            }
        }
        let categories = r.categories.iter().fold(0u16, |m, c| m | category_bit(*c));
        let primary = r.categories.first().map_or(0, |c| category_index(*c));
        let signals = [
            quantise(model::audience(r.followers)),
            quantise(model::live_activity(r.live_days_30d, r.live_hours_30d)),
            quantise(model::viewers(r.avg_viewers)),
            quantise(model::engagement(r.engagement_rate)),
            quantise(model::momentum(r.follower_growth_30d)),
            quantise(model::monetization(r.diamonds_30d)),
        ];
        let adult_on = r.adult_on.map_or(i32::MAX, epoch_days);
        let since = minutes(r.discoverable_since);
        let followers = u32::try_from(r.followers.max(0)).unwrap_or(u32::MAX);
        let live_days = u8::try_from(r.live_days_30d.clamp(0, 30)).unwrap_or(0);
        let cold = Cold {
            languages: language_ids.into_boxed_slice(),
            live_hours: r.live_hours_30d as f32,
            engagement: r.engagement_rate as f32,
            growth: r.follower_growth_30d as f32,
            diamonds: u64::try_from(r.diamonds_30d.max(0)).unwrap_or(0),
        };
        let h = &mut self.hot;
        match self.slots.get(&r.id) {
            Some(&slot) => {
                let s = slot as usize;
                h.languages[s] = language_mask;
                h.categories[s] = categories;
                h.primary[s] = primary;
                h.region[s] = region;
                h.live_days[s] = live_days;
                h.adult_on[s] = adult_on;
                h.since[s] = since;
                h.followers[s] = followers;
                h.avg_viewers[s] = r.avg_viewers;
                h.signals[s] = signals;
                self.cold[s] = cold;
                self.names.set(s, &r.handle, &r.display_name);
            }
            None => {
                let slot = u32::try_from(h.ids.len()).expect("fewer than 4 billion creators");
                h.ids.push(r.id.as_u128());
                h.languages.push(language_mask);
                h.categories.push(categories);
                h.primary.push(primary);
                h.region.push(region);
                h.live_days.push(live_days);
                h.adult_on.push(adult_on);
                h.since.push(since);
                h.followers.push(followers);
                h.avg_viewers.push(r.avg_viewers);
                h.signals.push(signals);
                self.cold.push(cold);
                self.names.push(&r.handle, &r.display_name);
                self.slots.insert(r.id, slot);
                if self.grouped() {
                    self.move_last_into(usize::from(region));
                }
            }
        }
    }

    /// Moves the creator just appended into its region's slots: each later
    /// region hands its first slot to the end of its range.
    fn move_last_into(&mut self, region: usize) {
        let regions = self.region_starts.len() - 1;
        self.region_starts[regions] += 1;
        let mut at = self.len() - 1;
        for q in (region + 1..regions).rev() {
            let first = self.region_starts[q] as usize;
            self.swap_slots(at, first);
            at = first;
            self.region_starts[q] += 1;
        }
    }

    /// Drops the creator (switched off, joined an agency, gone); returns
    /// whether they were there.
    pub fn remove(&mut self, id: Uuid) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        let mut hole = slot as usize;
        if self.grouped() {
            // The hole moves to the end of its region's slots, then each
            // later region's last slot fills it, down to the last slot.
            let region = usize::from(self.hot.region[hole]);
            let regions = self.region_starts.len() - 1;
            for q in region..regions {
                let last = self.region_starts[q + 1] as usize - 1;
                self.swap_slots(hole, last);
                hole = last;
                if q > region {
                    self.region_starts[q] -= 1;
                }
            }
            self.region_starts[regions] -= 1;
        }
        self.swap_remove_slot(hole);
        true
    }

    fn swap_remove_slot(&mut self, s: usize) {
        let h = &mut self.hot;
        h.ids.swap_remove(s);
        h.languages.swap_remove(s);
        h.categories.swap_remove(s);
        h.primary.swap_remove(s);
        h.region.swap_remove(s);
        h.live_days.swap_remove(s);
        h.adult_on.swap_remove(s);
        h.since.swap_remove(s);
        h.followers.swap_remove(s);
        h.avg_viewers.swap_remove(s);
        h.signals.swap_remove(s);
        self.cold.swap_remove(s);
        self.names.swap_remove(s);
        if let Some(moved) = h.ids.get(s) {
            self.slots.insert(Uuid::from_u128(*moved), s as u32);
        }
    }

    /// Everything the index holds of each creator, by id, in words that
    /// do not depend on slot order or interned ids: two indexes of the same
    /// creators compare equal however they were built (a live index
    /// against a fresh load, in tests and the load-and-fault run).
    pub fn contents(&self) -> std::collections::BTreeMap<Uuid, String> {
        let h = &self.hot;
        (0..self.len())
            .map(|s| {
                let c = &self.cold[s];
                let languages: Vec<&str> = c
                    .languages
                    .iter()
                    .map(|l| self.languages.code(*l))
                    .collect();
                let text = format!(
                    "{} {:?} cat={:#x}/{} live={} adult={} since={} followers={} viewers={} {:?} \
                     hours={} eng={} growth={} diamonds={} names={:?}",
                    self.regions.code(u16::from(h.region[s])),
                    languages,
                    h.categories[s],
                    h.primary[s],
                    h.live_days[s],
                    h.adult_on[s],
                    h.since[s],
                    h.followers[s],
                    h.avg_viewers[s],
                    h.signals[s],
                    c.live_hours,
                    c.engagement,
                    c.growth,
                    c.diamonds,
                    self.names.get(s),
                );
                (Uuid::from_u128(h.ids[s]), text)
            })
            .collect()
    }

    /// Gives back what the arrays reserved while growing (after a load).
    pub fn shrink_to_fit(&mut self) {
        let h = &mut self.hot;
        h.ids.shrink_to_fit();
        h.languages.shrink_to_fit();
        h.categories.shrink_to_fit();
        h.primary.shrink_to_fit();
        h.region.shrink_to_fit();
        h.live_days.shrink_to_fit();
        h.adult_on.shrink_to_fit();
        h.since.shrink_to_fit();
        h.followers.shrink_to_fit();
        h.avg_viewers.shrink_to_fit();
        h.signals.shrink_to_fit();
        self.cold.shrink_to_fit();
        self.names.text.shrink_to_fit();
        self.names.spans.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.region_starts.shrink_to_fit();
    }

    pub fn footprint(&self) -> Footprint {
        let h = &self.hot;
        let scanned = h.ids.capacity() * 16
            + h.languages.capacity() * 8
            + h.categories.capacity() * 2
            + h.primary.capacity()
            + h.region.capacity()
            + h.live_days.capacity()
            + h.adult_on.capacity() * 4
            + h.since.capacity() * 4
            + h.followers.capacity() * 4
            + h.avg_viewers.capacity() * 8
            + h.signals.capacity() * 2 * STATIC_SIGNALS;
        let cold = self.cold.capacity() * std::mem::size_of::<Cold>()
            + self
                .cold
                .iter()
                .map(|c| c.languages.len() * 2)
                .sum::<usize>();
        // A hashbrown entry is the key, the value and a control byte.
        let map = self.slots.capacity() * (16 + 4 + 1);
        Footprint {
            creators: self.len(),
            scanned_bytes: scanned,
            name_bytes: self.names.bytes(),
            other_bytes: cold + map,
        }
    }

    /// Sums one field of every entry in the scan's chunks, in parallel: the
    /// floor a ranking scan is measured against (benches). With `all_arrays`
    /// it reads every array a scan reads (the same bytes), else only the
    /// followers (4 bytes a creator).
    pub fn memory_pass(&self, all_arrays: bool) -> u64 {
        use rayon::prelude::*;
        let n = self.len();
        let h = &self.hot;
        (0..n.div_ceil(super::query::CHUNK))
            .into_par_iter()
            .map(|chunk| {
                let start = chunk * super::query::CHUNK;
                let mut sum = 0u64;
                for s in start..(start + super::query::CHUNK).min(n) {
                    sum = sum.wrapping_add(u64::from(h.followers[s]));
                    if all_arrays {
                        sum = sum
                            .wrapping_add(h.ids[s] as u64)
                            .wrapping_add(h.languages[s])
                            .wrapping_add(u64::from(h.categories[s]))
                            .wrapping_add(u64::from(h.primary[s]))
                            .wrapping_add(u64::from(h.region[s]))
                            .wrapping_add(u64::from(h.live_days[s]))
                            .wrapping_add(h.adult_on[s] as u64)
                            .wrapping_add(u64::from(h.since[s]))
                            .wrapping_add(h.avg_viewers[s].to_bits())
                            .wrapping_add(h.signals[s].iter().map(|q| u64::from(*q)).sum());
                    }
                }
                sum
            })
            .reduce(|| 0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(n: u128) -> CreatorRecord {
        CreatorRecord {
            id: Uuid::from_u128(n),
            handle: format!("c{n}"),
            display_name: format!("Creator {n}"),
            region: "FR".into(),
            languages: vec!["fr".into()],
            categories: vec![Category::Gaming],
            adult_on: NaiveDate::from_ymd_opt(2010, 1, 1),
            discoverable_since: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            followers: 1000,
            avg_viewers: 10.0,
            live_hours_30d: 10.0,
            live_days_30d: 5,
            diamonds_30d: 100,
            follower_growth_30d: 0.0,
            engagement_rate: 0.05,
        }
    }

    #[test]
    fn the_scanned_part_stays_under_64_bytes_a_creator() {
        const { assert!(HOT_BYTES_PER_CREATOR <= 64) };
        let index = Index::from_records((0..1000).map(record));
        let f = index.footprint();
        assert!(f.scanned_bytes <= 64 * 1024 * 2, "{f}");
    }

    #[test]
    fn removal_keeps_the_arrays_dense_and_the_map_right() {
        let mut index = Index::from_records((0..5).map(record));
        assert!(index.remove(Uuid::from_u128(1)));
        assert!(!index.remove(Uuid::from_u128(1)));
        assert_eq!(index.len(), 4);
        for n in [0, 2, 3, 4] {
            let slot = index.slot_of(Uuid::from_u128(n)).unwrap();
            assert_eq!(index.hot.ids[slot], n);
            assert_eq!(index.names.get(slot), format!("c{n}\0creator {n}"));
        }
        let mut r = record(3);
        r.display_name = "Renamed Ünïcode".into();
        r.followers = 5;
        index.upsert(r);
        let slot = index.slot_of(Uuid::from_u128(3)).unwrap();
        assert_eq!(index.names.get(slot), "c3\0renamed ünïcode");
        assert_eq!(index.hot.followers[slot], 5);
        assert_eq!(index.len(), 4);
    }

    #[test]
    fn languages_beyond_63_keep_their_exact_list() {
        let mut index = Index::new();
        for n in 0..70u128 {
            let mut r = record(n);
            r.languages = vec![format!("l{n}")];
            index.upsert(r);
        }
        let late = index.slot_of(Uuid::from_u128(65)).unwrap();
        assert_eq!(index.hot.languages[late], LANGUAGE_OVERFLOW);
        assert_eq!(index.languages.code(index.cold[late].languages[0]), "l65");
    }

    #[test]
    fn the_name_arena_compacts_when_mostly_dead() {
        let mut index = Index::from_records((0..10).map(record));
        for round in 0..50 {
            let mut r = record(round % 10);
            r.display_name = format!("name {round}");
            index.upsert(r);
        }
        let live: usize = (0..10).map(|s| index.names.get(s).len()).sum();
        assert!(
            index.names.text.len() <= live * 3,
            "arena grew without bound"
        );
    }
}
