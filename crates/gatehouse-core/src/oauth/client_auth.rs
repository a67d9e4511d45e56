//! Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
//! `client_secret_basic` (§2.3.1), `client_secret_post` (§2.3.1), `private_key_jwt` (RFC 7523
//! §2.2, OpenID Connect Core §9) and `none` for public clients. One place for all three
//! endpoints; every failure is `invalid_client` with no hint of which part was wrong (the
//! reason is logged at debug).

use std::sync::atomic::Ordering;

use super::client::{AuthMethod, Client};
use super::client_assertion::{CLIENT_ASSERTION_TYPE, claimed_client_id, verify_assertion};
use super::error::OAuthError;
use super::params::{ClientParams, Param};
use super::service::OAuthService;

/// Expired assertion `jti`s are purged after every this many accepted assertions.
const PURGE_EVERY: u64 = 64;

/// How a client presented its credentials at the token, revocation or introspection endpoint.
#[derive(Debug, Default)]
pub struct ClientCredentials {
    /// From `Authorization: Basic` (RFC 6749 §2.3.1), decoded by the HTTP layer.
    pub basic: Option<(String, String)>,
    /// `client_id` form parameter.
    pub client_id: Option<String>,
    /// `client_secret` form parameter.
    pub client_secret: Option<String>,
    /// `client_assertion_type` form parameter (RFC 7523 §2.2).
    pub client_assertion_type: Option<String>,
    /// `client_assertion` form parameter: a JWT signed with one of the client's keys.
    pub client_assertion: Option<String>,
}

impl ClientCredentials {
    /// The credentials of a request: `basic` as the HTTP layer decoded it from the
    /// `Authorization` header, and the client parameters of the body, each at most once.
    pub fn new(basic: Option<(String, String)>, params: ClientParams) -> Result<Self, OAuthError> {
        let one = |param: Param, name: &str| -> Result<Option<String>, OAuthError> {
            match param {
                Param::Absent => Ok(None),
                Param::One(v) => Ok(Some(v)),
                Param::Repeated(_) => Err(OAuthError::invalid_request(format!("{name} was included more than once"))),
            }
        };
        Ok(Self {
            basic,
            client_id: one(params.client_id, "client_id")?,
            client_secret: one(params.client_secret, "client_secret")?,
            client_assertion_type: one(params.client_assertion_type, "client_assertion_type")?,
            client_assertion: one(params.client_assertion, "client_assertion")?,
        })
    }

    /// The client id the request claims, before anything is verified (for rate limits only).
    pub fn claimed_id(&self) -> Option<String> {
        match (&self.basic, &self.client_id, &self.client_assertion) {
            (Some((id, _)), _, _) => Some(id.clone()),
            (None, Some(id), _) => Some(id.clone()),
            (None, None, Some(assertion)) => claimed_client_id(assertion),
            (None, None, None) => None,
        }
    }
}

impl OAuthService {
    /// RFC 6749 §2.3: exactly one authentication method, the one the client registered.
    /// Every failure is `invalid_client`, with no hint of which part was wrong.
    pub async fn authenticate_client(&self, creds: &ClientCredentials) -> Result<Client, OAuthError> {
        if creds.client_assertion.is_some() || creds.client_assertion_type.is_some() {
            return self.authenticate_assertion(creds).await;
        }
        let (id, secret, method) = match (&creds.basic, &creds.client_id, &creds.client_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OAuthError::invalid_request("use only one client authentication method"));
            }
            (Some((id, secret)), form_id, None) => {
                if form_id.as_ref().is_some_and(|f| f != id) {
                    return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
                }
                (id.as_str(), Some(secret.as_str()), AuthMethod::ClientSecretBasic)
            }
            (None, Some(id), Some(secret)) => (id.as_str(), Some(secret.as_str()), AuthMethod::ClientSecretPost),
            (None, Some(id), None) => (id.as_str(), None, AuthMethod::None),
            (None, None, _) => return Err(OAuthError::invalid_client()),
        };
        let client = self.clients.client_by_id(id).await?.ok_or_else(OAuthError::invalid_client)?;
        let now = self.clock.now();
        // RFC 6749 §5.2: a disabled client is one that cannot authenticate.
        let ok = client.auth_method == method
            && !client.is_disabled()
            && (method == AuthMethod::None || secret.is_some_and(|s| client.secret_matches(s, now)));
        if !ok {
            return Err(OAuthError::invalid_client());
        }
        self.note_use(&client).await;
        Ok(client)
    }

    /// RFC 7523 §2.2 and §3, OpenID Connect Core §9: `private_key_jwt`.
    async fn authenticate_assertion(&self, creds: &ClientCredentials) -> Result<Client, OAuthError> {
        // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each
        // request."
        if creds.basic.is_some() || creds.client_secret.is_some() {
            return Err(OAuthError::invalid_request("use only one client authentication method"));
        }
        let (Some(assertion_type), Some(assertion)) = (&creds.client_assertion_type, &creds.client_assertion) else {
            return Err(OAuthError::invalid_request("client_assertion and client_assertion_type go together"));
        };
        let refuse = |reason: &dyn std::fmt::Display| {
            tracing::debug!(%reason, "client assertion refused");
            OAuthError::invalid_client()
        };
        // RFC 7523 §2.2: the value is exactly the jwt-bearer URN.
        if assertion_type != CLIENT_ASSERTION_TYPE {
            return Err(refuse(&"unsupported client_assertion_type"));
        }
        let Some(claimed) = claimed_client_id(assertion) else {
            return Err(refuse(&"the assertion has no readable sub"));
        };
        // RFC 7521 §4.2: a client_id sent alongside must identify the same client.
        if creds.client_id.as_ref().is_some_and(|id| *id != claimed) {
            return Err(refuse(&"client_id differs from the assertion's sub"));
        }
        let client = self.clients.client_by_id(&claimed).await?.ok_or_else(|| refuse(&"unknown client"))?;
        if client.is_disabled() {
            return Err(refuse(&"the client is disabled"));
        }
        let issuer = self.settings.issuer.as_str();
        // RFC 7523 §3 point 3: the issuer identifier, or the token endpoint URL (the path the
        // discovery documents advertise), identifies this server.
        let token_endpoint = format!("{issuer}/oauth2/token");
        let now = self.clock.now();
        let accepted = verify_assertion(assertion, &client, &[issuer, &token_endpoint], now).map_err(|e| refuse(&e))?;
        // RFC 7523 §3 point 7: single use, across every node.
        if !self.assertion_jtis.record_assertion_jti(&client.id, &accepted.jti_hash, accepted.replay_until, now).await?
        {
            return Err(refuse(&super::AssertionError::Replayed));
        }
        if self.assertions_seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(PURGE_EVERY)
            && let Err(e) = self.assertion_jtis.purge_assertion_jtis(now).await
        {
            tracing::warn!(error = %e, "purging expired client assertion jtis failed");
        }
        Ok(client)
    }
}
