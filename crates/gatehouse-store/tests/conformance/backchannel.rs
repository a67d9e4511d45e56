//! `BackchannelStore` (OpenID Connect Back-Channel Logout 1.0 §2.3, §2.5): a session's clients
//! wait `live` until the session ends (by id, by user, or found gone by the sweep), follow a
//! rotated session, and are then claimed once under a lease, retried, failed and purged.

use gatehouse_core::oauth::backchannel::SessionGrant;
use uuid::Uuid;

use crate::fixtures::{T0, client, session, user};
use crate::harness::TestDb;

conformance_tests!(sessions_end_by_id_by_user_or_by_the_sweep, claims_are_leased_retried_and_failed);

fn grant(session: Uuid, client: &str, user: gatehouse_core::UserId) -> SessionGrant {
    SessionGrant {
        grant_id: Uuid::now_v7(),
        session_id: session,
        client_id: client.into(),
        user_id: user,
        created_at: T0,
    }
}

async fn sessions_end_by_id_by_user_or_by_the_sweep(s: &TestDb) {
    let b = &s.backchannel;
    s.clients.insert_client(&client("rp", T0)).await.unwrap();
    let (ada, bob) = (user("ada@example.com"), user("bob@example.com"));
    s.users.insert_user(&ada).await.unwrap();
    s.users.insert_user(&bob).await.unwrap();
    let (s1, s2, s3) =
        (session(ada.id, 1, T0, T0, T0 + 60), session(ada.id, 2, T0, T0, T0 + 60), session(bob.id, 3, T0, T0, T0 + 60));
    for x in [&s1, &s2, &s3] {
        s.sessions.insert_session(x).await.unwrap();
    }
    let (g1, g2, g3) = (grant(s1.id, "rp", ada.id), grant(s2.id, "rp", ada.id), grant(s3.id, "rp", bob.id));
    for g in [&g1, &g2, &g3] {
        b.remember_session_grant(g).await.unwrap();
    }
    b.remember_session_grant(&g1).await.unwrap(); // a second write changes nothing
    assert_eq!(b.claim_due_logout(T0 + 100, T0 + 200).await.unwrap(), None, "live rows are not due");
    assert_eq!(b.end_orphaned_session_grants(T0).await.unwrap(), 0, "every session exists");
    // Rotation: the sign-in continues under a new session id.
    let s1b = session(ada.id, 4, T0, T0, T0 + 60);
    s.sessions.insert_session(&s1b).await.unwrap();
    assert_eq!(b.move_session_grants(s1.id, s1b.id).await.unwrap(), 1);
    s.sessions.delete_session(s1.id).await.unwrap();
    assert_eq!(b.end_session_grants(s1.id, T0).await.unwrap(), 0, "moved away");
    assert_eq!(b.end_session_grants(s1b.id, T0 + 1).await.unwrap(), 1);
    assert_eq!(b.end_session_grants(s1b.id, T0 + 1).await.unwrap(), 0, "ended once");
    assert_eq!(b.end_user_session_grants(ada.id, T0 + 2).await.unwrap(), 1, "g2");
    // Bob's session disappears without a word (expiry purge): the sweep finds it.
    s.sessions.delete_session(s3.id).await.unwrap();
    assert_eq!(b.end_orphaned_session_grants(T0 + 3).await.unwrap(), 1);
    let mut claimed = Vec::new();
    while let Some(l) = b.claim_due_logout(T0 + 10, T0 + 100).await.unwrap() {
        assert_eq!(l.locked_until, Some(T0 + 100));
        assert_eq!(l.client_id, "rp");
        claimed.push((l.grant_id, l.user_id, l.ended_at));
    }
    assert_eq!(
        claimed,
        vec![(g1.grant_id, ada.id, T0 + 1), (g2.grant_id, ada.id, T0 + 2), (g3.grant_id, bob.id, T0 + 3)]
    );
}

async fn claims_are_leased_retried_and_failed(s: &TestDb) {
    let b = &s.backchannel;
    s.clients.insert_client(&client("rp", T0)).await.unwrap();
    let ada = user("ada@example.com");
    s.users.insert_user(&ada).await.unwrap();
    let g = grant(Uuid::now_v7(), "rp", ada.id);
    b.remember_session_grant(&g).await.unwrap();
    assert_eq!(b.end_orphaned_session_grants(T0).await.unwrap(), 1, "its session never existed");
    let old = b.claim_due_logout(T0, T0 + 30).await.unwrap().unwrap().locked_until.unwrap();
    assert_eq!(b.claim_due_logout(T0 + 1, T0 + 31).await.unwrap(), None, "leased");
    let new = b.claim_due_logout(T0 + 30, T0 + 60).await.unwrap().unwrap().locked_until.unwrap();
    assert!(!b.retry_logout(g.grant_id, old, 1, T0 + 90, "x").await.unwrap(), "a lost lease writes nothing");
    assert!(!b.delete_logout(g.grant_id, old).await.unwrap());
    assert!(b.retry_logout(g.grant_id, new, 1, T0 + 90, "HTTP 500").await.unwrap());
    assert_eq!(b.logout_status(g.grant_id).await.unwrap(), Some(("pending".into(), 1, Some("HTTP 500".into()))));
    assert_eq!(b.claim_due_logout(T0 + 89, T0 + 120).await.unwrap(), None, "not before its time");
    let l = b.claim_due_logout(T0 + 90, T0 + 120).await.unwrap().unwrap();
    assert_eq!(l.attempts, 1);
    assert!(b.fail_logout(g.grant_id, T0 + 120, 2, "timed out", T0 + 95).await.unwrap());
    assert_eq!(b.logout_status(g.grant_id).await.unwrap(), Some(("failed".into(), 2, Some("timed out".into()))));
    assert_eq!(b.claim_due_logout(T0 + 1000, T0 + 1100).await.unwrap(), None, "failed rows are not claimed");
    assert_eq!(b.purge_failed_logouts(T0 + 95).await.unwrap(), 0);
    assert_eq!(b.purge_failed_logouts(T0 + 96).await.unwrap(), 1);
    assert_eq!(b.logout_status(g.grant_id).await.unwrap(), None);
    // Delivered: the row is deleted; a deleted client takes its rows with it.
    let g2 = grant(Uuid::now_v7(), "rp", ada.id);
    b.remember_session_grant(&g2).await.unwrap();
    b.end_orphaned_session_grants(T0).await.unwrap();
    let lease = b.claim_due_logout(T0, T0 + 30).await.unwrap().unwrap().locked_until.unwrap();
    assert!(b.delete_logout(g2.grant_id, lease).await.unwrap());
    let g3 = grant(Uuid::now_v7(), "rp", ada.id);
    b.remember_session_grant(&g3).await.unwrap();
    assert!(s.clients.delete_client("rp", T0).await.unwrap());
    assert_eq!(b.logout_status(g3.grant_id).await.unwrap(), None);
}
