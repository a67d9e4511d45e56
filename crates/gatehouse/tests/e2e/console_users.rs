//! The console's users area (`/admin/users…`): search with cursor pages, a user's page, and its
//! actions (end a session, disable and enable, reset factors, mail links, delete after a
//! confirmation), with the refusals: CSRF, cross-origin, non-admin, the last admin.

use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

use crate::admin::{call, cli_ok, token};
use crate::console::{admin_browser, csrf_of, get_page, post_form, signed_in_browser};
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(
    search_and_cursor_pages,
    user_page_shows_the_account_escaped,
    ending_a_session_and_disabling_end_sign_ins,
    other_actions_and_delete_with_confirmation,
    refused_forms_change_nothing,
    the_last_admin_is_a_clear_error_page,
    non_admins_are_refused_everywhere,
);

/// The emails of the user rows of a list page.
fn listed(html: &str) -> Vec<String> {
    html.split(r#"<td><a href="/admin/users/"#)
        .skip(1)
        .map(|row| {
            let start = row.find('>').unwrap() + 1;
            row[start..start + row[start..].find('<').unwrap()].to_owned()
        })
        .collect()
}

/// `<script>alert(1)</script>` as askama escapes it (numeric character references).
const ESCAPED_NAME: &str = "&#60;script&#62;alert(1)&#60;/script&#62;";

/// The next page's link, decoded from HTML.
fn next_link(html: &str) -> Option<String> {
    let end = html.find(r#"" rel="next""#)?;
    let start = html[..end].rfind(r#"href=""#)? + 6;
    Some(html[start..end].replace("&#38;", "&"))
}

async fn search_and_cursor_pages(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let api = token(&app, "console-admin@example.com").await;
    for i in 0..30 {
        let body = json!({ "email": format!("p{i:02}@paging.example"), "password": PASSWORD });
        let r = call(&app, Some(&api), reqwest::Method::POST, "/admin/v1/users", Some(&body)).await;
        assert_eq!(r.status(), 201);
    }
    app.register("other@elsewhere.example", PASSWORD).await;

    // Pages of 7 through a search: every match exactly once, in creation order, nothing else.
    let mut seen = Vec::new();
    let mut path = Some("/admin/users?q=PAGING&limit=7".to_owned());
    let mut pages = 0;
    while let Some(p) = path {
        let (status, html) = get_page(&app, &admin, &p).await;
        assert_eq!(status, StatusCode::OK, "{p}: {html}");
        let rows = listed(&html);
        assert!(rows.len() <= 7, "{rows:?}");
        assert!(html.contains(r#"value="PAGING""#), "the search box keeps the query");
        seen.extend(rows);
        path = next_link(&html);
        pages += 1;
    }
    assert_eq!(pages, 5);
    let expected: Vec<String> = (0..30).map(|i| format!("p{i:02}@paging.example")).collect();
    assert_eq!(seen, expected);

    // No search: everyone, the admin first.
    let (_, html) = get_page(&app, &admin, "/admin/users").await;
    let all = listed(&html);
    assert_eq!(all.len(), 32);
    assert_eq!(all[0], "console-admin@example.com");
    assert!(next_link(&html).is_none());
    let (_, html) = get_page(&app, &admin, "/admin/users?q=nobody-has-this").await;
    assert!(html.contains("No user matches."));

    // Bad input is a clear 400 page.
    for bad in ["/admin/users?limit=0", "/admin/users?limit=501", "/admin/users?limit=abc", "/admin/users?after=nope"] {
        let (status, html) = get_page(&app, &admin, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {html}");
        assert!(html.contains("<html") || html.contains("<!doctype"), "{bad}: a page");
    }
}

/// A user registered (not signed in) with display name `name`, set through the admin API; its id.
async fn user_named(app: &TestApp, email: &str, name: &str) -> String {
    app.register(email, PASSWORD).await;
    let api = token(app, "console-admin@example.com").await;
    let list = call(app, Some(&api), reqwest::Method::GET, &format!("/admin/v1/users?q={email}"), None).await;
    let list: serde_json::Value = list.json().await.unwrap();
    let id = list["items"][0]["id"].as_str().unwrap().to_owned();
    let body = json!({ "display_name": name });
    let r = call(app, Some(&api), reqwest::Method::PATCH, &format!("/admin/v1/users/{id}"), Some(&body)).await;
    assert_eq!(r.status(), 200);
    id
}

async fn user_page_shows_the_account_escaped(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let id = user_named(&app, "shown@example.com", "<script>alert(1)</script>").await;
    let user = browser();
    assert_eq!(app.login_with(&user, "shown@example.com", PASSWORD).await.status(), 200);

    let (status, html) = get_page(&app, &admin, &format!("/admin/users/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains(ESCAPED_NAME), "{html}");
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains(r#"<dd id="user-status">active</dd>"#));
    assert!(html.contains("No roles."));
    assert!(html.contains("No passkeys."));
    assert!(html.contains("No upstream identity is linked."));
    assert!(html.contains("No application has access."));
    assert_eq!(html.matches(">End session</button>").count(), 1, "one live session: {html}");
    assert!(html.contains(&format!(r#"action="/admin/users/{id}/mfa-reset""#)));
    // The list escapes the name too.
    let (_, list) = get_page(&app, &admin, "/admin/users?q=shown").await;
    assert!(list.contains(ESCAPED_NAME) && !list.contains("<script>alert"), "{list}");

    // The admin's own page: the admin role, and their own session marked.
    let (_, list) = get_page(&app, &admin, "/admin/users?q=console-admin").await;
    let start = list.find(r#"<td><a href="/admin/users/"#).unwrap() + 26;
    let admin_id = &list[start..start + 36];
    let (_, own) = get_page(&app, &admin, &format!("/admin/users/{admin_id}")).await;
    assert!(own.contains(r#"<ul id="user-roles"><li>admin</li></ul>"#), "{own}");
    assert!(own.contains("(this session)"), "{own}");

    // Unknown or malformed ids: a 404 page.
    for path in ["/admin/users/not-a-uuid", "/admin/users/0197a3b0-0000-7000-8000-000000000001"] {
        let (status, html) = get_page(&app, &admin, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {html}");
        assert!(html.contains("no such user"), "{html}");
    }
}

/// The action of the only "End session" form on a user's page.
fn end_session_action(html: &str) -> String {
    let end = html.find(r#"/end">"#).expect("an End session form") + 4;
    let start = html[..end].rfind(r#"action=""#).unwrap() + 8;
    html[start..end].to_owned()
}

async fn ending_a_session_and_disabling_end_sign_ins(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let id = user_named(&app, "ended@example.com", "Ended").await;
    let page = format!("/admin/users/{id}");

    // End one session: that browser is signed out.
    let user = browser();
    assert_eq!(app.login_with(&user, "ended@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.me(&user).await.status(), StatusCode::OK);
    let (_, html) = get_page(&app, &admin, &page).await;
    let action = end_session_action(&html);
    let csrf = csrf_of(&app, &admin, &page).await;
    let r = post_form(&app, &admin, &action, &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], format!("{page}?notice=session_ended"));
    assert_eq!(app.me(&user).await.status(), StatusCode::UNAUTHORIZED);
    let (_, html) = get_page(&app, &admin, &format!("{page}?notice=session_ended")).await;
    assert!(html.contains("The session was ended."));
    assert!(html.contains("No live sign-in."), "{html}");
    // A session id that is not one of this user's: 404.
    let r = post_form(
        &app,
        &admin,
        &format!("{page}/sessions/0197a3b0-0000-7000-8000-000000000009/end"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Disable: the user's browser session dies at once, and sign-in is refused.
    let user = browser();
    assert_eq!(app.login_with(&user, "ended@example.com", PASSWORD).await.status(), 200);
    let r = post_form(&app, &admin, &format!("{page}/disable"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], format!("{page}?notice=disabled"));
    assert_eq!(app.me(&user).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_with(&browser(), "ended@example.com", PASSWORD).await.status(), 401);
    let (_, html) = get_page(&app, &admin, &format!("{page}?notice=disabled")).await;
    assert!(html.contains(r#"<dd id="user-status">disabled</dd>"#));
    assert!(html.contains(&format!(r#"action="{page}/enable""#)));

    // Enable: sign-in works again. End every sign-in: gone again.
    let r = post_form(&app, &admin, &format!("{page}/enable"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.headers()[LOCATION], format!("{page}?notice=enabled"));
    let user = browser();
    assert_eq!(app.login_with(&user, "ended@example.com", PASSWORD).await.status(), 200);
    let r = post_form(&app, &admin, &format!("{page}/sessions/end-all"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.headers()[LOCATION], format!("{page}?notice=sessions_ended"));
    assert_eq!(app.me(&user).await.status(), StatusCode::UNAUTHORIZED);

    // Each action is in the audit trail, by the admin.
    let events: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    for kind in ["session.revoked", "user.disabled", "user.enabled"] {
        assert!(events.iter().any(|e| e == kind), "{kind} in {events:?}");
    }
}

async fn other_actions_and_delete_with_confirmation(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let id = user_named(&app, "acted@example.com", "Acted").await;
    let page = format!("/admin/users/{id}");
    let csrf = csrf_of(&app, &admin, &page).await;

    for (action, notice, text) in [
        ("mfa-reset", "no_factors", "The user had no second factor."),
        ("password-reset", "reset_sent", "A password-reset link is on its way."),
        ("verification-email", "verification_sent", "A verification link is on its way."),
    ] {
        let r = post_form(&app, &admin, &format!("{page}/{action}"), &[("csrf_token", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{action}: {}", r.text().await.unwrap());
        assert_eq!(r.headers()[LOCATION], format!("{page}?notice={notice}"));
        let (_, html) = get_page(&app, &admin, &format!("{page}?notice={notice}")).await;
        assert!(html.contains(text), "{action}: {html}");
    }
    // A notice code is never reflected.
    let (_, html) = get_page(&app, &admin, &format!("{page}?notice=%3Cb%3Ehi")).await;
    assert!(!html.contains("<b>hi") && !html.contains("&#60;b&#62;hi"), "{html}");

    // Delete: a confirmation page first, then the form.
    let (status, confirm) = get_page(&app, &admin, &format!("{page}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Delete acted@example.com?"), "{confirm}");
    assert!(confirm.contains(&format!(r#"<form method="post" action="{page}/delete">"#)));
    let (_, still) = get_page(&app, &admin, &page).await;
    assert!(still.contains("acted@example.com"), "the confirmation page deletes nothing");
    let r = post_form(&app, &admin, &format!("{page}/delete"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/admin/users?notice=deleted");
    let (status, _) = get_page(&app, &admin, &page).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = get_page(&app, &admin, "/admin/users?notice=deleted").await;
    assert!(list.contains("The user was deleted.") && !list.contains("acted@example.com"), "{list}");
    assert_eq!(app.login_with(&browser(), "acted@example.com", PASSWORD).await.status(), 401);
}

async fn refused_forms_change_nothing(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let id = user_named(&app, "kept@example.com", "Kept").await;
    let page = format!("/admin/users/{id}");
    let user = browser();
    assert_eq!(app.login_with(&user, "kept@example.com", PASSWORD).await.status(), 200);
    let csrf = csrf_of(&app, &admin, &page).await;

    for action in ["disable", "delete", "sessions/end-all", "mfa-reset"] {
        let path = format!("{page}/{action}");
        // No token, a wrong token: 403.
        let r = post_form(&app, &admin, &path, &[]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} without a token");
        let r = post_form(&app, &admin, &path, &[("csrf_token", "forged")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} with a wrong token");
        // The right token from another origin: 403.
        let r = admin
            .post(app.url(&path))
            .header("origin", "https://evil.test")
            .form(&[("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} cross-origin");
    }
    // Nothing changed: the user is active and still signed in.
    assert_eq!(app.me(&user).await.status(), StatusCode::OK);
    let (status, html) = get_page(&app, &admin, &page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<dd id="user-status">active</dd>"#));
}

async fn the_last_admin_is_a_clear_error_page(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (_, list) = get_page(&app, &admin, "/admin/users").await;
    let start = list.find(r#"<td><a href="/admin/users/"#).unwrap() + 26;
    let page = format!("/admin/users/{}", &list[start..start + 36]);
    let csrf = csrf_of(&app, &admin, &page).await;
    for action in ["disable", "delete"] {
        let r = post_form(&app, &admin, &format!("{page}/{action}"), &[("csrf_token", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "{action}");
        let html = r.text().await.unwrap();
        assert!(html.contains("the last active admin cannot lose the admin role, be disabled or be deleted"), "{html}");
    }
    let (status, html) = get_page(&app, &admin, &page).await;
    assert_eq!(status, StatusCode::OK, "still an admin, still signed in");
    assert!(html.contains(r#"<dd id="user-status">active</dd>"#));
}

async fn non_admins_are_refused_everywhere(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let _admin = admin_browser(&app).await;
    let id = user_named(&app, "target@example.com", "Target").await;
    let target = browser();
    assert_eq!(app.login_with(&target, "target@example.com", PASSWORD).await.status(), 200);
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    let csrf = csrf_of(&app, &user, "/account").await;
    let page = format!("/admin/users/{id}");
    for path in [page.clone(), format!("{page}/delete"), "/admin/users?q=target".to_owned()] {
        let (status, html) = get_page(&app, &user, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(!html.contains("target@example.com"), "{path} leaks nothing");
    }
    for action in [
        "disable",
        "enable",
        "mfa-reset",
        "password-reset",
        "verification-email",
        "sessions/end-all",
        "sessions/0197a3b0-0000-7000-8000-000000000009/end",
        "delete",
    ] {
        let r = post_form(&app, &user, &format!("{page}/{action}"), &[("csrf_token", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(app.me(&target).await.status(), StatusCode::OK, "the target was not touched");
    cli_ok(&app, &["users", "list"]).await;
}
