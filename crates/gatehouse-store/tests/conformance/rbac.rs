//! `RbacStore`: roles, permissions, grants to users and clients, cascades, the built-in
//! `admin` role, and the last-admin guard (also under concurrency); plus the user search and
//! the audit-trail filter the admin API relies on.

use gatehouse_core::audit::AuditQuery;
use gatehouse_core::rbac::{Access, GuardOutcome, GuardedChange, Permission, PermissionName, Role, RoleName};
use gatehouse_core::store::StoreError;
use gatehouse_core::user::{UserId, UserStatus};
use serde_json::json;

use crate::fixtures::{T0, client, event, session, user};
use crate::harness::TestDb;

conformance_tests!(
    roles_round_trip_and_conflict,
    permissions_and_grants_cascade,
    user_and_client_roles,
    access_of_users_and_clients,
    last_admin_is_guarded,
    guarded_changes_apply,
    user_search_is_literal_and_paged,
    audit_query_filters_and_pages,
);
conformance_tests!(multi_thread: two_admins_removing_each_other_leave_one);

fn role(name: &str) -> Role {
    Role {
        name: RoleName::parse(name).unwrap(),
        description: Some(format!("{name} role")),
        created_at: T0,
        updated_at: T0,
    }
}

fn perm(name: &str) -> Permission {
    Permission { name: PermissionName::parse(name).unwrap(), description: None, created_at: T0, updated_at: T0 }
}

fn rn(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn pn(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

async fn new_user(s: &TestDb, email: &str) -> UserId {
    let u = user(email);
    s.users.insert_user(&u).await.unwrap();
    u.id
}

async fn roles_round_trip_and_conflict(s: &TestDb) {
    // The migration creates the built-in admin role.
    let admin = s.rbac.role(&rn("admin")).await.unwrap().expect("built-in admin role");
    assert_eq!(admin.name.as_str(), "admin");

    s.rbac.insert_role(&role("editor")).await.unwrap();
    s.rbac.insert_role(&role("billing-ops")).await.unwrap();
    assert!(matches!(s.rbac.insert_role(&role("editor")).await, Err(StoreError::Conflict("role"))));
    assert_eq!(s.rbac.role(&rn("editor")).await.unwrap(), Some(role("editor")));
    assert_eq!(s.rbac.role(&rn("nobody")).await.unwrap(), None);
    let names: Vec<String> = s.rbac.list_roles().await.unwrap().into_iter().map(|r| r.name.to_string()).collect();
    assert_eq!(names, ["admin", "billing-ops", "editor"]);

    assert!(s.rbac.set_role_description(&rn("editor"), None, T0 + 5).await.unwrap());
    let edited = s.rbac.role(&rn("editor")).await.unwrap().unwrap();
    assert_eq!((edited.description, edited.updated_at), (None, T0 + 5));
    assert!(!s.rbac.set_role_description(&rn("nobody"), None, T0).await.unwrap());

    assert!(s.rbac.delete_role(&rn("editor")).await.unwrap());
    assert!(!s.rbac.delete_role(&rn("editor")).await.unwrap());
}

async fn permissions_and_grants_cascade(s: &TestDb) {
    s.rbac.insert_role(&role("editor")).await.unwrap();
    for p in ["posts:read", "posts:delete", "comments:read"] {
        s.rbac.insert_permission(&perm(p)).await.unwrap();
    }
    assert!(matches!(s.rbac.insert_permission(&perm("posts:read")).await, Err(StoreError::Conflict("permission"))));
    assert!(s.rbac.set_permission_description(&pn("posts:read"), Some("read posts"), T0 + 1).await.unwrap());
    assert_eq!(s.rbac.permission(&pn("posts:read")).await.unwrap().unwrap().description.as_deref(), Some("read posts"));

    assert!(s.rbac.grant_permission(&rn("editor"), &pn("posts:read"), T0).await.unwrap());
    assert!(!s.rbac.grant_permission(&rn("editor"), &pn("posts:read"), T0).await.unwrap(), "idempotent");
    assert!(s.rbac.grant_permission(&rn("editor"), &pn("posts:delete"), T0).await.unwrap());
    assert_eq!(s.rbac.role_permissions(&rn("editor")).await.unwrap(), [pn("posts:delete"), pn("posts:read")]);

    let u = new_user(s, "ed@example.com").await;
    s.rbac.grant_user_role(u, &rn("editor"), T0).await.unwrap();
    assert_eq!(s.rbac.user_permissions(u).await.unwrap(), [pn("posts:delete"), pn("posts:read")]);

    // Deleting a permission takes its grants with it; so does deleting the role.
    assert!(s.rbac.delete_permission(&pn("posts:delete")).await.unwrap());
    assert_eq!(s.rbac.user_permissions(u).await.unwrap(), [pn("posts:read")]);
    assert!(s.rbac.revoke_permission(&rn("editor"), &pn("posts:read")).await.unwrap());
    assert!(!s.rbac.revoke_permission(&rn("editor"), &pn("posts:read")).await.unwrap());
    s.rbac.grant_permission(&rn("editor"), &pn("comments:read"), T0).await.unwrap();
    assert!(s.rbac.delete_role(&rn("editor")).await.unwrap());
    assert!(s.rbac.user_roles(u).await.unwrap().is_empty());
    assert!(s.rbac.user_permissions(u).await.unwrap().is_empty());
    let names: Vec<String> = s.rbac.list_permissions().await.unwrap().into_iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names, ["comments:read", "posts:read"]);
}

async fn user_and_client_roles(s: &TestDb) {
    s.rbac.insert_role(&role("editor")).await.unwrap();
    let a = new_user(s, "a@example.com").await;
    let b = new_user(s, "b@example.com").await;
    assert!(s.rbac.grant_user_role(a, &rn("editor"), T0).await.unwrap());
    assert!(!s.rbac.grant_user_role(a, &rn("editor"), T0).await.unwrap());
    s.rbac.grant_user_role(a, &rn("admin"), T0).await.unwrap();
    s.rbac.grant_user_role(b, &rn("editor"), T0).await.unwrap();
    assert_eq!(s.rbac.user_roles(a).await.unwrap(), [rn("admin"), rn("editor")]);
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(s.rbac.role_members(&rn("editor")).await.unwrap(), expected);
    // A grant to an unknown role or user is refused by the schema.
    assert!(s.rbac.grant_user_role(a, &rn("ghost"), T0).await.is_err());
    assert!(s.rbac.grant_user_role(UserId::generate(), &rn("editor"), T0).await.is_err());

    s.clients.insert_client(&client("svc", T0)).await.unwrap();
    assert!(s.rbac.grant_client_role("svc", &rn("editor"), T0).await.unwrap());
    assert!(!s.rbac.grant_client_role("svc", &rn("editor"), T0).await.unwrap());
    assert_eq!(s.rbac.client_roles("svc").await.unwrap(), [rn("editor")]);
    assert_eq!(s.rbac.role_clients(&rn("editor")).await.unwrap(), ["svc"]);
    assert!(s.rbac.role_clients(&rn("admin")).await.unwrap().is_empty());
    assert!(s.rbac.grant_client_role("ghost", &rn("editor"), T0).await.is_err());
    assert!(s.rbac.revoke_client_role("svc", &rn("editor")).await.unwrap());
    assert!(!s.rbac.revoke_client_role("svc", &rn("editor")).await.unwrap());
    s.rbac.grant_client_role("svc", &rn("admin"), T0).await.unwrap();
    assert!(s.clients.delete_client("svc", T0).await.unwrap());
    assert!(s.rbac.client_roles("svc").await.unwrap().is_empty());
    assert!(s.rbac.role_clients(&rn("admin")).await.unwrap().is_empty());
}

/// `user_access` / `client_access`: roles (also those without permissions) and the union of
/// their permissions, sorted and without duplicates; what a revocation removes is gone at once.
async fn access_of_users_and_clients(s: &TestDb) {
    for r in ["editor", "viewer", "empty"] {
        s.rbac.insert_role(&role(r)).await.unwrap();
    }
    for p in ["posts:delete", "posts:read", "posts:write"] {
        s.rbac.insert_permission(&perm(p)).await.unwrap();
    }
    for (r, p) in [("editor", "posts:write"), ("editor", "posts:read"), ("viewer", "posts:read")] {
        s.rbac.grant_permission(&rn(r), &pn(p), T0).await.unwrap();
    }
    let u = new_user(s, "acc@example.com").await;
    let other = new_user(s, "other@example.com").await;
    assert_eq!(s.rbac.user_access(u).await.unwrap(), Access::default());
    for r in ["viewer", "editor", "empty"] {
        s.rbac.grant_user_role(u, &rn(r), T0).await.unwrap();
    }
    s.rbac.grant_user_role(other, &rn("admin"), T0).await.unwrap();
    let access = s.rbac.user_access(u).await.unwrap();
    assert_eq!(access.roles, [rn("editor"), rn("empty"), rn("viewer")]);
    assert_eq!(access.permissions, [pn("posts:read"), pn("posts:write")], "posts:read once");
    assert_eq!(access.permissions, s.rbac.user_permissions(u).await.unwrap(), "agrees with user_permissions");

    s.rbac.revoke_permission(&rn("editor"), &pn("posts:write")).await.unwrap();
    assert!(s.rbac.change_user_guarded(u, &GuardedChange::RevokeRole(rn("viewer")), T0).await.is_ok());
    let access = s.rbac.user_access(u).await.unwrap();
    assert_eq!(access.roles, [rn("editor"), rn("empty")]);
    assert_eq!(access.permissions, [pn("posts:read")]);

    s.clients.insert_client(&client("svc", T0)).await.unwrap();
    assert_eq!(s.rbac.client_access("svc").await.unwrap(), Access::default());
    s.rbac.grant_client_role("svc", &rn("viewer"), T0).await.unwrap();
    s.rbac.grant_client_role("svc", &rn("empty"), T0).await.unwrap();
    let access = s.rbac.client_access("svc").await.unwrap();
    assert_eq!(access.roles, [rn("empty"), rn("viewer")]);
    assert_eq!(access.permissions, [pn("posts:read")]);
    assert_eq!(s.rbac.client_access("ghost").await.unwrap(), Access::default());
}

async fn last_admin_is_guarded(s: &TestDb) {
    let a = new_user(s, "a@example.com").await;
    s.rbac.grant_user_role(a, &rn("admin"), T0).await.unwrap();
    for change in [GuardedChange::RevokeRole(rn("admin")), GuardedChange::Disable, GuardedChange::Delete] {
        assert_eq!(s.rbac.change_user_guarded(a, &change, T0).await.unwrap(), GuardOutcome::LastAdmin, "{change:?}");
    }
    assert_eq!(s.rbac.user_roles(a).await.unwrap(), [rn("admin")]);
    assert_eq!(s.users.user_by_id(a).await.unwrap().unwrap().status, UserStatus::Active);

    // A disabled second admin does not count; an active one does.
    let b = new_user(s, "b@example.com").await;
    s.rbac.grant_user_role(b, &rn("admin"), T0).await.unwrap();
    s.users.set_user_status(b, UserStatus::Disabled, T0).await.unwrap();
    assert_eq!(s.rbac.change_user_guarded(a, &GuardedChange::Disable, T0).await.unwrap(), GuardOutcome::LastAdmin);
    s.users.set_user_status(b, UserStatus::Active, T0).await.unwrap();
    assert_eq!(s.rbac.change_user_guarded(a, &GuardedChange::Disable, T0 + 1).await.unwrap(), GuardOutcome::Applied);
    // Now b is the last active admin.
    assert_eq!(s.rbac.change_user_guarded(b, &GuardedChange::Delete, T0).await.unwrap(), GuardOutcome::LastAdmin);
    // Unknown users and roles not held are "not found".
    let nobody = UserId::generate();
    assert_eq!(s.rbac.change_user_guarded(nobody, &GuardedChange::Delete, T0).await.unwrap(), GuardOutcome::NotFound);
    let revoke_editor = GuardedChange::RevokeRole(rn("admin"));
    let c = new_user(s, "c@example.com").await;
    assert_eq!(s.rbac.change_user_guarded(c, &revoke_editor, T0).await.unwrap(), GuardOutcome::NotFound);
}

async fn guarded_changes_apply(s: &TestDb) {
    s.rbac.insert_role(&role("editor")).await.unwrap();
    let a = new_user(s, "a@example.com").await;
    let b = new_user(s, "b@example.com").await;
    s.rbac.grant_user_role(a, &rn("admin"), T0).await.unwrap();
    s.rbac.grant_user_role(b, &rn("editor"), T0).await.unwrap();
    s.sessions.insert_session(&session(b, 1, T0, T0, T0 + 100)).await.unwrap();

    // Non-admin roles and non-admin users are never guarded.
    let revoke = GuardedChange::RevokeRole(rn("editor"));
    assert_eq!(s.rbac.change_user_guarded(b, &revoke, T0).await.unwrap(), GuardOutcome::Applied);
    assert!(s.rbac.user_roles(b).await.unwrap().is_empty());
    assert_eq!(s.rbac.change_user_guarded(b, &GuardedChange::Disable, T0 + 7).await.unwrap(), GuardOutcome::Applied);
    let disabled = s.users.user_by_id(b).await.unwrap().unwrap();
    assert_eq!((disabled.status, disabled.updated_at), (UserStatus::Disabled, T0 + 7));
    assert_eq!(s.rbac.change_user_guarded(b, &GuardedChange::Delete, T0).await.unwrap(), GuardOutcome::Applied);
    assert!(s.users.user_by_id(b).await.unwrap().is_none());
    assert!(s.sessions.sessions_for_user(b).await.unwrap().is_empty(), "sessions go with the user");
}

async fn two_admins_removing_each_other_leave_one(s: &TestDb) {
    for round in 0..5 {
        let a = new_user(s, &format!("a{round}@example.com")).await;
        let b = new_user(s, &format!("b{round}@example.com")).await;
        s.rbac.grant_user_role(a, &rn("admin"), T0).await.unwrap();
        s.rbac.grant_user_role(b, &rn("admin"), T0).await.unwrap();
        let revoke = GuardedChange::RevokeRole(rn("admin"));
        let (ra, rb) = tokio::join!(
            s.rbac.change_user_guarded(a, &revoke, T0),
            s.rbac.change_user_guarded(b, &GuardedChange::Disable, T0),
        );
        let outcomes = [ra.unwrap(), rb.unwrap()];
        assert_eq!(outcomes.iter().filter(|o| **o == GuardOutcome::Applied).count(), 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == GuardOutcome::LastAdmin).count(), 1, "{outcomes:?}");
        // Restore a clean slate for the next round: remove the survivor's admin role directly.
        for id in [a, b] {
            s.users.set_user_status(id, UserStatus::Disabled, T0).await.unwrap();
        }
    }
}

async fn user_search_is_literal_and_paged(s: &TestDb) {
    let mut ids = Vec::new();
    for email in ["ann@example.com", "bob@example.org", "an_n@example.com", "carl%x@example.com", "dan@example.com"] {
        ids.push(new_user(s, email).await);
    }
    let emails =
        |users: Vec<gatehouse_core::User>| users.into_iter().map(|u| u.email.key().to_owned()).collect::<Vec<_>>();
    assert_eq!(s.users.search_users(None, 10, None).await.unwrap().len(), 5);
    assert_eq!(emails(s.users.search_users(None, 10, Some("example.org")).await.unwrap()), ["bob@example.org"]);
    // `_` and `%` are literal characters, not wildcards.
    assert_eq!(emails(s.users.search_users(None, 10, Some("an_n")).await.unwrap()), ["an_n@example.com"]);
    assert_eq!(emails(s.users.search_users(None, 10, Some("l%x")).await.unwrap()), ["carl%x@example.com"]);
    assert!(s.users.search_users(None, 10, Some("%")).await.unwrap().len() == 1);
    // Pages in id order, filter applied after the cursor.
    let first = s.users.search_users(None, 2, Some("example.com")).await.unwrap();
    assert_eq!(emails(first.clone()), ["ann@example.com", "an_n@example.com"]);
    let rest = s.users.search_users(Some(first[1].id), 10, Some("example.com")).await.unwrap();
    assert_eq!(emails(rest), ["carl%x@example.com", "dan@example.com"]);

    assert!(s.users.set_display_name(ids[0], Some("Ann"), T0 + 3).await.unwrap());
    let ann = s.users.user_by_id(ids[0]).await.unwrap().unwrap();
    assert_eq!((ann.display_name.as_deref(), ann.updated_at), (Some("Ann"), T0 + 3));
    assert!(s.users.set_display_name(ids[0], None, T0 + 4).await.unwrap());
    assert!(!s.users.set_display_name(UserId::generate(), None, T0).await.unwrap());
}

async fn audit_query_filters_and_pages(s: &TestDb) {
    for (i, t) in ["user.created", "login.failed", "user.created", "role.created", "user.created"].iter().enumerate() {
        let mut e = event(t, T0 + i as i64 * 10, json!({ "n": i }));
        e.actor = Some(if i % 2 == 0 { "cli".into() } else { "someone".into() });
        e.subject = Some(format!("s{i}"));
        s.audit.append_audit_event(&e).await.unwrap();
    }
    let q = |f: fn(&mut AuditQuery)| {
        let mut query = AuditQuery { limit: 100, ..AuditQuery::default() };
        f(&mut query);
        query
    };
    let ns = |records: Vec<gatehouse_core::audit::AuditRecord>| {
        records.into_iter().map(|r| r.event.details["n"].as_i64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(ns(s.audit.query_audit_events(&q(|_| {})).await.unwrap()), [4, 3, 2, 1, 0]);
    let created = q(|q| q.event_type = Some("user.created".into()));
    assert_eq!(ns(s.audit.query_audit_events(&created).await.unwrap()), [4, 2, 0]);
    let by_actor = q(|q| q.actor = Some("someone".into()));
    assert_eq!(ns(s.audit.query_audit_events(&by_actor).await.unwrap()), [3, 1]);
    let by_subject = q(|q| q.subject = Some("s2".into()));
    assert_eq!(ns(s.audit.query_audit_events(&by_subject).await.unwrap()), [2]);
    let window = q(|q| {
        q.from = Some(T0 + 10);
        q.until = Some(T0 + 30);
    });
    assert_eq!(ns(s.audit.query_audit_events(&window).await.unwrap()), [2, 1]);
    // Cursor pagination by id.
    let page1 = s.audit.query_audit_events(&q(|q| q.limit = 2)).await.unwrap();
    assert_eq!(ns(page1.clone()), [4, 3]);
    let mut next = q(|q| q.limit = 2);
    next.before_id = Some(page1[1].id);
    assert_eq!(ns(s.audit.query_audit_events(&next).await.unwrap()), [2, 1]);
}
