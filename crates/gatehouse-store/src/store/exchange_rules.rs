//! `ExchangeRuleStore`: token exchange rules (RFC 8693, migration 0023), their lists as JSON
//! arrays.

use async_trait::async_trait;
use gatehouse_core::oauth::{ExchangeRule, ExchangeRuleStore};
use gatehouse_core::store::StoreError;
use sqlx::types::Json;
use uuid::Uuid;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::sql;

#[derive(sqlx::FromRow)]
pub(crate) struct ExchangeRuleRow {
    id: Uuid,
    client_id: String,
    subject_clients: Json<Vec<String>>,
    audiences: Json<Vec<String>>,
    scopes: Json<Vec<String>>,
    allow_impersonation: bool,
    allow_delegation: bool,
    created_at: i64,
}

impl From<ExchangeRuleRow> for ExchangeRule {
    fn from(r: ExchangeRuleRow) -> Self {
        Self {
            id: r.id,
            client_id: r.client_id,
            subject_clients: r.subject_clients.0,
            audiences: r.audiences.0,
            scopes: r.scopes.0,
            allow_impersonation: r.allow_impersonation,
            allow_delegation: r.allow_delegation,
            created_at: r.created_at,
        }
    }
}

#[async_trait]
impl<D: Dialect> ExchangeRuleStore for SqlStore<D> {
    async fn insert_exchange_rule(&self, rule: &ExchangeRule) -> Result<(), StoreError> {
        self.query(sql::INSERT_EXCHANGE_RULE)
            .bind(rule.id)
            .bind(rule.client_id.as_str())
            .bind(Json(&rule.subject_clients))
            .bind(Json(&rule.audiences))
            .bind(Json(&rule.scopes))
            .bind(rule.allow_impersonation)
            .bind(rule.allow_delegation)
            .bind(rule.created_at)
            .execute()
            .await?;
        Ok(())
    }

    async fn exchange_rules(&self, client_id: &str) -> Result<Vec<ExchangeRule>, StoreError> {
        let rows: Vec<ExchangeRuleRow> = self.query(sql::EXCHANGE_RULES).bind(client_id).fetch_all().await?;
        Ok(rows.into_iter().map(ExchangeRule::from).collect())
    }

    async fn delete_exchange_rule(&self, client_id: &str, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.query(sql::DELETE_EXCHANGE_RULE).bind(client_id).bind(id).execute().await? > 0)
    }
}
