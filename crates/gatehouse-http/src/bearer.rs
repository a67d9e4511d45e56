//! Bearer access tokens presented to Gatehouse's own APIs (RFC 6750 §2.1), verified with the
//! same strict rules as `gatehouse-guard` against our own keys — read from memory, never
//! fetched. A token presented again is answered from `gatehouse_guard::VerifiedTokens` (its
//! signature verified once per version of our JWKS; the claim checks run on every request).

use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, StatusCode, header};
use gatehouse_core::keys::KeyService;
use gatehouse_core::oauth::{DpopRejection, DpopVerifier};
use gatehouse_guard::{
    AccessClaims, KeySet, TokenScheme, Validation, VerificationKey, VerifiedTokens, parse_authorization,
};

use crate::error::ApiError;

pub struct BearerVerifier {
    keys: Arc<KeyService>,
    validation: Validation,
    /// `(kid, secret)` of the HS256 key when access tokens use HS256.
    hs256: Option<(String, zeroize::Zeroizing<Vec<u8>>)>,
    /// The key set parsed from the JWKS of the given version.
    cache: RwLock<(u64, Arc<KeySet>)>,
    /// Tokens that verified against the key set of a JWKS version.
    verified: VerifiedTokens,
}

/// Verified tokens remembered: one per active client or browser session is plenty; about 4 MB
/// when full.
const VERIFIED_TOKENS: usize = 10_000;

impl BearerVerifier {
    pub fn new(
        keys: Arc<KeyService>,
        validation: Validation,
        hs256: Option<(String, zeroize::Zeroizing<Vec<u8>>)>,
    ) -> Self {
        Self {
            keys,
            validation,
            hs256,
            cache: RwLock::new((u64::MAX, Arc::new(KeySet::new()))),
            verified: VerifiedTokens::new(VERIFIED_TOKENS),
        }
    }

    /// Our key set and the JWKS version it was parsed from.
    fn key_set(&self) -> (u64, Arc<KeySet>) {
        let jwks = self.keys.jwks();
        if let Ok(cached) = self.cache.read()
            && cached.0 == jwks.version
        {
            return (cached.0, cached.1.clone());
        }
        let mut set = KeySet::from_jwks(&jwks.json).unwrap_or_else(|e| {
            tracing::error!(error = %e, "our own JWKS does not parse");
            KeySet::new()
        });
        if let Some((kid, secret)) = &self.hs256
            && let Ok(key) = VerificationKey::hs256(kid.clone(), secret)
        {
            let _ = set.insert(key);
        }
        let set = Arc::new(set);
        if let Ok(mut w) = self.cache.write() {
            *w = (jwks.version, set.clone());
        }
        (jwks.version, set)
    }

    fn check(&self, token: &str, now: i64) -> Result<AccessClaims, gatehouse_guard::VerifyError> {
        let (version, keys) = self.key_set();
        self.verified.verify(token, &keys, version, &self.validation, now)
    }

    /// Verifies a token presented in a request body (introspection, revocation): any token
    /// Gatehouse issued, whatever its audience — one minted for a registered resource server
    /// (RFC 8707) is ours to introspect and revoke, though never accepted as a bearer token on
    /// our own APIs ([`Self::from_headers`] keeps the audience check).
    pub fn verify(&self, token: &str, now: i64) -> Option<AccessClaims> {
        match self.check(token, now) {
            Ok(claims) => Some(claims),
            Err(gatehouse_guard::VerifyError::WrongAudience) => {
                // The signature, issuer and lifetime are still checked in full; only the
                // audience is taken from the token itself.
                let validation = Validation { audiences: claimed_audiences(token), ..self.validation.clone() };
                let (version, keys) = self.key_set();
                self.verified.verify(token, &keys, version, &validation, now).ok()
            }
            Err(_) => None,
        }
    }

    /// `None` when the request carries no `Authorization` header; otherwise the verified claims
    /// of a bearer token or a 401 with `error="invalid_token"` (RFC 6750 §3.1). A DPoP-bound
    /// token is refused here (RFC 9449 §7.2); routes that take DPoP use [`Self::from_request`].
    pub fn from_headers(&self, headers: &HeaderMap, now: i64) -> Option<Result<AccessClaims, ApiError>> {
        Some(self.presented(headers, now)?.and_then(|(claims, scheme, _)| match scheme {
            TokenScheme::Bearer => Ok(claims),
            TokenScheme::Dpop => Err(invalid_token("this endpoint does not accept DPoP-bound tokens")),
        }))
    }

    /// [`Self::from_headers`] for a route that also accepts DPoP-bound tokens (RFC 9449 §7.1):
    /// such a token needs the `DPoP` scheme and a proof by its key for this request (`method`
    /// to `uri`, the absolute URI clients address), accepted once.
    pub async fn from_request(
        &self,
        dpop: &DpopVerifier,
        headers: &HeaderMap,
        method: &str,
        uri: &str,
        now: i64,
    ) -> Option<Result<AccessClaims, ApiError>> {
        let (claims, scheme, token) = match self.presented(headers, now)? {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        if scheme == TokenScheme::Bearer {
            return Some(Ok(claims));
        }
        let Some(bound) = claims.dpop_jkt() else {
            return Some(Err(invalid_token("the token is not DPoP-bound: present it with the Bearer scheme")));
        };
        let proofs = match dpop_headers(headers) {
            Ok(p) => p,
            Err(e) => return Some(Err(e)),
        };
        Some(match dpop.verify(&proofs, method, uri, Some(token)).await {
            Ok(Some(proof)) if proof.jkt == bound => Ok(claims),
            // §4.3 point 12: the proof must be by the key the token is bound to.
            Ok(Some(_)) => Err(invalid_dpop_proof("the DPoP proof is not by the key the token is bound to")),
            Ok(None) => Err(invalid_dpop_proof("a DPoP-bound token needs a DPoP proof")),
            Err(e) => Err(dpop_rejection(e)),
        })
    }

    /// The verified token and its scheme. A bound token presented as a bearer token is refused
    /// (RFC 9449 §7.2).
    fn presented<'h>(
        &self,
        headers: &'h HeaderMap,
        now: i64,
    ) -> Option<Result<(AccessClaims, TokenScheme, &'h str), ApiError>> {
        let value = headers.get(header::AUTHORIZATION)?;
        let parsed = value.to_str().ok().and_then(|v| parse_authorization(v).ok());
        let Some((scheme, token)) = parsed else {
            return Some(Err(invalid_token("the Authorization header is not a Bearer or DPoP token")));
        };
        let claims = match self.check(token, now) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "bearer token refused");
                return Some(Err(invalid_token(e.client_description())));
            }
        };
        if scheme == TokenScheme::Bearer && claims.dpop_jkt().is_some() {
            return Some(Err(invalid_token("the token is DPoP-bound: present it with the DPoP scheme and a proof")));
        }
        Some(Ok((claims, scheme, token)))
    }
}

/// The values of the request's `DPoP` headers (RFC 9449 §4.1); one that is not visible ASCII is
/// refused as a malformed proof.
pub fn dpop_headers(headers: &HeaderMap) -> Result<Vec<&str>, ApiError> {
    headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().map_err(|_| invalid_dpop_proof("the DPoP header is not a JWT")))
        .collect()
}

/// RFC 9449 §7.1: a refused proof at a resource is a 401 with `error="invalid_dpop_proof"`.
pub fn invalid_dpop_proof(description: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", description)
}

/// The answer to a refused `DPoP` header at a resource; a storage failure is a 500.
fn dpop_rejection(e: DpopRejection) -> ApiError {
    match e {
        DpopRejection::Store(e) => ApiError::store(&e, format_args!("recording a DPoP proof failed: {e}")),
        DpopRejection::Replayed => invalid_dpop_proof("the DPoP proof was used before"),
        // RFC 9449 §9: 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"`; the
        // `DPoP-Nonce` header is added by `middleware::dpop_nonce`.
        DpopRejection::UseNonce => {
            ApiError::new(StatusCode::UNAUTHORIZED, "use_dpop_nonce", "the DPoP proof must carry the server's nonce")
        }
        DpopRejection::Several => invalid_dpop_proof("send exactly one DPoP header"),
        DpopRejection::Invalid(e) => {
            tracing::debug!(error = %e, "DPoP proof refused");
            invalid_dpop_proof("the DPoP proof is invalid")
        }
    }
}

/// The `aud` a JWT claims (string or array), read without verification: only ever used to
/// verify that same token in full.
fn claimed_audiences(token: &str) -> Vec<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else { return Vec::new() };
    match serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| v.get("aud").cloned()) {
        Some(serde_json::Value::String(a)) => vec![a],
        Some(serde_json::Value::Array(list)) => {
            list.into_iter().filter_map(|a| a.as_str().map(str::to_owned)).collect()
        }
        _ => Vec::new(),
    }
}

pub fn invalid_token(description: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
}
