//! Pushed authorization requests (RFC 9126): a client sends its authorization request to the
//! PAR endpoint first, authenticated as at the token endpoint (§2), and the browser then carries
//! only a short, single-use `request_uri` to the authorization endpoint (§4).
//!
//! The pushed parameters are validated by [`OAuthService::parse_authorize`] at the push (§2.1:
//! "the AS MUST validate the pushed request as it would an authorization request") and again
//! when they are used (§4: policy or the client may have changed in between).

use super::authorize::{AuthorizeError, AuthorizeRequest};
use super::client::Client;
use super::error::{ErrorCode, OAuthError};
use super::params::{AuthorizeParams, FromParams, Param};
use super::service::OAuthService;
use crate::random;
use crate::token::RefreshToken;

/// RFC 9126 §2.2: the `request_uri` is a URN with this prefix and a random part.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// RFC 9126 §2.2 `expires_in`: a pushed request is good for 60 seconds (the RFC suggests "a
/// short time" — the browser is redirected right away).
pub const PAR_LIFETIME: i64 = 60;

/// The answer to a push (RFC 9126 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushedRequest {
    pub request_uri: String,
    pub expires_in: i64,
}

type Pairs = Vec<(String, String)>;

/// Only the authorization request's own parameters are kept: the client's credentials
/// (`client_secret`, `client_assertion`) are never stored.
fn authorization_pairs(pairs: Pairs) -> Pairs {
    pairs.into_iter().filter(|(name, _)| AuthorizeParams::default().slot(name).is_some()).collect()
}

fn serialize(pairs: &Pairs) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

impl OAuthService {
    /// RFC 9126 §2.1: validates the pushed parameters of the authenticated `client` as an
    /// authorization request and stores them; the errors are those of RFC 6749 §5.2 (§2.3).
    /// `proof_jkt` is the key of the push's checked DPoP proof, if it carried one.
    pub async fn push_authorization(
        &self,
        client: &Client,
        pairs: Pairs,
        proof_jkt: Option<&str>,
    ) -> Result<PushedRequest, OAuthError> {
        let mut pairs = authorization_pairs(pairs);
        let params = AuthorizeParams::from_pairs(pairs.iter().cloned());
        // RFC 9449 §10.1: a DPoP proof with the push binds the code to its key like `dpop_jkt`;
        // with both, they must name the same key.
        if let Some(jkt) = proof_jkt {
            match params.dpop_jkt.get() {
                Ok(None) => pairs.push(("dpop_jkt".to_owned(), jkt.to_owned())),
                Ok(Some(named)) if named == jkt => {}
                _ => {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        "dpop_jkt does not match the key of the DPoP proof",
                    ));
                }
            }
        }
        // §2.1: "The request_uri authorization request parameter is one exception, and it MUST
        // NOT be provided."
        if params.request_uri != Param::Absent {
            return Err(OAuthError::invalid_request("request_uri must not be pushed (RFC 9126 §2.1)"));
        }
        match params.client_id.get() {
            Err(_) => return Err(OAuthError::invalid_request("client_id was included more than once")),
            Ok(Some(id)) if id != client.id => {
                return Err(OAuthError::invalid_request("client_id is not the authenticated client"));
            }
            Ok(Some(_)) => {}
            // Authenticated by the Authorization header: the request names its client anyway.
            Ok(None) => pairs.push(("client_id".to_owned(), client.id.clone())),
        }
        let params = AuthorizeParams::from_pairs(pairs.iter().cloned());
        match self.parse_authorize(&params).await {
            Ok(_) => {}
            // An unregistered redirect URI and the like: no redirect from here, just the error.
            Err(AuthorizeError::Fatal(m)) => return Err(OAuthError::invalid_request(m)),
            Err(AuthorizeError::Unavailable) => {
                return Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "try again shortly"));
            }
            Err(AuthorizeError::Redirect { error, .. }) => return Err(error),
        }
        let secret = random::token().map_err(|_| OAuthError::server_error())?;
        let hash = RefreshToken::from_client(&secret).hash();
        let expires_at = self.clock.now() + PAR_LIFETIME;
        self.codes.push_authorization(&hash, &client.id, &serialize(&pairs), expires_at).await?;
        Ok(PushedRequest { request_uri: format!("{REQUEST_URI_PREFIX}{secret}"), expires_in: PAR_LIFETIME })
    }

    /// RFC 9126 §4: the parameters pushed under the request's `request_uri` (a query string), for
    /// the client named by its `client_id`; used once ("SHOULD treat request_uri values as
    /// one-time use"), and "an expired request_uri MUST be rejected as invalid". The request is
    /// built as RFC 9101 §5 defines, so only the pushed parameters count and every other one of
    /// the request is ignored (RFC 9101 §6.3: "the authorization server MUST only use the
    /// parameters in the Request Object"). Unknown,
    /// used, expired or another client's request URIs are shown to the user, never redirected
    /// (there is no validated redirect URI).
    pub async fn take_pushed_authorization(&self, params: &AuthorizeParams) -> Result<String, AuthorizeError> {
        let fatal = |m: &str| AuthorizeError::Fatal(m.to_owned());
        let client_id = params
            .client_id
            .get()
            .map_err(|_| fatal("client_id was included more than once"))?
            .ok_or_else(|| fatal("the request has no client_id (RFC 9101 §5)"))?;
        let request_uri = params
            .request_uri
            .get()
            .map_err(|_| fatal("request_uri was included more than once"))?
            .ok_or_else(|| fatal("the request has no request_uri"))?;
        let gone = || {
            fatal(
                "invalid_request_uri: this sign-in request has expired or was already used; go back to the \
                 application and try again",
            )
        };
        let secret = request_uri.strip_prefix(REQUEST_URI_PREFIX).filter(|s| !s.is_empty()).ok_or_else(gone)?;
        let hash = RefreshToken::from_client(secret).hash();
        match self.codes.take_pushed_authorization(&hash, client_id, self.clock.now()).await {
            Ok(Some(query)) => Ok(query),
            Ok(None) => Err(gone()),
            Err(e) if e.is_unreachable() => Err(AuthorizeError::Unavailable),
            Err(_) => Err(fatal("the server could not look up the request")),
        }
    }

    /// `require_pushed_authorization_requests`: globally (RFC 9126 §5, metadata) or for this
    /// client (§6, client metadata).
    pub fn requires_pushed(&self, client: &Client) -> bool {
        self.settings.require_pushed_authorization_requests || client.require_pushed_authorization_requests
    }

    /// RFC 9126 §4: where PAR is required, "the authorization server will refuse, using the
    /// invalid_request error code, to process any request to the authorization endpoint that
    /// does not have a request_uri parameter with a value obtained from the PAR endpoint".
    pub fn check_pushed(&self, req: &AuthorizeRequest, pushed: bool) -> Result<(), OAuthError> {
        if pushed || !self.requires_pushed(&req.client) {
            return Ok(());
        }
        Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests first (RFC 9126 pushed authorization requests)",
        ))
    }

    /// Parks the parameters of a request (a query string) while the user signs in; `pushed`
    /// marks those taken from a pushed request, so that the return to them still counts as
    /// pushed where PAR is required.
    pub async fn park_request(&self, query: &str, pushed: bool) -> Result<String, OAuthError> {
        // A serialized query never holds a raw `:` (form encoding escapes it): the prefix cannot
        // be forged by a request's own parameters.
        if pushed {
            self.park_authorization(&format!("{PUSHED_MARK}{query}")).await
        } else {
            self.park_authorization(query).await
        }
    }

    /// The parked parameters under `reference` and whether they were pushed.
    pub async fn parked_request(&self, reference: &str) -> Result<Option<(String, bool)>, OAuthError> {
        Ok(self.parked_authorization(reference).await?.map(|q| match q.strip_prefix(PUSHED_MARK) {
            Some(query) => (query.to_owned(), true),
            None => (q, false),
        }))
    }
}

/// Marks a parked request whose parameters were pushed.
const PUSHED_MARK: &str = "pushed:";

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn client_credentials_are_never_stored_with_the_pushed_request() {
        let kept = authorization_pairs(vec![
            pair("client_id", "app"),
            pair("client_secret", "s3cret"),
            pair("client_assertion", "eyJ"),
            pair("client_assertion_type", "urn:x"),
            pair("scope", "openid"),
            pair("state", "a:b"),
        ]);
        assert_eq!(kept, vec![pair("client_id", "app"), pair("scope", "openid"), pair("state", "a:b")]);
        // The parked copy's mark cannot be forged by a parameter: `:` is always escaped.
        assert!(!serialize(&kept).contains(':'));
        assert!(!serialize(&vec![pair("pushed:", "x")]).starts_with(PUSHED_MARK));
    }
}
