//! `OverviewStore`: the dashboard's counts and sign-in outcomes per time bucket, the same answer
//! on both backends.

use gatehouse_core::rbac::{OutcomeCount, OverviewCounts, SignInOutcome};
use serde_json::json;

use crate::fixtures::{T0, client, event, session, user};
use crate::harness::TestDb;

conformance_tests!(counts_users_live_sessions_and_clients, sign_in_outcomes_are_classified_and_bucketed);

async fn counts_users_live_sessions_and_clients(s: &TestDb) {
    assert_eq!(s.overview.overview_counts(T0, T0 - 1800).await.unwrap(), OverviewCounts::default());
    let a = user("a@example.com");
    let b = user("b@example.com");
    s.users.insert_user(&a).await.unwrap();
    s.users.insert_user(&b).await.unwrap();
    // Live; expired; idle too long; live.
    s.sessions.insert_session(&session(a.id, 1, T0 - 100, T0 - 10, T0 + 100)).await.unwrap();
    s.sessions.insert_session(&session(a.id, 2, T0 - 100, T0 - 10, T0)).await.unwrap();
    s.sessions.insert_session(&session(b.id, 3, T0 - 5000, T0 - 2000, T0 + 100)).await.unwrap();
    s.sessions.insert_session(&session(b.id, 4, T0 - 100, T0 - 1, T0 + 100)).await.unwrap();
    s.clients.insert_client(&client("one", T0)).await.unwrap();
    let counts = s.overview.overview_counts(T0, T0 - 1800).await.unwrap();
    assert_eq!(counts, OverviewCounts { users: 2, active_sessions: 2, clients: 1 });
}

async fn sign_in_outcomes_are_classified_and_bucketed(s: &TestDb) {
    use SignInOutcome::*;
    let from = T0 - T0 % 3600;
    let events = [
        // Before the range: not counted.
        ("login.succeeded", from - 1, json!({})),
        ("login.succeeded", from, json!({"method": "password"})),
        ("federation.login_succeeded", from + 3599, json!({"provider": "github"})),
        ("login.failed", from + 10, json!({"reason": "wrong_password", "email": "a@example.com"})),
        ("login.failed", from + 3600, json!({"reason": "unknown_account"})),
        ("login.failed", from + 3601, json!({"reason": "locked"})),
        ("mfa.failed", from + 3602, json!({"reason": "locked"})),
        ("mfa.failed", from + 7200, json!({"reason": "wrong_code"})),
        // Not sign-in outcomes of the chart.
        ("login.failed", from + 20, json!({"reason": "account_disabled"})),
        ("login.failed", from + 21, json!({"method": "passkey", "reason": "no_user_handle"})),
        ("account.locked", from + 22, json!({"failures": 5})),
        ("user.created", from + 23, json!({})),
        ("login.failed", from + 24, json!(null)),
        // At the end of the range: not counted.
        ("login.succeeded", from + 3 * 3600, json!({})),
    ];
    for (kind, at, details) in events {
        s.audit.append_audit_event(&event(kind, at, details)).await.unwrap();
    }
    let rows = s.overview.sign_in_outcomes(from, from + 3 * 3600, 3600).await.unwrap();
    let row = |bucket, outcome, count| OutcomeCount { bucket, outcome, count };
    assert_eq!(
        rows,
        vec![
            row(0, Success, 2),
            row(0, WrongPassword, 1),
            row(1, Locked, 2),
            row(1, WrongPassword, 1),
            row(2, MfaFailed, 1),
        ]
    );
    // One bucket over the whole range: the same totals.
    let rows = s.overview.sign_in_outcomes(from, from + 3 * 3600, 3 * 3600).await.unwrap();
    assert_eq!(rows, vec![row(0, Locked, 2), row(0, MfaFailed, 1), row(0, Success, 2), row(0, WrongPassword, 2)]);
    assert!(s.overview.sign_in_outcomes(from - 7200, from - 1, 3600).await.unwrap().is_empty());
}
