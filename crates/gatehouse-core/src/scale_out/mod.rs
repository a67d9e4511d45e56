//! What several nodes share beyond the database (DESIGN.md §6, issue #17): the cache
//! invalidation bus ([`invalidation`]) and the health of the shared fast state ([`SharedStateHealth`],
//! rendered on `/metrics`).
//!
//! Core only states the contracts; the Redis implementations live in `gatehouse-store`
//! (`redis` module). Without Redis, a node runs with [`NoopBus`] and in-process rate limits,
//! exactly as a single node always did.

pub mod invalidation;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

pub use invalidation::{Invalidation, InvalidationBus, InvalidationListener, Invalidations, NoopBus};

// The state starts at 0: not known yet (no command sent).
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Whether the shared fast state (Redis) answers, and the counters `/metrics` shows. One per
/// node; the Redis rate limiter and the invalidation subscriber report into it.
#[derive(Debug, Default)]
pub struct SharedStateHealth {
    configured: bool,
    state: AtomicU8,
    fallback_checks: AtomicU64,
    invalidations_received: AtomicU64,
}

impl SharedStateHealth {
    /// `configured`: a Redis URL is set (else limits are per node by design, not degraded).
    pub fn new(configured: bool) -> Self {
        Self { configured, ..Self::default() }
    }

    pub fn configured(&self) -> bool {
        self.configured
    }

    /// Redis answered. Logs once when it comes back (not per request).
    pub fn mark_up(&self) {
        let before = self.state.swap(UP, Ordering::AcqRel);
        if before != UP {
            tracing::info!("Redis reachable: rate limits are counted cluster-wide");
        }
    }

    /// Redis failed or timed out. Logs a warning once per transition (not per request).
    pub fn mark_down(&self, error: &dyn std::fmt::Display) {
        let before = self.state.swap(DOWN, Ordering::AcqRel);
        if before != DOWN {
            tracing::warn!(
                error = %error,
                "Redis unreachable: rate limits fall back to per-node counters (each node allows the full quota) \
                 until it answers again"
            );
        }
    }

    /// Redis answered the last command (false before the first one and while it is down).
    pub fn redis_up(&self) -> bool {
        self.state.load(Ordering::Acquire) == UP
    }

    /// Rate limits are being counted in Redis (cluster-wide) right now.
    pub fn limits_shared(&self) -> bool {
        self.configured && self.redis_up()
    }

    pub fn count_fallback(&self) {
        self.fallback_checks.fetch_add(1, Ordering::Relaxed);
    }

    /// Checks answered by the per-node fallback limiter while Redis was unreachable.
    pub fn fallback_checks(&self) -> u64 {
        self.fallback_checks.load(Ordering::Relaxed)
    }

    pub fn count_invalidation(&self) {
        self.invalidations_received.fetch_add(1, Ordering::Relaxed);
    }

    /// Invalidation messages received from the bus (other nodes' and the CLI's changes).
    pub fn invalidations_received(&self) -> u64 {
        self.invalidations_received.load(Ordering::Relaxed)
    }

    /// The Prometheus text of these figures (`gatehouse_redis_up` only when Redis is configured).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        if self.configured {
            out.push_str(&format!(
                "# TYPE gatehouse_redis_up gauge\ngatehouse_redis_up {}\n",
                u8::from(self.redis_up())
            ));
        }
        out.push_str(&format!(
            "# TYPE gatehouse_rate_limit_shared gauge\ngatehouse_rate_limit_shared {}\n\
             # TYPE gatehouse_rate_limit_fallback_total counter\ngatehouse_rate_limit_fallback_total {}\n\
             # TYPE gatehouse_cache_invalidations_received_total counter\n\
             gatehouse_cache_invalidations_received_total {}\n",
            u8::from(self.limits_shared()),
            self.fallback_checks(),
            self.invalidations_received()
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_follow_the_state() {
        let single = SharedStateHealth::new(false);
        let text = single.render_prometheus();
        assert!(!text.contains("gatehouse_redis_up"), "{text}");
        assert!(text.contains("gatehouse_rate_limit_shared 0\n"), "{text}");

        let h = SharedStateHealth::new(true);
        assert!(h.render_prometheus().contains("gatehouse_redis_up 0\n"));
        h.mark_up();
        assert!(h.limits_shared());
        let text = h.render_prometheus();
        assert!(text.contains("gatehouse_redis_up 1\n") && text.contains("gatehouse_rate_limit_shared 1\n"), "{text}");
        h.mark_down(&"refused");
        h.count_fallback();
        h.count_fallback();
        h.count_invalidation();
        let text = h.render_prometheus();
        assert!(text.contains("gatehouse_redis_up 0\n"), "{text}");
        assert!(text.contains("gatehouse_rate_limit_shared 0\n"), "{text}");
        assert!(text.contains("gatehouse_rate_limit_fallback_total 2\n"), "{text}");
        assert!(text.contains("gatehouse_cache_invalidations_received_total 1\n"), "{text}");
    }
}
