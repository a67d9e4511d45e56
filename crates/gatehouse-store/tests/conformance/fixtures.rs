//! Domain values for the checks, and comparisons for types without `PartialEq`.

use gatehouse_core::audit::AuditEvent;
use gatehouse_core::{Email, Session, User, UserId, UserStatus};
use uuid::Uuid;

pub const T0: i64 = 1_750_000_000;

/// A bcrypt hash: `$`, `.` and `/` must survive literally.
pub const BCRYPT_HASH: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

pub fn user(email: &str) -> User {
    User {
        id: UserId::generate(),
        email: Email::parse(email).expect("test email parses"),
        display_name: Some("Test User".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo".into()),
        status: UserStatus::Active,
        email_verified: true,
        created_at: T0,
        updated_at: T0,
    }
}

#[track_caller]
pub fn assert_same_user(actual: &User, expected: &User) {
    assert_eq!(actual.id, expected.id);
    assert_eq!(actual.email.as_str(), expected.email.as_str());
    assert_eq!(actual.email.key(), expected.email.key());
    assert_eq!(actual.display_name, expected.display_name);
    assert_eq!(actual.password_hash, expected.password_hash);
    assert_eq!(actual.status, expected.status);
    assert_eq!(actual.email_verified, expected.email_verified);
    assert_eq!(actual.created_at, expected.created_at);
    assert_eq!(actual.updated_at, expected.updated_at);
}

/// A session whose token hash is 32 bytes of `tag`.
pub fn session(user: UserId, tag: u8, created_at: i64, last_seen_at: i64, expires_at: i64) -> Session {
    Session {
        id: Uuid::now_v7(),
        user_id: user,
        token_hash: vec![tag; 32],
        created_at,
        last_seen_at,
        expires_at,
        ip: Some("2001:db8::7".into()),
        user_agent: Some(r#"Mozilla/5.0 (X11; Linux x86_64) "quoted" 'single' ; --"#.into()),
    }
}

pub fn event(event_type: &str, occurred_at: i64, details: serde_json::Value) -> AuditEvent {
    AuditEvent {
        occurred_at,
        event_type: event_type.into(),
        actor: Some("0197a3b0-0000-7000-8000-000000000001".into()),
        subject: Some("o'brien\";--@exämple.com".into()),
        ip: Some("203.0.113.9".into()),
        user_agent: Some("gatehouse-cli".into()),
        outcome: "success".into(),
        details,
    }
}
