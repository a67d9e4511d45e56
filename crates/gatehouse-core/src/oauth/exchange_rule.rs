//! Token exchange rules (RFC 8693 §1.1, §5): which client may exchange which tokens, for which
//! audiences and scopes, and whether as impersonation (no `actor_token`) or delegation (with
//! one). Nothing is exchanged without a rule; rules are managed by the admin API and CLI.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;
use uuid::Uuid;

use super::client::Client;
use super::scope::Scope;
use super::service::OAuthService;
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::rbac::{AdminCapability, RbacError};
use crate::store::{AuditStore, ClientStore, ResourceServerStore, StoreError};

/// `subject_clients` entry matching tokens of every client.
pub const ANY_CLIENT: &str = "*";
/// The most rules one client may have (each exchange reads them all).
pub const MAX_EXCHANGE_RULES: usize = 50;
/// The most entries in one of a rule's lists.
const MAX_LIST: usize = 100;

/// One rule of a requesting client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRule {
    pub id: Uuid,
    /// The client that sends the exchange request.
    pub client_id: String,
    /// Clients whose tokens may be the `subject_token` (`client_id` claim), or `*`.
    pub subject_clients: Vec<String>,
    /// Audiences the new token may be for: registered client ids or the server's default
    /// audience.
    pub audiences: Vec<String>,
    /// The most the new token may carry (also never more than the subject token's scope).
    pub scopes: Vec<String>,
    /// Without an `actor_token`: the new token speaks as the subject.
    pub allow_impersonation: bool,
    /// With an `actor_token`: the new token names the actor in `act` (RFC 8693 §4.1).
    pub allow_delegation: bool,
    pub created_at: UnixTime,
}

impl ExchangeRule {
    /// Whether tokens of `subject_client` may be exchanged for `audience` in this mode.
    pub fn admits(&self, subject_client: &str, audience: &str, delegation: bool) -> bool {
        let mode = if delegation { self.allow_delegation } else { self.allow_impersonation };
        mode && self.subject_clients.iter().any(|c| c == ANY_CLIENT || c == subject_client)
            && self.audiences.iter().any(|a| a == audience)
    }
}

/// A rule as an administrator asks for it.
#[derive(Debug, Clone, Default)]
pub struct NewExchangeRule {
    pub subject_clients: Vec<String>,
    pub audiences: Vec<String>,
    pub scopes: Vec<String>,
    pub allow_impersonation: bool,
    pub allow_delegation: bool,
}

fn check_list(name: &str, list: &[String]) -> Result<(), RbacError> {
    if list.is_empty() || list.len() > MAX_LIST {
        return Err(RbacError::Invalid(format!("{name} must list 1 to {MAX_LIST} entries")));
    }
    if list.iter().any(|v| v.is_empty() || v.len() > 255 || v.chars().any(|c| c.is_control() || c == ' ')) {
        return Err(RbacError::Invalid(format!("{name}: entries are 1 to 255 characters, no spaces or controls")));
    }
    Ok(())
}

/// Sorted, without repeats.
fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// Storage of exchange rules.
#[async_trait]
pub trait ExchangeRuleStore: Send + Sync {
    async fn insert_exchange_rule(&self, rule: &ExchangeRule) -> Result<(), StoreError>;
    /// The client's rules, oldest first.
    async fn exchange_rules(&self, client_id: &str) -> Result<Vec<ExchangeRule>, StoreError>;
    /// `false` when the client has no such rule.
    async fn delete_exchange_rule(&self, client_id: &str, id: Uuid) -> Result<bool, StoreError>;
}

/// Managing exchange rules (admin API and CLI, with an [`AdminCapability`]); every change is
/// audited.
pub struct ExchangeRuleAdmin {
    rules: Arc<dyn ExchangeRuleStore>,
    clients: Arc<dyn ClientStore>,
    resources: Arc<dyn ResourceServerStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
    /// The server's default access-token audience (always a valid rule audience).
    default_audience: String,
}

impl ExchangeRuleAdmin {
    pub fn new(
        rules: Arc<dyn ExchangeRuleStore>,
        clients: Arc<dyn ClientStore>,
        resources: Arc<dyn ResourceServerStore>,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        default_audience: String,
    ) -> Self {
        Self { rules, clients, resources, audit: Auditor::new(audit, clock.clone()), clock, default_audience }
    }

    async fn client(&self, client_id: &str) -> Result<Client, RbacError> {
        self.clients.client_by_id(client_id).await?.ok_or(RbacError::NotFound("client"))
    }

    /// The rules of `client_id` (404 for an unknown client).
    pub async fn rules(&self, _: &AdminCapability, client_id: &str) -> Result<Vec<ExchangeRule>, RbacError> {
        self.client(client_id).await?;
        Ok(self.rules.exchange_rules(client_id).await?)
    }

    /// Adds a rule for `client_id`. The requesting client must be confidential (public clients
    /// cannot exchange: RFC 8693 §5 wants the client authenticated); every audience must be a
    /// registered resource server, a registered client or the default audience; at least one
    /// mode must be allowed.
    pub async fn add(
        &self,
        cap: &AdminCapability,
        client_id: &str,
        new: NewExchangeRule,
        ctx: &RequestContext,
    ) -> Result<ExchangeRule, RbacError> {
        let client = self.client(client_id).await?;
        if client.is_public() {
            return Err(RbacError::Invalid("a public client cannot exchange tokens: no rule for it".into()));
        }
        check_list("subject_clients", &new.subject_clients)?;
        check_list("audiences", &new.audiences)?;
        check_list("scopes", &new.scopes)?;
        Scope::parse(&new.scopes.join(" ")).map_err(|e| RbacError::Invalid(format!("scopes: {e}")))?;
        if !new.allow_impersonation && !new.allow_delegation {
            return Err(RbacError::Invalid("allow impersonation, delegation or both".into()));
        }
        for audience in &new.audiences {
            let known = *audience == self.default_audience
                || self.resources.resource_server_by_identifier(audience).await?.is_some()
                || self.clients.client_by_id(audience).await?.is_some();
            if !known {
                return Err(RbacError::Invalid(format!(
                    "audience {audience:?} is neither a registered resource server or client nor the default audience"
                )));
            }
        }
        if self.rules.exchange_rules(client_id).await?.len() >= MAX_EXCHANGE_RULES {
            return Err(RbacError::Invalid(format!("a client has at most {MAX_EXCHANGE_RULES} exchange rules")));
        }
        let rule = ExchangeRule {
            id: Uuid::new_v4(),
            client_id: client.id,
            subject_clients: dedup(new.subject_clients),
            audiences: dedup(new.audiences),
            scopes: dedup(new.scopes),
            allow_impersonation: new.allow_impersonation,
            allow_delegation: new.allow_delegation,
            created_at: self.clock.now(),
        };
        self.rules.insert_exchange_rule(&rule).await?;
        let details = json!({
            "rule": rule.id.to_string(), "subject_clients": rule.subject_clients, "audiences": rule.audiences,
            "scopes": rule.scopes, "allow_impersonation": rule.allow_impersonation,
            "allow_delegation": rule.allow_delegation,
        });
        self.record(AuditEventType::ExchangeRuleAdded, cap, client_id, ctx, details).await?;
        Ok(rule)
    }

    /// Removes one rule of `client_id`; `NotFound` when it has no such rule.
    pub async fn remove(
        &self,
        cap: &AdminCapability,
        client_id: &str,
        id: Uuid,
        ctx: &RequestContext,
    ) -> Result<(), RbacError> {
        if !self.rules.delete_exchange_rule(client_id, id).await? {
            return Err(RbacError::NotFound("exchange rule"));
        }
        let details = json!({ "rule": id.to_string() });
        self.record(AuditEventType::ExchangeRuleRemoved, cap, client_id, ctx, details).await
    }

    async fn record(
        &self,
        event: AuditEventType,
        cap: &AdminCapability,
        client_id: &str,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), RbacError> {
        let (actor, subject) = (Some(cap.actor().to_string()), Some(format!("client:{client_id}")));
        Ok(self.audit.record(event, Outcome::Success, actor, subject, ctx, details).await?)
    }
}

impl OAuthService {
    /// The rule management over this service's stores (for the admin API).
    pub fn exchange_rule_admin(&self) -> ExchangeRuleAdmin {
        ExchangeRuleAdmin {
            rules: self.exchange_rules.clone(),
            clients: self.clients.clone(),
            resources: self.resources.clone(),
            audit: self.audit.clone(),
            clock: self.clock.clone(),
            default_audience: self.issuer.settings().audience.clone(),
        }
    }

    /// An audience a token may be exchanged for: the default audience or a registered client.
    pub(super) async fn audience_is_known(&self, audience: &str) -> Result<bool, StoreError> {
        if audience == self.issuer.settings().audience {
            return Ok(true);
        }
        Ok(self.clients.client_by_id(audience).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(subjects: &[&str], imp: bool, del: bool) -> ExchangeRule {
        ExchangeRule {
            id: Uuid::nil(),
            client_id: "svc".into(),
            subject_clients: subjects.iter().map(|s| s.to_string()).collect(),
            audiences: vec!["api".into()],
            scopes: vec!["read".into()],
            allow_impersonation: imp,
            allow_delegation: del,
            created_at: 0,
        }
    }

    #[test]
    fn a_rule_admits_only_its_subject_clients_audiences_and_modes() {
        let r = rule(&["web"], true, false);
        assert!(r.admits("web", "api", false));
        assert!(!r.admits("web", "api", true), "delegation not allowed");
        assert!(!r.admits("other", "api", false), "another subject client");
        assert!(!r.admits("web", "other-api", false), "another audience");
        assert!(rule(&["*"], false, true).admits("anyone", "api", true));
    }

    #[test]
    fn lists_are_checked() {
        assert!(check_list("x", &[]).is_err());
        assert!(check_list("x", &["a b".into()]).is_err());
        assert!(check_list("x", &["a\0".into()]).is_err());
        assert!(check_list("x", &["web".into()]).is_ok());
    }
}
