//! `TestApp`: the real server on 127.0.0.1:0 with a fresh database (a SQLite file, or a
//! PostgreSQL database of its own when `GATEHOUSE_TEST_POSTGRES_URL` is set), a controllable
//! clock, and a cookie-keeping HTTP client that does not follow redirects.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse::config::Settings;
use gatehouse::secrets::Secrets;
use gatehouse_core::keys::MasterKey;
use gatehouse_core::{Clock, OffsetClock, SystemClock};
use sqlx::Connection;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The HS256 secret of servers configured for HS256 access tokens (tests only).
pub const HS256_SECRET: &str = "test-only hs256 secret, 32+ bytes long!";

pub fn write_0600(path: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).expect("key file");
    f.write_all(text.as_bytes()).expect("write key file");
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<OffsetClock>,
    pub database_url: String,
    dir: PathBuf,
    /// What the server was started with (for [`Self::restart`]).
    settings: Settings,
    pg_database: Option<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The real SMTP server this app sends to ([`Self::spawn_over_smtp`]); `None`: the outbox.
    sink: Option<crate::smtp::SmtpSink>,
}

/// A new cookie jar: one "browser".
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The PostgreSQL admin URL, or `None` (and a note on stderr) when PostgreSQL tests are skipped.
/// With `GATEHOUSE_REQUIRE_SERVICES=1` a missing URL fails the test instead.
pub fn postgres_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "GATEHOUSE_REQUIRE_SERVICES=1 but GATEHOUSE_TEST_POSTGRES_URL is not set"
            );
            eprintln!("skipped: GATEHOUSE_TEST_POSTGRES_URL not set");
            None
        }
    }
}

/// The Redis URL for tests, or `None` (and a note on stderr) when Redis tests are skipped.
/// With `GATEHOUSE_REQUIRE_SERVICES=1` a missing URL fails the test instead.
pub fn redis_url() -> Option<String> {
    match std::env::var("GATEHOUSE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "GATEHOUSE_REQUIRE_SERVICES=1 but GATEHOUSE_TEST_REDIS_URL is not set"
            );
            eprintln!("skipped: GATEHOUSE_TEST_REDIS_URL not set");
            None
        }
    }
}

fn with_database(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server; `tweak` adjusts its settings first. `None` when the backend is skipped.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::spawn_on(backend, listener, tweak).await
    }

    /// Like [`Self::spawn_with`] on a listener bound by the caller, who may need the address
    /// first (to register this server's callback at an upstream provider).
    pub async fn spawn_on(
        backend: Backend,
        listener: tokio::net::TcpListener,
        tweak: impl FnOnce(&mut Settings),
    ) -> Option<Self> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("gatehouse-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (database_url, pg_database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.join("gatehouse.db").display()), None),
            Backend::Postgres => {
                let admin = postgres_url()?;
                let name = format!("gatehouse_e2e_{}_{}_{n}", SystemClock.now(), std::process::id());
                let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                (with_database(&admin, &name), Some((admin, name)))
            }
        };
        let addr = listener.local_addr().expect("addr");
        let mut settings = Settings {
            issuer: format!("http://{addr}"),
            data_dir: dir.clone(),
            database_url: database_url.clone(),
            ..Settings::default()
        };
        settings.password.pool_size = 2;
        // Tests fire bursts of sign-ins; `accounts.rs` sets a small queue where it tests the
        // refusal under overload.
        settings.password.queue_size = 1024;
        settings.keys.check_interval = 1;
        // Every test talks from 127.0.0.1 and many log in often: the per-IP and per-account
        // rate limits are set out of reach here; `abuse.rs` sets small ones where it tests them.
        // (The lockout keeps its defaults.)
        let roomy = gatehouse_core::abuse::Quota::new(1_000_000, 60);
        let r = &mut settings.rate_limits;
        (r.login_ip, r.login_account, r.register_ip, r.refresh_ip, r.admin_ip, r.token_client, r.decision_ip) =
            (roomy, roomy, roomy, roomy, roomy, roomy, roomy);
        (r.reset_ip, r.reset_account, r.account_mail) = (roomy, roomy, roomy);
        tweak(&mut settings);
        // The master key, also written to a 0600 file for the CLI runs against this database.
        let (master_key, text) = MasterKey::generate().expect("master key");
        write_0600(&dir.join("test-master.key"), &text);
        let secrets = Secrets {
            master_key,
            hs256: settings.tokens.access_token_alg.eq("HS256").then(|| HS256_SECRET.as_bytes().to_vec().into()),
        };
        // The wall clock plus an offset the test can push forward: the CLI (wall clock) and the
        // server agree on "now" until a test skips ahead.
        let clock = OffsetClock::new();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(gatehouse::server::run(settings.clone(), secrets, clock.clone(), listener, async {
            let _ = rx.await;
        }));
        let app = Self {
            base: format!("http://{addr}"),
            client: browser(),
            clock,
            database_url,
            dir,
            settings,
            pg_database,
            shutdown: Some(tx),
            server: Some(server),
            sink: None,
        };
        app.wait_ready().await;
        Some(app)
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            if self.server.as_ref().is_some_and(|s| s.is_finished()) {
                panic!("server exited during start-up");
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server not ready");
    }

    /// The scratch directory (data directory, key files).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully and returns what `run` returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await?,
            None => Ok(()),
        }
    }

    /// Stops the server gracefully and starts a new one on the same address, database, data
    /// directory, master key, settings and clock (a restart, or a deploy of the next node).
    pub async fn restart(&mut self) {
        let text = std::fs::read_to_string(self.dir.join("test-master.key")).expect("master key file");
        self.restart_with_master(MasterKey::parse(&text).expect("master key")).await;
    }

    /// [`Self::restart`] with another master key(ring): a node deployed with a rotated key.
    pub async fn restart_with_master(&mut self, master_key: MasterKey) {
        self.stop().await.expect("the server stops cleanly");
        let addr = self.settings.issuer.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind(&addr).await.expect("the port is free again");
        let secrets = Secrets {
            master_key,
            hs256: self.settings.tokens.access_token_alg.eq("HS256").then(|| HS256_SECRET.as_bytes().to_vec().into()),
        };
        let (tx, rx) = oneshot::channel::<()>();
        self.server = Some(tokio::spawn(gatehouse::server::run(
            self.settings.clone(),
            secrets,
            self.clock.clone(),
            listener,
            async {
                let _ = rx.await;
            },
        )));
        self.shutdown = Some(tx);
        self.wait_ready().await;
    }

    /// A second node of this one's cluster: same database, master key and settings (so the same
    /// issuer, as behind a load balancer, and the same Redis), its own address, clock and temp
    /// directory. Dropping it stops it and leaves the database alone.
    pub async fn spawn_peer(&self) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("gatehouse-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let text = std::fs::read_to_string(self.dir.join("test-master.key")).expect("master key file");
        let secrets = Secrets {
            master_key: MasterKey::parse(&text).expect("master key"),
            hs256: self.settings.tokens.access_token_alg.eq("HS256").then(|| HS256_SECRET.as_bytes().to_vec().into()),
        };
        let clock = OffsetClock::new();
        let (tx, rx) = oneshot::channel::<()>();
        let server =
            tokio::spawn(gatehouse::server::run(self.settings.clone(), secrets, clock.clone(), listener, async {
                let _ = rx.await;
            }));
        let peer = Self {
            base: format!("http://{addr}"),
            client: browser(),
            clock,
            database_url: self.database_url.clone(),
            dir,
            settings: self.settings.clone(),
            pg_database: None,
            shutdown: Some(tx),
            server: Some(server),
            sink: None,
        };
        peer.wait_ready().await;
        peer
    }

    /// Like [`Self::spawn_with`], sending mail over SMTP to a real server (the aiosmtpd sink);
    /// [`Self::mails_to`] and [`Self::wait_for_mail`] then read what that server received.
    /// `None` when the backend or the sink is skipped.
    pub async fn spawn_over_smtp(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Option<Self> {
        let sink = crate::smtp::SmtpSink::start(None).await?;
        let port = sink.port;
        let mut app = Self::spawn_with(backend, |s| {
            s.mail.smtp_host = "127.0.0.1".into();
            s.mail.smtp_port = port;
            s.mail.smtp_tls = gatehouse::config::SmtpTls::InsecurePlaintext;
            s.mail.smtp_timeout = 5;
            tweak(s);
        })
        .await?;
        app.sink = Some(sink);
        Some(app)
    }

    /// Where this server's mail lands: the SMTP sink's directory when it sends over SMTP,
    /// else the development outbox.
    pub fn outbox_dir(&self) -> PathBuf {
        match &self.sink {
            Some(sink) => sink.dir.clone(),
            None => self.dir.join("outbox"),
        }
    }

    /// Every message sent to `to` so far, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<crate::mailbox::ReceivedMail> {
        crate::mailbox::read_dir(&self.outbox_dir()).into_iter().filter(|m| m.to.eq_ignore_ascii_case(to)).collect()
    }

    /// Waits until at least `count` messages were sent to `to`; returns the newest.
    pub async fn wait_for_mail(&self, to: &str, count: usize) -> crate::mailbox::ReceivedMail {
        let mut all = crate::mailbox::wait_for(&self.outbox_dir(), to, count).await;
        all.pop().expect("at least one mail")
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/auth/register"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("register request")
    }

    /// Registers (expecting the 202 every registration gets) and returns the new user as
    /// `/api/v1/me` shows it, from a sign-in in a browser of its own.
    pub async fn register_user(&self, email: &str, password: &str) -> serde_json::Value {
        let r = self.register(email, password).await;
        assert_eq!(r.status(), 202, "register {email}");
        let b = browser();
        assert_eq!(self.login_with(&b, email, password).await.status(), 200, "login {email}");
        self.me(&b).await.json().await.expect("me")
    }

    pub async fn login_with(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        client
            .post(self.url("/api/v1/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.login_with(&self.client, email, password).await
    }

    pub async fn me(&self, client: &reqwest::Client) -> reqwest::Response {
        client.get(self.url("/api/v1/me")).send().await.expect("me request")
    }

    /// Runs the `gatehouse` binary against this server's database.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        self.run_cli(args, stdin, &[]).await
    }

    async fn run_cli(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        cmd.args(args)
            .arg("--database-url")
            .arg(&self.database_url)
            .arg("--data-dir")
            .arg(&self.dir)
            .env("GATEHOUSE_PASSWORD__POOL_SIZE", "1")
            .env("GATEHOUSE_MASTER_KEY_FILE", self.dir.join("test-master.key"))
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd.spawn().expect("gatehouse binary runs");
        if let Some(mut pipe) = child.stdin.take() {
            if let Some(input) = stdin {
                pipe.write_all(input.as_bytes()).await.expect("stdin");
            }
            drop(pipe);
        }
        child.wait_with_output().await.expect("gatehouse binary finishes")
    }

    /// The settings this server was started with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn clock_now(&self) -> i64 {
        self.clock.now()
    }

    /// Like [`Self::cli`] with extra environment; an empty value removes the variable.
    pub async fn cli_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        self.run_cli(args, None, env).await
    }

    /// Waits (up to 30 s) until the JWKS text satisfies `pred`: the server reloads keys every second.
    pub async fn wait_for_jwks(&self, pred: impl Fn(&str) -> bool) {
        for _ in 0..300 {
            let text =
                self.client.get(self.url("/oauth2/jwks")).send().await.expect("jwks").text().await.expect("body");
            if pred(&text) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("JWKS never reached the expected state");
    }

    /// Waits (up to 30 s) until access tokens for `email` are signed with `kid`.
    pub async fn wait_for_signing_kid(&self, email: &str, kid: &str) {
        for _ in 0..300 {
            let r = browser()
                .post(self.url("/api/v1/auth/token"))
                .json(&serde_json::json!({ "email": email, "password": PASSWORD, "token_delivery": "body" }))
                .send()
                .await
                .expect("token request");
            let body: serde_json::Value = r.json().await.expect("token body");
            let token = body["access_token"].as_str().expect("access token");
            let header = crate::tokens::decode_part(token.split('.').next().expect("header"));
            if header["kid"] == kid {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("tokens never got signed with {kid}");
    }

    /// Runs one statement on this server's database (test set-up the product has no API for).
    pub async fn execute_sql(&self, sql: &str, arg: &str) {
        if self.database_url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.database_url).await.expect("sqlite");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(arg).execute(&mut c).await.expect("statement");
        } else {
            let mut c = sqlx::PgConnection::connect(&self.database_url).await.expect("pg");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(arg).execute(&mut c).await.expect("statement");
        }
    }

    /// A read-only look at a stored column, for assertions about what is at rest.
    pub async fn stored_password_hash(&self, email_key: &str) -> String {
        let sql = "SELECT password_hash FROM users WHERE email_key = $1";
        if self.database_url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.database_url).await.expect("sqlite");
            sqlx::query_scalar(sql).bind(email_key).fetch_one(&mut c).await.expect("row")
        } else {
            let mut c = sqlx::PgConnection::connect(&self.database_url).await.expect("pg");
            sqlx::query_scalar(sql).bind(email_key).fetch_one(&mut c).await.expect("row")
        }
    }
}

impl TestApp {
    /// `(event_type, outcome, ip, details)` of every audit event, oldest first.
    pub async fn audit_events(&self) -> Vec<(String, String, Option<String>, String)> {
        if self.database_url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.database_url).await.expect("sqlite");
            sqlx::query_as("SELECT event_type, outcome, ip, details FROM audit_events ORDER BY id")
                .fetch_all(&mut c)
                .await
                .expect("audit rows")
        } else {
            let mut c = sqlx::PgConnection::connect(&self.database_url).await.expect("pg");
            sqlx::query_as("SELECT event_type, outcome, ip, details::text FROM audit_events ORDER BY id")
                .fetch_all(&mut c)
                .await
                .expect("audit rows")
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.pg_database.take() {
            // Drop is synchronous: drop the test database from a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                                .execute(&mut c)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// The value of the first `csrf_token` hidden field in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a csrf_token field") + marker.len();
    let end = html[start..].find('"').expect("closing quote") + start;
    html[start..end].to_owned()
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
}

pub const PASSWORD: &str = "correct horse battery staple";
