//! Processes and directories the harness creates, and their clean-up: every child is killed when
//! its guard drops (normal end, error, panic, or Ctrl-C, which drops the running future), and
//! every scratch directory is removed.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A directory under the system temp dir, removed with everything in it on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gatehouse-bench-{}-{label}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Total size of the files directly in `path` (a SQLite database with its WAL).
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process that is killed (SIGKILL) when dropped; [`Proc::stop`] also waits for it.
pub struct Proc {
    child: Child,
    pid: u32,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log`, killed on drop.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> anyhow::Result<Self> {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("{name} exited at once"))?;
        Ok(Self { child, pid, name: name.into(), log: log.into() })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `Some(status)` when the process has already exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of the process's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Kills the process and waits until it is gone.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// A free loopback port (bound and released; another process could take it in between, which
/// start-up detects as an early exit).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The status code of `GET path`, on a fresh connection.
pub async fn get_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect(addr).await?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    let mut buf = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        let read = s.read(&mut buf[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
    }
    parse_status_line(&buf[..n]).ok_or_else(|| anyhow::anyhow!("no HTTP status line"))
}

fn parse_status_line(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ").or_else(|| text.strip_prefix("HTTP/1.0 "))?.get(..3)?.parse().ok()
}

/// Polls `GET path` every millisecond until it answers 200; returns the time since `since`.
/// Fails when the process exits or `timeout` passes.
pub async fn wait_ready(
    proc: &mut Proc,
    addr: SocketAddr,
    path: &str,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if let Ok(200) = get_status(addr, path).await {
            return Ok(since.elapsed());
        }
        if let Some(status) = proc.exited() {
            bail!("{} exited ({status}) before it was ready; its log ends:\n{}", proc.name, proc.log_tail());
        }
        if since.elapsed() > timeout {
            bail!("{} not ready after {timeout:?}; its log ends:\n{}", proc.name, proc.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Service Unavailable"), Some(503));
        assert_eq!(parse_status_line(b"HTTP/1.1 2"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH_9"), None);
    }

    #[test]
    fn temp_dir_is_removed_on_drop() {
        let dir = TempDir::new("test").unwrap();
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("f"), b"12345").unwrap();
        assert_eq!(dir_size(dir.path()), 5);
        drop(dir);
        assert!(!path.exists());
    }
}
