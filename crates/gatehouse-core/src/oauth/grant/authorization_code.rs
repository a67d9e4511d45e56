//! The authorization code grant's token request (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6).

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::{TokenResponse, UserApproval, param, required};
use crate::acr::amr_has_mfa;
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::oauth::client::{Client, GrantType};
use crate::oauth::code::CodeOutcome;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::TokenRequest;
use crate::oauth::pkce;
use crate::oauth::scope::Scope;
use crate::oauth::service::OAuthService;
use crate::token::{RefreshError, RefreshToken};

/// How long a replay waits for the grant of the redemption it overtook.
const REPLAY_WAIT: Duration = Duration::from_secs(2);

impl OAuthService {
    /// Revokes the grant of a replayed code. The winning redemption writes its grant only after
    /// signing, right before it answers, so a replay may arrive while that grant does not exist
    /// yet: it then waits (at most [`REPLAY_WAIT`]) for the grant to appear and revokes it. So
    /// exactly one redemption wins and answers with its tokens, and a replay racing it still
    /// kills them right after. `false` when no grant appeared (the winner failed) or it was
    /// already revoked.
    async fn revoke_replayed_grant(&self, grant: Uuid) -> Result<bool, RefreshError> {
        let started = tokio::time::Instant::now();
        loop {
            match self.refresh.family(grant).await? {
                Some(f) if f.revoked_at.is_none() => {
                    return self.refresh.revoke_family(grant, "authorization_code_replay").await;
                }
                Some(_) => return Ok(false),
                None if started.elapsed() >= REPLAY_WAIT => return Ok(false),
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub(super) async fn authorization_code_grant(
        &self,
        req: &TokenRequest,
        client: &Client,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client may not use this grant type"));
        }
        let code = required(&req.code, "code")?;
        let redirect_uri = required(&req.redirect_uri, "redirect_uri")?;
        let verifier = param(&req.code_verifier)?;
        let hash = RefreshToken::from_client(code).hash();
        let code = match self.codes.redeem_code(&hash, &client.id, self.clock.now()).await? {
            CodeOutcome::Redeemed(c) => c,
            CodeOutcome::Replayed(c) => {
                // RFC 6749 §4.1.2: deny, and revoke the tokens issued from the code.
                let revoked = self.revoke_replayed_grant(c.grant_id).await;
                if let Err(e) = &revoked {
                    tracing::error!(error = %e, "revoking the grant of a replayed code failed");
                }
                let details = json!({
                    "client_id": c.client_id,
                    "grant_id": c.grant_id,
                    "grant_revoked": revoked.unwrap_or(false),
                });
                let subject = Some(c.user_id.to_string());
                let actor = Some(format!("client:{}", client.id));
                self.audit
                    .record(AuditEventType::AuthorizationCodeReplayed, Outcome::Failure, actor, subject, ctx, details)
                    .await?;
                return Err(OAuthError::invalid_grant("the authorization code was already used"));
            }
            CodeOutcome::Invalid => {
                return Err(OAuthError::invalid_grant("the authorization code is invalid or expired"));
            }
        };
        if code.client_id != client.id {
            return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
        }
        if code.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
        }
        match (&code.code_challenge, verifier) {
            (Some(challenge), Some(v)) if pkce::verify_s256(v, challenge) => {}
            (Some(_), _) => return Err(OAuthError::invalid_grant("code_verifier is missing or does not match")),
            // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant("no code_challenge was sent with the authorization request"));
            }
            (None, None) => {}
        }
        // RFC 9449 §10: a code bound with `dpop_jkt` is redeemed only with a proof by that key
        // (the proof itself was checked at the edge); like a failed PKCE check, the failed
        // attempt spends the code.
        if let Some(bound) = code.dpop_jkt.as_deref() {
            match req.dpop_jkt.as_deref() {
                None => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "the authorization code is bound to a DPoP key: send a DPoP proof by that key",
                    ));
                }
                Some(jkt) if jkt != bound => {
                    return Err(OAuthError::invalid_grant("the authorization code is bound to another DPoP key"));
                }
                Some(_) => {}
            }
        }
        // The authorization endpoint issues a code for such a client only after a second
        // factor; checked again here so that no other path can mint its tokens without one.
        if client.require_mfa && !amr_has_mfa(&code.amr) {
            return Err(OAuthError::invalid_grant("this client requires a sign-in with a second factor"));
        }
        let user = self.accounts.active_user(code.user_id).await?;
        let Some(user) = user else {
            return Err(OAuthError::invalid_grant("the user is no longer active"));
        };
        let scope = Scope::parse(&code.scope).map_err(|_| OAuthError::server_error())?;
        // RFC 8707 §2.2: one of the resources the code was requested for.
        let resource = self.token_resource(&req.resource, Some(code.grant_id)).await?;
        let approval = UserApproval {
            user: &user,
            grant_id: code.grant_id,
            scope,
            amr: &code.amr,
            auth_time: code.auth_time,
            nonce: code.nonce.as_deref(),
            dpop_jkt: req.dpop_jkt.as_deref(),
            resource,
        };
        self.user_tokens(client, approval).await
    }
}
