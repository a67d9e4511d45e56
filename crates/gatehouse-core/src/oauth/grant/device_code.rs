//! The device authorization grant's token request (RFC 8628 §3.4) and its answers while the
//! user has not approved (§3.5): `authorization_pending`, `slow_down`, `access_denied`,
//! `expired_token`. Once approved, the tokens are those of the authorization code grant.

use super::{TokenResponse, UserApproval, required};
use crate::acr::amr_has_mfa;
use crate::audit::RequestContext;
use crate::oauth::client::{Client, GrantType};
use crate::oauth::device::{DeviceState, SLOW_DOWN_STEP};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::TokenRequest;
use crate::oauth::scope::Scope;
use crate::oauth::service::OAuthService;
use crate::token::RefreshToken;

impl OAuthService {
    pub(super) async fn device_code_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        _ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::DeviceCode) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        let hash = RefreshToken::from_client(required(&req.device_code, "device_code")?).hash();
        let now = self.clock.now();
        let Some(found) = self.devices.device_authorization(&hash).await? else {
            return Err(OAuthError::invalid_grant("the device code is invalid"));
        };
        // §3.4: the device code was issued to this client (a code of another client is
        // unknown to it).
        if found.client_id != client.id {
            return Err(OAuthError::invalid_grant("the device code is invalid"));
        }
        if found.state == DeviceState::Used {
            return Err(OAuthError::invalid_grant("the device code was already used"));
        }
        // §3.5 expired_token: "the client MUST stop polling and SHOULD start a new device
        // authorization request".
        if now >= found.expires_at {
            return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired; start again"));
        }
        // §3.5 slow_down: polling faster than the interval adds 5 seconds to it, for this and
        // every later request.
        if found.last_polled_at.is_some_and(|last| now - last < found.interval) {
            let interval = found.interval + SLOW_DOWN_STEP;
            self.devices.record_device_poll(&hash, now, interval).await?;
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                format!("polling too fast; wait {interval} seconds between requests"),
            ));
        }
        self.devices.record_device_poll(&hash, now, found.interval).await?;
        let approval = match found.state {
            DeviceState::Pending => {
                return Err(OAuthError::new(ErrorCode::AuthorizationPending, "the user has not yet decided"));
            }
            DeviceState::Denied => {
                return Err(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"));
            }
            DeviceState::Used => return Err(OAuthError::invalid_grant("the device code was already used")),
            DeviceState::Approved(a) => a,
        };
        // Single use: of concurrent polls exactly one spends the approval.
        if !self.devices.consume_device_authorization(&hash, now).await? {
            return Err(OAuthError::invalid_grant("the device code was already used"));
        }
        if client.require_mfa && !amr_has_mfa(&approval.amr) {
            return Err(OAuthError::invalid_grant("this client requires a sign-in with a second factor"));
        }
        let user = self.accounts.active_user(approval.user_id).await?;
        let Some(user) = user else {
            return Err(OAuthError::invalid_grant("the user is no longer active"));
        };
        let scope = Scope::parse(&found.scope).map_err(|_| OAuthError::server_error())?;
        // A client narrowed since the request gets only what it is still registered for.
        if !scope.is_subset_of(&client.scopes) {
            return Err(OAuthError::new(ErrorCode::InvalidScope, "the client is no longer allowed this scope"));
        }
        // The device request names no resource (RFC 8628 has none); a token request may not
        // add one the user never saw.
        let resource = self.token_resource(&req.resource, Some(found.grant_id)).await?;
        let approved = UserApproval {
            user: &user,
            grant_id: found.grant_id,
            scope,
            amr: &approval.amr,
            auth_time: approval.auth_time,
            nonce: None,
            dpop_jkt: req.dpop_jkt.as_deref(),
            resource,
        };
        self.user_tokens(client, approved).await
    }
}
