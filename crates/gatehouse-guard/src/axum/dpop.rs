//! DPoP at a resource server (RFC 9449 §7.1): the proof of a request that presents a bound
//! token, checked with [`crate::verify_proof`] and accepted once (§11.1) by this process.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ::axum::http::HeaderMap;

use crate::dpop::{ProofRequest, verify_proof};

/// Remembered proofs; when full, expired ones go first, and if none has expired every new proof
/// is refused until one does (fail closed rather than forget a live `jti`).
const MAX_SEEN: usize = 100_000;

pub(crate) struct DpopResource {
    /// `https://api.example.com`: what clients put before the path in `htu`.
    origin: String,
    /// `(jkt, jti)` of accepted proofs, until they are too old to be accepted again.
    seen: Mutex<HashMap<(String, String), i64>>,
}

/// An `http(s)://host[:port]` origin, nothing after it.
pub(crate) fn valid_origin(origin: &str) -> bool {
    url::Url::parse(origin).is_ok_and(|u| {
        matches!(u.scheme(), "https" | "http")
            && u.host().is_some()
            && u.path() == "/"
            && !origin.ends_with('/')
            && u.query().is_none()
            && u.fragment().is_none()
            && u.username().is_empty()
    })
}

impl DpopResource {
    pub(crate) fn new(origin: String) -> Self {
        Self { origin, seen: Mutex::new(HashMap::new()) }
    }

    /// §7.1: exactly one proof, valid for this request and `token`, by the key `bound`, not seen
    /// before. The error is the reason to log and send.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        method: &str,
        path: &str,
        token: &str,
        bound: &str,
        now: i64,
    ) -> Result<(), &'static str> {
        let mut proofs = headers.get_all("dpop").iter();
        let (Some(proof), None) = (proofs.next(), proofs.next()) else {
            return Err("send exactly one DPoP proof");
        };
        let proof = proof.to_str().map_err(|_| "the DPoP proof is not a JWT")?;
        let uri = format!("{}{path}", self.origin);
        let request = ProofRequest {
            method,
            uri: &uri,
            access_token: Some(token),
            now,
            max_age_secs: ProofRequest::DEFAULT_MAX_AGE_SECS,
            leeway_secs: ProofRequest::DEFAULT_LEEWAY_SECS,
        };
        let checked = verify_proof(proof, &request).map_err(|_| "the DPoP proof is invalid")?;
        if checked.jkt != bound {
            return Err("the DPoP proof is not by the key the token is bound to");
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_SEEN {
            seen.retain(|_, until| *until > now);
            if seen.len() >= MAX_SEEN {
                return Err("too many recent DPoP proofs; try again shortly");
            }
        }
        let key = (checked.jkt, checked.jti);
        match seen.get(&key) {
            Some(until) if *until > now => Err("the DPoP proof was used before"),
            _ => {
                seen.insert(key, checked.replay_until);
                Ok(())
            }
        }
    }
}
