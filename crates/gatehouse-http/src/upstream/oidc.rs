//! OpenID Connect upstreams: discovery (OpenID Connect Discovery 1.0 §4, issuer checked per
//! §4.3), the JWKS (cached; refetched at most every [`JWKS_REFRESH_INTERVAL`] when an ID token
//! names an unknown `kid`, OIDC Core §10.1.1), the authorization request (§3.1.2.1), the code
//! exchange (§3.1.3) and ID token validation (§3.1.3.7) with the openidconnect crate's
//! verifier plus the steps it leaves to us (`azp`, `iat` window, Microsoft's tenant issuer,
//! `auth_time` after `prompt=login`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::federation::claims::map_claims;
use gatehouse_core::federation::provider::is_https_or_loopback;
use gatehouse_core::federation::{FlowSecrets, LoginState, UpstreamIdentity};
use openidconnect::core::{
    CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthType, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, TokenResponse,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{Upstream, UpstreamError};

/// How long a discovery document (and its JWKS) is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// An unknown `kid` refetches the JWKS at most this often, in seconds of the server clock (a
/// flood of forged tokens cannot turn into a flood of requests to the upstream).
const JWKS_REFRESH_INTERVAL: i64 = 10;
/// ID tokens issued further in the future than this (clock skew) are refused.
const IAT_LEEWAY: i64 = 60;
/// ID tokens issued longer ago than this are refused (OIDC Core §3.1.3.7 step 10).
const IAT_MAX_AGE: i64 = 600;

struct Discovered {
    metadata: CoreProviderMetadata,
    /// RFC 9207 §3 `authorization_response_iss_parameter_supported`.
    iss_parameter_supported: bool,
    jwks: CoreJsonWebKeySet,
    fetched: Instant,
    /// Server-clock seconds of the last JWKS fetch.
    jwks_fetched: i64,
}

#[derive(Default)]
pub(super) struct OidcUpstream {
    cache: Mutex<Option<Arc<Discovered>>>,
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(format!("{what}: {e}"))
}

impl OidcUpstream {
    fn cached(&self) -> Option<Arc<Discovered>> {
        self.cache.lock().ok().and_then(|c| c.clone())
    }

    fn store(&self, d: Arc<Discovered>) {
        if let Ok(mut c) = self.cache.lock() {
            *c = Some(d);
        }
    }

    async fn discovered(&self, up: &Upstream) -> Result<Arc<Discovered>, UpstreamError> {
        if let Some(d) = self.cached().filter(|d| d.fetched.elapsed() < METADATA_TTL) {
            return Ok(d);
        }
        let url = format!("{}/.well-known/openid-configuration", up.config.issuer.trim_end_matches('/'));
        let doc = up.http.get_json(&url, None).await.map_err(|e| unavailable("discovery", e))?;
        let issuer = doc.get("issuer").and_then(Value::as_str).unwrap_or_default();
        if !up.config.issuer_rule.accepts_discovered(issuer) {
            return Err(unavailable("discovery", "the document names another issuer (OpenID Connect Discovery §4.3)"));
        }
        let iss_parameter_supported =
            doc.get("authorization_response_iss_parameter_supported").and_then(Value::as_bool) == Some(true);
        let metadata: CoreProviderMetadata = serde_json::from_value(doc).map_err(|e| unavailable("discovery", e))?;
        check_endpoints(&metadata)?;
        let jwks = fetch_jwks(up, &metadata).await?;
        let d = Arc::new(Discovered {
            metadata,
            iss_parameter_supported,
            jwks,
            fetched: Instant::now(),
            jwks_fetched: up.clock.now(),
        });
        self.store(d.clone());
        Ok(d)
    }

    /// A fresh JWKS, unless one was fetched within [`JWKS_REFRESH_INTERVAL`].
    async fn refresh_jwks(&self, up: &Upstream, d: &Discovered) -> Result<Option<Arc<Discovered>>, UpstreamError> {
        if up.clock.now() - d.jwks_fetched < JWKS_REFRESH_INTERVAL {
            return Ok(None);
        }
        let jwks = fetch_jwks(up, &d.metadata).await?;
        let fresh = Arc::new(Discovered {
            metadata: d.metadata.clone(),
            iss_parameter_supported: d.iss_parameter_supported,
            jwks,
            fetched: d.fetched,
            jwks_fetched: up.clock.now(),
        });
        self.store(fresh.clone());
        Ok(Some(fresh))
    }

    pub(super) async fn iss_parameter_required(&self, up: &Upstream) -> Result<bool, UpstreamError> {
        Ok(self.discovered(up).await?.iss_parameter_supported)
    }

    fn client(up: &Upstream, d: &Discovered) -> Result<ClientFor, UpstreamError> {
        let redirect = RedirectUrl::new(up.redirect_uri.clone()).map_err(|e| unavailable("redirect URI", e))?;
        let secret = ClientSecret::new(up.secret.expose_secret().to_owned());
        let mut client = CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(up.config.client_id.clone()),
            Some(secret),
        )
        .set_redirect_uri(redirect);
        // RFC 6749 §2.3.1: Basic unless the provider accepts only the form body.
        let methods = d.metadata.token_endpoint_auth_methods_supported();
        let basic = methods.is_none_or(|m| m.contains(&CoreClientAuthMethod::ClientSecretBasic));
        if !basic && methods.is_some_and(|m| m.contains(&CoreClientAuthMethod::ClientSecretPost)) {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        Ok(client)
    }

    pub(super) async fn authorization_url(
        &self,
        up: &Upstream,
        secrets: &FlowSecrets,
        force_login: bool,
    ) -> Result<String, UpstreamError> {
        let d = self.discovered(up).await?;
        let client = Self::client(up, &d)?;
        let (state, nonce) = (secrets.state.clone(), secrets.nonce.clone());
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(secrets.pkce_verifier.clone()));
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in up.config.scopes.iter().filter(|s| *s != "openid") {
            req = req.add_scope(Scope::new(scope.clone()));
        }
        if force_login {
            // OIDC Core §3.1.2.1: re-authenticate, and report when (auth_time) so we can check.
            req = req.add_prompt(CoreAuthPrompt::Login).set_max_age(Duration::ZERO);
        }
        let (url, _, _) = req.url();
        Ok(url.to_string())
    }

    pub(super) async fn identity(
        &self,
        up: &Upstream,
        code: &str,
        secrets: &FlowSecrets,
        state: &LoginState,
        now: i64,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let mut d = self.discovered(up).await?;
        let client = Self::client(up, &d)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable("token endpoint", e))?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
            .request_async(&up.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => UpstreamError::rejected(
                    "token_exchange_failed",
                    format!("the token endpoint answered {}", r.error()),
                ),
                RequestTokenError::Parse(..) => {
                    UpstreamError::rejected("token_response_invalid", "unreadable token response")
                }
                other => unavailable("token endpoint", other),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| UpstreamError::rejected("id_token_missing", "the token response has no ID token"))?;
        let mut retried = false;
        let subject = loop {
            let verifier = verifier(up, &d, now);
            let nonce_check = |got: Option<&Nonce>| -> Result<(), String> {
                // §3.1.3.7 step 11, compared in constant time.
                match got {
                    Some(n) if bool::from(n.secret().as_bytes().ct_eq(secrets.nonce.as_bytes())) => Ok(()),
                    _ => Err("nonce mismatch".into()),
                }
            };
            match id_token.claims(&verifier, nonce_check) {
                Ok(claims) => break claims.subject().clone(),
                Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
                    if !retried =>
                {
                    retried = true;
                    match self.refresh_jwks(up, &d).await? {
                        Some(fresh) => d = fresh,
                        None => {
                            return Err(UpstreamError::rejected("id_token_unknown_key", "no key for the token's kid"));
                        }
                    }
                }
                Err(e) => return Err(claims_error(e)),
            }
        };
        // The signature is valid: the payload can be read as plain JSON for the remaining checks
        // and the claim mapping (which may name claims the library does not model).
        let mut payload = payload(&id_token.to_string())?;
        extra_checks(up, &payload, state)?;
        // From the ID token only (never UserInfo): what the session's freshness is based on.
        let auth_time = payload.get("auth_time").and_then(Value::as_i64);
        // OIDC Core §5.3: providers that keep the email out of the ID token (Gatehouse itself
        // does) serve it from UserInfo; the library checks its `sub` is the ID token's (§5.3.2).
        let wants_userinfo = payload.get(&up.config.claims.email).is_none();
        if wants_userinfo && d.metadata.userinfo_endpoint().is_some() {
            let info: CoreUserInfoClaims = client
                .user_info(token.access_token().clone(), Some(subject))
                .map_err(|e| unavailable("userinfo", e))?
                .request_async(&up.http)
                .await
                .map_err(|e| UpstreamError::rejected("userinfo_invalid", e.to_string()))?;
            if let (Some(map), Ok(Value::Object(extra))) = (payload.as_object_mut(), serde_json::to_value(&info)) {
                for (k, v) in extra {
                    map.entry(k).or_insert(v);
                }
            }
        }
        let identity = map_claims(&up.config.id, &payload, &up.config.claims)
            .map_err(|e| UpstreamError::rejected("id_token_no_subject", e.to_string()))?;
        Ok(UpstreamIdentity { auth_time, ..identity })
    }
}

type ClientFor = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The endpoints a discovery document names get the code, the client secret and the access
/// token, or the keys we trust: https only, like the issuer (http on loopback for tests).
fn check_endpoints(metadata: &CoreProviderMetadata) -> Result<(), UpstreamError> {
    let endpoints = [
        ("token_endpoint", metadata.token_endpoint().map(|u| u.url())),
        ("jwks_uri", Some(metadata.jwks_uri().url())),
        ("userinfo_endpoint", metadata.userinfo_endpoint().map(|u| u.url())),
    ];
    match endpoints.into_iter().find(|(_, u)| u.is_some_and(|u| !is_https_or_loopback(u))) {
        Some((name, _)) => Err(unavailable("discovery", format!("{name} must be an https URL"))),
        None => Ok(()),
    }
}

async fn fetch_jwks(up: &Upstream, metadata: &CoreProviderMetadata) -> Result<CoreJsonWebKeySet, UpstreamError> {
    let doc = up.http.get_json(metadata.jwks_uri().url().as_str(), None).await.map_err(|e| unavailable("JWKS", e))?;
    serde_json::from_value(doc).map_err(|e| unavailable("JWKS", e))
}

/// The library's checks: signature with the upstream's keys and an asymmetric algorithm only
/// (never `none`, never HMAC with our secret), `iss` exact (except for a tenant template, checked
/// in [`extra_checks`]), `aud` contains our client id and nothing untrusted, `exp`, `iat`.
fn verifier<'a>(up: &'a Upstream, d: &Discovered, now: i64) -> CoreIdTokenVerifier<'a> {
    let issuer = up.config.issuer_rule.exact().unwrap_or(&up.config.issuer);
    let issuer = IssuerUrl::new(issuer.to_owned()).unwrap_or_else(|_| d.metadata.issuer().clone());
    CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(up.config.client_id.clone()),
        ClientSecret::new(up.secret.expose_secret().to_owned()),
        issuer,
        d.jwks.clone(),
    )
    .require_issuer_match(up.config.issuer_rule.exact().is_some())
    .set_allowed_algs([
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EdDsa,
    ])
    .set_issue_time_verifier_fn(move |iat| {
        let iat = iat.timestamp();
        if iat > now + IAT_LEEWAY {
            Err("issued in the future".into())
        } else if iat < now - IAT_MAX_AGE {
            Err("issued too long ago".into())
        } else {
            Ok(())
        }
    })
}

fn claims_error(e: ClaimsVerificationError) -> UpstreamError {
    let reason = match &e {
        ClaimsVerificationError::InvalidIssuer(_) => "id_token_wrong_issuer",
        ClaimsVerificationError::InvalidAudience(_) => "id_token_wrong_audience",
        ClaimsVerificationError::Expired(_) => "id_token_expired",
        ClaimsVerificationError::InvalidNonce(_) => "id_token_nonce_mismatch",
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            "id_token_unknown_key"
        }
        ClaimsVerificationError::SignatureVerification(_) => "id_token_bad_signature",
        _ => "id_token_invalid",
    };
    UpstreamError::rejected(reason, e.to_string())
}

fn payload(jwt: &str) -> Result<Value, UpstreamError> {
    let part = jwt.split('.').nth(1).unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| UpstreamError::rejected("id_token_invalid", "unreadable payload"))
}

/// OIDC Core §3.1.3.7 steps the library leaves to the client.
fn extra_checks(up: &Upstream, claims: &Value, state: &LoginState) -> Result<(), UpstreamError> {
    let client_id = up.config.client_id.as_str();
    // Steps 4–5: several audiences need an `azp`; an `azp` must be us.
    let many = claims.get("aud").and_then(Value::as_array).is_some_and(|a| a.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => {
            return Err(UpstreamError::rejected("id_token_wrong_azp", "azp is another client"));
        }
        None if many => return Err(UpstreamError::rejected("id_token_wrong_azp", "several audiences and no azp")),
        _ => {}
    }
    // Step 2 for Microsoft's multi-tenant issuer template: `iss` must carry the token's `tid`.
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    let tid = claims.get("tid").and_then(Value::as_str);
    if !up.config.issuer_rule.accepts_token(iss, tid) {
        return Err(UpstreamError::rejected("id_token_wrong_issuer", "iss does not match the provider"));
    }
    // `prompt=login` + `max_age=0` were sent: §3.1.2.1 makes `auth_time` mandatory, and it must
    // be from this login (with the usual clock leeway).
    if state.force_login {
        let fresh = claims.get("auth_time").and_then(Value::as_i64).is_some_and(|t| t >= state.created_at - IAT_LEEWAY);
        if !fresh {
            return Err(UpstreamError::rejected("stale_upstream_login", "prompt=login was not honoured"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn metadata(token: &str, jwks: &str, userinfo: &str) -> CoreProviderMetadata {
        serde_json::from_value(json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "token_endpoint": token,
            "jwks_uri": jwks,
            "userinfo_endpoint": userinfo,
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }))
        .unwrap()
    }

    #[test]
    fn discovered_endpoints_must_be_https() {
        let (t, j, u) = ("https://op.example/token", "https://op.example/jwks", "https://op.example/userinfo");
        assert!(check_endpoints(&metadata(t, j, u)).is_ok());
        // Loopback http is allowed (development, tests).
        let local = metadata("http://127.0.0.1:9/token", "http://localhost:9/jwks", "http://[::1]:9/userinfo");
        assert!(check_endpoints(&local).is_ok());
        for (m, name) in [
            (metadata("http://op.example/token", j, u), "token_endpoint"),
            (metadata(t, "http://op.example/jwks", u), "jwks_uri"),
            (metadata(t, j, "http://op.example/userinfo"), "userinfo_endpoint"),
        ] {
            match check_endpoints(&m) {
                Err(UpstreamError::Unavailable(msg)) => assert!(msg.contains(name), "{msg}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
