//! A cluster of the test's own: a private PostgreSQL and Redis, N `gatehouse serve` processes
//! (the real binary, one master key, configuration through the environment only, nginx trusted
//! as the proxy) and nginx in front of them. One cluster at a time on the machine: [`Cluster`]
//! holds an exclusive file lock for its whole life (nextest runs each test in a process of its
//! own, so an in-process mutex would not do).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gatehouse_core::keys::MasterKey;
use tokio::process::{Child, Command};

use crate::services::{Nginx, PrivatePostgres, PrivateRedis, Tools, free_port};

/// The password of every user the suite registers.
pub const PASSWORD: &str = "correct horse battery staple";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The machine's tools, or `None` (and a note) when the suite is skipped. With
/// `GATEHOUSE_REQUIRE_SERVICES=1` a missing tool fails the test instead.
pub fn tools() -> Option<Tools> {
    if std::env::var("GATEHOUSE_TEST_MULTINODE").as_deref() == Ok("0") {
        eprintln!("skipped: GATEHOUSE_TEST_MULTINODE=0");
        return None;
    }
    match Tools::find() {
        Ok(t) => Some(t),
        Err(missing) => {
            assert!(
                std::env::var("GATEHOUSE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "GATEHOUSE_REQUIRE_SERVICES=1 but the multi-node suite lacks {missing}"
            );
            eprintln!("skipped: the multi-node suite needs {missing} (apt-get install postgresql redis-server nginx)");
            None
        }
    }
}

/// Serialises clusters across processes: blocks until no other test of the suite runs one.
async fn exclusive() -> std::fs::File {
    let path = std::env::temp_dir().join("gatehouse-multinode.lock");
    tokio::task::spawn_blocking(move || {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
        f.lock().expect("lock the multi-node suite");
        f
    })
    .await
    .unwrap()
}

/// What a cluster is started with.
pub struct Options {
    pub nodes: usize,
    pub redis: bool,
    /// Extra `GATEHOUSE_*` variables for every node (they win over the suite's defaults).
    pub env: Vec<(&'static str, String)>,
    /// Start the nodes and wait for them (false: the test starts them itself).
    pub start_nodes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { nodes: 3, redis: true, env: Vec::new(), start_nodes: true }
    }
}

/// One `gatehouse serve` process.
pub struct Node {
    pub index: usize,
    pub port: u16,
    dir: PathBuf,
    env: BTreeMap<String, String>,
    child: Option<Child>,
}

impl Node {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// Starts the process; [`Self::wait_ready`] waits for it.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
            cmd.env_remove(k);
        }
        cmd.envs(&self.env)
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true);
        self.child = Some(cmd.spawn().expect("the gatehouse binary runs"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Waits (up to 60 s) for `/readyz` to answer 200.
    pub async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(r) = client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("node {} exited during start-up ({status}):\n{}", self.index, self.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node {} not ready after 60 s:\n{}", self.index, self.log());
    }

    /// SIGKILL: no shutdown, no flush; whatever was not durable is gone.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().unwrap();
            let status = c.wait().await.unwrap();
            assert!(!status.success(), "node {} was killed, not stopped: {status}", self.index);
        }
    }

    /// The value of a Prometheus sample without labels on this node, if the node reports it.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
        let text = client.get(self.url("/metrics")).send().await.ok()?.text().await.ok()?;
        metric_value(&text, name)
    }
}

/// `name value` (or `name{…} value`: the first such line) in a Prometheus text page.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let rest = if rest.starts_with('{') { rest.split_once('}')?.1 } else { rest };
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

pub struct Cluster {
    pub root: PathBuf,
    pub pg: PrivatePostgres,
    pub redis: Option<PrivateRedis>,
    pub nodes: Vec<Node>,
    pub nginx: Nginx,
    /// The database the nodes use, on `pg`.
    pub database: String,
    master_key: String,
    // Dropped in this order, after the services above have stopped.
    _dir: ScratchDir,
    _lock: std::fs::File,
}

/// The cluster's directory: removed at the end; after a failure only the PostgreSQL data goes
/// and the logs stay (the path is printed).
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::fs::remove_dir_all(self.0.join("pg/data"));
            eprintln!("multi-node logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Cluster {
    /// The cluster of `opts`, or `None` when the suite is skipped.
    pub async fn start(opts: Options) -> Option<Self> {
        let tools = tools()?;
        let lock = exclusive().await;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let root = std::env::temp_dir().join(format!("gatehouse-multinode-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let pg = PrivatePostgres::start(&tools, &root).await;
        let database = "gatehouse".to_owned();
        pg.create_database(&database).await;
        let redis = if opts.redis { Some(PrivateRedis::start(&tools, &root).await) } else { None };
        let (_, master_key) = MasterKey::generate().expect("master key");
        let nginx_port = free_port();
        let ports: Vec<u16> = (0..opts.nodes).map(|_| free_port()).collect();

        let mut env: BTreeMap<String, String> = BTreeMap::new();
        let mut set = |k: &str, v: String| env.insert(k.to_owned(), v);
        set("GATEHOUSE_DATABASE_URL", pg.url(&database));
        set("GATEHOUSE_MASTER_KEY", master_key.to_string());
        set("GATEHOUSE_ISSUER", format!("http://127.0.0.1:{nginx_port}"));
        set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32".into());
        set("GATEHOUSE_LOG", "warn".into());
        set("GATEHOUSE_KEYS__CHECK_INTERVAL", "1".into());
        // Two cores for everything: one hash at a time per node, and cheap hashes.
        set("GATEHOUSE_PASSWORD__POOL_SIZE", "1".into());
        set("GATEHOUSE_PASSWORD__QUEUE_SIZE", "1024".into());
        set("GATEHOUSE_PASSWORD__MEMORY_KIB", "4096".into());
        set("GATEHOUSE_PASSWORD__ITERATIONS", "1".into());
        // Every request comes from one address: the limits a test does not measure are set out
        // of reach (a test sets its own after these).
        for q in [
            "login_ip",
            "login_account",
            "register_ip",
            "refresh_ip",
            "admin_ip",
            "token_client",
            "decision_ip",
            "reset_ip",
            "reset_account",
            "account_mail",
        ] {
            let q = q.to_uppercase();
            set(&format!("GATEHOUSE_RATE_LIMITS__{q}__REQUESTS"), "1000000".into());
            set(&format!("GATEHOUSE_RATE_LIMITS__{q}__PERIOD"), "60".into());
        }
        if let Some(r) = &redis {
            set("GATEHOUSE_REDIS_URL", r.url());
            set("GATEHOUSE_REDIS_PREFIX", format!("mn{n}:"));
        }
        for (k, v) in &opts.env {
            set(k, v.clone());
        }
        let nodes: Vec<Node> = ports
            .iter()
            .enumerate()
            .map(|(index, &port)| {
                let dir = root.join(format!("node{index}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut env = env.clone();
                env.insert("GATEHOUSE_DATA_DIR".into(), dir.join("data").display().to_string());
                Node { index, port, dir, env, child: None }
            })
            .collect();
        let nginx = Nginx::start(&tools, &root, nginx_port, &ports).await;
        let mut cluster = Self {
            root: root.clone(),
            pg,
            redis,
            nodes,
            nginx,
            database,
            master_key: master_key.to_string(),
            _dir: ScratchDir(root),
            _lock: lock,
        };
        if opts.start_nodes {
            cluster.start_all().await;
        }
        Some(cluster)
    }

    /// Starts every node at once (they race for the migration lock) and waits for all.
    pub async fn start_all(&mut self) {
        for n in &mut self.nodes {
            n.spawn();
        }
        for n in &mut self.nodes {
            n.wait_ready().await;
        }
    }

    /// The balancer's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base())
    }

    pub async fn db(&self) -> sqlx::PgConnection {
        self.pg.connect(&self.database).await
    }

    /// Runs the `gatehouse` binary against the cluster's database; panics unless it succeeds.
    pub async fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
            cmd.env_remove(k);
        }
        let out = cmd
            .args(args)
            .arg("--database-url")
            .arg(self.pg.url(&self.database))
            .arg("--data-dir")
            .arg(self.root.join("cli"))
            .env("GATEHOUSE_MASTER_KEY", &self.master_key)
            .env("GATEHOUSE_PASSWORD__POOL_SIZE", "1")
            .env("GATEHOUSE_LOG", "warn")
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("the gatehouse binary runs");
        assert!(out.status.success(), "gatehouse {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The processes die with their handles (kill_on_drop); PostgreSQL stops in its own drop.
        for n in &mut self.nodes {
            if let Some(c) = n.child.as_mut() {
                let _ = c.start_kill();
            }
        }
    }
}
