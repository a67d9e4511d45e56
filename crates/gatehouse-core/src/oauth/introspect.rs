//! Token introspection (RFC 7662), revocation (RFC 7009) and the UserInfo response (OpenID
//! Connect Core §5.3). JWT signatures are checked at the HTTP edge (with `gatehouse-guard`);
//! here the verified claims meet the revocation state and the caller's rights.

use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::service::OAuthService;
use crate::token::RefreshToken;
use crate::user::UserId;

/// Claims of an access token whose signature, issuer, audience and lifetime were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub client_id: String,
    pub scope: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub sid: Option<String>,
    /// RFC 9068 §2.2.3.1 `roles`, present when the token carries it.
    pub roles: Option<Vec<String>>,
    /// Gatehouse's `permissions` claim, present when the token carries it.
    pub permissions: Option<Vec<String>>,
    /// RFC 9068 §2.2.1: the sign-in behind the token (none for client credentials).
    pub auth_time: Option<i64>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// RFC 9449 §6.1: the DPoP key thumbprint of a bound token.
    pub dpop_jkt: Option<String>,
    /// RFC 8693 §4.1: the acting party of an exchanged (delegated) token, possibly nested.
    pub act: Option<Value>,
}

/// RFC 7662 §2.2. Inactive tokens answer `{"active": false}` and nothing else.
#[derive(Debug, Serialize, Default)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 7662 §2.2 allows further claims: the token's `roles` and `permissions`, as signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// RFC 7662 §2.2 further claims: how and when the user behind the token signed in (the
    /// token's own `auth_time`, `acr` and `amr`; for a refresh token, its family's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// RFC 9449 §6.2: a DPoP-bound token's confirmation, `{"jkt": …}`, top-level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<serde_json::Value>,
    /// RFC 8693 §4.1: the actor of a delegated token, as signed (nested for a chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
}

/// A client may introspect tokens issued to it; resource servers registered with the scope
/// `introspect` may introspect any token.
fn may_see(caller: &Client, token_client: &str) -> bool {
    caller.id == token_client || caller.scopes.iter().any(|s| s == "introspect")
}

impl OAuthService {
    /// Whether the verified token still stands ([`crate::token::RefreshService::access_token_is_live`]).
    async fn token_is_live(&self, claims: &TokenClaims) -> Result<bool, OAuthError> {
        self.refresh.access_token_is_live(&claims.client_id, claims.sid.as_deref(), &claims.jti).await.map_err(|e| {
            tracing::error!(error = %e, "revocation check failed");
            OAuthError::server_error()
        })
    }

    /// RFC 7662 §2.1/§2.2. `jwt` holds the verified claims when `token` is a valid access token.
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
        jwt: Option<TokenClaims>,
    ) -> Result<Introspection, OAuthError> {
        if let Some(c) = jwt {
            // The edge verified `exp` with the clock-skew leeway other verifiers need; the
            // issuer's own clock is authoritative, so the token is inactive from `exp` on.
            let expired = c.exp <= self.clock.now();
            if expired || !may_see(caller, &c.client_id) || !self.token_is_live(&c).await? {
                return Ok(Introspection::default());
            }
            return Ok(Introspection {
                active: true,
                scope: c.scope,
                client_id: Some(c.client_id),
                // RFC 9449 §6.2: if present, token_type is DPoP for a bound token.
                token_type: Some(if c.dpop_jkt.is_some() { "DPoP" } else { "Bearer" }),
                exp: Some(c.exp),
                iat: Some(c.iat),
                sub: Some(c.sub),
                aud: Some(c.aud),
                iss: Some(c.iss),
                jti: Some(c.jti),
                roles: c.roles,
                permissions: c.permissions,
                auth_time: c.auth_time,
                acr: c.acr,
                amr: (!c.amr.is_empty()).then_some(c.amr),
                cnf: c.dpop_jkt.map(|jkt| serde_json::json!({ "jkt": jkt })),
                act: c.act,
            });
        }
        let presented = RefreshToken::from_client(token);
        let now = self.clock.now();
        let current = self.refresh.current_family(&presented).await.map_err(|e| {
            tracing::error!(error = %e, "introspection lookup failed");
            OAuthError::server_error()
        })?;
        let usable = match &current {
            Some(f) => self.refresh.client_is_usable(&f.client_id).await.map_err(|e| {
                tracing::error!(error = %e, "introspection lookup failed");
                OAuthError::server_error()
            })?,
            None => false,
        };
        match current {
            Some(f) if usable && may_see(caller, &f.client_id) && f.is_live(now) => Ok(Introspection {
                active: true,
                scope: f.scope,
                client_id: Some(f.client_id),
                token_type: Some("refresh_token"),
                exp: Some(f.expires_at),
                iat: Some(f.created_at),
                sub: Some(f.user_id.to_string()),
                iss: Some(self.settings.issuer.clone()),
                auth_time: f.auth.auth_time_claim(),
                acr: f.auth.acr_claim(),
                amr: Some(f.auth.amr_values()).filter(|a| !a.is_empty()),
                ..Introspection::default()
            }),
            _ => Ok(Introspection::default()),
        }
    }

    /// RFC 7009 §2.1: revoking a refresh token revokes its family; revoking an access token
    /// revokes the grant it belongs to, or, when it belongs to none (client credentials), the
    /// token itself until it expires. `token_type_hint` is only a hint (§2.1): every token is
    /// recognised whatever it says. Unknown tokens succeed silently (§2.2); a token of another
    /// client is refused. A storage failure is an error, never a claimed success.
    pub async fn revoke(&self, caller: &Client, token: &str, jwt: Option<TokenClaims>) -> Result<(), OAuthError> {
        let refused = || OAuthError::new(ErrorCode::UnauthorizedClient, "the token was not issued to this client");
        let server = |e: crate::token::RefreshError| {
            tracing::error!(error = %e, "revocation failed");
            OAuthError::server_error()
        };
        let family = match jwt {
            Some(c) if c.client_id != caller.id => return Err(refused()),
            Some(c) if c.sid.is_none() => {
                return self.refresh.revoke_access_token(&c.jti, &c.client_id, c.exp).await.map_err(server);
            }
            Some(c) => c.sid.and_then(|s| Uuid::try_parse(&s).ok()),
            None => match self.refresh.family_of(&RefreshToken::from_client(token)).await.map_err(server)? {
                Some(f) if f.client_id != caller.id => return Err(refused()),
                Some(f) => Some(f.id),
                None => None,
            },
        };
        if let Some(id) = family {
            self.refresh.revoke_family(id, "revoked_by_client").await.map_err(server)?;
        }
        Ok(())
    }

    /// OpenID Connect Core §5.3: claims about the token's user, filtered by its scopes. `None`
    /// when the token's grant was revoked or the user is gone or disabled.
    pub async fn userinfo(&self, claims: &TokenClaims) -> Result<Option<Value>, OAuthError> {
        if !self.token_is_live(claims).await? {
            return Ok(None);
        }
        let Some(id) = UserId::parse(&claims.sub) else {
            return Ok(None);
        };
        let Some(user) = self.accounts.active_user(id).await.map_err(|_| OAuthError::server_error())? else {
            return Ok(None);
        };
        let scopes: Vec<&str> = claims.scope.as_deref().unwrap_or_default().split(' ').collect();
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.id.to_string()));
        if scopes.contains(&"email") {
            out.insert("email".into(), json!(user.email.as_str()));
            out.insert("email_verified".into(), json!(user.email_verified));
        }
        if scopes.contains(&"profile") {
            if let Some(name) = &user.display_name {
                out.insert("name".into(), json!(name));
            }
            out.insert("updated_at".into(), json!(user.updated_at));
        }
        Ok(Some(Value::Object(out)))
    }
}
