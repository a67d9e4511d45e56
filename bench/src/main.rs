//! `gatehouse-bench`: Gatehouse against the physical limit and against a peer server, in one run.
//!
//! `cargo run --release -p gatehouse-bench -- all` builds the release server, starts it on
//! loopback (fresh SQLite, generated master key) once per signing algorithm, starts a trivial
//! axum server (the HTTP floor) and Node's `oidc-provider` (the peer), drives load, measures
//! server CPU per request and memory from `/proc`, and writes `bench/results/<date>.json` and
//! `BENCHMARKS.md`. Every process it starts is killed when the run ends, fails or is interrupted.
#![allow(clippy::print_stdout)] // a benchmark program prints its report

mod child;
mod cluster;
mod code_flow;
mod decisions;
mod floor;
mod gatehouse;
mod hit;
mod load;
mod memory;
mod micro;
mod overload;
mod password_memory;
mod peer;
mod pg;
mod pinned;
mod proc;
mod report;
mod stats;
mod workloads;
mod writes;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gatehouse_core::HashParams;
use gatehouse_core::keys::Algorithm;

use crate::gatehouse::{Gatehouse, Options, Workspace};
use crate::load::Limits;
use crate::report::{Memory, Micro, PeerInfo, Report, RunInfo, Startup};
use crate::workloads::Servers;

#[derive(Parser)]
#[command(name = "gatehouse-bench", about = "Benchmarks Gatehouse against the physical limit and a peer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything: micro-benchmarks, HTTP workloads, memory, start-up; writes the report.
    All(AllArgs),
    /// Only the in-process micro-benchmarks (Argon2id, sign, verify); prints, writes nothing.
    Micro,
    /// Load one route of a running server and print req/s, latency and its CPU per request
    /// (for profiling one workload).
    Hit(hit::HitArgs),
    /// Only the decision benchmarks: RBAC and Cedar decisions in-process, then
    /// `POST /access/v1/evaluation` over HTTP; prints, writes nothing.
    Decisions(DecisionArgs),
    /// Only the overload run (open-loop sign-ins at `--factor` × the hashing pool's capacity,
    /// cheap routes beside them); prints, writes nothing.
    Overload {
        /// One Argon2id hash's CPU time with every CPU hashing, in ms (`micro` prints it).
        #[arg(long, default_value_t = 21.5)]
        hash_ms: f64,
        #[arg(long, default_value_t = 3.0)]
        factor: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Benchmark this gatehouse executable instead of building target/release/gatehouse.
        #[arg(long, value_name = "PATH")]
        gatehouse_bin: Option<std::path::PathBuf>,
    },
    /// Only the memory run after password load (20 s of sign-ins and registrations, 60 s of
    /// rest); prints, writes nothing.
    PasswordMemory {
        /// Benchmark this gatehouse executable instead of building target/release/gatehouse.
        #[arg(long, value_name = "PATH")]
        gatehouse_bin: Option<std::path::PathBuf>,
    },
    /// Three nodes on one PostgreSQL (optionally with Redis) behind nginx, against one node:
    /// req/s and CPU per request per node; prints and writes bench/results/<date>-cluster.md.
    Cluster(cluster::ClusterArgs),
    /// Internal: the trivial axum server used as the HTTP floor.
    #[command(hide = true)]
    FloorServer {
        #[arg(long)]
        port: u16,
    },
}

#[derive(Args, Clone)]
struct DecisionArgs {
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Measured seconds per workload.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Use this gatehouse executable instead of building target/release/gatehouse.
    #[arg(long, value_name = "PATH")]
    gatehouse_bin: Option<std::path::PathBuf>,
}

#[derive(Args, Clone)]
struct AllArgs {
    /// Measured seconds per workload and connection count.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds before each measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Connection counts to run every workload at.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 64])]
    connections: Vec<usize>,
    /// Turns per workload when workloads are compared (A B A B …).
    #[arg(long, default_value_t = 2)]
    turns: usize,
    /// Live-session milestones for the memory run (0 skips it), e.g. 10000,100000.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000])]
    sessions: Vec<u64>,
    /// Upper bound of requests in one measured window.
    #[arg(long, default_value_t = 5_000_000)]
    max_requests: u64,
    /// Skip the oidc-provider peer.
    #[arg(long)]
    no_peer: bool,
    /// Use target/release/gatehouse as it is instead of running cargo build first.
    #[arg(long)]
    no_build: bool,
    /// Benchmark this gatehouse executable instead of building target/release/gatehouse.
    #[arg(long, value_name = "PATH", conflicts_with = "no_build")]
    gatehouse_bin: Option<std::path::PathBuf>,
    /// Print the report but write neither BENCHMARKS.md nor the JSON file.
    #[arg(long)]
    no_save: bool,
    /// A short smoke run: 1 s per workload, 16 connections, 1,000 sessions; implies --no-save.
    #[arg(long)]
    quick: bool,
    /// Run every Gatehouse on PostgreSQL instead of SQLite: each server gets a fresh database on
    /// this server (e.g. postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards. The
    /// report goes to bench/results/<date>-postgres.{json,md}; BENCHMARKS.md stays the SQLite run.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// The PostgreSQL server for the write workloads' PostgreSQL side (refresh rotation and code
    /// redemption on a Gatehouse with a fresh database there, PostgreSQL's CPU read apart);
    /// skipped with a note when it does not answer.
    #[arg(long, value_name = "URL", default_value = DEFAULT_POSTGRES)]
    postgres_side: String,
    /// Skip the PostgreSQL side of the write workloads.
    #[arg(long)]
    no_postgres_side: bool,
    /// Skip the issue #19 runs that take a server of their own: memory after password load,
    /// overload, and the pinned tail-latency run.
    #[arg(long)]
    no_extra: bool,
}

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::FloorServer { port } => floor::serve(port),
        Command::Micro => run_async(async {
            let m = micro_benchmarks(std::thread::available_parallelism().map_or(1, |n| n.get()))?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(())
        }),
        Command::All(args) => run_async(all(args)),
        Command::Hit(args) => run_async(hit::run(args)),
        Command::Cluster(args) => run_async(cluster::run(args)),
        Command::PasswordMemory { gatehouse_bin } => run_async(async move {
            let bin = match gatehouse_bin {
                Some(path) => path,
                None => Workspace::locate()?.build_gatehouse(true)?,
            };
            let result = password_memory::run(&bin, password_memory::Phases::FULL, proc::clock_ticks()).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }),
        Command::Overload { hash_ms, factor, seconds, gatehouse_bin } => run_async(async move {
            let bin = match gatehouse_bin {
                Some(path) => path,
                None => Workspace::locate()?.build_gatehouse(true)?,
            };
            let result = overload::run(&bin, hash_ms, factor, seconds).await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }),
        Command::Decisions(args) => run_async(async move {
            let ws = Workspace::locate()?;
            let bin = match &args.gatehouse_bin {
                Some(path) => path.clone(),
                None => ws.build_gatehouse(true)?,
            };
            let limits = Limits {
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs_f64(args.duration),
                max_requests: 5_000_000,
            };
            let (micro, http) = decisions::run(&bin, args.connections, limits, proc::clock_ticks()).await?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "micro": micro, "http": http }))?);
            Ok(())
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// One runtime thread: the load generator takes as little CPU from the servers as it can.
/// Ctrl-C drops the running future, and with it every child process guard and scratch dir.
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async {
        tokio::select! {
            r = fut => r,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping every process this run started");
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    })
}

fn micro_benchmarks(threads: usize) -> anyhow::Result<Micro> {
    eprintln!("micro-benchmarks: Argon2id at the server's parameters");
    let argon2 = micro::argon2(HashParams::default(), threads)?;
    eprintln!(
        "  {:.2} ms per hash, {:.0}/s on {threads} threads",
        argon2.single.us_per_op / 1000.0,
        argon2.all_cpus_per_s
    );
    let mut signatures = Vec::new();
    for alg in Algorithm::ALL {
        let s = micro::signatures(alg)?;
        eprintln!(
            "  {alg}: sign raw {:.0}/s, ours {:.0}/s ({:.2}); verify raw {:.0}/s, guard {:.0}/s ({:.2})",
            s.raw_sign.ops_per_s,
            s.ours_sign.ops_per_s,
            s.sign_ratio,
            s.raw_verify.ops_per_s,
            s.ours_verify.ops_per_s,
            s.verify_ratio
        );
        signatures.push(s);
    }
    eprintln!("micro-benchmarks: RBAC and Cedar decisions");
    let decisions = decisions::micro()?;
    Ok(Micro { argon2, signatures, decisions: Some(decisions) })
}

fn git(root: &Path, args: &[&str]) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

async fn all(mut args: AllArgs) -> anyhow::Result<()> {
    if args.quick {
        (args.duration, args.warmup, args.connections, args.sessions) = (1.0, 0.3, vec![16], vec![1_000]);
        args.no_save = true;
    }
    if let Some(url) = &args.postgres {
        pg::use_server(url)?;
    }
    let backend = if args.postgres.is_some() { "postgres" } else { "sqlite" };
    let started = Instant::now();
    let started_at = time::OffsetDateTime::now_utc();
    let mut machine = proc::Machine::describe();
    let ticks = proc::clock_ticks();
    let ws = Workspace::locate()?;
    let bin = match &args.gatehouse_bin {
        Some(path) => path.canonicalize().with_context(|| format!("--gatehouse-bin {}", path.display()))?,
        None => ws.build_gatehouse(!args.no_build)?,
    };
    let micro = micro_benchmarks(machine.nproc)?;

    eprintln!("starting servers");
    let floor = floor::Floor::start().await?;
    let mut gatehouses = Vec::new();
    let mut fresh_ms = Vec::new();
    for alg in ["ES256", "EdDSA", "RS256"] {
        let g = Gatehouse::start(&bin, Options::new(&alg.to_lowercase(), alg).with_roomy_hash_queue()).await?;
        fresh_ms.push(g.startup.as_secs_f64() * 1e3);
        gatehouses.push(g);
    }
    let idle = gatehouses[0].idle;
    let mut warm_ms = Vec::new();
    for _ in 0..3 {
        warm_ms.push(gatehouses[0].restart().await?.as_secs_f64() * 1e3);
    }
    let warm_idle = gatehouses[0].idle;
    let (peer, peer_info) = start_peer(&ws, args.no_peer).await;

    let max_conns = args.connections.iter().copied().max().unwrap_or(16);
    let mut seeded = Vec::new();
    for g in gatehouses {
        let users = gatehouse::seed_users(&g, max_conns).await?;
        let client = match g.create_oauth_client().await {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("client_credentials not available ({}): {e:#}", g.opts.alg);
                None
            }
        };
        let rp = match g.create_rp_client().await {
            Ok(c) => Some(c),
            Err(e) => {
                eprintln!("authorization-code client not available ({}): {e:#}", g.opts.alg);
                None
            }
        };
        seeded.push(workloads::Instance { g, users, client, rp });
    }
    let servers = Servers { gatehouse: seeded, floor, peer };
    let limits = Limits {
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.duration),
        max_requests: args.max_requests,
    };
    let mut http = Vec::new();
    for &conns in &args.connections {
        eprintln!("HTTP workloads at {conns} connections");
        let steps = workloads::plan(&servers, conns).await?;
        let results = workloads::run(&steps, conns, limits, args.turns, ticks).await?;
        // Codes live 60 s, so they are minted just before their own window, after the plan.
        let i = &servers.gatehouse[0];
        if let Some(rp) = &i.rp {
            let hint = results.iter().find(|r| r.id == "refresh.ES256").map_or(0.0, |r| r.rps);
            http.push(
                writes::code_redemption(&i.g, rp, &i.users, "code.ES256", conns, limits, ticks, hint, None).await?,
            );
        }
        http.extend(results);
    }
    let after = servers.gatehouse[0].g.sample()?;
    http.extend(decisions::http(&bin, &args.connections, limits, args.turns, ticks).await?);
    let startup = Startup {
        fresh_ms,
        warm_ms,
        floor_ms: servers.floor.startup.as_secs_f64() * 1e3,
        peer_ms: servers.peer.as_ref().map(|p| p.startup.as_secs_f64() * 1e3),
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut memory = Memory {
        idle_rss_mib: mib(idle.rss_kib),
        idle_peak_rss_mib: mib(idle.hwm_kib),
        warm_idle_rss_mib: mib(warm_idle.rss_kib),
        floor_idle_rss_mib: mib(servers.floor.idle.rss_kib),
        peer_idle_rss_mib: servers.peer.as_ref().map(|p| mib(p.idle.rss_kib)),
        after_load_rss_mib: mib(after.rss_kib),
        after_load_peak_rss_mib: mib(after.hwm_kib),
        sessions: None,
    };
    stop(servers).await;

    let pg_side = match (&args.postgres, args.no_postgres_side) {
        (None, false) => Some(writes::pg_side(&bin, &args.postgres_side, &args.connections, limits, ticks).await),
        _ => None,
    };
    let (mut password_memory, mut overload, mut pinned) = (None, None, None);
    if !args.no_extra {
        pinned = Some(pinned::run(&bin, max_conns.max(64), limits, ticks).await);
        let phases = if args.quick { password_memory::Phases::QUICK } else { password_memory::Phases::FULL };
        password_memory = Some(password_memory::run(&bin, phases, ticks).await?);
        let seconds = if args.quick { 3.0 } else { 10.0 };
        overload = Some(overload::run(&bin, micro.argon2.all_cpus_us_per_op / 1e3, 3.0, seconds).await?);
    }

    let milestones: Vec<u64> = args.sessions.iter().copied().filter(|n| *n > 0).collect();
    if !milestones.is_empty() {
        eprintln!("live sessions (cheap Argon2id parameters for this server only)");
        memory.sessions = Some(memory::sessions(&bin, &milestones, ticks).await?);
    }

    machine.loadavg_end = proc::loadavg();
    let date = started_at.date().to_string();
    let mut report = Report {
        run: RunInfo {
            date: date.clone(),
            started_at: format!("{} {:02}:{:02} UTC", date, started_at.hour(), started_at.minute()),
            wall_seconds: started.elapsed().as_secs_f64(),
            command: match &args.postgres {
                Some(url) => format!("cargo run --release -p gatehouse-bench -- all --postgres {}", pg::redact(url)),
                None => "cargo run --release -p gatehouse-bench -- all".into(),
            },
            // A binary given with --gatehouse-bin may have been built from anything.
            gatehouse_commit: if args.gatehouse_bin.is_some() {
                "unknown (--gatehouse-bin)".into()
            } else {
                git(&ws.root, &["rev-parse", "--short", "HEAD"])
            },
            gatehouse_dirty: args.gatehouse_bin.is_none()
                && !git(&ws.root, &["status", "--porcelain", "--untracked-files=no"]).is_empty(),
            gatehouse_binary: describe_binary(&bin),
            warmup_s: args.warmup,
            duration_s: args.duration,
            connections: args.connections.clone(),
            turns: args.turns,
            backend: backend.into(),
        },
        machine,
        micro,
        http,
        startup,
        memory,
        peer: peer_info,
        checks: Vec::new(),
        not_available: Vec::new(),
        pg_side,
        password_memory,
        overload,
        pinned,
    };
    report.compute_checks();
    let md = report::markdown(&report);
    println!("{md}");
    if !args.no_save {
        let dir = ws.root.join("bench").join("results");
        std::fs::create_dir_all(&dir)?;
        let suffix = if args.postgres.is_some() { "-postgres" } else { "" };
        let json_path = dir.join(format!("{date}{suffix}.json"));
        std::fs::write(&json_path, serde_json::to_string_pretty(&report)? + "\n")?;
        let md_path = if args.postgres.is_some() {
            dir.join(format!("{date}{suffix}.md"))
        } else {
            ws.root.join("BENCHMARKS.md")
        };
        std::fs::write(&md_path, &md)?;
        eprintln!("wrote {} and {}", json_path.display(), md_path.display());
    }
    Ok(())
}

/// `path (built <UTC time>)` from the file's modification time.
fn describe_binary(bin: &Path) -> String {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .ok()
        .map(time::OffsetDateTime::from)
        .map(|t| format!(" (built {} {:02}:{:02} UTC)", t.date(), t.hour(), t.minute()))
        .unwrap_or_default();
    format!("{}{built}", bin.display())
}

async fn start_peer(ws: &Workspace, skip: bool) -> (Option<peer::Peer>, PeerInfo) {
    let mut info = PeerInfo { available: false, package: String::new(), node: String::new(), note: None };
    if skip {
        info.note = Some("skipped with --no-peer".into());
        return (None, info);
    }
    match peer::Peer::start(&ws.target_dir).await {
        Ok(p) => {
            info.available = true;
            info.package.clone_from(&p.package_version);
            info.node.clone_from(&p.node_version);
            (Some(p), info)
        }
        Err(e) => {
            eprintln!("peer not available: {e:#}");
            info.note = Some(format!("{e:#}"));
            (None, info)
        }
    }
}

async fn stop(s: Servers) {
    if let Some(p) = s.peer {
        p.stop().await;
    }
    s.floor.stop().await;
    for i in s.gatehouse {
        i.g.stop().await;
    }
}
