//! `AuditStore` and `HealthCheck`: the append-only audit trail, and a ping.

use async_trait::async_trait;
use gatehouse_core::audit::{AuditEvent, AuditQuery, AuditRecord};
use gatehouse_core::store::{AuditStore, HealthCheck, StoreError};
use sqlx::types::Json;

use super::SqlStore;
use crate::dialect::Dialect;
use crate::rows::{AuditRecordRow, AuditRow};
use crate::sql;

#[async_trait]
impl<D: Dialect> AuditStore for SqlStore<D> {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.query(sql::APPEND_AUDIT_EVENT)
            .bind(event.occurred_at)
            .bind(event.event_type.as_str())
            .bind(event.actor.as_deref())
            .bind(event.subject.as_deref())
            .bind(event.ip.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(event.outcome.as_str())
            .bind(Json(&event.details))
            .execute()
            .await?;
        Ok(())
    }

    async fn recent_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = self.query(sql::RECENT_AUDIT_EVENTS).bind(i64::from(limit)).fetch_all().await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn query_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRecordRow> = self
            .query(sql::QUERY_AUDIT_EVENTS)
            .bind(query.from)
            .bind(query.until)
            .bind(query.event_type.as_deref())
            .bind(query.actor.as_deref())
            .bind(query.subject.as_deref())
            .bind(query.before_id)
            .bind(i64::from(query.limit))
            .fetch_all()
            .await?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }
}

#[async_trait]
impl<D: Dialect> HealthCheck for SqlStore<D> {
    async fn ping(&self) -> Result<(), StoreError> {
        self.query(sql::PING).execute().await?;
        Ok(())
    }
}
