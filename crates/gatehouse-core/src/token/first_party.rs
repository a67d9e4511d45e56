//! The first-party token flow for SPAs and mobile apps: email and password in, a short-lived
//! access token and a rotating refresh token out.

use std::sync::Arc;

use serde_json::json;

use super::access::{AccessTokenRequest, IssuedAccessToken, TokenError, TokenIssuer};
use super::refresh::{RefreshError, RefreshFamily, RefreshService, RefreshToken};
use crate::account::{AccountError, AccountService, FirstFactor, MfaPending, SignedIn};
use crate::acr::AuthContext;
use crate::audit::RequestContext;
use crate::mfa::MfaChannel;
use crate::password::Password;
use crate::user::User;

/// The `client_id` of tokens Gatehouse issues to its own first-party API users.
pub const FIRST_PARTY_CLIENT: &str = "gatehouse";

#[derive(Debug)]
pub struct TokenPair {
    pub access: IssuedAccessToken,
    pub refresh: RefreshToken,
    pub family: RefreshFamily,
}

/// The outcome of the password step of the token API.
#[derive(Debug)]
pub enum TokenLogin {
    Tokens(Box<TokenPair>),
    MfaRequired(MfaPending),
}

/// What completing a second step yields, by the channel that issued it.
#[derive(Debug)]
pub enum MfaCompletion {
    Session(Box<SignedIn>),
    Tokens(Box<TokenPair>),
}

pub struct FirstPartyTokens {
    accounts: Arc<AccountService>,
    refresh: Arc<RefreshService>,
    issuer: Arc<TokenIssuer>,
}

#[derive(Debug, thiserror::Error)]
pub enum FirstPartyError {
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// The pending second steps the JSON APIs complete: `/api/v1/auth/login` and
/// `/api/v1/auth/token`.
pub const JSON_CHANNELS: [MfaChannel; 2] = [MfaChannel::Session, MfaChannel::Token];

impl FirstPartyTokens {
    pub fn new(accounts: Arc<AccountService>, refresh: Arc<RefreshService>, issuer: Arc<TokenIssuer>) -> Self {
        Self { accounts, refresh, issuer }
    }

    pub fn refresh_service(&self) -> &RefreshService {
        &self.refresh
    }

    /// Password grant for the first-party API: the same checks (and the same indistinguishable
    /// failure) as the session login, then a new refresh family — or, for an account with a
    /// second factor, a pending second step to complete with [`Self::complete_mfa`].
    pub async fn login(
        &self,
        email: &str,
        password: &Password,
        ctx: &RequestContext,
    ) -> Result<TokenLogin, FirstPartyError> {
        match self.accounts.authenticate_first_factor(email, password, MfaChannel::Token, None, ctx).await? {
            FirstFactor::Done(user) => {
                // The MFA policy: a covered user without a second factor gets no tokens.
                self.accounts.enforce_mfa_enrolment(user.id, "token", ctx).await?;
                Ok(TokenLogin::Tokens(Box::new(self.issue_for(*user, "pwd", ctx).await?)))
            }
            FirstFactor::MfaRequired(pending) => Ok(TokenLogin::MfaRequired(pending)),
        }
    }

    /// `POST /api/v1/auth/mfa`: completes a pending second step of `/api/v1/auth/login` (a
    /// session) or `/api/v1/auth/token` (a token pair), whichever issued it.
    pub async fn complete_mfa(
        &self,
        handle: &str,
        proof: crate::account::Proof<'_>,
        previous: Option<&crate::session::SessionToken>,
        ctx: &RequestContext,
    ) -> Result<MfaCompletion, FirstPartyError> {
        let verified = self.accounts.verify_second_factor(handle, &JSON_CHANNELS, proof, ctx).await?;
        if verified.channel == MfaChannel::Token {
            let amr = verified.amr();
            return Ok(MfaCompletion::Tokens(Box::new(self.issue_for(verified.user, &amr, ctx).await?)));
        }
        let details = json!({ "method": "session", "second_factor": verified.method.as_str() });
        let now = self.accounts.clock().now();
        let amr = verified.amr();
        let signed_in = self.accounts.sign_in_as(verified.user, previous, &amr, now, ctx, details).await?;
        Ok(MfaCompletion::Session(Box::new(signed_in)))
    }

    async fn issue_for(&self, user: User, amr: &str, ctx: &RequestContext) -> Result<TokenPair, FirstPartyError> {
        self.accounts.require_verified(&user, ctx).await?;
        // The sign-in is done now (the second factor, if any, was its last step).
        let auth = AuthContext::of_sign_in(amr, self.accounts.clock().now());
        let (refresh, family) = self.refresh.issue(user.id, FIRST_PARTY_CLIENT, None, &auth).await?;
        // Shown with the sign-in in the session lists, where it can be ended.
        self.refresh.set_origin(family.id, &ctx.for_storage()).await?;
        let access = self.access_for(&family)?;
        let details = json!({ "method": "token", "family_id": family.id, "amr": amr });
        self.accounts.record_login(&user, ctx, details).await?;
        Ok(TokenPair { access, refresh, family })
    }

    /// Rotates the refresh token and issues a new access token. The user must still be active.
    pub async fn refresh(&self, presented: &RefreshToken, ctx: &RequestContext) -> Result<TokenPair, FirstPartyError> {
        // Only first-party families: an OAuth client's refresh token is redeemed at the token
        // endpoint, with that client's authentication (RFC 6749 §6), never here. Checked before
        // rotating, so a foreign token is neither consumed nor taken for a replay.
        if self.refresh.family_of(presented).await?.is_none_or(|f| f.client_id != FIRST_PARTY_CLIENT) {
            return Err(RefreshError::Invalid.into());
        }
        let (refresh, family) = self.refresh.rotate(presented, ctx).await?;
        if self.accounts.active_user(family.user_id).await?.is_none() {
            return Err(RefreshError::Invalid.into());
        }
        // The family does not keep the sign-in's `amr`: a refreshed token carries none (so it
        // does not open what needs `mfa`, e.g. the admin API under the MFA policy).
        let access = self.access_for(&family)?;
        Ok(TokenPair { access, refresh, family })
    }

    /// An access token of the family: `amr`, `acr` and `auth_time` are those of the sign-in
    /// it came from, on refresh too (RFC 9068 §2.2.1).
    fn access_for(&self, family: &RefreshFamily) -> Result<IssuedAccessToken, TokenError> {
        let request = AccessTokenRequest {
            subject: family.user_id.to_string(),
            client_id: family.client_id.clone(),
            scope: family.scope.clone(),
            sid: Some(family.id.to_string()),
            // The first-party API has no scopes, so no `roles`/`permissions` claims.
            ..Default::default()
        };
        self.issuer.issue(&request.with_auth(&family.auth))
    }
}
