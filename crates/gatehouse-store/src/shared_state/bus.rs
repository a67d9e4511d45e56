//! The invalidation bus on Redis pub/sub: `PUBLISH <prefix>invalidate <message>` after a change
//! ([`RedisInvalidationBus`]), and on every node a subscriber task ([`subscribe`]) on a
//! dedicated connection (a subscribed connection can do nothing else) that hands each message
//! to the node's [`Invalidations`].
//!
//! Pub/sub delivers only to those connected at the time: after every (re)connect the subscriber
//! drops all of the node's caches, since it may have missed messages meanwhile. It pings once a
//! second, so a connection that died silently is noticed and replaced within about a second.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use gatehouse_core::scale_out::{Invalidation, InvalidationBus, Invalidations};
use redis::aio::{PubSubSink, PubSubStream};

use super::RedisSharedState;

/// How often the subscriber checks that its connection is alive.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Publishes this node's (or the CLI's) changes to every subscribed node.
pub struct RedisInvalidationBus {
    redis: RedisSharedState,
}

impl RedisInvalidationBus {
    pub(super) fn new(redis: RedisSharedState) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl InvalidationBus for RedisInvalidationBus {
    async fn publish(&self, what: &Invalidation) {
        let mut conn = self.redis.conn.clone();
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(self.redis.channel()).arg(what.encode());
        // The change is committed; a lost message leaves other nodes on their cache TTL.
        match tokio::time::timeout(self.redis.timeout, cmd.query_async::<i64>(&mut conn)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cache invalidation not published; other nodes catch up at expiry")
            }
            Err(_) => {
                tracing::warn!("cache invalidation not published (Redis timeout); other nodes catch up at expiry")
            }
        }
    }
}

/// Starts the subscriber task of this node: messages go to `hub`; the task runs until aborted.
pub fn subscribe(redis: &RedisSharedState, hub: Arc<Invalidations>) -> tokio::task::JoinHandle<()> {
    let redis = redis.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match open(&redis).await {
                Ok((sink, stream)) => {
                    backoff = Duration::from_millis(100);
                    // Subscribed: whatever was published while we were away is lost; start clean.
                    hub.apply(&Invalidation::All);
                    let why = listen(&redis, &hub, sink, stream).await;
                    redis.health.mark_down(&format!("invalidation subscription lost: {why}"));
                }
                Err(e) => redis.health.mark_down(&format!("invalidation subscription: {e}")),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// A dedicated connection subscribed to the channel.
async fn open(redis: &RedisSharedState) -> Result<(PubSubSink, PubSubStream), String> {
    let subscribed = async {
        let mut pubsub = redis.client.get_async_pubsub().await?;
        pubsub.subscribe(redis.channel()).await?;
        Ok::<_, redis::RedisError>(pubsub.split())
    };
    match tokio::time::timeout(redis.timeout * 4, subscribed).await {
        Ok(Ok(split)) => Ok(split),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}

/// Delivers messages until the connection ends or stops answering pings; returns why.
async fn listen(
    redis: &RedisSharedState,
    hub: &Invalidations,
    mut sink: PubSubSink,
    mut stream: PubSubStream,
) -> String {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return "connection closed".into() };
                let text = String::from_utf8_lossy(msg.get_payload_bytes());
                match Invalidation::decode(&text) {
                    Some(what) => hub.received(&what),
                    None => tracing::debug!("ignored an unknown invalidation message"),
                }
            }
            _ = ping.tick() => {
                match tokio::time::timeout(redis.timeout * 4, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => redis.health.mark_up(),
                    Ok(Err(e)) => return e.to_string(),
                    Err(_) => return "ping timed out".into(),
                }
            }
        }
    }
}
