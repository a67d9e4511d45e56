//! The console's audit log (`/admin/audit`) and signing keys (`/admin/keys`), issue #16:
//! filters narrow the list, cursor pages keep the filters, the JSON-lines export matches the
//! filter with the admin API's fields; a rotation adds a key shown on the page and published
//! in the JWKS; forged, foreign and non-admin requests refused.

use reqwest::StatusCode;
use serde_json::Value;

use crate::console::{admin_browser, get_page, signed_in_browser};
use crate::console_rbac::{location, refuses_forgeries, shows_escaped, submit};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(audit_filters_pages_and_export, keys_are_listed_and_rotated);

/// The table rows' event types of an audit page.
fn row_types(html: &str) -> Vec<String> {
    html.split(r#"<tr id="event-"#)
        .skip(1)
        .map(|row| row.split("<td>").nth(2).unwrap().split("</td>").next().unwrap().to_owned())
        .collect()
}

fn unescape(href: &str) -> String {
    href.replace("&amp;", "&").replace("&#38;", "&")
}

async fn audit_filters_pages_and_export(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let admin_id = app.me(&admin).await.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    // A failed sign-in, and 55 roles created in the console (more than a page).
    app.register_user("someone@example.com", PASSWORD).await;
    let bad = crate::helpers::browser();
    assert_eq!(app.login_with(&bad, "someone@example.com", "wrong password!").await.status(), 401);
    for i in 0..55 {
        let name = format!("r{i}");
        let r = submit(&app, &admin, "/admin/roles", "/admin/roles", &[("name", &name)]).await;
        assert_eq!(location(&r), "/admin/roles?notice=role-created");
    }

    let (status, html) = get_page(&app, &admin, "/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Times are UTC"), "{html}");
    assert_eq!(row_types(&html).len(), 50, "a page");
    assert!(html.contains(r#"<option value="login.failed">"#), "the type select lists the types");

    // By type: only that type, newest first, in pages that keep the filter.
    let (_, html) = get_page(&app, &admin, "/admin/audit?type=role.created").await;
    let first = row_types(&html);
    assert_eq!(first.len(), 50);
    assert!(first.iter().all(|t| t == "role.created"), "{first:?}");
    assert!(html.contains(r#"<option value="role.created" selected>"#));
    let next = html.split(r#"<a href=""#).find(|s| s.contains(r#"rel="next""#)).expect("a next link");
    let next = unescape(next.split('"').next().unwrap());
    assert!(next.starts_with("/admin/audit?type=role.created&cursor="), "{next}");
    let (_, html) = get_page(&app, &admin, &next).await;
    let second = row_types(&html);
    assert_eq!(second.len(), 5, "{second:?}");
    assert!(second.iter().all(|t| t == "role.created"));
    assert!(!html.contains(r#"rel="next""#));
    let (_, html) = get_page(&app, &admin, "/admin/audit?type=login.failed").await;
    assert_eq!(row_types(&html), ["login.failed"]);

    // By actor and subject; by time (UTC): nothing before 2000, everything since.
    let (_, html) = get_page(&app, &admin, &format!("/admin/audit?actor={admin_id}&subject=r7")).await;
    assert_eq!(row_types(&html), ["role.created"]);
    let (_, html) = get_page(&app, &admin, "/admin/audit?until=2000-01-01T00%3A00").await;
    assert!(row_types(&html).is_empty() && html.contains("No event matches."));
    let (_, html) = get_page(&app, &admin, "/admin/audit?type=login.failed&from=2000-01-01T00%3A00%3A00").await;
    assert_eq!(row_types(&html).len(), 1);
    assert!(html.contains(r#"value="2000-01-01T00:00:00""#), "the filter is kept in the form");
    let (status, html) = get_page(&app, &admin, "/admin/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("from must be a date and time"));
    let (status, _) = get_page(&app, &admin, "/admin/audit?cursor=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // User-controlled text in the filters is escaped.
    let (status, html) = get_page(&app, &admin, "/admin/audit?actor=%3Cscript%3Ex%3C%2Fscript%3E").await;
    assert_eq!(status, StatusCode::OK);
    shows_escaped(&html, "<script>x</script>");

    // The export: every match as JSON lines, a download, the admin API's fields.
    let resp = admin.get(app.url("/admin/audit/export?type=role.created")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("a JSON object per line")).collect();
    assert_eq!(lines.len(), 55);
    assert!(lines.iter().all(|l| l["type"] == "role.created" && l["actor"] == admin_id.as_str()));
    let mut keys: Vec<&str> = lines[0].as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["actor", "details", "id", "ip", "occurred_at", "outcome", "subject", "type", "user_agent"]);
    assert_eq!(lines[0]["subject"], "r54", "newest first");
    let resp =
        admin.get(app.url("/admin/audit/export?type=login.failed&until=2000-01-01T00%3A00")).send().await.unwrap();
    assert!(resp.text().await.unwrap().is_empty());

    // Non-admins: neither the page nor the export.
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    for path in ["/admin/audit", "/admin/audit/export"] {
        let (status, body) = get_page(&app, &user, path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(!body.contains("role.created"));
    }
}

/// The kids in the keys table, in order.
fn kids(html: &str) -> Vec<String> {
    html.split("<tr><td><code>").skip(1).map(|s| s.split("</code>").next().unwrap().to_owned()).collect()
}

/// Key rotations an admin asked for (the server rotates on its own too).
async fn rotations_by_admins(app: &TestApp) -> usize {
    app.audit_events().await.iter().filter(|e| e.0 == "key.rotated" && e.3.contains("immediately")).count()
}

async fn keys_are_listed_and_rotated(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (status, html) = get_page(&app, &admin, "/admin/keys").await;
    assert_eq!(status, StatusCode::OK);
    let before = kids(&html);
    assert!(!before.is_empty(), "{html}");
    assert!(html.contains("<td>active</td>"), "{html}");

    let r = submit(&app, &admin, "/admin/keys", "/admin/keys/rotate", &[("alg", "EdDSA"), ("immediately", "1")]).await;
    assert_eq!(location(&r), "/admin/keys?notice=rotated");
    let (_, html) = get_page(&app, &admin, "/admin/keys?notice=rotated").await;
    assert!(html.contains("A new key was created and published."));
    let after = kids(&html);
    assert_eq!(after.len(), before.len() + 1, "{html}");
    let new = after.iter().find(|k| !before.contains(k)).expect("a new kid").clone();
    let row = html.split(&format!("<code>{new}</code>")).nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains("<td>EdDSA</td>"), "{row}");
    app.wait_for_jwks(|jwks| jwks.contains(&new)).await;
    assert_eq!(rotations_by_admins(&app).await, 1);

    // A bad algorithm: a clear refusal, no key.
    let r = submit(&app, &admin, "/admin/keys", "/admin/keys/rotate", &[("alg", "HS256")]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("alg must be ES256, EdDSA or RS256"));
    // Forgeries and non-admins: refused, no key.
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    refuses_forgeries(&app, &admin, &user, "/admin/keys", "/admin/keys/rotate", &[("alg", "ES256")]).await;
    let (_, html) = get_page(&app, &admin, "/admin/keys").await;
    assert_eq!(kids(&html).len(), after.len());
    assert_eq!(rotations_by_admins(&app).await, 1);
}
