//! `gatehouse-bench hit`: load one route of an already running server and print what the
//! harness would measure — for profiling a single workload (under `perf`, `valgrind`, or with
//! a changed build) without the whole run.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::load::{self, Limits, Req};
use crate::proc;

#[derive(Args, Clone)]
pub struct HitArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The server's process id (its CPU time is read from /proc).
    #[arg(long)]
    pid: u32,
    /// Path and query, e.g. /oauth2/token.
    #[arg(long)]
    path: String,
    /// A form body: the request becomes a POST with this body.
    #[arg(long)]
    form: Option<String>,
    /// A JSON body: the request becomes a POST with this body.
    #[arg(long, conflicts_with = "form")]
    json: Option<String>,
    /// Extra headers, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The status every answer must have.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    #[arg(long, default_value_t = 16)]
    connections: usize,
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
}

pub async fn run(args: HitArgs) -> anyhow::Result<()> {
    let mut req = match (&args.form, &args.json) {
        (Some(form), _) => Req::post_form(&args.path, form),
        (None, Some(json)) => Req::post_json(&args.path, &serde_json::from_str(json)?),
        (None, None) => Req::get(&args.path),
    };
    for h in &args.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| anyhow::anyhow!("--header wants `Name: value`"))?;
        req = req.header(name.trim(), value.trim());
    }
    let limits = Limits {
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        max_requests: u64::MAX,
    };
    let ticks = proc::clock_ticks();
    let before = proc::cpu_split(args.pid)?;
    let m =
        load::run(args.addr, args.pid, args.connections, &load::fixed(vec![req], args.expect), limits, ticks).await?;
    let after = proc::cpu_split(args.pid)?;
    let per_req_us = |s: f64| s * 1e6 / m.ok.max(1) as f64;
    println!(
        "{} ok, {} errors in {:.2} s: {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms; server CPU {:.1} µs/req",
        m.ok,
        m.errors,
        m.elapsed.as_secs_f64(),
        m.ok as f64 / m.elapsed.as_secs_f64(),
        m.latency.quantile_ns(0.5) as f64 / 1e6,
        m.latency.quantile_ns(0.99) as f64 / 1e6,
        per_req_us(m.server_cpu_s),
    );
    // The split covers warm-up and measurement alike, so it is a proportion, not a total.
    let (user, system) = (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1));
    let total = (user + system).max(1) as f64;
    println!(
        "server user {:.0}% / system {:.0}%; client CPU {:.1} µs/req",
        100.0 * user as f64 / total,
        100.0 * system as f64 / total,
        per_req_us(m.client_cpu_s)
    );
    if let Some(e) = m.first_error {
        println!("first error: {e}");
    }
    Ok(())
}
