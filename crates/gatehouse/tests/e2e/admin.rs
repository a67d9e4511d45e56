//! The admin API (`/admin/v1/…`): the authorization matrix over every route, self-escalation,
//! IDOR, last-admin protection, mass assignment, pagination, audit filters, and the
//! `roles`/`permissions` commands.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::oauth::create_client;
use crate::on_both_backends;

on_both_backends!(
    authorization_matrix,
    self_escalation_idor_and_last_admin,
    pagination_search_and_audit_filters,
    cli_manages_roles_and_permissions,
);

/// Registers a user and returns `(id, first-party access token)`.
pub(crate) async fn user_with_token(app: &TestApp, email: &str) -> (String, String) {
    let id = app.register_user(email, PASSWORD).await["id"].as_str().unwrap().to_owned();
    (id, token(app, email).await)
}

pub(crate) async fn token(app: &TestApp, email: &str) -> String {
    let r = browser()
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({ "email": email, "password": PASSWORD, "token_delivery": "body" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let out = app.cli(args, None).await;
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A client-credentials token for a new client with `scopes`.
pub(crate) async fn client_token(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let mut args = vec!["--grant-type", "client_credentials"];
    for s in scopes {
        args.extend_from_slice(&["--scope", s]);
    }
    let client = create_client(app, &args).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    (id.to_owned(), r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned())
}

pub(crate) async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = browser().request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

pub(crate) async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let r = call(app, Some(token), Method::GET, path, None).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

/// Objects one principal's run of every route works on.
struct Targets {
    user: String,
    session: String,
    role: String,
    permission: String,
    client: String,
    policy: String,
}

/// Creates the targets through the API (as `admin`), with a live session for the user.
async fn targets(app: &TestApp, admin: &str, tag: &str) -> Targets {
    let email = format!("target-{tag}@example.com");
    let r =
        call(app, Some(admin), Method::POST, "/admin/v1/users", Some(&json!({ "email": email, "password": PASSWORD })))
            .await;
    assert_eq!(r.status(), 201);
    let user = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let b = browser();
    assert_eq!(app.login_with(&b, &email, PASSWORD).await.status(), 200);
    let sessions = get_json(app, admin, &format!("/admin/v1/users/{user}/sessions")).await;
    let session = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let role = format!("role-{tag}");
    let permission = format!("res-{tag}:read");
    assert_eq!(
        call(app, Some(admin), Method::POST, "/admin/v1/roles", Some(&json!({ "name": role }))).await.status(),
        201
    );
    let r = call(app, Some(admin), Method::POST, "/admin/v1/permissions", Some(&json!({ "name": permission }))).await;
    assert_eq!(r.status(), 201);
    let body = json!({ "name": format!("client {tag}"), "grant_types": ["client_credentials"], "scopes": ["x:y"] });
    let r = call(app, Some(admin), Method::POST, "/admin/v1/clients", Some(&body)).await;
    assert_eq!(r.status(), 201);
    let client = r.json::<Value>().await.unwrap()["client_id"].as_str().unwrap().to_owned();
    let policy = format!("pol-{tag}");
    let body = json!({ "body": crate::policies::DEPARTMENT });
    let r = call(app, Some(admin), Method::PUT, &format!("/admin/v1/policies/{policy}"), Some(&body)).await;
    assert_eq!(r.status(), 201);
    Targets { user, session, role, permission, client, policy }
}

/// Every admin route, in an order where each succeeds for an admin, with its success status.
fn routes(t: &Targets, tag: &str) -> Vec<(Method, String, Option<Value>, u16)> {
    let (u, s, r, p, c, pol) = (&t.user, &t.session, &t.role, &t.permission, &t.client, &t.policy);
    let policy = json!({ "body": crate::policies::MFA });
    let schema = json!({ "body": gatehouse_core::policy::DEFAULT_SCHEMA });
    let new_user = json!({ "email": format!("new-{tag}@example.com"), "password": PASSWORD });
    let new_client = json!({ "name": "new", "grant_types": ["client_credentials"], "scopes": ["x:y"] });
    vec![
        (Method::GET, "/admin/v1/users".into(), None, 200),
        (Method::GET, format!("/admin/v1/users/{u}"), None, 200),
        (Method::POST, "/admin/v1/users".into(), Some(new_user), 201),
        (Method::PATCH, format!("/admin/v1/users/{u}"), Some(json!({ "display_name": "Renamed" })), 200),
        (Method::GET, format!("/admin/v1/users/{u}/roles"), None, 200),
        (Method::PUT, format!("/admin/v1/users/{u}/roles/{r}"), None, 201),
        (Method::DELETE, format!("/admin/v1/users/{u}/roles/{r}"), None, 204),
        (Method::GET, format!("/admin/v1/users/{u}/sessions"), None, 200),
        (Method::DELETE, format!("/admin/v1/users/{u}/sessions/{s}"), None, 204),
        (Method::DELETE, format!("/admin/v1/users/{u}/sessions"), None, 200),
        (Method::GET, "/admin/v1/roles".into(), None, 200),
        (Method::POST, "/admin/v1/roles".into(), Some(json!({ "name": format!("new-{tag}") })), 201),
        (Method::GET, format!("/admin/v1/roles/{r}"), None, 200),
        (Method::PATCH, format!("/admin/v1/roles/{r}"), Some(json!({ "description": "changed" })), 200),
        (Method::GET, format!("/admin/v1/roles/{r}/members"), None, 200),
        (Method::PUT, format!("/admin/v1/roles/{r}/permissions/{p}"), None, 201),
        (Method::DELETE, format!("/admin/v1/roles/{r}/permissions/{p}"), None, 204),
        (Method::GET, "/admin/v1/permissions".into(), None, 200),
        (Method::POST, "/admin/v1/permissions".into(), Some(json!({ "name": format!("new-{tag}:read") })), 201),
        (Method::GET, format!("/admin/v1/permissions/{p}"), None, 200),
        (Method::PATCH, format!("/admin/v1/permissions/{p}"), Some(json!({ "description": "changed" })), 200),
        (Method::GET, "/admin/v1/audit-events".into(), None, 200),
        (Method::GET, "/admin/v1/audit-events?format=jsonl".into(), None, 200),
        (Method::GET, "/admin/v1/keys".into(), None, 200),
        (Method::POST, "/admin/v1/keys/rotate".into(), Some(json!({ "alg": "EdDSA" })), 201),
        (Method::GET, "/admin/v1/clients".into(), None, 200),
        (Method::POST, "/admin/v1/clients".into(), Some(new_client), 201),
        (Method::GET, format!("/admin/v1/clients/{c}"), None, 200),
        (Method::GET, format!("/admin/v1/clients/{c}/roles"), None, 200),
        (Method::PUT, format!("/admin/v1/clients/{c}/roles/{r}"), None, 201),
        (Method::DELETE, format!("/admin/v1/clients/{c}/roles/{r}"), None, 204),
        (Method::PATCH, format!("/admin/v1/clients/{c}"), Some(json!({ "name": "renamed" })), 200),
        (Method::POST, format!("/admin/v1/clients/{c}/secret"), Some(json!({ "overlap_seconds": 0 })), 200),
        (Method::PUT, format!("/admin/v1/clients/{c}/jwks"), Some(json!({ "keys": [] })), 422),
        (Method::POST, format!("/admin/v1/clients/{c}/disable"), None, 200),
        (Method::POST, format!("/admin/v1/clients/{c}/enable"), None, 200),
        (Method::DELETE, format!("/admin/v1/clients/{c}"), None, 204),
        (Method::GET, "/admin/v1/policies".into(), None, 200),
        (Method::GET, format!("/admin/v1/policies/{pol}"), None, 200),
        (Method::PUT, format!("/admin/v1/policies/{pol}"), Some(policy), 200),
        (Method::GET, "/admin/v1/policy-schema".into(), None, 200),
        (Method::PUT, "/admin/v1/policy-schema".into(), Some(schema), 200),
        (Method::DELETE, format!("/admin/v1/policies/{pol}"), None, 204),
        (Method::DELETE, format!("/admin/v1/permissions/{p}"), None, 204),
        (Method::DELETE, format!("/admin/v1/roles/{r}"), None, 204),
        (Method::POST, format!("/admin/v1/users/{u}/disable"), None, 204),
        (Method::DELETE, format!("/admin/v1/users/{u}"), None, 204),
    ]
}

/// Everything an admin route could change, read through the API.
async fn snapshot(app: &TestApp, admin: &str, t: &Targets) -> Value {
    let mut out = json!({});
    for path in [
        "/admin/v1/users?limit=500".to_owned(),
        format!("/admin/v1/users/{}", t.user),
        format!("/admin/v1/users/{}/sessions", t.user),
        "/admin/v1/roles".to_owned(),
        format!("/admin/v1/roles/{}", t.role),
        "/admin/v1/permissions".to_owned(),
        "/admin/v1/clients".to_owned(),
        format!("/admin/v1/clients/{}/roles", t.client),
        "/admin/v1/keys".to_owned(),
        "/admin/v1/policies".to_owned(),
        format!("/admin/v1/policies/{}", t.policy),
        "/admin/v1/policy-schema".to_owned(),
    ] {
        out[path.clone()] = get_json(app, admin, &path).await;
    }
    // The audit trail too (refusals write nothing there); without the admin's own reads.
    let audit = get_json(app, admin, "/admin/v1/audit-events?limit=500").await;
    out["audit"] = json!(audit["items"].as_array().unwrap().len());
    out
}

async fn authorization_matrix(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (_, admin_user) = user_with_token(&app, "admin@example.com").await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", "admin@example.com"]).await;
    let admin_user = {
        drop(admin_user);
        token(&app, "admin@example.com").await
    };
    let (_, admin_client) = client_token(&app, &["gatehouse:admin"]).await;
    let (_, ordinary) = user_with_token(&app, "ordinary@example.com").await;
    let (_, with_role) = user_with_token(&app, "editor@example.com").await;
    cli_ok(&app, &["roles", "create", "editor"]).await;
    cli_ok(&app, &["permissions", "create", "posts:delete"]).await;
    cli_ok(&app, &["permissions", "grant", "posts:delete", "--role", "editor"]).await;
    cli_ok(&app, &["roles", "grant", "editor", "--user", "editor@example.com"]).await;
    let (_, plain_client) = client_token(&app, &["posts:read"]).await;
    // A client holding the admin *role* (not the scope) is an admin machine identity.
    let (role_client_id, role_client) = client_token(&app, &["posts:read"]).await;
    cli_ok(&app, &["roles", "grant", "admin", "--client", &role_client_id]).await;

    let refused_targets = targets(&app, &admin_user, "refused").await;
    let before = snapshot(&app, &admin_user, &refused_targets).await;
    let refused: [(&str, Option<&str>, u16); 5] = [
        ("anonymous", None, 401),
        ("garbage token", Some("not.a.jwt"), 401),
        ("ordinary user", Some(&ordinary), 403),
        ("user with an unrelated role", Some(&with_role), 403),
        ("client without the admin scope", Some(&plain_client), 403),
    ];
    for (who, tok, status) in refused {
        for (method, path, body, _) in routes(&refused_targets, "refused") {
            let r = call(&app, tok, method.clone(), &path, body.as_ref()).await;
            assert_eq!(r.status(), status, "{who}: {method} {path}");
            if status == 401 {
                assert!(r.headers().contains_key("www-authenticate"), "{who}: {method} {path}");
            }
            let err: Value = r.json().await.unwrap();
            assert!(err["error"].is_string(), "{who}: {method} {path}: {err}");
        }
        assert_eq!(snapshot(&app, &admin_user, &refused_targets).await, before, "{who} changed something");
    }

    for (who, tok) in
        [("admin user", &admin_user), ("admin client", &admin_client), ("client with admin role", &role_client)]
    {
        let t = targets(&app, tok, who.split(' ').next_back().unwrap()).await;
        for (method, path, body, status) in routes(&t, &who.replace(' ', "-")) {
            let r = call(&app, Some(tok), method.clone(), &path, body.as_ref()).await;
            assert_eq!(r.status(), status, "{who}: {method} {path}: {}", r.text().await.unwrap());
        }
    }

    // Every change was audited with its actor.
    let audit = get_json(&app, &admin_user, "/admin/v1/audit-events?type=role.deleted").await;
    let actors: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors.len(), 3, "{audit}");
    assert!(actors.iter().any(|a| a.starts_with("client:")));
}

async fn self_escalation_idor_and_last_admin(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin_id, _) = user_with_token(&app, "admin@example.com").await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", &admin_id]).await;
    let admin = token(&app, "admin@example.com").await;
    let (user_id, user) = user_with_token(&app, "user@example.com").await;
    let (other_id, _) = user_with_token(&app, "other@example.com").await;
    cli_ok(&app, &["roles", "create", "editor"]).await;

    // Self-escalation: not even an admin grants a role to themselves; a user cannot at all.
    let r = call(&app, Some(&admin), Method::PUT, &format!("/admin/v1/users/{admin_id}/roles/editor"), None).await;
    assert_eq!(r.status(), 403);
    let r = call(&app, Some(&user), Method::PUT, &format!("/admin/v1/users/{user_id}/roles/admin"), None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(get_json(&app, &admin, &format!("/admin/v1/users/{user_id}/roles")).await["roles"], json!([]));
    assert_eq!(get_json(&app, &admin, &format!("/admin/v1/users/{admin_id}/roles")).await["roles"], json!(["admin"]));

    // IDOR: a user cannot read or end another user's sessions through the admin API.
    let victim = browser();
    assert_eq!(app.login_with(&victim, "other@example.com", PASSWORD).await.status(), 200);
    let sessions = get_json(&app, &admin, &format!("/admin/v1/users/{other_id}/sessions")).await;
    let sid = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let r = call(&app, Some(&user), Method::GET, &format!("/admin/v1/users/{other_id}/sessions"), None).await;
    assert_eq!(r.status(), 403);
    let r = call(&app, Some(&user), Method::DELETE, &format!("/admin/v1/users/{other_id}/sessions/{sid}"), None).await;
    assert_eq!(r.status(), 403);
    // An admin naming the session under the wrong user gets 404 and ends nothing.
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{user_id}/sessions/{sid}"), None).await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.me(&victim).await.status(), 200, "the session survived");

    // Mass assignment: unknown fields are refused, nothing changes.
    let r = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &format!("/admin/v1/users/{user_id}"),
        Some(&json!({ "email": "x@example.com" })),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &format!("/admin/v1/users/{user_id}"),
        Some(&json!({ "roles": ["admin"] })),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(get_json(&app, &admin, &format!("/admin/v1/users/{user_id}")).await["email"], "user@example.com");
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/roles", Some(&json!({ "name": "x", "built_in": true })))
        .await;
    assert_eq!(r.status(), 422);
    // Invalid names are 422, duplicates 409, the built-in admin role stays.
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/roles", Some(&json!({ "name": "Bad Name" }))).await;
    assert_eq!(r.status(), 422);
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/permissions", Some(&json!({ "name": "nocolon" }))).await;
    assert_eq!(r.status(), 422);
    let r = call(&app, Some(&admin), Method::POST, "/admin/v1/roles", Some(&json!({ "name": "editor" }))).await;
    assert_eq!(r.status(), 409);
    assert_eq!(call(&app, Some(&admin), Method::DELETE, "/admin/v1/roles/admin", None).await.status(), 403);

    // The last active admin cannot lose the role, be disabled or be deleted — whoever asks.
    let (_, admin_client) = client_token(&app, &["gatehouse:admin"]).await;
    for tok in [&admin, &admin_client] {
        for (method, path, body) in [
            (Method::DELETE, format!("/admin/v1/users/{admin_id}/roles/admin"), None),
            (Method::POST, format!("/admin/v1/users/{admin_id}/disable"), None),
            (Method::PATCH, format!("/admin/v1/users/{admin_id}"), Some(json!({ "status": "disabled" }))),
            (Method::DELETE, format!("/admin/v1/users/{admin_id}"), None),
        ] {
            let r = call(&app, Some(tok), method.clone(), &path, body.as_ref()).await;
            assert_eq!(r.status(), 409, "{method} {path}");
            assert_eq!(r.json::<Value>().await.unwrap()["error"], "last_admin");
        }
    }
    let out = app.cli(&["roles", "revoke", "admin", "--user", &admin_id], None).await;
    assert!(!out.status.success());
    assert_eq!(get_json(&app, &admin, &format!("/admin/v1/users/{admin_id}")).await["status"], "active");

    // With a second admin, the first may step down, and then their token stops working.
    let r = call(&app, Some(&admin), Method::PUT, &format!("/admin/v1/users/{user_id}/roles/admin"), None).await;
    assert_eq!(r.status(), 201);
    let r = call(&app, Some(&admin), Method::DELETE, &format!("/admin/v1/users/{admin_id}/roles/admin"), None).await;
    assert_eq!(r.status(), 204);
    assert_eq!(call(&app, Some(&admin), Method::GET, "/admin/v1/users", None).await.status(), 403);
    let user = token(&app, "user@example.com").await;
    assert_eq!(call(&app, Some(&user), Method::GET, "/admin/v1/users", None).await.status(), 200);
    // A disabled admin's still-valid token is refused at once.
    let r =
        call(&app, Some(&admin_client), Method::PUT, &format!("/admin/v1/users/{admin_id}/roles/admin"), None).await;
    assert_eq!(r.status(), 201);
    let r = call(&app, Some(&admin_client), Method::POST, &format!("/admin/v1/users/{user_id}/disable"), None).await;
    assert_eq!(r.status(), 204);
    // Disabling also revoked the user's logins, so the token itself is now refused (401).
    assert_eq!(call(&app, Some(&user), Method::GET, "/admin/v1/users", None).await.status(), 401);
}

async fn pagination_search_and_audit_filters(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin_id, _) = user_with_token(&app, "admin@example.com").await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", &admin_id]).await;
    let admin = token(&app, "admin@example.com").await;
    let start = app.clock_now();
    for i in 0..5 {
        let body =
            json!({ "email": format!("p{i}@list.example"), "password": PASSWORD, "display_name": format!("P{i}") });
        assert_eq!(call(&app, Some(&admin), Method::POST, "/admin/v1/users", Some(&body)).await.status(), 201);
    }
    // Cursor pagination visits every user exactly once, in creation order.
    let mut seen = Vec::new();
    let mut path = "/admin/v1/users?limit=2".to_owned();
    loop {
        let page = get_json(&app, &admin, &path).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|u| u["email"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/v1/users?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "admin@example.com",
            "p0@list.example",
            "p1@list.example",
            "p2@list.example",
            "p3@list.example",
            "p4@list.example"
        ]
    );
    let found = get_json(&app, &admin, "/admin/v1/users?q=LIST.example&limit=3").await;
    assert_eq!(found["items"].as_array().unwrap().len(), 3);
    assert!(found["next_cursor"].is_string());
    let found = get_json(&app, &admin, "/admin/v1/users?q=p3%40").await;
    assert_eq!(found["items"][0]["email"], "p3@list.example");
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(call(&app, Some(&admin), Method::GET, "/admin/v1/users?sort=email", None).await.status(), 400);
    assert_eq!(call(&app, Some(&admin), Method::GET, "/admin/v1/users?after=nope", None).await.status(), 400);

    // Audit filters: type, actor, subject, time range; cursor pages; JSON lines export.
    for name in ["a", "b", "c"] {
        assert_eq!(
            call(&app, Some(&admin), Method::POST, "/admin/v1/roles", Some(&json!({ "name": name }))).await.status(),
            201
        );
    }
    let created = get_json(&app, &admin, &format!("/admin/v1/audit-events?type=role.created&actor={admin_id}")).await;
    let subjects: Vec<&str> =
        created["items"].as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["c", "b", "a"], "newest first");
    let one = get_json(&app, &admin, "/admin/v1/audit-events?subject=b").await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["items"][0]["type"], "role.created");
    let page1 = get_json(&app, &admin, "/admin/v1/audit-events?type=role.created&limit=2").await;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 =
        get_json(&app, &admin, &format!("/admin/v1/audit-events?type=role.created&limit=2&cursor={cursor}")).await;
    assert_eq!(page2["items"][0]["subject"], "a");
    assert!(page2["next_cursor"].is_null());
    let cli_grants = get_json(&app, &admin, "/admin/v1/audit-events?actor=cli&type=user.role_granted").await;
    assert_eq!(cli_grants["items"][0]["subject"], admin_id);
    let future = get_json(&app, &admin, &format!("/admin/v1/audit-events?from={}", start + 3600)).await;
    assert!(future["items"].as_array().unwrap().is_empty());
    let past = get_json(&app, &admin, &format!("/admin/v1/audit-events?until={}", start - 3600)).await;
    assert!(past["items"].as_array().unwrap().is_empty());
    let window = get_json(
        &app,
        &admin,
        &format!("/admin/v1/audit-events?type=user.created&from={start}&until={}", start + 3600),
    )
    .await;
    assert_eq!(window["items"].as_array().unwrap().len(), 5);
    let r = call(&app, Some(&admin), Method::GET, "/admin/v1/audit-events?format=jsonl&type=user.created", None).await;
    assert_eq!(r.headers()["content-type"], "application/jsonl");
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5);
    assert!(lines.iter().all(|l| l["type"] == "user.created" && l["actor"] == admin_id.as_str()));
    assert_eq!(call(&app, Some(&admin), Method::GET, "/admin/v1/audit-events?cursor=x", None).await.status(), 400);
    assert_eq!(call(&app, Some(&admin), Method::GET, "/admin/v1/audit-events?format=xml", None).await.status(), 400);
}

async fn cli_manages_roles_and_permissions(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let (user_id, _) = user_with_token(&app, "u@example.com").await;
    let created: Value =
        serde_json::from_str(&cli_ok(&app, &["roles", "create", "editor", "--description", "Edits", "--json"]).await)
            .unwrap();
    assert_eq!(created["name"], "editor");
    cli_ok(&app, &["permissions", "create", "posts:delete", "--json"]).await;
    let granted: Value = serde_json::from_str(
        &cli_ok(&app, &["permissions", "grant", "posts:delete", "--role", "editor", "--json"]).await,
    )
    .unwrap();
    assert_eq!(granted["granted"], true);
    cli_ok(&app, &["roles", "grant", "editor", "--user", &user_id]).await;
    let roles: Value = serde_json::from_str(&cli_ok(&app, &["roles", "list", "--json"]).await).unwrap();
    assert_eq!(
        roles,
        json!([
            { "name": "admin", "description": "Full access to the Gatehouse admin API", "permissions": [], "created_at": 0, "updated_at": 0 },
            { "name": "editor", "description": "Edits", "permissions": ["posts:delete"], "created_at": roles[1]["created_at"], "updated_at": roles[1]["updated_at"] },
        ])
    );
    let perms: Value = serde_json::from_str(&cli_ok(&app, &["permissions", "list", "--json"]).await).unwrap();
    assert_eq!(perms[0]["name"], "posts:delete");
    cli_ok(&app, &["permissions", "revoke", "posts:delete", "--role", "editor"]).await;
    cli_ok(&app, &["roles", "revoke", "editor", "--user", "u@example.com"]).await;
    for bad in [
        &["roles", "create", "Editor"][..],
        &["roles", "create", "editor"],
        &["permissions", "create", "posts"],
        &["roles", "grant", "ghost", "--user", "u@example.com"],
        &["roles", "revoke", "editor", "--user", "u@example.com"],
        &["roles", "grant", "editor"],
    ] {
        assert!(!app.cli(bad, None).await.status.success(), "{bad:?} should fail");
    }
    let (admin_id, _) = user_with_token(&app, "admin@example.com").await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", &admin_id]).await;
    let admin = token(&app, "admin@example.com").await;
    let events = get_json(&app, &admin, "/admin/v1/audit-events?actor=cli").await;
    let types: Vec<&str> = events["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "user.role_granted",
            "user.role_revoked",
            "role.permission_revoked",
            "user.role_granted",
            "role.permission_granted",
            "permission.created",
            "role.created",
        ]
    );
}
