//! `AuditStore` and `HealthCheck` on PostgreSQL: the append-only audit trail, and a ping.

use async_trait::async_trait;
use gatehouse_core::audit::{AuditEvent, AuditQuery, AuditRecord};
use gatehouse_core::store::{AuditStore, HealthCheck, StoreError};
use sqlx::types::Json;

use super::PgStore;
use crate::error::unavailable;
use crate::rows::{AuditRecordRow, AuditRow};
use crate::sql;

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        sqlx::query(sql::APPEND_AUDIT_EVENT)
            .bind(event.occurred_at)
            .bind(event.event_type.as_str())
            .bind(event.actor.as_deref())
            .bind(event.subject.as_deref())
            .bind(event.ip.as_deref())
            .bind(event.user_agent.as_deref())
            .bind(event.outcome.as_str())
            .bind(Json(&event.details))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn recent_audit_events(&self, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(sql::RECENT_AUDIT_EVENTS)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn query_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let rows: Vec<AuditRecordRow> = sqlx::query_as(sql::QUERY_AUDIT_EVENTS)
            .bind(query.from)
            .bind(query.until)
            .bind(query.event_type.as_deref())
            .bind(query.actor.as_deref())
            .bind(query.subject.as_deref())
            .bind(query.before_id)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(rows.into_iter().map(AuditRecord::from).collect())
    }
}

#[async_trait]
impl HealthCheck for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING).execute(&self.pool).await.map_err(unavailable)?;
        Ok(())
    }
}
