//! The console's Clients pages (`/admin/clients…`) over HTTP: register (the secret shown once),
//! edit with the API's rules (errors on the form, input kept, nothing changed), rotate, disable,
//! enable, delete after a confirmation; forms refused without the CSRF token, with a wrong one,
//! from another origin or for a non-admin; names escaped; bad input a 4xx page.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::cli_ok;
use crate::console::{admin_browser, csrf_of, get_page, post_form, signed_in_browser};
use crate::helpers::{Backend, TestApp};
use crate::oauth::{REDIRECT, create_client, token_request, web_client};
use crate::on_both_backends;

on_both_backends!(
    registering_shows_the_secret_once,
    editing_uses_the_api_rules,
    rotate_disable_enable_and_delete,
    client_forms_refuse_forgery_and_bad_input,
    a_stale_edit_page_does_not_undo_another_change,
);

/// The text of the element with `id` (a `<code id=…>`).
fn text_of(html: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no #{id} in {html}")) + marker.len();
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

async fn cc_status(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    let client = json!({ "client_id": id, "client_secret": secret });
    token_request(app, &client, &[("grant_type", "client_credentials")]).await.status()
}

async fn show(app: &TestApp, id: &str) -> Value {
    serde_json::from_str(&cli_ok(app, &["clients", "show", id, "--json"]).await).unwrap()
}

async fn registering_shows_the_secret_once(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (status, list) = get_page(&app, &admin, "/admin/clients").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("No clients are registered yet") && list.contains(r#"href="/admin/clients/new""#));
    let (status, form) = get_page(&app, &admin, "/admin/clients/new").await;
    assert_eq!(status, StatusCode::OK);
    for field in ["name", "auth_method", "redirect_uris", "scopes", "access_token_lifetime", "jwks"] {
        assert!(form.contains(&format!(r#"<label for="{field}""#)), "a label for {field}");
    }
    let csrf = csrf_of(&app, &admin, "/admin/clients/new").await;
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("name", "<script>x</script>"),
        ("auth_method", "client_secret_basic"),
        ("grant_client_credentials", "on"),
        ("scopes", "api:read api:write"),
    ];
    let r = post_form(&app, &admin, "/admin/clients/new", &fields).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let (id, secret) = (text_of(&html, "client-id"), text_of(&html, "client-secret"));
    assert!(
        html.contains(r#"data-copy="client-secret""#) && html.contains(r#"<script src="/static/console.js" defer>"#)
    );
    assert!(!html.contains("<script>x") && html.contains("&#60;script&#62;x&#60;/script&#62;"));
    assert_eq!(cc_status(&app, &id, &secret).await, StatusCode::OK, "the secret shown works");
    // Shown once: neither the list nor the client's page has it.
    let (_, list) = get_page(&app, &admin, "/admin/clients").await;
    assert!(list.contains(&id) && list.contains("&#60;script&#62;") && !list.contains("<script>x"));
    let (status, detail) = get_page(&app, &admin, &format!("/admin/clients/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!detail.contains(&secret) && !list.contains(&secret));
    assert_eq!(show(&app, &id).await["scopes"], json!(["api:read", "api:write"]));
    // The copy script is served from our origin.
    let r = admin.get(app.url("/static/console.js")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));

    // A public client gets no secret: straight to its page.
    let csrf = csrf_of(&app, &admin, "/admin/clients/new").await;
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("name", "SPA"),
        ("auth_method", "none"),
        ("grant_authorization_code", "on"),
        ("redirect_uris", "https://spa.example.com/cb\r\n"),
    ];
    let r = post_form(&app, &admin, "/admin/clients/new", &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.ends_with("?notice=created"), "{to}");
    let (_, page) = get_page(&app, &admin, &to).await;
    assert!(page.contains("Registered. This client has no secret"));
}

async fn editing_uses_the_api_rules(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let client = web_client(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let path = format!("/admin/clients/{id}");
    let before = show(&app, id).await;
    let (status, page) = get_page(&app, &admin, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(REDIRECT) && page.contains("Example App"));

    // The form sends every field; a bad redirect URI refuses the whole change.
    let csrf = csrf_of(&app, &admin, &path).await;
    let form = |name: &'static str, uris: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("name", name.to_owned()),
            ("auth_method", "client_secret_basic".to_owned()),
            ("grant_authorization_code", "on".to_owned()),
            ("grant_refresh_token", "on".to_owned()),
            ("redirect_uris", uris.to_owned()),
            ("scopes", "openid profile email offline_access".to_owned()),
        ]
    };
    let bad = form("Renamed", "https://app.example.com/ok\nhttp://evil.test/cb");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, &admin, &path, &bad).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"role="alert""#) && html.contains("redirect URI"), "{html}");
    assert!(html.contains("http://evil.test/cb") && html.contains(r#"value="Renamed""#), "input kept");
    assert_eq!(show(&app, id).await, before, "nothing changed");
    // A lifetime that is not a number: the same, never a 500.
    let mut odd = bad.clone();
    odd.retain(|(k, _)| *k != "redirect_uris");
    odd.push(("access_token_lifetime", "soon"));
    let r = post_form(&app, &admin, &path, &odd).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let good = form("Renamed <b>", "https://app.example.com/one\r\n\r\nhttps://app.example.com/two\r\n");
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, &admin, &path, &good).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("{path}?notice=updated"));
    let after = show(&app, id).await;
    assert_eq!(after["name"], "Renamed <b>");
    assert_eq!(after["redirect_uris"], json!(["https://app.example.com/one", "https://app.example.com/two"]));
    assert_eq!((&after["scopes"], &after["grant_types"]), (&before["scopes"], &before["grant_types"]));
    let (_, page) = get_page(&app, &admin, &format!("{path}?notice=updated")).await;
    assert!(page.contains("Saved.") && page.contains("Renamed &#60;b&#62;") && !page.contains("Renamed <b>"), "{page}");
    let (_, page) = get_page(&app, &admin, &format!("{path}?notice=<i>evil</i>")).await;
    assert!(!page.contains("evil"), "unknown notices are not reflected");
}

async fn rotate_disable_enable_and_delete(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "api:read"]).await;
    let (id, first) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let path = format!("/admin/clients/{id}");

    let csrf = csrf_of(&app, &admin, &path).await;
    let r =
        post_form(&app, &admin, &format!("{path}/secret"), &[("csrf_token", &csrf), ("overlap_seconds", "3600")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let second = text_of(&html, "client-secret");
    assert!(html.contains("The previous secret keeps working until"));
    assert_eq!(
        (cc_status(&app, id, first).await, cc_status(&app, id, &second).await),
        (StatusCode::OK, StatusCode::OK)
    );
    let (_, page) = get_page(&app, &admin, &path).await;
    assert!(page.contains("the previous secret works until") && !page.contains(&second));
    app.clock.advance(3601);
    assert_eq!(cc_status(&app, id, first).await, StatusCode::UNAUTHORIZED, "the overlap ended");

    let admin = admin_browser_again(&app).await; // the session may not outlive the hour
    let csrf = csrf_of(&app, &admin, &path).await;
    let r = post_form(&app, &admin, &format!("{path}/disable"), &[("csrf_token", &csrf)]).await;
    assert_eq!(
        (r.status(), &r.headers()["location"]),
        (StatusCode::SEE_OTHER, &format!("{path}?notice=disabled").parse().unwrap())
    );
    assert_eq!(cc_status(&app, id, &second).await, StatusCode::UNAUTHORIZED);
    let (_, page) = get_page(&app, &admin, &format!("{path}?notice=disabled")).await;
    assert!(page.contains("<strong>disabled</strong> since") && page.contains(&format!("{path}/enable")));
    let r = post_form(&app, &admin, &format!("{path}/enable"), &[("csrf_token", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(cc_status(&app, id, &second).await, StatusCode::OK);

    // Delete: a confirmation page first; the GET changes nothing.
    let (status, confirm) = get_page(&app, &admin, &format!("{path}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("cannot be undone"));
    assert_eq!(cc_status(&app, id, &second).await, StatusCode::OK);
    let r = post_form(&app, &admin, &format!("{path}/delete"), &[("csrf_token", &csrf)]).await;
    assert_eq!(
        (r.status(), &r.headers()["location"]),
        (StatusCode::SEE_OTHER, &"/admin/clients?notice=deleted".parse().unwrap())
    );
    assert_eq!(cc_status(&app, id, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(get_page(&app, &admin, &path).await.0, StatusCode::NOT_FOUND);
    let types: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    for t in ["client.secret_rotated", "client.disabled", "client.enabled", "client.deleted"] {
        assert!(types.iter().any(|x| x == t), "{t}");
    }
}

/// A fresh session of the same admin.
async fn admin_browser_again(app: &TestApp) -> reqwest::Client {
    let b = crate::helpers::browser();
    let r = app.login_with(&b, "console-admin@example.com", crate::helpers::PASSWORD).await;
    assert!(r.status().is_success());
    b
}

async fn client_forms_refuse_forgery_and_bad_input(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "api:read"]).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let path = format!("/admin/clients/{id}");
    let before = show(&app, id).await;
    let csrf = csrf_of(&app, &admin, &path).await;
    let actions = [
        (format!("{path}/disable"), vec![]),
        (format!("{path}/delete"), vec![]),
        (format!("{path}/secret"), vec![("overlap_seconds", "0")]),
        (
            path.clone(),
            vec![("name", "Hijacked"), ("auth_method", "client_secret_basic"), ("grant_client_credentials", "on")],
        ),
        (
            "/admin/clients/new".to_owned(),
            vec![("name", "Planted"), ("auth_method", "client_secret_basic"), ("grant_client_credentials", "on")],
        ),
    ];
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    let user_csrf = csrf_of(&app, &user, "/account").await;
    for (action, fields) in &actions {
        // No token, a wrong token.
        let r = post_form(&app, &admin, action, fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} without a token");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "forged"));
        assert_eq!(post_form(&app, &admin, action, &wrong).await.status(), StatusCode::FORBIDDEN, "{action}");
        // Another origin, with the right token.
        let mut good = fields.clone();
        good.push(("csrf_token", &csrf));
        let r = admin.post(app.url(action)).header("origin", "https://evil.test").form(&good).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} cross-origin");
        // A signed-in user who is not an admin, with their own good token.
        let mut theirs = fields.clone();
        theirs.push(("csrf_token", &user_csrf));
        assert_eq!(post_form(&app, &user, action, &theirs).await.status(), StatusCode::FORBIDDEN, "{action}");
    }
    for page in ["/admin/clients", "/admin/clients/new", path.as_str(), &format!("{path}/delete")] {
        assert_eq!(get_page(&app, &user, page).await.0, StatusCode::FORBIDDEN, "{page}");
    }
    assert_eq!(show(&app, id).await, before, "nothing changed");
    assert_eq!(cc_status(&app, id, secret).await, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&cli_ok(&app, &["clients", "list", "--json"]).await)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Bad input: a clear 4xx page, never a 500, and still nothing changed.
    for (action, fields) in [
        (format!("{path}/secret"), vec![("overlap_seconds", "soon")]),
        (format!("{path}/secret"), vec![("overlap_seconds", "99999999")]),
        ("/admin/clients/nope/disable".to_owned(), vec![]),
        ("/admin/clients/new".to_owned(), vec![("name", "x"), ("auth_method", "sometimes")]),
    ] {
        let mut fields = fields.clone();
        fields.push(("csrf_token", &csrf));
        let r = post_form(&app, &admin, &action, &fields).await;
        assert!(r.status().is_client_error(), "{action} {fields:?}: {}", r.status());
    }
    assert_eq!(get_page(&app, &admin, "/admin/clients/nope").await.0, StatusCode::NOT_FOUND);
    assert_eq!(show(&app, id).await, before);
    assert_eq!(cc_status(&app, id, secret).await, StatusCode::OK);
}

/// Two admins on one client: the edit page carries the revision it showed, so saving it after
/// someone else's change is refused (409, their version shown) instead of putting their
/// settings back.
async fn a_stale_edit_page_does_not_undo_another_change(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let client = web_client(&app, &[]).await;
    let id = client["client_id"].as_str().unwrap();
    let path = format!("/admin/clients/{id}");
    let (_, page) = get_page(&app, &admin, &path).await;
    let marker = r#"name="revision" value=""#;
    let at = page.find(marker).expect("the form carries the revision") + marker.len();
    let revision = page[at..at + page[at..].find('"').unwrap()].to_owned();
    let csrf = csrf_of(&app, &admin, &path).await;
    let form = |name: &'static str, uri: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("revision", revision.clone()),
            ("name", name.to_owned()),
            ("auth_method", "client_secret_basic".to_owned()),
            ("grant_authorization_code", "on".to_owned()),
            ("redirect_uris", uri.to_owned()),
            ("scopes", "openid".to_owned()),
        ]
    };
    // The other admin (here: the same page, saved first) changes the redirect URI.
    let first = form("Example App", "https://app.example.com/theirs");
    let first: Vec<(&str, &str)> = first.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post_form(&app, &admin, &path, &first).await.status(), StatusCode::SEE_OTHER);
    // The page opened before that, saved with a rename and the old URI: refused.
    let stale = form("Renamed", REDIRECT);
    let stale: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_form(&app, &admin, &path, &stale).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let html = r.text().await.unwrap();
    assert!(html.contains("Someone changed this client") && html.contains("https://app.example.com/theirs"), "{html}");
    let now = show(&app, id).await;
    assert_eq!(
        (now["name"].as_str(), &now["redirect_uris"]),
        (Some("Example App"), &json!(["https://app.example.com/theirs"]))
    );
}
