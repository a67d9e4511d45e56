//! Rows of the account lifecycle: single-use account links, the mail queue, invitations.

use gatehouse_core::email::Email;
use gatehouse_core::mail::{MailStatus, QueuedMail};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;
use sqlx::types::Json;
use uuid::Uuid;

use super::role_name;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AccountTokenRow {
    token_hash: Vec<u8>,
    user_id: Uuid,
    purpose: String,
    email: String,
    email_key: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<AccountTokenRow> for gatehouse_core::account::tokens::AccountToken {
    type Error = StoreError;

    fn try_from(row: AccountTokenRow) -> Result<Self, StoreError> {
        use gatehouse_core::account::tokens::TokenPurpose;
        let purpose = TokenPurpose::parse(&row.purpose)
            .ok_or_else(|| StoreError::Corrupt(format!("account token of user {}: unknown purpose", row.user_id)))?;
        Ok(Self {
            token_hash: row.token_hash,
            user_id: UserId(row.user_id),
            purpose,
            email: Email::from_stored(row.email, row.email_key),
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MailRow {
    id: Uuid,
    kind: String,
    sealed_body: Option<Vec<u8>>,
    attempts: i64,
    next_attempt_at: i64,
    created_at: i64,
    locked_until: Option<i64>,
}

impl TryFrom<MailRow> for QueuedMail {
    type Error = StoreError;

    fn try_from(row: MailRow) -> Result<Self, StoreError> {
        let sealed_body =
            row.sealed_body.ok_or_else(|| StoreError::Corrupt(format!("queued mail {}: no body", row.id)))?;
        Ok(QueuedMail {
            id: row.id,
            kind: row.kind,
            sealed_body,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt_at: row.next_attempt_at,
            created_at: row.created_at,
            locked_until: row.locked_until,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MailStatusRow {
    kind: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
}

impl From<MailStatusRow> for MailStatus {
    fn from(row: MailStatusRow) -> Self {
        MailStatus {
            kind: row.kind,
            status: row.status,
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt_at: row.next_attempt_at,
            last_error: row.last_error,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InvitationRow {
    id: Uuid,
    token_hash: Vec<u8>,
    email: String,
    email_key: String,
    roles: Json<Vec<String>>,
    invited_by: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
    accepted_user_id: Option<Uuid>,
    revoked_at: Option<i64>,
}

impl TryFrom<InvitationRow> for gatehouse_core::invitation::Invitation {
    type Error = StoreError;

    fn try_from(row: InvitationRow) -> Result<Self, StoreError> {
        let roles = row.roles.0.into_iter().map(role_name).collect::<Result<_, _>>()?;
        Ok(Self {
            id: row.id,
            token_hash: row.token_hash,
            email: Email::from_stored(row.email, row.email_key),
            roles,
            invited_by: row.invited_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            accepted_at: row.accepted_at,
            accepted_user_id: row.accepted_user_id.map(UserId),
            revoked_at: row.revoked_at,
        })
    }
}
