//! DPoP (RFC 9449) at Gatehouse: a proof checked by `gatehouse-guard` ([`verify_proof`]) and
//! then accepted once across the cluster (§11.1, [`DpopReplayStore`]). The token endpoint binds
//! the tokens it issues to the proof's key (§5, `cnf.jkt` §6.1); UserInfo, the admin API and the
//! decision API demand a proof by that key with every bound token (§7), and the first-party
//! `/api/v1` refuses bound tokens.
//!
//! A proof is accepted for [`ProofRequest::DEFAULT_MAX_AGE_SECS`] after its `iat` (and
//! [`ProofRequest::DEFAULT_LEEWAY_SECS`] ahead), once. With server nonces configured
//! ([`DpopVerifier::with_nonces`], `dpop.require_nonce`), a proof must also carry a nonce the
//! server issued recently (§4.3 point 10, §8, §9; stateless, see [`DpopNonces`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_guard::{DpopError, DpopProof, ProofRequest, verify_proof};
use sha2::{Digest, Sha256};

use super::dpop_nonce::DpopNonces;
use crate::clock::Clock;
use crate::store::{DpopReplayStore, StoreError};

/// Accepted proofs between two purges of expired `jti`s.
const PURGE_EVERY: u64 = 1024;

/// Why a `DPoP` header was refused.
#[derive(Debug, thiserror::Error)]
pub enum DpopRejection {
    /// §4.3 point 1.
    #[error("the request carries more than one DPoP header")]
    Several,
    #[error(transparent)]
    Invalid(#[from] DpopError),
    /// §11.1: this proof was accepted before.
    #[error("the DPoP proof was used before")]
    Replayed,
    /// §8, §9: the server requires a nonce and the proof carries none, or a stale or forged one
    /// (`use_dpop_nonce`; the answer carries a fresh one in `DPoP-Nonce`).
    #[error("the DPoP proof lacks a valid server nonce")]
    UseNonce,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct DpopVerifier {
    replay: Arc<dyn DpopReplayStore>,
    clock: Arc<dyn Clock>,
    accepted: AtomicU64,
    nonces: Option<DpopNonces>,
}

impl DpopVerifier {
    pub fn new(replay: Arc<dyn DpopReplayStore>, clock: Arc<dyn Clock>) -> Self {
        Self { replay, clock, accepted: AtomicU64::new(0), nonces: None }
    }

    /// Requires every proof to carry a nonce from `nonces` (RFC 9449 §8, §9).
    pub fn with_nonces(mut self, nonces: DpopNonces) -> Self {
        self.nonces = Some(nonces);
        self
    }

    /// A fresh nonce for a `DPoP-Nonce` response header, when nonces are required.
    pub fn fresh_nonce(&self) -> Option<String> {
        self.nonces.as_ref().map(|n| n.issue(self.clock.now()))
    }

    /// Checks the request's `DPoP` header values (none: `Ok(None)`) for a request of `method` to
    /// `uri` (the absolute URI clients address, query ignored), presenting `access_token` at a
    /// resource. A proof is accepted once: a second use of its `jti` with the same key is refused.
    pub async fn verify(
        &self,
        proofs: &[&str],
        method: &str,
        uri: &str,
        access_token: Option<&str>,
    ) -> Result<Option<DpopProof>, DpopRejection> {
        let proof = match proofs {
            [] => return Ok(None),
            [one] => *one,
            _ => return Err(DpopRejection::Several),
        };
        let now = self.clock.now();
        let request = ProofRequest {
            method,
            uri,
            access_token,
            now,
            max_age_secs: ProofRequest::DEFAULT_MAX_AGE_SECS,
            leeway_secs: ProofRequest::DEFAULT_LEEWAY_SECS,
        };
        let checked = verify_proof(proof, &request)?;
        // §4.3 point 10, before the jti is recorded: the client retries with a new proof.
        if let Some(nonces) = &self.nonces
            && !checked.nonce.as_deref().is_some_and(|n| nonces.accepts(n, now))
        {
            return Err(DpopRejection::UseNonce);
        }
        let jti_hash = Sha256::digest(checked.jti.as_bytes());
        if !self.replay.record_dpop_jti(&checked.jkt, &jti_hash, checked.replay_until, now).await? {
            return Err(DpopRejection::Replayed);
        }
        if self.accepted.fetch_add(1, Ordering::Relaxed).is_multiple_of(PURGE_EVERY)
            && let Err(e) = self.replay.purge_dpop_jtis(now).await
        {
            tracing::warn!(error = %e, "purging expired DPoP proof jtis failed");
        }
        Ok(Some(checked))
    }
}
