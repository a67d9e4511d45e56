//! Decisions from memory (`RbacStore::rbac_revision`/`rbac_grants`, migration 0024): the RBAC
//! revision moves on every write, cascades included; decisions served from the in-memory RBAC
//! copy equal the database-backed ones (the former `PolicyService::facts`, kept here as the
//! reference) over random grants and policies; and a write through the admin service is seen by
//! the very next decision.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::audit::RequestContext;
use gatehouse_core::clock::ManualClock;
use gatehouse_core::policy::{
    Compiled, Decision, DecisionRequest, Explanation, PolicyService, PolicyStores, SubjectFacts, SubjectKind, evaluate,
};
use gatehouse_core::rbac::{
    Actor, AdminCapability, GuardedChange, Permission, PermissionName, RbacService, Role, RoleName,
};
use gatehouse_core::scale_out::{Invalidation, Invalidations};
use gatehouse_core::user::{UserId, UserStatus};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::fixtures::{T0, client, user};
use crate::harness::TestDb;

conformance_tests!(
    every_rbac_write_moves_the_revision,
    snapshot_decisions_equal_database_decisions,
    admin_writes_are_seen_by_the_next_decision,
);

fn rn(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn pn(name: &str) -> PermissionName {
    PermissionName::parse(name).unwrap()
}

fn role(name: &str) -> Role {
    Role { name: rn(name), description: None, created_at: T0, updated_at: T0 }
}

fn perm(name: &str) -> Permission {
    Permission { name: pn(name), description: None, created_at: T0, updated_at: T0 }
}

fn service(s: &TestDb, interval: Duration) -> PolicyService {
    let stores = PolicyStores {
        policies: s.policies.clone(),
        rbac: s.rbac.clone(),
        users: s.users.clone(),
        clients: s.clients.clone(),
        audit: s.audit.clone(),
    };
    PolicyService::new(stores, ManualClock::new(T0)).with_reload_interval(interval)
}

fn request(kind: &str, id: &str, action: &str, resource: &str, level: i64, mfa: Option<bool>) -> DecisionRequest {
    let mut req: DecisionRequest = serde_json::from_value(json!({
        "subject": { "type": kind, "id": id },
        "action": { "name": action },
        "resource": { "type": resource, "id": "r1", "properties": { "level": level } },
    }))
    .unwrap();
    req.subject_mfa = mfa;
    req
}

async fn every_rbac_write_moves_the_revision(s: &TestDb) {
    let r = &s.rbac;
    let mut last = r.rbac_revision().await.unwrap();
    let mut moved = |now: i64, what: &str| {
        assert!(now > last, "{what}: the revision did not move ({last} -> {now})");
        last = now;
    };
    r.insert_role(&role("editor")).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "insert role");
    r.set_role_description(&rn("editor"), Some("edits"), T0).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "update role");
    r.insert_permission(&perm("doc:read")).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "insert permission");
    r.grant_permission(&rn("editor"), &pn("doc:read"), T0).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "grant permission");
    let u = user("rev@example.com");
    s.users.insert_user(&u).await.unwrap();
    r.grant_user_role(u.id, &rn("editor"), T0).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "grant user role");
    s.clients.insert_client(&client("rev-client", T0)).await.unwrap();
    r.grant_client_role("rev-client", &rn("editor"), T0).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "grant client role");
    let grants = r.rbac_grants().await.unwrap();
    assert_eq!(grants.revision, r.rbac_revision().await.unwrap());
    assert_eq!(grants.user_roles, [(u.id, rn("editor"))]);
    assert_eq!(grants.client_roles, [("rev-client".to_owned(), rn("editor"))]);
    assert_eq!(grants.role_permissions, [(rn("editor"), pn("doc:read"))]);

    // Cascades: the grants of a deleted user, client or permission go, and the revision moves.
    assert_eq!(
        r.change_user_guarded(u.id, &GuardedChange::Delete, T0).await.unwrap(),
        gatehouse_core::rbac::GuardOutcome::Applied
    );
    moved(r.rbac_revision().await.unwrap(), "delete user");
    s.clients.delete_client("rev-client", T0).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "delete client");
    r.delete_permission(&pn("doc:read")).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "delete permission");
    r.delete_role(&rn("editor")).await.unwrap();
    moved(r.rbac_revision().await.unwrap(), "delete role");
    let grants = r.rbac_grants().await.unwrap();
    assert!(grants.user_roles.is_empty() && grants.client_roles.is_empty() && grants.role_permissions.is_empty());
}

/// The decision as it was made before the in-memory copy: every fact read from the store.
async fn reference(s: &TestDb, compiled: &Compiled, req: &DecisionRequest, now: i64) -> Decision {
    let kind = req.check().unwrap();
    let id = req.subject.id.as_str();
    let roles = match kind {
        SubjectKind::User => match UserId::parse(id) {
            None => Some(Vec::new()),
            Some(uid) => match s.users.user_by_id(uid).await.unwrap() {
                Some(u) if u.is_active() => Some(s.rbac.user_roles(uid).await.unwrap()),
                _ => None,
            },
        },
        SubjectKind::Client => match s.clients.client_by_id(id).await.unwrap() {
            None => Some(Vec::new()),
            Some(c) if c.is_disabled() => None,
            Some(_) => Some(s.rbac.client_roles(id).await.unwrap()),
        },
    };
    let Some(roles) = roles else {
        return Decision {
            allowed: false,
            explanation: Explanation {
                permission: req.permission(),
                errors: vec!["the subject's account is disabled or deleted".to_owned()],
                policy_revision: compiled.revision,
                ..Explanation::default()
            },
        };
    };
    let mut facts = SubjectFacts::default();
    for role in roles {
        let permissions = s.rbac.role_permissions(&role).await.unwrap();
        facts.roles.push((role.to_string(), permissions.iter().map(ToString::to_string).collect()));
    }
    evaluate(compiled, req, kind, &facts, now)
}

const ROLES: usize = 3;
const PERMS: [&str; 4] = ["doc:read", "doc:update", "img:read", "doc:share"];
const USERS: usize = 3;
const CLIENTS: usize = 2;

/// Role × permission grants, users (disabled?, roles), clients (disabled?, roles), the policy
/// templates stored, the resources' `level`, the subjects' `mfa`, and changes made after a
/// first round of decisions.
type World = (Vec<Vec<bool>>, Vec<(bool, Vec<bool>)>, Vec<(bool, Vec<bool>)>, Vec<bool>, i64, Option<bool>, Vec<u8>);

fn world() -> impl Strategy<Value = World> {
    let grants = |n| proptest::collection::vec(proptest::bool::weighted(0.4), n);
    (
        proptest::collection::vec(grants(PERMS.len()), ROLES),
        proptest::collection::vec((proptest::bool::weighted(0.2), grants(ROLES)), USERS),
        proptest::collection::vec((proptest::bool::weighted(0.2), grants(ROLES)), CLIENTS),
        proptest::collection::vec(proptest::bool::weighted(0.4), 5),
        0i64..5,
        proptest::option::of(proptest::bool::ANY),
        proptest::collection::vec(0u8..6, 0..4),
    )
}

/// Policy `p<i>` of case `c` (names scoped to the case, so cases share one database).
fn template(c: usize, i: usize) -> String {
    match i {
        0 => r#"permit(principal, action == Gatehouse::Action::"share", resource);"#.to_owned(),
        1 => format!(
            r#"forbid(principal, action == Gatehouse::Action::"update", resource) when {{ principal.roles.contains("c{c}r0") }};"#
        ),
        2 => format!(
            r#"permit(principal, action == Gatehouse::Action::"read", resource) when {{ principal.permissions.contains("c{c}img:read") }};"#
        ),
        3 => r#"forbid(principal, action, resource) when { resource has level && resource.level > 2 };"#.to_owned(),
        _ => format!(r#"permit(principal, action, resource) when {{ principal.mfa && resource.kind == "c{c}doc" }};"#),
    }
}

async fn snapshot_decisions_equal_database_decisions(s: &TestDb) {
    // Interval zero: the RBAC revision is compared at every decision, so the direct store
    // writes below (no invalidation published) must be picked up through the triggers alone.
    let svc = service(s, Duration::ZERO);
    let cap = AdminCapability::operator_cli();
    let ctx = RequestContext::default();
    let caller = Actor::Client("pep".into());
    let mut runner = TestRunner::new(Config { cases: 16, ..Config::default() });
    let mut stored = [false; 5];
    for c in 0..16usize {
        let (role_perms, users, clients, policies, level, mfa, changes) =
            world().new_tree(&mut runner).unwrap().current();
        let role_name = |i: usize| rn(&format!("c{c}r{i}"));
        let perm_name = |j: usize| pn(&format!("c{c}{}", PERMS[j]));
        for i in 0..ROLES {
            s.rbac.insert_role(&role(role_name(i).as_str())).await.unwrap();
        }
        for j in 0..PERMS.len() {
            s.rbac.insert_permission(&perm(perm_name(j).as_str())).await.unwrap();
        }
        for (i, row) in role_perms.iter().enumerate() {
            for (j, _) in row.iter().enumerate().filter(|(_, g)| **g) {
                s.rbac.grant_permission(&role_name(i), &perm_name(j), T0).await.unwrap();
            }
        }
        let mut subjects = vec![
            ("user".to_owned(), UserId::generate().to_string()),
            ("user".to_owned(), "not-a-uuid".to_owned()),
            ("client".to_owned(), format!("c{c}nobody")),
        ];
        let mut user_ids = Vec::new();
        for (k, (disabled, roles)) in users.iter().enumerate() {
            let u = user(&format!("c{c}u{k}@example.com"));
            s.users.insert_user(&u).await.unwrap();
            for (i, _) in roles.iter().enumerate().filter(|(_, g)| **g) {
                s.rbac.grant_user_role(u.id, &role_name(i), T0).await.unwrap();
            }
            if *disabled {
                s.users.set_user_status(u.id, UserStatus::Disabled, T0).await.unwrap();
            }
            subjects.push(("user".to_owned(), u.id.to_string()));
            user_ids.push(u.id);
        }
        let mut client_ids = Vec::new();
        for (k, (disabled, roles)) in clients.iter().enumerate() {
            let mut cl = client(&format!("c{c}k{k}"), T0);
            if *disabled {
                cl.lifecycle.disabled_at = Some(T0);
            }
            s.clients.insert_client(&cl).await.unwrap();
            for (i, _) in roles.iter().enumerate().filter(|(_, g)| **g) {
                s.rbac.grant_client_role(&cl.id, &role_name(i), T0).await.unwrap();
            }
            subjects.push(("client".to_owned(), cl.id.clone()));
            client_ids.push(cl.id);
        }
        for (i, want) in policies.iter().enumerate() {
            let name = format!("p{i}");
            if *want {
                svc.put(&cap, &name, &template(c, i), &ctx).await.unwrap();
            } else if stored[i] {
                svc.delete(&cap, &name, &ctx).await.unwrap();
            }
            stored[i] = *want;
        }
        for round in 0..2 {
            let compiled = svc.current().await.unwrap();
            for (kind, id) in &subjects {
                let mfa = if kind == "user" && UserId::parse(id).is_some() { mfa } else { None };
                for action in ["read", "update", "share"] {
                    for resource in ["doc", "img"] {
                        let req = request(kind, id, action, &format!("c{c}{resource}"), level, mfa);
                        let want = reference(s, &compiled, &req, T0).await;
                        let got = svc.decide(&caller, &req, &ctx).await.unwrap();
                        assert_eq!(got, want, "case {c} round {round}: {kind} {id} {action} {resource}");
                    }
                }
            }
            // A batch decides as one decision at a time does.
            let mut decider = svc.decider().await.unwrap();
            for (kind, id) in subjects.iter().chain(subjects.iter()) {
                let req = request(kind, id, "read", &format!("c{c}doc"), level, None);
                let want = reference(s, &compiled, &req, T0).await;
                assert_eq!(decider.decide(&caller, &req, &ctx).await.unwrap(), want, "batch, case {c}");
            }
            // Changes behind the service's back, seen through the revision only.
            for change in &changes {
                match change {
                    0 => {
                        for j in 0..PERMS.len() {
                            s.rbac.revoke_permission(&role_name(1), &perm_name(j)).await.unwrap();
                        }
                    }
                    1 => {
                        s.rbac.delete_role(&role_name(2)).await.unwrap();
                    }
                    2 => {
                        s.rbac.delete_permission(&perm_name(0)).await.unwrap();
                    }
                    3 => {
                        s.rbac.change_user_guarded(user_ids[0], &GuardedChange::Delete, T0).await.unwrap();
                    }
                    4 => {
                        s.clients.delete_client(&client_ids[0], T0).await.unwrap();
                    }
                    _ => {
                        s.rbac.grant_user_role(user_ids[1], &role_name(0), T0).await.unwrap();
                        s.rbac.grant_client_role(&client_ids[1], &role_name(0), T0).await.unwrap();
                    }
                }
            }
        }
    }
}

async fn admin_writes_are_seen_by_the_next_decision(s: &TestDb) {
    // An hour between revision checks: only invalidations can make the copy current.
    let hub = Arc::new(Invalidations::default());
    let svc = Arc::new(service(s, Duration::from_secs(3600)));
    hub.listen(svc.clone());
    let clock = ManualClock::new(T0);
    let rbac = RbacService::new(s.rbac.clone(), s.users.clone(), s.clients.clone(), s.audit.clone(), clock)
        .publishing_to(hub.clone());
    let cap = AdminCapability::operator_cli();
    let ctx = RequestContext::default();
    let caller = Actor::Client("pep".into());
    let u = user("next@example.com");
    s.users.insert_user(&u).await.unwrap();
    let id = u.id.to_string();
    let read = request("user", &id, "read", "doc", 0, None);
    let allowed = |d: Decision| d.allowed;

    rbac.create_role(&cap, "reader", None, &ctx).await.unwrap();
    rbac.create_permission(&cap, "doc:read", None, &ctx).await.unwrap();
    rbac.grant_permission(&cap, "reader", "doc:read", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "no role yet");
    rbac.grant_user_role(&cap, u.id, "reader", &ctx).await.unwrap();
    let d = svc.decide(&caller, &read, &ctx).await.unwrap();
    assert_eq!(d.explanation.granted_by_roles, ["reader"], "the grant is seen by the very next decision");
    rbac.revoke_permission(&cap, "reader", "doc:read", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "permission revoked");
    rbac.grant_permission(&cap, "reader", "doc:read", &ctx).await.unwrap();
    assert!(allowed(svc.decide(&caller, &read, &ctx).await.unwrap()));
    rbac.revoke_user_role(&cap, u.id, "reader", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "role revoked");

    // A write behind the service's back waits for the revision check (an hour here) or a
    // message from the bus.
    s.rbac.grant_user_role(u.id, &rn("reader"), T0).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "not told, not checked yet");
    hub.received(&Invalidation::Rbac);
    assert!(allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "told by the bus");
    rbac.delete_permission(&cap, "doc:read", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "permission deleted");
    rbac.create_permission(&cap, "doc:read", None, &ctx).await.unwrap();
    rbac.grant_permission(&cap, "reader", "doc:read", &ctx).await.unwrap();
    assert!(allowed(svc.decide(&caller, &read, &ctx).await.unwrap()));
    rbac.delete_role(&cap, "reader", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "role deleted");

    // Clients too.
    s.clients.insert_client(&client("next-client", T0)).await.unwrap();
    let read = request("client", "next-client", "read", "doc", 0, None);
    rbac.create_role(&cap, "reader", None, &ctx).await.unwrap();
    rbac.grant_permission(&cap, "reader", "doc:read", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()));
    rbac.grant_client_role(&cap, "next-client", "reader", &ctx).await.unwrap();
    assert!(allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "client grant seen at once");
    rbac.revoke_client_role(&cap, "next-client", "reader", &ctx).await.unwrap();
    assert!(!allowed(svc.decide(&caller, &read, &ctx).await.unwrap()), "client revoke seen at once");
}
