//! A cache of access tokens that verified, so that a token presented again skips its signature
//! check.
//!
//! A client presents the same access token on every request for its lifetime (minutes), and
//! the signature check is most of what a bearer request costs: an ES256 verification is about
//! 50 µs, five times a whole trivial HTTP exchange (BENCHMARKS.md). API gateways keep such a
//! cache for the same reason. What it may and may not remember:
//!
//! - **Only successes, by the token's SHA-256.** The exact bytes must match; a token that failed
//!   is verified again every time it is presented.
//! - **Only for the key set it was verified against.** The caller passes a generation number
//!   for its [`KeySet`], which must grow whenever the set changes; a newer generation (a key
//!   added, retired or removed) empties the cache, so a token signed by a key that is no longer
//!   trusted is refused at once.
//! - **Never the time.** Issuer, audience, `exp`, `nbf` and `iat` are checked again on every
//!   use with the caller's [`Validation`], exactly as [`verify`] checks them.
//! - **Never revocation.** Whether the grant behind a token is still live is the caller's
//!   question, asked per request; this cache only saves re-checking a signature.
//! - **Bounded.** At most `capacity` tokens; when full, expired ones go, and if that frees
//!   nothing, all of them (only valid tokens can fill it, and each costs its issuer a signature).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::claims::AccessClaims;
use crate::keys::KeySet;
use crate::verify::{MAX_TOKEN_LEN, Validation, VerifyError, check_claims, verify};

pub struct VerifiedTokens {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    tokens: HashMap<[u8; 32], AccessClaims>,
}

impl VerifiedTokens {
    /// A cache of at most `capacity` tokens (about 400 bytes each with their claims).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner::default()) }
    }

    /// [`verify`], unless this exact token verified before against key-set `generation`; the
    /// claim checks of `v` at `now_unix` run either way.
    pub fn verify(
        &self,
        token: &str,
        keys: &KeySet,
        generation: u64,
        v: &Validation,
        now_unix: i64,
    ) -> Result<AccessClaims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN || self.capacity == 0 {
            return verify(token, keys, v, now_unix);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        let cached = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            // Generations only grow: a newer one empties the cache at once; a request still
            // holding an older key set gets no answer from it.
            if inner.generation < generation {
                inner.tokens.clear();
                inner.generation = generation;
            }
            if inner.generation == generation { inner.tokens.get(&id).cloned() } else { None }
        };
        if let Some(claims) = cached {
            check_claims(&claims, v, now_unix)?;
            return Ok(claims);
        }
        let claims = verify(token, keys, v, now_unix)?;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != generation {
            // Another request moved to a newer key set meanwhile: nothing to remember.
            return Ok(claims);
        }
        if inner.tokens.len() >= self.capacity {
            let leeway = v.leeway();
            inner.tokens.retain(|_, c| now_unix < c.exp.saturating_add(leeway));
            if inner.tokens.len() >= self.capacity {
                inner.tokens.clear();
            }
        }
        inner.tokens.insert(id, claims.clone());
        Ok(claims)
    }

    /// Tokens held now.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::test_support::{AUDIENCE, ISSUER, NOW, TestKey, claims, key_set, validation};

    fn setup() -> (TestKey, KeySet, Validation) {
        let signer = TestKey::es256("k1");
        let keys = key_set(&[&signer]);
        (signer, keys, validation())
    }

    #[test]
    fn a_cached_token_is_answered_without_its_signature_and_still_expires() {
        let (signer, keys, v) = setup();
        let token = signer.token(&claims(NOW));
        let cache = VerifiedTokens::new(10);
        let first = cache.verify(&token, &keys, 1, &v, NOW).unwrap();
        assert_eq!(cache.len(), 1);
        // The same token against an empty key set: only the cache can answer it.
        let again = cache.verify(&token, &KeySet::new(), 1, &v, NOW).unwrap();
        assert_eq!(first, again);
        // RFC 7519 §4.1.4: exp (plus leeway) is checked on every use, cached or not.
        let late = claims(NOW)["exp"].as_i64().unwrap() + 31;
        assert_eq!(cache.verify(&token, &keys, 1, &v, late), Err(VerifyError::Expired));
        // So are issuer and audience of the caller's validation.
        let other = Validation::new(ISSUER, ["https://other.example.test"]);
        assert_ne!(AUDIENCE, "https://other.example.test");
        assert_eq!(cache.verify(&token, &keys, 1, &other, NOW), Err(VerifyError::WrongAudience));
    }

    #[test]
    fn a_new_key_set_generation_forgets_everything() {
        let (signer, keys, v) = setup();
        let token = signer.token(&claims(NOW));
        let cache = VerifiedTokens::new(10);
        cache.verify(&token, &keys, 1, &v, NOW).unwrap();
        // The key was removed (generation 2 has no keys): the cached success is not used.
        assert!(matches!(cache.verify(&token, &KeySet::new(), 2, &v, NOW), Err(VerifyError::UnknownKid(_))));
        assert!(matches!(cache.verify(&token, &KeySet::new(), 1, &v, NOW), Err(VerifyError::UnknownKid(_))));
    }

    #[test]
    fn failures_are_not_cached_and_the_size_is_bounded() {
        let (signer, keys, v) = setup();
        let cache = VerifiedTokens::new(3);
        let mut forged = signer.token(&claims(NOW));
        forged.push('A');
        assert!(cache.verify(&forged, &keys, 1, &v, NOW).is_err());
        assert!(cache.is_empty());
        for i in 0..10 {
            let mut c = claims(NOW);
            c["jti"] = serde_json::json!(format!("jti-{i}"));
            cache.verify(&signer.token(&c), &keys, 1, &v, NOW).unwrap();
            assert!(cache.len() <= 3);
        }
    }
}
