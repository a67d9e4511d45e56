//! The HTTP workloads and the order they run in. A workload is a name, a server and a scenario
//! factory; adding one is a few lines in [`plan`]. Workloads that are compared with each other
//! run as an [`Step::Alternate`] group (A B A B …) so that drift on a shared machine hits both.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use serde::Serialize;

use crate::code_flow;
use crate::floor::Floor;
use crate::gatehouse::{self, Gatehouse, OAuthClient, User};
use crate::load::{self, Factory, Limits, Measurement, Req, Resp, Scenario};
use crate::peer::Peer;

/// Tokens minted for `introspect.jwt.distinct`: twice what the server's verified-token cache holds.
const DISTINCT_TOKENS: usize = 20_000;

/// One Gatehouse server with what was seeded into it.
pub struct Instance {
    pub g: Gatehouse,
    pub users: Vec<User>,
    /// `None` when the binary has no `clients` command (the OAuth provider not built).
    pub client: Option<OAuthClient>,
    /// The authorization-code web application (userinfo, owned opaque-token introspection).
    pub rp: Option<OAuthClient>,
}

/// Every server of one run: Gatehouse once per signing algorithm, the floor, and the peer.
pub struct Servers {
    /// Index 0 is ES256 (the default), then EdDSA, RS256.
    pub gatehouse: Vec<Instance>,
    pub floor: Floor,
    pub peer: Option<Peer>,
}

impl Servers {
    fn default_gatehouse(&self) -> anyhow::Result<&Instance> {
        self.gatehouse.first().ok_or_else(|| anyhow::anyhow!("no Gatehouse server"))
    }
}

pub struct Workload {
    /// Stable key in the JSON results, e.g. `token.ES256`.
    pub id: String,
    pub title: String,
    pub server: String,
    pub addr: SocketAddr,
    pub pid: u32,
    pub factory: Factory,
}

pub enum Step {
    Single(Workload),
    /// Run in turns, each getting the same share of the measured time.
    Alternate(Vec<Workload>),
}

fn on_gatehouse(g: &Gatehouse, id: &str, title: &str, factory: Factory) -> Workload {
    Workload {
        id: id.into(),
        title: title.into(),
        server: format!("gatehouse {}", g.opts.alg),
        addr: g.addr,
        pid: g.pid(),
        factory,
    }
}

fn on_peer(p: &Peer, id: &str, title: &str, factory: Factory) -> Workload {
    Workload {
        id: id.into(),
        title: title.into(),
        server: format!("oidc-provider {}", p.package_version),
        addr: p.addr,
        pid: p.pid(),
        factory,
    }
}

/// The workloads for `conns` connections, with their per-connection state prepared (sessions,
/// refresh-token chains) before anything is measured.
pub async fn plan(s: &Servers, conns: usize) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    let Instance { g, users, client, rp } = s.default_gatehouse()?;
    let per_conn = |f: &dyn Fn(&User) -> Req| (0..conns).map(|i| f(&users[i % users.len()])).collect::<Vec<_>>();

    // The HTTP floor: a trivial axum handler against our /healthz (every middleware layer).
    let healthz = || load::fixed(vec![Req::get("/healthz")], 200);
    steps.push(Step::Alternate(vec![
        Workload {
            id: "floor.axum".into(),
            title: "HTTP floor: trivial axum handler".into(),
            server: "axum floor".into(),
            addr: s.floor.addr,
            pid: s.floor.pid(),
            factory: healthz(),
        },
        on_gatehouse(g, "floor.healthz", "GET /healthz", healthz()),
    ]));

    let title = "Password login (POST /api/v1/auth/login)";
    steps.push(Step::Single(on_gatehouse(g, "login", title, load::fixed(per_conn(&User::login_request), 200))));

    // client_credentials against the peer's, same algorithm, alternated (DESIGN §8).
    for i in &s.gatehouse {
        let alg = i.g.opts.alg;
        let mut group = Vec::new();
        if let Some(c) = &i.client {
            let title = format!("client_credentials, JWT {alg} (POST /oauth2/token)");
            group.push(on_gatehouse(&i.g, &format!("cc.{alg}"), &title, load::fixed(vec![c.token_request()], 200)));
        }
        if let Some(p) = &s.peer {
            let title = format!("Peer client_credentials, JWT {alg}");
            let req = Peer::token_request(Some(alg));
            group.push(on_peer(p, &format!("peer.cc.{alg}"), &title, load::fixed(vec![req], 200)));
        }
        if !group.is_empty() {
            steps.push(Step::Alternate(group));
        }
    }

    for i in &s.gatehouse {
        let alg = i.g.opts.alg;
        let reqs = (0..conns).map(|n| i.users[n % i.users.len()].token_request()).collect();
        let title = format!("First-party token, password + {alg} (POST /api/v1/auth/token)");
        steps.push(Step::Single(on_gatehouse(&i.g, &format!("token.{alg}"), &title, load::fixed(reqs, 200))));
        let title = format!("Refresh-token rotation, {alg} (POST /api/v1/auth/refresh)");
        let chains = refresh_chains(&i.g, &i.users, conns).await?;
        steps.push(Step::Single(on_gatehouse(&i.g, &format!("refresh.{alg}"), &title, chains)));
    }

    // Protected routes and introspection, alternated with the peer's introspection (DESIGN §8).
    let mut c = g.client().await?;
    let mut cookies = Vec::with_capacity(conns);
    for i in 0..conns {
        let cookie = gatehouse::session_cookie(&mut c, &users[i % users.len()]).await?;
        cookies.push(Req::get("/api/v1/me").header("cookie", &cookie));
    }
    let mut group =
        vec![on_gatehouse(g, "me.cookie", "GET /api/v1/me with a session cookie", load::fixed(cookies, 200))];
    let mut singles = Vec::new();
    for i in &s.gatehouse {
        let alg = i.g.opts.alg;
        let mut c = i.g.client().await?;
        let (access, _) = gatehouse::tokens(&mut c, &i.users[0]).await?;
        let req = Req::get("/api/v1/me").header("authorization", &format!("Bearer {access}"));
        let title = format!("GET /api/v1/me with a {alg} bearer token");
        let w = on_gatehouse(&i.g, &format!("me.bearer.{alg}"), &title, load::fixed(vec![req], 200));
        if alg == "ES256" {
            group.push(w)
        } else {
            singles.push(Step::Single(w))
        }
        // OpenID Connect Core §5.3: an access token from an authorization-code login.
        if let Some(rp) = &i.rp {
            let cookie = gatehouse::session_cookie(&mut c, &i.users[0]).await?;
            let tokens = code_flow::login(&mut c, rp, &cookie).await?;
            let req = Req::get("/oauth2/userinfo").header("authorization", &format!("Bearer {}", tokens.access_token));
            let title = format!("GET /oauth2/userinfo with a {alg} bearer token");
            let w = on_gatehouse(&i.g, &format!("userinfo.{alg}"), &title, load::fixed(vec![req], 200));
            if alg == "ES256" { group.push(w) } else { singles.push(Step::Single(w)) }
        }
    }
    if let Some(client) = client {
        let jwt = client.mint(&mut c).await?;
        let req = client.introspection_request(&jwt);
        let title = "Introspection of a JWT access token (POST /oauth2/introspect)";
        group.push(on_gatehouse(g, "introspect.jwt", title, load::fixed(vec![req], 200)));
        // Without the verified-token cache: more distinct tokens than it holds, each presented
        // once per round, so every request pays its signature check.
        let mut reqs = Vec::with_capacity(DISTINCT_TOKENS);
        for _ in 0..DISTINCT_TOKENS {
            reqs.push(client.introspection_request(&client.mint(&mut c).await?));
        }
        let title = "Introspection of a JWT access token, a different token every request";
        singles.push(Step::Single(on_gatehouse(g, "introspect.jwt.distinct", title, load::cycle(reqs, conns, 200))));
    }
    // Gatehouse's opaque tokens are refresh tokens: the web application introspects its own
    // (RFC 7662 §2.2, `active: true`).
    if let Some(rp) = rp {
        let cookie = gatehouse::session_cookie(&mut c, &users[0]).await?;
        let tokens = code_flow::login(&mut c, rp, &cookie).await?;
        let req = rp.introspection_request(&tokens.refresh_token);
        let answer = c.send(&req).await?.json().unwrap_or_default();
        if answer["active"] != serde_json::Value::Bool(true) {
            bail!("introspecting the web application's own refresh token answered {answer}");
        }
        let title = "Introspection of an opaque token (the client's own refresh token, active)";
        singles.push(Step::Single(on_gatehouse(g, "introspect.opaque", title, load::fixed(vec![req], 200))));
    }
    if let Some(p) = &s.peer {
        let req = Peer::introspection_request(&p.mint(None).await?);
        group.push(on_peer(p, "peer.introspect", "Peer introspection, opaque token", load::fixed(vec![req], 200)));
        let title = "Peer client_credentials, opaque token";
        singles.push(Step::Single(on_peer(
            p,
            "peer.cc.opaque",
            title,
            load::fixed(vec![Peer::token_request(None)], 200),
        )));
    }
    steps.push(Step::Alternate(group));
    steps.extend(singles);
    Ok(steps)
}

/// One refresh-token family per connection. Each connection presents its newest refresh token
/// and keeps the one it gets back; the chains survive across the turns of an alternation.
pub async fn refresh_chains(g: &Gatehouse, users: &[User], conns: usize) -> anyhow::Result<Factory> {
    let mut c = g.client().await?;
    let mut chains = Vec::with_capacity(conns);
    for i in 0..conns {
        chains.push(gatehouse::tokens(&mut c, &users[i % users.len()]).await?.1);
    }
    let chains = Arc::new(Mutex::new(chains));
    Ok(Arc::new(move |i| {
        let token = chains.lock().map(|v| v[i].clone()).unwrap_or_default();
        Box::new(RefreshChain { slot: i, token, chains: chains.clone() }) as Box<dyn Scenario>
    }))
}

struct RefreshChain {
    slot: usize,
    token: String,
    chains: Arc<Mutex<Vec<String>>>,
}

impl Scenario for RefreshChain {
    fn request(&mut self) -> Req {
        Req::post_json("/api/v1/auth/refresh", &serde_json::json!({ "refresh_token": self.token }))
    }

    fn response(&mut self, resp: &Resp) -> bool {
        let next = resp.json().and_then(|j| j["refresh_token"].as_str().map(str::to_owned));
        match next {
            Some(t) if resp.status.as_u16() == 200 => {
                self.token = t;
                true
            }
            _ => false,
        }
    }
}

impl Drop for RefreshChain {
    fn drop(&mut self) {
        if let Ok(mut v) = self.chains.lock()
            && let Some(slot) = v.get_mut(self.slot)
        {
            *slot = std::mem::take(&mut self.token);
        }
    }
}

/// A workload's figures at one connection count (turns of an alternation added up).
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    pub id: String,
    pub title: String,
    pub server: String,
    pub connections: usize,
    pub turns: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Server CPU time (user + system, all threads) per completed request.
    pub server_cpu_us: f64,
    /// The load generator's own CPU time per request (it shares the machine).
    pub client_cpu_us: f64,
    pub server_rss_mib: f64,
    pub server_peak_rss_mib: f64,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn new(w: &Workload, turns: usize, m: &Measurement) -> Self {
        let done = m.latency.count().max(1) as f64;
        let ms = |ns: u64| ns as f64 / 1e6;
        Self {
            id: w.id.clone(),
            title: w.title.clone(),
            server: w.server.clone(),
            connections: m.connections,
            turns,
            seconds: m.elapsed.as_secs_f64(),
            requests: m.ok,
            errors: m.errors,
            rps: m.latency.count() as f64 / m.elapsed.as_secs_f64().max(1e-9),
            mean_ms: m.latency.mean_ns() / 1e6,
            p50_ms: ms(m.latency.quantile_ns(0.5)),
            p99_ms: ms(m.latency.quantile_ns(0.99)),
            max_ms: ms(m.latency.max_ns()),
            server_cpu_us: m.server_cpu_s * 1e6 / done,
            client_cpu_us: m.client_cpu_s * 1e6 / done,
            server_rss_mib: m.server_end.rss_kib as f64 / 1024.0,
            server_peak_rss_mib: m.server_end.hwm_kib as f64 / 1024.0,
            first_error: m.first_error.clone(),
        }
    }
}

/// Runs the steps at `conns` connections; an alternation gets `turns` turns per workload, each
/// measuring `limits.duration / turns`.
pub async fn run(
    steps: &[Step],
    conns: usize,
    limits: Limits,
    turns: usize,
    ticks: u64,
) -> anyhow::Result<Vec<LoadResult>> {
    let mut results = Vec::new();
    for step in steps {
        match step {
            Step::Single(w) => {
                let m = measure(w, conns, limits, ticks).await?;
                results.push(LoadResult::new(w, 1, &m));
            }
            Step::Alternate(group) => {
                let turn = Limits { duration: limits.duration / turns.max(1) as u32, ..limits };
                let mut sums: Vec<Option<Measurement>> = vec![None; group.len()];
                for _ in 0..turns.max(1) {
                    for (w, sum) in group.iter().zip(sums.iter_mut()) {
                        let m = measure(w, conns, turn, ticks).await?;
                        match sum {
                            Some(s) => s.merge(&m),
                            None => *sum = Some(m),
                        }
                    }
                }
                for (w, m) in group.iter().zip(sums) {
                    if let Some(m) = m {
                        results.push(LoadResult::new(w, turns.max(1), &m));
                    }
                }
            }
        }
    }
    Ok(results)
}

async fn measure(w: &Workload, conns: usize, limits: Limits, ticks: u64) -> anyhow::Result<Measurement> {
    let m = load::run(w.addr, w.pid, conns, &w.factory, limits, ticks).await?;
    let r = LoadResult::new(w, 1, &m);
    eprintln!(
        "  {:<58} {:>3}c {:>9.0} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms  server {:>9.1} µs/req{}",
        w.title,
        conns,
        r.rps,
        r.p50_ms,
        r.p99_ms,
        r.server_cpu_us,
        if m.errors > 0 {
            format!("  ({} errors: {})", m.errors, m.first_error.as_deref().unwrap_or(""))
        } else {
            String::new()
        }
    );
    if m.ok == 0 {
        bail!("{}: no request succeeded ({})", w.title, m.first_error.as_deref().unwrap_or("no error recorded"));
    }
    Ok(m)
}
