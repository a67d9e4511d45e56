//! `gatehouse providers list`: the upstream identity providers of the configuration, with what
//! to register at each (the redirect URI) and where each secret comes from — never the secret.

use serde_json::json;

use crate::cli::ProvidersCommand;
use crate::config::Settings;

pub fn run(settings: &Settings, cmd: ProvidersCommand) -> anyhow::Result<()> {
    let ProvidersCommand::List { json } = cmd;
    let configs = settings.federation.provider_configs()?;
    let issuer = settings.issuer_id();
    let rows: Vec<serde_json::Value> = configs
        .iter()
        .zip(&settings.federation.providers)
        .map(|(p, entry)| {
            let secret_ok = entry.secret().is_ok();
            json!({
                "id": p.id,
                "kind": p.kind.as_str(),
                "display_name": p.display_name,
                "issuer": p.issuer,
                "client_id": p.client_id,
                "scopes": p.scopes,
                "redirect_uri": p.redirect_uri(&issuer),
                "client_secret": entry.secret_source(),
                "client_secret_available": secret_ok,
            })
        })
        .collect();
    if json {
        let body = json!({ "provisioning": settings.federation.provisioning, "providers": rows });
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no upstream providers configured ([[federation.providers]] in gatehouse.toml)");
        return Ok(());
    }
    println!("provisioning: {}", settings.federation.provisioning);
    for r in &rows {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        let available = if r["client_secret_available"] == true { "available" } else { "NOT AVAILABLE" };
        println!("{} ({}, {})", s("id"), s("kind"), s("display_name"));
        println!("  issuer:        {}", s("issuer"));
        println!("  client id:     {}", s("client_id"));
        println!("  redirect URI:  {}", s("redirect_uri"));
        println!("  client secret: {} ({available})", s("client_secret"));
    }
    Ok(())
}
