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

    /// Verifies a token presented in a request body (introspection, revocation).
    pub fn verify(&self, token: &str, now: i64) -> Option<AccessClaims> {
        self.check(token, now).ok()
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

pub fn invalid_token(description: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", description)
}
