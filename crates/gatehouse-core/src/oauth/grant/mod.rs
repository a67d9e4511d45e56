//! The token endpoint's grants (RFC 6749 §4.1.3, §4.4, §6; RFC 8628 §3.4) and its response
//! (§5.1).

mod authorization_code;
mod client_credentials;
mod device_code;
mod refresh_token;
mod token_exchange;

use serde::Serialize;

use super::authorize::REPEATED;
use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::params::{Param, TokenRequest};
use super::resource::ResourceServer;
use super::scope::Scope;
use super::service::OAuthService;
use crate::acr::AuthContext;
use crate::audit::RequestContext;
use crate::token::{AccessTokenRequest, Holder, NewGrant, RbacClaims};

/// RFC 6749 §5.1 successful response (plus OpenID Connect Core §3.1.3.3 `id_token`).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: the type of the token a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

pub use token_exchange::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};

pub(super) fn param(param: &Param) -> Result<Option<&str>, OAuthError> {
    param.get().map_err(|_| OAuthError::invalid_request(REPEATED))
}

pub(super) fn required<'a>(param_: &'a Param, name: &str) -> Result<&'a str, OAuthError> {
    param(param_)?.ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
}

impl OAuthService {
    /// `POST /oauth2/token` for an authenticated client.
    pub async fn token(
        &self,
        req: &TokenRequest,
        client: &Client,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        // RFC 9449 §5.2: "the authorization server MUST reject token requests from the client
        // that do not contain the DPoP header" (before the grant, so no code or refresh token
        // is spent on a request that cannot succeed).
        if client.dpop_bound_access_tokens && req.dpop_jkt.is_none() {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this client's token requests must carry a DPoP proof (dpop_bound_access_tokens)",
            ));
        }
        match required(&req.grant_type, "grant_type")? {
            "authorization_code" => self.authorization_code_grant(req, client, ctx).await,
            "refresh_token" => self.refresh_token_grant(req, client, ctx).await,
            "client_credentials" => self.client_credentials_grant(req, client).await,
            super::client::DEVICE_CODE_GRANT => self.device_code_grant(req, client, ctx).await,
            TOKEN_EXCHANGE_GRANT => self.token_exchange_grant(req, client, ctx).await,
            _ => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "supported grant types: authorization_code, refresh_token, client_credentials, \
                 urn:ietf:params:oauth:grant-type:device_code, \
                 urn:ietf:params:oauth:grant-type:token-exchange",
            )),
        }
    }

    /// The `roles` and `permissions` claims of `holder`, read from the RBAC store now when
    /// `scope` asks for them (RFC 9068 §2.2.3.1), so every issuance reflects the current grants.
    async fn rbac_claims(&self, holder: Holder<'_>, scope: &Scope) -> Result<RbacClaims, OAuthError> {
        let claims = RbacClaims::for_scope(self.rbac.as_ref(), holder, scope).await.map_err(|e| {
            tracing::error!(error = %e, "reading roles and permissions for a token failed");
            OAuthError::server_error()
        })?;
        // A token too large for any verifier to accept is refused here, not at every API.
        if !claims.fits() {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "the holder has too many roles or permissions to carry them in a token; \
                 ask without the roles/permissions scope",
            ));
        }
        Ok(claims)
    }

    /// Signs an access token for `holder` (the user, with the sign-in `auth` behind the token;
    /// or the client itself, with none), bound to the request's DPoP key if it sent a proof
    /// (RFC 9449 §5). For a registered `resource` (RFC 8707) the token's `aud` is its
    /// identifier, and its lifetime (when set) and signing algorithm are the resource's;
    /// otherwise the token is for Gatehouse's own audience, as configured. Returns the token,
    /// its lifetime and its `token_type`.
    fn access_token(
        &self,
        client: &Client,
        holder: Holder<'_>,
        scope: &Scope,
        rbac: RbacClaims,
        context: TokenContext<'_>,
    ) -> Result<(String, i64, &'static str), OAuthError> {
        let subject = match holder {
            Holder::User(id) => id.to_string(),
            Holder::Client(id) => id.to_owned(),
        };
        let scope = scope.to_string();
        let mut request = AccessTokenRequest {
            subject,
            client_id: client.id.clone(),
            scope: (!scope.is_empty()).then(|| scope.to_owned()),
            sid: context.sid,
            lifetime: context.resource.and_then(|r| r.access_token_lifetime).or(client.access_token_lifetime),
            rbac,
            audience: context.resource.map(|r| r.identifier.clone()),
            algorithm: context.resource.map(|r| r.signing_alg),
            dpop_jkt: context.dpop_jkt.map(str::to_owned),
            ..Default::default()
        };
        if let Some(auth) = context.auth {
            request = request.with_auth(auth);
        }
        let issued = self.issuer.issue(&request).map_err(|e| {
            tracing::error!(error = %e, "access token signing failed");
            OAuthError::server_error()
        })?;
        // RFC 9449 §5: token_type DPoP signals a bound token.
        let token_type = if context.dpop_jkt.is_some() { "DPoP" } else { "Bearer" };
        Ok((issued.token, issued.expires_in, token_type))
    }
}

/// What an access token says besides its holder and scope.
#[derive(Default)]
pub(super) struct TokenContext<'a> {
    /// The grant (refresh family) the token belongs to.
    pub sid: Option<String>,
    /// The sign-in behind the token (none for client credentials).
    pub auth: Option<&'a AuthContext>,
    /// RFC 9449 §6.1: the DPoP key to bind the token to.
    pub dpop_jkt: Option<&'a str>,
    /// RFC 8707: the resource server the token is for (`None`: Gatehouse's own audience).
    pub resource: Option<&'a ResourceServer>,
}

/// A user's approval that tokens are issued for: an authorization code or an approved device
/// code. `grant_id` becomes the tokens' `sid` and the refresh family's id.
pub(super) struct UserApproval<'a> {
    pub user: &'a crate::user::User,
    pub grant_id: uuid::Uuid,
    pub scope: Scope,
    /// How and when the user signed in (RFC 8176 `amr`, OIDC Core §2 `auth_time`).
    pub amr: &'a str,
    pub auth_time: crate::clock::UnixTime,
    pub nonce: Option<&'a str>,
    /// RFC 9449 §5: the key of the token request's DPoP proof.
    pub dpop_jkt: Option<&'a str>,
    /// RFC 8707: the resource server the access token is for (`None`: Gatehouse's audience).
    pub resource: Option<ResourceServer>,
}

impl OAuthService {
    /// The tokens of a user's approval: access token, ID token with `openid`, and a refresh
    /// token with `offline_access` when the client may refresh. The sign-in behind the approval
    /// is what every token (and every one refreshed from the grant) says about the
    /// authentication (OIDC Core §2, §12.2; RFC 9068 §2.2.1). Everything is signed before the
    /// grant is written, so that the write is the last step before the answer (see
    /// `revoke_replayed_grant`), and roles are read first, so a storage failure leaves no
    /// half-made grant behind.
    async fn user_tokens(&self, client: &Client, a: UserApproval<'_>) -> Result<TokenResponse, OAuthError> {
        let UserApproval { user, grant_id, scope, amr, auth_time, nonce, dpop_jkt, resource } = a;
        // The access token carries only what its resource accepts; the grant (refresh family,
        // ID token) keeps the whole approval, so a refresh may ask for another granted resource.
        let access_scope = resource.as_ref().map_or_else(|| scope.clone(), |r| r.narrow(&scope));
        let rbac = self.rbac_claims(Holder::User(user.id), &access_scope).await?;
        let with_refresh =
            client.allows_grant(super::client::GrantType::RefreshToken) && scope.contains("offline_access");
        let scope_text = scope.to_string();
        let subject = user.id.to_string();
        let sid = grant_id.to_string();
        let auth = AuthContext::of_sign_in(amr, auth_time);
        let context = TokenContext { sid: Some(sid.clone()), auth: Some(&auth), dpop_jkt, resource: resource.as_ref() };
        let (access_token, expires_in, token_type) =
            self.access_token(client, Holder::User(user.id), &access_scope, rbac, context)?;
        let id_token = if scope.contains("openid") {
            Some(self.id_token(&super::id_token::IdTokenInput {
                subject: &subject,
                client_id: &client.id,
                auth_time,
                nonce,
                access_token: &access_token,
                sid: Some(&sid),
                amr,
                acr: auth.acr_claim().as_deref(),
                email: scope.contains("email").then(|| (user.email.as_str(), user.email_verified)),
            })?)
        } else {
            None
        };
        // RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key (a
        // confidential client's are bound to the client by its authentication already).
        let grant = NewGrant {
            id: grant_id,
            user: user.id,
            client_id: &client.id,
            scope: Some(&scope_text),
            auth: &auth,
            dpop_jkt: dpop_jkt.filter(|_| client.is_public()),
        };
        let (refresh, _) = self.refresh.start_grant(grant, with_refresh).await?;
        Ok(TokenResponse {
            access_token,
            token_type,
            expires_in,
            // RFC 6749 §5.1: the scope of the access token.
            scope: Some(access_scope.to_string()),
            refresh_token: refresh.map(|r| r.expose().to_owned()),
            id_token,
            issued_token_type: None,
        })
    }
}
