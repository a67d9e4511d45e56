//! `FederationStore`: login states taken once (`DELETE … RETURNING`) and purged when expired;
//! identity links unique per (provider, subject) and per (user, provider); account + first link
//! created atomically; unlink refused for the last way to sign in (also for two at once); `amr`
//! (and a session's `auth_time`) kept on sessions and codes.

use gatehouse_core::StoreError;
use gatehouse_core::federation::{FederatedIdentity, LoginState, PendingLink, UnlinkOutcome};
use gatehouse_core::user::UserId;

use crate::fixtures::{T0, code, session, user};
use crate::harness::TestDb;

conformance_tests!(
    a_login_state_is_taken_once,
    expired_login_states_are_purged,
    links_are_unique_per_subject_and_per_provider,
    account_and_first_link_are_created_together,
    the_last_way_to_sign_in_cannot_be_unlinked,
    sessions_and_codes_keep_their_amr,
    concurrent_unlinks_keep_a_way_to_sign_in,
);

fn state(tag: u8, link_user: Option<UserId>, expires_at: i64) -> LoginState {
    LoginState {
        state_hash: vec![tag; 32],
        binding_hash: vec![tag ^ 0xff; 32],
        provider: "google".into(),
        return_to: Some("/oauth2/authorize?client_id=a&x='--".into()),
        link_user,
        force_login: tag.is_multiple_of(2),
        pending: None,
        created_at: expires_at - 600,
        expires_at,
    }
}

fn link(provider: &str, subject: &str, user: UserId) -> FederatedIdentity {
    FederatedIdentity {
        provider: provider.into(),
        subject: subject.into(),
        user_id: user,
        email: Some("x@example.com".into()),
        created_at: T0,
        last_login_at: T0,
    }
}

async fn a_login_state_is_taken_once(s: &TestDb) {
    let u = user("linker@example.com");
    s.users.insert_user(&u).await.unwrap();
    let mut st = state(2, Some(u.id), T0 + 600);
    st.pending = Some(PendingLink { subject: "sub-p".into(), user_id: u.id, email: Some("linker@example.com".into()) });
    s.federation.insert_login_state(&st).await.unwrap();
    s.federation.insert_login_state(&state(3, None, T0 + 600)).await.unwrap();
    assert_eq!(s.federation.take_login_state(&st.state_hash).await.unwrap(), Some(st.clone()));
    assert_eq!(s.federation.take_login_state(&st.state_hash).await.unwrap(), None, "single use");
    assert_eq!(s.federation.take_login_state(&[9; 32]).await.unwrap(), None);
    assert!(s.federation.take_login_state(&[3; 32]).await.unwrap().is_some(), "others untouched");
}

async fn expired_login_states_are_purged(s: &TestDb) {
    s.federation.insert_login_state(&state(1, None, T0)).await.unwrap();
    s.federation.insert_login_state(&state(2, None, T0 + 10)).await.unwrap();
    assert_eq!(s.federation.purge_login_states(T0).await.unwrap(), 1);
    assert!(s.federation.take_login_state(&[1; 32]).await.unwrap().is_none());
    assert!(s.federation.take_login_state(&[2; 32]).await.unwrap().is_some());
}

async fn links_are_unique_per_subject_and_per_provider(s: &TestDb) {
    let (a, b) = (user("a@example.com"), user("b@example.com"));
    s.users.insert_user(&a).await.unwrap();
    s.users.insert_user(&b).await.unwrap();
    let la = link("google", "sub-a", a.id);
    s.federation.link_identity(&la).await.unwrap();
    assert_eq!(s.federation.identity("google", "sub-a").await.unwrap(), Some(la.clone()));
    assert_eq!(s.federation.identity("github", "sub-a").await.unwrap(), None, "per provider");
    // The same upstream identity cannot be linked twice, not even to another user.
    let taken = s.federation.link_identity(&link("google", "sub-a", b.id)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    // One link per provider per account.
    let second = s.federation.link_identity(&link("google", "sub-other", a.id)).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    s.federation.link_identity(&link("github", "42", a.id)).await.unwrap();
    let mine = s.federation.identities_for_user(a.id).await.unwrap();
    assert_eq!(mine.iter().map(|l| l.provider.as_str()).collect::<Vec<_>>(), ["github", "google"]);
    assert!(s.federation.identities_for_user(b.id).await.unwrap().is_empty());

    s.federation.touch_identity("google", "sub-a", Some("new@example.com"), T0 + 5).await.unwrap();
    let touched = s.federation.identity("google", "sub-a").await.unwrap().unwrap();
    assert_eq!((touched.email.as_deref(), touched.last_login_at), (Some("new@example.com"), T0 + 5));
}

async fn account_and_first_link_are_created_together(s: &TestDb) {
    let mut fresh = user("fresh@example.com");
    fresh.password_hash = None;
    s.federation.create_user_with_identity(&fresh, &link("google", "sub-f", fresh.id)).await.unwrap();
    assert!(s.users.user_by_id(fresh.id).await.unwrap().is_some());
    assert_eq!(s.federation.identity("google", "sub-f").await.unwrap().map(|l| l.user_id), Some(fresh.id));

    // Email taken: no user, no link.
    let clash = user("Fresh@Example.com");
    let r = s.federation.create_user_with_identity(&clash, &link("google", "sub-c", clash.id)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.federation.identity("google", "sub-c").await.unwrap(), None);

    // Identity taken: the user insert is rolled back.
    let other = user("other@example.com");
    let r = s.federation.create_user_with_identity(&other, &link("google", "sub-f", other.id)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert!(s.users.user_by_id(other.id).await.unwrap().is_none(), "rolled back");
}

async fn the_last_way_to_sign_in_cannot_be_unlinked(s: &TestDb) {
    let mut fed_only = user("fed@example.com");
    fed_only.password_hash = None;
    s.federation.create_user_with_identity(&fed_only, &link("google", "g1", fed_only.id)).await.unwrap();
    assert_eq!(s.federation.unlink_identity(fed_only.id, "google").await.unwrap(), UnlinkOutcome::LastMethod);
    assert_eq!(s.federation.unlink_identity(fed_only.id, "github").await.unwrap(), UnlinkOutcome::NotFound);
    s.federation.link_identity(&link("github", "7", fed_only.id)).await.unwrap();
    assert_eq!(s.federation.unlink_identity(fed_only.id, "google").await.unwrap(), UnlinkOutcome::Unlinked);
    assert_eq!(s.federation.unlink_identity(fed_only.id, "github").await.unwrap(), UnlinkOutcome::LastMethod);

    let with_password = user("pw@example.com");
    s.users.insert_user(&with_password).await.unwrap();
    s.federation.link_identity(&link("google", "g2", with_password.id)).await.unwrap();
    assert_eq!(s.federation.unlink_identity(with_password.id, "google").await.unwrap(), UnlinkOutcome::Unlinked);
    assert_eq!(s.federation.identity("google", "g2").await.unwrap(), None);
}

async fn sessions_and_codes_keep_their_amr(s: &TestDb) {
    let u = user("amr@example.com");
    s.users.insert_user(&u).await.unwrap();
    let mut sess = session(u.id, 7, T0, T0, T0 + 100);
    sess.amr = "fed".into();
    // The upstream's authentication time, older than the session (OIDC Core §2 `auth_time`).
    sess.auth_time = T0 - 7200;
    s.sessions.insert_session(&sess).await.unwrap();
    let got = s.sessions.session_by_token_hash(&[7; 32]).await.unwrap().unwrap();
    assert_eq!((got.amr.as_str(), got.auth_time), ("fed", T0 - 7200));
    let (with_user, _) = s.sessions.session_with_user(&[7; 32]).await.unwrap().unwrap();
    assert_eq!((with_user.amr.as_str(), with_user.auth_time), ("fed", T0 - 7200));

    s.clients.insert_client(&crate::fixtures::client("app", T0)).await.unwrap();
    let mut c = code(4, "app", u.id, T0 + 60);
    c.amr = "fed".into();
    s.codes.insert_code(&c).await.unwrap();
    match s.codes.redeem_code(&[4; 32], "app", T0).await.unwrap() {
        gatehouse_core::oauth::CodeOutcome::Redeemed(got) => assert_eq!(got.amr, "fed"),
        other => panic!("{other:?}"),
    }
}

/// Two unlinks of different providers at once (two tabs): one wins, the other is refused as
/// the last way to sign in; never both (PostgreSQL READ COMMITTED needs the user row lock).
async fn concurrent_unlinks_keep_a_way_to_sign_in(s: &TestDb) {
    for round in 0..10u8 {
        let mut u = user(&format!("race{round}@example.com"));
        u.password_hash = None;
        s.federation.create_user_with_identity(&u, &link("google", &format!("g-{round}"), u.id)).await.unwrap();
        s.federation.link_identity(&link("github", &format!("{round}"), u.id)).await.unwrap();
        let (a, b) =
            tokio::join!(s.federation.unlink_identity(u.id, "google"), s.federation.unlink_identity(u.id, "github"));
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| *o == UnlinkOutcome::Unlinked);
        assert_eq!(outcomes, [UnlinkOutcome::LastMethod, UnlinkOutcome::Unlinked], "round {round}");
        assert_eq!(s.federation.identities_for_user(u.id).await.unwrap().len(), 1, "round {round}");
    }
}
