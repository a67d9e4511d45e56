//! `KeyStore`: listing order, deletion, the `(alg, rotation_slot)` and kid uniqueness that
//! lets racing nodes agree on one scheduled key, and the public JWK's JSON round trip.

use gatehouse_core::keys::Algorithm;

use crate::fixtures::{T0, key};
use crate::harness::TestDb;

conformance_tests!(
    keys_list_oldest_first_and_delete,
    a_taken_rotation_slot_inserts_nothing,
    a_duplicate_kid_inserts_nothing,
    manual_keys_share_the_null_slot,
    public_jwk_round_trips,
);

async fn keys_list_oldest_first_and_delete(s: &TestDb) {
    assert!(s.keys.signing_keys().await.unwrap().is_empty());
    // Inserted out of order; the same created_at is ordered by kid.
    let newest = key("k-newest", Algorithm::ES256, T0 + 200, Some(2));
    let b = key("k-b", Algorithm::EdDSA, T0 + 100, Some(1));
    let a = key("k-a", Algorithm::RS256, T0 + 100, None);
    let oldest = key("k-oldest", Algorithm::ES256, T0, Some(1));
    for k in [&newest, &b, &a, &oldest] {
        assert!(s.keys.insert_signing_key(k).await.unwrap());
    }
    assert_eq!(s.keys.signing_keys().await.unwrap(), vec![oldest.clone(), a.clone(), b.clone(), newest.clone()]);

    assert!(s.keys.delete_signing_key("k-a").await.unwrap());
    assert!(!s.keys.delete_signing_key("k-a").await.unwrap());
    assert!(!s.keys.delete_signing_key("unknown").await.unwrap());
    assert_eq!(s.keys.signing_keys().await.unwrap(), vec![oldest, b, newest]);
}

async fn a_taken_rotation_slot_inserts_nothing(s: &TestDb) {
    let first = key("node-1-key", Algorithm::ES256, T0, Some(7));
    assert!(s.keys.insert_signing_key(&first).await.unwrap());
    // A second node scheduled the same rotation a moment later.
    let second = key("node-2-key", Algorithm::ES256, T0 + 1, Some(7));
    assert!(!s.keys.insert_signing_key(&second).await.unwrap());
    // The same slot of another algorithm is a different rotation.
    let other_alg = key("eddsa-key", Algorithm::EdDSA, T0 + 2, Some(7));
    assert!(s.keys.insert_signing_key(&other_alg).await.unwrap());
    assert_eq!(s.keys.signing_keys().await.unwrap(), vec![first, other_alg]);
}

async fn a_duplicate_kid_inserts_nothing(s: &TestDb) {
    let first = key("same-kid", Algorithm::ES256, T0, Some(1));
    assert!(s.keys.insert_signing_key(&first).await.unwrap());
    let clash = key("same-kid", Algorithm::RS256, T0 + 5, None);
    assert!(!s.keys.insert_signing_key(&clash).await.unwrap());
    assert_eq!(s.keys.signing_keys().await.unwrap(), vec![first]);
}

async fn manual_keys_share_the_null_slot(s: &TestDb) {
    let keys = [key("m1", Algorithm::ES256, T0, None), key("m2", Algorithm::ES256, T0 + 1, None)];
    for k in &keys {
        assert!(s.keys.insert_signing_key(k).await.unwrap(), "NULL slots never collide");
    }
    assert_eq!(s.keys.signing_keys().await.unwrap(), keys);
}

async fn public_jwk_round_trips(s: &TestDb) {
    let k = key("json-kid", Algorithm::EdDSA, T0, Some(3));
    assert!(s.keys.insert_signing_key(&k).await.unwrap());
    let stored = s.keys.signing_keys().await.unwrap().pop().unwrap();
    assert_eq!(stored.public_jwk, k.public_jwk);
    assert_eq!(stored.public_jwk["x-note"], "quote \" backslash \\ ünïcødé");
    assert_eq!(stored.public_jwk["x-n"], 12_345_678_901_i64);
    assert_eq!(stored.sealed_private_key, k.sealed_private_key, "binary with NULs survives");
    assert_eq!(stored, k);
}
