//! Tail latency with the load generator and the server on CPUs of their own (issue #19,
//! DESIGN.md §8: p99 < 2 ms at 64 connections for introspection, userinfo and session routes on
//! SQLite): the server runs under `taskset -c 1`, and this process pins all its threads to CPU 0
//! (`taskset -a -p`) for the measurement and restores its affinity afterwards.
//!
//! With one CPU each, the server's runtime and hashing pool size themselves to one CPU, and
//! the load generator cannot steal the server's CPU any more; but on a VM the two vCPUs may be
//! two hyperthreads of one core, so they still share the core's execution units.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::code_flow;
use crate::gatehouse::{self, Gatehouse, Options};
use crate::load::{self, Limits, Req};
use crate::report::{Check, check, na, one_line};
use crate::workloads::{self, LoadResult, Step, Workload};

pub const SERVER_CPU: &str = "1";
pub const GENERATOR_CPU: &str = "0";

#[derive(Debug, Clone, Serialize)]
pub struct Pinned {
    pub connections: usize,
    pub server_cpus: String,
    pub generator_cpus: String,
    pub skipped: Option<String>,
    pub rows: Vec<LoadResult>,
}

/// This process's CPU affinity, restored when dropped.
struct PinSelf {
    previous: String,
}

impl PinSelf {
    fn to(cpus: &str) -> anyhow::Result<Self> {
        let pid = std::process::id().to_string();
        let out = Command::new("taskset").args(["-c", "-p", &pid]).output().context("running taskset")?;
        let text = String::from_utf8_lossy(&out.stdout);
        let previous = text.rsplit(": ").next().map(str::trim).unwrap_or_default().to_owned();
        if !out.status.success() || previous.is_empty() {
            bail!("taskset -c -p {pid}: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        set_affinity(&pid, cpus)?;
        Ok(Self { previous })
    }
}

fn set_affinity(pid: &str, cpus: &str) -> anyhow::Result<()> {
    let out = Command::new("taskset").args(["-a", "-c", "-p", cpus, pid]).output().context("running taskset")?;
    if !out.status.success() {
        bail!("taskset -a -c -p {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Drop for PinSelf {
    fn drop(&mut self) {
        if let Err(e) = set_affinity(&std::process::id().to_string(), &self.previous) {
            eprintln!("could not restore this process's CPU affinity ({}): {e:#}", self.previous);
        }
    }
}

pub async fn run(bin: &Path, conns: usize, limits: Limits, ticks: u64) -> Pinned {
    let mut p = Pinned {
        connections: conns,
        server_cpus: SERVER_CPU.into(),
        generator_cpus: GENERATOR_CPU.into(),
        skipped: None,
        rows: Vec::new(),
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        p.skipped = Some(format!("{cpus} CPU available: nothing to pin apart"));
        return p;
    }
    match measure(bin, conns, limits, ticks).await {
        Ok(rows) => p.rows = rows,
        Err(e) => {
            eprintln!("pinned run failed: {e:#}");
            p.skipped = Some(one_line(&format!("failed: {e:#}")));
        }
    }
    p
}

async fn measure(bin: &Path, conns: usize, limits: Limits, ticks: u64) -> anyhow::Result<Vec<LoadResult>> {
    let mut opts = Options::new("pinned", "ES256");
    opts.cpus = Some(SERVER_CPU.into());
    let g = Gatehouse::start(bin, opts).await?;
    let users = gatehouse::seed_users(&g, conns.min(64)).await?;
    let client = g.create_oauth_client().await?;
    let rp = g.create_rp_client().await?;
    let mut c = g.client().await?;
    let mut cookies = Vec::with_capacity(conns);
    for i in 0..conns {
        let cookie = gatehouse::session_cookie(&mut c, &users[i % users.len()]).await?;
        cookies.push(Req::get("/api/v1/me").header("cookie", &cookie));
    }
    let jwt = client.mint(&mut c).await?;
    let cookie = gatehouse::session_cookie(&mut c, &users[0]).await?;
    let tokens = code_flow::login(&mut c, &rp, &cookie).await?;
    let userinfo = Req::get("/oauth2/userinfo").header("authorization", &format!("Bearer {}", tokens.access_token));
    let w = |id: &str, title: &str, factory| Workload {
        id: id.into(),
        title: title.into(),
        server: format!("gatehouse ES256, CPU {SERVER_CPU}"),
        addr: g.addr,
        pid: g.pid(),
        factory,
    };
    let steps = vec![
        Step::Single(w(
            "pinned.introspect.jwt",
            "Pinned: introspection of a repeated JWT",
            load::fixed(vec![client.introspection_request(&jwt)], 200),
        )),
        Step::Single(w(
            "pinned.userinfo.ES256",
            "Pinned: GET /oauth2/userinfo (ES256 bearer)",
            load::fixed(vec![userinfo], 200),
        )),
        Step::Single(w("pinned.me.cookie", "Pinned: GET /api/v1/me with a session cookie", load::fixed(cookies, 200))),
    ];
    eprintln!("pinned: server on CPU {SERVER_CPU}, load generator on CPU {GENERATOR_CPU}, {conns} connections");
    let rows = {
        let _pin = PinSelf::to(GENERATOR_CPU)?;
        workloads::run(&steps, conns, limits, 1, ticks).await
    };
    g.stop().await;
    rows
}

impl Pinned {
    pub fn checks(&self) -> Vec<Check> {
        if let Some(why) = &self.skipped {
            return vec![na("p99 at 64 conns, generator and server pinned apart", "< 2 ms", why)];
        }
        self.rows
            .iter()
            .map(|r| {
                check(
                    &format!(
                        "{} p99 at {} conns (server CPU {}, generator CPU {})",
                        r.title, r.connections, self.server_cpus, self.generator_cpus
                    ),
                    "< 2 ms",
                    format!(
                        "{:.2} ms (p50 {:.2} ms, {:.0} req/s, {:.0} µs CPU/req)",
                        r.p99_ms, r.p50_ms, r.rps, r.server_cpu_us
                    ),
                    r.p99_ms < 2.0,
                )
            })
            .collect()
    }
}
