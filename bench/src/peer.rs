//! The peer: Node's `oidc-provider` (OpenID-certified), installed with npm into a scratch folder
//! under the target directory and started on loopback with `peer/server.mjs`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use tokio::process::Command;

use crate::child::{self, Proc};
use crate::load::{Client, Req};
use crate::proc;

const SCRIPT: &str = include_str!("../peer/server.mjs");
const CLIENT_ID: &str = "bench";
const CLIENT_SECRET: &str = "bench-secret-bench-secret-bench-secret";
/// The major version the comparison is made against.
const PACKAGE: &str = "oidc-provider@9";

pub struct Peer {
    pub addr: SocketAddr,
    pub package_version: String,
    pub node_version: String,
    pub startup: Duration,
    pub idle: proc::Sample,
    proc: Proc,
}

/// Installs `oidc-provider` into `<target>/bench/peer` when it is not there yet.
fn install(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("server.mjs"), SCRIPT)?;
    if dir.join("node_modules/oidc-provider/package.json").exists() {
        return Ok(());
    }
    std::fs::write(dir.join("package.json"), "{\"private\": true, \"type\": \"module\"}\n")?;
    eprintln!("installing {PACKAGE} with npm into {} (first run only)", dir.display());
    // Captured, so that npm's chatter stays out of the report on standard output.
    let out = std::process::Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", PACKAGE])
        .current_dir(dir)
        .output()
        .context("running npm (is Node.js installed?)")?;
    if !out.status.success() {
        bail!("npm install {PACKAGE} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn node_version() -> anyhow::Result<String> {
    let out = std::process::Command::new("node").arg("--version").output().context("node not found")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn package_version(dir: &Path) -> String {
    std::fs::read(dir.join("node_modules/oidc-provider/package.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

impl Peer {
    pub async fn start(target_dir: &Path) -> anyhow::Result<Self> {
        let node_version = node_version()?;
        let dir: PathBuf = target_dir.join("bench").join("peer");
        install(&dir)?;
        let port = child::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new("node");
        cmd.arg("server.mjs").arg(port.to_string()).current_dir(&dir).env("NODE_ENV", "production");
        let spawned = Instant::now();
        let mut proc = Proc::spawn("oidc-provider", cmd, &dir.join("peer.log"))?;
        let path = "/.well-known/openid-configuration";
        let startup = child::wait_ready(&mut proc, addr, path, spawned, Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let idle = proc::sample(Some(proc.pid()))?;
        Ok(Self { addr, package_version: package_version(&dir), node_version, startup, idle, proc })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    fn basic_auth() -> String {
        let pair = format!("{CLIENT_ID}:{CLIENT_SECRET}");
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    /// `client_credentials` at the token endpoint: an opaque token (`alg` `None`) or a JWT.
    pub fn token_request(alg: Option<&str>) -> Req {
        let body = match alg {
            None => "grant_type=client_credentials&scope=api".to_owned(),
            Some(a) => format!("grant_type=client_credentials&scope=api&resource=urn%3Abench%3A{}", a.to_lowercase()),
        };
        Req::post_form("/token", &body).header("authorization", &Self::basic_auth())
    }

    /// RFC 7662 introspection of `token`, authenticated as the client.
    pub fn introspection_request(token: &str) -> Req {
        Req::post_form("/token/introspection", &format!("token={token}")).header("authorization", &Self::basic_auth())
    }

    /// One token from the peer (to introspect).
    pub async fn mint(&self, alg: Option<&str>) -> anyhow::Result<String> {
        let mut c = Client::connect(self.addr).await?;
        let resp = c.send(&Self::token_request(alg)).await?;
        let json = resp.json().unwrap_or_default();
        json["access_token"].as_str().map(str::to_owned).ok_or_else(|| {
            anyhow::anyhow!("peer token endpoint answered {}: {}", resp.status, String::from_utf8_lossy(&resp.body))
        })
    }

    pub async fn stop(self) {
        self.proc.stop().await;
    }
}
