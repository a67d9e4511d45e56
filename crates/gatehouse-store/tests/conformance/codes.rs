//! `AuthorizationCodeStore`: single use (RFC 6749 §4.1.2), replay reported with the code's
//! data, expiry, purge, and a race of concurrent redemptions of one code.

use std::sync::Arc;

use gatehouse_core::oauth::{AuthorizationCode, CodeOutcome};
use gatehouse_core::{StoreError, User, UserId};
use gatehouse_store::Stores;
use tokio::sync::Barrier;

use crate::fixtures::{T0, client, code, user};
use crate::harness::TestDb;

conformance_tests!(
    a_code_redeems_once_then_replays,
    optional_fields_round_trip,
    an_expired_code_is_invalid_and_stays_unused,
    a_used_code_still_replays_after_it_expires,
    an_unknown_code_is_invalid,
    a_duplicate_code_is_a_conflict,
    codes_need_an_existing_client_and_user,
    purge_removes_codes_expired_before_the_cutoff,
    deleting_a_user_deletes_their_codes_and_consents,
    parked_authorizations_expire_and_are_purged,
);
conformance_tests!(multi_thread: concurrent_redemptions_of_one_code_let_exactly_one_win);

const EXPIRES: i64 = T0 + 60;

/// A user and a client `app` for the codes to point at.
async fn setup(s: &Stores) -> User {
    let owner = user("owner@example.com");
    s.users.insert_user(&owner).await.unwrap();
    s.clients.insert_client(&client("app", T0)).await.unwrap();
    owner
}

async fn new_code(s: &Stores, owner: &User, tag: u8, expires_at: i64) -> AuthorizationCode {
    let c = code(tag, "app", owner.id, expires_at);
    s.codes.insert_code(&c).await.unwrap();
    c
}

async fn redeem(s: &Stores, tag: u8, now: i64) -> CodeOutcome {
    s.codes.redeem_code(&[tag; 32], "app", now).await.unwrap()
}

async fn a_code_redeems_once_then_replays(s: &TestDb) {
    let owner = setup(s).await;
    let c = new_code(s, &owner, 1, EXPIRES).await;
    // Presented by another client: invalid, and the code is neither burned nor reported used.
    assert_eq!(s.codes.redeem_code(&[1; 32], "intruder", T0).await.unwrap(), CodeOutcome::Invalid);
    let other = new_code(s, &owner, 2, EXPIRES).await;

    assert_eq!(redeem(s, 1, T0 + 5).await, CodeOutcome::Redeemed(c.clone()));
    // Every later presentation is a replay and carries the code, grant id included.
    assert_eq!(redeem(s, 1, T0 + 6).await, CodeOutcome::Replayed(c.clone()));
    assert_eq!(redeem(s, 1, T0 + 7).await, CodeOutcome::Replayed(c));
    // Redeeming one code leaves another alone.
    assert_eq!(redeem(s, 2, T0 + 8).await, CodeOutcome::Redeemed(other));
}

async fn optional_fields_round_trip(s: &TestDb) {
    let owner = setup(s).await;
    let bare = AuthorizationCode { nonce: None, code_challenge: None, ..code(1, "app", owner.id, EXPIRES) };
    s.codes.insert_code(&bare).await.unwrap();
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Redeemed(bare.clone()));
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Replayed(bare));
    // RFC 9449 §10: a code bound to a DPoP key keeps its thumbprint.
    let jkt = Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".to_owned());
    let bound = AuthorizationCode { dpop_jkt: jkt, ..code(2, "app", owner.id, EXPIRES) };
    s.codes.insert_code(&bound).await.unwrap();
    assert_eq!(redeem(s, 2, T0).await, CodeOutcome::Redeemed(bound));
}

async fn an_expired_code_is_invalid_and_stays_unused(s: &TestDb) {
    let owner = setup(s).await;
    let c = new_code(s, &owner, 1, EXPIRES).await;
    // `expires_at <= now` is expired.
    assert_eq!(redeem(s, 1, EXPIRES).await, CodeOutcome::Invalid);
    assert_eq!(redeem(s, 1, EXPIRES + 100).await, CodeOutcome::Invalid);
    // Nothing was marked: one second earlier the same code still redeems, once.
    assert_eq!(redeem(s, 1, EXPIRES - 1).await, CodeOutcome::Redeemed(c));
}

/// A replay is reported as such for as long as the used code is kept (until it is purged),
/// so the caller can still revoke what the first redemption issued.
async fn a_used_code_still_replays_after_it_expires(s: &TestDb) {
    let owner = setup(s).await;
    let c = new_code(s, &owner, 1, EXPIRES).await;
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Redeemed(c.clone()));
    assert_eq!(redeem(s, 1, EXPIRES + 3_600).await, CodeOutcome::Replayed(c));
}

async fn an_unknown_code_is_invalid(s: &TestDb) {
    let owner = setup(s).await;
    new_code(s, &owner, 1, EXPIRES).await;
    assert_eq!(redeem(s, 9, T0).await, CodeOutcome::Invalid);
    assert_eq!(
        s.codes.redeem_code(&[1; 31], "app", T0).await.unwrap(),
        CodeOutcome::Invalid,
        "a prefix is not the code"
    );
    assert_eq!(s.codes.redeem_code(&[], "app", T0).await.unwrap(), CodeOutcome::Invalid);
    assert!(matches!(redeem(s, 1, T0).await, CodeOutcome::Redeemed(_)), "the real code is unaffected");
}

async fn a_duplicate_code_is_a_conflict(s: &TestDb) {
    let owner = setup(s).await;
    let first = new_code(s, &owner, 1, EXPIRES).await;
    let err = s.codes.insert_code(&code(1, "app", owner.id, EXPIRES + 10)).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("authorization code")), "{err:?}");
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Redeemed(first));
}

async fn codes_need_an_existing_client_and_user(s: &TestDb) {
    let owner = setup(s).await;
    for orphan in [code(1, "no-such-client", owner.id, EXPIRES), code(1, "app", UserId::generate(), EXPIRES)] {
        let err = s.codes.insert_code(&orphan).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Invalid);
}

async fn purge_removes_codes_expired_before_the_cutoff(s: &TestDb) {
    let owner = setup(s).await;
    let cutoff = T0 + 1_000;
    new_code(s, &owner, 1, cutoff - 1).await; // expired before the cutoff
    let at_cutoff = new_code(s, &owner, 2, cutoff).await; // expires at the cutoff: kept
    let used = new_code(s, &owner, 3, cutoff + 60).await; // used but not expired: kept for replays
    let live = new_code(s, &owner, 4, cutoff + 60).await;
    let used_expired = new_code(s, &owner, 5, cutoff - 1).await;
    assert_eq!(redeem(s, 3, T0).await, CodeOutcome::Redeemed(used.clone()));
    assert_eq!(redeem(s, 5, T0).await, CodeOutcome::Redeemed(used_expired));

    assert_eq!(s.codes.purge_codes(cutoff).await.unwrap(), 2);
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Invalid);
    assert_eq!(redeem(s, 5, T0).await, CodeOutcome::Invalid, "purged, so no longer recognised");
    assert_eq!(redeem(s, 3, T0).await, CodeOutcome::Replayed(used));
    assert_eq!(redeem(s, 2, T0).await, CodeOutcome::Redeemed(at_cutoff));
    assert_eq!(redeem(s, 4, T0).await, CodeOutcome::Redeemed(live));
    assert_eq!(s.codes.purge_codes(cutoff).await.unwrap(), 0);
}

/// No trait deletes users, so the test deletes the row itself to check `ON DELETE CASCADE`.
async fn deleting_a_user_deletes_their_codes_and_consents(s: &TestDb) {
    let gone = setup(s).await;
    let stays = user("stays@example.com");
    s.users.insert_user(&stays).await.unwrap();
    new_code(s, &gone, 1, EXPIRES).await;
    let kept = new_code(s, &stays, 2, EXPIRES).await;
    let scopes = ["openid".to_owned()];
    s.consents.grant_consent(gone.id, "app", &scopes, T0).await.unwrap();
    s.consents.grant_consent(stays.id, "app", &scopes, T0).await.unwrap();

    assert_eq!(s.raw_execute("DELETE FROM users WHERE id = $1", Some(gone.id.0)).await.unwrap(), 1);
    assert_eq!(redeem(s, 1, T0).await, CodeOutcome::Invalid);
    assert_eq!(s.consents.consent(gone.id, "app").await.unwrap(), None);
    assert_eq!(redeem(s, 2, T0).await, CodeOutcome::Redeemed(kept));
    assert!(s.consents.consent(stays.id, "app").await.unwrap().is_some());
    assert!(s.clients.client_by_id("app").await.unwrap().is_some(), "the client stays");
}

/// Twenty clients present one code at the same moment: exactly one redeems it, every other
/// one is told it was replayed (with the code), and none fails with a lock or busy error.
async fn concurrent_redemptions_of_one_code_let_exactly_one_win(s: &TestDb) {
    const CALLERS: usize = 20;
    let owner = setup(s).await;
    let c = new_code(s, &owner, 1, EXPIRES).await;

    let barrier = Arc::new(Barrier::new(CALLERS));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (store, barrier) = (s.codes.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.redeem_code(&[1; 32], "app", T0 + 1).await
            })
        })
        .collect();
    let (mut redeemed, mut replayed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(CodeOutcome::Redeemed(got)) => {
                assert_eq!(got, c);
                redeemed += 1;
            }
            Ok(CodeOutcome::Replayed(got)) => {
                assert_eq!(got, c);
                replayed += 1;
            }
            Ok(CodeOutcome::Invalid) => panic!("a concurrent redemption was told the code is invalid"),
            Err(e) => panic!("a concurrent redemption failed: {e}"),
        }
    }
    assert_eq!((redeemed, replayed), (1, CALLERS - 1));
    assert_eq!(redeem(s, 1, T0 + 2).await, CodeOutcome::Replayed(c));
}

/// Parked authorization requests: found by the hash of their reference until they expire
/// (`expires_at <= now` is gone), purged once expired; a reference is unique.
async fn parked_authorizations_expire_and_are_purged(s: &TestDb) {
    let long_state = "st\u{e4}te".repeat(500);
    let query = format!("response_type=code&client_id=app&state={long_state}");
    s.codes.park_authorization(&[1; 32], &query, EXPIRES).await.unwrap();
    s.codes.park_authorization(&[2; 32], "a=b", T0 + 10).await.unwrap();
    assert_eq!(s.codes.parked_authorization(&[1; 32], T0).await.unwrap().as_deref(), Some(query.as_str()));
    assert_eq!(s.codes.parked_authorization(&[1; 32], EXPIRES).await.unwrap(), None, "expired at expires_at");
    assert_eq!(s.codes.parked_authorization(&[3; 32], T0).await.unwrap(), None);
    let err = s.codes.park_authorization(&[1; 32], "x=y", EXPIRES).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.codes.purge_parked_authorizations(T0 + 11).await.unwrap(), 1);
    assert_eq!(s.codes.parked_authorization(&[1; 32], T0).await.unwrap().as_deref(), Some(query.as_str()));
}
