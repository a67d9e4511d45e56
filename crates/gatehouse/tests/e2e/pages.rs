//! The HTML pages: registration, login, account and session revocation through forms, CSRF
//! tokens and the Origin check, escaping, security headers.

use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::on_both_backends;

on_both_backends!(
    form_flow_register_login_account_revoke_logout,
    forms_refuse_missing_wrong_and_foreign_csrf_tokens,
    cross_site_state_changes_are_refused,
    pages_escape_input_and_carry_security_headers,
);

async fn get_page(client: &reqwest::Client, url: String) -> String {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()["location"].to_str().unwrap()
}

async fn form_flow_register_login_account_revoke_logout(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let c = &app.client;
    let page = get_page(c, app.url("/register")).await;
    let form = [
        ("csrf_token", csrf_from(&page)),
        ("email", "jane@example.com".into()),
        ("password", PASSWORD.into()),
        ("display_name", "Jane <Doe>".into()),
    ];
    let r = c.post(app.url("/register")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?notice=registered");

    let page = get_page(c, app.url("/login?notice=registered")).await;
    assert!(page.contains("Check your email"), "{page}");
    let form = [("csrf_token", csrf_from(&page)), ("email", "jane@example.com".into()), ("password", PASSWORD.into())];
    let r = c.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");

    // A second browser signs in too; the first one sees both sessions and ends the other.
    let other = browser();
    assert_eq!(app.login_with(&other, "jane@example.com", PASSWORD).await.status(), 200);
    let page = get_page(c, app.url("/account")).await;
    assert!(page.contains("jane@example.com"));
    assert!(page.contains("Jane &#60;Doe&#62;") || page.contains("Jane &lt;Doe&gt;"), "display name escaped");
    assert!(page.contains("This session"));
    let action_start = page.find("/account/sessions/").expect("a revoke form for the other session");
    let action = &page[action_start..page[action_start..].find('"').unwrap() + action_start];
    let r = c.post(app.url(action)).form(&[("csrf_token", csrf_from(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(app.me(&other).await.status(), 401);
    assert_eq!(app.me(c).await.status(), 200);

    // Another user cannot revoke jane's session by id.
    app.register("mallory@example.com", PASSWORD).await;
    let mallory = browser();
    app.login_with(&mallory, "mallory@example.com", PASSWORD).await;
    let mpage = get_page(&mallory, app.url("/account")).await;
    let jane_sessions = get_page(c, app.url("/account")).await;
    assert!(!jane_sessions.contains("/account/sessions/"), "only the current session is left");
    let r = mallory.post(app.url(action)).form(&[("csrf_token", csrf_from(&mpage))]).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let page = get_page(c, app.url("/account")).await;
    let r = c.post(app.url("/logout")).form(&[("csrf_token", csrf_from(&page))]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?notice=signed_out");
    let r = c.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
}

async fn forms_refuse_missing_wrong_and_foreign_csrf_tokens(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("kim@example.com", PASSWORD).await;
    let c = &app.client;
    let page = get_page(c, app.url("/login")).await;
    let good = csrf_from(&page);
    let other_browser = browser();
    let foreign = csrf_from(&get_page(&other_browser, app.url("/login")).await);
    assert_ne!(good, foreign);
    for token in [None, Some(""), Some("AAAA"), Some(foreign.as_str())] {
        let mut form = vec![("email", "kim@example.com"), ("password", PASSWORD)];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let r = c.post(app.url("/login")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403, "token {token:?}");
    }
    assert_eq!(app.me(c).await.status(), 401, "no refused attempt signed in");
    let r = c
        .post(app.url("/login"))
        .form(&[("csrf_token", good.as_str()), ("email", "kim@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Signed in, forms are bound to the session: the pre-session token of another browser fails.
    let page = get_page(c, app.url("/account")).await;
    let session_token = csrf_from(&page);
    let r = c.post(app.url("/logout")).form(&[("csrf_token", foreign.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.me(c).await.status(), 200);
    // A token of one user's session does not work for another user's session.
    app.register("lee@example.com", PASSWORD).await;
    let lee = browser();
    app.login_with(&lee, "lee@example.com", PASSWORD).await;
    let r = lee.post(app.url("/logout")).form(&[("csrf_token", session_token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(app.me(&lee).await.status(), 200);
}

async fn cross_site_state_changes_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("max@example.com", PASSWORD).await;
    let c = &app.client;
    let csrf = csrf_from(&get_page(c, app.url("/login")).await);
    let form = [("csrf_token", csrf.as_str()), ("email", "max@example.com"), ("password", PASSWORD)];
    for (header, value) in [
        ("origin", "https://evil.test"),
        ("origin", "null"),
        ("origin", &*format!("{}.evil.test", app.base)),
        ("referer", "https://evil.test/page"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = c.post(app.url("/login")).header(header, value).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
        let r = c
            .post(app.url("/api/v1/auth/login"))
            .header(header, value)
            .json(&serde_json::json!({ "email": "max@example.com", "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "JSON {header}: {value}");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "cross_site_request");
    }
    let r = c
        .post(app.url("/login"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-site")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an opaque origin on a sibling site");
    assert_eq!(app.me(c).await.status(), 401);
    let r = c.post(app.url("/login")).header("origin", &app.base).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "same origin is allowed");
    // What Chromium sends for a form on our own page under `Referrer-Policy: no-referrer`
    // (Fetch Standard, "append a request `Origin` header"; browser.rs drives the real thing).
    let r = c
        .post(app.url("/login"))
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "a same-origin form with Origin: null is allowed");
}

async fn pages_escape_input_and_carry_security_headers(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let c = &app.client;
    let csrf = csrf_from(&get_page(c, app.url("/login")).await);
    let hostile = "\"><script>alert(1)</script>@example.com";
    let r = c
        .post(app.url("/login"))
        .form(&[("csrf_token", csrf.as_str()), ("email", hostile), ("password", "whatever1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let page = r.text().await.unwrap();
    assert!(page.contains("Invalid email or password."));
    assert!(!page.contains("<script>"), "input is escaped");
    assert!(page.contains("&lt;script&gt;") || page.contains("&#60;script&#62;"));

    for path in [
        "/login",
        "/register",
        "/forgot-password",
        "/reset-password?token=x",
        "/verify-email?token=x",
        "/login/mfa",
        "/account/mfa",
        "/static/style.css",
        "/nope",
    ] {
        let r = c.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(!h.contains_key("server"), "{path}");
        if path != "/static/style.css" {
            assert_eq!(h["cache-control"], "no-store", "{path}");
            let body = r.text().await.unwrap();
            assert!(!body.contains("<script") && !body.contains("style="), "{path} has inline script or style");
        }
    }
}
