//! Client self-registration (migration 0025): the `SelfRegistrationStore` contract and the
//! client columns it adds — a client's registration kind, registration-token hash and document
//! expiry round-trip (and survive an update); initial access tokens are valid until they
//! expire; the first use is recorded once; unused self-registered clients are listed for the
//! sweeper, admin-registered and used ones never.

use gatehouse_core::oauth::{Client, RegistrationKind};

use crate::fixtures::{T0, client, public_client};
use crate::harness::TestDb;

conformance_tests!(
    registration_columns_round_trip_and_survive_updates,
    initial_access_tokens_expire,
    first_use_is_recorded_once_and_unused_registrations_are_listed,
);

fn dynamic(id: &str, created_at: i64) -> Client {
    let mut c = client(id, created_at);
    c.lifecycle.registration = RegistrationKind::Dynamic;
    c.lifecycle.registration_token_hash = Some(vec![7; 32]);
    c
}

fn from_document(id: &str, created_at: i64) -> Client {
    let mut c = public_client(id, created_at);
    c.lifecycle.registration = RegistrationKind::MetadataDocument;
    c.lifecycle.metadata_expires_at = Some(created_at + 300);
    c
}

async fn registration_columns_round_trip_and_survive_updates(s: &TestDb) {
    let (dcr, doc, admin) = (dynamic("d", T0), from_document("https://app.example.com/c.json", T0), client("a", T0));
    for c in [&dcr, &doc, &admin] {
        s.clients.insert_client(c).await.unwrap();
        assert_eq!(s.clients.client_by_id(&c.id).await.unwrap().as_ref(), Some(c));
    }
    assert_eq!(s.clients.client_by_id("a").await.unwrap().unwrap().lifecycle.registration, RegistrationKind::Admin);
    let mut changed = doc.clone();
    changed.lifecycle.metadata_expires_at = Some(T0 + 900);
    changed.name = "Renamed".into();
    assert!(s.clients.update_client(&changed).await.unwrap());
    let stored = s.clients.client_by_id(&doc.id).await.unwrap().unwrap();
    assert_eq!((stored.name.as_str(), stored.lifecycle.metadata_expires_at), ("Renamed", Some(T0 + 900)));
    assert_eq!(stored.lifecycle.registration, RegistrationKind::MetadataDocument);
    // A hash of the wrong length is refused by the schema.
    let mut bad = dynamic("bad", T0);
    bad.lifecycle.registration_token_hash = Some(vec![1, 2, 3]);
    assert!(s.clients.insert_client(&bad).await.is_err());
}

async fn initial_access_tokens_expire(s: &TestDb) {
    let (hash, other) = ([1u8; 32], [2u8; 32]);
    s.self_registration.insert_initial_access_token(&hash, T0, T0 + 60).await.unwrap();
    assert!(s.self_registration.initial_access_token_valid(&hash, T0).await.unwrap());
    assert!(s.self_registration.initial_access_token_valid(&hash, T0 + 59).await.unwrap(), "reusable until it expires");
    assert!(!s.self_registration.initial_access_token_valid(&hash, T0 + 60).await.unwrap());
    assert!(!s.self_registration.initial_access_token_valid(&other, T0).await.unwrap());
    assert!(s.self_registration.insert_initial_access_token(&[3u8; 5], T0, T0 + 60).await.is_err(), "not a SHA-256");
}

async fn first_use_is_recorded_once_and_unused_registrations_are_listed(s: &TestDb) {
    for c in [dynamic("old-unused", T0), dynamic("old-used", T0), from_document("https://x.example/c", T0)] {
        s.clients.insert_client(&c).await.unwrap();
    }
    s.clients.insert_client(&dynamic("new", T0 + 100)).await.unwrap();
    s.clients.insert_client(&client("admin", T0)).await.unwrap();
    s.self_registration.mark_client_used("old-used", T0 + 5).await.unwrap();
    s.self_registration.mark_client_used("old-used", T0 + 9).await.unwrap();
    s.self_registration.mark_client_used("nobody", T0 + 9).await.unwrap();
    let used = s.clients.client_by_id("old-used").await.unwrap().unwrap();
    assert_eq!(used.lifecycle.first_used_at, Some(T0 + 5), "the first use is kept");
    // An update (which does not write first_used_at) keeps it.
    assert!(s.clients.update_client(&used).await.unwrap());
    assert_eq!(s.clients.client_by_id("old-used").await.unwrap().unwrap().lifecycle.first_used_at, Some(T0 + 5));
    let unused = s.self_registration.unused_registrations(T0 + 50).await.unwrap();
    assert_eq!(unused, vec!["https://x.example/c".to_owned(), "old-unused".to_owned()]);
}
