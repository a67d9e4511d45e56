//! The admin console in a real browser (issue #16): Debian's Chromium, headless, driven by
//! playwright-core (`tests/interop/console_browser.mjs`). The journeys: sign in as the admin
//! (sent to the sign-in page and back), register a client and read its secret (and copy it),
//! edit its redirect URIs (a bad one refused with the input kept), rotate its secret with an
//! hour's overlap, disable a user signed in in another browser (whose next page is the sign-in
//! page), edit a policy with a syntax error (marked at its line) and try a decision against the
//! corrected draft, then every page at phone width (nothing wider than 360 px) and the menu by
//! keyboard. Any console error, CSP violation or field without a label on any page fails the run.
//!
//! Here, after the browser: the old secret works inside the overlap and not after it, the new
//! one works; the disabled user's API session is dead; what the console did is in the audit
//! trail under the admin. Screenshots: `target/test-artefacts/console-<backend>/`.

use serde_json::Value;

use crate::admin::cli_ok;
use crate::client_lifecycle::cc_status;
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(chromium_drives_the_console_journeys);

async fn chromium_drives_the_console_journeys(b: Backend) {
    if !crate::browser::chromium_available() {
        return;
    }
    let Some(app) = TestApp::spawn(b).await else { return };
    let (admin_email, user_email) = ("console-journey@example.com", "member@example.com");
    let admin = app.register_user(admin_email, PASSWORD).await;
    cli_ok(&app, &["roles", "grant", "admin", "--user", admin_email]).await;
    app.register_user(user_email, PASSWORD).await;
    let member = browser();
    assert_eq!(app.login_with(&member, user_email, PASSWORD).await.status(), 200);
    assert_eq!(app.me(&member).await.status(), 200);

    let admin_id = admin["id"].as_str().unwrap();
    let args = [app.base.as_str(), admin_email, PASSWORD, user_email, admin_id];
    let (result, dir) = crate::browser::run_script("console_browser.mjs", "console", b, &args).await;
    assert_eq!(result["problems"], serde_json::json!([]), "console errors, CSP violations, unlabelled fields");
    for name in
        ["console-dashboard.png", "console-client-secret.png", "console-policy-error.png", "console-users-phone.png"]
    {
        let png = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{name} is a PNG");
    }

    // The secrets the browser read: both work inside the hour, only the new one after it.
    let id = result["client_id"].as_str().unwrap();
    let (old, new) = (result["old_secret"].as_str().unwrap(), result["new_secret"].as_str().unwrap());
    assert_eq!(cc_status(&app, id, old).await, 200, "the old secret inside the overlap");
    assert_eq!(cc_status(&app, id, new).await, 200);
    app.clock.advance(3601);
    assert_eq!(cc_status(&app, id, old).await, 401, "the old secret after the overlap");
    assert_eq!(cc_status(&app, id, new).await, 200);

    // The disabled member's other session (the API's) died with the one the browser had.
    assert_eq!(app.me(&member).await.status(), 401);

    // What the console did, in the audit trail; the edit records what it changed, nothing else.
    let audit = app.audit_events().await;
    for event in ["client.created", "client.updated", "client.secret_rotated", "user.disabled"] {
        assert!(audit.iter().any(|e| e.0 == event && e.1 == "success"), "{event}: {audit:?}");
    }
    let updated: Vec<Value> =
        audit.iter().filter(|e| e.0 == "client.updated").map(|e| serde_json::from_str(&e.3).unwrap()).collect();
    assert_eq!(updated.len(), 1, "the refused edit changed nothing: {updated:?}");
    assert_eq!(updated[0]["fields"], serde_json::json!(["redirect_uris"]));
    assert!(!audit.iter().any(|e| e.0 == "policy.put"), "a refused draft and a trial save nothing");
}
