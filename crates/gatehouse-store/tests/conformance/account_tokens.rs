//! `AccountTokenStore`: only the newest token of a purpose works, a token redeems once (also
//! under a race), its effect lands in the same transaction, expiry, purge, and deletion with the
//! user.

use std::sync::Arc;

use gatehouse_core::account::tokens::{AccountToken, TokenEffect, TokenPurpose};
use gatehouse_core::{Email, StoreError, User};
use gatehouse_store::Stores;
use tokio::sync::Barrier;

use crate::fixtures::{T0, family, refresh_token, session, user};
use crate::harness::TestDb;

conformance_tests!(
    a_newer_token_replaces_older_ones_of_its_purpose,
    verification_redeems_once_and_marks_the_address,
    verification_of_an_address_no_longer_the_accounts_changes_nothing,
    a_change_of_address_lands_verified_or_not_at_all,
    a_reset_sets_the_password_and_ends_every_sign_in,
    expired_unknown_and_other_purpose_tokens_do_nothing,
    purge_and_user_deletion_remove_tokens,
    a_password_change_ends_other_sign_ins_and_pending_links,
);
conformance_tests!(multi_thread: concurrent_redemptions_of_one_token_let_exactly_one_win);

const TTL: i64 = 1800;

async fn setup(s: &Stores, email: &str) -> User {
    let mut u = user(email);
    u.email_verified = false;
    s.users.insert_user(&u).await.unwrap();
    u
}

fn token(u: &User, tag: u8, purpose: TokenPurpose, email: &str) -> AccountToken {
    AccountToken {
        token_hash: vec![tag; 32],
        user_id: u.id,
        purpose,
        email: Email::parse(email).unwrap(),
        created_at: T0,
        expires_at: T0 + TTL,
    }
}

async fn issue(s: &Stores, t: &AccountToken) {
    s.account_tokens.issue_account_token(t).await.unwrap();
}

async fn redeem(s: &Stores, tag: u8, purpose: TokenPurpose, effect: TokenEffect<'_>) -> Option<AccountToken> {
    s.account_tokens.redeem_account_token(&[tag; 32], purpose, effect, T0 + 1).await.unwrap()
}

async fn a_newer_token_replaces_older_ones_of_its_purpose(s: &TestDb) {
    let u = setup(s, "ann@example.com").await;
    let reset1 = token(&u, 1, TokenPurpose::ResetPassword, "ann@example.com");
    let verify = token(&u, 2, TokenPurpose::VerifyEmail, "ann@example.com");
    let reset2 = token(&u, 3, TokenPurpose::ResetPassword, "ann@example.com");
    for t in [&reset1, &verify, &reset2] {
        issue(s, t).await;
    }
    let get = |tag: u8, p| async move { s.account_tokens.account_token(&[tag; 32], p, T0 + 1).await.unwrap() };
    assert_eq!(get(1, TokenPurpose::ResetPassword).await, None);
    assert_eq!(get(3, TokenPurpose::ResetPassword).await, Some(reset2));
    // Another purpose is left alone.
    assert_eq!(get(2, TokenPurpose::VerifyEmail).await, Some(verify));
}

async fn verification_redeems_once_and_marks_the_address(s: &TestDb) {
    let u = setup(s, "bea@example.com").await;
    let t = token(&u, 1, TokenPurpose::VerifyEmail, "bea@example.com");
    issue(s, &t).await;
    // Reading does not consume.
    assert!(s.account_tokens.account_token(&[1; 32], TokenPurpose::VerifyEmail, T0 + 1).await.unwrap().is_some());
    assert_eq!(redeem(s, 1, TokenPurpose::VerifyEmail, TokenEffect::VerifyEmail).await, Some(t));
    assert!(s.users.user_by_id(u.id).await.unwrap().unwrap().email_verified);
    assert_eq!(redeem(s, 1, TokenPurpose::VerifyEmail, TokenEffect::VerifyEmail).await, None);
}

async fn verification_of_an_address_no_longer_the_accounts_changes_nothing(s: &TestDb) {
    let u = setup(s, "cat@example.com").await;
    issue(s, &token(&u, 1, TokenPurpose::VerifyEmail, "old-cat@example.com")).await;
    assert!(redeem(s, 1, TokenPurpose::VerifyEmail, TokenEffect::VerifyEmail).await.is_some());
    assert!(!s.users.user_by_id(u.id).await.unwrap().unwrap().email_verified);
}

async fn a_change_of_address_lands_verified_or_not_at_all(s: &TestDb) {
    let u = setup(s, "dan@example.com").await;
    setup(s, "taken@example.com").await;
    // The new address was taken after the link was sent: nothing changes and the token stays.
    issue(s, &token(&u, 1, TokenPurpose::ChangeEmail, "Taken@example.com")).await;
    let err =
        s.account_tokens.redeem_account_token(&[1; 32], TokenPurpose::ChangeEmail, TokenEffect::ChangeEmail, T0 + 1);
    assert!(matches!(err.await, Err(StoreError::Conflict("email"))));
    assert!(s.account_tokens.account_token(&[1; 32], TokenPurpose::ChangeEmail, T0 + 1).await.unwrap().is_some());
    assert_eq!(s.users.user_by_id(u.id).await.unwrap().unwrap().email.as_str(), "dan@example.com");

    issue(s, &token(&u, 2, TokenPurpose::ChangeEmail, "Dan.New@example.com")).await;
    assert!(redeem(s, 2, TokenPurpose::ChangeEmail, TokenEffect::ChangeEmail).await.is_some());
    let now = s.users.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(now.email.as_str(), "Dan.New@example.com");
    assert!(now.email_verified);
    assert_eq!(s.users.user_by_email("dan.new@example.com").await.unwrap().unwrap().id, u.id);
    assert!(s.users.user_by_email("dan@example.com").await.unwrap().is_none());
}

async fn a_reset_sets_the_password_and_ends_every_sign_in(s: &TestDb) {
    let u = setup(s, "eve@example.com").await;
    let other = setup(s, "other@example.com").await;
    s.sessions.insert_session(&session(u.id, 1, T0, T0, T0 + 3600)).await.unwrap();
    s.sessions.insert_session(&session(other.id, 2, T0, T0, T0 + 3600)).await.unwrap();
    let fam = family(u.id, T0, T0 + 3600);
    s.refresh.create_refresh_family(&fam, &refresh_token(1, Some(fam.id), T0, T0 + 600)).await.unwrap();
    issue(s, &token(&u, 1, TokenPurpose::ResetPassword, "eve@example.com")).await;
    issue(s, &token(&u, 2, TokenPurpose::VerifyEmail, "eve@example.com")).await;
    issue(s, &token(&u, 3, TokenPurpose::ChangeEmail, "intruder@example.com")).await;

    let effect = TokenEffect::SetPassword { hash: "$argon2id$new" };
    assert!(redeem(s, 1, TokenPurpose::ResetPassword, effect).await.is_some());
    assert_eq!(s.users.user_by_id(u.id).await.unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$new"));
    assert!(s.sessions.sessions_for_user(u.id).await.unwrap().is_empty());
    assert_eq!(s.sessions.sessions_for_user(other.id).await.unwrap().len(), 1);
    let fam = s.refresh.refresh_family(fam.id).await.unwrap().unwrap();
    assert_eq!(fam.revoked_reason.as_deref(), Some("password_reset"));
    // A pending change of address dies with the old password (it may be the intruder's).
    assert_eq!(s.account_tokens.account_token(&[3; 32], TokenPurpose::ChangeEmail, T0 + 1).await.unwrap(), None);
    // A verification link is not a sign-in: it survives.
    assert!(s.account_tokens.account_token(&[2; 32], TokenPurpose::VerifyEmail, T0 + 1).await.unwrap().is_some());
    assert_eq!(redeem(s, 1, TokenPurpose::ResetPassword, effect).await, None);
}

async fn expired_unknown_and_other_purpose_tokens_do_nothing(s: &TestDb) {
    let u = setup(s, "fay@example.com").await;
    issue(s, &token(&u, 1, TokenPurpose::ResetPassword, "fay@example.com")).await;
    let effect = TokenEffect::SetPassword { hash: "$argon2id$x" };
    // Wrong purpose: a verification link cannot reset a password.
    assert_eq!(redeem(s, 1, TokenPurpose::VerifyEmail, TokenEffect::VerifyEmail).await, None);
    assert_eq!(redeem(s, 9, TokenPurpose::ResetPassword, effect).await, None);
    let late = s.account_tokens.redeem_account_token(&[1; 32], TokenPurpose::ResetPassword, effect, T0 + TTL);
    assert_eq!(late.await.unwrap(), None);
    assert_eq!(s.account_tokens.account_token(&[1; 32], TokenPurpose::ResetPassword, T0 + TTL).await.unwrap(), None);
    assert_ne!(s.users.user_by_id(u.id).await.unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$x"));
    // Still redeemable before its expiry: the failed attempts changed nothing.
    assert!(redeem(s, 1, TokenPurpose::ResetPassword, effect).await.is_some());
}

async fn purge_and_user_deletion_remove_tokens(s: &TestDb) {
    let u = setup(s, "gus@example.com").await;
    let v = setup(s, "hal@example.com").await;
    let mut old = token(&u, 1, TokenPurpose::VerifyEmail, "gus@example.com");
    old.expires_at = T0 - 1;
    issue(s, &old).await;
    issue(s, &token(&u, 2, TokenPurpose::ResetPassword, "gus@example.com")).await;
    issue(s, &token(&v, 3, TokenPurpose::ResetPassword, "hal@example.com")).await;
    assert_eq!(s.account_tokens.purge_account_tokens(T0).await.unwrap(), 1);
    assert_eq!(s.account_tokens.delete_account_tokens(u.id, TokenPurpose::ResetPassword).await.unwrap(), 1);
    // Deleting the user takes its tokens with it.
    issue(s, &token(&v, 4, TokenPurpose::VerifyEmail, "hal@example.com")).await;
    s.rbac.change_user_guarded(v.id, &gatehouse_core::rbac::GuardedChange::Delete, T0).await.unwrap();
    assert_eq!(s.account_tokens.purge_account_tokens(i64::MAX).await.unwrap(), 0);
}

async fn concurrent_redemptions_of_one_token_let_exactly_one_win(s: &TestDb) {
    let u = setup(s, "ida@example.com").await;
    issue(s, &token(&u, 1, TokenPurpose::ResetPassword, "ida@example.com")).await;
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = s.account_tokens.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let hash = format!("$argon2id${i}");
            let effect = TokenEffect::SetPassword { hash: &hash };
            store.redeem_account_token(&[1; 32], TokenPurpose::ResetPassword, effect, T0 + 1).await.unwrap().is_some()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

/// `UserStore::set_password_ending_sign_ins` (the self-service password change): one
/// transaction that keeps the caller's session only and kills pending reset and
/// change-of-address links.
async fn a_password_change_ends_other_sign_ins_and_pending_links(s: &TestDb) {
    let u = setup(s, "jon@example.com").await;
    let keep = session(u.id, 1, T0, T0, T0 + 3600);
    s.sessions.insert_session(&keep).await.unwrap();
    s.sessions.insert_session(&session(u.id, 2, T0, T0, T0 + 3600)).await.unwrap();
    let fam = family(u.id, T0, T0 + 3600);
    s.refresh.create_refresh_family(&fam, &refresh_token(1, Some(fam.id), T0, T0 + 600)).await.unwrap();
    issue(s, &token(&u, 1, TokenPurpose::ResetPassword, "jon@example.com")).await;
    issue(s, &token(&u, 2, TokenPurpose::ChangeEmail, "intruder@example.com")).await;
    issue(s, &token(&u, 3, TokenPurpose::VerifyEmail, "jon@example.com")).await;

    let out =
        s.users.set_password_ending_sign_ins(u.id, "$argon2id$changed", Some(keep.id), "password_changed", T0 + 1);
    assert_eq!(out.await.unwrap(), Some((1, 1)));
    assert_eq!(s.users.user_by_id(u.id).await.unwrap().unwrap().password_hash.as_deref(), Some("$argon2id$changed"));
    let left: Vec<_> = s.sessions.sessions_for_user(u.id).await.unwrap().into_iter().map(|x| x.id).collect();
    assert_eq!(left, vec![keep.id]);
    assert_eq!(
        s.refresh.refresh_family(fam.id).await.unwrap().unwrap().revoked_reason.as_deref(),
        Some("password_changed")
    );
    let get = |tag: u8, p| async move { s.account_tokens.account_token(&[tag; 32], p, T0 + 1).await.unwrap() };
    assert_eq!(get(1, TokenPurpose::ResetPassword).await, None);
    assert_eq!(get(2, TokenPurpose::ChangeEmail).await, None);
    assert!(get(3, TokenPurpose::VerifyEmail).await.is_some());
    // An unknown user: nothing, and no error.
    let nobody = gatehouse_core::UserId::generate();
    assert_eq!(s.users.set_password_ending_sign_ins(nobody, "$x", None, "r", T0).await.unwrap(), None);
}
