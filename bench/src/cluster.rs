//! `gatehouse-bench cluster --postgres URL [--redis URL]`: three release servers on one
//! PostgreSQL database (and optionally one Redis) behind nginx on loopback, against one of the
//! same servers alone, on the same machine and in the same run. For each workload it prints
//! req/s, latency, and CPU per request of every node and of nginx (`/proc`, read at the edges of
//! the measured window), as Markdown, and writes it to `bench/results/<date>-cluster.md`.
//!
//! On one 2-CPU machine three nodes share the same two CPUs with nginx, PostgreSQL and the load
//! generator: the point is the CPU each request costs when spread over nodes (what a real
//! deployment sizes by) and the balancer's overhead, not a scale-out speed-up, which needs more
//! machines.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use tokio::process::Command;

use crate::child::{self, Proc, TempDir};
use crate::gatehouse::{Gatehouse, Options, Workspace, seed_users, session_cookie};
use crate::load::{self, Factory, Limits, Measurement, Req};
use crate::{pg, proc};

#[derive(Args, Clone)]
pub struct ClusterArgs {
    /// The PostgreSQL server (a scratch database is created on it and dropped afterwards).
    #[arg(long, value_name = "URL")]
    postgres: String,
    /// A Redis for the nodes' shared state (`GATEHOUSE_REDIS_URL`); without it each node keeps
    /// its own limits and caches.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per workload and setup.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Use this gatehouse executable instead of building target/release/gatehouse.
    #[arg(long, value_name = "PATH")]
    gatehouse_bin: Option<PathBuf>,
    /// nginx executable.
    #[arg(long, default_value = "nginx")]
    nginx: PathBuf,
    /// Print only; write no file.
    #[arg(long)]
    no_save: bool,
}

/// nginx as the multi-node test suite runs it: round robin, keep-alive to the nodes.
struct Nginx {
    addr: SocketAddr,
    proc: Proc,
    _dir: TempDir,
}

impl Nginx {
    async fn start(bin: &PathBuf, upstreams: &[SocketAddr]) -> anyhow::Result<Self> {
        let dir = TempDir::new("nginx")?;
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("tmp"))?;
        let port = child::free_port()?;
        let servers: String = upstreams.iter().map(|a| format!("server {a} max_fails=1 fail_timeout=2s; ")).collect();
        let conf = format!(
            "worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn; \
             events {{ worker_connections 4096; }} \
             http {{ access_log off; client_body_temp_path {d}/tmp/body; proxy_temp_path {d}/tmp/proxy; \
             fastcgi_temp_path {d}/tmp/fastcgi; uwsgi_temp_path {d}/tmp/uwsgi; scgi_temp_path {d}/tmp/scgi; \
             upstream gatehouse {{ {servers} keepalive 128; }} \
             server {{ listen 127.0.0.1:{port}; keepalive_requests 1000000; location / {{ \
             proxy_pass http://gatehouse; proxy_http_version 1.1; proxy_set_header Connection \"\"; \
             proxy_set_header Host $http_host; proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; \
             proxy_next_upstream error timeout; }} }} }}"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c").arg(&conf_path).arg("-p").arg(dir.path()).arg("-e").arg(dir.path().join("error.log"));
        cmd.args(["-g", if is_root() { "daemon off; user root;" } else { "daemon off;" }]);
        let mut proc = Proc::spawn("nginx", cmd, &dir.path().join("stderr.log"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(Self { addr, proc, _dir: dir });
            }
            if let Some(status) = proc.exited() {
                bail!("nginx exited ({status}): {}", proc.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("nginx did not listen on {addr}")
    }

    /// The worker's pid (the master only supervises; the worker does the proxying).
    fn worker(&self) -> u32 {
        let pid = self.proc.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
            .unwrap_or(pid)
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn cpu_seconds(pids: &[u32], ticks: u64) -> anyhow::Result<Vec<f64>> {
    pids.iter()
        .map(|&p| proc::cpu_split(p).map(|(u, s)| (u + s) as f64 / ticks as f64))
        .collect::<anyhow::Result<Vec<_>>>()
}

/// One measured window against `addr`, with every pid's CPU seconds over exactly that window
/// (a warm-up run first, not measured).
async fn measure(
    addr: SocketAddr,
    pids: &[u32],
    connections: usize,
    factory: &Factory,
    args: &ClusterArgs,
    ticks: u64,
) -> anyhow::Result<(Measurement, Vec<f64>)> {
    let warm =
        Limits { warmup: Duration::ZERO, duration: Duration::from_secs_f64(args.warmup), max_requests: u64::MAX };
    load::run(addr, pids[0], connections, factory, warm, ticks).await?;
    let window =
        Limits { warmup: Duration::ZERO, duration: Duration::from_secs_f64(args.duration), max_requests: u64::MAX };
    let before = cpu_seconds(pids, ticks)?;
    let m = load::run(addr, pids[0], connections, factory, window, ticks).await?;
    let after = cpu_seconds(pids, ticks)?;
    Ok((m, after.iter().zip(&before).map(|(a, b)| a - b).collect()))
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let bin = match &args.gatehouse_bin {
        Some(p) => p.clone(),
        None => Workspace::locate()?.build_gatehouse(true)?,
    };
    let db = pg::Database::create(&args.postgres, "cluster")?;
    let mut key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let mut env = vec![
        ("GATEHOUSE_DATABASE_URL".to_owned(), db.url.clone()),
        ("GATEHOUSE_MASTER_KEY".to_owned(), base64::engine::general_purpose::STANDARD.encode(key)),
        ("GATEHOUSE_TRUSTED_PROXIES".to_owned(), "127.0.0.1/32".to_owned()),
        ("GATEHOUSE_LOG".to_owned(), "warn".to_owned()),
    ];
    if let Some(r) = &args.redis {
        env.push(("GATEHOUSE_REDIS_URL".to_owned(), r.clone()));
        env.push(("GATEHOUSE_REDIS_PREFIX".to_owned(), format!("bench{}:", std::process::id())));
    }
    let mut nodes = Vec::new();
    for i in 0..3 {
        let mut o = Options::new(&format!("node{i}"), "ES256");
        o.env.clone_from(&env);
        nodes.push(Gatehouse::start(&bin, o).await.with_context(|| format!("starting node {i}"))?);
    }
    let nginx = Nginx::start(&args.nginx, &nodes.iter().map(|n| n.addr).collect::<Vec<_>>()).await?;
    let users = seed_users(&nodes[0], 4).await?;
    let mut c = nodes[0].client().await?;
    let mut cookies = Vec::new();
    for u in &users {
        cookies.push(session_cookie(&mut c, u).await?);
    }
    let oauth = nodes[0].create_oauth_client().await?;
    let me: Vec<Req> = cookies.iter().map(|k| Req::get("/api/v1/me").header("cookie", k)).collect();
    let workloads: Vec<(&str, Factory)> = vec![
        ("GET /api/v1/me (session)", load::fixed(me, 200)),
        ("POST /oauth2/token (client_credentials, ES256)", load::fixed(vec![oauth.token_request()], 200)),
    ];
    let ticks = proc::clock_ticks();
    let machine = proc::Machine::describe();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Three nodes behind nginx vs one node, PostgreSQL{}, {} connections, {} s per row; all on this \
         {}-CPU machine ({}) together with nginx, PostgreSQL and the load generator; load average at the \
         start {}.\n",
        if args.redis.is_some() { " + Redis" } else { "" },
        args.connections,
        args.duration,
        machine.nproc,
        machine.cpu_model,
        machine.loadavg_start
    );
    out.push_str(
        "| workload | setup | req/s | p50 ms | p99 ms | Gatehouse CPU µs/req (all nodes) | per node µs/req | nginx µs/req | errors |\n\
         |---|---|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for (name, factory) in &workloads {
        eprintln!("cluster: {name}");
        let (one, cpu) = measure(nodes[0].addr, &[nodes[0].pid()], args.connections, factory, &args, ticks).await?;
        row(&mut out, name, "1 node, direct", &one, &cpu, None);
        let pids: Vec<u32> = nodes.iter().map(Gatehouse::pid).chain([nginx.worker()]).collect();
        let (three, cpu) = measure(nginx.addr, &pids, args.connections, factory, &args, ticks).await?;
        row(&mut out, name, "3 nodes via nginx", &three, &cpu[..3], Some(cpu[3]));
    }
    println!("{out}");
    if !args.no_save {
        let ws = Workspace::locate()?;
        let date = time::OffsetDateTime::now_utc().date();
        let path = ws.root.join("bench/results").join(format!("{date}-cluster.md"));
        std::fs::write(&path, &out).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    drop(nginx);
    for n in nodes {
        n.stop().await;
    }
    drop(db);
    Ok(())
}

fn row(out: &mut String, name: &str, setup: &str, m: &Measurement, node_cpu: &[f64], nginx_cpu: Option<f64>) {
    let ok = m.ok.max(1) as f64;
    let us = |s: f64| s * 1e6 / ok;
    let per_node: Vec<String> = node_cpu.iter().map(|s| format!("{:.0}", us(*s))).collect();
    let _ = writeln!(
        out,
        "| {name} | {setup} | {:.0} | {:.2} | {:.2} | {:.0} | {} | {} | {} |",
        m.ok as f64 / m.elapsed.as_secs_f64().max(1e-9),
        m.latency.quantile_ns(0.5) as f64 / 1e6,
        m.latency.quantile_ns(0.99) as f64 / 1e6,
        us(node_cpu.iter().sum()),
        per_node.join(" / "),
        nginx_cpu.map_or("–".to_owned(), |s| format!("{:.0}", us(s))),
        m.errors
    );
}
