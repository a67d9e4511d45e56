//! The write workloads of issue #19: authorization-code redemption at `/oauth2/token` (RFC 6749
//! §4.1.3) on SQLite, and refresh-token rotation plus code redemption on a Gatehouse backed by
//! PostgreSQL, with PostgreSQL's own CPU time per request read apart from Gatehouse's.
//!
//! A code lives 60 s and is single-use, so the codes are minted (`GET /oauth2/authorize` with a
//! session cookie) just before their window, one queue per connection; a connection stops when
//! its queue is empty and the window ends when all have stopped (or at `--duration`).

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::code_flow::{self, Code};
use crate::gatehouse::{self, Gatehouse, OAuthClient, Options, User};
use crate::load::{self, Edges, Factory, Limits, Resp, Scenario};
use crate::pg;
use crate::report::{Check, info, na, one_line};
use crate::workloads::{self, LoadResult, Workload};

/// No ID token (no `openid`): one signature, the access token, plus a refresh-token family.
const SCOPE: &str = "offline_access";
const MINT_CONNECTIONS: usize = 8;
/// Codes expire after 60 s: never mint more than can be redeemed well within that.
const MAX_CODES: usize = 30_000;

/// How many codes a window at `conns` connections needs, from the rate of a similar write
/// (refresh rotation on the same server) with half as much again in reserve.
pub fn codes_needed(rps_hint: f64, limits: Limits, conns: usize) -> usize {
    let seconds = (limits.warmup + limits.duration).as_secs_f64();
    let n = (rps_hint.max(100.0) * seconds * 1.5) as usize + 2 * conns;
    n.clamp(4 * conns, MAX_CODES)
}

/// Mints `count` codes for `rp` as `users` (round robin), on a few connections at once.
async fn mint(g: &Gatehouse, rp: &OAuthClient, users: &[User], count: usize) -> anyhow::Result<Vec<Code>> {
    let mut tasks = Vec::new();
    for w in 0..MINT_CONNECTIONS.min(count.max(1)) {
        let (addr, rp, user) = (g.addr, rp.clone(), users[w % users.len()].clone());
        let share = count / MINT_CONNECTIONS + usize::from(w < count % MINT_CONNECTIONS);
        tasks.push(tokio::spawn(async move {
            let mut c = load::Client::connect(addr).await?;
            let cookie = gatehouse::session_cookie(&mut c, &user).await?;
            let mut codes = Vec::with_capacity(share);
            for _ in 0..share {
                codes.push(code_flow::authorize(&mut c, &rp, &cookie, SCOPE).await?);
            }
            anyhow::Ok(codes)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Connection `i` redeems the codes of its own queue, each once.
struct Redeem {
    queue: Vec<Code>,
    client: OAuthClient,
}

impl Scenario for Redeem {
    fn request(&mut self) -> load::Req {
        match self.queue.pop() {
            Some(code) => code.redemption(&self.client),
            None => load::Req::get("/healthz"), // not reached: `done` stops the connection first
        }
    }
    fn response(&mut self, resp: &Resp) -> bool {
        resp.status.as_u16() == 200 && resp.json().is_some_and(|j| j["access_token"].is_string())
    }
    fn done(&self) -> bool {
        self.queue.is_empty()
    }
}

fn redeem_factory(codes: Vec<Code>, conns: usize, client: &OAuthClient) -> Factory {
    let mut queues: Vec<Vec<Code>> = (0..conns).map(|_| Vec::new()).collect();
    for (i, code) in codes.into_iter().enumerate() {
        queues[i % conns.max(1)].push(code);
    }
    let queues = Arc::new(Mutex::new(queues));
    let client = client.clone();
    Arc::new(move |i| {
        let queue = queues.lock().map(|mut q| q.get_mut(i).map(std::mem::take).unwrap_or_default()).unwrap_or_default();
        Box::new(Redeem { queue, client: client.clone() }) as Box<dyn Scenario>
    })
}

/// `code.<alg>` (or `pg.code.<alg>`): mints the codes, then measures their redemption.
#[allow(clippy::too_many_arguments)]
pub async fn code_redemption(
    g: &Gatehouse,
    rp: &OAuthClient,
    users: &[User],
    id: &str,
    conns: usize,
    limits: Limits,
    ticks: u64,
    rps_hint: f64,
    edges: Option<&dyn Edges>,
) -> anyhow::Result<LoadResult> {
    let codes = mint(g, rp, users, codes_needed(rps_hint, limits, conns)).await?;
    let title = format!("Authorization-code redemption, {} (POST /oauth2/token)", g.opts.alg);
    let w = workload(g, id, &title, redeem_factory(codes, conns, rp));
    measure(&w, conns, limits, ticks, edges).await
}

fn workload(g: &Gatehouse, id: &str, title: &str, factory: Factory) -> Workload {
    let backend = if g.database().is_some() { " on PostgreSQL" } else { "" };
    Workload {
        id: id.into(),
        title: title.into(),
        server: format!("gatehouse {}{backend}", g.opts.alg),
        addr: g.addr,
        pid: g.pid(),
        factory,
    }
}

async fn measure(
    w: &Workload,
    conns: usize,
    limits: Limits,
    ticks: u64,
    edges: Option<&dyn Edges>,
) -> anyhow::Result<LoadResult> {
    let m = load::run_with(w.addr, w.pid, conns, &w.factory, limits, ticks, edges).await?;
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
    anyhow::ensure!(m.ok > 0, "{}: no request succeeded ({})", w.title, m.first_error.as_deref().unwrap_or("no error"));
    Ok(r)
}

/// One write workload on the PostgreSQL-backed server.
#[derive(Debug, Clone, Serialize)]
pub struct PgRow {
    pub load: LoadResult,
    /// CPU of the backends serving the bench database, per request.
    pub pg_backends_cpu_us: f64,
    /// CPU of every `postgres` process on the machine (other databases' backends and the
    /// WAL writer, checkpointer, background writer included), per request.
    pub pg_all_cpu_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PgSide {
    /// The server, password redacted.
    pub url: String,
    /// Set when the PostgreSQL side was skipped, and why.
    pub skipped: Option<String>,
    pub rows: Vec<PgRow>,
}

/// `--postgres-side URL`: refresh rotation and code redemption on a Gatehouse whose database is
/// a fresh one on `url`, at each connection count; skipped (with the reason) when `url` does
/// not answer.
pub async fn pg_side(bin: &std::path::Path, url: &str, connections: &[usize], limits: Limits, ticks: u64) -> PgSide {
    let mut side = PgSide { url: pg::redact(url), skipped: None, rows: Vec::new() };
    if let Err(e) = pg::reachable(url) {
        eprintln!("PostgreSQL side skipped: {e:#}");
        side.skipped = Some(one_line(&format!("{e:#}")));
        return side;
    }
    if let Err(e) = pg_rows(bin, url, connections, limits, ticks, &mut side.rows).await {
        eprintln!("PostgreSQL side failed: {e:#}");
        side.skipped = Some(one_line(&format!("failed: {e:#}")));
    }
    side
}

async fn pg_rows(
    bin: &std::path::Path,
    url: &str,
    connections: &[usize],
    limits: Limits,
    ticks: u64,
    rows: &mut Vec<PgRow>,
) -> anyhow::Result<()> {
    let mut opts = Options::new("pgside", "ES256");
    opts.postgres = Some(url.to_owned());
    let g = Gatehouse::start(bin, opts).await?;
    let database = g.database().unwrap_or_default().to_owned();
    let max = connections.iter().copied().max().unwrap_or(16);
    let users = gatehouse::seed_users(&g, max).await?;
    let rp = g.create_rp_client().await?;
    let watch = pg::CpuWatch::new(&database);
    let per_req = |ticks_n: u64, r: &LoadResult| ticks_n as f64 / ticks as f64 * 1e6 / (r.rps * r.seconds).max(1.0);
    for &conns in connections {
        eprintln!("PostgreSQL side at {conns} connections (database {database})");
        let chains = workloads::refresh_chains(&g, &users, conns).await?;
        let title = "Refresh-token rotation, ES256 (POST /api/v1/auth/refresh)";
        let w = workload(&g, "pg.refresh.ES256", title, chains);
        let load = measure(&w, conns, limits, ticks, Some(&watch)).await?;
        let (db, all) = watch.ticks();
        let hint = load.rps;
        rows.push(PgRow { pg_backends_cpu_us: per_req(db, &load), pg_all_cpu_us: per_req(all, &load), load });
        let load = code_redemption(&g, &rp, &users, "pg.code.ES256", conns, limits, ticks, hint, Some(&watch)).await?;
        let (db, all) = watch.ticks();
        rows.push(PgRow { pg_backends_cpu_us: per_req(db, &load), pg_all_cpu_us: per_req(all, &load), load });
    }
    for r in rows.iter() {
        eprintln!(
            "  {} {}c: PostgreSQL backends {:.1} µs/req, all postgres processes {:.1} µs/req",
            r.load.id, r.load.connections, r.pg_backends_cpu_us, r.pg_all_cpu_us
        );
    }
    g.stop().await;
    Ok(())
}

impl PgSide {
    /// Beside the SQLite rows of the same run: Gatehouse's CPU per request, PostgreSQL's
    /// separately, both against floor + raw ES256 sign.
    pub fn checks(&self, http: &[LoadResult], raw_sign_us: f64) -> Vec<Check> {
        if let Some(why) = &self.skipped {
            return vec![na("Rotation and code redemption on PostgreSQL", "(reported beside SQLite)", why)];
        }
        let mut c = Vec::new();
        for row in &self.rows {
            let r = &row.load;
            let floor = http.iter().find(|f| f.id == "floor.axum" && f.connections == r.connections);
            let base = floor.map(|f| f.server_cpu_us + raw_sign_us);
            let ratio = base.map(|b| format!("; Gatehouse ÷ (floor + raw sign) = {:.2}", r.server_cpu_us / b));
            c.push(info(
                &format!("{} on PostgreSQL ({} conns)", r.title, r.connections),
                "(reported beside SQLite)",
                format!(
                    "Gatehouse {:.0} µs + PostgreSQL backends {:.0} µs per request (every postgres process: {:.0} µs){}",
                    r.server_cpu_us,
                    row.pg_backends_cpu_us,
                    row.pg_all_cpu_us,
                    ratio.unwrap_or_default()
                ),
            ));
        }
        c
    }

    pub fn markdown(&self, s: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(s, "### Writes on PostgreSQL\n");
        if let Some(why) = &self.skipped {
            let _ = writeln!(s, "Not run ({}): {why}\n", self.url);
            return;
        }
        let _ = writeln!(
            s,
            "A Gatehouse (ES256) on a fresh database on `{}`. PostgreSQL's CPU is read from `/proc` at the edges of \
             each window: the backends whose title names the bench database, and every `postgres` process (WAL \
             writer, checkpointer and other databases' backends included).\n\n\
             | Workload | conns | req/s | p50 ms | p99 ms | Gatehouse CPU µs/req | PostgreSQL backends µs/req | all postgres µs/req | errors |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.url
        );
        for row in &self.rows {
            let r = &row.load;
            let _ = writeln!(
                s,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {} |",
                r.title,
                r.connections,
                r.rps,
                r.p50_ms,
                r.p99_ms,
                r.server_cpu_us,
                row.pg_backends_cpu_us,
                row.pg_all_cpu_us,
                r.errors
            );
        }
        let _ = writeln!(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn enough_codes_and_never_more_than_a_minute_allows() {
        let l = Limits { warmup: Duration::from_secs(1), duration: Duration::from_secs(5), max_requests: 1 };
        assert_eq!(codes_needed(1000.0, l, 16), 9032);
        assert_eq!(codes_needed(1e6, l, 16), MAX_CODES);
        assert_eq!(codes_needed(0.0, Limits { duration: Duration::ZERO, warmup: Duration::ZERO, ..l }, 16), 64);
    }
}
