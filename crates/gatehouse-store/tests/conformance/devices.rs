//! `DeviceCodeStore` (RFC 8628): a request is found by its user code only while pending and
//! unexpired, decided once, spent once (also under concurrent polls), its polls recorded, and
//! purged; the user code is unique.

use std::sync::Arc;

use gatehouse_core::oauth::{DeviceApproval, DeviceAuthorization, DeviceState};
use gatehouse_core::{StoreError, User};
use gatehouse_store::Stores;
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::fixtures::{T0, public_client, user};
use crate::harness::TestDb;

conformance_tests!(
    a_request_is_decided_once_and_spent_once,
    a_denial_is_kept_and_cannot_be_spent,
    expired_requests_cannot_be_decided_or_spent,
    polls_are_recorded,
    a_taken_user_code_is_a_conflict,
    purge_removes_requests_expired_before_the_cutoff,
);
conformance_tests!(multi_thread: concurrent_polls_spend_an_approval_once);

const EXPIRES: i64 = T0 + 600;

async fn setup(s: &Stores) -> User {
    let owner = user("owner@example.com");
    s.users.insert_user(&owner).await.unwrap();
    s.clients.insert_client(&public_client("cli", T0)).await.unwrap();
    owner
}

fn request(tag: u8, expires_at: i64) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_hash: vec![tag; 32],
        user_code_hash: vec![tag + 100; 32],
        client_id: "cli".into(),
        scope: "openid offline_access".into(),
        created_at: T0,
        expires_at,
        interval: 5,
        last_polled_at: None,
        state: DeviceState::Pending,
        grant_id: Uuid::now_v7(),
    }
}

async fn new_request(s: &Stores, tag: u8, expires_at: i64) -> DeviceAuthorization {
    let d = request(tag, expires_at);
    s.devices.insert_device_authorization(&d).await.unwrap();
    d
}

fn approval(owner: &User) -> DeviceApproval {
    DeviceApproval { user_id: owner.id, auth_time: T0 - 30, amr: "pwd otp".into() }
}

async fn a_request_is_decided_once_and_spent_once(s: &TestDb) {
    let owner = setup(s).await;
    let d = new_request(s, 1, EXPIRES).await;
    assert_eq!(s.devices.device_authorization(&[1; 32]).await.unwrap(), Some(d.clone()));
    assert_eq!(s.devices.pending_device_authorization(&[101; 32], T0 + 1).await.unwrap(), Some(d.clone()));
    // Not approved yet: nothing to spend.
    assert!(!s.devices.consume_device_authorization(&[1; 32], T0 + 2).await.unwrap());

    assert!(s.devices.decide_device_authorization(&[101; 32], Some(&approval(&owner)), T0 + 3).await.unwrap());
    // Decided: no longer pending, and a second decision changes nothing.
    assert_eq!(s.devices.pending_device_authorization(&[101; 32], T0 + 4).await.unwrap(), None);
    assert!(!s.devices.decide_device_authorization(&[101; 32], None, T0 + 4).await.unwrap());
    let stored = s.devices.device_authorization(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(stored.state, DeviceState::Approved(approval(&owner)));

    assert!(s.devices.consume_device_authorization(&[1; 32], T0 + 5).await.unwrap());
    assert!(!s.devices.consume_device_authorization(&[1; 32], T0 + 6).await.unwrap());
    assert_eq!(s.devices.device_authorization(&[1; 32]).await.unwrap().unwrap().state, DeviceState::Used);
    assert_eq!(s.devices.device_authorization(&[9; 32]).await.unwrap(), None);
}

async fn a_denial_is_kept_and_cannot_be_spent(s: &TestDb) {
    setup(s).await;
    new_request(s, 1, EXPIRES).await;
    assert!(s.devices.decide_device_authorization(&[101; 32], None, T0 + 1).await.unwrap());
    assert_eq!(s.devices.device_authorization(&[1; 32]).await.unwrap().unwrap().state, DeviceState::Denied);
    assert!(!s.devices.consume_device_authorization(&[1; 32], T0 + 2).await.unwrap());
}

async fn expired_requests_cannot_be_decided_or_spent(s: &TestDb) {
    let owner = setup(s).await;
    new_request(s, 1, EXPIRES).await;
    assert_eq!(s.devices.pending_device_authorization(&[101; 32], EXPIRES).await.unwrap(), None);
    assert!(!s.devices.decide_device_authorization(&[101; 32], Some(&approval(&owner)), EXPIRES).await.unwrap());
    new_request(s, 2, EXPIRES).await;
    assert!(s.devices.decide_device_authorization(&[102; 32], Some(&approval(&owner)), T0).await.unwrap());
    assert!(!s.devices.consume_device_authorization(&[2; 32], EXPIRES).await.unwrap());
}

async fn polls_are_recorded(s: &TestDb) {
    setup(s).await;
    new_request(s, 1, EXPIRES).await;
    s.devices.record_device_poll(&[1; 32], T0 + 7, 10).await.unwrap();
    let stored = s.devices.device_authorization(&[1; 32]).await.unwrap().unwrap();
    assert_eq!((stored.last_polled_at, stored.interval), (Some(T0 + 7), 10));
}

async fn a_taken_user_code_is_a_conflict(s: &TestDb) {
    setup(s).await;
    new_request(s, 1, EXPIRES).await;
    let clash = DeviceAuthorization { device_code_hash: vec![2; 32], ..request(1, EXPIRES) };
    let err = s.devices.insert_device_authorization(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    // An unknown client is refused as well (the row goes with its client).
    let orphan = DeviceAuthorization { client_id: "nobody".into(), ..request(3, EXPIRES) };
    assert!(s.devices.insert_device_authorization(&orphan).await.is_err());
}

async fn purge_removes_requests_expired_before_the_cutoff(s: &TestDb) {
    setup(s).await;
    new_request(s, 1, T0 + 10).await;
    new_request(s, 2, T0 + 100).await;
    assert_eq!(s.devices.purge_device_authorizations(T0 + 50).await.unwrap(), 1);
    assert_eq!(s.devices.device_authorization(&[1; 32]).await.unwrap(), None);
    assert!(s.devices.device_authorization(&[2; 32]).await.unwrap().is_some());
}

async fn concurrent_polls_spend_an_approval_once(s: &TestDb) {
    const CALLERS: usize = 8;
    let owner = setup(s).await;
    new_request(s, 1, EXPIRES).await;
    assert!(s.devices.decide_device_authorization(&[101; 32], Some(&approval(&owner)), T0).await.unwrap());
    let barrier = Arc::new(Barrier::new(CALLERS));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (store, barrier) = (s.devices.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.consume_device_authorization(&[1; 32], T0 + 1).await.unwrap()
            })
        })
        .collect();
    let mut spent = 0;
    for task in tasks {
        spent += usize::from(task.await.unwrap());
    }
    assert_eq!(spent, 1);
}
