//! `gatehouse clients exchange-rules list|add|remove`: token exchange rules (RFC 8693), through
//! the same `ExchangeRuleAdmin` as the admin API (audited with actor `cli`).

use std::sync::Arc;

use anyhow::Context;
use gatehouse_core::oauth::{ExchangeRule, ExchangeRuleAdmin, NewExchangeRule};
use gatehouse_core::rbac::AdminCapability;
use gatehouse_core::{RequestContext, SystemClock};
use serde_json::{Value, json};

use crate::cli::ExchangeRulesCommand;
use crate::config::Settings;
use crate::server::Services;

pub async fn run(settings: &Settings, services: &Services, cmd: ExchangeRulesCommand) -> anyhow::Result<()> {
    // The same default audience the server signs tokens for (always a valid rule audience).
    let audience =
        if settings.tokens.audience.is_empty() { settings.issuer_id() } else { settings.tokens.audience.clone() };
    let admin = ExchangeRuleAdmin::new(
        services.stores.exchange_rules.clone(),
        services.stores.clients.clone(),
        services.stores.resources.clone(),
        services.stores.audit.clone(),
        Arc::new(SystemClock),
        audience,
    );
    let (cap, ctx) = (AdminCapability::operator_cli(), RequestContext::cli());
    match cmd {
        ExchangeRulesCommand::List { client_id, json } => {
            let rules = admin.rules(&cap, &client_id).await?;
            if json {
                println!("{}", Value::Array(rules.iter().map(rule_json).collect()));
            } else if rules.is_empty() {
                println!("no exchange rules: {client_id} may not exchange tokens");
            } else {
                for r in &rules {
                    println!("{}", summary(r));
                }
            }
        }
        ExchangeRulesCommand::Add {
            client_id,
            subject_clients,
            audiences,
            scopes,
            impersonation,
            delegation,
            json,
        } => {
            let new = NewExchangeRule {
                subject_clients,
                audiences,
                scopes,
                allow_impersonation: impersonation,
                allow_delegation: delegation,
            };
            let rule = admin.add(&cap, &client_id, new, &ctx).await?;
            if json {
                println!("{}", rule_json(&rule));
            } else {
                println!("added {}", summary(&rule));
            }
        }
        ExchangeRulesCommand::Remove { client_id, rule_id, json } => {
            let id = uuid::Uuid::try_parse(&rule_id).context("the rule id is a UUID")?;
            admin.remove(&cap, &client_id, id, &ctx).await?;
            if json {
                println!("{}", json!({ "removed": rule_id }));
            } else {
                println!("removed rule {rule_id}");
            }
        }
    }
    Ok(())
}

fn summary(r: &ExchangeRule) -> String {
    let modes = match (r.allow_impersonation, r.allow_delegation) {
        (true, true) => "impersonation+delegation",
        (true, false) => "impersonation",
        _ => "delegation",
    };
    format!(
        "{}  subjects={}  audiences={}  scopes={}  {modes}",
        r.id,
        r.subject_clients.join(","),
        r.audiences.join(","),
        r.scopes.join(" ")
    )
}

fn rule_json(r: &ExchangeRule) -> Value {
    json!({
        "id": r.id.to_string(),
        "client_id": r.client_id,
        "subject_clients": r.subject_clients,
        "audiences": r.audiences,
        "scopes": r.scopes,
        "allow_impersonation": r.allow_impersonation,
        "allow_delegation": r.allow_delegation,
        "created_at": r.created_at,
    })
}
