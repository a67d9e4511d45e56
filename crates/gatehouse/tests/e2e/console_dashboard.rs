//! The console's dashboard (`/admin/`): counts that follow the database, the sign-in chart's
//! numbers (in its tables) following the audit trail, recent security events linking to users.

use reqwest::StatusCode;

use crate::admin::cli_ok;
use crate::console::{admin_browser, get_page};
use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(
    dashboard_counts_follow_users_sessions_and_clients,
    chart_counts_wrong_passwords_and_sign_ins,
    refusals_of_a_locked_account_are_counted_as_locked,
);

/// The number in the element with id `id` (`<dd id="count-users">3</dd>`, `<td id="day-success">2</td>`).
fn number(html: &str, id: &str) -> i64 {
    let start = html.find(&format!(r#"id="{id}">"#)).unwrap_or_else(|| panic!("no #{id} in {html}")) + id.len() + 6;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].trim().parse().unwrap_or_else(|_| panic!("#{id}: {}", &html[start..end]))
}

async fn dashboard(app: &TestApp, admin: &reqwest::Client) -> String {
    let (status, html) = get_page(app, admin, "/admin/").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    html
}

async fn dashboard_counts_follow_users_sessions_and_clients(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let before = dashboard(&app, &admin).await;
    let (users, sessions, clients) =
        (number(&before, "count-users"), number(&before, "count-sessions"), number(&before, "count-clients"));
    assert_eq!(users, 1);
    assert!(sessions >= 1, "the admin's own session at least");

    // A new user who signs in twice (two browsers), and a new client.
    app.register("counted@example.com", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(app.login_with(&browser(), "counted@example.com", PASSWORD).await.status(), 200);
    }
    cli_ok(&app, &["clients", "create", "--name", "Counted", "--redirect-uri", "https://app.example/cb"]).await;
    let after = dashboard(&app, &admin).await;
    assert_eq!(number(&after, "count-users"), users + 1);
    assert_eq!(number(&after, "count-sessions"), sessions + 2);
    assert_eq!(number(&after, "count-clients"), clients + 1);

    // The chart is an image with a title and description, drawn without inline style.
    assert!(after.contains(r#"<svg role="img" aria-labelledby="day-title" aria-describedby="day-desc""#), "{after}");
    assert!(after.contains(r#"<title id="week-title">Sign-ins in the last 7 days, per day (UTC)</title>"#));
    assert!(!after.contains("style="), "no inline style: {after}");
    assert!(after.contains(r#"class="chart-success""#), "the sign-ins are drawn as bars");
}

async fn chart_counts_wrong_passwords_and_sign_ins(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let admin = admin_browser(&app).await;
    let user = app.register_user("charted@example.com", PASSWORD).await;
    let user_id = user["id"].as_str().unwrap();
    let before = dashboard(&app, &admin).await;
    let totals = |html: &str| {
        ["day", "week"]
            .map(|c| ["success", "wrong_password", "locked", "mfa_failed"].map(|o| number(html, &format!("{c}-{o}"))))
    };
    let [day, week] = totals(&before);
    assert!(day[0] >= 2, "the sign-ins so far are counted: {day:?}");
    assert_eq!(day, week, "today's sign-ins are in both charts");
    assert_eq!(day[1], 0);

    // One wrong password, then one success.
    let wrong = app.login_with(&browser(), "charted@example.com", "not the password at all").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_with(&browser(), "charted@example.com", PASSWORD).await.status(), 200);

    let after = dashboard(&app, &admin).await;
    let [day_after, week_after] = totals(&after);
    assert_eq!(day_after, [day[0] + 1, 1, 0, 0], "{after}");
    assert_eq!(week_after, day_after);
    assert!(after.contains("Wrong password: 1"), "the legend and description carry the numbers");

    // The failure is a recent security event, linking to the user's page.
    let events = &after[after.find("Recent security events").unwrap()..];
    assert!(events.contains("login.failed"), "{events}");
    assert!(events.contains("wrong_password"), "{events}");
    assert!(events.contains(&format!(r#"<a href="/admin/users/{user_id}">{user_id}</a>"#)), "{events}");
}

async fn refusals_of_a_locked_account_are_counted_as_locked(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| s.lockout.max_failures = 2).await else { return };
    let admin = admin_browser(&app).await;
    app.register("locked@example.com", PASSWORD).await;
    for _ in 0..2 {
        let r = app.login_with(&browser(), "locked@example.com", "not the password at all").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Locked now: even the right password is refused, and counted as locked.
    assert_eq!(app.login_with(&browser(), "locked@example.com", PASSWORD).await.status(), 401);
    let html = dashboard(&app, &admin).await;
    assert_eq!(number(&html, "day-wrong_password"), 2, "{html}");
    assert_eq!(number(&html, "day-locked"), 1, "{html}");
    assert_eq!(number(&html, "week-locked"), 1);
    assert_eq!(number(&html, "day-mfa_failed"), 0);
    let events = &html[html.find("Recent security events").unwrap()..];
    assert!(events.contains("account.locked"), "{events}");
}
