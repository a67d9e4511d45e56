//! Domain values for the checks, and comparisons for types without `PartialEq`.

use gatehouse_core::acr::AuthContext;
use gatehouse_core::audit::AuditEvent;
use gatehouse_core::keys::{Algorithm, StoredKey};
use gatehouse_core::oauth::{AuthMethod, AuthorizationCode, Client, ClientJwks, GrantType};
use gatehouse_core::token::{RefreshFamily, RefreshTokenRow};
use gatehouse_core::{Email, Session, User, UserId, UserStatus};
use serde_json::json;
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
        user_agent: Some(r#"Mozilla/5.0 (X11; Linux x86_64) "quoted" 'single ; --"#.into()),
        amr: "pwd".into(),
        auth_time: created_at,
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

/// A signing key with a JWK that exercises JSON: nesting, arrays, unicode, escapes, numbers.
pub fn key(kid: &str, alg: Algorithm, created_at: i64, rotation_slot: Option<i64>) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg,
        sealed_private_key: vec![0, 1, 2, 0xfe, 0xff, 0],
        public_jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": alg.as_str(),
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            "key_ops": ["verify"], "x-note": "quote \" backslash \\ ünïcødé", "x-n": 12345678901_i64, "x-f": 0.5,
            "x-nested": { "a": [1, null, true] }
        }),
        created_at,
        activates_at: created_at + 86_400,
        rotation_slot,
    }
}

pub fn family(user: UserId, created_at: i64, expires_at: i64) -> RefreshFamily {
    RefreshFamily {
        id: Uuid::now_v7(),
        user_id: user,
        client_id: "gatehouse-first-party".into(),
        scope: Some("openid profile o'brien;--".into()),
        created_at,
        expires_at,
        revoked_at: None,
        revoked_reason: None,
        // Not the migration's defaults, so that a round trip shows every column is kept.
        auth: AuthContext::of_sign_in("fed otp mfa", created_at - 5),
        dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into()),
    }
}

/// A refresh token row whose hash is 32 bytes of `tag`; `family_id` is the nil UUID unless
/// given, since rotation ignores it.
pub fn refresh_token(tag: u8, family_id: Option<Uuid>, created_at: i64, idle_expires_at: i64) -> RefreshTokenRow {
    RefreshTokenRow {
        token_hash: vec![tag; 32],
        family_id: family_id.unwrap_or(Uuid::nil()),
        created_at,
        idle_expires_at,
    }
}

/// A confidential client with every list filled, a binary secret hash and a lifetime; strings
/// that SQL or JSON could mangle survive only if every value is bound and encoded properly.
pub fn client(id: &str, created_at: i64) -> Client {
    Client {
        id: id.into(),
        name: "O'Brien's \"App\"; --ünïcødé".into(),
        secret_hash: Some(vec![0, 0xff, 0x10, 0, 0x7f, 0x80]),
        auth_method: AuthMethod::ClientSecretPost,
        redirect_uris: vec!["https://app.example.com/cb?x=1&y=%20".into(), "http://127.0.0.1:8080/cb".into()],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        grant_types: vec![GrantType::RefreshToken, GrantType::AuthorizationCode, GrantType::ClientCredentials],
        scopes: vec!["openid".into(), "profile".into(), "api:read".into()],
        cors_origins: vec!["https://app.example.com".into(), "http://localhost:3000".into()],
        skip_consent: false,
        access_token_lifetime: Some(900),
        created_at,
        jwks: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        dpop_bound_access_tokens: false,
        lifecycle: Default::default(),
    }
}

/// A private_key_jwt client: no secret, a JWK Set with one EC key (a public key from RFC 7515
/// Appendix A.3, so the set parses as registration would require).
pub fn key_client(id: &str, created_at: i64) -> Client {
    let jwks = serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k-1 \"quoted\"",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    }]});
    Client {
        secret_hash: None,
        auth_method: AuthMethod::PrivateKeyJwt,
        jwks: Some(ClientJwks::parse(jwks).expect("the fixture JWK Set registers")),
        ..client(id, created_at)
    }
}

/// A public client: no secret, empty lists, the server's default lifetime.
pub fn public_client(id: &str, created_at: i64) -> Client {
    Client {
        id: id.into(),
        name: "SPA".into(),
        secret_hash: None,
        auth_method: AuthMethod::None,
        redirect_uris: vec!["https://spa.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec![],
        cors_origins: vec![],
        skip_consent: true,
        access_token_lifetime: None,
        created_at,
        jwks: None,
        require_mfa: true,
        require_pushed_authorization_requests: true,
        backchannel_logout_uri: Some("https://spa.example.com/backchannel?x=1".into()),
        backchannel_logout_session_required: true,
        dpop_bound_access_tokens: true,
        lifecycle: Default::default(),
    }
}

/// A code whose hash is 32 bytes of `tag`, issued at `expires_at - 60`.
pub fn code(tag: u8, client_id: &str, user: UserId, expires_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: vec![tag; 32],
        client_id: client_id.into(),
        user_id: user,
        redirect_uri: "https://app.example.com/cb?x=1&y=%20".into(),
        scope: "openid profile o'brien;--".into(),
        nonce: Some(format!("nonce-{tag}")),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        auth_time: expires_at - 300,
        created_at: expires_at - 60,
        expires_at,
        grant_id: Uuid::now_v7(),
        amr: "pwd".into(),
        dpop_jkt: None,
    }
}
