//! The client credentials grant (RFC 6749 §4.4): confidential clients only, no refresh token.

use super::{TokenContext, TokenResponse, param};
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::TokenRequest;
use crate::oauth::scope::Scope;
use crate::oauth::service::OAuthService;
use crate::token::Holder;

/// Scopes that describe a user and mean nothing without one.
const USER_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl OAuthService {
    pub(super) async fn client_credentials_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
    ) -> Result<TokenResponse, OAuthError> {
        if client.is_public() || !client.allows_grant(GrantType::ClientCredentials) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        let machine_scopes: Vec<String> =
            client.scopes.iter().filter(|s| !USER_SCOPES.contains(&s.as_str())).cloned().collect();
        // RFC 6749 §3.3: without a scope parameter the client's registered scopes apply.
        let scope = match param(&req.scope)? {
            Some(s) => {
                let s = Scope::parse(s).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !s.is_subset_of(&machine_scopes) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "the requested scope is not allowed for this client",
                    ));
                }
                s
            }
            None => Scope::from_vec(machine_scopes),
        };
        // RFC 8707 §2.2: any registered resource; the token carries only the scopes it accepts.
        let resource = self.token_resource(&req.resource, None).await?;
        let scope = match &resource {
            Some(r) => r.narrow(&scope),
            None => scope,
        };
        // The client's own roles (`client_roles`) when it asks for `roles` / `permissions`.
        let holder = Holder::Client(&client.id);
        let rbac = self.rbac_claims(holder, &scope).await?;
        let context =
            TokenContext { dpop_jkt: req.dpop_jkt.as_deref(), resource: resource.as_ref(), ..Default::default() };
        let (access_token, expires_in, token_type) = self.access_token(client, holder, &scope, rbac, context)?;
        let scope_text = scope.to_string();
        Ok(TokenResponse {
            access_token,
            token_type,
            expires_in,
            scope: (!scope_text.is_empty()).then_some(scope_text),
            refresh_token: None,
            id_token: None,
            issued_token_type: None,
        })
    }
}
