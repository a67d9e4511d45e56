//! GCRA in Redis: one Lua script per check (EVALSHA through `redis::Script`, loaded again by
//! itself after a Redis restart), so concurrent checks from every node are serialised by Redis
//! and the last unit of a budget is handed out once.
//!
//! The arithmetic is `governor`'s, which the in-process limiter uses (see
//! `gatehouse_core::abuse::gcra`): emission interval `T = period / requests`, tolerance
//! `tau = T * (requests - 1)`; a request at `now` passes when `now >= TAT - tau` and moves the
//! stored TAT to `max(TAT, now) + T`; a refusal waits `TAT - tau - now`, rounded up to whole
//! seconds for `Retry-After` exactly as the in-process limiter rounds. The key expires
//! (`PX`) when its TAT has passed, when a fresh key behaves the same, so idle keys vanish.
//!
//! Time: in production the script reads Redis's own clock (`TIME`), because nodes' clocks may
//! differ and one budget needs one clock ([`RedisTime::Server`]). Tests pass our movable
//! [`Clock`] instead ([`RedisTime::Caller`]), which makes refill and `Retry-After` checkable
//! without sleeping. The per-node fallback always uses the node's clock.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::Clock;
use gatehouse_core::abuse::{InProcessRateLimiter, Quota, RateLimiter, RetryAfter};
use tokio::time::Instant;

use super::RedisSharedState;

/// How long the limiter answers from the fallback before trying Redis again after a failure
/// (one probe at a time), so an unreachable Redis costs one timeout per second, not one per request.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// `KEYS[1]`: the counter; `ARGV`: T and tau in µs, `now` in µs or "" for Redis `TIME`.
/// Returns 0 when allowed, else the wait in µs. Numbers stay below 2^53 (µs since 1970 are
/// about 2^51), and the TAT is written with `%d` because Redis turns a Lua number into text
/// with only 14 significant digits.
const GCRA_SCRIPT: &str = r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  if redis.replicate_commands then redis.replicate_commands() end
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
else
  now = tonumber(ARGV[3])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
local earliest = tat - tau
if now < earliest then
  return earliest - now
end
local nxt = math.max(tat, now) + t
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000))
return 0
";

/// Whose clock the script reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTime {
    /// Redis's `TIME` (production: one clock for every node).
    Server,
    /// The limiter's [`Clock`], passed with each check (tests with a movable clock).
    Caller,
}

/// Rate limits counted in Redis, with a per-node in-process limiter for when Redis fails.
pub struct RedisRateLimiter {
    redis: RedisSharedState,
    script: redis::Script,
    clock: Arc<dyn Clock>,
    time: RedisTime,
    fallback: InProcessRateLimiter,
    /// While Redis is failing: when to try it again (`None`: it answered last time).
    retry_at: Mutex<Option<Instant>>,
}

impl RedisRateLimiter {
    pub(super) fn new(redis: RedisSharedState, clock: Arc<dyn Clock>, time: RedisTime) -> Self {
        Self {
            redis,
            script: redis::Script::new(GCRA_SCRIPT),
            fallback: InProcessRateLimiter::new(clock.clone()),
            clock,
            time,
            retry_at: Mutex::new(None),
        }
    }

    fn key(&self, limit: &str, key: &str) -> String {
        format!("{}rl:{limit}:{key}", self.redis.prefix)
    }

    /// Whether this check should go to Redis: always while it answers; after a failure, one
    /// check per [`RETRY_EVERY`] (which claims the probe by pushing the next one out), or at
    /// once when the invalidation subscriber's ping has seen Redis answer again since (so limits
    /// are shared again as soon as `gatehouse_rate_limit_shared` says so).
    fn should_try_redis(&self) -> bool {
        let mut retry_at = self.retry_at.lock().unwrap_or_else(PoisonError::into_inner);
        match *retry_at {
            None => true,
            Some(at) if Instant::now() >= at || self.redis.health.redis_up() => {
                *retry_at = Some(Instant::now() + RETRY_EVERY);
                true
            }
            Some(_) => false,
        }
    }

    fn answered(&self) {
        *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.redis.health.mark_up();
    }

    fn failed(&self, error: &dyn std::fmt::Display) {
        *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + RETRY_EVERY);
        self.redis.health.mark_down(error);
    }

    /// The wait in µs (0: allowed), or `None` when Redis did not answer in time.
    async fn check_in_redis(&self, limit: &str, (t, tau): (u64, u64), key: &str) -> Option<u64> {
        let now = match self.time {
            RedisTime::Server => String::new(),
            RedisTime::Caller => (self.clock.now_millis().max(0) * 1000).to_string(),
        };
        let mut conn = self.redis.conn.clone();
        let mut invocation = self.script.key(self.key(limit, key));
        invocation.arg(t).arg(tau).arg(now);
        let attempt = async {
            match invocation.invoke_async::<i64>(&mut conn).await {
                // The first command after Redis restarted finds the old connection dropped; the
                // connection manager reconnects, so one more try (within the same timeout)
                // keeps that check from falling back to per-node counting.
                Err(e) if e.is_connection_dropped() || e.is_io_error() => {
                    invocation.invoke_async::<i64>(&mut conn).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.redis.timeout, attempt).await {
            Ok(Ok(wait)) => {
                self.answered();
                Some(u64::try_from(wait).unwrap_or(0))
            }
            Ok(Err(e)) => {
                self.failed(&e);
                None
            }
            Err(_) => {
                self.failed(&"no answer within the timeout");
                None
            }
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, limit: &'static str, quota: Quota, key: &str) -> Result<(), RetryAfter> {
        // A quota that validation would refuse never limits, as in-process.
        let Some(gcra) = quota.gcra_micros() else { return Ok(()) };
        if self.should_try_redis()
            && let Some(wait) = self.check_in_redis(limit, gcra, key).await
        {
            return match wait {
                0 => Ok(()),
                micros => Err(RetryAfter::from_wait(Duration::from_micros(micros))),
            };
        }
        self.redis.health.count_fallback();
        self.fallback.check(limit, quota, key).await
    }
}
