//! `gatehouse keys list|rotate|rewrap`.

use std::sync::Arc;

use anyhow::Context;
use gatehouse_core::SystemClock;
use gatehouse_core::keys::{Algorithm, MasterKey, SealedKind};

use crate::cli::KeysCommand;
use crate::config::Settings;
use crate::server;

pub async fn run(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<()> {
    let master = crate::secrets::master_key(settings)?;
    let services =
        server::build_with_master(settings, Arc::new(SystemClock), settings.auto_migrate, Some(master.clone())).await?;
    match cmd {
        // Not through `build_keys`: a signing key no key of the ring opens is reported by the
        // rewrap, instead of stopping the command.
        KeysCommand::Rewrap { dry_run, batch_size, json } => {
            rewrap(&services, &master, dry_run, batch_size, json).await?
        }
        KeysCommand::List { json } => {
            let list = server::build_keys(settings, &services, master).await?.list();
            if json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                println!("{:<44} {:<6} {:<8} {:>12} {:>12}", "kid", "alg", "state", "activates_at", "unpublish_at");
                for k in &list {
                    let unpublish = k.unpublish_at.map_or_else(|| "-".to_owned(), |t| t.to_string());
                    println!(
                        "{:<44} {:<6} {:<8} {:>12} {:>12}",
                        k.kid,
                        k.alg.as_str(),
                        k.state,
                        k.activates_at,
                        unpublish
                    );
                }
            }
        }
        KeysCommand::Rotate { alg, immediately, json } => {
            let algs = match alg {
                Some(a) => vec![
                    Algorithm::parse(&a)
                        .with_context(|| format!("unknown algorithm {a:?}; use ES256, EdDSA or RS256"))?,
                ],
                None => Algorithm::ALL.to_vec(),
            };
            let keys = server::build_keys(settings, &services, master).await?;
            let mut created = Vec::new();
            for alg in algs {
                let kid = keys.rotate(alg, immediately).await?;
                created.push(serde_json::json!({ "alg": alg.as_str(), "kid": kid }));
            }
            if json {
                println!("{}", serde_json::Value::Array(created));
            } else {
                let when = if immediately { "now" } else { "after the publish delay" };
                for c in &created {
                    println!(
                        "{} key {} created; it signs {when}",
                        c["alg"].as_str().unwrap_or_default(),
                        c["kid"].as_str().unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

/// `gatehouse keys rewrap`: see `gatehouse_core::keys::rewrap`.
async fn rewrap(
    services: &server::Services,
    master: &MasterKey,
    dry_run: bool,
    batch_size: u32,
    json: bool,
) -> anyhow::Result<()> {
    let report = gatehouse_core::keys::rewrap(
        services.stores.sealed.as_ref(),
        services.stores.audit.clone(),
        services.clock.clone(),
        master,
        batch_size,
        dry_run,
    )
    .await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let verb = if dry_run { "to rewrap" } else { "rewrapped" };
        println!("current master key {}; previous: {}", report.key_id, report.previous_key_ids.join(", "));
        println!("{:<12} {:>8} {:>10} {:>8} {:>8} {:>10}", "kind", "scanned", verb, "current", "changed", "unreadable");
        for kind in SealedKind::ALL {
            let c = report.counts(kind);
            println!(
                "{:<12} {:>8} {:>10} {:>8} {:>8} {:>10}",
                kind.as_str(),
                c.scanned,
                c.rewrapped,
                c.current,
                c.changed,
                c.unreadable
            );
        }
    }
    let unreadable: u64 = SealedKind::ALL.iter().map(|k| report.counts(*k).unreadable).sum();
    if unreadable > 0 {
        anyhow::bail!(
            "{unreadable} sealed value(s) open with no key of the ring (see the log lines above for the key each names): \
             add that key to GATEHOUSE_MASTER_KEY_PREVIOUS and run again"
        );
    }
    if !report.complete() && !dry_run {
        anyhow::bail!("some values changed while they were rewrapped: run `gatehouse keys rewrap` again");
    }
    if !dry_run {
        eprintln!("every sealed value is under master key {}: the previous keys can be removed", report.key_id);
    }
    Ok(())
}
