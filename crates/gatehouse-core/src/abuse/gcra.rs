//! GCRA rate limits (the generic cell rate algorithm, as `governor` implements it): the
//! [`RateLimiter`] trait and its in-process implementation on `governor`'s keyed limiters.
//!
//! GCRA keeps one number per key, the theoretical arrival time (TAT) of the next request: a
//! request at `now` is allowed when `TAT - burst_tolerance <= now`, and then moves the TAT one
//! emission interval (`period / requests`) further. That is an exact token bucket without a
//! timer, and it is a single compare-and-set per request, which is why it also fits a Redis
//! script: `gatehouse-store`'s `RedisRateLimiter` implements [`RateLimiter`] there with the
//! same arithmetic, so that all nodes share one budget.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;

/// `requests` per `period` seconds per key: all of them may come at once (the burst is
/// `requests`), after which one more is allowed every `period / requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quota {
    pub requests: u32,
    /// Seconds.
    pub period: u32,
}

impl Quota {
    pub const fn new(requests: u32, period: u32) -> Self {
        Self { requests, period }
    }

    /// Both numbers must be at least 1.
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.requests == 0 || self.period == 0 {
            return Err("requests and period must both be at least 1");
        }
        Ok(())
    }

    /// The GCRA emission interval `T = period / requests` and burst tolerance
    /// `tau = T * (requests - 1)`, in microseconds, exactly as `governor` derives them (for
    /// limiters that evaluate GCRA elsewhere, such as in a Redis script). `None` for an invalid quota.
    pub fn gcra_micros(self) -> Option<(u64, u64)> {
        self.validate().ok()?;
        let t = (u64::from(self.period) * 1_000_000 / u64::from(self.requests)).max(1);
        Some((t, t * u64::from(self.requests - 1)))
    }

    fn governor(self) -> Option<governor::Quota> {
        let burst = NonZeroU32::new(self.requests)?;
        let interval = Duration::from_secs(u64::from(self.period)) / burst.get();
        Some(governor::Quota::with_period(interval)?.allow_burst(burst))
    }
}

/// Whole seconds until the next request would be allowed (at least 1), as `Retry-After`
/// (RFC 9110 §10.2.3) carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl RetryAfter {
    /// The whole seconds (rounded up, at least 1) of `wait`; every limiter rounds the same way.
    pub fn from_wait(wait: Duration) -> Self {
        let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        Self(millis.div_ceil(1000).max(1))
    }
}

/// Rate-limit counters. Each `(limit, key)` pair has its own budget; `check` takes one request
/// from it atomically (concurrent callers never both get the last one).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, limit: &'static str, quota: Quota, key: &str) -> Result<(), RetryAfter>;
}

/// `governor` measures time with our [`Clock`], so tests can move it.
struct ClockAdapter(Arc<dyn Clock>);

impl governor::clock::Clock for ClockAdapter {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_millis()).unwrap_or(0))
    }
}

type Keyed = governor::RateLimiter<String, HashMapStateStore<String>, ClockAdapter, NoOpMiddleware<Duration>>;

/// How often keys whose budget is full again are dropped (a fresh key behaves the same).
const SWEEP_EVERY_MILLIS: i64 = 60_000;

/// Counters in this process's memory: right for one node; several nodes each count alone.
pub struct InProcessRateLimiter {
    clock: Arc<dyn Clock>,
    limiters: RwLock<HashMap<&'static str, (Quota, Arc<Keyed>)>>,
    last_sweep: AtomicI64,
}

impl InProcessRateLimiter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_millis();
        Self { clock, limiters: RwLock::new(HashMap::new()), last_sweep: AtomicI64::new(now) }
    }

    /// The keyed limiter of `limit`, created on first use (or replaced if its quota changed).
    fn limiter(&self, limit: &'static str, quota: Quota) -> Option<Arc<Keyed>> {
        if let Some((q, l)) = self.limiters.read().unwrap_or_else(PoisonError::into_inner).get(limit)
            && *q == quota
        {
            return Some(l.clone());
        }
        let mut all = self.limiters.write().unwrap_or_else(PoisonError::into_inner);
        match all.get(limit) {
            Some((q, l)) if *q == quota => Some(l.clone()),
            _ => {
                let limiter = Arc::new(Keyed::hashmap_with_clock(quota.governor()?, ClockAdapter(self.clock.clone())));
                all.insert(limit, (quota, limiter.clone()));
                Some(limiter)
            }
        }
    }

    /// Forgets keys whose budget has refilled, at most once a minute, so memory follows the
    /// number of recently limited clients rather than every client ever seen.
    fn sweep(&self) {
        let now = self.clock.now_millis();
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now - last < SWEEP_EVERY_MILLIS
            || self.last_sweep.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        for (_, limiter) in self.limiters.read().unwrap_or_else(PoisonError::into_inner).values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Keys currently held for `limit` (for tests and metrics).
    pub fn tracked_keys(&self, limit: &'static str) -> usize {
        self.limiters.read().unwrap_or_else(PoisonError::into_inner).get(limit).map_or(0, |(_, l)| l.len())
    }
}

#[async_trait]
impl RateLimiter for InProcessRateLimiter {
    async fn check(&self, limit: &'static str, quota: Quota, key: &str) -> Result<(), RetryAfter> {
        self.sweep();
        // A quota that validation would refuse never limits (validation runs at start-up).
        let Some(limiter) = self.limiter(limit, quota) else { return Ok(()) };
        let key = key.to_owned();
        limiter.check_key(&key).map_err(|not_until| {
            let now = governor::clock::Clock::now(&ClockAdapter(self.clock.clone()));
            RetryAfter::from_wait(not_until.wait_time_from(now))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn burst_then_one_per_interval() {
        let clock = ManualClock::new(1_000_000);
        let limiter = InProcessRateLimiter::new(clock.clone());
        let q = Quota::new(3, 60);
        for _ in 0..3 {
            assert_eq!(limiter.check("t", q, "a").await, Ok(()));
        }
        assert_eq!(limiter.check("t", q, "a").await, Err(RetryAfter(20)));
        // Other keys and other limits have budgets of their own.
        assert_eq!(limiter.check("t", q, "b").await, Ok(()));
        assert_eq!(limiter.check("u", q, "a").await, Ok(()));
        clock.advance(19);
        assert_eq!(limiter.check("t", q, "a").await, Err(RetryAfter(1)));
        clock.advance(1);
        assert_eq!(limiter.check("t", q, "a").await, Ok(()));
        assert!(limiter.check("t", q, "a").await.is_err());
        clock.advance(60);
        for _ in 0..3 {
            assert_eq!(limiter.check("t", q, "a").await, Ok(()));
        }
    }

    #[tokio::test]
    async fn refilled_keys_are_forgotten() {
        let clock = ManualClock::new(1_000_000);
        let limiter = InProcessRateLimiter::new(clock.clone());
        let q = Quota::new(2, 10);
        for k in 0..100 {
            limiter.check("t", q, &k.to_string()).await.unwrap();
        }
        assert_eq!(limiter.tracked_keys("t"), 100);
        clock.advance(61);
        limiter.check("t", q, "new").await.unwrap();
        assert_eq!(limiter.tracked_keys("t"), 1);
    }

    #[tokio::test]
    async fn concurrent_checks_never_exceed_the_burst() {
        let clock = ManualClock::new(1_000_000);
        let limiter = Arc::new(InProcessRateLimiter::new(clock));
        let q = Quota::new(10, 3600);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.check("t", q, "k").await.is_ok() })
            })
            .collect();
        let mut allowed = 0;
        for t in tasks {
            allowed += usize::from(t.await.unwrap());
        }
        assert_eq!(allowed, 10);
    }

    #[test]
    fn quota_validation_and_retry_after_rounding() {
        assert!(Quota::new(0, 60).validate().is_err());
        assert!(Quota::new(1, 0).validate().is_err());
        assert!(Quota::new(1, 1).validate().is_ok());
        assert_eq!(RetryAfter::from_wait(Duration::from_millis(1)), RetryAfter(1));
        assert_eq!(RetryAfter::from_wait(Duration::from_millis(1001)), RetryAfter(2));
        assert_eq!(RetryAfter::from_wait(Duration::ZERO), RetryAfter(1));
    }
}
