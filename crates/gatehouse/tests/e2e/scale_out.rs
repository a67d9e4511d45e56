//! Two nodes on one PostgreSQL database and one Redis (issue #17): the login rate limit is one
//! budget for the cluster, and a client secret rotated on one node is refused by the other
//! within a second (through the invalidation bus, long before the client cache's 5 s expiry).
//! Skipped without `GATEHOUSE_TEST_POSTGRES_URL` and `GATEHOUSE_TEST_REDIS_URL`.

use std::time::{Duration, Instant};

use gatehouse_core::abuse::Quota;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, token, user_with_token};
use crate::client_lifecycle::cc_status;
use crate::helpers::{Backend, PASSWORD, TestApp, redis_url};

/// A node on a fresh PostgreSQL database with Redis under a prefix of this test's own; `None`
/// when PostgreSQL or Redis tests are skipped.
async fn one_node(tweak: impl FnOnce(&mut gatehouse::config::Settings)) -> Option<TestApp> {
    let redis = redis_url()?;
    let prefix = format!("gatehouse-e2e:{}:{}:", std::process::id(), uuid::Uuid::new_v4().simple());
    TestApp::spawn_with(Backend::Postgres, |s| {
        s.redis_url = redis;
        s.redis_prefix = prefix;
        tweak(s);
    })
    .await
}

/// Node A ([`one_node`]) and node B beside it.
async fn two_nodes(tweak: impl FnOnce(&mut gatehouse::config::Settings)) -> Option<(TestApp, TestApp)> {
    let a = one_node(tweak).await?;
    let b = a.spawn_peer().await;
    Some((a, b))
}

/// Polls `cc_status` until the old secret is refused; how long that took.
async fn refused_within(node: &TestApp, id: &str, secret: &str, since: Instant) -> Duration {
    while since.elapsed() < Duration::from_secs(3) {
        if cc_status(node, id, secret).await == 401 {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("still accepted {:?} after the change", since.elapsed());
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_limit_is_one_budget_for_both_nodes() {
    let Some((a, b)) = two_nodes(|s| s.rate_limits.login_ip = Quota::new(4, 3600)).await else { return };
    a.register("alice@example.com", PASSWORD).await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let node = if i % 2 == 0 { &a } else { &b };
        statuses.push(node.login("alice@example.com", PASSWORD).await.status().as_u16());
    }
    let allowed = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    eprintln!("12 sign-ins over 2 nodes, quota 4: {allowed} allowed, {limited} limited");
    // Per node it would be 4 + 4; one budget lets exactly 4 through.
    assert_eq!((allowed, limited), (4, 8), "{statuses:?}");
    for node in [&a, &b] {
        assert_eq!(metric(node, "gatehouse_redis_up").await, 1.0);
        assert_eq!(metric(node, "gatehouse_rate_limit_shared").await, 1.0);
        assert_eq!(metric(node, "gatehouse_rate_limit_fallback_total").await, 0.0);
    }
    // Readiness does not depend on Redis, and the other routes are unaffected.
    assert_eq!(reqwest::get(b.url("/readyz")).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_on_one_node_is_refused_on_the_other_within_a_second() {
    let Some((a, b)) = two_nodes(|_| {}).await else { return };
    user_with_token(&a, "root@example.com").await;
    cli_ok(&a, &["roles", "grant", "admin", "--user", "root@example.com"]).await;
    let admin = token(&a, "root@example.com").await;
    let body = json!({ "name": "Machine", "grant_types": ["client_credentials"], "scopes": ["api:read"] });
    let r = call(&a, Some(&admin), Method::POST, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), 201);
    let client: Value = r.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let old = client["client_secret"].as_str().unwrap();
    // B has the client in its cache (5 s TTL) from a successful token request.
    assert_eq!(cc_status(&b, id, old).await, 200);
    let received_before = metric(&b, "gatehouse_cache_invalidations_received_total").await;

    let path = format!("/admin/v1/clients/{id}/secret");
    let r = call(&a, Some(&admin), Method::POST, &path, Some(&json!({ "overlap_seconds": 0 }))).await;
    assert_eq!(r.status(), 200);
    let rotated = Instant::now();
    let new: Value = r.json().await.unwrap();
    let new = new["client_secret"].as_str().unwrap();
    let refused_after = refused_within(&b, id, old, rotated).await;
    eprintln!("old secret refused on node B {refused_after:?} after the rotation on node A");
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
    assert_eq!(cc_status(&b, id, new).await, 200);
    assert!(metric(&b, "gatehouse_cache_invalidations_received_total").await > received_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_disabled_with_the_cli_is_refused_by_a_running_node_within_a_second() {
    let Some(app) = one_node(|_| {}).await else { return };
    let created: Value = serde_json::from_str(
        &cli_ok(&app, &["clients", "create", "--name", "Batch", "--grant-type", "client_credentials", "--json"]).await,
    )
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(cc_status(&app, id, secret).await, 200, "now cached on the node");
    // The CLI (another process, as on another machine) with the cluster's Redis settings.
    let env = [("GATEHOUSE_REDIS_URL", app_redis(&app)), ("GATEHOUSE_REDIS_PREFIX", app_prefix(&app))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = app.cli_with_env(&["clients", "disable", id], &env).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let disabled = Instant::now();
    let refused_after = refused_within(&app, id, secret, disabled).await;
    eprintln!("client disabled by the CLI refused by the node {refused_after:?} after the command returned");
    assert!(refused_after < Duration::from_secs(1), "{refused_after:?}");
}

fn app_redis(app: &TestApp) -> String {
    app.settings().redis_url.clone()
}

fn app_prefix(app: &TestApp) -> String {
    app.settings().redis_prefix.clone()
}
