//! The console's policy editor (`/admin/policies`, issue #16): saving versions, Cedar's errors
//! shown at their line with nothing saved, "try a decision" against the unsaved draft with the
//! explanation, escaping of policy text, and forged or non-admin posts refused.

use reqwest::StatusCode;

use crate::console::{admin_browser, get_page, signed_in_browser};
use crate::console_rbac::{audited, location, refuses_forgeries, shows_escaped, submit};
use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;

on_both_backends!(policies_are_edited_with_errors_at_their_line, drafts_are_tried_before_saving);

const SHARE: &str = "permit(principal, action == Gatehouse::Action::\"share\", resource);";
const EDIT: &str = "/admin/policies/edit";

async fn save(app: &TestApp, b: &reqwest::Client, from: &str, name: &str, body: &str) -> reqwest::Response {
    submit(app, b, from, EDIT, &[("name", name), ("body", body), ("intent", "save")]).await
}

async fn policies_are_edited_with_errors_at_their_line(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let (status, html) = get_page(&app, &admin, "/admin/policies").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No policy: roles alone decide."), "{html}");

    // A first version, from the new-policy form.
    let r = save(&app, &admin, "/admin/policies", "share", SHARE).await;
    assert_eq!(location(&r), "/admin/policies/share?notice=saved");
    let (_, html) = get_page(&app, &admin, "/admin/policies/share?notice=saved").await;
    assert!(html.contains("Saved as a new version."));
    assert!(html.contains("Version 1") && !html.contains("Version 2"), "{html}");
    assert!(html.contains("Gatehouse::Action::"), "the text is in the editor: {html}");
    let (_, list) = get_page(&app, &admin, "/admin/policies").await;
    assert!(list.contains(r#"<a href="/admin/policies/share">share</a>"#), "{list}");

    // A syntax error: shown at its line with Cedar's message, the text kept, nothing saved.
    let broken = "// shares\npermit(principal, action, resource)\n  when { resource.owner == };";
    let r = save(&app, &admin, "/admin/policies/share", "share", broken).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("Cedar refused the draft; nothing was saved"), "{html}");
    let line3 = html
        .split(r#"<li id="line-3" class="has-error">"#)
        .nth(1)
        .expect("line 3 marked")
        .split("</li>")
        .next()
        .unwrap();
    assert!(line3.contains(r#"<span class="line-no">3</span>"#), "{line3}");
    assert!(line3.contains("line 3, column 28: unexpected token"), "{line3}");
    assert!(!html.contains(r#"<li id="line-2" class="has-error">"#), "only the offending line");
    assert!(html.contains("when { resource.owner == };</textarea>"), "the draft is kept: {html}");
    // A validation error (strict: an optional attribute read without `has`), at its line.
    let unchecked = "permit(principal, action, resource)\n  when { resource.owner == principal.id };";
    let r = save(&app, &admin, "/admin/policies/share", "share", unchecked).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    let line2 = html
        .split(r#"<li id="line-2" class="has-error">"#)
        .nth(1)
        .expect("line 2 marked")
        .split("</li>")
        .next()
        .unwrap();
    assert!(line2.contains("line 2, column") && line2.contains("owner"), "{line2}");
    // Still one version, one audited save; the admin API answers its 422 as before.
    let (_, html) = get_page(&app, &admin, "/admin/policies/share").await;
    assert!(!html.contains("Version 2"));
    assert_eq!(audited(&app, "policy.put").await, 1);
    // A bad name: refused with its message, the text kept.
    let r = save(&app, &admin, "/admin/policies", "Bad Name", SHARE).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("policy names are 1-64 characters"), "{html}");
    assert!(html.contains(r#"value="Bad Name""#));

    // A second version, with HTML in a comment: escaped in the editor and the version view.
    let with_html = format!("// <script>alert(1)</script>\n{SHARE}");
    let r = save(&app, &admin, "/admin/policies/share", "share", &with_html).await;
    assert_eq!(location(&r), "/admin/policies/share?notice=saved");
    let (_, html) = get_page(&app, &admin, "/admin/policies/share").await;
    assert!(html.contains("Version 2"), "{html}");
    shows_escaped(&html, "<script>alert(1)</script>");
    let (status, html) = get_page(&app, &admin, "/admin/policies/share/versions/2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"<span class="line-no" aria-hidden="true">2</span>"#), "{html}");
    shows_escaped(&html, "<script>alert(1)</script>");
    let (status, _) = get_page(&app, &admin, "/admin/policies/share/versions/9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get_page(&app, &admin, "/admin/policies/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(audited(&app, "policy.put").await, 2);

    // Forged, foreign and non-admin posts: refused, nothing saved.
    let user = signed_in_browser(&app, "plain@example.com", false).await;
    let fields = [("name", "share"), ("body", SHARE), ("intent", "save")];
    refuses_forgeries(&app, &admin, &user, "/admin/policies", EDIT, &fields).await;
    let try_fields = [("name", "share"), ("body", SHARE), ("intent", "try")];
    refuses_forgeries(&app, &admin, &user, "/admin/policies", EDIT, &try_fields).await;
    assert_eq!(audited(&app, "policy.put").await, 2);
    let (status, _) = get_page(&app, &user, "/admin/policies/share").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn try_draft(app: &TestApp, b: &reqwest::Client, body: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all = vec![("name", "draft"), ("body", body), ("intent", "try")];
    all.extend_from_slice(fields);
    let r = submit(app, b, "/admin/policies", EDIT, &all).await;
    (r.status(), r.text().await.unwrap())
}

/// The try box's fields: `action` by user `id` on doc 1, an empty context.
fn request(id: &str, action: &str) -> Vec<(&'static str, String)> {
    vec![
        ("subject_type", "user".to_owned()),
        ("subject_id", id.to_owned()),
        ("action", action.to_owned()),
        ("resource_type", "doc".to_owned()),
        ("resource_id", "1".to_owned()),
        ("context", "{}".to_owned()),
    ]
}

async fn drafts_are_tried_before_saving(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let subject = app.register_user("subject@example.com", PASSWORD).await;
    let id = subject["id"].as_str().unwrap().to_owned();
    let owned = request(&id, "share");
    let fields: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // A matching draft allows, and says which policy permitted.
    let (status, html) = try_draft(&app, &admin, SHARE, &fields).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Decision: allow"), "{html}");
    assert!(html.contains("permitted by policy draft"), "{html}");
    assert!(html.contains("<dt>Permitted by policies</dt><dd>draft</dd>"), "{html}");
    // The request is kept in the form, the draft too.
    assert!(html.contains(&format!(r#"value="{id}""#)) && html.contains("Gatehouse::Action::"));
    // Another action: denied by default, with the permission it would need.
    let owned = request(&id, "read");
    let read: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, html) = try_draft(&app, &admin, SHARE, &read).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Decision: deny"), "{html}");
    assert!(html.contains("denied by default: no role grants doc:read and no policy permits"), "{html}");
    // A forbid in the draft: denied, naming it.
    let forbid = "forbid(principal, action == Gatehouse::Action::\"share\", resource);";
    let (_, html) = try_draft(&app, &admin, &format!("{SHARE}\n{forbid}"), &fields).await;
    assert!(html.contains("Decision: deny") && html.contains("denied by policy draft#1"), "{html}");

    // Nothing was saved or audited by trying.
    let (_, list) = get_page(&app, &admin, "/admin/policies").await;
    assert!(list.contains("No policy: roles alone decide."), "{list}");
    assert_eq!(audited(&app, "policy.put").await, 0);
    assert_eq!(audited(&app, "access.decision").await, 0);

    // A broken draft: its diagnostics, no decision. A bad request: its message, no decision.
    let (status, html) = try_draft(&app, &admin, "permit(principal, action, resource", &fields).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains(r#"<li id="line-1" class="has-error">"#) && !html.contains("Decision:"), "{html}");
    let mut bad_context = fields.clone();
    bad_context.retain(|(k, _)| *k != "context");
    bad_context.push(("context", "[1]"));
    let (status, html) = try_draft(&app, &admin, SHARE, &bad_context).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("the context must be a JSON object") && !html.contains("Decision:"), "{html}");
    let mut reserved = fields.clone();
    reserved.retain(|(k, _)| *k != "context");
    reserved.push(("context", r#"{"time": 1}"#));
    let (status, html) = try_draft(&app, &admin, SHARE, &reserved).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let r = submit(&app, &admin, "/admin/policies", EDIT, &[("name", "x"), ("body", SHARE), ("intent", "other")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
