//! Rows as both backends return them, and their conversion to domain values. This is the only
//! place a row becomes a [`User`], [`Session`], [`AuditEvent`], [`StoredKey`] or
//! [`RefreshFamily`]. A row the domain cannot represent (an unknown user status or key
//! algorithm; undecodable JSON or ids fail earlier, in sqlx, and are mapped in `error`) is
//! [`StoreError::Corrupt`], naming the row, never its data.

use gatehouse_core::audit::AuditEvent;
use gatehouse_core::email::Email;
use gatehouse_core::keys::{Algorithm, StoredKey};
use gatehouse_core::session::Session;
use gatehouse_core::store::StoreError;
use gatehouse_core::token::RefreshFamily;
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

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    alg: String,
    sealed_private_key: Vec<u8>,
    public_jwk: Json<serde_json::Value>,
    created_at: i64,
    activates_at: i64,
    rotation_slot: Option<i64>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        // The kid is public (it is in every JWKS), so it may name the row.
        let alg = Algorithm::parse(&row.alg)
            .ok_or_else(|| StoreError::Corrupt(format!("signing key {}: unknown algorithm", row.kid)))?;
        Ok(StoredKey {
            kid: row.kid,
            alg,
            sealed_private_key: row.sealed_private_key,
            public_jwk: row.public_jwk.0,
            created_at: row.created_at,
            activates_at: row.activates_at,
            rotation_slot: row.rotation_slot,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FamilyRow {
    id: Uuid,
    user_id: Uuid,
    client_id: String,
    scope: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    revoked_reason: Option<String>,
}

impl From<FamilyRow> for RefreshFamily {
    fn from(row: FamilyRow) -> Self {
        RefreshFamily {
            id: row.id,
            user_id: UserId(row.user_id),
            client_id: row.client_id,
            scope: row.scope,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            revoked_reason: row.revoked_reason,
        }
    }
}

/// A presented refresh token that a rotation could not consume: whether it was used, and its
/// family, to tell reuse from an expired or revoked token.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TokenStateRow {
    used_at: Option<i64>,
    #[sqlx(flatten)]
    family: FamilyRow,
}

impl TokenStateRow {
    /// The token's `used_at` and its family.
    pub(crate) fn into_parts(self) -> (Option<i64>, RefreshFamily) {
        (self.used_at, self.family.into())
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
    fn an_unknown_algorithm_is_corrupt() {
        let row = KeyRow {
            kid: "k1".into(),
            alg: "HS256".into(),
            sealed_private_key: vec![1, 2, 3],
            public_jwk: Json(serde_json::json!({ "kty": "oct" })),
            created_at: 1,
            activates_at: 1,
            rotation_slot: None,
        };
        let err = StoredKey::try_from(row).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(msg) if msg.contains("k1") && !msg.contains("HS256")), "{err:?}");
    }

    #[test]
    fn an_unknown_status_is_corrupt_and_not_echoed() {
        let err = User::try_from(user_row("s3cret-status")).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(msg) if !msg.contains("s3cret")), "{err:?}");
    }
}
