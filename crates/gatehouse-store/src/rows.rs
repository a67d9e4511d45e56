//! Rows as both backends return them, and their conversion to domain values. This is the only
//! place a row becomes a [`User`], [`Session`] or [`AuditEvent`]. A row the domain cannot
//! represent (an unknown user status; undecodable JSON or ids fail earlier, in sqlx, and are
//! mapped in `error`) is [`StoreError::Corrupt`], naming the row, never its data.

use gatehouse_core::audit::AuditEvent;
use gatehouse_core::email::Email;
use gatehouse_core::session::Session;
use gatehouse_core::store::StoreError;
use gatehouse_core::user::{User, UserId, UserStatus};
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    email: String,
    email_key: String,
    display_name: Option<String>,
    password_hash: Option<String>,
    status: String,
    email_verified: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let status = UserStatus::parse(&row.status)
            .ok_or_else(|| StoreError::Corrupt(format!("user {}: unknown status", row.id)))?;
        Ok(User {
            id: UserId(row.id),
            email: Email::from_stored(row.email, row.email_key),
            display_name: row.display_name,
            password_hash: row.password_hash,
            status,
            email_verified: row.email_verified,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    token_hash: Vec<u8>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Session {
            id: row.id,
            user_id: UserId(row.user_id),
            token_hash: row.token_hash,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            ip: row.ip,
            user_agent: row.user_agent,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AuditRow {
    occurred_at: i64,
    event_type: String,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    details: Json<serde_json::Value>,
}

impl From<AuditRow> for AuditEvent {
    fn from(row: AuditRow) -> Self {
        AuditEvent {
            occurred_at: row.occurred_at,
            event_type: row.event_type,
            actor: row.actor,
            subject: row.subject,
            ip: row.ip,
            user_agent: row.user_agent,
            outcome: row.outcome,
            details: row.details.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_row(status: &str) -> UserRow {
        UserRow {
            id: Uuid::now_v7(),
            email: "A@example.com".into(),
            email_key: "a@example.com".into(),
            display_name: None,
            password_hash: Some("$argon2id$v=19$…".into()),
            status: status.into(),
            email_verified: true,
            created_at: 1,
            updated_at: 2,
        }
    }

    #[test]
    fn user_rows_become_users() {
        let user = User::try_from(user_row("disabled")).unwrap();
        assert_eq!(user.status, UserStatus::Disabled);
        assert_eq!(user.email.as_str(), "A@example.com");
        assert_eq!(user.email.key(), "a@example.com");
    }

    #[test]
    fn an_unknown_status_is_corrupt_and_not_echoed() {
        let err = User::try_from(user_row("s3cret-status")).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(msg) if !msg.contains("s3cret")), "{err:?}");
    }
}
