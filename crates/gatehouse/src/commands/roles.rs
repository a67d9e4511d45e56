//! `gatehouse roles create|list|grant|revoke` and `gatehouse permissions create|list|grant|revoke`.
//! They act as the operator (`actor = cli` in the audit trail) with the same rules as the admin
//! API: names validated, the built-in `admin` role kept, the last active admin protected.

use std::sync::Arc;

use anyhow::bail;
use gatehouse_core::rbac::{AdminCapability, Permission, RbacError, Role};
use gatehouse_core::{RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::cli::{PermissionsCommand, RolesCommand};
use crate::config::Settings;
use crate::server;

fn fail(e: RbacError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn run_roles(settings: &Settings, cmd: RolesCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let (rbac, cap, ctx) = (&services.rbac, AdminCapability::operator_cli(), RequestContext::cli());
    match cmd {
        RolesCommand::Create { name, description, json } => {
            let role = rbac.create_role(&cap, &name, description.as_deref(), &ctx).await.map_err(fail)?;
            print(json, role_json(&role, &[]), &format!("role {} created", role.name));
        }
        RolesCommand::List { json } => {
            let mut all = Vec::new();
            for role in rbac.list_roles(&cap).await.map_err(fail)? {
                let (_, permissions) = rbac.role(&cap, role.name.as_str()).await.map_err(fail)?;
                let permissions: Vec<String> = permissions.iter().map(ToString::to_string).collect();
                all.push(role_json(&role, &permissions));
            }
            if json {
                println!("{}", Value::Array(all));
            } else {
                for r in &all {
                    println!("{:<24} {}", r["name"].as_str().unwrap_or_default(), r["permissions"]);
                }
            }
        }
        RolesCommand::Grant { role, user, client, json } => {
            let added = match (user, client) {
                (Some(user), _) => {
                    let user = services.accounts.find_user(&user).await?;
                    rbac.grant_user_role(&cap, user.id, &role, &ctx).await.map_err(fail)?
                }
                (None, Some(client)) => rbac.grant_client_role(&cap, &client, &role, &ctx).await.map_err(fail)?,
                (None, None) => bail!("name a --user or a --client"),
            };
            let text = if added { format!("role {role} granted") } else { format!("role {role} was already held") };
            print(json, json!({ "role": role, "granted": added }), &text);
        }
        RolesCommand::Revoke { role, user, client, json } => {
            match (user, client) {
                (Some(user), _) => {
                    let user = services.accounts.find_user(&user).await?;
                    rbac.revoke_user_role(&cap, user.id, &role, &ctx).await.map_err(fail)?;
                }
                (None, Some(client)) => rbac.revoke_client_role(&cap, &client, &role, &ctx).await.map_err(fail)?,
                (None, None) => bail!("name a --user or a --client"),
            }
            print(json, json!({ "role": role, "revoked": true }), &format!("role {role} revoked"));
        }
    }
    Ok(())
}

pub async fn run_permissions(settings: &Settings, cmd: PermissionsCommand) -> anyhow::Result<()> {
    let services = server::build(settings, Arc::new(SystemClock), settings.auto_migrate).await?;
    let (rbac, cap, ctx) = (&services.rbac, AdminCapability::operator_cli(), RequestContext::cli());
    match cmd {
        PermissionsCommand::Create { name, description, json } => {
            let p = rbac.create_permission(&cap, &name, description.as_deref(), &ctx).await.map_err(fail)?;
            print(json, permission_json(&p), &format!("permission {} created", p.name));
        }
        PermissionsCommand::List { json } => {
            let all = rbac.list_permissions(&cap).await.map_err(fail)?;
            if json {
                println!("{}", Value::Array(all.iter().map(permission_json).collect()));
            } else {
                for p in &all {
                    println!("{:<40} {}", p.name, p.description.as_deref().unwrap_or(""));
                }
            }
        }
        PermissionsCommand::Grant { permission, role, json } => {
            let added = rbac.grant_permission(&cap, &role, &permission, &ctx).await.map_err(fail)?;
            let text = if added {
                format!("permission {permission} granted to role {role}")
            } else {
                format!("role {role} already had permission {permission}")
            };
            print(json, json!({ "role": role, "permission": permission, "granted": added }), &text);
        }
        PermissionsCommand::Revoke { permission, role, json } => {
            rbac.revoke_permission(&cap, &role, &permission, &ctx).await.map_err(fail)?;
            let text = format!("permission {permission} revoked from role {role}");
            print(json, json!({ "role": role, "permission": permission, "revoked": true }), &text);
        }
    }
    Ok(())
}

fn print(json: bool, value: Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

fn role_json(r: &Role, permissions: &[String]) -> Value {
    json!({
        "name": r.name,
        "description": r.description,
        "permissions": permissions,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

fn permission_json(p: &Permission) -> Value {
    json!({ "name": p.name, "description": p.description, "created_at": p.created_at, "updated_at": p.updated_at })
}
