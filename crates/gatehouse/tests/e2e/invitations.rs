//! Invitations (issue #14 part 5), end to end: an admin invites through the API or the CLI, the
//! link arrives by mail, the accept page's GET does not spend it, the POST creates the account
//! with the invitation's roles and a verified address; the link is single use, and expired,
//! revoked and replaced links are refused with one generic error; registration switched off
//! does not stop invitations; `provisioning = "invite_only"` federation creates accounts only
//! through a pending invitation. Bad input answers clear 4xx errors, never 500.

use serde_json::{Value, json};

use crate::admin::{cli_ok, token};
use crate::federation_harness::{Browser, NodeOp, OP_CLIENT_ID, OP_CLIENT_SECRET, bind, downstream, oidc_provider};
use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::on_both_backends;

on_both_backends!(
    admin_invites_and_the_link_creates_the_account,
    used_expired_revoked_and_replaced_links_are_refused,
    bad_input_answers_clear_errors,
    cli_invites_with_registration_switched_off,
    invite_only_federation_honours_invitations,
);

/// An admin (registered, granted `admin` by the CLI) and their first-party token.
async fn admin(app: &TestApp) -> String {
    app.register_user("boss@example.com", PASSWORD).await;
    cli_ok(app, &["roles", "create", "editor"]).await;
    cli_ok(app, &["roles", "grant", "admin", "--user", "boss@example.com"]).await;
    token(app, "boss@example.com").await
}

async fn invite(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    browser().post(app.url("/admin/v1/invitations")).bearer_auth(admin).json(&body).send().await.unwrap()
}

async fn accept_json(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    let body = json!({ "token": token, "password": password, "display_name": "Newcomer" });
    browser().post(app.url("/api/v1/auth/invitations/accept")).json(&body).send().await.unwrap()
}

async fn assert_refused(r: reqwest::Response) {
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_invitation", "{body}");
}

async fn list(app: &TestApp, admin: &str) -> Vec<Value> {
    let r = browser().get(app.url("/admin/v1/invitations")).bearer_auth(admin).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["items"].as_array().unwrap().clone()
}

async fn admin_invites_and_the_link_creates_the_account(b: Backend) {
    // Over a real SMTP server (issue #14).
    let Some(app) = TestApp::spawn_over_smtp(b, |_| {}).await else { return };
    let admin = admin(&app).await;
    let r = invite(&app, &admin, json!({ "email": "New.Comer@example.com", "roles": ["editor"] })).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!((created["status"].as_str(), created["roles"].clone()), (Some("pending"), json!(["editor"])));
    assert!(created.get("token").is_none() && !created.to_string().contains("token="), "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    let mail = app.wait_for_mail("New.Comer@example.com", 1).await;
    let link = mail.link().unwrap();
    assert!(link.starts_with(&app.url("/invitation?token=")), "{link}");
    let token = mail.token().unwrap();

    // GET shows the form, twice: it does not spend the link.
    let c = browser();
    for _ in 0..2 {
        let r = c.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("New.Comer@example.com") && page.contains("readonly"), "{page}");
    }
    let page = c.get(&link).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_from(&page);
    // A weak password shows the form again; the link still works.
    let weak = [("csrf_token", csrf.as_str()), ("token", token.as_str()), ("password", "short")];
    let r = c.post(app.url("/invitation")).form(&weak).send().await.unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("name=\"token\""));
    let form = [("csrf_token", csrf.as_str()), ("token", &token), ("password", PASSWORD), ("display_name", "<b>N</b>")];
    let r = c.post(app.url("/invitation")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?notice=invitation_accepted");
    let login = c.get(app.url("/login?notice=invitation_accepted")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Your account has been created"), "{login}");

    // The account exists, with a verified address and the invitation's roles.
    let user = browser();
    assert_eq!(app.login_with(&user, "new.comer@example.com", PASSWORD).await.status(), 200);
    let me: Value = app.me(&user).await.json().await.unwrap();
    assert_eq!((me["email_verified"].as_bool(), me["display_name"].as_str()), (Some(true), Some("<b>N</b>")));
    let url = app.url(&format!("/admin/v1/users/{}", me["id"].as_str().unwrap()));
    let detail: Value = browser().get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(detail["roles"], json!(["editor"]));

    // Single use: the page, the form and the JSON endpoint all refuse it now.
    assert_eq!(c.get(&link).send().await.unwrap().status(), 400);
    let r = c.post(app.url("/invitation")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_refused(accept_json(&app, &token, PASSWORD).await).await;

    let items = list(&app, &admin).await;
    let row = items.iter().find(|i| i["id"] == id.as_str()).unwrap();
    assert_eq!((row["status"].as_str(), row["accepted_user_id"].as_str()), (Some("accepted"), me["id"].as_str()));
    // Audited, without the address in the acceptance.
    let events = app.audit_events().await;
    assert!(events.iter().any(|(t, ..)| t == "invitation.created"));
    let (_, outcome, _, details) = events.iter().find(|(t, ..)| t == "invitation.accepted").unwrap();
    assert_eq!(outcome, "success");
    let details: Value = serde_json::from_str(details).unwrap();
    assert_eq!(details["invitation_id"], id.as_str());
    assert!(!details.to_string().to_lowercase().contains("comer@"), "{details}");
}

async fn used_expired_revoked_and_replaced_links_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    // Expired: the default lifetime is 7 days.
    assert_eq!(invite(&app, &admin, json!({ "email": "late@example.com" })).await.status(), 201);
    let late = app.wait_for_mail("late@example.com", 1).await.token().unwrap();
    // Revoked by the admin.
    let r = invite(&app, &admin, json!({ "email": "gone@example.com" })).await;
    let gone_id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let gone = app.wait_for_mail("gone@example.com", 1).await.token().unwrap();
    let del = |id: String| {
        let url = app.url(&format!("/admin/v1/invitations/{id}"));
        let admin = admin.clone();
        async move { browser().delete(url).bearer_auth(admin).send().await.unwrap().status() }
    };
    assert_eq!(del(gone_id.clone()).await, 204);
    assert_eq!(del(gone_id.clone()).await, 204, "revoking twice is fine");
    assert_eq!(del(uuid::Uuid::now_v7().to_string()).await, 404);
    assert_eq!(del("not-a-uuid".into()).await, 404);
    assert_refused(accept_json(&app, &gone, PASSWORD).await).await;
    // Replaced by a newer invitation of the same address.
    invite(&app, &admin, json!({ "email": "twice@example.com" })).await;
    let first = app.wait_for_mail("twice@example.com", 1).await.token().unwrap();
    invite(&app, &admin, json!({ "email": "TWICE@example.com", "roles": ["editor"] })).await;
    let second = app.wait_for_mail("twice@example.com", 2).await.token().unwrap();
    assert_ne!(first, second);
    assert_refused(accept_json(&app, &first, PASSWORD).await).await;
    let r = accept_json(&app, &second, PASSWORD).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["user"]["email"].as_str(), body["user"]["email_verified"].as_bool()),
        (Some("TWICE@example.com"), Some(true))
    );
    assert_refused(accept_json(&app, &second, PASSWORD).await).await;
    // An accepted invitation cannot be revoked.
    let items = list(&app, &admin).await;
    let accepted = items.iter().find(|i| i["status"] == "accepted").unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(del(accepted).await, 409);
    // An address with an account is refused, clearly, for the admin.
    let r = invite(&app, &admin, json!({ "email": "twice@example.com" })).await;
    assert_eq!(r.status(), 409);

    app.clock.advance(7 * 86_400);
    let admin = token(&app, "boss@example.com").await;
    assert_eq!(browser().get(app.url(&format!("/invitation?token={late}"))).send().await.unwrap().status(), 400);
    assert_refused(accept_json(&app, &late, PASSWORD).await).await;
    assert_refused(accept_json(&app, "unknown-token", PASSWORD).await).await;
    let statuses: Vec<String> =
        list(&app, &admin).await.iter().map(|i| i["status"].as_str().unwrap().to_owned()).collect();
    assert_eq!(statuses, ["expired", "revoked", "revoked", "accepted"]);
    let revoked = app.audit_events().await.into_iter().filter(|(t, ..)| t == "invitation.revoked").count();
    assert_eq!(revoked, 2, "by the admin, and by the newer invitation");
}

async fn bad_input_answers_clear_errors(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin(&app).await;
    let send = |body: &'static [u8]| {
        let r = browser()
            .post(app.url("/admin/v1/invitations"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body);
        async move { r.send().await.unwrap() }
    };
    for (body, status, code) in [
        (&b"{\"email\": "[..], 400, "invalid_request"),
        (b"not json", 400, "invalid_request"),
        (b"{\"email\": \"a\\u0000b@example.com\"}", 400, "invalid_request"),
        (b"{\"email\": \"not-an-address\"}", 422, "invalid_email"),
        (b"{\"email\": \"x@example.com\", \"roles\": [\"nope\"]}", 422, "unknown_role"),
        (b"{\"email\": \"x@example.com\", \"roles\": [\"Bad Name\"]}", 422, "invalid_input"),
        (b"{\"email\": \"x@example.com\", \"admin\": true}", 422, "invalid_request"),
    ] {
        let r = send(body).await;
        assert_eq!(r.status(), status, "{}", String::from_utf8_lossy(body));
        let err: Value = r.json().await.unwrap();
        assert_eq!(err["error"], code, "{err}");
    }
    // Without an admin token: 401.
    let r = browser().post(app.url("/admin/v1/invitations")).json(&json!({ "email": "x@example.com" })).send().await;
    assert_eq!(r.unwrap().status(), 401);
    // The accept endpoint and page.
    let accept = |body: &'static [u8]| {
        let r = browser()
            .post(app.url("/api/v1/auth/invitations/accept"))
            .header("content-type", "application/json")
            .body(body);
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(accept(b"not json").await, 400);
    assert_eq!(accept(b"{\"token\": \"a\\u0000b\", \"password\": \"long enough pw\"}").await, 400);
    assert_eq!(accept(b"{\"token\": 5}").await, 422);
    for q in ["", "?token=", "?token=%00", "?token=%FF%FE", "?token=a&token=b"] {
        let r = browser().get(app.url(&format!("/invitation{q}"))).send().await.unwrap();
        assert!(r.status().is_client_error(), "{q}: {}", r.status());
    }
    let form = browser().post(app.url("/invitation")).form(&[("token", "x"), ("password", "long enough pw")]);
    assert_eq!(form.send().await.unwrap().status(), 403, "no CSRF token");
}

async fn cli_invites_with_registration_switched_off(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.registration_enabled = false).await else { return };
    cli_ok(&app, &["roles", "create", "editor"]).await;
    let out = cli_ok(&app, &["users", "invite", "--email", "cli@example.com", "--role", "editor", "--json"]).await;
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((created["status"].as_str(), created["roles"].clone()), (Some("pending"), json!(["editor"])));
    assert!(!out.contains("token"), "the link goes by mail only: {out}");
    let token = app.wait_for_mail("cli@example.com", 1).await.token().unwrap();
    let r = accept_json(&app, &token, PASSWORD).await;
    assert_eq!(r.status(), 201, "registration off does not stop invitations");
    assert_eq!(app.login_with(&browser(), "cli@example.com", PASSWORD).await.status(), 200);

    let out = cli_ok(&app, &["users", "invite", "--email", "other@example.com"]).await;
    let id = out.lines().find_map(|l| l.strip_prefix("id:")).unwrap().trim().to_owned();
    cli_ok(&app, &["users", "invitations", "revoke", &id]).await;
    let listed = cli_ok(&app, &["users", "invitations", "list", "--json"]).await;
    let statuses: Vec<Value> =
        listed.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["status"].clone()).collect();
    assert_eq!(statuses, [json!("accepted"), json!("revoked")]);
    let bad = app.cli(&["users", "invite", "--email", "x@example.com", "--role", "nope"], None).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nope"));
    let actors: Vec<String> =
        app.audit_events().await.into_iter().filter(|(t, ..)| t.starts_with("invitation.")).map(|e| e.0).collect();
    assert_eq!(actors, ["invitation.created", "invitation.accepted", "invitation.created", "invitation.revoked"]);
}

async fn invite_only_federation_honours_invitations(b: Backend) {
    let (listener, base) = bind().await;
    let Some(op) = NodeOp::start(&format!("{base}/login/op/callback")).await else { return };
    let entry = oidc_provider("op", &op.issuer, OP_CLIENT_ID, OP_CLIENT_SECRET);
    let tweak = |s: &mut gatehouse::config::Settings| s.federation.provisioning = "invite_only".into();
    let Some(app) = downstream(b, listener, vec![entry], tweak).await else { return };
    op.set_user(json!({ "sub": "fed-1", "email": "fed@example.com", "email_verified": true })).await;

    // Without an invitation: no account.
    let landed = Browser::new().follow(&app.url("/login/op")).await;
    assert!(!landed.url.ends_with("/account"), "{}", landed.url);
    assert!(crate::federation_harness::failure_reasons(&app).await.contains(&"provisioning_closed".to_owned()));

    cli_ok(&app, &["roles", "create", "editor"]).await;
    cli_ok(&app, &["users", "invite", "--email", "fed@example.com", "--role", "editor"]).await;
    let browser = Browser::new();
    let landed = browser.follow(&app.url("/login/op")).await;
    assert_eq!(landed.status, 200, "{} {:?}\n{}", landed.url, landed.visited, landed.body);
    assert!(landed.url.ends_with("/account"), "{}", landed.url);
    let (status, me) = browser.me(&app).await;
    assert_eq!((status, me["email"].as_str()), (200, Some("fed@example.com")));
    let shown = cli_ok(&app, &["users", "invitations", "list", "--json"]).await;
    assert!(shown.contains("\"accepted\""), "{shown}");
    let events = app.audit_events().await;
    let types: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert!(types.contains(&"federation.account_created"), "{types:?}");
    // The account got the invitation's role, in the same transaction that spent it.
    let (.., details) = events.iter().find(|e| e.0 == "invitation.accepted").unwrap();
    let details: Value = serde_json::from_str(details).unwrap();
    assert_eq!((details["roles"].clone(), details["method"].as_str()), (json!(["editor"]), Some("federation")));
}
