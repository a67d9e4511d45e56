//! Redis as the nodes' shared fast state (DESIGN.md §2 and §6, issue #17): cluster-wide GCRA
//! rate limits ([`RedisRateLimiter`]) and the cache-invalidation bus ([`RedisInvalidationBus`],
//! [`subscribe`]). Redis is never the source of truth: a lost counter or message costs at most
//! a budget refilled early or a cache entry kept until its TTL.
//!
//! Degraded mode: every command has a short deadline ([`RedisOptions::timeout`], 250 ms by
//! default, also the connection manager's connect and response timeouts), so a dead or
//! unreachable Redis never stalls a request; rate limits then fall back to this node's
//! in-process counters (never to "unlimited"), [`SharedStateHealth`] logs the transition once
//! and `/metrics` shows it, and the next answer from Redis switches back.
//!
//! Keys and channels carry a configurable prefix (`redis_prefix`, default `gatehouse:`), so
//! several deployments or test runs can share one Redis: `<prefix>rl:<limit>:<key>` for rate
//! limits, `<prefix>invalidate` for the bus.

mod bus;
mod limiter;

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::scale_out::SharedStateHealth;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use bus::{RedisInvalidationBus, subscribe};
pub use limiter::{RedisRateLimiter, RedisTime};

use crate::redact_url;

/// Default deadline of one Redis command (and of connecting).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// Default prefix of every key and channel.
pub const DEFAULT_PREFIX: &str = "gatehouse:";

/// Where Redis is and how long to wait for it.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://[:password@]host[:port][/db]` or `rediss://…` (TLS).
    pub url: String,
    pub prefix: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Redis could not be set up (the URL is wrong); reachability is not checked here.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The URL (password redacted) does not parse as a Redis URL.
    #[error("not a valid redis:// or rediss:// URL: {0}")]
    Url(String),
}

/// One node's handle on Redis: a connection manager (multiplexed, reconnecting) for commands,
/// and the client that opens the subscriber's dedicated connection.
#[derive(Clone)]
pub struct RedisSharedState {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    health: Arc<SharedStateHealth>,
}

impl RedisSharedState {
    /// Prepares the connection without waiting for Redis: a node starts (with per-node limits)
    /// while Redis is down. Must run inside a tokio runtime.
    pub fn connect(options: &RedisOptions, health: Arc<SharedStateHealth>) -> Result<Self, RedisSetupError> {
        let scheme = crate::redact::scheme_of(&options.url);
        if !matches!(scheme, "redis" | "rediss") {
            return Err(RedisSetupError::Url(redact_url(&options.url)));
        }
        // The parser's message may quote the URL: only the redacted URL is reported.
        let client =
            redis::Client::open(options.url.as_str()).map_err(|_| RedisSetupError::Url(redact_url(&options.url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.timeout))
            .set_response_timeout(Some(options.timeout))
            // Reconnects are retried by the next command, not inside one: a request never waits
            // through a back-off.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|_| RedisSetupError::Url(redact_url(&options.url)))?;
        Ok(Self { client, conn, prefix: options.prefix.clone(), timeout: options.timeout, health })
    }

    pub fn health(&self) -> &Arc<SharedStateHealth> {
        &self.health
    }

    /// Asks Redis once (start-up: logs whether limits start shared or per node).
    pub async fn ping(&self) -> bool {
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(self.timeout, redis::cmd("PING").query_async::<String>(&mut conn)).await;
        match answer {
            Ok(Ok(_)) => {
                self.health.mark_up();
                true
            }
            Ok(Err(e)) => {
                self.health.mark_down(&e);
                false
            }
            Err(_) => {
                self.health.mark_down(&"timed out");
                false
            }
        }
    }

    /// Cluster-wide rate limits; `time` says whose clock GCRA reads.
    pub fn rate_limiter(&self, clock: Arc<dyn gatehouse_core::Clock>, time: RedisTime) -> RedisRateLimiter {
        RedisRateLimiter::new(self.clone(), clock, time)
    }

    /// Publishes invalidations on `<prefix>invalidate`.
    pub fn bus(&self) -> RedisInvalidationBus {
        RedisInvalidationBus::new(self.clone())
    }

    fn channel(&self) -> String {
        format!("{}invalidate", self.prefix)
    }
}
