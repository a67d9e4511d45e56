//! `gatehouse clients create|list|show|delete`.

use std::sync::Arc;

use anyhow::{Context, bail};
use gatehouse_core::audit::{AuditEventType, Auditor, Outcome};
use gatehouse_core::oauth::{Client, ClientRegistration, MAX_JWKS_BYTES, generate_client_id};
use gatehouse_core::{Clock, RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::cli::ClientsCommand;
use crate::config::Settings;
use crate::server;

pub async fn run(settings: &Settings, cmd: ClientsCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let clients = services.stores.clients.clone();
    // Client changes are security events (DESIGN.md §1 "Audit"), from the CLI too.
    let audit = Auditor::new(services.stores.audit.clone(), Arc::new(SystemClock));
    let record = |event, id: String, details: Value| {
        let audit = audit.clone();
        async move {
            audit.record(event, Outcome::Success, Some("cli".into()), Some(id), &RequestContext::cli(), details).await
        }
    };
    match cmd {
        ClientsCommand::Create {
            name,
            grant_types,
            redirect_uris,
            scopes,
            public,
            auth_method,
            jwks_file,
            post_logout_redirect_uris,
            cors_origins,
            skip_consent,
            require_mfa,
            access_token_lifetime,
            json,
        } => {
            let jwks = jwks_file.as_deref().map(read_jwks).transpose()?;
            let registration = ClientRegistration {
                name,
                public,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes,
                cors_origins,
                skip_consent,
                auth_method,
                access_token_lifetime,
                jwks,
                require_mfa,
            };
            let id = generate_client_id().context("generating a client id")?;
            let (client, secret) = registration.validate(id, SystemClock.now())?;
            clients.insert_client(&client).await?;
            record(
                AuditEventType::ClientCreated,
                client.id.clone(),
                json!({ "name": client.name, "public": client.is_public(), "require_mfa": client.require_mfa }),
            )
            .await?;
            let mut out = client_json(&client);
            if let Some(s) = &secret {
                out["client_secret"] = json!(s.expose());
            }
            if json {
                println!("{out}");
            } else {
                println!("client_id:     {}", client.id);
                if let Some(s) = &secret {
                    println!("client_secret: {}   (shown once: store it now)", s.expose());
                }
            }
        }
        ClientsCommand::List { json } => {
            let all = clients.list_clients().await?;
            if json {
                println!("{}", Value::Array(all.iter().map(client_json).collect()));
            } else {
                for c in &all {
                    let kind = if c.is_public() { "public" } else { "confidential" };
                    println!("{}  {:<12}  {}", c.id, kind, c.name);
                }
            }
        }
        ClientsCommand::Show { client_id, json } => {
            let Some(c) = clients.client_by_id(&client_id).await? else { bail!("no client {client_id:?}") };
            if json {
                println!("{}", client_json(&c));
            } else {
                println!("{}", serde_json::to_string_pretty(&client_json(&c))?);
            }
        }
        ClientsCommand::Delete { client_id, json } => {
            if !clients.delete_client(&client_id).await? {
                bail!("no client {client_id:?}");
            }
            record(AuditEventType::ClientDeleted, client_id.clone(), json!({})).await?;
            if json {
                println!("{}", json!({ "client_id": client_id, "deleted": true }));
            } else {
                println!("client {client_id} deleted");
            }
        }
    }
    Ok(())
}

/// Everything about a client except its secret hash.
fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id,
        "name": c.name,
        "public": c.is_public(),
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes,
        "cors_origins": c.cors_origins,
        "skip_consent": c.skip_consent,
        "require_mfa": c.require_mfa,
        "access_token_lifetime": c.access_token_lifetime,
        "created_at": c.created_at,
        "jwks": c.jwks.as_ref().map(|j| j.as_json()),
    })
}

/// Reads a JWK Set file; its rules are checked by the registration.
fn read_jwks(path: &std::path::Path) -> anyhow::Result<Value> {
    let len = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if len > MAX_JWKS_BYTES as u64 * 2 {
        bail!("{}: a JWK Set file must be under {} bytes", path.display(), MAX_JWKS_BYTES);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}
