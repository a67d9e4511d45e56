//! A release `gatehouse serve` on loopback with a fresh SQLite data directory and a generated
//! master key, plus the setup requests the workloads need (users, sessions, tokens).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use tokio::process::Command;

use crate::child::{self, Proc, TempDir};
use crate::load::{Client, Req};
use crate::{pg, proc};

/// How long a start may take before the harness gives up (the first start generates keys).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds the workspace and builds (or locates) `target/release/gatehouse`.
pub struct Workspace {
    pub root: PathBuf,
    pub target_dir: PathBuf,
}

impl Workspace {
    /// Asks cargo where the workspace and its target directory are (honours `CARGO_TARGET_DIR`).
    pub fn locate() -> anyhow::Result<Self> {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = std::process::Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
            .output()
            .context("running cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let path = |k: &str| meta[k].as_str().map(PathBuf::from).ok_or_else(|| anyhow::anyhow!("no {k}"));
        Ok(Self { root: path("workspace_root")?, target_dir: path("target_directory")? })
    }

    /// `cargo build --release -p gatehouse` (quick when nothing changed), then the binary's path.
    pub fn build_gatehouse(&self, build: bool) -> anyhow::Result<PathBuf> {
        if build {
            eprintln!("building: cargo build --release -p gatehouse");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--release", "-p", "gatehouse"])
                .current_dir(&self.root)
                .status()
                .context("running cargo build")?;
            if !status.success() {
                bail!(
                    "cargo build --release -p gatehouse failed; fix the build, or benchmark an existing binary \
                     with --no-build (target/release/gatehouse) or --gatehouse-bin PATH"
                );
            }
        }
        let bin = self.target_dir.join("release").join("gatehouse");
        if !bin.exists() {
            bail!("{} not found; run cargo build --release -p gatehouse", bin.display());
        }
        Ok(bin)
    }
}

/// Set on every server the harness starts: all load comes from 127.0.0.1 and signs in as a
/// handful of accounts, so the per-IP and per-account rate limits (which would answer 429 within
/// a second) are raised out of reach. The limiter still runs on every request; only its quota
/// changes.
pub const BENCH_ENV: &[(&str, &str)] = &[
    ("GATEHOUSE_RATE_LIMITS__LOGIN_IP__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__LOGIN_IP__PERIOD", "1"),
    ("GATEHOUSE_RATE_LIMITS__LOGIN_ACCOUNT__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__LOGIN_ACCOUNT__PERIOD", "1"),
    ("GATEHOUSE_RATE_LIMITS__REGISTER_IP__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__REGISTER_IP__PERIOD", "1"),
    ("GATEHOUSE_RATE_LIMITS__REFRESH_IP__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__REFRESH_IP__PERIOD", "1"),
    ("GATEHOUSE_RATE_LIMITS__TOKEN_CLIENT__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__TOKEN_CLIENT__PERIOD", "1"),
    ("GATEHOUSE_RATE_LIMITS__DECISION_IP__REQUESTS", "1000000000"),
    ("GATEHOUSE_RATE_LIMITS__DECISION_IP__PERIOD", "1"),
];

/// Settings for one server: the access-token algorithm and extra `GATEHOUSE_*` variables.
#[derive(Clone)]
pub struct Options {
    pub label: String,
    pub alg: &'static str,
    pub env: Vec<(String, String)>,
    /// A PostgreSQL server for this Gatehouse alone (a fresh database on it), whatever
    /// `--postgres` says: the PostgreSQL side of the write workloads.
    pub postgres: Option<String>,
    /// Run `serve` under `taskset -c <cpus>` (the pinned tail-latency run).
    pub cpus: Option<String>,
}

impl Options {
    pub fn new(label: &str, alg: &'static str) -> Self {
        Self { label: label.into(), alg, env: Vec::new(), postgres: None, cpus: None }
    }

    /// For the servers whose workloads sign in on more connections than the hashing pool and
    /// its default queue admit (16 or 64 against 2 + 8 on two CPUs): the closed-loop load
    /// generator would otherwise measure instant 503 refusals instead of sign-ins. The overload
    /// run keeps the default; refusals are what it measures.
    pub fn with_roomy_hash_queue(mut self) -> Self {
        self.env.push(("GATEHOUSE_PASSWORD__QUEUE_SIZE".into(), "1024".into()));
        self
    }
}

/// A running server. Dropping it kills the process and removes its data directory.
pub struct Gatehouse {
    pub addr: SocketAddr,
    pub opts: Options,
    /// Spawn → first 200 from `/readyz`.
    pub startup: Duration,
    /// Memory shortly after start (before any load).
    pub idle: proc::Sample,
    bin: PathBuf,
    master_key: String,
    proc: Option<Proc>,
    // Declared last: dropped after the process is killed.
    /// With `--postgres`: the server's scratch database.
    db: Option<pg::Database>,
    dir: TempDir,
}

impl Gatehouse {
    pub async fn start(bin: &Path, opts: Options) -> anyhow::Result<Self> {
        let dir = TempDir::new(&opts.label)?;
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| anyhow::anyhow!("no randomness"))?;
        let master_key = base64::engine::general_purpose::STANDARD.encode(key);
        let server = opts.postgres.as_deref().or(pg::server());
        let db = server.map(|url| pg::Database::create(url, &opts.label)).transpose()?;
        let mut g = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            opts,
            startup: Duration::ZERO,
            idle: proc::Sample::default(),
            bin: bin.into(),
            master_key,
            proc: None,
            db,
            dir,
        };
        g.launch().await?;
        Ok(g)
    }

    /// Stops the server and starts it again on the same data directory (keys and migrations
    /// already in place): the warm start-up time.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        if let Some(p) = self.proc.take() {
            p.stop().await;
        }
        self.launch().await?;
        Ok(self.startup)
    }

    /// `gatehouse --data-dir <ours>` with this server's environment, run in the scratch directory
    /// (so no `./gatehouse.toml` from wherever the harness was started is read).
    pub(crate) fn command(&self) -> Command {
        self.command_on(None)
    }

    /// [`Self::command`], under `taskset -c <cpus>` when given (taskset execs the server, so
    /// the process id is the server's).
    fn command_on(&self, cpus: Option<&str>) -> Command {
        let mut cmd = match cpus {
            Some(list) => {
                let mut c = Command::new("taskset");
                c.args(["-c", list]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("--data-dir").arg(self.dir.path().join("data")).current_dir(self.dir.path());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
            cmd.env_remove(k);
        }
        cmd.env("GATEHOUSE_MASTER_KEY", &self.master_key).env("GATEHOUSE_TOKENS__ACCESS_TOKEN_ALG", self.opts.alg);
        cmd.envs(BENCH_ENV.iter().copied());
        if let Some(db) = &self.db {
            cmd.env("GATEHOUSE_DATABASE_URL", &db.url);
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let port = child::free_port()?;
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = self.command_on(self.opts.cpus.as_deref());
        cmd.arg("serve").args(["--bind", &self.addr.to_string(), "--issuer", &format!("http://{}", self.addr)]);
        let spawned = Instant::now();
        let log = self.dir.path().join("gatehouse.log");
        let mut p = Proc::spawn(&format!("gatehouse ({})", self.opts.label), cmd, &log)?;
        self.startup = child::wait_ready(&mut p, self.addr, "/readyz", spawned, START_TIMEOUT).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.idle = proc::sample(Some(p.pid()))?;
        self.proc = Some(p);
        Ok(())
    }

    pub fn pid(&self) -> u32 {
        self.proc.as_ref().map_or(0, Proc::pid)
    }

    /// The name of this server's PostgreSQL database, if it has one.
    pub fn database(&self) -> Option<&str> {
        self.db.as_ref().map(|d| d.name.as_str())
    }

    /// A gauge of `/metrics` (e.g. `gatehouse_password_hash_pool_size`), if exposed.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let mut c = self.client().await.ok()?;
        let resp = c.send(&Req::get("/metrics")).await.ok()?;
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    pub fn sample(&self) -> anyhow::Result<proc::Sample> {
        proc::sample(Some(self.pid()))
    }

    /// Bytes of the SQLite database, its WAL and shared memory.
    pub fn data_bytes(&self) -> u64 {
        child::dir_size(&self.dir.path().join("data"))
    }

    pub async fn stop(mut self) {
        if let Some(p) = self.proc.take() {
            p.stop().await;
        }
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(self.addr).await
    }

    /// Registers a confidential `client_credentials` client with scope `api` through the CLI
    /// (`gatehouse clients create`), beside the running server.
    pub async fn create_oauth_client(&self) -> anyhow::Result<OAuthClient> {
        self.create_client(&["--name=bench", "--grant-type=client_credentials", "--scope=api"]).await
    }

    /// Registers a confidential first-party web application for the authorization-code flow
    /// (consent skipped, scopes `openid profile email offline_access`).
    pub async fn create_rp_client(&self) -> anyhow::Result<OAuthClient> {
        let redirect = format!("--redirect-uri={}", crate::code_flow::REDIRECT_URI);
        self.create_client(&[
            "--name=bench-rp",
            "--grant-type=authorization_code",
            "--grant-type=refresh_token",
            &redirect,
            "--scope=openid",
            "--scope=profile",
            "--scope=email",
            "--scope=offline_access",
            "--skip-consent",
        ])
        .await
    }

    async fn create_client(&self, args: &[&str]) -> anyhow::Result<OAuthClient> {
        let mut cmd = self.command();
        cmd.args(["clients", "create"]).args(args).arg("--json").env("GATEHOUSE_LOG", "error").kill_on_drop(true);
        let out = cmd.output().await.context("running gatehouse clients create")?;
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        match (json["client_id"].as_str(), json["client_secret"].as_str()) {
            (Some(id), Some(secret)) if out.status.success() => {
                Ok(OAuthClient { id: id.to_owned(), secret: secret.to_owned() })
            }
            _ => bail!("gatehouse clients create failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        }
    }
}

/// A confidential client (`client_secret_basic`).
#[derive(Clone)]
pub struct OAuthClient {
    pub id: String,
    pub secret: String,
}

impl OAuthClient {
    pub fn basic(&self) -> String {
        let pair = format!("{}:{}", self.id, self.secret);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// RFC 6749 §4.4.2: `client_credentials` at `/oauth2/token`.
    pub fn token_request(&self) -> Req {
        Req::post_form("/oauth2/token", "grant_type=client_credentials&scope=api")
            .header("authorization", &self.basic())
    }

    /// RFC 7662 §2.1: introspection of `token`, authenticated as this client.
    pub fn introspection_request(&self, token: &str) -> Req {
        Req::post_form("/oauth2/introspect", &format!("token={token}")).header("authorization", &self.basic())
    }

    pub async fn mint(&self, c: &mut Client) -> anyhow::Result<String> {
        let resp = c.send(&self.token_request()).await?;
        let json = resp.json().unwrap_or_default();
        json["access_token"].as_str().map(str::to_owned).ok_or_else(|| {
            anyhow::anyhow!("/oauth2/token answered {}: {}", resp.status, String::from_utf8_lossy(&resp.body))
        })
    }
}

/// A seeded account.
#[derive(Clone)]
pub struct User {
    pub email: String,
    pub password: String,
}

impl User {
    pub fn nth(i: usize) -> Self {
        Self { email: format!("bench-{i}@example.com"), password: format!("bench-pw-{i}-q7Vx2mLk9") }
    }

    pub fn login_request(&self) -> Req {
        Req::post_json("/api/v1/auth/login", &serde_json::json!({ "email": self.email, "password": self.password }))
    }

    pub fn token_request(&self) -> Req {
        Req::post_json(
            "/api/v1/auth/token",
            &serde_json::json!({ "email": self.email, "password": self.password, "token_delivery": "body" }),
        )
    }
}

/// Registers `count` users through `POST /api/v1/auth/register`.
pub async fn seed_users(g: &Gatehouse, count: usize) -> anyhow::Result<Vec<User>> {
    let mut c = g.client().await?;
    let mut users = Vec::with_capacity(count);
    for i in 0..count {
        let u = User::nth(i);
        let req = Req::post_json(
            "/api/v1/auth/register",
            &serde_json::json!({ "email": u.email, "password": u.password, "display_name": format!("Bench {i}") }),
        );
        let resp = c.send(&req).await?;
        if resp.status.as_u16() != 202 {
            bail!("registering {} answered {}: {}", u.email, resp.status, String::from_utf8_lossy(&resp.body));
        }
        users.push(u);
    }
    Ok(users)
}

/// Signs `user` in and returns the session cookie (`name=value`).
pub async fn session_cookie(c: &mut Client, user: &User) -> anyhow::Result<String> {
    let resp = c.send(&user.login_request()).await?;
    if resp.status.as_u16() != 200 {
        bail!("login answered {}: {}", resp.status, String::from_utf8_lossy(&resp.body));
    }
    resp.cookie("gatehouse_session").ok_or_else(|| anyhow::anyhow!("login set no gatehouse_session cookie"))
}

/// `(access_token, refresh_token)` from the first-party token endpoint, refresh token in the body.
pub async fn tokens(c: &mut Client, user: &User) -> anyhow::Result<(String, String)> {
    let resp = c.send(&user.token_request()).await?;
    let json = resp.json().unwrap_or_default();
    match (json["access_token"].as_str(), json["refresh_token"].as_str()) {
        (Some(a), Some(r)) if resp.status.as_u16() == 200 => Ok((a.to_owned(), r.to_owned())),
        _ => bail!("token endpoint answered {}: {}", resp.status, String::from_utf8_lossy(&resp.body)),
    }
}
