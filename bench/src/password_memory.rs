//! Memory after password work (issue #19, DESIGN.md §8): a fresh Gatehouse with the default
//! Argon2id parameters, its idle RSS, then sustained sign-in and registration load (every other
//! request a registration, whose hash has no stored buffer to reuse), RSS sampled during it and
//! at its end, then every 5 s while the server rests. Targets: peak ≤ idle + pool size × Argon2
//! memory + 10 MB, and back near idle (≤ idle + 10 MB) a minute after the load stops.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gatehouse_core::HashParams;
use serde::Serialize;

use crate::gatehouse::{self, Gatehouse, Options, User};
use crate::load::{self, Factory, Limits, Req, Resp, Scenario};
use crate::report::{Check, check};

pub const CONNECTIONS: usize = 16;
/// 10 MB (10⁷ bytes) in MiB, the slack both targets allow.
const SLACK_MIB: f64 = 10.0 / 1.048_576;

/// How long each phase lasts: the full run and `--quick`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Phases {
    pub load_s: f64,
    pub rest_s: f64,
    pub sample_every_s: f64,
}

impl Phases {
    pub const FULL: Self = Self { load_s: 20.0, rest_s: 60.0, sample_every_s: 5.0 };
    pub const QUICK: Self = Self { load_s: 4.0, rest_s: 10.0, sample_every_s: 5.0 };
}

#[derive(Debug, Clone, Serialize)]
pub struct PasswordMemory {
    pub params: HashParams,
    pub pool_size: usize,
    /// Where the pool size came from.
    pub pool_size_source: String,
    pub phases: Phases,
    pub connections: usize,
    /// Before any request (0.3 s after ready).
    pub idle_rss_mib: f64,
    /// After registering the accounts that sign in (one hash each).
    pub seeded_rss_mib: f64,
    pub logins: u64,
    pub registrations: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The highest RSS sampled every 100 ms during the load.
    pub peak_rss_mib: f64,
    /// `VmHWM` at the end of the load (the kernel's own peak, start-up included).
    pub hwm_mib: f64,
    pub end_rss_mib: f64,
    /// `(seconds after the load stopped, RSS MiB)`.
    pub rest: Vec<(f64, f64)>,
}

/// Every other request a registration of a new account; the others sign in as this
/// connection's account (right password: 200).
struct SignInAndRegister {
    user: User,
    conn: usize,
    n: u64,
    logins: Arc<AtomicU64>,
    registrations: Arc<AtomicU64>,
}

impl Scenario for SignInAndRegister {
    fn request(&mut self) -> Req {
        self.n += 1;
        if self.n.is_multiple_of(2) {
            let email = format!("load-{}-{}@example.com", self.conn, self.n);
            Req::post_json(
                "/api/v1/auth/register",
                &serde_json::json!({ "email": email, "password": self.user.password, "display_name": "Load" }),
            )
        } else {
            self.user.login_request()
        }
    }
    fn response(&mut self, resp: &Resp) -> bool {
        let (expect, counter) = if self.n.is_multiple_of(2) { (202, &self.registrations) } else { (200, &self.logins) };
        let ok = resp.status.as_u16() == expect;
        if ok {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

pub async fn run(bin: &Path, phases: Phases, ticks: u64) -> anyhow::Result<PasswordMemory> {
    let g = Gatehouse::start(bin, Options::new("pwmem", "ES256").with_roomy_hash_queue()).await?;
    let idle = g.idle;
    let (pool_size, pool_size_source) = pool_size(&g).await;
    let users = gatehouse::seed_users(&g, CONNECTIONS).await?;
    let seeded = g.sample()?;
    let (logins, registrations) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (l, r) = (logins.clone(), registrations.clone());
    let factory: Factory = Arc::new(move |i| {
        Box::new(SignInAndRegister {
            user: users[i % users.len()].clone(),
            conn: i,
            n: 0,
            logins: l.clone(),
            registrations: r.clone(),
        }) as Box<dyn Scenario>
    });
    let stop = Arc::new(AtomicBool::new(false));
    let (pid, flag) = (g.pid(), stop.clone());
    let sampler = tokio::spawn(async move {
        let mut peak = 0u64;
        while !flag.load(Ordering::Relaxed) {
            peak = peak.max(crate::proc::sample(Some(pid)).map_or(0, |s| s.rss_kib));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let limits =
        Limits { warmup: Duration::ZERO, duration: Duration::from_secs_f64(phases.load_s), max_requests: u64::MAX };
    eprintln!("password memory: {} s of sign-in + registration at {CONNECTIONS} connections", phases.load_s);
    let m = load::run(g.addr, pid, CONNECTIONS, &factory, limits, ticks).await;
    stop.store(true, Ordering::Relaxed);
    let peak_kib = sampler.await.unwrap_or(0);
    let m = m?;
    let end = g.sample()?;
    let mut rest = vec![(0.0, mib(end.rss_kib))];
    let stopped = Instant::now();
    let every = Duration::from_secs_f64(phases.sample_every_s);
    let mut next = every;
    while next.as_secs_f64() <= phases.rest_s + 1e-9 {
        tokio::time::sleep(next.saturating_sub(stopped.elapsed())).await;
        rest.push((next.as_secs_f64(), mib(g.sample()?.rss_kib)));
        next += every;
    }
    let out = PasswordMemory {
        params: HashParams::default(),
        pool_size,
        pool_size_source,
        phases,
        connections: CONNECTIONS,
        idle_rss_mib: mib(idle.rss_kib),
        seeded_rss_mib: mib(seeded.rss_kib),
        logins: logins.load(Ordering::Relaxed),
        registrations: registrations.load(Ordering::Relaxed),
        errors: m.errors,
        first_error: m.first_error.clone(),
        peak_rss_mib: mib(peak_kib.max(end.rss_kib)),
        hwm_mib: mib(end.hwm_kib),
        end_rss_mib: mib(end.rss_kib),
        rest,
    };
    eprintln!(
        "  idle {:.1} MiB, peak {:.1} MiB, end {:.1} MiB, rest: {}",
        out.idle_rss_mib,
        out.peak_rss_mib,
        out.end_rss_mib,
        out.rest.iter().map(|(t, r)| format!("{t:.0}s {r:.1}")).collect::<Vec<_>>().join(", ")
    );
    g.stop().await;
    Ok(out)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `gatehouse_password_hash_pool_size` from `/metrics`, else the server's default (one per CPU,
/// `PasswordSettings::pool_size` in crates/gatehouse/src/config.rs).
pub async fn pool_size(g: &Gatehouse) -> (usize, String) {
    match g.metric("gatehouse_password_hash_pool_size").await {
        Some(n) if n >= 1.0 => (n as usize, "/metrics gatehouse_password_hash_pool_size".into()),
        _ => (
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            "not in /metrics: the default, one per CPU".into(),
        ),
    }
}

impl PasswordMemory {
    pub fn argon2_mib(&self) -> f64 {
        f64::from(self.params.memory_kib) / 1024.0
    }

    pub fn checks(&self) -> Vec<Check> {
        let limit = self.idle_rss_mib + self.pool_size as f64 * self.argon2_mib() + SLACK_MIB;
        let (after_s, after) = self.rest.last().copied().unwrap_or((0.0, self.end_rss_mib));
        vec![
            check(
                &format!(
                    "RSS peak during {:.0} s of sign-in + registration ({} conns)",
                    self.phases.load_s, self.connections
                ),
                "≤ idle + pool × Argon2 memory + 10 MB",
                format!(
                    "{:.1} MiB; limit {:.1} + {} × {:.0} + {SLACK_MIB:.1} = {limit:.1} MiB",
                    self.peak_rss_mib,
                    self.idle_rss_mib,
                    self.pool_size,
                    self.argon2_mib()
                ),
                self.peak_rss_mib <= limit,
            ),
            check(
                &format!("RSS {after_s:.0} s after the password load stopped"),
                "≤ idle + 10 MB (back near idle, after 60 s)",
                format!("{after:.1} MiB; idle {:.1} MiB + {SLACK_MIB:.1}", self.idle_rss_mib),
                after <= self.idle_rss_mib + SLACK_MIB,
            ),
        ]
    }

    pub fn markdown(&self, s: &mut String) {
        use std::fmt::Write as _;
        let p = &self.params;
        let _ = writeln!(
            s,
            "### Memory after password load\n\nA fresh server, default Argon2id (m={} KiB, t={}, p={}), hashing pool \
             of {} ({}). {} connections for {:.0} s, every other request a registration (202) and the others a \
             sign-in (200): {} sign-ins, {} registrations, {} errors{}.\n",
            p.memory_kib,
            p.iterations,
            p.parallelism,
            self.pool_size,
            self.pool_size_source,
            self.connections,
            self.phases.load_s,
            self.logins,
            self.registrations,
            self.errors,
            self.first_error.as_deref().map(|e| format!(" (first: {e})")).unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "| Idle | after seeding {} accounts | peak during load (sampled / VmHWM) | end of load |\n|---:|---:|---:|---:|\n\
             | {:.1} MiB | {:.1} MiB | {:.1} / {:.1} MiB | {:.1} MiB |\n",
            self.connections, self.idle_rss_mib, self.seeded_rss_mib, self.peak_rss_mib, self.hwm_mib, self.end_rss_mib
        );
        let head: Vec<String> = self.rest.iter().map(|(t, _)| format!("{t:.0} s")).collect();
        let vals: Vec<String> = self.rest.iter().map(|(_, r)| format!("{r:.1}")).collect();
        let _ = writeln!(
            s,
            "RSS (MiB) after the load stopped:\n\n| {} |\n|{}\n| {} |\n",
            head.join(" | "),
            "---:|".repeat(head.len()),
            vals.join(" | ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(peak: f64, rest: Vec<(f64, f64)>) -> PasswordMemory {
        PasswordMemory {
            params: HashParams::default(),
            pool_size: 2,
            pool_size_source: "test".into(),
            phases: Phases::FULL,
            connections: CONNECTIONS,
            idle_rss_mib: 20.0,
            seeded_rss_mib: 40.0,
            logins: 1,
            registrations: 1,
            errors: 0,
            first_error: None,
            peak_rss_mib: peak,
            hwm_mib: peak,
            end_rss_mib: peak,
            rest,
        }
    }

    #[test]
    fn limits_are_idle_plus_pool_times_argon2_memory_plus_10_mb() {
        // 20 + 2 × 19 + 9.54 = 67.5 MiB
        let ok = result(67.0, vec![(0.0, 67.0), (60.0, 29.0)]).checks();
        assert_eq!(ok.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(), ["met", "met"]);
        let bad = result(68.0, vec![(0.0, 68.0), (60.0, 30.0)]).checks();
        assert_eq!(bad.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(), ["missed", "missed"]);
        assert!(bad[1].target.contains("60 s after"));
    }

    #[test]
    fn the_rest_curve_is_a_well_formed_table() {
        let mut s = String::new();
        result(50.0, vec![(0.0, 50.0), (5.0, 40.0)]).markdown(&mut s);
        assert!(s.contains("| 0 s | 5 s |\n|---:|---:|\n| 50.0 | 40.0 |\n"), "{s}");
    }
}
