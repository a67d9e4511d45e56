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

/// A scratch database, dropped with everything in it when this value is.
pub struct Database {
    admin_url: String,
    name: String,
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
}
