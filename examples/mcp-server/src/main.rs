//! Runs the example MCP server: `GATEHOUSE_ISSUER`, `MCP_RESOURCE` (the URL of its `/mcp`
//! endpoint, registered in Gatehouse as a resource server), `MCP_ALLOWED_ORIGINS` (comma
//! separated, optional) and `BIND` configure it.

use anyhow::Context as _;
use mcp_server::{Config, app, guard};

fn required_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,gatehouse_guard=debug"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let config = Config {
        issuer: required_env("GATEHOUSE_ISSUER")?,
        resource: required_env("MCP_RESOURCE")?,
        allowed_origins: std::env::var("MCP_ALLOWED_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8082".into());
    let guard = guard(&config)?;
    // Start even when the issuer is down: the guard keeps trying, and answers 503 meanwhile.
    if let Err(e) = guard.warm_up().await {
        tracing::warn!(error = %e, "the issuer's JWKS could not be fetched yet");
    }
    let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, resource = %config.resource, "mcp-server listening");
    axum::serve(listener, app(&config, guard)?)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
