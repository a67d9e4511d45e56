//! `SessionStore`: lifecycle, per-user scoping, bulk deletion, expiry purge, referential rules.

use gatehouse_core::{StoreError, User};
use uuid::Uuid;

use crate::fixtures::{T0, session, user};
use crate::harness::TestDb;

conformance_tests!(
    session_lifecycle,
    delete_user_session_is_scoped_to_its_owner,
    sessions_for_user_and_bulk_delete,
    purge_removes_expired_and_idle_sessions,
    duplicate_token_hash_is_a_conflict,
    sessions_need_an_existing_user,
    deleting_a_user_deletes_their_sessions,
);

async fn new_user(s: &TestDb, email: &str) -> User {
    let u = user(email);
    s.users.insert_user(&u).await.unwrap();
    u
}

async fn session_lifecycle(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let mut sess = session(owner.id, 1, T0, T0, T0 + 86_400);
    s.sessions.insert_session(&sess).await.unwrap();

    assert_eq!(s.sessions.session_by_token_hash(&[1; 32]).await.unwrap(), Some(sess.clone()));
    assert_eq!(s.sessions.session_by_token_hash(&[2; 32]).await.unwrap(), None);
    assert_eq!(s.sessions.session_by_token_hash(&[1; 31]).await.unwrap(), None);
    let (joined, joined_user) = s.sessions.session_with_user(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(joined, sess);
    let fields = |u: &User| {
        (
            u.id,
            u.email.as_str().to_owned(),
            u.email.key().to_owned(),
            u.display_name.clone(),
            u.password_hash.clone(),
            u.status,
            u.email_verified,
            u.created_at,
            u.updated_at,
        )
    };
    assert_eq!(fields(&joined_user), fields(&owner), "every user field comes back");
    assert!(s.sessions.session_with_user(&[2; 32]).await.unwrap().is_none());

    s.sessions.touch_session(sess.id, T0 + 120).await.unwrap();
    sess.last_seen_at = T0 + 120;
    assert_eq!(s.sessions.session_by_token_hash(&[1; 32]).await.unwrap(), Some(sess.clone()));
    // Touching a session that is gone is not an error.
    s.sessions.touch_session(Uuid::now_v7(), T0 + 120).await.unwrap();

    assert!(s.sessions.delete_session(sess.id).await.unwrap());
    assert!(!s.sessions.delete_session(sess.id).await.unwrap());
    assert_eq!(s.sessions.session_by_token_hash(&[1; 32]).await.unwrap(), None);
    assert!(s.sessions.session_with_user(&[1; 32]).await.unwrap().is_none());
}

async fn delete_user_session_is_scoped_to_its_owner(s: &TestDb) {
    let alice = new_user(s, "alice@example.com").await;
    let mallory = new_user(s, "mallory@example.com").await;
    let hers = session(alice.id, 3, T0, T0, T0 + 3600);
    s.sessions.insert_session(&hers).await.unwrap();

    assert!(!s.sessions.delete_user_session(mallory.id, hers.id).await.unwrap());
    assert_eq!(s.sessions.session_by_token_hash(&hers.token_hash).await.unwrap(), Some(hers.clone()));
    assert!(!s.sessions.delete_user_session(alice.id, Uuid::now_v7()).await.unwrap());

    assert!(s.sessions.delete_user_session(alice.id, hers.id).await.unwrap());
    assert_eq!(s.sessions.session_by_token_hash(&hers.token_hash).await.unwrap(), None);
    assert!(!s.sessions.delete_user_session(alice.id, hers.id).await.unwrap());
}

async fn sessions_for_user_and_bulk_delete(s: &TestDb) {
    let alice = new_user(s, "alice@example.com").await;
    let bob = new_user(s, "bob@example.com").await;
    let older = session(alice.id, 10, T0, T0, T0 + 3600);
    let newer = session(alice.id, 11, T0 + 100, T0 + 100, T0 + 3700);
    let bobs = session(bob.id, 12, T0, T0, T0 + 3600);
    for sess in [&older, &newer, &bobs] {
        s.sessions.insert_session(sess).await.unwrap();
    }

    // Newest first.
    assert_eq!(s.sessions.sessions_for_user(alice.id).await.unwrap(), vec![newer.clone(), older.clone()]);
    assert_eq!(s.sessions.sessions_for_user(bob.id).await.unwrap(), vec![bobs.clone()]);
    assert!(s.sessions.sessions_for_user(gatehouse_core::UserId::generate()).await.unwrap().is_empty());

    assert_eq!(s.sessions.delete_sessions_for_user(alice.id).await.unwrap(), 2);
    assert!(s.sessions.sessions_for_user(alice.id).await.unwrap().is_empty());
    assert_eq!(s.sessions.sessions_for_user(bob.id).await.unwrap(), vec![bobs]);
    assert_eq!(s.sessions.delete_sessions_for_user(alice.id).await.unwrap(), 0);
}

async fn purge_removes_expired_and_idle_sessions(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let now = T0 + 10_000;
    let idle_cutoff = now - 1_800;
    let expires_now = session(owner.id, 20, T0, now - 10, now);
    let expired = session(owner.id, 21, T0, now - 10, now - 1);
    let idle = session(owner.id, 22, T0, idle_cutoff - 1, now + 50_000);
    let idle_boundary = session(owner.id, 23, T0, idle_cutoff, now + 50_000);
    let live = session(owner.id, 24, T0, now, now + 1);
    for sess in [&expires_now, &expired, &idle, &idle_boundary, &live] {
        s.sessions.insert_session(sess).await.unwrap();
    }

    assert_eq!(s.sessions.purge_expired_sessions(now, idle_cutoff).await.unwrap(), 3);
    let mut left: Vec<u8> =
        s.sessions.sessions_for_user(owner.id).await.unwrap().iter().map(|sess| sess.token_hash[0]).collect();
    left.sort_unstable();
    assert_eq!(left, vec![23, 24]);
    assert_eq!(s.sessions.purge_expired_sessions(now, idle_cutoff).await.unwrap(), 0);
}

async fn duplicate_token_hash_is_a_conflict(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let first = session(owner.id, 30, T0, T0, T0 + 3600);
    s.sessions.insert_session(&first).await.unwrap();

    let clash = session(owner.id, 30, T0 + 5, T0 + 5, T0 + 9999);
    let err = s.sessions.insert_session(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("session")), "{err:?}");
    assert_eq!(s.sessions.session_by_token_hash(&first.token_hash).await.unwrap(), Some(first));
}

async fn sessions_need_an_existing_user(s: &TestDb) {
    let mut orphan = session(gatehouse_core::UserId::generate(), 40, T0, T0, T0 + 3600);
    orphan.ip = Some("bound-value-never-in-errors".into());
    let err = s.sessions.insert_session(&orphan).await.unwrap_err();
    match &err {
        StoreError::Unavailable(msg) => assert!(!msg.contains("bound-value-never-in-errors"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(s.sessions.session_by_token_hash(&orphan.token_hash).await.unwrap(), None);
}

/// No trait deletes users (accounts are disabled, not removed), so the test deletes the row
/// itself to check the schema's `ON DELETE CASCADE`.
async fn deleting_a_user_deletes_their_sessions(s: &TestDb) {
    let gone = new_user(s, "gone@example.com").await;
    let stays = new_user(s, "stays@example.com").await;
    for (tag, u) in [(50, &gone), (51, &gone), (52, &stays)] {
        s.sessions.insert_session(&session(u.id, tag, T0, T0, T0 + 3600)).await.unwrap();
    }

    let deleted = s.raw_execute("DELETE FROM users WHERE id = $1", Some(gone.id.0)).await.unwrap();
    assert_eq!(deleted, 1);
    assert!(s.sessions.sessions_for_user(gone.id).await.unwrap().is_empty());
    assert_eq!(s.sessions.session_by_token_hash(&[50; 32]).await.unwrap(), None);
    assert_eq!(s.sessions.sessions_for_user(stays.id).await.unwrap().len(), 1);
}
