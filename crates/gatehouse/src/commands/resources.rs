//! `gatehouse resources add|list|show|update|delete`: resource servers (RFC 8707), through the
//! same `ResourceAdmin` as the admin API (audited with actor `cli`). They are named by their
//! identifier, the URI clients send as `resource`.

use std::sync::Arc;

use clap::Subcommand;
use gatehouse_core::oauth::{ResourceRegistration, ResourceServer, ResourceUpdate};
use gatehouse_core::rbac::{AdminCapability, ResourceAdmin};
use gatehouse_core::{RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::server;

#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// Register a resource server. Its tokens carry `aud` = IDENTIFIER.
    Add {
        /// The resource indicator: an absolute URI without a fragment, e.g. https://api.example.com/.
        identifier: String,
        #[arg(long)]
        name: String,
        /// A scope its tokens may carry; repeatable.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Access-token lifetime in seconds (60..=86400); default: the server's.
        #[arg(long)]
        access_token_lifetime: Option<i64>,
        /// ES256 (default), EdDSA or RS256.
        #[arg(long)]
        signing_alg: Option<String>,
        /// Its tokens may carry the `permissions` claim (when the client asked for it).
        #[arg(long)]
        allow_permissions: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
    /// Change settings; options not given stay as they are.
    Update {
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces the scopes; repeatable.
        #[arg(long = "scope")]
        scopes: Option<Vec<String>>,
        /// Removes every scope.
        #[arg(long, conflicts_with = "scopes")]
        clear_scopes: bool,
        #[arg(long, conflicts_with = "default_lifetime")]
        access_token_lifetime: Option<i64>,
        /// Back to the server's access-token lifetime.
        #[arg(long)]
        default_lifetime: bool,
        #[arg(long)]
        signing_alg: Option<String>,
        #[arg(long)]
        allow_permissions: Option<bool>,
        #[arg(long)]
        json: bool,
    },
    /// Delete a resource server: no new tokens name it.
    Delete {
        identifier: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: &Settings, cmd: ResourcesCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let admin = ResourceAdmin::new(
        services.stores.resources.clone(),
        services.stores.audit.clone(),
        Arc::new(SystemClock),
        server::own_audiences(settings),
    );
    let (cap, ctx) = (AdminCapability::operator_cli(), RequestContext::cli());
    match cmd {
        ResourcesCommand::Add {
            identifier,
            name,
            scopes,
            access_token_lifetime,
            signing_alg,
            allow_permissions,
            json,
        } => {
            let registration = ResourceRegistration {
                identifier,
                name,
                scopes,
                access_token_lifetime,
                signing_alg,
                allow_permissions,
            };
            print(&admin.create(&cap, registration, &ctx).await?, json);
        }
        ResourcesCommand::List { json } => {
            let all = admin.resource_servers(&cap).await?;
            if json {
                println!("{}", Value::Array(all.iter().map(resource_json).collect()));
            } else {
                for r in &all {
                    println!("{}  {}  [{}]", r.identifier, r.name, r.scopes.join(" "));
                }
            }
        }
        ResourcesCommand::Show { identifier, json } => {
            print(&admin.resource_server_by_identifier(&cap, &identifier).await?, json);
        }
        ResourcesCommand::Update {
            identifier,
            name,
            scopes,
            clear_scopes,
            access_token_lifetime,
            default_lifetime,
            signing_alg,
            allow_permissions,
            json,
        } => {
            let rs = admin.resource_server_by_identifier(&cap, &identifier).await?;
            let update = ResourceUpdate {
                name,
                scopes: if clear_scopes { Some(Vec::new()) } else { scopes },
                access_token_lifetime: if default_lifetime { Some(None) } else { access_token_lifetime.map(Some) },
                signing_alg,
                allow_permissions,
            };
            print(&admin.update(&cap, rs.id, update, &ctx).await?, json);
        }
        ResourcesCommand::Delete { identifier, json } => {
            let rs = admin.resource_server_by_identifier(&cap, &identifier).await?;
            admin.delete(&cap, rs.id, &ctx).await?;
            if json {
                println!("{}", json!({ "deleted": rs.identifier }));
            } else {
                println!("deleted {}", rs.identifier);
            }
        }
    }
    Ok(())
}

fn print(rs: &ResourceServer, json: bool) {
    if json {
        println!("{}", resource_json(rs));
    } else {
        println!("{}", serde_json::to_string_pretty(&resource_json(rs)).unwrap_or_default());
    }
}

fn resource_json(r: &ResourceServer) -> Value {
    json!({
        "id": r.id.to_string(),
        "identifier": r.identifier,
        "name": r.name,
        "scopes": r.scopes,
        "access_token_lifetime": r.access_token_lifetime,
        "signing_alg": r.signing_alg.as_str(),
        "allow_permissions": r.allow_permissions,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "revision": r.revision,
    })
}
