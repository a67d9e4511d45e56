//! The authorization decision (RFC 6749 §4.1.1-4.1.2, OpenID Connect Core §3.1.2.1 `prompt`,
//! `max_age` and `acr_values`, §5.5.1.1 `acr`, §3.1.2.4 consent): given a validated request and
//! the browser's session, sign in first, step up to a second factor, ask for consent, issue a
//! code, or answer the client with an error.
//!
//! `max_age` and `prompt=login` demand a fresh *full* sign-in; `acr` demands a *factor*. They
//! compose in that order: a session too old is signed in again (and a user with a second factor
//! gives it then), a fresh enough one-factor session only adds the second factor.

use super::authorize::{AuthorizeRequest, Prompt};
use super::error::{ErrorCode, OAuthError};
use super::service::OAuthService;
use crate::acr::Acr;
use crate::audit::RequestContext;
use crate::clock::UnixTime;
use crate::user::UserId;

/// The browser's session, as far as the decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedInAs {
    pub user: UserId,
    /// When the user authenticated (for a sign-in through an upstream, the upstream's time).
    pub auth_time: UnixTime,
    /// The session's class, from its `amr` ([`Acr::from_amr`]).
    pub acr: Acr,
}

/// What to answer an authorization request (or the consent form) with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// Send the user to sign in, then back to this request.
    SignIn,
    /// The session is one-factor and the request needs more; the user has a second factor:
    /// ask for it (a pending second step for the signed-in user), then back to this request.
    StepUp,
    /// The client requires a second factor and the user has none: no code; tell the user to
    /// set one up.
    SecondFactorMissing,
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

/// The authentication-class half (OpenID Connect Core §3.1.2.1 `acr_values`, §5.5.1.1), once a
/// fresh enough session is known: `None` when the session's class will do. `required` is the
/// request's [`AuthorizeRequest::required_acr`]; `has_second_factor` whether the user could
/// step up. With `prompt=none` nothing may be shown, so a needed step-up is
/// `interaction_required` (Core §3.1.2.6).
pub fn acr_outcome(
    prompt: Prompt,
    required: Option<(Acr, bool)>,
    session: Acr,
    has_second_factor: bool,
) -> Option<AuthorizeOutcome> {
    let essential = match required {
        Some((Acr::Mfa, essential)) if session < Acr::Mfa => essential,
        _ => return None,
    };
    let interaction = || {
        AuthorizeOutcome::Refuse(OAuthError::new(
            ErrorCode::InteractionRequired,
            "the request needs a second factor, which cannot be asked for with prompt=none",
        ))
    };
    match (has_second_factor, essential, prompt.none) {
        (true, _, true) | (false, true, true) => Some(interaction()),
        (true, _, false) => Some(AuthorizeOutcome::StepUp),
        (false, true, false) => Some(AuthorizeOutcome::SecondFactorMissing),
        // A Voluntary Claim the user cannot meet: the code is issued with the class there is.
        (false, false, _) => None,
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
    /// [`acr_outcome`] for this request and session; whether the user has a second factor is
    /// only looked up when it matters.
    async fn step_up_outcome(&self, req: &AuthorizeRequest, session: SignedInAs) -> Option<AuthorizeOutcome> {
        let required = req.required_acr();
        if !matches!(required, Some((Acr::Mfa, _))) || session.acr == Acr::Mfa {
            return None;
        }
        match self.accounts.has_second_factor(session.user).await {
            Ok(has) => acr_outcome(req.prompt, required, session.acr, has),
            Err(e) => {
                tracing::error!(error = %e, "looking up the user's second factor failed");
                Some(AuthorizeOutcome::Refuse(OAuthError::server_error()))
            }
        }
    }

    /// The authorization request: sign in, step up, consent, or a code.
    pub async fn decide_authorize(&self, req: &AuthorizeRequest, session: Option<SignedInAs>) -> AuthorizeOutcome {
        if let Some(outcome) = sign_in_outcome(req.prompt, req.max_age, session.map(|s| s.auth_time), self.now()) {
            return outcome;
        }
        let Some(session) = session else { return AuthorizeOutcome::SignIn };
        if let Some(outcome) = self.step_up_outcome(req, session).await {
            return outcome;
        }
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
        // A consent form posted from a one-factor session (or kept open across a step-down)
        // must not issue a code the request's class forbids.
        if let Some(outcome) = self.step_up_outcome(req, session).await {
            return outcome;
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
    fn acr_mfa_steps_up_or_refuses_and_voluntary_acr_falls_back() {
        let (one, mfa) = (Acr::OneFactor, Acr::Mfa);
        let voluntary = Some((Acr::Mfa, false));
        let essential = Some((Acr::Mfa, true));
        // Nothing asked, or met already, or only one factor asked for: go on.
        assert_eq!(acr_outcome(prompt(false, false), None, one, true), None);
        assert_eq!(acr_outcome(prompt(false, false), voluntary, mfa, true), None);
        assert_eq!(acr_outcome(prompt(false, false), Some((Acr::OneFactor, false)), one, true), None);
        assert_eq!(acr_outcome(prompt(false, false), essential, mfa, false), None);
        // Core §5.5.1.1: the server may ask for additional factors.
        assert_eq!(acr_outcome(prompt(false, false), voluntary, one, true), Some(AuthorizeOutcome::StepUp));
        assert_eq!(acr_outcome(prompt(false, false), essential, one, true), Some(AuthorizeOutcome::StepUp));
        // Core §3.1.2.1: a Voluntary Claim that cannot be met is no error.
        assert_eq!(acr_outcome(prompt(false, false), voluntary, one, false), None);
        assert_eq!(acr_outcome(prompt(true, false), voluntary, one, false), None);
        // A client requiring MFA: an essential claim that cannot be met fails.
        assert_eq!(
            acr_outcome(prompt(false, false), essential, one, false),
            Some(AuthorizeOutcome::SecondFactorMissing)
        );
        // Core §3.1.2.6: prompt=none and a step-up needed.
        for (required, has) in [(voluntary, true), (essential, true), (essential, false)] {
            let silent = acr_outcome(prompt(true, false), required, one, has);
            assert!(
                matches!(silent, Some(AuthorizeOutcome::Refuse(ref e)) if e.code == ErrorCode::InteractionRequired),
                "{required:?} {has}: {silent:?}"
            );
        }
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
