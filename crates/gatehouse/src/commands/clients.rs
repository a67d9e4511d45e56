//! `gatehouse clients create|list|show|update|rotate-secret|set-jwks|disable|enable|delete`,
//! through the same `ClientAdmin` as the admin API and the console.

use std::sync::Arc;

use anyhow::{Context, bail};
use gatehouse_core::oauth::{Client, ClientRegistration, ClientUpdate, MAX_JWKS_BYTES};
use gatehouse_core::rbac::{AdminCapability, ClientAdmin};
use gatehouse_core::{RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::cli::{ClientsCommand, RegistrationTokenCommand};
use crate::config::Settings;
use crate::server;

pub async fn run(settings: &Settings, cmd: ClientsCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    // Client changes are security events (DESIGN.md §1 "Audit"), from the CLI too: the
    // service records them with actor `cli`.
    let admin = ClientAdmin::new(services.stores.clients.clone(), services.stores.audit.clone(), Arc::new(SystemClock));
    let (cap, ctx) = (AdminCapability::operator_cli(), RequestContext::cli());
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
            require_par,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            dpop_bound_access_tokens,
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
                require_pushed_authorization_requests: require_par,
                backchannel_logout_uri,
                backchannel_logout_session_required,
                dpop_bound_access_tokens,
            };
            let (client, secret) = admin.create_client(&cap, registration, &ctx).await?;
            print_with_secret(&client, secret.as_ref().map(|s| s.expose()), json);
        }
        ClientsCommand::List { json } => {
            let all = admin.clients(&cap).await?;
            if json {
                println!("{}", Value::Array(all.iter().map(client_json).collect()));
            } else {
                for c in &all {
                    let kind = if c.is_public() { "public" } else { "confidential" };
                    let state = if c.is_disabled() { "  (disabled)" } else { "" };
                    println!("{}  {:<12}  {}{state}", c.id, kind, c.name);
                }
            }
        }
        ClientsCommand::Show { client_id, json } => {
            let c = admin.client(&cap, &client_id).await?;
            if json {
                println!("{}", client_json(&c));
            } else {
                println!("{}", serde_json::to_string_pretty(&client_json(&c))?);
            }
        }
        ClientsCommand::Delete { client_id, json } => {
            admin.delete_client(&cap, &client_id, &ctx).await?;
            if json {
                println!("{}", json!({ "client_id": client_id, "deleted": true }));
            } else {
                println!("client {client_id} deleted");
            }
        }
        ClientsCommand::Update {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            clear_post_logout_redirect_uris,
            cors_origins,
            clear_cors_origins,
            scopes,
            grant_types,
            skip_consent,
            require_mfa,
            require_par,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            dpop_bound_access_tokens,
            auth_method,
            access_token_lifetime,
            jwks_file,
            json,
        } => {
            let list = |v: Vec<String>, clear: bool| (clear || !v.is_empty()).then_some(v);
            let access_token_lifetime = match access_token_lifetime.as_deref() {
                None => None,
                Some("default") => Some(None),
                Some(n) => Some(Some(n.parse().context("--access-token-lifetime: seconds, or default")?)),
            };
            let update = ClientUpdate {
                name,
                redirect_uris: list(redirect_uris, false),
                post_logout_redirect_uris: list(post_logout_redirect_uris, clear_post_logout_redirect_uris),
                grant_types: list(grant_types, false),
                scopes: list(scopes, false),
                cors_origins: list(cors_origins, clear_cors_origins),
                skip_consent,
                auth_method,
                access_token_lifetime,
                require_mfa,
                require_pushed_authorization_requests: require_par,
                backchannel_logout_uri: backchannel_logout_uri.map(|u| Some(u).filter(|u| u != "none")),
                backchannel_logout_session_required,
                dpop_bound_access_tokens,
                jwks: jwks_file.as_deref().map(read_jwks).transpose()?,
                expected_revision: None,
            };
            let (client, secret) = admin.update_client(&cap, &client_id, update, &ctx).await?;
            print_with_secret(&client, secret.as_ref().map(|s| s.expose()), json);
        }
        ClientsCommand::RotateSecret { client_id, overlap, json } => {
            let overlap = overlap.as_deref().map(parse_overlap).transpose()?;
            let (client, secret) = admin.rotate_secret(&cap, &client_id, overlap, &ctx).await?;
            print_with_secret(&client, Some(secret.expose()), json);
            if !json {
                match client.lifecycle.previous_secret_expires_at {
                    Some(t) => println!("the previous secret works until {t} (Unix time)"),
                    None => println!("the previous secret no longer works"),
                }
            }
        }
        ClientsCommand::SetJwks { client_id, jwks_file, json } => {
            let client = admin.replace_jwks(&cap, &client_id, read_jwks(&jwks_file)?, &ctx).await?;
            print_with_secret(&client, None, json);
        }
        ClientsCommand::Disable { client_id, json } => {
            let client = admin.set_disabled(&cap, &client_id, true, &ctx).await?;
            print_with_secret(&client, None, json);
        }
        ClientsCommand::Enable { client_id, json } => {
            let client = admin.set_disabled(&cap, &client_id, false, &ctx).await?;
            print_with_secret(&client, None, json);
        }
        ClientsCommand::ExchangeRules(cmd) => {
            super::exchange_rules::run(settings, &services, cmd).await?;
        }
        ClientsCommand::RegistrationToken(RegistrationTokenCommand::Create { expires_in, json }) => {
            let dcr = crate::self_registration::dynamic_registration(
                settings,
                &services.stores,
                Arc::new(SystemClock),
                true,
            )?
            .context("dynamic registration is not available")?;
            let (token, expires_at) =
                dcr.create_initial_access_token(expires_in).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", json!({ "initial_access_token": token, "expires_at": expires_at }));
            } else {
                println!("initial_access_token: {token}   (shown once: store it now)");
                println!("expires_at:           {expires_at} (Unix time)");
                if settings.oauth.registration.mode != crate::config::RegistrationModeConfig::InitialAccessToken {
                    println!(
                        "note: [oauth.registration] mode is not \"initial_access_token\": the token is not asked for"
                    );
                }
            }
        }
    }
    Ok(())
}

/// The client as JSON (`--json`, with `client_secret` when one was issued), or its id and the
/// secret to store, shown this once.
fn print_with_secret(client: &Client, secret: Option<&str>, json: bool) {
    if json {
        let mut out = client_json(client);
        if let Some(s) = secret {
            out["client_secret"] = json!(s);
        }
        println!("{out}");
    } else {
        println!("client_id:     {}", client.id);
        if let Some(s) = secret {
            println!("client_secret: {s}   (shown once: store it now)");
        }
        if client.is_disabled() {
            println!("disabled");
        }
    }
}

/// `--overlap`: seconds, or a number with `s`, `m`, `h` or `d`.
fn parse_overlap(raw: &str) -> anyhow::Result<i64> {
    let (digits, unit) = match raw.trim().char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h' | 'd'))) => (&raw.trim()[..i], c),
        _ => (raw.trim(), 's'),
    };
    let n: i64 = digits.parse().with_context(|| format!("--overlap {raw:?}: use seconds or e.g. 30m, 12h, 1d"))?;
    let factor = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => 1,
    };
    n.checked_mul(factor).with_context(|| format!("--overlap {raw:?} is too long"))
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
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "dpop_bound_access_tokens": c.dpop_bound_access_tokens,
        "access_token_lifetime": c.access_token_lifetime,
        "created_at": c.created_at,
        "jwks": c.jwks.as_ref().map(|j| j.as_json()),
        "disabled": c.is_disabled(),
        "disabled_at": c.lifecycle.disabled_at,
        "secret_rotated_at": c.lifecycle.secret_rotated_at,
        "previous_secret_expires_at": c.lifecycle.previous_secret_expires_at,
        "registration": c.lifecycle.registration.as_str(),
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

#[cfg(test)]
mod tests {
    #[test]
    fn overlaps_in_seconds_or_with_a_unit() {
        for (raw, secs) in [("3600", 3600), ("0", 0), ("1d", 86_400), ("12h", 43_200), ("30m", 1800), ("5s", 5)] {
            assert_eq!(super::parse_overlap(raw).ok(), Some(secs), "{raw}");
        }
        for bad in ["", "d", "1w", "-", "1.5h", "99999999999999999999d"] {
            assert!(super::parse_overlap(bad).is_err(), "{bad}");
        }
    }
}
