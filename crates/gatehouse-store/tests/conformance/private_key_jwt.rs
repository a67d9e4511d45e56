//! private_key_jwt storage (migration 0006): a client's JWK Set round trip, and the
//! `AssertionReplayStore` contract — atomic insert-if-absent of a client assertion's `jti`
//! (RFC 7523 §3 point 7), expired records taken over and purged, records gone with the client.

use std::sync::Arc;

use gatehouse_core::oauth::AuthMethod;

use crate::fixtures::{T0, client, key_client};
use crate::harness::TestDb;

conformance_tests!(
    a_key_client_round_trips_its_jwks,
    a_jti_is_recorded_once_per_client,
    an_expired_jti_is_taken_over_and_purged,
    deleting_a_client_deletes_its_jtis,
);

conformance_tests!(multi_thread: of_concurrent_records_of_one_jti_exactly_one_wins);

async fn a_key_client_round_trips_its_jwks(s: &TestDb) {
    let keyed = key_client("keyed", T0);
    s.clients.insert_client(&keyed).await.unwrap();
    let stored = s.clients.client_by_id("keyed").await.unwrap().unwrap();
    assert_eq!(stored, keyed);
    assert_eq!(stored.auth_method, AuthMethod::PrivateKeyJwt);
    assert_eq!(stored.jwks.as_ref().map(|j| j.keys().len()), Some(1), "the stored key still parses");
    assert_eq!(stored.jwks.unwrap().keys()[0].kid(), "k-1 \"quoted\"");
}

async fn a_jti_is_recorded_once_per_client(s: &TestDb) {
    s.clients.insert_client(&key_client("a", T0)).await.unwrap();
    s.clients.insert_client(&key_client("b", T0)).await.unwrap();
    let jti = [7u8; 32];
    assert!(s.assertion_jtis.record_assertion_jti("a", &jti, T0 + 60, T0).await.unwrap());
    assert!(!s.assertion_jtis.record_assertion_jti("a", &jti, T0 + 90, T0 + 10).await.unwrap(), "replay");
    assert!(!s.assertion_jtis.record_assertion_jti("a", &jti, T0 + 90, T0 + 59).await.unwrap(), "still live");
    assert!(s.assertion_jtis.record_assertion_jti("b", &jti, T0 + 60, T0).await.unwrap(), "per client");
    assert!(s.assertion_jtis.record_assertion_jti("a", &[8u8; 32], T0 + 60, T0).await.unwrap(), "other jti");
}

async fn an_expired_jti_is_taken_over_and_purged(s: &TestDb) {
    s.clients.insert_client(&key_client("a", T0)).await.unwrap();
    let (old, live) = ([1u8; 32], [2u8; 32]);
    assert!(s.assertion_jtis.record_assertion_jti("a", &old, T0 + 60, T0).await.unwrap());
    assert!(s.assertion_jtis.record_assertion_jti("a", &live, T0 + 500, T0).await.unwrap());
    // At expires_at the record is dead: taking it over renews it for the new expiry.
    assert!(s.assertion_jtis.record_assertion_jti("a", &old, T0 + 200, T0 + 60).await.unwrap());
    assert!(!s.assertion_jtis.record_assertion_jti("a", &old, T0 + 300, T0 + 199).await.unwrap());
    assert_eq!(s.assertion_jtis.purge_assertion_jtis(T0 + 199).await.unwrap(), 0);
    assert_eq!(s.assertion_jtis.purge_assertion_jtis(T0 + 200).await.unwrap(), 1);
    assert!(!s.assertion_jtis.record_assertion_jti("a", &live, T0 + 600, T0 + 200).await.unwrap(), "survived");
    assert!(s.assertion_jtis.record_assertion_jti("a", &old, T0 + 300, T0 + 200).await.unwrap(), "purged");
}

async fn deleting_a_client_deletes_its_jtis(s: &TestDb) {
    s.clients.insert_client(&key_client("a", T0)).await.unwrap();
    assert!(s.assertion_jtis.record_assertion_jti("a", &[3u8; 32], T0 + 60, T0).await.unwrap());
    assert!(s.clients.delete_client("a", T0).await.unwrap());
    assert_eq!(s.assertion_jtis.purge_assertion_jtis(T0 + 1000).await.unwrap(), 0, "cascaded with the client");
    // A jti for a client that does not exist is an error, never a silent success.
    assert!(s.assertion_jtis.record_assertion_jti("a", &[3u8; 32], T0 + 60, T0).await.is_err());
    // Other clients are untouched by the rebuild's constraints: a secret client has no jwks.
    s.clients.insert_client(&client("plain", T0)).await.unwrap();
    assert_eq!(s.clients.client_by_id("plain").await.unwrap().unwrap().jwks, None);
}

async fn of_concurrent_records_of_one_jti_exactly_one_wins(s: &TestDb) {
    s.clients.insert_client(&key_client("a", T0)).await.unwrap();
    let store = Arc::clone(&s.assertion_jtis);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.record_assertion_jti("a", &[9u8; 32], T0 + 60, T0).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}
