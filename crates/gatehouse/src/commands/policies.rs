//! `gatehouse policies put|list|show|delete|test` and `gatehouse policies schema get|put`.
//! They act as the operator (`actor = cli` in the audit trail) with the same rules as the admin
//! API: a document that does not parse or validate is refused with Cedar's message (non-zero
//! exit) and never stored.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use gatehouse_core::policy::{DecisionRequest, PolicyError, PolicyVersion};
use gatehouse_core::rbac::{Actor, AdminCapability};
use gatehouse_core::{Clock, ManualClock, RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::cli::{PoliciesCommand, SchemaCommand};
use crate::config::Settings;
use crate::server;

fn fail(e: PolicyError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// The named file's text, or standard input's.
fn read_input(file: Option<&Path>) -> anyhow::Result<String> {
    match file {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display())),
        None => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading standard input")?;
            Ok(text)
        }
    }
}

pub async fn run(settings: &Settings, cmd: PoliciesCommand) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = match &cmd {
        PoliciesCommand::Test { at: Some(at), .. } => ManualClock::new(*at),
        _ => Arc::new(SystemClock),
    };
    let services = server::build(settings, clock, settings.auto_migrate).await?;
    let (policies, cap, ctx) = (&services.policies, AdminCapability::operator_cli(), RequestContext::cli());
    match cmd {
        PoliciesCommand::Put { name, file, json } => {
            let body = read_input(file.as_deref())?;
            let v = policies.put(&cap, &name, &body, &ctx).await.map_err(fail)?;
            print(json, version_json(&v), &format!("policy {} stored as version {}", v.name, v.version));
        }
        PoliciesCommand::List { json } => {
            let all = policies.list(&cap).await.map_err(fail)?;
            if json {
                println!("{}", Value::Array(all.iter().map(version_json).collect()));
            } else {
                for p in &all {
                    println!("{:<32} version {:<4} by {}", p.name, p.version, p.author);
                }
            }
        }
        PoliciesCommand::Show { name, json } => {
            let versions = policies.versions(&cap, &name).await.map_err(fail)?;
            if json {
                println!("{}", Value::Array(versions.iter().map(version_json).collect()));
            } else {
                for v in &versions {
                    let state = if v.body.is_some() { "" } else { " (deleted)" };
                    println!("version {} at {} by {}{state}", v.version, v.created_at, v.author);
                }
                if let Some(body) = versions.last().and_then(|v| v.body.as_deref()) {
                    println!("\n{body}");
                }
            }
        }
        PoliciesCommand::Delete { name, json } => {
            policies.delete(&cap, &name, &ctx).await.map_err(fail)?;
            print(json, json!({ "name": name, "deleted": true }), &format!("policy {name} deleted"));
        }
        PoliciesCommand::Test { file, at: _, mfa, json } => {
            let text = read_input(file.as_deref())?;
            let mut req: DecisionRequest =
                serde_json::from_str(&text).context("the request is not an AuthZEN evaluation request")?;
            if mfa {
                req.subject_mfa = Some(true);
            }
            let d = policies.decide(&Actor::Cli, &req, &ctx).await.map_err(fail)?;
            if json {
                println!("{}", json!({ "decision": d.allowed, "basis": d.basis(), "explanation": d.explanation }));
            } else {
                println!("decision: {}", if d.allowed { "allow" } else { "deny" });
                println!("basis: {}", d.basis());
                println!("{}", serde_json::to_string_pretty(&d.explanation)?);
            }
        }
        PoliciesCommand::Schema(SchemaCommand::Get) => {
            println!("{}", policies.schema(&cap).await.map_err(fail)?.text);
        }
        PoliciesCommand::Schema(SchemaCommand::Put { file, json }) => {
            let body = read_input(file.as_deref())?;
            let v = policies.put_schema(&cap, &body, &ctx).await.map_err(fail)?;
            print(json, version_json(&v), &format!("schema stored as version {}", v.version));
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

fn version_json(v: &PolicyVersion) -> Value {
    json!({
        "name": v.name,
        "version": v.version,
        "body": v.body,
        "deleted": v.body.is_none(),
        "author": v.author,
        "created_at": v.created_at,
        "revision": v.revision,
    })
}
