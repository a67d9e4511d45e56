//! Cluster-wide rate limits (Redis): sign-in attempts for one account spread over three nodes
//! let exactly the configured allowance through; with Redis gone every node falls back to its
//! own in-memory limit (never to none) and says so in `gatehouse_rate_limit_shared`; with Redis
//! back the cluster-wide limit resumes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::{Cluster, Node, Options, PASSWORD};

/// The per-account sign-in allowance the tests configure: this many at once, then one an hour.
const ALLOWANCE: usize = 5;

fn options() -> Options {
    Options {
        env: vec![
            ("GATEHOUSE_RATE_LIMITS__LOGIN_ACCOUNT__REQUESTS", ALLOWANCE.to_string()),
            ("GATEHOUSE_RATE_LIMITS__LOGIN_ACCOUNT__PERIOD", "3600".into()),
        ],
        ..Options::default()
    }
}

async fn register(cluster: &Cluster, email: &str) {
    let r = reqwest::Client::new()
        .post(cluster.url("/api/v1/auth/register"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "register {email}");
}

/// `attempts` correct sign-ins for `email` at `base`, `concurrency` at a time. Returns the
/// number of 200s, and every answer counted by status and by upstream (nginx's `X-Upstream`).
async fn attempts(base: &str, email: &str, attempts: usize, concurrency: usize) -> (usize, BTreeMap<String, usize>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let mut answers = BTreeMap::new();
    let mut ok = 0;
    for batch in (0..attempts).collect::<Vec<_>>().chunks(concurrency) {
        let sends: Vec<_> = batch
            .iter()
            .map(|_| {
                let req = http
                    .post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({ "email": email, "password": PASSWORD }));
                tokio::spawn(req.send())
            })
            .collect();
        for send in sends {
            let r = send.await.unwrap().unwrap();
            let upstream = r.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("direct").to_owned();
            let status = r.status().as_u16();
            ok += usize::from(status == 200);
            *answers.entry(format!("{status} via {upstream}")).or_default() += 1;
        }
    }
    (ok, answers)
}

fn within_one(ok: usize, want: usize) -> bool {
    ok + 1 >= want && ok <= want + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_rate_limit_holds_across_three_nodes() {
    let Some(cluster) = Cluster::start(options()).await else { return };
    register(&cluster, "limited@example.com").await;
    let n = 30;
    let (ok, answers) = attempts(&cluster.nginx.base(), "limited@example.com", n, 6).await;
    eprintln!("global limit: {n} sign-ins over three nodes, allowance {ALLOWANCE}: {ok} let through; {answers:?}");
    let nodes =
        cluster.nodes.iter().filter(|node| answers.keys().any(|k| k.ends_with(&format!(":{}", node.port)))).count();
    assert_eq!(nodes, 3, "the attempts reached every node: {answers:?}");
    assert!(within_one(ok, ALLOWANCE), "{ok} sign-ins let through, allowance {ALLOWANCE} (±1): {answers:?}");
    let refused: usize = answers.iter().filter(|(k, _)| k.starts_with("429")).map(|(_, v)| v).sum();
    assert_eq!(ok + refused, n, "every other attempt was refused with 429: {answers:?}");
}

/// Waits (up to 20 s) until every node reports `gatehouse_rate_limit_shared` = `want`, poking
/// each with a sign-in for `probe@example.com` (registered by the caller) so that the limiter
/// talks to Redis.
async fn wait_shared(cluster: &Cluster, want: f64) -> Duration {
    let start = Instant::now();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut seen: Vec<Option<f64>> = Vec::new();
    while start.elapsed() < Duration::from_secs(20) {
        seen.clear();
        for node in &cluster.nodes {
            // A correct password: failures would lock the account and slow every probe down.
            let body = json!({ "email": "probe@example.com", "password": PASSWORD });
            let _ = http.post(node.url("/api/v1/auth/login")).json(&body).send().await;
            seen.push(node.metric("gatehouse_rate_limit_shared").await);
        }
        if seen.iter().all(|v| *v == Some(want)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(3) || seen.iter().any(Option::is_some),
            "no node reports gatehouse_rate_limit_shared (is GATEHOUSE_REDIS_URL supported?)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("gatehouse_rate_limit_shared never became {want} on every node: {seen:?}");
}

async fn ready(node: &Node) -> u16 {
    reqwest::get(node.url("/readyz")).await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_per_node_then_resumes() {
    let Some(mut cluster) = Cluster::start(options()).await else { return };
    for email in ["probe@example.com", "before@example.com", "during@example.com", "after@example.com"] {
        register(&cluster, email).await;
    }
    wait_shared(&cluster, 1.0).await;
    let (ok, answers) = attempts(&cluster.nginx.base(), "before@example.com", 15, 5).await;
    assert!(within_one(ok, ALLOWANCE), "with Redis: {ok} let through: {answers:?}");

    cluster.redis.as_mut().unwrap().down().await;
    let noticed = wait_shared(&cluster, 0.0).await;
    let mut per_node = Vec::new();
    for node in &cluster.nodes {
        assert_eq!(ready(node).await, 200, "node {} stays ready without Redis", node.index);
        let (ok, answers) = attempts(&node.base(), "during@example.com", ALLOWANCE + 4, 3).await;
        assert!(within_one(ok, ALLOWANCE), "node {} without Redis: {ok} let through: {answers:?}", node.index);
        let fallbacks = node.metric("gatehouse_rate_limit_fallback_total").await;
        assert!(fallbacks.is_some_and(|f| f > 0.0), "node {} counts its fallbacks: {fallbacks:?}", node.index);
        per_node.push((ok, fallbacks));
    }

    cluster.redis.as_mut().unwrap().up().await;
    let resumed = wait_shared(&cluster, 1.0).await;
    let n = 6 * ALLOWANCE;
    let (ok, answers) = attempts(&cluster.nginx.base(), "after@example.com", n, 6).await;
    eprintln!(
        "Redis outage: metric 0 on every node after {noticed:?}; per node without Redis (let through, fallbacks): \
         {per_node:?}; metric 1 again after {resumed:?}; then {n} attempts over three nodes let {ok} through \
         (allowance {ALLOWANCE}): {answers:?}"
    );
    assert!(within_one(ok, ALLOWANCE), "after Redis came back: {ok} let through: {answers:?}");
}
