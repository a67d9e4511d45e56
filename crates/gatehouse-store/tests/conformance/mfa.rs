//! `MfaStore`: enrolment is confirmed once and replaces an unfinished one only; a TOTP step is
//! used once (also under a race) and never an earlier one; recovery codes are single-use and
//! replaced as a set; pending second-factor steps expire and are taken once; removal and user
//! deletion leave nothing behind.

use std::sync::Arc;

use gatehouse_core::User;
use gatehouse_core::mfa::{MfaChallenge, MfaChannel};
use gatehouse_store::Stores;
use tokio::sync::Barrier;

use crate::fixtures::{T0, user};
use crate::harness::TestDb;

conformance_tests!(
    enrolment_is_confirmed_once_and_restarts_only_while_unconfirmed,
    a_totp_step_is_used_once_and_never_an_earlier_one,
    recovery_codes_are_single_use_and_replaced_as_a_set,
    challenges_expire_and_are_taken_once,
    removal_and_user_deletion_leave_nothing,
);
conformance_tests!(multi_thread: concurrent_uses_of_one_step_let_exactly_one_win);

async fn setup(s: &Stores, email: &str) -> User {
    let u = user(email);
    s.users.insert_user(&u).await.unwrap();
    u
}

fn codes(tag: u8) -> Vec<Vec<u8>> {
    (0..10).map(|i| vec![tag, i, 7, 7]).collect()
}

async fn enrolled(s: &Stores, email: &str) -> User {
    let u = setup(s, email).await;
    assert!(s.mfa.begin_totp(u.id, b"sealed", T0).await.unwrap());
    assert!(s.mfa.confirm_totp(u.id, 100, &codes(1), T0 + 1).await.unwrap());
    u
}

async fn enrolment_is_confirmed_once_and_restarts_only_while_unconfirmed(s: &TestDb) {
    let u = setup(s, "ann@example.com").await;
    assert!(s.mfa.totp_factor(u.id).await.unwrap().is_none());
    assert!(s.mfa.begin_totp(u.id, b"first", T0).await.unwrap());
    assert!(s.mfa.begin_totp(u.id, b"second", T0 + 5).await.unwrap(), "an unfinished enrolment restarts");
    let f = s.mfa.totp_factor(u.id).await.unwrap().unwrap();
    assert_eq!((f.secret_sealed.as_slice(), f.created_at, f.confirmed_at), (&b"second"[..], T0 + 5, None));
    assert!(s.mfa.recovery_code_hashes(u.id).await.unwrap().is_empty());
    assert!(!s.mfa.use_totp_step(u.id, 50).await.unwrap(), "an unconfirmed factor signs nobody in");
    assert!(s.mfa.confirm_totp(u.id, 100, &codes(1), T0 + 9).await.unwrap());
    let f = s.mfa.totp_factor(u.id).await.unwrap().unwrap();
    assert_eq!((f.confirmed_at, f.last_used_step), (Some(T0 + 9), Some(100)));
    assert_eq!(s.mfa.recovery_code_hashes(u.id).await.unwrap().len(), 10);
    assert!(!s.mfa.confirm_totp(u.id, 101, &codes(2), T0 + 10).await.unwrap(), "confirmed once");
    assert!(!s.mfa.begin_totp(u.id, b"third", T0 + 11).await.unwrap(), "a confirmed factor stays");
    let f = s.mfa.totp_factor(u.id).await.unwrap().unwrap();
    assert_eq!(f.secret_sealed, b"second");
    assert_eq!(s.mfa.recovery_code_hashes(u.id).await.unwrap(), codes(1));
}

async fn a_totp_step_is_used_once_and_never_an_earlier_one(s: &TestDb) {
    let u = enrolled(s, "bea@example.com").await;
    assert!(!s.mfa.use_totp_step(u.id, 100).await.unwrap(), "the enrolment's step is used");
    assert!(s.mfa.use_totp_step(u.id, 101).await.unwrap());
    assert!(!s.mfa.use_totp_step(u.id, 101).await.unwrap(), "replay");
    assert!(!s.mfa.use_totp_step(u.id, 99).await.unwrap(), "an earlier step");
    assert!(s.mfa.use_totp_step(u.id, 103).await.unwrap());
    assert!(!s.mfa.use_totp_step(u.id, 102).await.unwrap(), "skipped steps are gone too");
    assert_eq!(s.mfa.totp_factor(u.id).await.unwrap().unwrap().last_used_step, Some(103));
}

async fn recovery_codes_are_single_use_and_replaced_as_a_set(s: &TestDb) {
    let u = enrolled(s, "cat@example.com").await;
    let other = enrolled(s, "cid@example.com").await;
    let first = codes(1)[0].clone();
    assert!(!s.mfa.use_recovery_code(other.id, &[9, 9]).await.unwrap());
    assert!(s.mfa.use_recovery_code(u.id, &first).await.unwrap());
    assert!(!s.mfa.use_recovery_code(u.id, &first).await.unwrap(), "single use");
    assert_eq!(s.mfa.recovery_code_hashes(u.id).await.unwrap().len(), 9);
    assert_eq!(s.mfa.recovery_code_hashes(other.id).await.unwrap().len(), 10, "per user");
    s.mfa.replace_recovery_codes(u.id, &codes(2), T0 + 20).await.unwrap();
    assert_eq!(s.mfa.recovery_code_hashes(u.id).await.unwrap(), codes(2));
    assert!(!s.mfa.use_recovery_code(u.id, &codes(1)[1]).await.unwrap(), "old codes die");
    assert!(s.mfa.use_recovery_code(u.id, &codes(2)[1]).await.unwrap());
}

fn challenge(u: &User, tag: u8, channel: MfaChannel) -> MfaChallenge {
    MfaChallenge {
        handle_hash: vec![tag; 32],
        user_id: u.id,
        channel,
        next: Some("/oauth2/authorize?client_id=c".into()),
        amr: "fed".into(),
        auth_time: T0,
        created_at: T0,
        expires_at: T0 + 300,
    }
}

async fn challenges_expire_and_are_taken_once(s: &TestDb) {
    let u = enrolled(s, "dan@example.com").await;
    let page = challenge(&u, 1, MfaChannel::Page);
    s.mfa.insert_mfa_challenge(&page).await.unwrap();
    s.mfa.insert_mfa_challenge(&challenge(&u, 2, MfaChannel::Token)).await.unwrap();
    assert_eq!(s.mfa.mfa_challenge(&[1; 32], T0 + 1).await.unwrap(), Some(page));
    let token = s.mfa.mfa_challenge(&[2; 32], T0 + 1).await.unwrap().unwrap();
    assert_eq!(token.channel, MfaChannel::Token);
    assert!(s.mfa.mfa_challenge(&[1; 32], T0 + 300).await.unwrap().is_none(), "expired");
    assert!(!s.mfa.take_mfa_challenge(&[1; 32], T0 + 300).await.unwrap());
    assert!(s.mfa.take_mfa_challenge(&[1; 32], T0 + 299).await.unwrap());
    assert!(!s.mfa.take_mfa_challenge(&[1; 32], T0 + 299).await.unwrap(), "taken once");
    assert!(s.mfa.mfa_challenge(&[1; 32], T0 + 2).await.unwrap().is_none());
    assert_eq!(s.mfa.purge_mfa_challenges(T0 + 300).await.unwrap(), 1);
    assert!(s.mfa.mfa_challenge(&[2; 32], T0 + 1).await.unwrap().is_none());
}

async fn removal_and_user_deletion_leave_nothing(s: &TestDb) {
    let u = enrolled(s, "eve@example.com").await;
    s.mfa.insert_mfa_challenge(&challenge(&u, 3, MfaChannel::Session)).await.unwrap();
    assert!(s.mfa.delete_mfa(u.id).await.unwrap());
    assert!(s.mfa.totp_factor(u.id).await.unwrap().is_none());
    assert!(s.mfa.recovery_code_hashes(u.id).await.unwrap().is_empty());
    assert!(s.mfa.mfa_challenge(&[3; 32], T0 + 1).await.unwrap().is_none());
    assert!(!s.mfa.delete_mfa(u.id).await.unwrap(), "nothing left to remove");
    let v = enrolled(s, "fay@example.com").await;
    s.mfa.insert_mfa_challenge(&challenge(&v, 4, MfaChannel::Page)).await.unwrap();
    s.rbac.change_user_guarded(v.id, &gatehouse_core::rbac::GuardedChange::Delete, T0).await.unwrap();
    assert!(s.mfa.totp_factor(v.id).await.unwrap().is_none());
    assert!(s.mfa.recovery_code_hashes(v.id).await.unwrap().is_empty());
    assert!(s.mfa.mfa_challenge(&[4; 32], T0 + 1).await.unwrap().is_none());
}

async fn concurrent_uses_of_one_step_let_exactly_one_win(s: &TestDb) {
    let u = enrolled(s, "gus@example.com").await;
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = s.mfa.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.use_totp_step(u.id, 200).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}
