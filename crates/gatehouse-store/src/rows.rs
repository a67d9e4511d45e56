//! Rows as both backends return them, and their conversion to domain values. This is the only
//! place a row becomes a [`User`], [`Session`], [`AuditEvent`], [`StoredKey`],
//! [`RefreshFamily`], [`Client`], [`AuthorizationCode`] or [`Consent`]. A row the domain cannot
//! represent (an unknown user status, key algorithm, grant type or client authentication
//! method; undecodable JSON or ids fail earlier, in sqlx, and are mapped in `error`) is
//! [`StoreError::Corrupt`], naming the row, never its data.

use gatehouse_core::acr::AuthContext;
use gatehouse_core::audit::{AuditEvent, AuditRecord};
use gatehouse_core::email::Email;
use gatehouse_core::keys::{Algorithm, StoredKey};
use gatehouse_core::oauth::{
    AuthMethod, AuthorizationCode, Client, ClientJwks, ClientLifecycle, Consent, GrantType, RegistrationKind,
};
use gatehouse_core::rbac::{Permission, PermissionName, Role, RoleName};
use gatehouse_core::session::Session;
use gatehouse_core::store::StoreError;
use gatehouse_core::token::{FamilyActivity, RefreshFamily};
use gatehouse_core::user::{User, UserId, UserStatus};
use sqlx::types::Json;
use uuid::Uuid;

mod account;
mod device;
mod mfa;
mod resource;

pub(crate) use account::{AccountTokenRow, InvitationRow, MailRow, MailStatusRow};
pub(crate) use device::DeviceRow;
pub(crate) use mfa::{CeremonyRow, MfaChallengeRow, PasskeyRow, TotpFactorRow};
pub(crate) use resource::ResourceServerRow;

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) email_key: String,
    pub(crate) display_name: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) status: String,
    pub(crate) email_verified: bool,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
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
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) token_hash: Vec<u8>,
    pub(crate) created_at: i64,
    pub(crate) last_seen_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
    pub(crate) amr: String,
    pub(crate) auth_time: i64,
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
            amr: row.amr,
            auth_time: row.auth_time,
        }
    }
}

/// A session joined with its user ([`crate::sql::SESSION_WITH_USER`]).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionUserRow {
    #[sqlx(flatten)]
    pub(crate) session: SessionRow,
    pub(crate) user_email: String,
    pub(crate) user_email_key: String,
    pub(crate) user_display_name: Option<String>,
    pub(crate) user_password_hash: Option<String>,
    pub(crate) user_status: String,
    pub(crate) user_email_verified: bool,
    pub(crate) user_created_at: i64,
    pub(crate) user_updated_at: i64,
}

impl TryFrom<SessionUserRow> for (Session, User) {
    type Error = StoreError;

    fn try_from(row: SessionUserRow) -> Result<Self, StoreError> {
        let user = User::try_from(UserRow {
            id: row.session.user_id,
            email: row.user_email,
            email_key: row.user_email_key,
            display_name: row.user_display_name,
            password_hash: row.user_password_hash,
            status: row.user_status,
            email_verified: row.user_email_verified,
            created_at: row.user_created_at,
            updated_at: row.user_updated_at,
        })?;
        Ok((Session::from(row.session), user))
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
pub(crate) struct AuditRecordRow {
    id: i64,
    #[sqlx(flatten)]
    event: AuditRow,
}

impl From<AuditRecordRow> for AuditRecord {
    fn from(row: AuditRecordRow) -> Self {
        AuditRecord { id: row.id, event: row.event.into() }
    }
}

/// The LIKE pattern for "contains `needle`" (everything when `None`), with the needle's
/// `\\`, `%` and `_` escaped (`ESCAPE '\\'` in the statements), so they match literally.
pub(crate) fn like_pattern(needle: Option<&str>) -> String {
    let mut pattern = String::from("%");
    for c in needle.unwrap_or_default().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A row of `roles` or `permissions` (same columns).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NamedRow {
    name: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<NamedRow> for Role {
    type Error = StoreError;

    fn try_from(row: NamedRow) -> Result<Self, StoreError> {
        Ok(Role {
            name: role_name(row.name)?,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

impl TryFrom<NamedRow> for Permission {
    type Error = StoreError;

    fn try_from(row: NamedRow) -> Result<Self, StoreError> {
        Ok(Permission {
            name: permission_name(row.name)?,
            description: row.description,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Names are validated on the way in; one that no longer parses is corrupt (and is public
/// data, so it may be named).
pub(crate) fn role_name(name: String) -> Result<RoleName, StoreError> {
    RoleName::parse(&name).map_err(|_| StoreError::Corrupt(format!("role {name:?}: invalid name")))
}

pub(crate) fn permission_name(name: String) -> Result<PermissionName, StoreError> {
    PermissionName::parse(&name).map_err(|_| StoreError::Corrupt(format!("permission {name:?}: invalid name")))
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
    pub(crate) id: Uuid,
    pub(crate) user_id: Uuid,
    pub(crate) client_id: String,
    pub(crate) scope: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) revoked_reason: Option<String>,
    pub(crate) amr: String,
    pub(crate) acr: String,
    pub(crate) auth_time: i64,
    pub(crate) dpop_jkt: Option<String>,
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
            auth: AuthContext { amr: row.amr, acr: row.acr, auth_time: row.auth_time },
            dpop_jkt: row.dpop_jkt,
        }
    }
}

/// A live family with its origin and last use (`sql::LIVE_REFRESH_FAMILIES`).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FamilyActivityRow {
    #[sqlx(flatten)]
    family: FamilyRow,
    ip: Option<String>,
    user_agent: Option<String>,
    last_used_at: Option<i64>,
}

impl From<FamilyActivityRow> for FamilyActivity {
    fn from(row: FamilyActivityRow) -> Self {
        let family = RefreshFamily::from(row.family);
        let last_used_at = row.last_used_at.unwrap_or(family.created_at);
        FamilyActivity { family, ip: row.ip, user_agent: row.user_agent, last_used_at }
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
    pub(crate) fn new(used_at: Option<i64>, family: FamilyRow) -> Self {
        Self { used_at, family }
    }

    /// The token's `used_at` and its family.
    pub(crate) fn into_parts(self) -> (Option<i64>, RefreshFamily) {
        (self.used_at, self.family.into())
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    auth_method: String,
    redirect_uris: Json<Vec<String>>,
    post_logout_redirect_uris: Json<Vec<String>>,
    grant_types: Json<Vec<String>>,
    scopes: Json<Vec<String>>,
    cors_origins: Json<Vec<String>>,
    skip_consent: bool,
    access_token_lifetime: Option<i64>,
    created_at: i64,
    jwks: Option<Json<serde_json::Value>>,
    require_mfa: bool,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_expires_at: Option<i64>,
    secret_rotated_at: Option<i64>,
    disabled_at: Option<i64>,
    revision: i64,
    require_pushed_authorization_requests: bool,
    registration: String,
    registration_token_hash: Option<Vec<u8>>,
    metadata_expires_at: Option<i64>,
    first_used_at: Option<i64>,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: bool,
    dpop_bound_access_tokens: bool,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        // Client ids are public (they travel in every authorization request): they may name the row.
        let auth_method = AuthMethod::parse(&row.auth_method)
            .ok_or_else(|| StoreError::Corrupt(format!("client {}: unknown authentication method", row.id)))?;
        let grant_types = row
            .grant_types
            .0
            .iter()
            .map(|g| GrantType::parse(g))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StoreError::Corrupt(format!("client {}: unknown grant type", row.id)))?;
        let registration = RegistrationKind::parse(&row.registration)
            .ok_or_else(|| StoreError::Corrupt(format!("client {}: unknown registration kind", row.id)))?;
        Ok(Client {
            id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            auth_method,
            redirect_uris: row.redirect_uris.0,
            post_logout_redirect_uris: row.post_logout_redirect_uris.0,
            grant_types,
            scopes: row.scopes.0,
            cors_origins: row.cors_origins.0,
            skip_consent: row.skip_consent,
            access_token_lifetime: row.access_token_lifetime,
            created_at: row.created_at,
            jwks: row.jwks.map(|j| ClientJwks::from_stored(j.0)),
            require_mfa: row.require_mfa,
            require_pushed_authorization_requests: row.require_pushed_authorization_requests,
            backchannel_logout_uri: row.backchannel_logout_uri,
            backchannel_logout_session_required: row.backchannel_logout_session_required,
            dpop_bound_access_tokens: row.dpop_bound_access_tokens,
            lifecycle: ClientLifecycle {
                revision: row.revision,
                secret_rotated_at: row.secret_rotated_at,
                previous_secret_hash: row.previous_secret_hash,
                previous_secret_expires_at: row.previous_secret_expires_at,
                disabled_at: row.disabled_at,
                registration,
                registration_token_hash: row.registration_token_hash,
                metadata_expires_at: row.metadata_expires_at,
                first_used_at: row.first_used_at,
            },
        })
    }
}

/// A client's grant types as stored: their RFC 6749 names, in the client's order.
pub(crate) fn grant_type_names(client: &Client) -> Json<Vec<&'static str>> {
    Json(client.grant_types.iter().map(|g| g.as_str()).collect())
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CodeRow {
    pub(crate) code_hash: Vec<u8>,
    pub(crate) client_id: String,
    pub(crate) user_id: Uuid,
    pub(crate) redirect_uri: String,
    pub(crate) scope: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: Option<String>,
    pub(crate) auth_time: i64,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) grant_id: Uuid,
    pub(crate) amr: String,
    pub(crate) dpop_jkt: Option<String>,
}

impl From<CodeRow> for AuthorizationCode {
    fn from(row: CodeRow) -> Self {
        AuthorizationCode {
            code_hash: row.code_hash,
            client_id: row.client_id,
            user_id: UserId(row.user_id),
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            auth_time: row.auth_time,
            created_at: row.created_at,
            expires_at: row.expires_at,
            grant_id: row.grant_id,
            amr: row.amr,
            dpop_jkt: row.dpop_jkt,
        }
    }
}

/// A presented code that a redemption could not mark: whether it was used, and its data.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CodeStateRow {
    pub(crate) used_at: Option<i64>,
    #[sqlx(flatten)]
    pub(crate) code: CodeRow,
}

impl CodeStateRow {
    /// The code's `used_at` and the code.
    pub(crate) fn into_parts(self) -> (Option<i64>, AuthorizationCode) {
        (self.used_at, self.code.into())
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConsentRow {
    client_id: String,
    scopes: Json<Vec<String>>,
    granted_at: i64,
}

impl From<ConsentRow> for Consent {
    fn from(row: ConsentRow) -> Self {
        Consent { client_id: row.client_id, scopes: row.scopes.0, granted_at: row.granted_at }
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

    fn client_row(auth_method: &str, grant_types: &[&str]) -> ClientRow {
        let list = |items: &[&str]| Json(items.iter().map(|s| (*s).to_owned()).collect());
        ClientRow {
            id: "app-1".into(),
            name: "App".into(),
            secret_hash: None,
            auth_method: auth_method.into(),
            redirect_uris: list(&["https://app.example.com/cb"]),
            post_logout_redirect_uris: list(&[]),
            grant_types: list(grant_types),
            scopes: list(&["openid"]),
            cors_origins: list(&[]),
            skip_consent: false,
            access_token_lifetime: None,
            created_at: 1,
            jwks: None,
            require_mfa: false,
            require_pushed_authorization_requests: false,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            dpop_bound_access_tokens: false,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            secret_rotated_at: None,
            disabled_at: None,
            revision: 0,
            registration: "admin".into(),
            registration_token_hash: None,
            metadata_expires_at: None,
            first_used_at: None,
        }
    }

    #[test]
    fn client_rows_become_clients() {
        let client = Client::try_from(client_row("none", &["authorization_code", "refresh_token"])).unwrap();
        assert_eq!(client.auth_method, AuthMethod::None);
        assert_eq!(client.grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
        assert_eq!(grant_type_names(&client).0, ["authorization_code", "refresh_token"]);
    }

    #[test]
    fn unknown_grant_types_and_auth_methods_are_corrupt_and_not_echoed() {
        for row in [client_row("none", &["authorization_code", "s3cret-grant"]), client_row("s3cret-method", &[])] {
            let err = Client::try_from(row).unwrap_err();
            assert!(
                matches!(&err, StoreError::Corrupt(msg) if msg.contains("app-1") && !msg.contains("s3cret")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn an_unknown_status_is_corrupt_and_not_echoed() {
        let err = User::try_from(user_row("s3cret-status")).unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(msg) if !msg.contains("s3cret")), "{err:?}");
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IdentityRow {
    provider: String,
    subject: String,
    user_id: Uuid,
    email: Option<String>,
    created_at: i64,
    last_login_at: i64,
}

impl From<IdentityRow> for gatehouse_core::federation::FederatedIdentity {
    fn from(row: IdentityRow) -> Self {
        Self {
            provider: row.provider,
            subject: row.subject,
            user_id: UserId(row.user_id),
            email: row.email,
            created_at: row.created_at,
            last_login_at: row.last_login_at,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LoginStateRow {
    state_hash: Vec<u8>,
    binding_hash: Vec<u8>,
    provider: String,
    return_to: Option<String>,
    link_user: Option<Uuid>,
    force_login: bool,
    pending_subject: Option<String>,
    pending_user: Option<Uuid>,
    pending_email: Option<String>,
    created_at: i64,
    expires_at: i64,
}

impl From<LoginStateRow> for gatehouse_core::federation::LoginState {
    fn from(row: LoginStateRow) -> Self {
        let pending = match (row.pending_subject, row.pending_user) {
            (Some(subject), Some(user)) => Some(gatehouse_core::federation::PendingLink {
                subject,
                user_id: UserId(user),
                email: row.pending_email,
            }),
            _ => None,
        };
        Self {
            state_hash: row.state_hash,
            binding_hash: row.binding_hash,
            provider: row.provider,
            return_to: row.return_to,
            link_user: row.link_user.map(UserId),
            force_login: row.force_login,
            pending,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}
