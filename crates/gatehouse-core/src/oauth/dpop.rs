//! DPoP (RFC 9449) at Gatehouse: a proof checked by `gatehouse-guard` ([`verify_proof`]) and
//! then accepted once across the cluster (§11.1, [`DpopReplayStore`]). The token endpoint binds
//! the tokens it issues to the proof's key (§5, `cnf.jkt` §6.1); UserInfo, the admin API and the
//! decision API demand a proof by that key with every bound token (§7), and the first-party
//! `/api/v1` refuses bound tokens.
//!
//! Server nonces (§8, §9) are not issued: a proof is accepted for [`ProofRequest::DEFAULT_MAX_AGE_SECS`]
//! after its `iat` (and [`ProofRequest::DEFAULT_LEEWAY_SECS`] ahead), once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gatehouse_guard::{DpopError, DpopProof, ProofRequest, verify_proof};
use sha2::{Digest, Sha256};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct DpopVerifier {
    replay: Arc<dyn DpopReplayStore>,
    clock: Arc<dyn Clock>,
    accepted: AtomicU64,
}

impl DpopVerifier {
    pub fn new(replay: Arc<dyn DpopReplayStore>, clock: Arc<dyn Clock>) -> Self {
        Self { replay, clock, accepted: AtomicU64::new(0) }
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
