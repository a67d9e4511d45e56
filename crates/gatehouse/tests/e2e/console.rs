//! The admin console at `/admin/` (issue #16): the door (who gets in, who is sent to sign in,
//! who is refused), and the helpers the console's page tests share: an admin's browser
//! (cookie store, no redirects followed), page fetches, and same-origin form posts carrying the
//! page's CSRF token.

use reqwest::StatusCode;

use crate::admin::cli_ok;
use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::mfa::{enrol, fresh_code};
use crate::oauth::location;
use crate::on_both_backends;

on_both_backends!(the_console_is_for_signed_in_admins_only, admins_covered_by_the_mfa_policy_step_up_for_the_console);

/// A browser signed in (session cookie) as a new user `email`, made an admin when `admin`.
pub async fn signed_in_browser(app: &TestApp, email: &str, admin: bool) -> reqwest::Client {
    app.register_user(email, PASSWORD).await;
    if admin {
        cli_ok(app, &["roles", "grant", "admin", "--user", email]).await;
    }
    let b = browser();
    let resp = app.login_with(&b, email, PASSWORD).await;
    assert!(resp.status().is_success(), "sign-in of {email}: {}", resp.status());
    b
}

/// A browser signed in as a new admin.
pub async fn admin_browser(app: &TestApp) -> reqwest::Client {
    signed_in_browser(app, "console-admin@example.com", true).await
}

/// GET a page: its status and body.
pub async fn get_page(app: &TestApp, b: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let resp = b.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    (status, resp.text().await.unwrap())
}

/// POST a form from our own origin with `fields` (the caller adds `csrf_token`).
pub async fn post_form(app: &TestApp, b: &reqwest::Client, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    b.post(app.url(path)).header("origin", &app.base).form(fields).send().await.unwrap()
}

/// The CSRF token of the forms on `path` (fetched as `b`).
pub async fn csrf_of(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let (status, html) = get_page(app, b, path).await;
    assert_eq!(status, StatusCode::OK, "{path}: {html}");
    csrf_from(&html)
}

/// Every console page of the menu.
pub const PAGES: [&str; 7] =
    ["/admin/", "/admin/users", "/admin/clients", "/admin/roles", "/admin/policies", "/admin/audit", "/admin/keys"];

async fn the_console_is_for_signed_in_admins_only(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };

    // Nobody signed in: sent to sign in, coming back to the page afterwards.
    let anonymous = browser();
    let resp = anonymous.get(app.url("/admin/users?q=a")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/login?next=%2Fadmin%2Fusers%3Fq%3Da");
    let resp = anonymous.get(app.url("/admin")).send().await.unwrap();
    assert_eq!((resp.status(), &resp.headers()["location"]), (StatusCode::SEE_OTHER, &"/admin/".parse().unwrap()));
    // The sign-in page keeps the console page as where to continue; nothing else.
    let (_, login) = get_page(&app, &anonymous, "/login?next=%2Fadmin%2Fusers").await;
    assert!(login.contains(r#"name="next" value="/admin/users""#), "{login}");
    for foreign in [
        "//evil.test/admin/",
        "/admin/v1/users",
        "/admin/v1",
        "/admin//evil.test",
        "https://evil.test/admin/",
        "/admin/\u{1}",
    ] {
        let (_, login) = get_page(&app, &anonymous, &format!("/login?next={}", urlencode(foreign))).await;
        assert!(!login.contains(r#"name="next""#), "{foreign} kept as next: {login}");
    }

    // A signed-in user without the admin role: 403 on every page, as a page.
    let user = signed_in_browser(&app, "not-admin@example.com", false).await;
    for path in PAGES {
        let (status, html) = get_page(&app, &user, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("the console is for administrators"), "{path}: {html}");
    }

    // An admin: the dashboard, with the menu marking where we are; no caching of admin pages.
    let admin = admin_browser(&app).await;
    let resp = admin.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<a href="/admin/" aria-current="page">Dashboard</a>"#), "{html}");
    assert!(html.contains("console-admin@example.com"));
    let (status, html) = get_page(&app, &admin, "/admin/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("no such page"));
    // The admin API keeps its JSON 404s, `/admin/v1` itself included.
    for path in ["/admin/v1/no-such-thing", "/admin/v1"] {
        let resp = anonymous.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/json", "{path}");
    }
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("x", s)]).unwrap().query().unwrap()[2..].to_owned()
}

/// `[mfa] required_for_roles = ["admin"]`: the console needs a session whose `amr` has `mfa`
/// (RFC 8176 §2). Without a factor, the enrolment gate sends the admin to set one up; after
/// that, the password-only session is asked for the code alone (step-up) and comes back to the
/// console page it asked for.
async fn admins_covered_by_the_mfa_policy_step_up_for_the_console(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.mfa.required_for_roles = vec!["admin".into()]).await else {
        return;
    };
    let email = "mfa-admin@example.com";
    app.register_user(email, PASSWORD).await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", email]).await;
    let admin = browser();
    let (_, page) = get_page(&app, &admin, "/login").await;
    let form = [("csrf_token", csrf_from(&page)), ("email", email.into()), ("password", PASSWORD.into())];
    let r = post_form(&app, &admin, "/login", &form.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // No second factor yet: every console page leads to enrolment.
    let r = admin.get(app.url("/admin/users")).send().await.unwrap();
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/account/mfa?notice=required"));
    let (secret, _) = enrol(&app, &admin).await;

    // Enrolled, but this session signed in with the password alone: the code, then back here.
    let r = admin.get(app.url("/admin/keys")).send().await.unwrap();
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/login/mfa"));
    let csrf = csrf_of(&app, &admin, "/login/mfa").await;
    let code = fresh_code(&app, &secret);
    let r = post_form(&app, &admin, "/login/mfa", &[("csrf_token", &csrf), ("code", &code)]).await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/admin/keys"));
    let (status, html) = get_page(&app, &admin, "/admin/").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let refused = app.audit_events().await.into_iter().filter(|e| e.0 == "mfa.policy_refused").count();
    assert!(refused >= 1, "the password-only session's refusal is audited");
}
