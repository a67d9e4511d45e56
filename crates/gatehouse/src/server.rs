//! Wiring and the server loop: open the configured store, build the services, serve HTTP until
//! a shutdown signal, letting in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use gatehouse_core::{AccountService, Clock, PasswordHasher};
use gatehouse_http::{AppState, HttpSettings};
use gatehouse_store::Stores;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::config::Settings;

/// The services every command works with.
pub struct Services {
    pub stores: Stores,
    pub accounts: Arc<AccountService>,
}

/// Creates the data directory (mode 0700), opens the database (applying migrations when
/// `migrate`), and builds the account service.
pub async fn build(settings: &Settings, clock: Arc<dyn Clock>, migrate: bool) -> anyhow::Result<Services> {
    settings.validate()?;
    if settings.database_url().starts_with("sqlite:") {
        create_data_dir(&settings.data_dir)?;
    }
    let stores = gatehouse_store::connect(&settings.database_url(), migrate)
        .await
        .with_context(|| format!("opening database {}", gatehouse_store::redact_url(&settings.database_url())))?;
    let hasher = PasswordHasher::new(settings.password.hash_params(), settings.password.pool_size())
        .context("invalid password hashing parameters")?;
    let accounts = Arc::new(AccountService::new(
        stores.users.clone(),
        stores.sessions.clone(),
        stores.audit.clone(),
        Arc::new(hasher),
        clock,
        settings.account_settings(),
    ));
    Ok(Services { stores, accounts })
}

fn create_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// The process-wide Prometheus recorder (installed once, shared by every server in a process).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok()).clone()
}

/// Serves the application on `listener` until `shutdown` completes; in-flight requests finish.
pub async fn run(
    settings: Settings,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let issuer = settings.issuer_url()?;
    if issuer.scheme() == "http" {
        tracing::warn!(
            %issuer,
            "issuer is plain http on loopback: cookies are sent without Secure and without the __Host- prefix; \
             development only"
        );
    }
    let services = build(&settings, clock, settings.auto_migrate).await?;
    let state = AppState {
        accounts: services.accounts.clone(),
        health: services.stores.health.clone(),
        settings: Arc::new(HttpSettings::new(issuer.clone(), settings.body_limit)),
        metrics: metrics_handle(),
    };
    let purge = tokio::spawn(purge_sessions(services.accounts.clone()));
    let addr = listener.local_addr()?;
    tracing::info!(%addr, %issuer, backend = services.stores.backend.as_str(), "gatehouse listening");
    let app = gatehouse_http::app(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    purge.abort();
    served.context("server failed")
}

/// Deletes expired sessions every five minutes.
async fn purge_sessions(accounts: Arc<AccountService>) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        match accounts.purge_expired_sessions().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions removed"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
