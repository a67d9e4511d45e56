//! Pushed authorization requests (RFC 9126): stored by the hash of their request URI, bound to
//! the client that pushed them, taken once (§4, "one-time use"), expired after `expires_at`,
//! purged, and gone with their client. Concurrent takes of one request: exactly one wins.

use std::sync::Arc;

use gatehouse_core::StoreError;
use gatehouse_store::Stores;
use tokio::sync::Barrier;

use crate::fixtures::{T0, client};
use crate::harness::TestDb;

conformance_tests!(
    a_pushed_request_is_taken_once_by_its_client,
    a_pushed_request_expires_and_is_purged,
    a_duplicate_request_uri_is_a_conflict,
    deleting_a_client_deletes_its_pushed_requests,
);
conformance_tests!(multi_thread: concurrent_takes_of_one_request_let_exactly_one_win);

const EXPIRES: i64 = T0 + 60;

async fn setup(s: &Stores) {
    s.clients.insert_client(&client("app", T0)).await.unwrap();
    s.clients.insert_client(&client("other", T0)).await.unwrap();
}

async fn a_pushed_request_is_taken_once_by_its_client(s: &TestDb) {
    setup(s).await;
    let query = format!("response_type=code&client_id=app&state={}", "st\u{e4}te".repeat(300));
    s.codes.push_authorization(&[1; 32], "app", &query, EXPIRES).await.unwrap();
    // Another client's request URI: not found, and left for its own client.
    assert_eq!(s.codes.take_pushed_authorization(&[1; 32], "other", T0).await.unwrap(), None);
    assert_eq!(s.codes.take_pushed_authorization(&[1; 32], "app", T0 + 1).await.unwrap().as_deref(), Some(&*query));
    // Single use.
    assert_eq!(s.codes.take_pushed_authorization(&[1; 32], "app", T0 + 2).await.unwrap(), None);
    assert_eq!(s.codes.take_pushed_authorization(&[9; 32], "app", T0).await.unwrap(), None, "unknown");
}

async fn a_pushed_request_expires_and_is_purged(s: &TestDb) {
    setup(s).await;
    s.codes.push_authorization(&[1; 32], "app", "a=1", EXPIRES).await.unwrap();
    s.codes.push_authorization(&[2; 32], "app", "a=2", T0 + 10).await.unwrap();
    s.codes.push_authorization(&[3; 32], "app", "a=3", EXPIRES).await.unwrap();
    assert_eq!(s.codes.take_pushed_authorization(&[1; 32], "app", EXPIRES).await.unwrap(), None, "gone at expires_at");
    // Purged: those with expires_at <= now; the live one stays.
    assert_eq!(s.codes.purge_pushed_authorizations(T0 + 10).await.unwrap(), 1);
    assert_eq!(s.codes.purge_pushed_authorizations(EXPIRES).await.unwrap(), 2);
    s.codes.push_authorization(&[4; 32], "app", "a=4", EXPIRES).await.unwrap();
    assert_eq!(s.codes.purge_pushed_authorizations(T0).await.unwrap(), 0);
    assert_eq!(s.codes.take_pushed_authorization(&[4; 32], "app", T0).await.unwrap().as_deref(), Some("a=4"));
}

async fn a_duplicate_request_uri_is_a_conflict(s: &TestDb) {
    setup(s).await;
    s.codes.push_authorization(&[1; 32], "app", "a=1", EXPIRES).await.unwrap();
    let err = s.codes.push_authorization(&[1; 32], "other", "a=2", EXPIRES).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.codes.take_pushed_authorization(&[1; 32], "app", T0).await.unwrap().as_deref(), Some("a=1"));
}

async fn deleting_a_client_deletes_its_pushed_requests(s: &TestDb) {
    setup(s).await;
    s.codes.push_authorization(&[1; 32], "app", "a=1", EXPIRES).await.unwrap();
    s.codes.push_authorization(&[2; 32], "other", "a=2", EXPIRES).await.unwrap();
    assert!(s.clients.delete_client("app", T0).await.unwrap());
    assert_eq!(s.codes.purge_pushed_authorizations(EXPIRES).await.unwrap(), 1, "only the other client's is left");
}

async fn concurrent_takes_of_one_request_let_exactly_one_win(s: &TestDb) {
    setup(s).await;
    s.codes.push_authorization(&[1; 32], "app", "a=1", EXPIRES).await.unwrap();
    let barrier = Arc::new(Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (codes, barrier) = (s.codes.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                codes.take_pushed_authorization(&[1; 32], "app", T0).await.unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}
