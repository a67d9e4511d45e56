//! `AuditStore`: append, newest-first reads, JSON details, and the append-only triggers.

use gatehouse_store::Backend;
use serde_json::json;

use crate::fixtures::{T0, event};
use crate::harness::TestDb;

conformance_tests!(append_and_read_newest_first, details_json_round_trips, audit_trail_is_append_only);

async fn append_and_read_newest_first(s: &TestDb) {
    let first = event("user.registered", T0 + 100, json!({}));
    // Occurred earlier than `first` (another node's clock): order is insertion order anyway.
    let second = event("login.failed", T0 + 50, json!({"reason": "bad_password"}));
    let mut third = event("session.logout", T0 + 200, json!(null));
    third.actor = None;
    third.subject = None;
    third.ip = None;
    third.user_agent = None;
    third.outcome = "failure".into();
    for e in [&first, &second, &third] {
        s.audit.append_audit_event(e).await.unwrap();
    }

    assert_eq!(s.audit.recent_audit_events(10).await.unwrap(), vec![third.clone(), second.clone(), first]);
    assert_eq!(s.audit.recent_audit_events(2).await.unwrap(), vec![third, second]);
    assert!(s.audit.recent_audit_events(0).await.unwrap().is_empty());
}

async fn details_json_round_trips(s: &TestDb) {
    let details = json!({
        "email": "o'brien\";--@exämple.com",
        "hash_prefix": "$2b$12$",
        "attempts": 3,
        "big": u64::MAX,
        "small": i64::MIN,
        "ratio": 0.1,
        "nested": {"list": [1, 2.5, null, true, "🦀"], "empty": {}},
        "sql": "'); DELETE FROM audit_events; --",
    });
    let e = event("login.failed", T0, details);
    s.audit.append_audit_event(&e).await.unwrap();
    assert_eq!(s.audit.recent_audit_events(1).await.unwrap(), vec![e]);

    for scalar in [json!("just a string"), json!(42), json!([])] {
        let e = event("user.created", T0, scalar);
        s.audit.append_audit_event(&e).await.unwrap();
        assert_eq!(s.audit.recent_audit_events(1).await.unwrap(), vec![e]);
    }
}

async fn audit_trail_is_append_only(s: &TestDb) {
    let a = event("user.created", T0, json!({"n": 1}));
    let b = event("user.disabled", T0 + 1, json!({"n": 2}));
    s.audit.append_audit_event(&a).await.unwrap();
    s.audit.append_audit_event(&b).await.unwrap();

    let mut refused = vec![
        s.raw_execute("UPDATE audit_events SET outcome = 'tampered'", None).await,
        s.raw_execute("DELETE FROM audit_events", None).await,
        s.raw_execute("DELETE FROM audit_events WHERE event_type = 'user.created'", None).await,
    ];
    if s.backend == Backend::Postgres {
        refused.push(s.raw_execute("TRUNCATE audit_events", None).await);
    }
    for result in refused {
        let err = result.expect_err("the trigger refuses the statement");
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    assert_eq!(s.audit.recent_audit_events(10).await.unwrap(), vec![b, a]);
}
