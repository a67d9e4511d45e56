//! `ConsentStore`: absent, granted, merged on a second grant (earlier scopes first), revoked,
//! listed per user, and concurrent grants that all survive.

use std::sync::Arc;

use gatehouse_core::oauth::Consent;
use gatehouse_core::{StoreError, User};
use gatehouse_store::Stores;
use tokio::sync::Barrier;

use crate::fixtures::{T0, client, user};
use crate::harness::TestDb;

conformance_tests!(
    a_consent_is_granted_then_merged,
    revoking_is_true_once,
    consents_for_user_lists_only_theirs_newest_first,
    consent_needs_an_existing_client_and_user,
);
conformance_tests!(multi_thread: concurrent_grants_all_survive);

fn scopes(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A user and the clients `app` and `other`.
async fn setup(s: &Stores, email: &str) -> User {
    let u = user(email);
    s.users.insert_user(&u).await.unwrap();
    for (id, at) in [("app", T0), ("other", T0 + 1)] {
        if s.clients.client_by_id(id).await.unwrap().is_none() {
            s.clients.insert_client(&client(id, at)).await.unwrap();
        }
    }
    u
}

async fn a_consent_is_granted_then_merged(s: &TestDb) {
    let u = setup(s, "u@example.com").await;
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap(), None);

    s.consents.grant_consent(u.id, "app", &scopes(&["openid", "profile"]), T0 + 10).await.unwrap();
    let expected = Consent { client_id: "app".into(), scopes: scopes(&["openid", "profile"]), granted_at: T0 + 10 };
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap(), Some(expected));

    // The union: what was granted before, in its order, then each new scope once.
    s.consents.grant_consent(u.id, "app", &scopes(&["email", "openid", "email", "api:write"]), T0 + 20).await.unwrap();
    let merged = scopes(&["openid", "profile", "email", "api:write"]);
    let expected = Consent { client_id: "app".into(), scopes: merged.clone(), granted_at: T0 + 20 };
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap(), Some(expected));

    // Nothing new still renews the time, and never narrows the consent.
    s.consents.grant_consent(u.id, "app", &scopes(&["profile"]), T0 + 30).await.unwrap();
    let expected = Consent { client_id: "app".into(), scopes: merged, granted_at: T0 + 30 };
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap(), Some(expected));

    assert_eq!(s.consents.consent(u.id, "other").await.unwrap(), None, "per client");
}

async fn revoking_is_true_once(s: &TestDb) {
    let u = setup(s, "u@example.com").await;
    s.consents.grant_consent(u.id, "app", &scopes(&["openid"]), T0).await.unwrap();
    s.consents.grant_consent(u.id, "other", &scopes(&["openid"]), T0).await.unwrap();
    assert!(s.consents.revoke_consent(u.id, "app").await.unwrap());
    assert!(!s.consents.revoke_consent(u.id, "app").await.unwrap());
    assert!(!s.consents.revoke_consent(u.id, "unknown").await.unwrap());
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap(), None);
    assert!(s.consents.consent(u.id, "other").await.unwrap().is_some());

    // A grant after a revocation starts afresh: nothing of the old consent comes back.
    s.consents.grant_consent(u.id, "app", &scopes(&["email"]), T0 + 5).await.unwrap();
    assert_eq!(s.consents.consent(u.id, "app").await.unwrap().unwrap().scopes, scopes(&["email"]));
}

async fn consents_for_user_lists_only_theirs_newest_first(s: &TestDb) {
    let alice = setup(s, "alice@example.com").await;
    let bob = setup(s, "bob@example.com").await;
    assert!(s.consents.consents_for_user(alice.id).await.unwrap().is_empty());
    s.consents.grant_consent(alice.id, "app", &scopes(&["openid"]), T0).await.unwrap();
    s.consents.grant_consent(alice.id, "other", &scopes(&["profile"]), T0 + 5).await.unwrap();
    s.consents.grant_consent(bob.id, "app", &scopes(&["email"]), T0 + 9).await.unwrap();

    let listed = s.consents.consents_for_user(alice.id).await.unwrap();
    assert_eq!(
        listed,
        [
            Consent { client_id: "other".into(), scopes: scopes(&["profile"]), granted_at: T0 + 5 },
            Consent { client_id: "app".into(), scopes: scopes(&["openid"]), granted_at: T0 },
        ]
    );
    let listed = s.consents.consents_for_user(bob.id).await.unwrap();
    assert_eq!(listed, [Consent { client_id: "app".into(), scopes: scopes(&["email"]), granted_at: T0 + 9 }]);
    assert!(s.consents.consents_for_user(gatehouse_core::UserId::generate()).await.unwrap().is_empty());
}

async fn consent_needs_an_existing_client_and_user(s: &TestDb) {
    let u = setup(s, "u@example.com").await;
    let stranger = gatehouse_core::UserId::generate();
    for (user, client_id) in [(u.id, "no-such-client"), (stranger, "app")] {
        let err = s.consents.grant_consent(user, client_id, &scopes(&["openid"]), T0).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
    assert!(s.consents.consents_for_user(u.id).await.unwrap().is_empty());
    assert!(s.consents.consents_for_user(stranger).await.unwrap().is_empty());
}

/// Ten consent screens for one user and client are approved at the same moment, each for its
/// own scope, before any consent row exists: the merges queue, so every scope is kept.
async fn concurrent_grants_all_survive(s: &TestDb) {
    const CALLERS: usize = 10;
    let u = setup(s, "u@example.com").await;
    let barrier = Arc::new(Barrier::new(CALLERS));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (store, barrier) = (s.consents.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.grant_consent(u.id, "app", &[format!("scope-{i}")], T0).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut stored = s.consents.consent(u.id, "app").await.unwrap().unwrap().scopes;
    stored.sort();
    let mut expected: Vec<String> = (0..CALLERS).map(|i| format!("scope-{i}")).collect();
    expected.sort();
    assert_eq!(stored, expected);
}
