//! Answers kept for reads asked again: a query's `data`, as the JSON text
//! sent, served again to the same viewer for the same document, operation
//! and variables for as long as nothing it read can have changed. The
//! dashboards' reads repeat all day; their writes are few.
//!
//! Current, not eventually consistent: before a kept answer is served,
//! this instance applies the change log as of the request's arrival (one
//! statement shared by all requests waiting, see
//! [`crate::domain::index`]), and an answer is served only while the count
//! of changes the instance has seen is the one it was read at. So no
//! answer predates a write acknowledged, on any instance, before the
//! request came. Any change drops every answer: simple and safe; finer
//! invalidation (by the entities an answer read) is for when writes are
//! frequent enough to matter.
//!
//! The clock: a rule judged by it (a PENDING invitation past its expiry
//! reads as EXPIRED; quotas, eligibility and rankings) tells the read's
//! [`AsOf`] how long what it judged holds. An answer is kept no longer;
//! one that may differ at any later moment is not kept.
//!
//! Only error-free queries are kept, and the cache is bounded in bytes
//! (keys and text), the least recently used going first.

use std::sync::{Arc, Mutex};

use async_graphql::Variables;
use chrono::{DateTime, Utc};

use crate::domain::Viewer;

/// How long what a read judged by the clock stays true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Nothing read depended on the time.
    Always,
    /// Until this instant (excluded).
    Until(DateTime<Utc>),
    /// Only at the instant it was judged.
    Instant,
}

impl Holds {
    /// The shorter of the two.
    fn and(self, other: Holds) -> Holds {
        match (self, other) {
            (Holds::Instant, _) | (_, Holds::Instant) => Holds::Instant,
            (Holds::Until(a), Holds::Until(b)) => Holds::Until(a.min(b)),
            (Holds::Until(a), Holds::Always) | (Holds::Always, Holds::Until(a)) => Holds::Until(a),
            (Holds::Always, Holds::Always) => Holds::Always,
        }
    }

    fn at(self, now: DateTime<Utc>) -> bool {
        match self {
            Holds::Always => true,
            Holds::Until(until) => now < until,
            Holds::Instant => false,
        }
    }
}

/// The instant one query is answered for (every rule it judges by the
/// clock uses the same one), and how long what it judged holds.
#[derive(Debug)]
pub struct AsOf {
    now: DateTime<Utc>,
    holds: Mutex<Holds>,
}

impl AsOf {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            holds: Mutex::new(Holds::Always),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Something was judged at [`Self::now`] that holds only `holds`.
    pub fn judged(&self, holds: Holds) {
        let mut held = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        *held = held.and(holds);
    }

    pub fn holds(&self) -> Holds {
        *self.holds.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What an answer is kept under: everything it depends on besides the
/// database and the clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    viewer: Viewer,
    /// The SHA-256 of the document.
    document: String,
    operation: Option<String>,
    /// The variables as JSON text.
    variables: String,
}

impl AnswerKey {
    pub fn new(
        viewer: Viewer,
        document: String,
        operation: Option<String>,
        variables: &Variables,
    ) -> Self {
        Self {
            viewer,
            document,
            operation,
            variables: serde_json::to_string(variables).unwrap_or_default(),
        }
    }

    fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.document.len()
            + self.operation.as_ref().map_or(0, String::len)
            + self.variables.len()
    }
}

/// A kept answer.
#[derive(Debug, Clone)]
pub struct Kept {
    /// [`crate::domain::index::RankingIndex::changes_seen`] when it was read.
    seen: u64,
    holds: Holds,
    /// `data`, as JSON text.
    pub data: Arc<str>,
    /// What it cost when it ran (every field 1), charged again.
    pub cost: u64,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<AnswerKey, Kept> for ByBytes {
    fn weight(&self, key: &AnswerKey, kept: &Kept) -> u64 {
        (key.bytes() + std::mem::size_of::<Kept>() + kept.data.len()) as u64
    }
}

/// Typical size of an answer, for the cache's initial sizing only.
const TYPICAL_ANSWER_BYTES: u64 = 4 * 1024;

/// This instance's kept answers, shared by every request.
pub struct Answers {
    cache: quick_cache::sync::Cache<AnswerKey, Kept, ByBytes>,
}

impl Answers {
    /// A cache holding at most `max_bytes`; `None` for 0 (turned off).
    pub fn new(max_bytes: u64) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            cache: quick_cache::sync::Cache::with_weighter(
                (max_bytes / TYPICAL_ANSWER_BYTES).max(16) as usize,
                max_bytes,
                ByBytes,
            ),
        })
    }

    /// The answer kept under `key`, if it was read with `seen` changes
    /// seen and still holds `now`.
    pub fn get(&self, key: &AnswerKey, seen: u64, now: DateTime<Utc>) -> Option<Kept> {
        let kept = self.cache.get(key)?;
        if kept.seen == seen && kept.holds.at(now) {
            Some(kept)
        } else {
            // Stale for good: changes are only ever counted up.
            self.cache.remove(key);
            None
        }
    }

    /// Keeps an answer read with `seen` changes seen, unless what it
    /// judged by the clock held only at its instant.
    pub fn keep(&self, key: AnswerKey, seen: u64, holds: Holds, data: Arc<str>, cost: u64) {
        if holds == Holds::Instant {
            return;
        }
        self.cache.insert(
            key,
            Kept {
                seen,
                holds,
                data,
                cost,
            },
        );
    }

    /// Bytes held (keys and text).
    pub fn bytes(&self) -> u64 {
        self.cache.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> AnswerKey {
        AnswerKey::new(
            Viewer::ANONYMOUS,
            format!("{n:064}"),
            None,
            &Variables::default(),
        )
    }

    fn text(bytes: usize) -> Arc<str> {
        "x".repeat(bytes).into()
    }

    #[test]
    fn an_answer_is_served_only_while_nothing_changed_and_its_time_holds() {
        let answers = Answers::new(1 << 20).unwrap();
        let t0 = Utc::now();
        let later = t0 + chrono::TimeDelta::seconds(60);
        answers.keep(key(1), 7, Holds::Always, text(10), 3);
        answers.keep(key(2), 7, Holds::Until(later), text(10), 3);
        answers.keep(key(3), 7, Holds::Instant, text(10), 3);
        assert_eq!(answers.get(&key(1), 7, t0).map(|k| k.cost), Some(3));
        assert!(answers.get(&key(2), 7, t0).is_some());
        assert!(
            answers.get(&key(2), 7, later).is_none(),
            "expired at `later`"
        );
        assert!(answers.get(&key(3), 7, t0).is_none(), "never kept");
        assert!(answers.get(&key(1), 8, t0).is_none(), "a change came since");
        assert!(
            answers.get(&key(1), 7, t0).is_none(),
            "and it is gone for good"
        );
    }

    #[test]
    fn viewers_do_not_share_answers() {
        let answers = Answers::new(1 << 20).unwrap();
        let agency = |id: u128| {
            AnswerKey::new(
                Viewer::new(
                    crate::domain::Principal::Agency(uuid::Uuid::from_u128(id)),
                    None,
                ),
                "d".repeat(64),
                None,
                &Variables::default(),
            )
        };
        answers.keep(agency(1), 0, Holds::Always, text(5), 1);
        assert!(answers.get(&agency(1), 0, Utc::now()).is_some());
        assert!(answers.get(&agency(2), 0, Utc::now()).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let budget = 64 * 1024;
        let answers = Answers::new(budget).unwrap();
        for n in 0..1000 {
            answers.keep(key(n), 0, Holds::Always, text(1000), 1);
        }
        assert!(answers.bytes() <= budget, "{} bytes held", answers.bytes());
        assert!(answers.get(&key(999), 0, Utc::now()).is_some());
        assert!(Answers::new(0).is_none(), "0 turns it off");
    }

    #[test]
    fn the_shortest_hold_wins() {
        let as_of = AsOf::new(Utc::now());
        let a = as_of.now() + chrono::TimeDelta::seconds(5);
        let b = as_of.now() + chrono::TimeDelta::seconds(9);
        as_of.judged(Holds::Always);
        assert_eq!(as_of.holds(), Holds::Always);
        as_of.judged(Holds::Until(b));
        as_of.judged(Holds::Until(a));
        assert_eq!(as_of.holds(), Holds::Until(a));
        as_of.judged(Holds::Instant);
        as_of.judged(Holds::Until(b));
        assert_eq!(as_of.holds(), Holds::Instant);
    }
}
