//! The machine's own services, private to one test: a PostgreSQL cluster (initdb in a temp
//! directory, `pg_ctl` on a random port, so the test may stop and start it), a `redis-server`
//! (no persistence) and nginx. The shared PostgreSQL on 5432 and Redis on 6379 are never touched.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Where the machine's tools are; `None` from [`Tools::find`] means the suite is skipped.
#[derive(Debug, Clone)]
pub struct Tools {
    pub pg_bin: PathBuf,
    pub redis_server: PathBuf,
    pub nginx: PathBuf,
    /// Running as root: PostgreSQL's tools must run as the `postgres` user (`runuser`).
    pub as_root: bool,
    pub runuser: PathBuf,
}

fn in_path(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':').chain(extra.iter().copied()).map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

impl Tools {
    /// The PostgreSQL binaries (`/usr/lib/postgresql/<newest>/bin`), `redis-server` and nginx,
    /// or the name of the first one missing.
    pub fn find() -> Result<Self, String> {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|_| "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)".to_owned())?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
            .collect();
        versions.sort_by_key(|p| {
            p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
        });
        let pg_bin = versions.pop().ok_or("PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)")?;
        let redis_server = in_path("redis-server", &[]).ok_or("redis-server")?;
        let nginx = in_path("nginx", &["/usr/sbin"]).ok_or("nginx")?;
        let uid = std::process::Command::new("id").arg("-u").output().map_err(|_| "id -u")?;
        let as_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let runuser = in_path("runuser", &["/usr/sbin", "/sbin"]);
        let runuser = match runuser {
            Some(r) => r,
            None if !as_root => PathBuf::new(),
            None => return Err("runuser (PostgreSQL refuses to run as root)".into()),
        };
        Ok(Self { pg_bin, redis_server, nginx, as_root, runuser })
    }
}

/// A free loopback port (bound, read and released: good enough for a private service).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits up to `limit` until something accepts TCP connections on the port.
pub async fn wait_for_port(port: u16, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A PostgreSQL cluster of the test's own, trust authentication, user `postgres`.
pub struct PrivatePostgres {
    tools: Tools,
    pub dir: PathBuf,
    pub port: u16,
}

impl PrivatePostgres {
    fn pg_command(&self, tool: &str) -> std::process::Command {
        let bin = self.tools.pg_bin.join(tool);
        if self.tools.as_root {
            let mut c = std::process::Command::new(&self.tools.runuser);
            c.args(["-u", "postgres", "--"]).arg(bin);
            c
        } else {
            std::process::Command::new(bin)
        }
    }

    /// `initdb` into a new directory under `root`, then starts the server.
    pub async fn start(tools: &Tools, root: &Path) -> Self {
        let dir = root.join("pg");
        std::fs::create_dir_all(&dir).unwrap();
        if tools.as_root {
            let ok = std::process::Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
            assert!(ok.success(), "chown the PostgreSQL directory to postgres");
            // The postgres user must reach the directory.
            let ok = std::process::Command::new("chmod").args(["0755"]).arg(root).status().unwrap();
            assert!(ok.success());
        }
        let pg = Self { tools: tools.clone(), dir: dir.clone(), port: free_port() };
        let init = tokio::task::spawn_blocking({
            let mut c = pg.pg_command("initdb");
            c.arg("-D").arg(dir.join("data")).args(["-A", "trust", "-U", "postgres", "--no-sync"]);
            move || c.output().unwrap()
        })
        .await
        .unwrap();
        assert!(init.status.success(), "initdb: {}", String::from_utf8_lossy(&init.stderr));
        pg.up().await;
        pg
    }

    /// The admin URL of database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub async fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let mut c = self.pg_command("pg_ctl");
        c.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.join("log"))
            .args(["-w", "start"]);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
        let log = std::fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        assert!(out.status.success(), "pg_ctl start: {}\n{log}", String::from_utf8_lossy(&out.stderr));
        assert!(wait_for_port(self.port, Duration::from_secs(20)).await, "PostgreSQL did not start:\n{log}");
    }

    /// `pg_ctl stop -m immediate`: every connection is cut at once, as in a crash.
    pub async fn down(&self) {
        let mut c = self.pg_command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let out = tokio::task::spawn_blocking(move || c.output().unwrap()).await.unwrap();
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub async fn connect(&self, db: &str) -> sqlx::PgConnection {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&self.url(db)).await.expect("private PostgreSQL reachable")
    }

    pub async fn create_database(&self, name: &str) {
        let mut c = self.connect("postgres").await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await.unwrap();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let mut c = self.pg_command("pg_ctl");
        c.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "stop"]);
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// A `redis-server` of the test's own on a fixed random port, no persistence.
pub struct PrivateRedis {
    tools: Tools,
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub async fn start(tools: &Tools, root: &Path) -> Self {
        let dir = root.join("redis");
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Self { tools: tools.clone(), dir, port: free_port(), child: None };
        r.up().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port.
    pub async fn up(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("log")).unwrap();
        let child = Command::new(&self.tools.redis_server)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        assert!(wait_for_port(self.port, Duration::from_secs(10)).await, "redis-server did not start");
    }

    /// Kills it (SIGKILL): connections drop, nothing is saved.
    pub async fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().unwrap();
            let _ = c.wait().await;
        }
    }
}

/// nginx in front of the nodes: round robin, passive health checks, retries of idempotent
/// requests only (nginx never passes a POST to a second upstream unless told `non_idempotent`).
pub struct Nginx {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    /// Listens on `port`, balancing over the `upstreams` ports.
    pub async fn start(tools: &Tools, root: &Path, port: u16, upstreams: &[u16]) -> Self {
        let dir = root.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let servers: String =
            upstreams.iter().map(|p| format!("        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n")).collect();
        let user = if tools.as_root { "user root;\n" } else { "" };
        let d = dir.display();
        let conf = format!(
            "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n    access_log off;\n\
             \x20   client_body_temp_path {d}/tmp/body;\n    proxy_temp_path {d}/tmp/proxy;\n\
             \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n    uwsgi_temp_path {d}/tmp/uwsgi;\n\
             \x20   scgi_temp_path {d}/tmp/scgi;\n\
             \x20   upstream gatehouse {{\n{servers}        keepalive 32;\n    }}\n\
             \x20   server {{\n        listen 127.0.0.1:{port};\n\
             \x20       location / {{\n\
             \x20           proxy_pass http://gatehouse;\n\
             \x20           proxy_http_version 1.1;\n\
             \x20           proxy_set_header Connection \"\";\n\
             \x20           proxy_set_header Host $http_host;\n\
             \x20           proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             \x20           proxy_set_header X-Forwarded-Proto $scheme;\n\
             \x20           proxy_connect_timeout 1s;\n\
             \x20           proxy_read_timeout 20s;\n\
             \x20           proxy_next_upstream error timeout;\n\
             \x20           proxy_next_upstream_tries 3;\n\
             \x20           add_header X-Upstream $upstream_addr always;\n\
             \x20       }}\n    }}\n}}\n"
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let child = Command::new(&tools.nginx)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("nginx runs");
        let nginx = Self { port, child, dir };
        if !wait_for_port(port, Duration::from_secs(10)).await {
            let err = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
            panic!("nginx did not start:\n{err}");
        }
        nginx
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    /// SIGTERM first: the master stops its workers (a SIGKILLed master would leave them behind).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            for _ in 0..100 {
                if self.child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.start_kill();
    }
}
