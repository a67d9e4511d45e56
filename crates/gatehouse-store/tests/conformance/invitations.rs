//! `InvitationStore`: stored and found by token hash; a newer invitation revokes the older
//! open one of its address (and two open ones cannot exist); revoke only while open; listing in
//! id order; accepting is atomic (user, upstream link and roles together, or nothing) and
//! single use, also under concurrency; expired, revoked and used invitations are refused.

use std::sync::Arc;

use gatehouse_core::federation::FederatedIdentity;
use gatehouse_core::invitation::{AcceptOutcome, Invitation, InvitationStatus};
use gatehouse_core::rbac::{Role, RoleName};
use gatehouse_core::{Email, StoreError};
use uuid::Uuid;

use crate::fixtures::{T0, user};
use crate::harness::TestDb;

conformance_tests!(
    invitations_are_found_by_id_and_token_hash,
    a_newer_invitation_revokes_the_older,
    revoke_only_while_open,
    invitations_list_in_id_order,
    accepting_creates_the_user_with_its_roles,
    accepting_with_an_upstream_link,
    used_expired_and_revoked_invitations_are_refused,
    a_taken_address_leaves_nothing_written,
);

conformance_tests!(multi_thread: an_invitation_is_accepted_once_under_concurrency);

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

async fn create_role(s: &TestDb, name: &str) {
    let r = Role { name: role(name), description: None, created_at: T0, updated_at: T0 };
    s.rbac.insert_role(&r).await.unwrap();
}

fn invitation(email: &str, tag: u8, roles: &[&str]) -> Invitation {
    Invitation {
        id: Uuid::now_v7(),
        token_hash: vec![tag; 32],
        email: Email::parse(email).unwrap(),
        roles: roles.iter().map(|r| role(r)).collect(),
        invited_by: "cli".into(),
        created_at: T0,
        expires_at: T0 + 3600,
        accepted_at: None,
        accepted_user_id: None,
        revoked_at: None,
    }
}

async fn invitations_are_found_by_id_and_token_hash(s: &TestDb) {
    create_role(s, "editor").await;
    let inv = invitation("Invitee@Example.com", 1, &["editor", "admin"]);
    assert_eq!(s.invitations.create_invitation(&inv, T0).await.unwrap(), Vec::<Uuid>::new());
    assert_eq!(s.invitations.invitation(inv.id).await.unwrap(), Some(inv.clone()));
    assert_eq!(s.invitations.invitation_by_token(&[1; 32]).await.unwrap(), Some(inv.clone()));
    assert_eq!(s.invitations.invitation_by_token(&[2; 32]).await.unwrap(), None);
    assert_eq!(s.invitations.invitation(Uuid::now_v7()).await.unwrap(), None);
    let key = inv.email.key().to_owned();
    assert_eq!(s.invitations.pending_invitation(&key, T0).await.unwrap(), Some(inv.clone()));
    assert_eq!(s.invitations.pending_invitation(&key, T0 + 3600).await.unwrap(), None, "expired");
    assert_eq!(s.invitations.pending_invitation("other@example.com", T0).await.unwrap(), None);
}

async fn a_newer_invitation_revokes_the_older(s: &TestDb) {
    let old = invitation("same@example.com", 1, &[]);
    s.invitations.create_invitation(&old, T0).await.unwrap();
    let other = invitation("other@example.com", 3, &[]);
    s.invitations.create_invitation(&other, T0).await.unwrap();
    let new = invitation("SAME@example.com", 2, &[]);
    assert_eq!(s.invitations.create_invitation(&new, T0 + 5).await.unwrap(), vec![old.id]);
    let old = s.invitations.invitation(old.id).await.unwrap().unwrap();
    assert_eq!(old.revoked_at, Some(T0 + 5));
    assert_eq!(old.status(T0 + 5), InvitationStatus::Revoked);
    assert_eq!(s.invitations.invitation(other.id).await.unwrap().unwrap().revoked_at, None, "other address");
    let pending = s.invitations.pending_invitation("same@example.com", T0 + 5).await.unwrap().unwrap();
    assert_eq!(pending.id, new.id);
    // And again: each newer invitation replaces the open one before it.
    let mut clash = invitation("same@example.com", 4, &[]);
    clash.id = Uuid::now_v7();
    let replaced = s.invitations.create_invitation(&clash, T0 + 6).await.unwrap();
    assert_eq!(replaced, vec![new.id]);
    // The token hash is unique.
    let dup = invitation("third@example.com", 4, &[]);
    assert!(matches!(s.invitations.create_invitation(&dup, T0).await, Err(StoreError::Conflict(_))));
}

async fn revoke_only_while_open(s: &TestDb) {
    let inv = invitation("r@example.com", 1, &[]);
    s.invitations.create_invitation(&inv, T0).await.unwrap();
    assert!(s.invitations.revoke_invitation(inv.id, T0 + 1).await.unwrap());
    assert!(!s.invitations.revoke_invitation(inv.id, T0 + 2).await.unwrap(), "already revoked");
    assert_eq!(s.invitations.invitation(inv.id).await.unwrap().unwrap().revoked_at, Some(T0 + 1));
    assert!(!s.invitations.revoke_invitation(Uuid::now_v7(), T0).await.unwrap());
    let accepted = invitation("a@example.com", 2, &[]);
    s.invitations.create_invitation(&accepted, T0).await.unwrap();
    let u = user("a@example.com");
    let out = s.invitations.accept_invitation(&[2; 32], &u, None, T0 + 1).await.unwrap();
    assert!(matches!(out, AcceptOutcome::Accepted { .. }));
    assert!(!s.invitations.revoke_invitation(accepted.id, T0 + 2).await.unwrap(), "accepted");
}

async fn invitations_list_in_id_order(s: &TestDb) {
    let mut ids = Vec::new();
    for i in 0..5u8 {
        let inv = invitation(&format!("l{i}@example.com"), i, &[]);
        s.invitations.create_invitation(&inv, T0).await.unwrap();
        ids.push(inv.id);
    }
    let first = s.invitations.list_invitations(None, 3).await.unwrap();
    assert_eq!(first.iter().map(|i| i.id).collect::<Vec<_>>(), ids[..3]);
    let rest = s.invitations.list_invitations(Some(ids[2]), 10).await.unwrap();
    assert_eq!(rest.iter().map(|i| i.id).collect::<Vec<_>>(), ids[3..]);
}

async fn accepting_creates_the_user_with_its_roles(s: &TestDb) {
    create_role(s, "editor").await;
    create_role(s, "gone").await;
    let inv = invitation("new@example.com", 1, &["editor", "gone"]);
    s.invitations.create_invitation(&inv, T0).await.unwrap();
    // A role deleted after the invitation is skipped, not an error.
    s.rbac.delete_role(&role("gone")).await.unwrap();
    let u = user("new@example.com");
    let out = s.invitations.accept_invitation(&[1; 32], &u, None, T0 + 10).await.unwrap();
    let AcceptOutcome::Accepted { invitation: accepted, granted } = out else { panic!("{out:?}") };
    assert_eq!(granted, vec![role("editor")]);
    assert_eq!(accepted.accepted_at, Some(T0 + 10));
    assert_eq!(accepted.accepted_user_id, Some(u.id));
    assert_eq!(accepted.status(T0 + 10), InvitationStatus::Accepted);
    assert!(s.users.user_by_id(u.id).await.unwrap().is_some());
    assert_eq!(s.rbac.user_roles(u.id).await.unwrap(), vec![role("editor")]);
    // Deleting the account deletes the invitation it came from, which holds its address (the
    // audit trail keeps the history, by id).
    s.rbac.change_user_guarded(u.id, &gatehouse_core::rbac::GuardedChange::Delete, T0).await.unwrap();
    assert!(s.invitations.invitation(inv.id).await.unwrap().is_none());
}

async fn accepting_with_an_upstream_link(s: &TestDb) {
    let inv = invitation("fed@example.com", 1, &["admin"]);
    s.invitations.create_invitation(&inv, T0).await.unwrap();
    let mut u = user("fed@example.com");
    u.password_hash = None;
    let link = FederatedIdentity {
        provider: "google".into(),
        subject: "sub-1".into(),
        user_id: u.id,
        email: Some("fed@example.com".into()),
        created_at: T0,
        last_login_at: T0,
    };
    let out = s.invitations.accept_invitation(&[1; 32], &u, Some(&link), T0).await.unwrap();
    assert!(matches!(out, AcceptOutcome::Accepted { .. }), "{out:?}");
    assert_eq!(s.federation.identity("google", "sub-1").await.unwrap(), Some(link.clone()));
    assert_eq!(s.rbac.user_roles(u.id).await.unwrap(), vec![role("admin")]);
    // A link that is taken rolls everything back: no user, the invitation still open.
    let inv2 = invitation("fed2@example.com", 2, &["admin"]);
    s.invitations.create_invitation(&inv2, T0).await.unwrap();
    let u2 = user("fed2@example.com");
    let taken = FederatedIdentity { user_id: u2.id, ..link };
    let out = s.invitations.accept_invitation(&[2; 32], &u2, Some(&taken), T0).await;
    assert!(matches!(out, Err(StoreError::Conflict(_))), "{out:?}");
    assert!(s.users.user_by_id(u2.id).await.unwrap().is_none());
    assert!(s.invitations.pending_invitation(inv2.email.key(), T0).await.unwrap().is_some());
}

async fn used_expired_and_revoked_invitations_are_refused(s: &TestDb) {
    for (tag, email) in [(1u8, "used@example.com"), (2, "late@example.com"), (3, "revoked@example.com")] {
        s.invitations.create_invitation(&invitation(email, tag, &[]), T0).await.unwrap();
    }
    let used = user("used@example.com");
    assert!(matches!(
        s.invitations.accept_invitation(&[1; 32], &used, None, T0).await.unwrap(),
        AcceptOutcome::Accepted { .. }
    ));
    let again = user("used@example.com");
    assert_eq!(s.invitations.accept_invitation(&[1; 32], &again, None, T0).await.unwrap(), AcceptOutcome::Invalid);
    let late = user("late@example.com");
    let out = s.invitations.accept_invitation(&[2; 32], &late, None, T0 + 3600).await.unwrap();
    assert_eq!(out, AcceptOutcome::Invalid, "expires_at is exclusive");
    let inv3 = s.invitations.invitation_by_token(&[3; 32]).await.unwrap().unwrap();
    s.invitations.revoke_invitation(inv3.id, T0).await.unwrap();
    let revoked = user("revoked@example.com");
    assert_eq!(s.invitations.accept_invitation(&[3; 32], &revoked, None, T0).await.unwrap(), AcceptOutcome::Invalid);
    assert_eq!(s.invitations.accept_invitation(&[9; 32], &revoked, None, T0).await.unwrap(), AcceptOutcome::Invalid);
    for u in [again, late, revoked] {
        assert!(s.users.user_by_id(u.id).await.unwrap().is_none(), "nothing written");
    }
}

async fn a_taken_address_leaves_nothing_written(s: &TestDb) {
    let inv = invitation("taken@example.com", 1, &["admin"]);
    s.invitations.create_invitation(&inv, T0).await.unwrap();
    s.users.insert_user(&user("taken@example.com")).await.unwrap();
    let u = user("taken@example.com");
    assert_eq!(s.invitations.accept_invitation(&[1; 32], &u, None, T0).await.unwrap(), AcceptOutcome::EmailTaken);
    let still = s.invitations.invitation(inv.id).await.unwrap().unwrap();
    assert_eq!(still.status(T0), InvitationStatus::Pending);
    assert!(s.users.user_by_id(u.id).await.unwrap().is_none());
}

async fn an_invitation_is_accepted_once_under_concurrency(s: &TestDb) {
    create_role(s, "editor").await;
    for round in 0..5u8 {
        let email = format!("race{round}@example.com");
        s.invitations.create_invitation(&invitation(&email, round, &["editor"]), T0).await.unwrap();
        let store = Arc::clone(&s.invitations);
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                let u = user(&email);
                tokio::spawn(async move {
                    let out = store.accept_invitation(&[round; 32], &u, None, T0).await.unwrap();
                    (u.id, out)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (id, out) = t.await.unwrap();
            match out {
                AcceptOutcome::Accepted { .. } => winners.push(id),
                AcceptOutcome::Invalid => assert!(s.users.user_by_id(id).await.unwrap().is_none()),
                AcceptOutcome::EmailTaken => panic!("the losers must find the invitation used"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        assert_eq!(s.rbac.user_roles(winners[0]).await.unwrap(), vec![role("editor")]);
    }
}
