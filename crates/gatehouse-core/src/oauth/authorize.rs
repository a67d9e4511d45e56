//! The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1):
//! parsing and validation, and the redirect that answers it (RFC 6749 §4.1.2, RFC 9207).

use super::client::{Client, GrantType};
use super::error::{ErrorCode, OAuthError};
use super::params::{AuthorizeParams, Param};
use super::pkce;
use super::redirect::{LoopbackPorts, find_match};
use super::scope::Scope;
use super::service::OAuthService;
use crate::acr::Acr;

/// OpenID Connect Core §3.1.2.1 `prompt`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub ui_locales: Option<String>,
    /// OpenID Connect Core §3.1.2.1 `acr_values`: the first value Gatehouse supports, in the
    /// RP's order of preference; `None` when it sent none that Gatehouse knows.
    pub acr_values: Option<Acr>,
    /// RFC 8707 §2.1: the registered resource servers the grant is for (empty: Gatehouse's own
    /// audience).
    pub resources: Vec<String>,
    /// RFC 9449 §10: the code is bound to the DPoP key with this thumbprint.
    pub dpop_jkt: Option<String>,
}

/// Longest `acr_values` accepted (a handful of URNs; anything longer is not a real request).
const MAX_ACR_VALUES: usize = 1024;

impl AuthorizeRequest {
    /// The authentication class this request needs before a code is issued, and whether it is
    /// essential. A client registered with `require_mfa` needs [`Acr::Mfa`] for every request,
    /// as if `acr_values` named it as an Essential Claim (Core §5.5.1.1: an essential `acr` that
    /// cannot be met is a failed authentication). Otherwise `acr_values` asks for a Voluntary
    /// Claim (Core §3.1.2.1): Gatehouse steps up when it can, and issues with the class it has
    /// when it cannot (the RP checks `acr`, Core §3.1.3.7 rule 12).
    pub fn required_acr(&self) -> Option<(Acr, bool)> {
        if self.client.require_mfa {
            return Some((Acr::Mfa, true));
        }
        self.acr_values.map(|acr| (acr, false))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// RFC 6749 §4.1.2.1: with an unknown client or an unregistered redirect URI the user is
    /// told, and never redirected.
    Fatal(String),
    /// The database could not be reached: try again shortly (503, never a redirect).
    Unavailable,
    /// Any other error goes back to the client's redirect URI.
    Redirect { redirect_uri: String, state: Option<String>, error: OAuthError },
}

impl AuthorizeError {
    fn redirect(redirect_uri: &str, state: &Option<String>, code: ErrorCode, description: &str) -> Self {
        Self::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error: OAuthError::new(code, description),
        }
    }
}

/// RFC 6749 §3.1: the answer to a repeated parameter.
pub(super) const REPEATED: &str = "a parameter was included more than once (RFC 6749 §3.1)";

fn single(param: &Param) -> Result<Option<&str>, &'static str> {
    param.get().map_err(|_| REPEATED)
}

/// Scopes that give a token power over Gatehouse itself.
pub fn is_privileged(scope: &str) -> bool {
    scope == crate::rbac::ADMIN_SCOPE
}

/// Public clients are the native apps of RFC 8252 §7.3; only they may pick a loopback port at
/// run time.
fn loopback_ports(client: &Client) -> LoopbackPorts {
    if client.is_public() { LoopbackPorts::Any } else { LoopbackPorts::Exact }
}

impl OAuthService {
    /// Validates an authorization request. The client and redirect URI are checked first: until
    /// both are known to be good, errors are shown to the user instead of redirected.
    pub async fn parse_authorize(&self, params: &AuthorizeParams) -> Result<AuthorizeRequest, AuthorizeError> {
        let fatal = |m: &str| AuthorizeError::Fatal(m.to_owned());
        let client_id =
            single(&params.client_id).map_err(fatal)?.ok_or_else(|| fatal("the request has no client_id"))?;
        let client = self.clients.client_by_id(client_id).await.map_err(|e| {
            if e.is_unreachable() {
                AuthorizeError::Unavailable
            } else {
                fatal("the server could not look up the client")
            }
        })?;
        let client = client.ok_or_else(|| fatal("the application that sent you here is not registered"))?;
        // Never a redirect: a disabled client's redirect URIs are not to be trusted either.
        if client.is_disabled() {
            return Err(fatal("the application that sent you here has been disabled"));
        }
        let redirect_uri = match single(&params.redirect_uri).map_err(fatal)? {
            Some(requested) => find_match(&client.redirect_uris, requested, loopback_ports(&client))
                .map(|_| requested.to_owned())
                .ok_or_else(|| fatal("the redirect URI of this request is not registered for the application"))?,
            // RFC 6749 §3.1.2.3: optional only when exactly one is registered.
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => return Err(fatal("the request has no redirect_uri")),
        };
        let state = single(&params.state).ok().flatten().map(str::to_owned);
        let err = |code, d: &str| AuthorizeError::redirect(&redirect_uri, &state, code, d);
        let get = |param| single(param).map_err(|m| err(ErrorCode::InvalidRequest, m));

        if single(&params.state).is_err() {
            return Err(err(ErrorCode::InvalidRequest, "state was included more than once"));
        }
        match get(&params.response_type)? {
            Some("code") => {}
            Some(_) => {
                return Err(err(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"));
            }
            None => return Err(err(ErrorCode::InvalidRequest, "response_type is required")),
        }
        if get(&params.request)?.is_some() {
            return Err(err(ErrorCode::RequestNotSupported, "request objects are not supported"));
        }
        if get(&params.request_uri)?.is_some() {
            return Err(err(ErrorCode::RequestUriNotSupported, "request_uri is not supported"));
        }
        if get(&params.response_mode)?.is_some_and(|m| m != "query") {
            return Err(err(ErrorCode::InvalidRequest, "only response_mode=query is supported"));
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(err(ErrorCode::UnauthorizedClient, "the client may not use the authorization code grant"));
        }
        let scope = Scope::parse(get(&params.scope)?.unwrap_or_default())
            .map_err(|e| err(ErrorCode::InvalidScope, &e.to_string()))?;
        if !scope.is_subset_of(&client.scopes) {
            return Err(err(ErrorCode::InvalidScope, "the requested scope is not allowed for this client"));
        }
        // A user's consent must not hand a third-party application Gatehouse's own admin API:
        // privileged scopes go only to first-party clients, which an operator registers as such
        // (`--skip-consent`). Machine clients get them through client credentials, not here.
        if !client.skip_consent && scope.iter().any(is_privileged) {
            return Err(err(ErrorCode::InvalidScope, "this scope is only for first-party applications"));
        }
        let code_challenge = match (get(&params.code_challenge)?, get(&params.code_challenge_method)?) {
            (Some(_), Some(m)) if m != "S256" => {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
            (Some(_), None) => {
                // RFC 7636 §4.3 defaults to plain, which we refuse.
                return Err(err(ErrorCode::InvalidRequest, "code_challenge_method=S256 is required"));
            }
            (Some(c), Some(_)) if !pkce::valid_challenge(c) => {
                return Err(err(ErrorCode::InvalidRequest, "code_challenge is not a valid S256 challenge"));
            }
            (Some(c), Some(_)) => Some(c.to_owned()),
            (None, Some(_)) => return Err(err(ErrorCode::InvalidRequest, "code_challenge is missing")),
            (None, None) if client.is_public() || self.settings.require_pkce => {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            (None, None) => None,
        };
        let mut prompt = Prompt::default();
        for p in get(&params.prompt)?.unwrap_or_default().split(' ').filter(|p| !p.is_empty()) {
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(err(ErrorCode::InvalidRequest, "unknown prompt value")),
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(err(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
        }
        let max_age = match get(&params.max_age)? {
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|v| *v >= 0)
                    .ok_or_else(|| err(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"))?,
            ),
            None => None,
        };
        let nonce = get(&params.nonce)?.map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > 512) {
            return Err(err(ErrorCode::InvalidRequest, "nonce is too long"));
        }
        let dpop_jkt = match get(&params.dpop_jkt)? {
            Some(jkt) if is_jwk_thumbprint(jkt) => Some(jkt.to_owned()),
            Some(_) => {
                return Err(err(
                    ErrorCode::InvalidRequest,
                    "dpop_jkt must be a JWK SHA-256 thumbprint (43 base64url characters)",
                ));
            }
            None => None,
        };
        let resources = self.requested_resources(&params.resource).await.map_err(|e| err(e.code, &e.description))?;
        let acr_values = match get(&params.acr_values)? {
            Some(v) if v.len() > MAX_ACR_VALUES => {
                return Err(err(ErrorCode::InvalidRequest, "acr_values is too long"));
            }
            Some(v) => Acr::first_supported(v),
            None => None,
        };
        Ok(AuthorizeRequest {
            client,
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            scope,
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint: get(&params.login_hint)?.map(str::to_owned),
            ui_locales: get(&params.ui_locales)?.map(str::to_owned),
            acr_values,
            resources,
            dpop_jkt,
        })
    }
}

/// RFC 9449 §10 `dpop_jkt`: an RFC 7638 thumbprint with SHA-256 is base64url of 32 bytes, no
/// padding: 43 characters whose last one carries only 4 bits (so a canonical encoding ends in
/// one of `AEIMQUYcgkosw048`).
pub fn is_jwk_thumbprint(text: &str) -> bool {
    use base64::Engine as _;
    text.len() == 43 && base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).is_ok_and(|b| b.len() == 32)
}

/// `redirect_uri` with parameters appended to its query (RFC 6749 §4.1.2: keep any existing
/// query component).
pub fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            {
                let mut q = url.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            url.to_string()
        }
        Err(_) => redirect_uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9449 §10: `dpop_jkt` is the base64url SHA-256 JWK thumbprint (RFC 7638 §3.1).
    #[test]
    fn dpop_jkt_must_be_a_sha256_thumbprint() {
        assert!(is_jwk_thumbprint("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"));
        assert!(is_jwk_thumbprint(&"A".repeat(43)));
        for bad in [
            "",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs=",
            "NzbLsXh8uDCcd+6MNwXF4W/7noWXFZAfHkxZsRGC9Xs",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xt",
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X\u{0}",
        ] {
            assert!(!is_jwk_thumbprint(bad), "{bad}");
        }
    }

    #[test]
    fn appends_to_existing_query() {
        assert_eq!(
            redirect_with("https://a.example/cb?x=1", &[("code", "c d"), ("state", "s&t")]),
            "https://a.example/cb?x=1&code=c+d&state=s%26t"
        );
    }
}
