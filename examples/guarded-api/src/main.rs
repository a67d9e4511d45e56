//! Runs guarded-api: `GATEHOUSE_ISSUER`, `GUARD_AUDIENCE` and `BIND` configure it.

use anyhow::Context as _;
use gatehouse_guard::Guard;
use guarded_api::app;

fn required_env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,gatehouse_guard=debug"));
    tracing_subscriber::fmt().with_env_filter(filter).init();

    let issuer = required_env("GATEHOUSE_ISSUER")?;
    let audience = required_env("GUARD_AUDIENCE")?;
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8081".into());

    let guard = Guard::for_issuer(&issuer, &audience).context("guard configuration")?;
    // Start even when the issuer is down: the guard keeps trying, and answers 503 meanwhile.
    if let Err(e) = guard.warm_up().await {
        tracing::warn!(error = %e, "the issuer's JWKS could not be fetched yet");
    }

    let listener = tokio::net::TcpListener::bind(&bind).await.with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, %issuer, %audience, "guarded-api listening");
    axum::serve(listener, app(guard))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
