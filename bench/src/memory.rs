//! Memory with many live sessions: a separate server whose Argon2id parameters are made cheap
//! through `GATEHOUSE_PASSWORD__*` for this run only (so 100,000 logins take seconds, not
//! half an hour), signed into again and again without a cookie, so that every login opens a new
//! session; resident memory and database size are read at each milestone.

use std::path::Path;
use std::time::Duration;

use gatehouse_core::HashParams;
use serde::Serialize;

use crate::gatehouse::{self, Gatehouse, Options, User};
use crate::load::{self, Limits};
use crate::micro;

/// Cheap enough for 100,000 logins; valid for Argon2 (m ≥ 8·p).
pub const CHEAP: HashParams = HashParams { memory_kib: 256, iterations: 1, parallelism: 1 };
const CONNECTIONS: usize = 16;

#[derive(Debug, Clone, Serialize)]
pub struct Milestone {
    pub sessions: u64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    /// Resident memory gained since before the first login, per session.
    pub rss_bytes_per_session: f64,
    pub db_bytes_per_session: f64,
    pub login_rps: f64,
    pub login_server_cpu_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionsResult {
    pub argon2_params: HashParams,
    /// Raw Argon2id at these cheap parameters, single thread: the part of a login's CPU that is
    /// the hash; the rest of `login_server_cpu_us` is the login path itself.
    pub raw_argon2_us: f64,
    pub rss_before_mib: f64,
    pub milestones: Vec<Milestone>,
}

pub async fn sessions(bin: &Path, targets: &[u64], ticks: u64) -> anyhow::Result<SessionsResult> {
    let p = CHEAP;
    let raw = micro::argon2_single(p)?;
    let mut opts = Options::new("sessions", "ES256").with_roomy_hash_queue();
    opts.env = vec![
        ("GATEHOUSE_PASSWORD__MEMORY_KIB".into(), p.memory_kib.to_string()),
        ("GATEHOUSE_PASSWORD__ITERATIONS".into(), p.iterations.to_string()),
        ("GATEHOUSE_PASSWORD__PARALLELISM".into(), p.parallelism.to_string()),
    ];
    let g = Gatehouse::start(bin, opts).await?;
    let users = gatehouse::seed_users(&g, CONNECTIONS).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = g.sample()?;
    let db_before = g.data_bytes();
    let factory = load::fixed(users.iter().map(User::login_request).collect(), 200);
    let mut done = 0u64;
    let mut milestones = Vec::new();
    for &target in targets {
        if target <= done {
            continue;
        }
        let limits = Limits { warmup: Duration::ZERO, duration: Duration::from_secs(900), max_requests: target - done };
        let m = load::run(g.addr, g.pid(), CONNECTIONS, &factory, limits, ticks).await?;
        done += m.ok;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = g.sample()?;
        let per = |bytes: f64| bytes / done.max(1) as f64;
        let ms = Milestone {
            sessions: done,
            rss_mib: now.rss_kib as f64 / 1024.0,
            peak_rss_mib: now.hwm_kib as f64 / 1024.0,
            rss_bytes_per_session: per((now.rss_kib as f64 - before.rss_kib as f64) * 1024.0),
            db_bytes_per_session: per(g.data_bytes() as f64 - db_before as f64),
            login_rps: m.latency.count() as f64 / m.elapsed.as_secs_f64().max(1e-9),
            login_server_cpu_us: m.server_cpu_s * 1e6 / m.latency.count().max(1) as f64,
        };
        eprintln!(
            "  {:>7} live sessions: RSS {:.1} MiB ({:.0} B/session), database {:.0} B/session, {:.0} logins/s",
            ms.sessions, ms.rss_mib, ms.rss_bytes_per_session, ms.db_bytes_per_session, ms.login_rps
        );
        milestones.push(ms);
    }
    g.stop().await;
    Ok(SessionsResult {
        argon2_params: p,
        raw_argon2_us: raw.us_per_op,
        rss_before_mib: before.rss_kib as f64 / 1024.0,
        milestones,
    })
}
