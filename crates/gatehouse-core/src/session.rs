//! Server-side sessions: a 256-bit random id in the cookie, only its SHA-256 in storage, idle
//! and absolute timeouts.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock::UnixTime;
use crate::random::{self, RandomError};
use crate::user::UserId;

/// The session id as the browser holds it. Never logged, never stored.
#[derive(Clone)]
pub struct SessionToken(SecretString);

impl SessionToken {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(SecretString::from(random::token()?)))
    }

    pub fn from_cookie(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    /// SHA-256 of the token: what storage keys the session by. A 256-bit random secret needs
    /// no salt or slow hash; a database leak does not let anyone present a session.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.expose_secret().as_bytes()).to_vec()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Public id, used to list and revoke sessions; unrelated to the token.
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: Vec<u8>,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// Absolute expiry, fixed at creation.
    pub expires_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// How the user signed in (RFC 8176 `amr` value): `pwd`, or `fed` through an upstream.
    pub amr: String,
    /// When the user authenticated (OIDC Core §2 `auth_time`, what `max_age` is checked
    /// against): `created_at` for a password sign-in; through an upstream, the upstream's own
    /// `auth_time`, or 0 when it does not say (never fresh enough for `max_age`).
    pub auth_time: UnixTime,
}

/// Session lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub idle_timeout: i64,
    pub absolute_timeout: i64,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { idle_timeout: 30 * 60, absolute_timeout: 24 * 60 * 60 }
    }
}

/// `last_seen_at` is written at most this often, so that every request does not cost a write;
/// the idle timeout is therefore exact to within this many seconds.
pub const TOUCH_INTERVAL: i64 = 60;

impl Session {
    pub fn is_live(&self, now: UnixTime, settings: &SessionSettings) -> bool {
        now < self.expires_at && now - self.last_seen_at < settings.idle_timeout
    }

    pub fn needs_touch(&self, now: UnixTime) -> bool {
        now - self.last_seen_at >= TOUCH_INTERVAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: i64) -> Session {
        Session {
            id: Uuid::now_v7(),
            user_id: UserId::generate(),
            token_hash: vec![],
            created_at: created,
            last_seen_at: created,
            expires_at: created + 100,
            ip: None,
            user_agent: None,
            amr: "pwd".into(),
            auth_time: created,
        }
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let settings = SessionSettings { idle_timeout: 30, absolute_timeout: 100 };
        let mut s = session(0);
        assert!(s.is_live(29, &settings));
        assert!(!s.is_live(30, &settings));
        s.last_seen_at = 80;
        assert!(s.is_live(99, &settings));
        assert!(!s.is_live(100, &settings));
    }

    #[test]
    fn token_hash_is_sha256_and_token_never_prints() {
        let t = SessionToken::from_cookie("abc");
        assert_eq!(t.hash().len(), 32);
        assert_ne!(t.hash(), SessionToken::from_cookie("abd").hash());
        assert!(!format!("{t:?}").contains("abc"));
        let g = SessionToken::generate().unwrap();
        assert_eq!(g.expose().len(), 43);
    }
}
