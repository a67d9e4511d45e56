//! Bearer access tokens presented to Gatehouse's own APIs (RFC 6750 §2.1), verified with the
//! same strict rules as `gatehouse-guard` against our own keys — read from memory, never
//! fetched. A token presented again is answered from `gatehouse_guard::VerifiedTokens` (its
//! signature verified once per version of our JWKS; the claim checks run on every request).

use std::sync::{Arc, RwLock};

use axum::http::{HeaderMap, StatusCode, header};
use gatehouse_core::keys::KeyService;
use gatehouse_guard::{AccessClaims, KeySet, Validation, VerificationKey, VerifiedTokens, parse_bearer};

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
    /// or a 401 with `error="invalid_token"` (RFC 6750 §3.1).
    pub fn from_headers(&self, headers: &HeaderMap, now: i64) -> Option<Result<AccessClaims, ApiError>> {
        let value = headers.get(header::AUTHORIZATION)?;
        let token = value.to_str().ok().and_then(|v| parse_bearer(v).ok());
        Some(match token {
            None => Err(invalid_token("the Authorization header is not a Bearer token")),
            Some(t) => self.check(t, now).map_err(|e| {
                tracing::debug!(error = %e, "bearer token refused");
                invalid_token(e.client_description())
            }),
        })
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
