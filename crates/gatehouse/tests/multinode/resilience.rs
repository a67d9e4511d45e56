//! A node SIGKILLed under load, and PostgreSQL restarted under load: nothing acknowledged is
//! lost (the invariants of `checks.rs`), every error a client sees is the one the design
//! promises, and the nodes recover by themselves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::checks::invariants;
use crate::cluster::{Cluster, Options, PASSWORD};
use crate::load::{self, Ledger, Setup};

/// Load tasks, and the most operations each may run (the bound of every test here).
const TASKS: usize = 6;
const MAX_OPS: usize = 400;

fn seed() -> u64 {
    let seed = std::env::var("GATEHOUSE_MULTINODE_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("GATEHOUSE_MULTINODE_SEED={seed}");
    seed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_one_node_under_load_loses_nothing_acknowledged() {
    let Some(mut cluster) = Cluster::start(Options::default()).await else { return };
    let setup = Arc::new(Setup::create(&cluster, 8).await);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load::start(&setup, &ledger, &stop, TASKS, MAX_OPS, seed());

    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed_at = Instant::now();
    cluster.nodes[1].kill().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.nodes[1].spawn();
    cluster.nodes[1].wait_ready().await;
    let back_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }

    let mut l = std::mem::take(&mut *ledger.lock().unwrap());
    eprintln!("{}", l.summary());
    assert!(
        l.sessions.len() > 5 && l.chains.len() > 5 && !l.codes.is_empty() && l.decisions > 0,
        "the load acknowledged too little to check anything"
    );
    // What a client may see: a POST that was in flight to the killed node ends in nginx's 502
    // (nginx retries only idempotent requests elsewhere). Nothing else, and nothing outside the
    // time the node was down.
    let mut bad: Vec<String> = l
        .failures
        .iter()
        .filter(|f| {
            let during = f.at + f.elapsed >= killed_at && f.at <= back_at;
            !(f.post && f.status == Some(502) && during)
        })
        .map(|f| format!("{}: {:?} after {:?} ({})", f.op, f.status, f.elapsed, f.detail))
        .collect();
    eprintln!(
        "{} failed requests, all 502s of POSTs in flight to the killed node: {}",
        l.failures.len(),
        bad.is_empty()
    );
    bad.extend(invariants(&cluster, &setup, &mut l).await);
    assert!(bad.is_empty(), "{} violations:\n{}", bad.len(), bad.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_answers_503_and_recovers() {
    let Some(cluster) = Cluster::start(Options::default()).await else { return };
    let setup = Arc::new(Setup::create(&cluster, 8).await);
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = load::start(&setup, &ledger, &stop, TASKS, MAX_OPS, seed());

    tokio::time::sleep(Duration::from_millis(2500)).await;
    cluster.pg.down().await;
    let down_at = Instant::now();
    // Readiness says so on every node, fast.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let mut not_ready = Vec::new();
    for n in &cluster.nodes {
        let at = Instant::now();
        let status = http.get(n.url("/readyz")).send().await.map(|r| r.status().as_u16()).ok();
        not_ready.push((n.index, status, at.elapsed()));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    cluster.pg.up().await;
    let up_at = Instant::now();
    // Every node reconnects by itself (no restart): ready again, and a sign-in on each works.
    let mut recovered = Vec::new();
    for n in &cluster.nodes {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(n.url("/readyz")).send().await.is_ok_and(|r| r.status() == 200);
            if ready {
                break;
            }
            assert!(Instant::now() < until, "node {} not ready 30 s after PostgreSQL came back", n.index);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        recovered.push(up_at.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    for n in &cluster.nodes {
        let body = json!({ "email": setup.users[0], "password": PASSWORD });
        let r = http.post(n.url("/api/v1/auth/login")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "sign-in on node {} after the outage", n.index);
    }

    let mut l = std::mem::take(&mut *ledger.lock().unwrap());
    eprintln!("{}", l.summary());
    eprintln!("outage {:?}; /readyz during it: {not_ready:?}; nodes ready again after {recovered:?}", up_at - down_at);
    assert!(l.sessions.len() > 5 && l.chains.len() > 5, "the load acknowledged too little to check anything");
    let mut bad: Vec<String> = not_ready
        .iter()
        .filter(|(_, status, took)| *status != Some(503) || *took > Duration::from_secs(3))
        .map(|(i, status, took)| format!("node {i} /readyz during the outage: {status:?} after {took:?}"))
        .collect();
    // Every error is a 503 with Retry-After, answered within a few seconds; never a 500, a
    // 502/504 from nginx, or no answer.
    let errors = l.failures.len();
    bad.extend(
        l.failures
            .iter()
            .filter(|f| f.status != Some(503) || !f.retry_after || f.elapsed > Duration::from_secs(5))
            .map(|f| {
                format!("{}: {:?} (Retry-After {}) after {:?} ({})", f.op, f.status, f.retry_after, f.elapsed, f.detail)
            }),
    );
    let late = l.failures.iter().filter(|f| f.at > up_at + *recovered.iter().max().unwrap()).count();
    eprintln!("{errors} failed requests during the outage, each a fast 503 with Retry-After: {}", bad.is_empty());
    if late > 0 {
        bad.push(format!("{late} requests failed after every node was ready again"));
    }
    bad.extend(invariants(&cluster, &setup, &mut l).await);
    assert!(bad.is_empty(), "{} violations:\n{}", bad.len(), bad.join("\n"));
}
