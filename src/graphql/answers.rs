//! Answers kept for reads asked again: a query's `data`, as the JSON text
//! sent, served again to the same viewer for the same document, operation
//! and variables for as long as nothing it read can have changed. The
//! dashboards' reads repeat all day; their writes are few.
//!
//! Current, not eventually consistent: before a kept answer is served,
//! this instance applies the change log as of the request's arrival (one
//! statement shared by all requests waiting, see
//! [`crate::domain::index`]), and an answer is served only while nothing
//! it read has changed since it was read: each resolver names the
//! [`Scope`]s it reads (an entity's row, a parent's list or count), every
//! change-log row names the scopes it touched, and the answer holds while
//! none of its scopes ticked after the count of changes it was read at. So
//! no answer predates a write acknowledged, on any instance, before the
//! request came, and agency B's dashboard survives agency A's invitations.
//! While one request runs a query, those asking the same wait for its
//! answer rather than run it too (and check it holds for them as well).
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
use crate::domain::scopes::Scope;

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
/// clock uses the same one), how long what it judged holds, and what it
/// read.
#[derive(Debug)]
pub struct AsOf {
    now: DateTime<Utc>,
    holds: Mutex<Holds>,
    reads: Mutex<Vec<Scope>>,
}

impl AsOf {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            holds: Mutex::new(Holds::Always),
            reads: Mutex::new(Vec::new()),
        }
    }

    /// The query read what `scope` names.
    pub fn read(&self, scope: Scope) {
        self.reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scope);
    }

    /// Everything the query read, each once.
    pub fn reads(&self) -> Arc<[Scope]> {
        let mut reads = std::mem::take(&mut *self.reads.lock().unwrap_or_else(|e| e.into_inner()));
        reads.sort_unstable();
        reads.dedup();
        reads.into()
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

/// What an answer is kept under: the request, whoever asks it (what it
/// read and when is kept beside the answer, [`Kept::Answer`]).
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

/// What running a query under a key left.
#[derive(Debug, Clone)]
pub enum Kept {
    /// Its answer: `data` as JSON text, what it cost when it ran (every
    /// field 1, charged again), how long what it judged by the clock holds,
    /// what it read and the count of changes seen when it began
    /// ([`crate::domain::index::RankingIndex::changes_seen`]).
    Answer {
        holds: Holds,
        data: Arc<str>,
        cost: u64,
        reads: Arc<[Scope]>,
        seen: u64,
    },
    /// What it judged held only for its instant: it always will, whatever
    /// the database holds, so those asking the same need not wait.
    Momentary,
    /// It answered with errors: those who waited for it run their own.
    Failed,
}

impl Kept {
    /// A query that ran without errors, begun when `seen` changes were
    /// seen, that read what `as_of` recorded.
    pub fn ran(as_of: &AsOf, seen: u64, data: Arc<str>, cost: u64) -> Self {
        match as_of.holds() {
            Holds::Instant => Kept::Momentary,
            holds => Kept::Answer {
                holds,
                data,
                cost,
                reads: as_of.reads(),
                seen,
            },
        }
    }
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<AnswerKey, Kept> for ByBytes {
    fn weight(&self, key: &AnswerKey, kept: &Kept) -> u64 {
        let data = match kept {
            Kept::Answer { data, reads, .. } => {
                data.len() + std::mem::size_of_val::<[Scope]>(reads)
            }
            Kept::Momentary | Kept::Failed => 0,
        };
        (key.bytes() + std::mem::size_of::<Kept>() + data) as u64
    }
}

/// Typical size of an answer, for the cache's initial sizing only.
const TYPICAL_ANSWER_BYTES: u64 = 4 * 1024;

type Cache = quick_cache::sync::Cache<AnswerKey, Kept, ByBytes>;

/// The right to run a query for every request that asks the same
/// meanwhile: they wait, then take what it leaves if it holds for them.
pub struct Runner<'a>(
    quick_cache::sync::PlaceholderGuard<
        'a,
        AnswerKey,
        Kept,
        ByBytes,
        quick_cache::DefaultHashBuilder,
        quick_cache::sync::DefaultLifecycle<AnswerKey, Kept>,
    >,
);

/// What to do with a query.
pub enum Lookup<'a> {
    /// Serve this `data` (JSON text), which cost `cost`.
    Kept { data: Arc<str>, cost: u64 },
    /// Run it, for the others too when there is a [`Runner`].
    Run(Option<Runner<'a>>),
}

/// A document and the operation chosen in it.
type Operation = (String, Option<String>);

/// Documents found to hold only for their instant remembered at most (a
/// hint, not a rule: one forgotten is run and found so again), in bytes
/// of their keys; counted in [`Answers::bytes`].
const MOMENTARY_BYTES: u64 = 1024 * 1024;

#[derive(Clone)]
struct KeyBytes;

impl quick_cache::Weighter<Operation, ()> for KeyBytes {
    fn weight(&self, (document, operation): &Operation, (): &()) -> u64 {
        (std::mem::size_of::<Operation>()
            + document.len()
            + operation.as_ref().map_or(0, String::len)) as u64
    }
}

/// This instance's kept answers, shared by every request.
pub struct Answers {
    cache: Cache,
    /// Operations that ran and held only for their instant: a ranking, a
    /// quota. They will again, so they skip the change-log read and the
    /// waiting. (Remembered by document, not variables: a document that
    /// is momentary for some variables is then run for all, never wrong.)
    momentary: quick_cache::sync::Cache<Operation, (), KeyBytes>,
}

impl Answers {
    /// A cache holding at most `max_bytes`; `None` for 0 (turned off).
    pub fn new(max_bytes: u64) -> Option<Self> {
        (max_bytes > 0).then(|| Self {
            cache: Cache::with_weighter(
                (max_bytes / TYPICAL_ANSWER_BYTES).max(16) as usize,
                max_bytes,
                ByBytes,
            ),
            momentary: quick_cache::sync::Cache::with_weighter(
                (MOMENTARY_BYTES / 128) as usize,
                MOMENTARY_BYTES,
                KeyBytes,
            ),
        })
    }

    /// Whether the operation held only for its instant when it last ran
    /// (its answers are never kept: run it straight away).
    pub fn momentary(&self, document: &str, operation: Option<&str>) -> bool {
        self.momentary
            .get(&(document.to_owned(), operation.map(str::to_owned)))
            .is_some()
    }

    /// The answer kept under `key` if it holds `now` and `unchanged`
    /// (given what it read and the count it was read at) says nothing it
    /// read changed; else whether this request runs the query for all that
    /// ask meanwhile. While another request runs it, this waits for what
    /// that one leaves.
    pub async fn lookup(
        &self,
        key: &AnswerKey,
        now: DateTime<Utc>,
        unchanged: impl Fn(&[Scope], u64) -> bool,
    ) -> Lookup<'_> {
        // A stale answer is dropped once, so that this request runs the
        // query for those asking alongside.
        for first in [true, false] {
            match self.cache.get_value_or_guard_async(key).await {
                Ok(Kept::Answer {
                    holds,
                    data,
                    cost,
                    reads,
                    seen,
                }) => {
                    if holds.at(now) && unchanged(&reads, seen) {
                        return Lookup::Kept { data, cost };
                    }
                    if first {
                        self.cache.remove(key);
                    }
                }
                // The one who ran it could not keep it.
                Ok(_) => break,
                Err(guard) => return Lookup::Run(Some(Runner(guard))),
            }
        }
        Lookup::Run(None)
    }

    /// What running the query under `key` left; those who waited take it.
    pub fn settle(&self, key: AnswerKey, runner: Option<Runner<'_>>, kept: Kept) {
        if matches!(kept, Kept::Momentary) {
            self.momentary
                .insert((key.document.clone(), key.operation.clone()), ());
        }
        match (runner, &kept) {
            (Some(Runner(guard)), _) => {
                let _ = guard.insert(kept);
            }
            (None, Kept::Answer { .. }) => self.cache.insert(key, kept),
            (None, _) => {}
        }
    }

    /// Bytes held (keys and text, the momentary operations' keys).
    pub fn bytes(&self) -> u64 {
        self.cache.weight() + self.momentary.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::scopes::{ChangeClock, Touched};

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

    fn scope(n: u128) -> Scope {
        Scope::Creator(uuid::Uuid::from_u128(n))
    }

    /// What a query that judged `holds` and read `reads` at `seen` left.
    fn ran(holds: Holds, reads: &[Scope], seen: u64) -> Kept {
        let as_of = AsOf::new(Utc::now());
        as_of.judged(holds);
        for r in reads {
            as_of.read(*r);
        }
        Kept::ran(&as_of, seen, text(10), 3)
    }

    /// Runs `key`'s query if the cache says so, leaving `kept`.
    async fn ask(
        answers: &Answers,
        clock: &ChangeClock,
        key: &AnswerKey,
        now: DateTime<Utc>,
        kept: Kept,
    ) -> bool {
        match answers
            .lookup(key, now, |r, seen| clock.unchanged_since(r, seen))
            .await
        {
            Lookup::Kept { .. } => false,
            Lookup::Run(runner) => {
                answers.settle(key.clone(), runner, kept);
                true
            }
        }
    }

    #[tokio::test]
    async fn an_answer_is_served_while_what_it_read_is_unchanged_and_its_time_holds() {
        let answers = Answers::new(1 << 20).unwrap();
        let clock = ChangeClock::default();
        let t0 = Utc::now();
        let later = t0 + chrono::TimeDelta::seconds(60);
        let read = [scope(1), scope(2)];
        assert!(ask(&answers, &clock, &key(1), t0, ran(Holds::Always, &read, 7)).await);
        assert!(
            !ask(&answers, &clock, &key(1), t0, Kept::Failed).await,
            "then kept"
        );
        clock.tick(&Touched::Scopes(vec![scope(3)]), 8);
        assert!(
            !ask(&answers, &clock, &key(1), t0, Kept::Failed).await,
            "a change it did not read"
        );
        clock.tick(&Touched::Scopes(vec![scope(2)]), 9);
        assert!(
            ask(&answers, &clock, &key(1), t0, ran(Holds::Always, &read, 9)).await,
            "a change it read"
        );
        assert!(
            !ask(&answers, &clock, &key(1), t0, Kept::Failed).await,
            "read again"
        );
        assert!(
            ask(
                &answers,
                &clock,
                &key(2),
                t0,
                ran(Holds::Until(later), &[], 9)
            )
            .await
        );
        assert!(!ask(&answers, &clock, &key(2), t0, Kept::Failed).await);
        assert!(
            ask(&answers, &clock, &key(2), later, Kept::Failed).await,
            "its time is up"
        );
        assert!(ask(&answers, &clock, &key(3), t0, Kept::Failed).await);
        assert!(
            ask(&answers, &clock, &key(3), t0, Kept::Failed).await,
            "errors: not kept"
        );
        assert!(ask(&answers, &clock, &key(4), t0, ran(Holds::Instant, &[], 9)).await);
        assert!(
            ask(&answers, &clock, &key(4), t0, Kept::Failed).await,
            "never kept"
        );
        clock.tick(&Touched::Everything, 10);
        assert!(
            ask(&answers, &clock, &key(1), t0, Kept::Failed).await,
            "everything changed"
        );
    }

    #[tokio::test]
    async fn those_asking_while_one_runs_wait_and_take_its_answer() {
        let answers = Arc::new(Answers::new(1 << 20).unwrap());
        let now = Utc::now();
        let Lookup::Run(Some(runner)) = answers.lookup(&key(1), now, |_, _| true).await else {
            panic!("the first one runs it");
        };
        let waiter = {
            let answers = answers.clone();
            tokio::spawn(async move {
                match answers.lookup(&key(1), now, |_, _| true).await {
                    Lookup::Kept { cost, .. } => Some(cost),
                    Lookup::Run(_) => None,
                }
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "it waits for the one running");
        answers.settle(key(1), Some(runner), ran(Holds::Always, &[], 0));
        assert_eq!(waiter.await.unwrap(), Some(3));
    }

    #[tokio::test]
    async fn a_waiter_for_whom_the_answer_no_longer_holds_runs_its_own() {
        let answers = Arc::new(Answers::new(1 << 20).unwrap());
        let now = Utc::now();
        let Lookup::Run(Some(runner)) = answers.lookup(&key(1), now, |_, _| true).await else {
            panic!("the first one runs it");
        };
        let waiter = {
            let answers = answers.clone();
            tokio::spawn(async move {
                // A change to what it read came before this request did.
                let lookup = answers.lookup(&key(1), now, |_, seen| seen > 0).await;
                matches!(lookup, Lookup::Run(Some(_)))
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        answers.settle(key(1), Some(runner), ran(Holds::Always, &[scope(1)], 0));
        assert!(waiter.await.unwrap(), "it runs, for those after it too");
    }

    #[tokio::test]
    async fn those_waiting_for_a_momentary_answer_run_their_own_at_once_after() {
        let answers = Arc::new(Answers::new(1 << 20).unwrap());
        let now = Utc::now();
        let Lookup::Run(Some(runner)) = answers.lookup(&key(1), now, |_, _| true).await else {
            panic!("the first one runs it");
        };
        let waiter = {
            let answers = answers.clone();
            tokio::spawn(async move {
                matches!(
                    answers.lookup(&key(1), now, |_, _| true).await,
                    Lookup::Run(None)
                )
            })
        };
        assert!(!answers.momentary(&key(1).document, None));
        answers.settle(key(1), Some(runner), ran(Holds::Instant, &[], 0));
        assert!(waiter.await.unwrap());
        assert!(
            answers.momentary(&key(1).document, None),
            "it runs straight away from now on"
        );
    }

    #[tokio::test]
    async fn viewers_do_not_share_answers() {
        let answers = Answers::new(1 << 20).unwrap();
        let clock = ChangeClock::default();
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
        let now = Utc::now();
        assert!(
            ask(
                &answers,
                &clock,
                &agency(1),
                now,
                ran(Holds::Always, &[], 0)
            )
            .await
        );
        assert!(!ask(&answers, &clock, &agency(1), now, Kept::Failed).await);
        assert!(ask(&answers, &clock, &agency(2), now, Kept::Failed).await);
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let budget = 64 * 1024;
        let answers = Answers::new(budget).unwrap();
        for n in 0..1000 {
            let as_of = AsOf::new(Utc::now());
            answers.settle(key(n), None, Kept::ran(&as_of, 0, text(1000), 1));
        }
        assert!(answers.bytes() <= budget, "{} bytes held", answers.bytes());
        assert!(
            answers.bytes() > budget / 2,
            "{} bytes held",
            answers.bytes()
        );
        assert!(Answers::new(0).is_none(), "0 turns it off");
    }

    #[test]
    fn the_shortest_hold_wins_and_reads_are_kept_once_each() {
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
        for s in [scope(2), scope(1), scope(2)] {
            as_of.read(s);
        }
        assert_eq!(&*as_of.reads(), &[scope(1), scope(2)]);
    }
}
