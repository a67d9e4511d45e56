//! The HTTP floor: a trivial axum handler on the same runtime shape as `gatehouse serve`
//! (tokio multi-thread, one worker per CPU), run by the harness as its own process
//! (`gatehouse-bench floor-server`) so its CPU time can be read apart from the load generator's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tokio::process::Command;

use crate::child::{self, Proc, TempDir};
use crate::proc;

/// Serves `GET /healthz` → `200 ok` on `127.0.0.1:port` until killed.
pub fn serve(port: u16) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let app = Router::new().route("/healthz", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

pub struct Floor {
    pub addr: SocketAddr,
    pub startup: Duration,
    pub idle: proc::Sample,
    proc: Proc,
    _dir: TempDir,
}

impl Floor {
    /// Starts this executable again as `floor-server`.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = TempDir::new("floor")?;
        let port = child::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["floor-server", "--port", &port.to_string()]);
        let spawned = Instant::now();
        let mut proc = Proc::spawn("floor server", cmd, &dir.path().join("floor.log"))?;
        let startup = child::wait_ready(&mut proc, addr, "/healthz", spawned, Duration::from_secs(10)).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let idle = proc::sample(Some(proc.pid()))?;
        Ok(Self { addr, startup, idle, proc, _dir: dir })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub async fn stop(self) {
        self.proc.stop().await;
    }
}
