//! Overload (issue #19, DESIGN.md §8): sign-in demand at three times what the hashing pool
//! serves, open-loop (arrivals on a fixed schedule, whatever the answers), and the latency of
//! cheap routes probed at the same time on connections of their own, against the same probes
//! without the sign-in load.
//!
//! Each arrival takes an idle keep-alive connection, or opens one up to [`MAX_CONNECTIONS`];
//! with none left it is counted as not sent (the generator's cap, not the server's answer).
//! Latency runs from the arrival's scheduled time. Admitted: 200 or 401; refused: 503, with or
//! without `Retry-After` (counted apart); anything else is listed.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::gatehouse::{self, Gatehouse, Options, User};
use crate::load::{Client, Req};
use crate::password_memory;
use crate::report::{Check, check, info};
use crate::stats::Histogram;

pub const MAX_CONNECTIONS: usize = 256;
/// Each cheap route is asked every this often, one request at a time on its own connection.
const PROBE_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        Self {
            count: h.count(),
            p50_ms: ms(h.quantile_ns(0.5)),
            p99_ms: ms(h.quantile_ns(0.99)),
            max_ms: ms(h.max_ns()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheapRoute {
    pub route: String,
    pub alone: Latency,
    pub loaded: Latency,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overload {
    pub pool_size: usize,
    pub pool_size_source: String,
    /// CPU time of one Argon2id hash with every CPU hashing (micro-benchmark of this run).
    pub hash_ms: f64,
    /// pool size ÷ hash time.
    pub capacity_per_s: f64,
    pub offered_per_s: f64,
    pub seconds: f64,
    pub arrivals: u64,
    /// Arrivals with no connection free and [`MAX_CONNECTIONS`] open.
    pub not_sent: u64,
    pub admitted: Latency,
    pub refused_retry_after: Latency,
    pub refused_without_retry_after: u64,
    /// Other statuses and transport errors, e.g. `429 ×3`.
    pub other: Vec<String>,
    /// Still unanswered when the drain timeout ran out.
    pub unfinished: u64,
    pub cheap: Vec<CheapRoute>,
}

enum Outcome {
    Admitted(u64),
    Refused { ns: u64, retry_after: bool },
    Other(String),
}

/// Sign-in demand at `factor` × capacity for `seconds` on a fresh server, cheap routes probed
/// alone first and then during the load.
pub async fn run(bin: &Path, hash_ms: f64, factor: f64, seconds: f64) -> anyhow::Result<Overload> {
    let g = Gatehouse::start(bin, Options::new("overload", "ES256")).await?;
    let (pool_size, pool_size_source) = password_memory::pool_size(&g).await;
    let users = gatehouse::seed_users(&g, 16).await?;
    let client = g.create_oauth_client().await?;
    let mut c = g.client().await?;
    let jwt = client.mint(&mut c).await?;
    let probes = vec![
        ("GET /oauth2/jwks".to_owned(), Req::get("/oauth2/jwks")),
        ("GET /.well-known/openid-configuration".to_owned(), Req::get("/.well-known/openid-configuration")),
        ("POST /oauth2/introspect (repeated JWT)".to_owned(), client.introspection_request(&jwt)),
    ];
    let window = Duration::from_secs_f64(seconds);
    eprintln!("overload: cheap routes alone for {seconds} s");
    let alone = probe_all(&g, &probes, window).await?;
    let capacity = pool_size as f64 / (hash_ms / 1e3).max(1e-6);
    let offered = capacity * factor;
    eprintln!("overload: {offered:.0} sign-ins/s offered ({factor}× {capacity:.0}/s) for {seconds} s, probes beside");
    let (logins, loaded) = tokio::join!(open_loop(&g, &users, offered, window), probe_all(&g, &probes, window));
    let (arrivals, not_sent, outcomes, unfinished) = logins?;
    let loaded = loaded?;
    let (mut admitted, mut refused) = (Histogram::default(), Histogram::default());
    let (mut bare_503, mut other) = (0u64, std::collections::BTreeMap::<String, u64>::new());
    for o in outcomes {
        match o {
            Outcome::Admitted(ns) => admitted.record_ns(ns),
            Outcome::Refused { ns, retry_after: true } => refused.record_ns(ns),
            Outcome::Refused { retry_after: false, .. } => bare_503 += 1,
            Outcome::Other(what) => *other.entry(what).or_default() += 1,
        }
    }
    let cheap = probes
        .iter()
        .zip(alone.into_iter().zip(loaded))
        .map(|((route, _), ((a, ea), (l, el)))| CheapRoute {
            route: route.clone(),
            alone: Latency::of(&a),
            loaded: Latency::of(&l),
            errors: ea + el,
        })
        .collect();
    let out = Overload {
        pool_size,
        pool_size_source,
        hash_ms,
        capacity_per_s: capacity,
        offered_per_s: offered,
        seconds,
        arrivals,
        not_sent,
        admitted: Latency::of(&admitted),
        refused_retry_after: Latency::of(&refused),
        refused_without_retry_after: bare_503,
        other: other.into_iter().map(|(k, v)| format!("{k} ×{v}")).collect(),
        unfinished,
        cheap,
    };
    eprintln!(
        "  {} arrivals: {} admitted (p99 {:.0} ms), {} refused with Retry-After (p99 {:.1} ms), {} not sent, {} unfinished",
        out.arrivals,
        out.admitted.count,
        out.admitted.p99_ms,
        out.refused_retry_after.count,
        out.refused_retry_after.p99_ms,
        out.not_sent,
        out.unfinished
    );
    g.stop().await;
    Ok(out)
}

type Results = (u64, u64, Vec<Outcome>, u64);

/// Arrivals every `1 / rate` s for `window`; then waits for the answers (at most 60 s).
async fn open_loop(g: &Gatehouse, users: &[User], rate: f64, window: Duration) -> anyhow::Result<Results> {
    let idle: Arc<Mutex<Vec<Client>>> = Arc::new(Mutex::new(Vec::new()));
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let every = Duration::from_secs_f64(1.0 / rate.max(1e-3));
    let start = tokio::time::Instant::now();
    let (mut arrivals, mut not_sent, mut tasks) = (0u64, 0u64, Vec::new());
    loop {
        let due = start + every * u32::try_from(arrivals).unwrap_or(u32::MAX);
        if due.duration_since(start) >= window {
            break;
        }
        tokio::time::sleep_until(due).await;
        arrivals += 1;
        let reused = idle.lock().ok().and_then(|mut v| v.pop());
        if reused.is_none() && open.load(std::sync::atomic::Ordering::SeqCst) >= MAX_CONNECTIONS {
            not_sent += 1;
            continue;
        }
        if reused.is_none() {
            open.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let req = users[arrivals as usize % users.len()].login_request();
        let (addr, idle, open, due) = (g.addr, idle.clone(), open.clone(), due.into_std());
        tasks.push(tokio::spawn(async move {
            let mut client = match reused {
                Some(c) => c,
                None => match Client::connect(addr).await {
                    Ok(c) => c,
                    Err(e) => {
                        open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        return Outcome::Other(format!("connect: {e}"));
                    }
                },
            };
            let outcome = match client.send(&req).await {
                Ok(resp) => {
                    let ns = u64::try_from(due.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    match resp.status.as_u16() {
                        200 | 401 => Outcome::Admitted(ns),
                        503 => Outcome::Refused { ns, retry_after: resp.headers.contains_key("retry-after") },
                        s => Outcome::Other(format!("status {s}")),
                    }
                }
                Err(e) => {
                    open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    return Outcome::Other(format!("request: {e}"));
                }
            };
            if let Ok(mut v) = idle.lock() {
                v.push(client);
            }
            outcome
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut outcomes, mut unfinished) = (Vec::with_capacity(tasks.len()), 0u64);
    for mut t in tasks {
        match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), &mut t).await {
            Ok(Ok(o)) => outcomes.push(o),
            Ok(Err(_)) => outcomes.push(Outcome::Other("task failed".into())),
            Err(_) => {
                t.abort();
                unfinished += 1;
            }
        }
    }
    Ok((arrivals, not_sent, outcomes, unfinished))
}

/// Every probe on its own connection, one request each `PROBE_EVERY`, for `window`: latency
/// histogram and errors per probe.
async fn probe_all(g: &Gatehouse, probes: &[(String, Req)], window: Duration) -> anyhow::Result<Vec<(Histogram, u64)>> {
    let mut tasks = Vec::new();
    for (_, req) in probes {
        let (addr, req) = (g.addr, req.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Client::connect(addr).await?;
            let (mut h, mut errors) = (Histogram::default(), 0u64);
            let start = tokio::time::Instant::now();
            let mut n = 0u32;
            while start.elapsed() < window {
                tokio::time::sleep_until(start + PROBE_EVERY * n).await;
                n += 1;
                let t0 = Instant::now();
                match c.send(&req).await {
                    Ok(r) if r.status.as_u16() == 200 => h.record(t0.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        c = Client::connect(addr).await?;
                    }
                }
            }
            anyhow::Ok((h, errors))
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

impl Overload {
    pub fn checks(&self) -> Vec<Check> {
        let mut c = vec![info(
            &format!(
                "Overload: sign-ins offered at {:.0}/s (3 × {:.0}/s) for {:.0} s",
                self.offered_per_s, self.capacity_per_s, self.seconds
            ),
            "(admitted vs refused)",
            format!(
                "{} arrivals: {} admitted (200/401), p50 {:.0} ms, p99 {:.0} ms; {} refused (503 + Retry-After); \
                 {} 503 without Retry-After; {} not sent; {} unfinished",
                self.arrivals,
                self.admitted.count,
                self.admitted.p50_ms,
                self.admitted.p99_ms,
                self.refused_retry_after.count,
                self.refused_without_retry_after,
                self.not_sent,
                self.unfinished
            ),
        )];
        let r = &self.refused_retry_after;
        c.push(if r.count == 0 {
            Check {
                target: "Overload: excess sign-ins refused within 10 ms (503 + Retry-After)".into(),
                goal: "refused p99 ≤ 10 ms".into(),
                measured: format!(
                    "no refusal: the server queued every sign-in (admitted p99 {:.0} ms)",
                    self.admitted.p99_ms
                ),
                status: "missed".into(),
            }
        } else {
            check(
                "Overload: excess sign-ins refused within 10 ms (503 + Retry-After)",
                "refused p99 ≤ 10 ms",
                format!("{} refused, p99 {:.2} ms, max {:.2} ms", r.count, r.p99_ms, r.max_ms),
                r.p99_ms <= 10.0,
            )
        });
        for p in &self.cheap {
            let ratio = p.loaded.p99_ms / p.alone.p99_ms.max(1e-6);
            c.push(info(
                &format!("Overload: {} p99 under sign-in overload ÷ alone", p.route),
                "(keeps its latency: near 1)",
                format!("{:.2} ms ÷ {:.2} ms = {ratio:.1}", p.loaded.p99_ms, p.alone.p99_ms),
            ));
        }
        c
    }

    pub fn markdown(&self, s: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(
            s,
            "### Overload\n\nHashing pool of {} ({}); one hash {:.1} ms of CPU with every CPU hashing, so the pool \
             serves about {:.0} sign-ins/s. Offered open-loop: {:.0}/s for {:.0} s ({} arrivals; up to {} \
             connections; {} not sent because all were busy). Other answers: {}.\n",
            self.pool_size,
            self.pool_size_source,
            self.hash_ms,
            self.capacity_per_s,
            self.offered_per_s,
            self.seconds,
            self.arrivals,
            MAX_CONNECTIONS,
            self.not_sent,
            if self.other.is_empty() { "none".to_owned() } else { self.other.join(", ") }
        );
        let a = &self.admitted;
        let r = &self.refused_retry_after;
        let _ = writeln!(
            s,
            "| | count | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n\
             | admitted (200/401) | {} | {:.1} | {:.1} | {:.1} |\n| refused (503 + Retry-After) | {} | {:.2} | {:.2} | {:.2} |\n",
            a.count, a.p50_ms, a.p99_ms, a.max_ms, r.count, r.p50_ms, r.p99_ms, r.max_ms
        );
        let _ = writeln!(
            s,
            "Cheap routes, one request every {} ms each on its own connection:\n\n\
             | Route | alone p50 / p99 ms | under overload p50 / p99 ms | p99 ratio | errors |\n|---|---:|---:|---:|---:|",
            PROBE_EVERY.as_millis()
        );
        for p in &self.cheap {
            let _ = writeln!(
                s,
                "| {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.1} | {} |",
                p.route,
                p.alone.p50_ms,
                p.alone.p99_ms,
                p.loaded.p50_ms,
                p.loaded.p99_ms,
                p.loaded.p99_ms / p.alone.p99_ms.max(1e-6),
                p.errors
            );
        }
        let _ = writeln!(s);
    }
}
