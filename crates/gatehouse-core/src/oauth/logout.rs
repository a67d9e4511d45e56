//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2-3): which client the request
//! speaks for, whether its `post_logout_redirect_uri` may be followed, and whether the
//! signed-in user must confirm before being signed out.

use super::authorize::redirect_with;
use super::error::OAuthError;
use super::id_token::IdTokenHint;
use super::params::LogoutParams;
use super::service::OAuthService;
use crate::user::UserId;

/// A logout request that may be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    hint: Option<IdTokenHint>,
    /// The registered `post_logout_redirect_uri` with `state` appended (§3).
    redirect: Option<String>,
}

/// Why a logout request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutError {
    /// Shown to the user as a 400 page; never redirected.
    Invalid(&'static str),
    /// Looking the client up failed.
    Server(OAuthError),
}

/// What to do with a valid logout request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutDecision {
    /// Ask the signed-in user first (the confirmation form, same-site, with a CSRF token).
    Confirm,
    /// End the session, if any, and go to the redirect (or our signed-out page).
    SignOut,
}

impl OAuthService {
    /// §2: `post_logout_redirect_uri` only when registered for the client named by
    /// `id_token_hint` (or `client_id`, which must then agree with it).
    pub async fn parse_logout(&self, params: &LogoutParams) -> Result<LogoutRequest, LogoutError> {
        let hint = params.id_token_hint.first().map(|t| self.verify_id_token_hint(t));
        if matches!(hint, Some(None)) {
            return Err(LogoutError::Invalid("id_token_hint is not a valid ID token from this server"));
        }
        let hint = hint.flatten();
        let named = params.client_id.first();
        if let (Some(h), Some(c)) = (&hint, named)
            && h.client_id != c
        {
            return Err(LogoutError::Invalid("client_id does not match id_token_hint"));
        }
        let client_id = hint.as_ref().map(|h| h.client_id.as_str()).or(named);
        let redirect = match (params.post_logout_redirect_uri.first(), client_id) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(LogoutError::Invalid("post_logout_redirect_uri needs id_token_hint or client_id"));
            }
            (Some(uri), Some(cid)) => match self.client(cid).await {
                // A disabled client's URIs are not to be trusted, as at the authorization
                // endpoint: like an unregistered one.
                Ok(Some(c)) if !c.is_disabled() && c.post_logout_redirect_uris.iter().any(|r| r == uri) => {
                    let state: Vec<(&str, &str)> = params.state.first().map(|s| vec![("state", s)]).unwrap_or_default();
                    Some(redirect_with(uri, &state))
                }
                Ok(_) => {
                    return Err(LogoutError::Invalid("post_logout_redirect_uri is not registered for this client"));
                }
                Err(e) => return Err(LogoutError::Server(e)),
            },
        };
        Ok(LogoutRequest { hint, redirect })
    }
}

impl LogoutRequest {
    /// §2: without a valid `id_token_hint` for the signed-in user, the user confirms first, so
    /// that no third party can sign them out. Nobody signed in: nothing to protect.
    pub fn decide(&self, signed_in: Option<UserId>, confirmed: bool) -> LogoutDecision {
        let hint_matches = matches!((&self.hint, signed_in), (Some(h), Some(u)) if h.sub == u.to_string());
        if signed_in.is_some() && !hint_matches && !confirmed {
            LogoutDecision::Confirm
        } else {
            LogoutDecision::SignOut
        }
    }

    /// Where to send the browser after signing out; `None` is our own signed-out page.
    pub fn redirect(&self) -> Option<&str> {
        self.redirect.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(hint_sub: Option<&str>) -> LogoutRequest {
        let hint = hint_sub.map(|s| IdTokenHint { sub: s.to_owned(), client_id: "c".into() });
        LogoutRequest { hint, redirect: None }
    }

    #[test]
    fn a_signed_in_user_confirms_unless_the_hint_names_them() {
        let user = UserId::generate();
        let other = UserId::generate().to_string();
        assert_eq!(request(None).decide(Some(user), false), LogoutDecision::Confirm);
        assert_eq!(request(Some(&other)).decide(Some(user), false), LogoutDecision::Confirm, "someone else's hint");
        assert_eq!(request(Some(&user.to_string())).decide(Some(user), false), LogoutDecision::SignOut);
        assert_eq!(request(None).decide(Some(user), true), LogoutDecision::SignOut, "confirmed on our form");
    }

    #[test]
    fn nobody_signed_in_signs_out_at_once() {
        assert_eq!(request(None).decide(None, false), LogoutDecision::SignOut);
    }
}
