//! `--postgres URL`: every Gatehouse the run starts gets its own fresh database on that
//! PostgreSQL server (created with `psql`, dropped when the server stops). Gatehouse has no
//! Redis backend yet (sessions, rate limits and replay caches live in the database and in
//! process), so the scaled-out variant is PostgreSQL alone.

use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

static SERVER: OnceLock<String> = OnceLock::new();

/// Makes every later [`crate::gatehouse::Gatehouse::start`] use a database on `url`'s server.
pub fn use_server(url: &str) -> anyhow::Result<()> {
    psql(url, "SELECT 1").with_context(|| format!("--postgres: cannot reach {}", redact(url)))?;
    SERVER.set(url.to_owned()).map_err(|_| anyhow::anyhow!("--postgres given twice"))
}

pub fn server() -> Option<&'static str> {
    SERVER.get().map(String::as_str)
}

/// Whether `url` answers `SELECT 1` (the PostgreSQL side of the write workloads is skipped
/// with a note when it does not).
pub fn reachable(url: &str) -> anyhow::Result<()> {
    psql(url, "SELECT 1").with_context(|| format!("cannot reach {}", redact(url)))
}

/// CPU time of PostgreSQL's processes over a measured window, read from `/proc` at its edges:
/// the backends serving one database (their command line, `postgres: user <database> host
/// state`, names it) and, for comparison, every process called `postgres` (the backends of
/// other databases and the WAL writer, checkpointer and background writer too). A backend that
/// starts inside the window counts from zero; one that exits inside it is missed (the pool
/// keeps its connections, so neither happens in steady state).
pub struct CpuWatch {
    database: String,
    start: std::sync::Mutex<Option<Snapshot>>,
    end: std::sync::Mutex<Option<Snapshot>>,
}

#[derive(Clone, Default)]
struct Snapshot {
    database: std::collections::HashMap<u32, u64>,
    all: std::collections::HashMap<u32, u64>,
}

impl CpuWatch {
    pub fn new(database: &str) -> Self {
        Self { database: database.to_owned(), start: Default::default(), end: Default::default() }
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        let Ok(dir) = std::fs::read_dir("/proc") else { return s };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() != "postgres" {
                continue;
            }
            let Ok((u, st)) = crate::proc::cpu_split(pid) else { continue };
            s.all.insert(pid, u + st);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if is_backend_of(&String::from_utf8_lossy(&cmdline), &self.database) {
                s.database.insert(pid, u + st);
            }
        }
        s
    }

    /// `(database backends, every postgres process)` in clock ticks over the last window.
    pub fn ticks(&self) -> (u64, u64) {
        let lock = |m: &std::sync::Mutex<Option<Snapshot>>| {
            m.lock().map(|g| g.clone().unwrap_or_default()).unwrap_or_default()
        };
        let (a, b) = (lock(&self.start), lock(&self.end));
        let delta = |x: &std::collections::HashMap<u32, u64>, y: &std::collections::HashMap<u32, u64>| {
            y.iter().map(|(pid, t)| t.saturating_sub(x.get(pid).copied().unwrap_or(0))).sum()
        };
        (delta(&a.database, &b.database), delta(&a.all, &b.all))
    }
}

impl crate::load::Edges for CpuWatch {
    fn at_start(&self) {
        let s = self.snapshot();
        if let Ok(mut g) = self.start.lock() {
            *g = Some(s);
        }
    }
    fn at_end(&self) {
        let s = self.snapshot();
        if let Ok(mut g) = self.end.lock() {
            *g = Some(s);
        }
    }
}

/// A backend's title is `postgres: <user> <database> <host> <state>` (the cluster name may
/// come first: `postgres: 15/main: <user> <database> …`).
fn is_backend_of(cmdline: &str, database: &str) -> bool {
    let title = cmdline.trim_end_matches('\0');
    title.starts_with("postgres:") && title.split_whitespace().any(|w| w == database)
}

/// A scratch database, dropped with everything in it when this value is.
pub struct Database {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl Database {
    pub fn create(admin_url: &str, label: &str) -> anyhow::Result<Self> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let label: String = label.chars().filter(char::is_ascii_alphanumeric).collect();
        // Only [a-z0-9_]: safe to put into the statement as an identifier.
        let name = format!("gatehouse_bench_{}_{}_{n}", std::process::id(), label.to_ascii_lowercase());
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        Ok(Self { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name)?, name })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(e) = psql(&self.admin_url, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the scratch database {}: {e:#}", self.name);
        }
    }
}

fn psql(url: &str, statement: &str) -> anyhow::Result<()> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-X", "-c", statement])
        .output()
        .context("running psql (install the PostgreSQL client for --postgres)")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// `url` with its database path replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let (scheme, rest) = url.split_once("://").context("--postgres wants postgres://user@host:port/database")?;
    let (rest, query) = rest.split_once('?').map_or((rest, None), |(r, q)| (r, Some(q)));
    let authority = rest.split('/').next().unwrap_or(rest);
    Ok(match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    })
}

/// The URL without a password, for messages.
pub fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (userinfo, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_path_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").ok().as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/x")
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y").ok().as_deref(),
            Some("postgres://u:p@h/y?sslmode=disable")
        );
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
    }

    #[test]
    fn backends_are_found_by_their_database() {
        let db = "gatehouse_bench_1_pgside_0";
        assert!(is_backend_of("postgres: 15/main: postgres gatehouse_bench_1_pgside_0 127.0.0.1(5432) idle", db));
        assert!(is_backend_of("postgres: postgres gatehouse_bench_1_pgside_0 [local] idle\0", db));
        assert!(!is_backend_of("postgres: 15/main: walwriter ", db));
        assert!(!is_backend_of("postgres: postgres gatehouse_bench_1_pgside_01 127.0.0.1(1) idle", db));
        assert!(!is_backend_of("/usr/bin/grep gatehouse_bench_1_pgside_0", db));
    }
}
