//! The authorization decision (RFC 6749 §4.1.1-4.1.2, OpenID Connect Core §3.1.2.1 `prompt`
//! and `max_age`, §3.1.2.4 consent): given a validated request and the browser's session, sign
//! in first, ask for consent, issue a code, or answer the client with an error.

use super::authorize::{AuthorizeRequest, Prompt};
use super::error::{ErrorCode, OAuthError};
use super::service::OAuthService;
use crate::audit::RequestContext;
use crate::clock::UnixTime;
use crate::user::UserId;

/// The browser's session, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedInAs {
    pub user: UserId,
    /// When the user authenticated (for a sign-in through an upstream, the upstream's time).
    pub auth_time: UnixTime,
}

/// What to answer an authorization request (or the consent form) with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Send the user to sign in, then back to this request.
    SignIn,
    /// Show the consent page.
    Consent,
    /// Redirect back with a code.
    IssueCode,
    /// Redirect back with this error (RFC 6749 §4.1.2.1).
    Refuse(OAuthError),
}

/// OpenID Connect Core §3.1.2.1 `max_age`: the authentication is recent enough.
pub fn fresh_enough(max_age: Option<i64>, auth_time: UnixTime, now: UnixTime) -> bool {
    max_age.is_none_or(|m| now - auth_time <= m)
}

/// The sign-in half: `None` when the session may be used as it is.
pub fn sign_in_outcome(
    prompt: Prompt,
    max_age: Option<i64>,
    auth_time: Option<UnixTime>,
    now: UnixTime,
) -> Option<AuthorizeOutcome> {
    match auth_time {
        Some(t) if !prompt.login && fresh_enough(max_age, t, now) => None,
        _ if prompt.none => {
            Some(AuthorizeOutcome::Refuse(OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in")))
        }
        _ => Some(AuthorizeOutcome::SignIn),
    }
}

/// The consent half, once the user is known.
pub fn consent_outcome(prompt: Prompt, needs_consent: bool) -> AuthorizeOutcome {
    match (needs_consent, prompt.none) {
        (false, _) => AuthorizeOutcome::IssueCode,
        (true, true) => {
            AuthorizeOutcome::Refuse(OAuthError::new(ErrorCode::ConsentRequired, "the user has not consented"))
        }
        (true, false) => AuthorizeOutcome::Consent,
    }
}

impl AuthorizeRequest {
    /// A sign-in for this request must be fresh at an upstream provider too (OIDC Core
    /// §3.1.2.1): with `prompt=login`, or with any `max_age`, since an older upstream sign-in
    /// would give a session too old for this request.
    pub fn needs_fresh_sign_in(&self) -> bool {
        self.prompt.login || self.max_age.is_some()
    }
}

impl OAuthService {
    /// The authorization request: sign in, consent, or a code.
    pub async fn decide_authorize(&self, req: &AuthorizeRequest, session: Option<SignedInAs>) -> AuthorizeOutcome {
        if let Some(outcome) = sign_in_outcome(req.prompt, req.max_age, session.map(|s| s.auth_time), self.now()) {
            return outcome;
        }
        let Some(session) = session else { return AuthorizeOutcome::SignIn };
        match self.needs_consent(session.user, req).await {
            Ok(needs) => consent_outcome(req.prompt, needs),
            Err(_) => AuthorizeOutcome::Refuse(OAuthError::server_error()),
        }
    }

    /// The consent form's answer, under the same session rules as the request (a consent page
    /// left open must not issue a code for a sign-in that has since grown older than
    /// `max_age`; `prompt=login` was satisfied when the page was shown). Allow records the
    /// consent and issues a code; anything else is `access_denied`.
    pub async fn decide_consent(
        &self,
        req: &AuthorizeRequest,
        session: Option<SignedInAs>,
        allow: bool,
        ctx: &RequestContext,
    ) -> AuthorizeOutcome {
        let Some(session) = session.filter(|s| fresh_enough(req.max_age, s.auth_time, self.now())) else {
            return AuthorizeOutcome::SignIn;
        };
        if !allow {
            return AuthorizeOutcome::Refuse(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"));
        }
        match self.grant_consent(session.user, req, ctx).await {
            Ok(()) => AuthorizeOutcome::IssueCode,
            Err(_) => AuthorizeOutcome::Refuse(OAuthError::server_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 10_000;

    fn prompt(none: bool, login: bool) -> Prompt {
        Prompt { none, login, consent: false }
    }

    #[test]
    fn no_session_signs_in_or_answers_login_required() {
        assert_eq!(sign_in_outcome(prompt(false, false), None, None, NOW), Some(AuthorizeOutcome::SignIn));
        let refused = sign_in_outcome(prompt(true, false), None, None, NOW);
        assert!(matches!(refused, Some(AuthorizeOutcome::Refuse(e)) if e.code == ErrorCode::LoginRequired));
    }

    #[test]
    fn max_age_and_prompt_login_demand_a_fresh_sign_in() {
        assert_eq!(sign_in_outcome(prompt(false, false), None, Some(0), NOW), None, "no max_age: any age");
        assert_eq!(sign_in_outcome(prompt(false, false), Some(60), Some(NOW - 60), NOW), None);
        assert_eq!(
            sign_in_outcome(prompt(false, false), Some(60), Some(NOW - 61), NOW),
            Some(AuthorizeOutcome::SignIn)
        );
        assert_eq!(sign_in_outcome(prompt(false, false), Some(0), Some(NOW), NOW), None, "max_age=0 right after");
        assert_eq!(sign_in_outcome(prompt(false, true), None, Some(NOW), NOW), Some(AuthorizeOutcome::SignIn));
        let stale_silent = sign_in_outcome(prompt(true, false), Some(5), Some(NOW - 6), NOW);
        assert!(matches!(stale_silent, Some(AuthorizeOutcome::Refuse(e)) if e.code == ErrorCode::LoginRequired));
    }

    #[test]
    fn consent_is_asked_unless_prompt_none() {
        assert_eq!(consent_outcome(prompt(false, false), false), AuthorizeOutcome::IssueCode);
        assert_eq!(consent_outcome(prompt(true, false), false), AuthorizeOutcome::IssueCode);
        assert_eq!(consent_outcome(prompt(false, false), true), AuthorizeOutcome::Consent);
        let silent = consent_outcome(prompt(true, false), true);
        assert!(matches!(silent, AuthorizeOutcome::Refuse(e) if e.code == ErrorCode::ConsentRequired));
    }
}
