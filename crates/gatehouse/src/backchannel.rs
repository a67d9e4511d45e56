//! Back-channel logout wiring (OpenID Connect Back-Channel Logout 1.0): the sender of logout
//! tokens the server runs beside HTTP, like the mail worker. Sessions end anywhere (this node,
//! another node, the CLI); their rows wait in the database, and whichever node claims a row
//! first sends it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_core::Clock;
use gatehouse_core::audit::Auditor;
use gatehouse_core::keys::KeyService;
use gatehouse_core::oauth::backchannel::{BackchannelDelivery, BackchannelSessions};
use gatehouse_http::backchannel::HttpLogoutSender;
use gatehouse_store::Stores;
use tokio::sync::watch;

use crate::config::Settings;

/// The sending half, over the same [`BackchannelSessions`] the accounts report ended sessions to.
pub fn build_delivery(
    settings: &Settings,
    stores: &Stores,
    sessions: Arc<BackchannelSessions>,
    keys: Arc<KeyService>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Arc<BackchannelDelivery>> {
    let config = &settings.backchannel_logout;
    let sender = HttpLogoutSender::new(config.timeout()).context("back-channel logout HTTP client")?;
    Ok(Arc::new(BackchannelDelivery::new(
        sessions,
        stores.clients.clone(),
        keys,
        settings.issuer_id(),
        Arc::new(sender),
        clock.clone(),
        Auditor::new(stores.audit.clone(), clock),
        config.retry_policy(),
    )))
}

/// Rounds between purges of old failed rows (about an hour at the default poll interval).
const PURGE_EVERY: u64 = 720;

/// Sends what is due, then waits until a session ends on this node or `poll` passes. Stops
/// between rounds when `stop` turns true.
pub async fn worker(
    delivery: Arc<BackchannelDelivery>,
    poll: Duration,
    failed_retention: i64,
    mut stop: watch::Receiver<bool>,
) {
    for round in 0u64.. {
        match delivery.deliver_due().await {
            Ok(r) if r.sent + r.retried + r.failed > 0 => {
                tracing::debug!(sent = r.sent, retried = r.retried, failed = r.failed, "back-channel logout round");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "back-channel logout round failed"),
        }
        if round % PURGE_EVERY == PURGE_EVERY - 1
            && let Err(e) = delivery.purge_failed(failed_retention).await
        {
            tracing::warn!(error = %e, "purging failed back-channel logouts failed");
        }
        tokio::select! {
            () = delivery.sessions().wait_for_work(poll) => {}
            changed = stop.changed() => if changed.is_err() { break },
        }
        if *stop.borrow() {
            break;
        }
    }
}
