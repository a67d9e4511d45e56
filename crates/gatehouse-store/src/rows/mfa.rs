//! Rows of second factors: TOTP factors, pending second steps, passkeys and passkey ceremonies.

use gatehouse_core::store::StoreError;
use gatehouse_core::user::UserId;
use uuid::Uuid;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TotpFactorRow {
    user_id: Uuid,
    secret_sealed: Vec<u8>,
    created_at: i64,
    confirmed_at: Option<i64>,
    last_used_step: Option<i64>,
}

impl From<TotpFactorRow> for gatehouse_core::mfa::TotpFactor {
    fn from(row: TotpFactorRow) -> Self {
        Self {
            user_id: UserId(row.user_id),
            secret_sealed: row.secret_sealed,
            created_at: row.created_at,
            confirmed_at: row.confirmed_at,
            last_used_step: row.last_used_step,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MfaChallengeRow {
    handle_hash: Vec<u8>,
    user_id: Uuid,
    channel: String,
    next: Option<String>,
    amr: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<MfaChallengeRow> for gatehouse_core::mfa::MfaChallenge {
    type Error = StoreError;

    fn try_from(row: MfaChallengeRow) -> Result<Self, StoreError> {
        let channel = gatehouse_core::mfa::MfaChannel::parse(&row.channel)
            .ok_or_else(|| StoreError::Corrupt(format!("MFA challenge of user {}: unknown channel", row.user_id)))?;
        Ok(Self {
            handle_hash: row.handle_hash,
            user_id: UserId(row.user_id),
            channel,
            next: row.next,
            amr: row.amr,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PasskeyRow {
    id: Uuid,
    user_id: Uuid,
    credential_id: Vec<u8>,
    name: String,
    credential: String,
    discoverable: bool,
    sign_count: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for gatehouse_core::mfa::passkey::PasskeyRecord {
    fn from(row: PasskeyRow) -> Self {
        Self {
            id: row.id,
            user_id: UserId(row.user_id),
            credential_id: row.credential_id,
            name: row.name,
            credential: row.credential,
            discoverable: row.discoverable,
            sign_count: row.sign_count,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CeremonyRow {
    handle_hash: Vec<u8>,
    purpose: String,
    user_id: Option<Uuid>,
    binding: Option<Vec<u8>>,
    state: String,
    created_at: i64,
    expires_at: i64,
}

impl TryFrom<CeremonyRow> for gatehouse_core::mfa::passkey::Ceremony {
    type Error = StoreError;

    fn try_from(row: CeremonyRow) -> Result<Self, StoreError> {
        let purpose = gatehouse_core::mfa::passkey::CeremonyPurpose::parse(&row.purpose)
            .ok_or_else(|| StoreError::Corrupt("passkey ceremony: unknown purpose".into()))?;
        Ok(Self {
            handle_hash: row.handle_hash,
            purpose,
            user_id: row.user_id.map(UserId),
            binding: row.binding,
            state: row.state,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}
