//! `RefreshTokenStore`: rotation chains, reuse detection revoking the family (RFC 9700
//! §4.14.2), expiry and revocation, per-user revocation, purge, atomicity, and a race of
//! concurrent rotations of one token.

use std::sync::Arc;

use gatehouse_core::token::{RefreshFamily, RotateOutcome};
use gatehouse_core::{StoreError, User};
use gatehouse_store::{Backend, Stores, connect};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::fixtures::{T0, family, refresh_token, user};
use crate::harness::TestDb;

conformance_tests!(
    rotation_chains_through_the_family,
    reuse_revokes_the_family_and_its_newest_token,
    an_idle_expired_token_is_invalid,
    an_expired_family_is_invalid,
    an_unknown_token_is_invalid,
    a_revoked_family_is_invalid,
    revoke_for_user_counts_only_their_live_families,
    revoke_for_user_client_touches_only_that_client,
    purge_removes_expired_and_revoked_families_with_their_tokens,
    creating_a_family_is_atomic,
    a_failed_rotation_consumes_nothing,
    families_need_an_existing_user,
    deleting_a_user_deletes_their_families,
);
conformance_tests!(
    multi_thread: concurrent_rotations_of_one_token_let_exactly_one_win,
    rotation_holds_under_a_serializable_server_default,
);

const NOW: i64 = T0 + 1_000;
const DAY: i64 = 86_400;
const REUSE: &str = "refresh_token_reuse";

async fn new_user(s: &Stores, email: &str) -> User {
    let u = user(email);
    s.users.insert_user(&u).await.unwrap();
    u
}

/// A live family of `owner` (a week long, from T0) whose first token is 32 bytes of `tag`.
async fn new_family(s: &Stores, owner: &User, tag: u8) -> RefreshFamily {
    let f = family(owner.id, T0, T0 + 7 * DAY);
    s.refresh.create_refresh_family(&f, &refresh_token(tag, Some(f.id), T0, T0 + 3 * DAY)).await.unwrap();
    f
}

async fn rotate(s: &TestDb, presented: u8, next: u8, now: i64) -> RotateOutcome {
    s.refresh.rotate_refresh_token(&[presented; 32], &refresh_token(next, None, now, now + 3 * DAY), now).await.unwrap()
}

async fn family_of(s: &Stores, tag: u8) -> Option<RefreshFamily> {
    s.refresh.refresh_family_by_token(&[tag; 32]).await.unwrap()
}

async fn rotation_chains_through_the_family(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = new_family(s, &owner, 1).await;
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), Some(f.clone()));
    assert_eq!(s.refresh.refresh_family(Uuid::now_v7()).await.unwrap(), None);

    assert_eq!(rotate(s, 1, 2, NOW).await, RotateOutcome::Rotated(f.clone()));
    assert_eq!(rotate(s, 2, 3, NOW + 60).await, RotateOutcome::Rotated(f.clone()));
    // The family is found from any of its tokens, consumed or current.
    for tag in [1, 2, 3] {
        assert_eq!(family_of(s, tag).await, Some(f.clone()), "token {tag}");
    }
    assert_eq!(family_of(s, 4).await, None);
}

async fn reuse_revokes_the_family_and_its_newest_token(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = new_family(s, &owner, 1).await;
    assert!(matches!(rotate(s, 1, 2, NOW).await, RotateOutcome::Rotated(_)));
    assert!(matches!(rotate(s, 2, 3, NOW + 1).await, RotateOutcome::Rotated(_)));

    // A copy of the first token comes back.
    let revoked = RefreshFamily { revoked_at: Some(NOW + 2), revoked_reason: Some(REUSE.into()), ..f.clone() };
    assert_eq!(rotate(s, 1, 4, NOW + 2).await, RotateOutcome::Reused(revoked.clone()));
    assert_eq!(family_of(s, 4).await, None, "no successor is stored for a reused token");
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), Some(revoked.clone()));

    // The newest token, held by the legitimate client, is dead too.
    assert_eq!(rotate(s, 3, 5, NOW + 3).await, RotateOutcome::Invalid);
    // The family is revoked now: a further replay changes nothing and reports no new revocation.
    assert_eq!(rotate(s, 1, 6, NOW + 4).await, RotateOutcome::Invalid);
    assert_eq!(rotate(s, 2, 7, NOW + 5).await, RotateOutcome::Invalid);
    assert!(!s.refresh.revoke_refresh_family(f.id, NOW + 6, "logout").await.unwrap());
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), Some(revoked));
    for tag in [5, 6, 7] {
        assert_eq!(family_of(s, tag).await, None);
    }
}

async fn an_idle_expired_token_is_invalid(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = new_family(s, &owner, 1).await;
    let idle_expires_at = T0 + 3 * DAY;
    assert_eq!(rotate(s, 1, 2, idle_expires_at).await, RotateOutcome::Invalid);
    assert_eq!(family_of(s, 2).await, None);
    // Expiry is not reuse: the family stays live, unrevoked.
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), Some(f.clone()));
    // One second earlier the same token still rotates (nothing was consumed above).
    assert_eq!(rotate(s, 1, 3, idle_expires_at - 1).await, RotateOutcome::Rotated(f));
}

async fn an_expired_family_is_invalid(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = family(owner.id, T0, T0 + DAY);
    // The token's idle expiry outlives the family: the absolute expiry still wins.
    s.refresh.create_refresh_family(&f, &refresh_token(1, Some(f.id), T0, T0 + 3 * DAY)).await.unwrap();
    assert_eq!(rotate(s, 1, 2, T0 + DAY).await, RotateOutcome::Invalid);
    assert_eq!(family_of(s, 2).await, None);

    // A consumed token of an expired family is not reported as reuse either.
    let g = family(owner.id, T0, T0 + DAY);
    s.refresh.create_refresh_family(&g, &refresh_token(3, Some(g.id), T0, T0 + 3 * DAY)).await.unwrap();
    assert!(matches!(rotate(s, 3, 4, T0 + 10).await, RotateOutcome::Rotated(_)));
    assert_eq!(rotate(s, 3, 5, T0 + DAY).await, RotateOutcome::Invalid);
    assert_eq!(s.refresh.refresh_family(g.id).await.unwrap().unwrap().revoked_at, None);
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), Some(f));
}

async fn an_unknown_token_is_invalid(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    new_family(s, &owner, 1).await;
    assert_eq!(rotate(s, 9, 2, NOW).await, RotateOutcome::Invalid);
    let short = s.refresh.rotate_refresh_token(&[1; 31], &refresh_token(3, None, NOW, NOW + DAY), NOW).await.unwrap();
    assert_eq!(short, RotateOutcome::Invalid);
    assert_eq!(family_of(s, 2).await, None);
    assert_eq!(family_of(s, 3).await, None);
}

async fn a_revoked_family_is_invalid(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = new_family(s, &owner, 1).await;
    assert!(s.refresh.revoke_refresh_family(f.id, NOW, "logout").await.unwrap());
    assert!(!s.refresh.revoke_refresh_family(f.id, NOW + 1, "again").await.unwrap(), "already revoked");
    assert!(!s.refresh.revoke_refresh_family(Uuid::now_v7(), NOW, "logout").await.unwrap(), "unknown");

    assert_eq!(rotate(s, 1, 2, NOW + 2).await, RotateOutcome::Invalid);
    let stored = s.refresh.refresh_family(f.id).await.unwrap().unwrap();
    assert_eq!((stored.revoked_at, stored.revoked_reason.as_deref()), (Some(NOW), Some("logout")));
    assert_eq!(family_of(s, 2).await, None);
}

async fn revoke_for_user_counts_only_their_live_families(s: &TestDb) {
    let alice = new_user(s, "alice@example.com").await;
    let bob = new_user(s, "bob@example.com").await;
    let live = [new_family(s, &alice, 1).await, new_family(s, &alice, 2).await];
    let already = new_family(s, &alice, 3).await;
    assert!(s.refresh.revoke_refresh_family(already.id, NOW - 10, "logout").await.unwrap());
    let expired = family(alice.id, T0, NOW);
    s.refresh.create_refresh_family(&expired, &refresh_token(4, Some(expired.id), T0, T0 + DAY)).await.unwrap();
    let bobs = new_family(s, &bob, 5).await;

    assert_eq!(s.refresh.revoke_refresh_families_for_user(alice.id, NOW, "password_changed").await.unwrap(), 2);
    for f in &live {
        let stored = s.refresh.refresh_family(f.id).await.unwrap().unwrap();
        assert_eq!((stored.revoked_at, stored.revoked_reason.as_deref()), (Some(NOW), Some("password_changed")));
    }
    let stored = s.refresh.refresh_family(already.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_reason.as_deref(), Some("logout"), "the first revocation is kept");
    assert_eq!(s.refresh.refresh_family(expired.id).await.unwrap(), Some(expired));
    assert_eq!(s.refresh.refresh_family(bobs.id).await.unwrap(), Some(bobs));
    assert_eq!(s.refresh.revoke_refresh_families_for_user(alice.id, NOW + 1, "again").await.unwrap(), 0);
    assert_eq!(
        s.refresh.revoke_refresh_families_for_user(gatehouse_core::UserId::generate(), NOW, "x").await.unwrap(),
        0
    );
}

async fn revoke_for_user_client_touches_only_that_client(s: &TestDb) {
    let alice = new_user(s, "alice@example.com").await;
    let with_app = RefreshFamily { client_id: "app".into(), ..family(alice.id, T0, T0 + 7 * DAY) };
    s.refresh.create_refresh_family(&with_app, &refresh_token(1, Some(with_app.id), T0, T0 + 3 * DAY)).await.unwrap();
    let other = new_family(s, &alice, 2).await;
    assert_eq!(
        s.refresh.revoke_refresh_families_for_user_client(alice.id, "app", NOW, "consent_revoked").await.unwrap(),
        1
    );
    let stored = s.refresh.refresh_family(with_app.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_reason.as_deref(), Some("consent_revoked"));
    assert_eq!(s.refresh.refresh_family(other.id).await.unwrap(), Some(other), "another client's family is untouched");
    assert_eq!(s.refresh.revoke_refresh_families_for_user_client(alice.id, "app", NOW, "again").await.unwrap(), 0);
}

async fn purge_removes_expired_and_revoked_families_with_their_tokens(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let cutoff = NOW;
    let mut keep = Vec::new();
    let mut gone = Vec::new();
    for (tag, expires_at, revoked_at) in [
        (1, cutoff - 1, None),               // expired before the cutoff
        (2, cutoff, None),                   // expires at the cutoff: kept
        (3, cutoff + DAY, Some(cutoff - 1)), // revoked before the cutoff
        (4, cutoff + DAY, Some(cutoff)),     // revoked at the cutoff: kept
        (5, cutoff + DAY, None),             // live
    ] {
        let f = family(owner.id, T0, expires_at);
        s.refresh.create_refresh_family(&f, &refresh_token(tag, Some(f.id), T0, T0 + DAY)).await.unwrap();
        // A consumed token and its successor go with their family too.
        assert_eq!(rotate(s, tag, tag + 10, T0).await, RotateOutcome::Rotated(f.clone()));
        if let Some(at) = revoked_at {
            assert!(s.refresh.revoke_refresh_family(f.id, at, "logout").await.unwrap());
        }
        if tag == 1 || tag == 3 { gone.push((tag, f)) } else { keep.push((tag, f)) }
    }

    assert_eq!(s.refresh.purge_refresh_families(cutoff).await.unwrap(), 2);
    for (tag, f) in &gone {
        assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), None);
        for t in [*tag, tag + 10] {
            assert_eq!(family_of(s, t).await, None, "token {t} cascades");
        }
    }
    for (tag, f) in &keep {
        for t in [*tag, tag + 10] {
            assert_eq!(family_of(s, t).await.map(|found| found.id), Some(f.id), "token {t}");
        }
    }
    assert_eq!(s.refresh.purge_refresh_families(cutoff).await.unwrap(), 0);
}

async fn creating_a_family_is_atomic(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let first = new_family(s, &owner, 1).await;
    // A second family whose first token clashes with an existing one is not created at all.
    let clash = family(owner.id, T0, T0 + DAY);
    let err =
        s.refresh.create_refresh_family(&clash, &refresh_token(1, Some(clash.id), T0, T0 + DAY)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("refresh token")), "{err:?}");
    assert_eq!(s.refresh.refresh_family(clash.id).await.unwrap(), None);
    assert_eq!(family_of(s, 1).await, Some(first));
}

async fn a_failed_rotation_consumes_nothing(s: &TestDb) {
    let owner = new_user(s, "owner@example.com").await;
    let f = new_family(s, &owner, 1).await;
    new_family(s, &owner, 2).await;
    // The successor's hash clashes with a stored token: the whole rotation rolls back.
    let err = s.refresh.rotate_refresh_token(&[1; 32], &refresh_token(2, None, NOW, NOW + DAY), NOW).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("refresh token")), "{err:?}");
    // So the presented token is still unused, and retrying with a fresh successor works.
    assert_eq!(rotate(s, 1, 3, NOW + 1).await, RotateOutcome::Rotated(f));
}

async fn families_need_an_existing_user(s: &TestDb) {
    let orphan = family(gatehouse_core::UserId::generate(), T0, T0 + DAY);
    let err =
        s.refresh.create_refresh_family(&orphan, &refresh_token(1, Some(orphan.id), T0, T0 + DAY)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(s.refresh.refresh_family(orphan.id).await.unwrap(), None);
    assert_eq!(family_of(s, 1).await, None);
}

/// No trait deletes users, so the test deletes the row itself to check `ON DELETE CASCADE`.
async fn deleting_a_user_deletes_their_families(s: &TestDb) {
    let gone = new_user(s, "gone@example.com").await;
    let stays = new_user(s, "stays@example.com").await;
    let f = new_family(s, &gone, 1).await;
    let g = new_family(s, &stays, 2).await;
    assert!(matches!(rotate(s, 1, 3, NOW).await, RotateOutcome::Rotated(_)));

    assert_eq!(s.raw_execute("DELETE FROM users WHERE id = $1", Some(gone.id.0)).await.unwrap(), 1);
    assert_eq!(s.refresh.refresh_family(f.id).await.unwrap(), None);
    assert_eq!(family_of(s, 1).await, None);
    assert_eq!(family_of(s, 3).await, None);
    assert_eq!(family_of(s, 2).await, Some(g));
}

async fn concurrent_rotations_of_one_token_let_exactly_one_win(s: &TestDb) {
    race_one_token(s).await;
}

/// PostgreSQL only: the race again, on a server whose default isolation is SERIALIZABLE. The
/// store pins READ COMMITTED, whose row-lock rules the rotation relies on; without that, the
/// losers would fail with serialization errors.
async fn rotation_holds_under_a_serializable_server_default(s: &TestDb) {
    if s.backend != Backend::Postgres {
        return;
    }
    let mut url = url::Url::parse(&s.url).unwrap();
    url.query_pairs_mut().append_pair("options", "-c default_transaction_isolation=serializable");
    let stores = connect(url.as_str(), false).await.unwrap();
    race_one_token(&stores).await;
}

/// Sixteen clients present one token at the same moment. Exactly one rotates it. Of the rest,
/// the first to run after it sees a consumed token in a live family, revokes the family and
/// gets `Reused`; every later one finds the family revoked and gets `Invalid` (the contract's
/// rule for revoked families), so one reuse reports one revocation, however many copies race.
async fn race_one_token(s: &Stores) {
    const CALLERS: u8 = 16;
    let owner = new_user(s, "race@example.com").await;
    let f = new_family(s, &owner, 1).await;

    let barrier = Arc::new(Barrier::new(usize::from(CALLERS)));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (store, barrier) = (s.refresh.clone(), barrier.clone());
            tokio::spawn(async move {
                let next = refresh_token(100 + i, None, NOW, NOW + DAY);
                barrier.wait().await;
                (100 + i, store.rotate_refresh_token(&[1; 32], &next, NOW).await)
            })
        })
        .collect();
    let mut rotated = Vec::new();
    let (mut reused, mut invalid) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (tag, Ok(RotateOutcome::Rotated(family))) => {
                assert_eq!(family, f);
                rotated.push(tag);
            }
            (_, Ok(RotateOutcome::Reused(family))) => {
                assert_eq!(family.revoked_reason.as_deref(), Some(REUSE));
                reused += 1;
            }
            (_, Ok(RotateOutcome::Invalid)) => invalid += 1,
            (_, Err(e)) => panic!("a concurrent rotation failed: {e}"),
        }
    }
    assert_eq!((rotated.len(), reused, invalid), (1, 1, usize::from(CALLERS) - 2));

    // Exactly one successor was stored: the winner's.
    let mut stored = Vec::new();
    for tag in 100..100 + CALLERS {
        if family_of(s, tag).await.is_some() {
            stored.push(tag);
        }
    }
    assert_eq!(stored, rotated);
    let revoked = s.refresh.refresh_family(f.id).await.unwrap().unwrap();
    assert_eq!((revoked.revoked_at, revoked.revoked_reason.as_deref()), (Some(NOW), Some(REUSE)));
}
