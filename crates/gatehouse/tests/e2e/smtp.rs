//! A real SMTP server for the mail tests: `smtp_sink.py` (Python `aiosmtpd`) on loopback,
//! writing what it receives as `.eml` files that `mailbox` reads. Skipped with a note when
//! python3 cannot import aiosmtpd; with `GATEHOUSE_REQUIRE_SERVICES=1` that fails instead.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::mailbox::ReceivedMail;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Recipients starting with this are refused with `550 5.1.1`.
pub const REJECT_PREFIX: &str = "reject";

pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// Whether aiosmtpd is importable; `false` (with a note) when the SMTP tests are skipped.
pub fn sink_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "GATEHOUSE_REQUIRE_SERVICES=1 but python3 cannot import aiosmtpd (pip install aiosmtpd)"
        );
        eprintln!("skipped: python3 cannot import aiosmtpd (pip install aiosmtpd)");
    }
    ok
}

impl SmtpSink {
    /// Starts the sink on `port` (any free port when `None`); `None` when skipped.
    pub async fn start(port: Option<u16>) -> Option<Self> {
        if !sink_available() {
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("gatehouse-smtp-sink-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("sink dir");
        let mut sink = Self { port: port.unwrap_or(0), dir, child: None };
        sink.launch().await;
        Some(sink)
    }

    async fn launch(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&self.dir)
            .args(["--port", &self.port.to_string(), "--reject-prefix", REJECT_PREFIX])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs smtp_sink.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        tokio::time::timeout(std::time::Duration::from_secs(15), reader.read_line(&mut line))
            .await
            .expect("the SMTP sink starts within 15 s")
            .expect("read the sink's port");
        self.port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("PORT <n>");
        self.child = Some(child);
    }

    /// Stops the sink: connections to its port are refused until [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same port, writing into the same directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.launch().await;
    }

    pub fn mails_to(&self, to: &str) -> Vec<ReceivedMail> {
        crate::mailbox::read_dir(&self.dir).into_iter().filter(|m| m.to.eq_ignore_ascii_case(to)).collect()
    }

    /// Waits (up to 15 s) for `count` messages to `to`; returns them all, oldest first.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<ReceivedMail> {
        crate::mailbox::wait_for(&self.dir, to, count).await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One row of the mail queue as the tests look at it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QueueRow {
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sealed_body: Option<Vec<u8>>,
}

/// Every row of `database_url`'s mail queue, oldest first.
pub async fn queue_rows(database_url: &str) -> Vec<QueueRow> {
    const SQL: &str = "SELECT kind, status, attempts, last_error, sealed_body FROM mail_queue ORDER BY id";
    if database_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(database_url).await.expect("sqlite");
        sqlx::query_as(SQL).fetch_all(&mut c).await.expect("queue rows")
    } else {
        let mut c = sqlx::PgConnection::connect(database_url).await.expect("pg");
        sqlx::query_as(SQL).fetch_all(&mut c).await.expect("queue rows")
    }
}

/// Waits (up to 20 s) until the queue satisfies `pred`, and returns it.
pub async fn wait_for_queue(database_url: &str, pred: impl Fn(&[QueueRow]) -> bool) -> Vec<QueueRow> {
    for _ in 0..400 {
        let rows = queue_rows(database_url).await;
        if pred(&rows) {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the mail queue never reached the expected state: {:?}", queue_rows(database_url).await);
}
