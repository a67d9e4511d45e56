//! The Redis shared state against a real Redis (`GATEHOUSE_TEST_REDIS_URL`; skipped without it
//! unless `GATEHOUSE_REQUIRE_SERVICES=1`): the GCRA script agrees with the in-process limiter
//! to the `Retry-After`, hands out exactly the quota under concurrency, falls back to per-node
//! counters when Redis is unreachable and returns to Redis when it answers; the bus reaches a
//! second node's cache and a reconnect flushes it.
//!
//! Every test uses a prefix of its own (`gatehouse-test:<unique>:`), so tests, parallel runs and
//! other users of the same Redis never share a key or a channel. Outages are made with a small
//! TCP relay in front of Redis that the test closes and reopens ([`Relay`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_core::abuse::{InProcessRateLimiter, Quota, RateLimiter, RetryAfter};
use gatehouse_core::oauth::CachedClientStore;
use gatehouse_core::scale_out::{Invalidation, InvalidationListener, Invalidations, SharedStateHealth};
use gatehouse_core::{ClientStore, Clock, ManualClock, UnixTime};
use gatehouse_store::shared_state::{RedisTime, subscribe};
use gatehouse_store::{RedisOptions, RedisSharedState};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::fixtures;
use crate::harness::{TestDb, unique_name};

/// The Redis URL, or `None` (after saying so) when Redis tests are skipped.
fn redis_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "GATEHOUSE_REQUIRE_SERVICES=1 but GATEHOUSE_TEST_REDIS_URL is not set"
            );
            eprintln!("skipped: GATEHOUSE_TEST_REDIS_URL not set");
            None
        }
    }
}

/// A clock that moves in milliseconds (GCRA intervals are not whole seconds).
struct MillisClock(std::sync::atomic::AtomicI64);

impl MillisClock {
    fn new(seconds: i64) -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicI64::new(seconds * 1000)))
    }

    fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for MillisClock {
    fn now(&self) -> UnixTime {
        self.now_millis().div_euclid(1000)
    }

    fn now_millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn options(url: &str, prefix: &str) -> RedisOptions {
    RedisOptions { url: url.to_owned(), prefix: prefix.to_owned(), timeout: Duration::from_millis(250) }
}

fn node(url: &str, prefix: &str) -> RedisSharedState {
    RedisSharedState::connect(&options(url, prefix), Arc::new(SharedStateHealth::new(true))).unwrap()
}

fn prefix() -> String {
    format!("gatehouse-test:{}:", unique_name())
}

/// A TCP relay to Redis that can be closed (connections cut, port refused) and reopened on the
/// same port: a Redis outage without touching the shared Redis.
struct Relay {
    port: u16,
    target: String,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    async fn start(redis_url: &str) -> Arc<Self> {
        let u = url::Url::parse(redis_url).unwrap();
        let target = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap_or(6379));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Arc::new(Self { port: listener.local_addr().unwrap().port(), target, task: Mutex::new(None) });
        relay.serve(listener);
        relay
    }

    /// The Redis URL through the relay (same credentials and database).
    fn url(&self, redis_url: &str) -> String {
        let mut u = url::Url::parse(redis_url).unwrap();
        u.set_host(Some("127.0.0.1")).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// Cuts every connection and refuses new ones (the JoinSet of connections drops with the task).
    async fn close(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    async fn reopen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test]
async fn limiter_agrees_with_the_in_process_one_to_the_retry_after() {
    let Some(url) = redis_url() else { return };
    let clock = MillisClock::new(1_700_000_000);
    let redis = node(&url, &prefix());
    let shared = redis.rate_limiter(clock.clone(), RedisTime::Caller);
    let local = InProcessRateLimiter::new(clock.clone());
    // Advances in milliseconds between checks, over quotas with exact and inexact intervals.
    let steps: [i64; 12] = [0, 0, 0, 0, 1, 999, 5_000, 13_000, 19_999, 1, 60_000, 7];
    for quota in [Quota::new(3, 60), Quota::new(5, 1), Quota::new(7, 13), Quota::new(1, 3600)] {
        let limit: &'static str = Box::leak(format!("q{}-{}", quota.requests, quota.period).into_boxed_str());
        let mut refused = 0;
        for (i, step) in steps.iter().enumerate() {
            clock.advance_millis(*step);
            for key in ["a", "a", "a", "b"] {
                let want = local.check(limit, quota, key).await;
                let got = shared.check(limit, quota, key).await;
                assert_eq!(got, want, "{quota:?} step {i} key {key}");
                refused += usize::from(got.is_err());
            }
        }
        assert!(refused > 0, "{quota:?}: the sequence reached the limit");
    }
    assert!(redis.health().limits_shared());
    assert_eq!(redis.health().fallback_checks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checks_from_two_nodes_let_exactly_the_quota_through() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let clock: Arc<dyn Clock> = Arc::new(gatehouse_core::SystemClock);
    // Two nodes: each its own connection, limiter and fallback, one Redis clock.
    let a = Arc::new(node(&url, &p).rate_limiter(clock.clone(), RedisTime::Server));
    let b = Arc::new(node(&url, &p).rate_limiter(clock, RedisTime::Server));
    let q = Quota::new(10, 3600);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { l.check("login", q, "k").await })
        })
        .collect();
    let (mut allowed, mut retry) = (0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => allowed += 1,
            Err(r) => retry.push(r),
        }
    }
    assert_eq!(allowed, 10, "exactly the burst across both nodes");
    // The 11th waits one emission interval (360 s) less what passed: 359 or 360 s.
    assert!(retry.iter().all(|r| (359..=360).contains(&r.0)), "{retry:?}");
}

#[tokio::test]
async fn keys_are_prefixed_and_expire_when_the_budget_is_full_again() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let redis = node(&url, &p);
    let limiter = redis.rate_limiter(Arc::new(gatehouse_core::SystemClock), RedisTime::Server);
    limiter.check("reset_ip", Quota::new(2, 10), "203.0.113.9").await.unwrap();
    let client = ::redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{p}rl:reset_ip:203.0.113.9");
    let ttl: i64 = ::redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
    // One request of 2 per 10 s: full again after one interval, 5 s.
    assert!((4_000..=5_000).contains(&ttl), "PTTL {ttl}");
    let others: Vec<String> = ::redis::cmd("KEYS").arg(format!("{p}*")).query_async(&mut conn).await.unwrap();
    assert_eq!(others, vec![key]);
}

#[tokio::test]
async fn unreachable_redis_falls_back_to_per_node_limits_and_recovers() {
    let Some(url) = redis_url() else { return };
    let relay = Relay::start(&url).await;
    let redis = node(&relay.url(&url), &prefix());
    let health = redis.health().clone();
    let clock = ManualClock::new(1_700_000_000);
    let limiter = redis.rate_limiter(clock.clone(), RedisTime::Caller);
    let q = Quota::new(3, 60);
    limiter.check("login", q, "up").await.unwrap();
    assert!(health.limits_shared());

    relay.close().await;
    // Still limited (never unlimited), now by this node's counters, quickly.
    let started = std::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(limiter.check("login", q, "down").await, Ok(()));
    }
    assert_eq!(limiter.check("login", q, "down").await, Err(RetryAfter(20)));
    assert!(started.elapsed() < Duration::from_secs(2), "a dead Redis does not stall checks: {:?}", started.elapsed());
    assert!(!health.limits_shared() && !health.redis_up());
    assert_eq!(health.fallback_checks(), 4);
    let text = health.render_prometheus();
    assert!(text.contains("gatehouse_rate_limit_shared 0\n") && text.contains("gatehouse_redis_up 0\n"), "{text}");

    relay.reopen().await;
    // Back to Redis within the retry period (one probe per second): its budget for "down" is
    // untouched, so three more pass there.
    let mut shared_again = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = limiter.check("login", q, "probe").await;
        if health.limits_shared() {
            shared_again = true;
            break;
        }
    }
    assert!(shared_again, "limits return to Redis once it answers");
    for _ in 0..3 {
        assert_eq!(limiter.check("login", q, "down").await, Ok(()), "counted in Redis again");
    }
    assert!(limiter.check("login", q, "down").await.is_err());
    assert!(health.render_prometheus().contains("gatehouse_rate_limit_shared 1\n"));
}

/// Records what a node's hub delivered.
#[derive(Default)]
struct Recorder(Mutex<Vec<Invalidation>>);

impl InvalidationListener for Recorder {
    fn invalidate(&self, what: &Invalidation) {
        self.0.lock().unwrap().push(what.clone());
    }
}

impl Recorder {
    async fn wait_for(&self, what: &Invalidation, count: usize) {
        for _ in 0..100 {
            if self.0.lock().unwrap().iter().filter(|w| *w == what).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what:?} not delivered {count} time(s): {:?}", self.0.lock().unwrap());
    }
}

#[tokio::test]
async fn a_change_published_on_one_node_drops_the_cache_entry_on_another() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let db = TestDb::sqlite(true).await;
    let clock = ManualClock::new(1_700_000_000);
    // Node B: a client cache listening on the bus.
    let b = node(&url, &p);
    let hub_b = Arc::new(Invalidations::new(Arc::new(b.bus()), b.health().clone()));
    let cache_b = Arc::new(CachedClientStore::new(db.clients.clone(), clock.clone()).publishing_to(hub_b.clone()));
    hub_b.listen(cache_b.clone());
    let subscribed = Arc::new(Recorder::default());
    hub_b.listen(subscribed.clone());
    let task = subscribe(&b, hub_b.clone());
    subscribed.wait_for(&Invalidation::All, 1).await;
    // Node A: its own cache over the same database, publishing.
    let a = node(&url, &p);
    let hub_a = Arc::new(Invalidations::new(Arc::new(a.bus()), a.health().clone()));
    let cache_a = CachedClientStore::new(db.clients.clone(), clock.clone()).publishing_to(hub_a);

    let client = fixtures::client("svc", 1_700_000_000);
    cache_a.insert_client(&client).await.unwrap();
    assert!(!cache_b.client_by_id("svc").await.unwrap().unwrap().is_disabled());
    let mut disabled = client.clone();
    disabled.lifecycle.disabled_at = Some(1_700_000_001);
    let started = std::time::Instant::now();
    assert!(cache_a.update_client(&disabled).await.unwrap());
    subscribed.wait_for(&Invalidation::Client("svc".into()), 2).await;
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    // B's clock has not moved: without the message it would serve its cached copy for 5 s.
    assert!(cache_b.client_by_id("svc").await.unwrap().unwrap().is_disabled());
    assert!(b.health().invalidations_received() >= 2);
    task.abort();
}

#[tokio::test]
async fn a_reconnected_subscriber_flushes_everything() {
    let Some(url) = redis_url() else { return };
    let relay = Relay::start(&url).await;
    let b = node(&relay.url(&url), &prefix());
    let hub = Arc::new(Invalidations::new(Arc::new(b.bus()), b.health().clone()));
    let rec = Arc::new(Recorder::default());
    hub.listen(rec.clone());
    let task = subscribe(&b, hub);
    rec.wait_for(&Invalidation::All, 1).await;
    relay.close().await;
    // The subscriber notices (closed connection or failed ping) and reports Redis down…
    for _ in 0..100 {
        if !b.health().redis_up() && b.health().configured() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!b.health().redis_up());
    relay.reopen().await;
    // …and after it is back, flushes once more: it may have missed messages.
    rec.wait_for(&Invalidation::All, 2).await;
    task.abort();
}
