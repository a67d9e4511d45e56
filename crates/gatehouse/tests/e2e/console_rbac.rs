//! The console's roles and permissions page (`/admin/roles`, issue #16): every action, the
//! core's refusals as error pages, escaping, and forged or foreign posts refused with nothing
//! changed. Also the helpers the other console tests of this area share.

use reqwest::StatusCode;

use crate::console::{admin_browser, csrf_of, get_page, post_form, signed_in_browser};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::oauth::create_client;
use crate::on_both_backends;

on_both_backends!(every_roles_action_works_and_is_audited, roles_refusals_forgeries_and_escaping);

/// The path a 303 answer sends to.
pub fn location(resp: &reqwest::Response) -> String {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{}", resp.url());
    resp.headers()["location"].to_str().unwrap().to_owned()
}

/// POST `fields` to `path` as `b` with the page token of `from`; the answer.
pub async fn submit(
    app: &TestApp,
    b: &reqwest::Client,
    from: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf_of(app, b, from).await;
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    post_form(app, b, path, &all).await
}

/// A console form refuses, each with 403: no CSRF token, a wrong one, a post from another
/// origin (with a good token), and a signed-in non-admin (with their own good token).
pub async fn refuses_forgeries(
    app: &TestApp,
    admin: &reqwest::Client,
    non_admin: &reqwest::Client,
    from: &str,
    path: &str,
    fields: &[(&str, &str)],
) {
    let resp = post_form(app, admin, path, fields).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} without a token");
    let mut wrong = vec![("csrf_token", "not-the-token")];
    wrong.extend_from_slice(fields);
    let resp = post_form(app, admin, path, &wrong).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} with a wrong token");
    let token = csrf_of(app, admin, from).await;
    let mut good = vec![("csrf_token", token.as_str())];
    good.extend_from_slice(fields);
    let resp = admin.post(app.url(path)).header("origin", "https://evil.test").form(&good).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} from another origin");
    let theirs = csrf_of(app, non_admin, "/account").await;
    let mut fields_of_theirs = vec![("csrf_token", theirs.as_str())];
    fields_of_theirs.extend_from_slice(fields);
    let resp = post_form(app, non_admin, path, &fields_of_theirs).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path} by a non-admin");
    assert!(resp.text().await.unwrap().contains("the console is for administrators"));
}

/// `html` shows `text` (which has `<`/`>`) escaped, as askama escapes (`&#60;` or `&lt;`), and
/// never raw.
pub fn shows_escaped(html: &str, text: &str) {
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    assert!(html.contains(&numeric) || html.contains(&named), "{text} not shown escaped: {html}");
    assert!(!html.contains(text), "{text} shown raw");
}

/// How many audit events of `event_type` the store holds.
pub async fn audited(app: &TestApp, event_type: &str) -> usize {
    app.audit_events().await.iter().filter(|e| e.0 == event_type).count()
}

async fn every_roles_action_works_and_is_audited(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let holder = app.register_user("holder@example.com", PASSWORD).await;
    let holder_id = holder["id"].as_str().unwrap().to_owned();
    let client = create_client(&app, &["--grant-type", "client_credentials"]).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();

    let (status, html) = get_page(&app, &admin, "/admin/roles").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h2>Role admin</h2>"), "{html}");
    assert!(html.contains("console-admin@example.com"));
    assert!(!html.contains("Delete role admin"), "the built-in role offers no deletion");

    // Create a role and a permission; grant the permission, then the role to a user and a client.
    let r = submit(&app, &admin, "/admin/roles", "/admin/roles", &[("name", "editor"), ("description", "Edits posts")])
        .await;
    assert_eq!(location(&r), "/admin/roles?notice=role-created");
    let r = submit(&app, &admin, "/admin/roles", "/admin/permissions", &[("name", "posts:write")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=permission-created");
    let grant = "/admin/roles/editor/permissions";
    let r = submit(&app, &admin, "/admin/roles", grant, &[("permission", "posts:write")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=granted");
    let r = submit(&app, &admin, "/admin/roles", grant, &[("permission", "posts:write")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=already");
    let r =
        submit(&app, &admin, "/admin/roles", "/admin/roles/editor/users", &[("user", " Holder@Example.com ")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=granted", "by email, as sign-in matches it");
    let r = submit(&app, &admin, "/admin/roles", "/admin/roles/editor/clients", &[("client_id", &client_id)]).await;
    assert_eq!(location(&r), "/admin/roles?notice=granted");

    let (_, html) = get_page(&app, &admin, "/admin/roles?notice=granted").await;
    assert!(html.contains("Granted."));
    let summary = html.split("<h2>New role</h2>").next().unwrap();
    let row = summary.split("#role-editor").nth(1).expect("editor in the summary");
    let row = row.split("</tr>").next().unwrap();
    assert!(row.contains("posts:write") && row.contains("holder@example.com") && row.contains(&client_id), "{row}");
    assert!(html.contains("Edits posts"));
    // One event each (the set-up's CLI grant of `admin` is the other user.role_granted).
    for (event, count) in [
        ("role.created", 1),
        ("permission.created", 1),
        ("role.permission_granted", 1),
        ("user.role_granted", 2),
        ("client.role_granted", 1),
    ] {
        assert_eq!(audited(&app, event).await, count, "{event}");
    }

    // Revoke each grant; the role no longer lists them.
    let r = submit(&app, &admin, "/admin/roles", "/admin/roles/editor/users/revoke", &[("user", &holder_id)]).await;
    assert_eq!(location(&r), "/admin/roles?notice=revoked");
    let r =
        submit(&app, &admin, "/admin/roles", "/admin/roles/editor/clients/revoke", &[("client_id", &client_id)]).await;
    assert_eq!(location(&r), "/admin/roles?notice=revoked");
    let r = submit(
        &app,
        &admin,
        "/admin/roles",
        "/admin/roles/editor/permissions/revoke",
        &[("permission", "posts:write")],
    )
    .await;
    assert_eq!(location(&r), "/admin/roles?notice=revoked");
    let (_, html) = get_page(&app, &admin, "/admin/roles").await;
    let section = html.split(r#"<section id="role-editor""#).nth(1).unwrap().split("</section>").next().unwrap();
    assert!(!section.contains("holder@example.com") && !section.contains(&client_id), "{section}");
    assert!(!section.contains(r#"name="permission" value="posts:write""#), "{section}");
    for event in ["user.role_revoked", "client.role_revoked", "role.permission_revoked"] {
        assert_eq!(audited(&app, event).await, 1, "{event}");
    }

    // Delete, after a confirmation page.
    let (status, html) = get_page(&app, &admin, "/admin/roles/editor/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Delete role editor?"), "{html}");
    let r = submit(&app, &admin, "/admin/roles/editor/delete", "/admin/roles/editor/delete", &[]).await;
    assert_eq!(location(&r), "/admin/roles?notice=role-deleted");
    let (_, html) = get_page(&app, &admin, "/admin/roles").await;
    assert!(!html.contains("Role editor"));
    assert_eq!(audited(&app, "role.deleted").await, 1);
}

async fn roles_refusals_forgeries_and_escaping(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let me = app.me(&admin).await.json::<serde_json::Value>().await.unwrap();
    let my_id = me["id"].as_str().unwrap().to_owned();
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    let roles = "/admin/roles";

    // The core's refusals, each as an error page with its message (never a 500).
    let r = submit(&app, &admin, roles, "/admin/roles/admin/delete", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("the built-in admin role cannot be deleted"));
    let r = submit(&app, &admin, roles, "/admin/roles/admin/users/revoke", &[("user", &my_id)]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("the last active admin"));
    let r = submit(&app, &admin, roles, "/admin/roles", &[("name", "self")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=role-created");
    let r = submit(&app, &admin, roles, "/admin/roles/self/users", &[("user", "console-admin@example.com")]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("you cannot grant a role to yourself"));
    let r = submit(&app, &admin, roles, "/admin/roles/self/users", &[("user", "nobody@example.com")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("no such user"));
    let r = submit(&app, &admin, roles, "/admin/roles/self/clients", &[("client_id", "no-such-client")]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = submit(&app, &admin, roles, "/admin/permissions", &[("name", "no-colon")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = submit(&app, &admin, roles, "/admin/roles", &[("name", "self")]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "a second role of the same name");

    // HTML in names and descriptions: refused names are not echoed raw; descriptions escaped.
    let r = submit(&app, &admin, roles, "/admin/roles", &[("name", "<script>x</script>")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!r.text().await.unwrap().contains("<script>x"));
    let r =
        submit(&app, &admin, roles, "/admin/roles", &[("name", "quoted"), ("description", "<script>x</script>")]).await;
    assert_eq!(location(&r), "/admin/roles?notice=role-created");
    let (_, html) = get_page(&app, &admin, roles).await;
    shows_escaped(&html, "<script>x</script>");
    let (status, html) = get_page(&app, &admin, "/admin/roles/%3Cscript%3E/delete").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!html.contains("<script>"));

    // Forgeries: every form refuses them, and nothing changed.
    let before = app.audit_events().await.len();
    for (path, fields) in [
        ("/admin/roles", vec![("name", "forged")]),
        ("/admin/permissions", vec![("name", "forged:perm")]),
        ("/admin/roles/self/delete", vec![]),
        ("/admin/roles/self/permissions", vec![("permission", "x:y")]),
        ("/admin/roles/self/permissions/revoke", vec![("permission", "x:y")]),
        ("/admin/roles/self/users", vec![("user", "plain@example.com")]),
        ("/admin/roles/admin/users/revoke", vec![("user", my_id.as_str())]),
        ("/admin/roles/self/clients", vec![("client_id", "c")]),
        ("/admin/roles/self/clients/revoke", vec![("client_id", "c")]),
    ] {
        crate::console_rbac::refuses_forgeries(&app, &admin, &user, roles, path, &fields).await;
    }
    assert_eq!(app.audit_events().await.len(), before, "no forged change was made");
    let (_, html) = get_page(&app, &admin, roles).await;
    assert!(html.contains("<h2>Role self</h2>") && !html.contains("forged"), "{html}");
    // A non-admin does not see the page either.
    let (status, _) = get_page(&app, &user, "/admin/roles/self/delete").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
