//! The redirection endpoint of a federated login, Gatehouse being the client (RFC 6749 §4.1.2,
//! §4.1.2.1 error responses, §10.12 `state`; RFC 9207 §2.4 `iss`; OIDC Core §3.1.3.7 through the
//! [`UpstreamExchange`] port). The order of the steps is the rule, kept here and nowhere else:
//! this browser's `state` first, then `iss` (error responses included), then an upstream
//! error, then the code redemption, then who becomes whom; every failure is audited.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::flow::{BrowserBinding, FlowSecrets, LoginState, state_hash};
use super::service::{FederatedSignIn, FederationError, FederationService};
use super::{FederationStore, ProviderConfig, ProviderKind, Refusal, UpstreamIdentity};
use crate::account::SignedIn;
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::{Clock, UnixTime};
use crate::oauth::{CallbackParams, Param};
use crate::session::SessionToken;
use crate::user::UserId;

/// Why talking to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The upstream could not be reached or answered nonsense (discovery, JWKS, token endpoint):
    /// a 502 page, logged.
    #[error("upstream unavailable: {0}")]
    Unavailable(String),
    /// The upstream's answer failed a check (ID token, `iss`, token response): a 400 page and a
    /// `federation.login_failed` audit event with `reason`.
    #[error("{reason}: {detail}")]
    Rejected { reason: &'static str, detail: String },
}

impl UpstreamError {
    pub fn rejected(reason: &'static str, detail: impl Into<String>) -> Self {
        Self::Rejected { reason, detail: detail.into() }
    }
}

/// One upstream provider as the callback needs it; the HTTP client in `gatehouse-http`
/// implements it (discovery, token endpoint, ID token validation).
#[async_trait]
pub trait UpstreamExchange: Send + Sync {
    fn provider(&self) -> &ProviderConfig;
    /// RFC 9207 §3: the provider advertises `authorization_response_iss_parameter_supported`.
    async fn iss_parameter_required(&self) -> Result<bool, UpstreamError>;
    /// Redeems the code (PKCE verifier, client secret) and returns who the upstream says the
    /// user is, after every check of its answer (OIDC Core §3.1.3.5–§3.1.3.7).
    async fn redeem(
        &self,
        code: &str,
        secrets: &FlowSecrets,
        login: &LoginState,
        now: UnixTime,
    ) -> Result<UpstreamIdentity, UpstreamError>;
}

/// One callback as the handler read it.
pub struct Callback<'a> {
    pub params: &'a CallbackParams,
    /// The federation cookie's binding, if the browser sent one.
    pub binding: Option<&'a BrowserBinding>,
    /// The user of the browser's current session, if any, and that session's token (ended by
    /// a new sign-in).
    pub session_user: Option<UserId>,
    pub previous: Option<&'a SessionToken>,
}

/// How a callback ended, for the handler to render.
#[derive(Debug)]
pub enum CallbackOutcome {
    /// A new session; continue at `return_to` (a path on our origin) or the account page.
    SignedIn {
        signed_in: Box<SignedIn>,
        return_to: Option<String>,
    },
    /// The identity was linked to the signed-in account, whose session continues.
    Linked,
    /// The account has a second factor: continue at `/login/mfa` with this pending step.
    MfaRequired {
        pending: crate::account::MfaPending,
    },
    /// A verified email of a local account: the password form, with this single-use token.
    PasswordNeeded {
        token: String,
    },
    Refused(Refusal),
    /// `state` missing, unknown, used, expired, for another provider or another browser.
    InvalidState,
    /// The provider answered with an error (RFC 6749 §4.1.2.1): `code` keeps `[A-Za-z0-9_]`,
    /// `description` is without control characters and at most 200 characters.
    UpstreamRefused {
        code: String,
        description: Option<String>,
    },
    MissingCode,
    /// The answer failed a security check (recorded with its reason).
    Rejected,
    /// The upstream could not be reached; `cause` is for the log only.
    Unavailable {
        cause: String,
    },
}

impl FederationService {
    /// Finishes a federated login (RFC 6749 §4.1.2): the code is redeemed only once `state`
    /// and `iss` are verified, and an error response is believed only after `iss`.
    pub async fn callback(
        &self,
        cb: Callback<'_>,
        upstream: &dyn UpstreamExchange,
        ctx: &RequestContext,
    ) -> Result<CallbackOutcome, FederationError> {
        let (login, identity) = match self.gate.verify(cb.params, cb.binding, upstream, ctx).await? {
            Step::Verified(verified) => *verified,
            Step::Stop(outcome) => return Ok(outcome),
        };
        match self.complete(&login, identity, cb.session_user, cb.previous, ctx).await {
            Ok(FederatedSignIn::SignedIn { signed_in, .. }) => {
                Ok(CallbackOutcome::SignedIn { signed_in, return_to: login.return_to })
            }
            Ok(FederatedSignIn::Linked { .. }) => Ok(CallbackOutcome::Linked),
            Ok(FederatedSignIn::MfaRequired { pending }) => Ok(CallbackOutcome::MfaRequired { pending }),
            Err(FederationError::Refused(why)) => Ok(CallbackOutcome::Refused(why)),
            Err(FederationError::PasswordNeeded { token }) => Ok(CallbackOutcome::PasswordNeeded { token }),
            Err(e) => Err(e),
        }
    }
}

/// Where the checks of a callback got to.
#[derive(Debug)]
enum Step {
    /// The consumed login and who the upstream says the user is (boxed: the larger variant).
    Verified(Box<(LoginState, UpstreamIdentity)>),
    Stop(CallbackOutcome),
}

/// The steps of a callback up to a verified identity. They need only the login states, the
/// audit trail and the clock, so their order is unit-tested without accounts.
#[derive(Clone)]
pub(super) struct CallbackGate {
    store: Arc<dyn FederationStore>,
    audit: Auditor,
    clock: Arc<dyn Clock>,
}

/// A repeated parameter counts as absent (RFC 6749 §3.1: never believed).
fn one(param: &Param) -> Option<&str> {
    param.get_raw().ok().flatten()
}

/// An upstream error code as it may be recorded: RFC 6749 §4.1.2.1 codes are ASCII
/// `[\x20-\x21\x23-\x5B\x5D-\x7E]`; we keep letters, digits and `_`, at most 64.
fn error_code(raw: &str) -> String {
    raw.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect()
}

impl CallbackGate {
    pub(super) fn new(store: Arc<dyn FederationStore>, audit: Auditor, clock: Arc<dyn Clock>) -> Self {
        Self { store, audit, clock }
    }

    async fn verify(
        &self,
        params: &CallbackParams,
        binding: Option<&BrowserBinding>,
        upstream: &dyn UpstreamExchange,
        ctx: &RequestContext,
    ) -> Result<Step, FederationError> {
        let provider = upstream.provider().id.as_str();
        // RFC 9700 §4.7: `state` first; a callback without this browser's live `state` goes no further.
        let (login, secrets) = match self.take_state(provider, one(&params.state), binding).await {
            Ok(v) => v,
            Err(FederationError::InvalidState) => {
                self.note(provider, "invalid_state", ctx, json!({})).await;
                return Ok(Step::Stop(CallbackOutcome::InvalidState));
            }
            Err(e) => return Err(e),
        };
        // RFC 9207 §2.4: `iss` is checked on every authorization response, error responses
        // included, before anything else in it is believed (or a code is sent anywhere).
        if let Err(e) = check_iss(upstream, one(&params.iss)).await {
            return Ok(Step::Stop(self.failed(provider, e, ctx).await));
        }
        // RFC 6749 §4.1.2.1: the provider refused (e.g. the user pressed "cancel").
        if let Some(error) = one(&params.error) {
            let code = error_code(error);
            self.note(provider, "upstream_error", ctx, json!({ "error": code })).await;
            let description =
                one(&params.error_description).map(|d| d.chars().filter(|c| !c.is_control()).take(200).collect());
            return Ok(Step::Stop(CallbackOutcome::UpstreamRefused { code, description }));
        }
        let Some(code) = one(&params.code).filter(|c| !c.is_empty()) else {
            self.note(provider, "missing_code", ctx, json!({})).await;
            return Ok(Step::Stop(CallbackOutcome::MissingCode));
        };
        match upstream.redeem(code, &secrets, &login, self.clock.now()).await {
            Ok(identity) => Ok(Step::Verified(Box::new((login, identity)))),
            Err(e) => Ok(Step::Stop(self.failed(provider, e, ctx).await)),
        }
    }

    /// Consumes the `state` of a callback (RFC 6749 §10.12, RFC 9700 §4.7.1): it must exist,
    /// be unused and unexpired, belong to `provider`, and come back to the browser that started
    /// the login. Consumed in every case, so it can never be tried twice.
    async fn take_state(
        &self,
        provider: &str,
        state: Option<&str>,
        binding: Option<&BrowserBinding>,
    ) -> Result<(LoginState, FlowSecrets), FederationError> {
        let state = state.filter(|s| !s.is_empty() && s.len() <= 512).ok_or(FederationError::InvalidState)?;
        let stored = self.store.take_login_state(&state_hash(state)).await?.ok_or(FederationError::InvalidState)?;
        let binding = binding.ok_or(FederationError::InvalidState)?;
        let fresh = self.clock.now() < stored.expires_at;
        // Constant-time comparison of the binding; the provider is public. A pending link's
        // token is not a `state`, and the reverse.
        if !binding.matches(&stored.binding_hash) || !fresh || stored.provider != provider || stored.pending.is_some() {
            return Err(FederationError::InvalidState);
        }
        let secrets = binding.secrets(state);
        Ok((stored, secrets))
    }

    /// Records a failed federated sign-in (`federation.login_failed`).
    pub(super) async fn record_failure(
        &self,
        provider: &str,
        reason: &str,
        ctx: &RequestContext,
        mut details: serde_json::Value,
    ) -> Result<(), FederationError> {
        if let Some(map) = details.as_object_mut() {
            map.insert("provider".into(), json!(provider));
            map.insert("reason".into(), json!(reason));
        }
        self.audit.record(AuditEventType::FederatedLoginFailed, Outcome::Failure, None, None, ctx, details).await?;
        Ok(())
    }

    /// A failure recorded before any account is involved: if the audit write fails, the
    /// answer is the same (logged), so a broken audit store cannot turn a refusal into a 500.
    async fn note(&self, provider: &str, reason: &str, ctx: &RequestContext, details: serde_json::Value) {
        if let Err(e) = self.record_failure(provider, reason, ctx, details).await {
            tracing::error!(error = %e, "recording a failed federated login failed");
        }
    }

    async fn failed(&self, provider: &str, e: UpstreamError, ctx: &RequestContext) -> CallbackOutcome {
        match e {
            UpstreamError::Rejected { reason, detail } => {
                tracing::warn!(provider, reason, detail = %detail, "federated login rejected");
                self.note(provider, reason, ctx, json!({ "detail": detail })).await;
                CallbackOutcome::Rejected
            }
            e @ UpstreamError::Unavailable(_) => {
                self.note(provider, "upstream_unavailable", ctx, json!({})).await;
                CallbackOutcome::Unavailable { cause: e.to_string() }
            }
        }
    }
}

/// RFC 9207 §2.4 (and RFC 9700 §4.4.2, mix-up defence): an `iss` in the authorization response
/// must be this provider's; a provider that advertises
/// `authorization_response_iss_parameter_supported` must send one. GitHub never does.
async fn check_iss(upstream: &dyn UpstreamExchange, iss: Option<&str>) -> Result<(), UpstreamError> {
    let provider = upstream.provider();
    match (iss, provider.kind) {
        (Some(iss), _) if !provider.issuer_rule.accepts_response_iss(iss) => {
            Err(UpstreamError::rejected("issuer_mismatch", "the authorization response names another issuer"))
        }
        (Some(_), _) | (None, ProviderKind::GitHub) => Ok(()),
        (None, _) if upstream.iss_parameter_required().await? => {
            Err(UpstreamError::rejected("issuer_missing", "the provider must send `iss` (RFC 9207)"))
        }
        (None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests;
