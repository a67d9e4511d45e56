//! Wiring of client self-registration: Client ID Metadata Documents in front of the client
//! store, the RFC 7591/7592 service, and the sweeper of registrations never used.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use gatehouse_core::Clock;
use gatehouse_core::audit::Auditor;
use gatehouse_core::oauth::{DynamicRegistration, MetadataDocumentClients, sweep_unused_registrations};
use gatehouse_http::upstream::metadata_document::{FetchSettings, MetadataDocumentHttp};
use gatehouse_store::Stores;

use crate::config::Settings;

/// With `[oauth.client_id_metadata_document] enabled`, https client_ids are resolved by
/// fetching them: the client store every service sees gets the resolver in front.
pub fn resolve_metadata_documents(
    settings: &Settings,
    stores: &mut Stores,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let cfg = &settings.oauth.client_id_metadata_document;
    if !cfg.enabled {
        return Ok(());
    }
    if cfg.allow_private_addresses_insecure_dev_only {
        tracing::warn!(
            "oauth.client_id_metadata_document.allow_private_addresses_insecure_dev_only is on: client metadata \
             documents are fetched from loopback and private addresses too. Never use this in production."
        );
    }
    let extra_ca_pem = match &cfg.extra_ca_file {
        Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let fetcher = MetadataDocumentHttp::new(&FetchSettings {
        allow_private_addresses_insecure_dev_only: cfg.allow_private_addresses_insecure_dev_only,
        extra_ca_pem,
        max_bytes: cfg.max_document_bytes,
        timeout: Duration::from_secs(cfg.fetch_timeout),
    })
    .map_err(|e| anyhow::anyhow!("oauth.client_id_metadata_document: {e}"))?;
    let policy = cfg.policy(settings.oauth.registration.policy()?);
    stores.clients = Arc::new(MetadataDocumentClients::new(
        stores.clients.clone(),
        Arc::new(fetcher),
        clock,
        policy,
        stores.audit.clone(),
    ));
    Ok(())
}

/// The RFC 7591/7592 service, or `None` when `[oauth.registration] mode = "disabled"`. The CLI
/// builds it whatever the mode (to issue initial access tokens).
pub fn dynamic_registration(
    settings: &Settings,
    stores: &Stores,
    clock: Arc<dyn Clock>,
    always: bool,
) -> anyhow::Result<Option<Arc<DynamicRegistration>>> {
    let mode = match (settings.oauth.registration.mode(), always) {
        (Some(m), _) => m,
        (None, true) => gatehouse_core::oauth::RegistrationMode::InitialAccessToken,
        (None, false) => return Ok(None),
    };
    Ok(Some(Arc::new(DynamicRegistration::new(
        stores.clients.clone(),
        stores.self_registration.clone(),
        stores.audit.clone(),
        clock,
        settings.oauth.registration.policy()?,
        mode,
        &settings.issuer_id(),
    ))))
}

/// Every `sweep_interval` seconds: delete self-registered clients never used within
/// `unused_registration_lifetime` (both kinds; a metadata-document client comes back by itself
/// when it is used again).
pub async fn sweeper(stores: Stores, clock: Arc<dyn Clock>, settings: crate::config::RegistrationConfig) {
    let lifetime = settings.unused_registration_lifetime;
    let audit = Auditor::new(stores.audit.clone(), clock.clone());
    let mut every = tokio::time::interval(Duration::from_secs(settings.sweep_interval));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if lifetime == 0 {
            continue;
        }
        match sweep_unused_registrations(&*stores.clients, &*stores.self_registration, &audit, clock.now(), lifetime)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "self-registered clients never used were removed"),
            Err(e) => tracing::warn!(error = %e, "sweeping unused self-registered clients failed"),
        }
    }
}
