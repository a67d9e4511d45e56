//! DPoP storage (migration 0022): the `DpopReplayStore` contract — atomic insert-if-absent of a
//! proof's `jti` per key thumbprint (RFC 9449 §11.1), expired records taken over and purged —
//! and a refresh family's key binding (§5) kept across a round trip (see `refresh`).

use std::sync::Arc;

use crate::fixtures::T0;
use crate::harness::TestDb;

const JKT_A: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
const JKT_B: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

conformance_tests!(a_proof_jti_is_recorded_once_per_key, an_expired_proof_jti_is_taken_over_and_purged);

conformance_tests!(multi_thread: of_concurrent_proofs_with_one_jti_exactly_one_wins);

async fn a_proof_jti_is_recorded_once_per_key(s: &TestDb) {
    let jti = [7u8; 32];
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &jti, T0 + 360, T0).await.unwrap());
    assert!(!s.dpop_jtis.record_dpop_jti(JKT_A, &jti, T0 + 400, T0 + 10).await.unwrap(), "replay");
    assert!(s.dpop_jtis.record_dpop_jti(JKT_B, &jti, T0 + 360, T0).await.unwrap(), "per key");
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &[8u8; 32], T0 + 360, T0).await.unwrap(), "other jti");
    // Malformed input is an error, never a silent success.
    assert!(s.dpop_jtis.record_dpop_jti("short", &jti, T0 + 360, T0).await.is_err());
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &[1u8; 31], T0 + 360, T0).await.is_err());
}

async fn an_expired_proof_jti_is_taken_over_and_purged(s: &TestDb) {
    let (old, live) = ([1u8; 32], [2u8; 32]);
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &old, T0 + 60, T0).await.unwrap());
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &live, T0 + 500, T0).await.unwrap());
    assert!(s.dpop_jtis.record_dpop_jti(JKT_A, &old, T0 + 200, T0 + 60).await.unwrap(), "dead at expires_at");
    assert_eq!(s.dpop_jtis.purge_dpop_jtis(T0 + 199).await.unwrap(), 0);
    assert_eq!(s.dpop_jtis.purge_dpop_jtis(T0 + 200).await.unwrap(), 1);
    assert!(!s.dpop_jtis.record_dpop_jti(JKT_A, &live, T0 + 600, T0 + 200).await.unwrap(), "survived the purge");
}

async fn of_concurrent_proofs_with_one_jti_exactly_one_wins(s: &TestDb) {
    let store = Arc::clone(&s.dpop_jtis);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record_dpop_jti(JKT_A, &[9u8; 32], T0 + 60, T0).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}
