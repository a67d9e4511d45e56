//! Refreshing an access token (RFC 6749 §6) with rotation and reuse detection (RFC 9700
//! §4.14.2); the scope may only narrow, and never beyond what the client is registered for now.

use super::{TokenContext, TokenResponse, param, required};
use crate::audit::RequestContext;
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::TokenRequest;
use crate::oauth::scope::Scope;
use crate::oauth::service::OAuthService;
use crate::token::{Holder, RefreshError, RefreshToken};

impl OAuthService {
    pub(super) async fn refresh_token_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        let presented = RefreshToken::from_client(required(&req.refresh_token, "refresh_token")?);
        // A storage failure is 503 while the database is unreachable, else a logged 500.
        let server = OAuthError::from;
        // Checked before rotating, so another client cannot burn (or trigger reuse detection on)
        // a token it does not own.
        let family = self.refresh.family_of(&presented).await.map_err(server)?;
        let Some(current) = family.filter(|f| f.client_id == client.id) else {
            return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
        };
        // Only families signed in with a second factor are issued to such a client; one that
        // was not (the client was made to require it later) is refused, and not consumed.
        if client.require_mfa && !current.auth.has_mfa() {
            return Err(OAuthError::invalid_grant("this client requires a sign-in with a second factor"));
        }
        // RFC 9449 §5: a bound refresh token is usable only with a proof by its key.
        if let Some(bound) = current.dpop_jkt.as_deref() {
            match req.dpop_jkt.as_deref() {
                None => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "the refresh token is bound to a DPoP key: send a DPoP proof by that key",
                    ));
                }
                Some(jkt) if jkt != bound => {
                    return Err(OAuthError::invalid_grant("the refresh token is bound to another DPoP key"));
                }
                Some(_) => {}
            }
        } else if let Some(jkt) = req.dpop_jkt.as_deref().filter(|_| client.is_public()) {
            // §5: a refresh token issued to a public client that presents a proof MUST be bound
            // to its key, also when the grant began without DPoP.
            self.refresh.bind_dpop(current.id, jkt).await.map_err(server)?;
        }
        // What the user granted, narrowed to what the client may still ask for: a scope an
        // admin has since taken off the client (PATCH, console, `clients update`) is not issued
        // again by an older grant.
        let granted =
            Scope::parse(current.scope.as_deref().unwrap_or_default()).map_err(|_| OAuthError::server_error())?;
        let granted = Scope::from_vec(granted.into_vec().into_iter().filter(|s| client.scopes.contains(s)).collect());
        let scope = match param(&req.scope)? {
            Some(requested) => {
                let requested =
                    Scope::parse(requested).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
                if !requested.is_subset_of(&granted.clone().into_vec()) {
                    return Err(OAuthError::new(ErrorCode::InvalidScope, "the scope may only narrow on refresh"));
                }
                requested
            }
            None => granted,
        };
        // RFC 8707 §2.2: a refresh may narrow to one of the resources the grant was given, never
        // add another.
        let resource = self.token_resource(&req.resource, Some(current.id)).await?;
        let scope = match &resource {
            Some(r) => r.narrow(&scope),
            None => scope,
        };
        // Roles and permissions are read again for every refresh (a role revoked since is not in
        // the new token), and before rotating: a storage failure must not consume the token.
        let rbac = self.rbac_claims(Holder::User(current.user_id), &scope).await?;
        let (next, family) = match self.refresh.rotate(&presented, ctx).await {
            Ok(v) => v,
            Err(RefreshError::Invalid) => {
                return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
            }
            Err(e) => return Err(server(e)),
        };
        if self.accounts.active_user(family.user_id).await?.is_none() {
            return Err(OAuthError::invalid_grant("the user is no longer active"));
        }
        // OIDC Core §12.2: what a refreshed token says about the authentication is the original
        // sign-in's `amr`, `acr` and `auth_time`, not the refresh's.
        let context = TokenContext {
            sid: Some(family.id.to_string()),
            auth: Some(&family.auth),
            dpop_jkt: req.dpop_jkt.as_deref(),
            resource: resource.as_ref(),
        };
        let (access_token, expires_in, token_type) =
            self.access_token(client, Holder::User(family.user_id), &scope, rbac, context)?;
        let scope_text = scope.to_string();
        Ok(TokenResponse {
            access_token,
            token_type,
            expires_in,
            scope: Some(scope_text),
            refresh_token: Some(next.expose().to_owned()),
            id_token: None,
            issued_token_type: None,
        })
    }
}
