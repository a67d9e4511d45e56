//! `gatehouse keys list|rotate`.

use std::sync::Arc;

use anyhow::Context;
use gatehouse_core::SystemClock;
use gatehouse_core::keys::Algorithm;

use crate::cli::KeysCommand;
use crate::config::Settings;
use crate::server;

pub async fn run(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let master = crate::secrets::master_key(settings)?;
    let keys = server::build_keys(settings, &services, master).await?;
    match cmd {
        KeysCommand::List { json } => {
            let list = keys.list();
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
