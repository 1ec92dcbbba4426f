//! Token buckets in cost points, one per principal (DESIGN.md "Limits"):
//! a request may start when its requested cost is available, and reserves
//! it at once, so concurrent requests cannot overdraw the bucket; once it
//! ran, the difference with what it actually cost is settled, and a debt
//! (an answer that cost more than asked) carries over, as Shopify's and
//! GitHub's buckets do. Time is passed in.
//!
//! Hand-written rather than `governor`: its GCRA cells can neither report
//! the points a caller has left (`throttleStatus.currentlyAvailable`) nor
//! charge, after the fact, a cost that differs from the one admitted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before full ones (idle callers) are forgotten.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

/// The bucket cannot cover the request yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    pub retry_after: Duration,
    pub throttle: Throttle,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    available: f64,
    at: Instant,
}

pub struct RateLimiter {
    capacity: f64,
    restore_per_second: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `None` when `capacity` is 0: rate limiting is off.
    pub fn new(capacity: u32, restore_per_second: u32) -> Option<Self> {
        (capacity > 0).then(|| Self {
            capacity: f64::from(capacity),
            restore_per_second: f64::from(restore_per_second),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    fn throttle(&self, available: f64) -> Throttle {
        Throttle {
            maximum_available: self.capacity,
            currently_available: available.floor(),
            restore_rate: self.restore_per_second,
        }
    }

    /// `key`'s bucket as of `now`, refilled, created full.
    fn refilled<'m>(
        &self,
        buckets: &'m mut HashMap<String, Bucket>,
        key: &str,
        now: Instant,
    ) -> &'m mut Bucket {
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            let (capacity, rate) = (self.capacity, self.restore_per_second);
            buckets.retain(|_, b| {
                b.available + rate * now.saturating_duration_since(b.at).as_secs_f64() < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            available: self.capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.available =
            (bucket.available + elapsed * self.restore_per_second).min(self.capacity);
        bucket.at = bucket.at.max(now);
        bucket
    }

    /// Whether `requested` points may start now; if so they are taken.
    /// A request larger than the bucket starts from a full one, and
    /// leaves it in debt.
    pub fn admit(&self, key: &str, requested: u64, now: Instant) -> Result<Throttle, Limited> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = self.refilled(&mut buckets, key, now);
        let needed = (requested as f64).min(self.capacity);
        if bucket.available >= needed {
            bucket.available -= requested as f64;
            return Ok(self.throttle(bucket.available));
        }
        let seconds = if self.restore_per_second > 0.0 {
            ((needed - bucket.available) / self.restore_per_second).ceil()
        } else {
            // Never restored: say when an operator might have fixed it.
            3600.0
        };
        Err(Limited {
            retry_after: Duration::from_secs_f64(seconds.max(1.0)),
            throttle: self.throttle(bucket.available),
        })
    }

    /// A request that reserved `reserved` points actually cost `actual`:
    /// the difference is given back, or owed.
    pub fn settle(&self, key: &str, reserved: u64, actual: u64, now: Instant) -> Throttle {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = self.refilled(&mut buckets, key, now);
        bucket.available = (bucket.available + reserved as f64 - actual as f64).min(self.capacity);
        self.throttle(bucket.available)
    }

    /// Takes `points` without asking (what a refused request cost to read).
    pub fn charge(&self, key: &str, points: u64, now: Instant) -> Throttle {
        self.settle(key, 0, points, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_until_empty_then_says_when_to_retry() {
        let limiter = RateLimiter::new(100, 10).unwrap();
        let t0 = Instant::now();
        assert_eq!(
            limiter.admit("a", 60, t0).unwrap().currently_available,
            40.0
        );
        let limited = limiter.admit("a", 60, t0).unwrap_err();
        assert_eq!(limited.retry_after, Duration::from_secs(2));
        assert_eq!(limited.throttle.currently_available, 40.0);
        // Another principal has its own bucket.
        assert!(limiter.admit("b", 60, t0).is_ok());
        // Two seconds restore 20 points.
        let t2 = t0 + Duration::from_secs(2);
        assert_eq!(limiter.admit("a", 60, t2).unwrap().currently_available, 0.0);
    }

    #[test]
    fn concurrent_reservations_cannot_overdraw() {
        let limiter = RateLimiter::new(10_000, 500).unwrap();
        let t0 = Instant::now();
        let admitted = (0..40)
            .filter(|_| limiter.admit("a", 4_000, t0).is_ok())
            .count();
        assert_eq!(admitted, 2, "two reservations of 4,000 fit in 10,000");
    }

    #[test]
    fn settling_refunds_or_leaves_a_debt_that_carries_over() {
        let limiter = RateLimiter::new(10_000, 500).unwrap();
        let t0 = Instant::now();
        limiter.admit("a", 100, t0).unwrap();
        assert_eq!(
            limiter.settle("a", 100, 10, t0).currently_available,
            9_990.0
        );
        // An answer that cost far more than asked: the bucket owes it.
        limiter.admit("a", 100, t0).unwrap();
        let owed = limiter.settle("a", 100, 461_426, t0);
        assert!(owed.currently_available < -450_000.0, "{owed:?}");
        let later = t0 + Duration::from_secs(10);
        let refused = limiter.admit("a", 1, later).unwrap_err();
        assert!(
            refused.retry_after > Duration::from_secs(800),
            "{refused:?}"
        );
    }

    #[test]
    fn buckets_never_overfill_and_a_large_request_waits_for_a_full_one() {
        let limiter = RateLimiter::new(50, 5).unwrap();
        let t0 = Instant::now();
        assert_eq!(limiter.charge("a", 20, t0).currently_available, 30.0);
        assert!(limiter.admit("a", 10_000, t0).is_err(), "not full");
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(limiter.settle("a", 0, 0, later).currently_available, 50.0);
        assert!(limiter.admit("a", 10_000, later).is_ok());
    }

    #[test]
    fn capacity_zero_is_off() {
        assert!(RateLimiter::new(0, 500).is_none());
    }
}
