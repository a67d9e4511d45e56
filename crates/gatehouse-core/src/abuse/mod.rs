//! Abuse protection (DESIGN.md §1 "Abuse"): GCRA rate limits per client IP and per account
//! ([`gcra`], [`limits`]) and the per-account progressive delay and temporary lock after failed
//! logins ([`lockout`]).
//!
//! Both sit behind traits — [`RateLimiter`] and [`LoginAttemptStore`]. The rate-limit counters
//! live in process memory ([`InProcessRateLimiter`], one node's view) or, when Redis is
//! configured, in Redis (`gatehouse_store::shared_state::RedisRateLimiter`, one budget for the
//! cluster, with the in-process limiter as its fallback); the failed-login counters live in the
//! database.
//!
//! Keys: a client is its IP address ([`ip_key`]; an IPv6 client is its /64, since one host
//! usually holds a whole /64); an account is its [`LoginKey`], derived from the normalised email
//! address alone, so unknown addresses are counted and locked exactly like real ones.

pub mod gcra;
pub mod limits;
pub mod lockout;

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::email::Email;

pub use gcra::{InProcessRateLimiter, Quota, RateLimiter, RetryAfter};
pub use limits::{LimitKind, RateLimitSettings, RateLimited, RateLimits};
pub use lockout::{
    Attempt, Gate, Lockout, LockoutPolicy, LoginAttemptStore, LoginAttempts, MemoryLoginAttempts, NewLock,
};

/// The per-account key of a login attempt: the normalised email address (the account's
/// [`Email::key`]), or for input that is not an address the trimmed, lower-cased input. Counters
/// are stored under its SHA-256, so the tables of counters hold no addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKey {
    normalized: String,
    hashed: String,
}

impl LoginKey {
    /// At most this many characters of input that is not an email address are kept.
    const MAX_INPUT: usize = 320;

    pub fn from_input(email: &str) -> Self {
        match Email::parse(email) {
            Ok(e) => Self::for_email(&e),
            Err(_) => {
                Self::from_normalized(email.trim().chars().take(Self::MAX_INPUT).collect::<String>().to_lowercase())
            }
        }
    }

    pub fn for_email(email: &Email) -> Self {
        Self::from_normalized(email.key().to_owned())
    }

    /// The key second-factor failures of one account are counted under: per account (the user
    /// id), apart from its password failures, so guessing codes locks the second step only.
    pub fn for_mfa(user: crate::user::UserId) -> Self {
        Self::from_normalized(format!("mfa:{user}"))
    }

    fn from_normalized(normalized: String) -> Self {
        let digest = Sha256::new().chain_update(b"gatehouse-login:").chain_update(normalized.as_bytes()).finalize();
        Self { hashed: URL_SAFE_NO_PAD.encode(digest), normalized }
    }

    /// The key counters are stored under.
    pub fn as_str(&self) -> &str {
        &self.hashed
    }

    /// The normalised address, for the audit trail only.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

/// The rate-limit key of a client IP: an IPv4 address (also when mapped into IPv6) as is, an
/// IPv6 address as its /64 network. A missing or unparseable IP shares one key.
pub fn ip_key(ip: Option<&str>) -> String {
    match ip.and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => format!("ip4:{v4}"),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip4:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip6:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "ip:unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_keys_normalise_like_accounts() {
        let k = LoginKey::from_input("  Alice@Example.COM ");
        assert_eq!(k, LoginKey::from_input("alice@example.com"));
        assert_eq!(k, LoginKey::from_input("\u{ff41}lice@example.com"), "NFKC look-alike");
        assert_eq!(k.normalized(), "alice@example.com");
        assert_eq!(k.as_str().len(), 43);
        assert!(!k.as_str().contains("alice"));
        assert_ne!(k, LoginKey::from_input("bob@example.com"));
        assert_eq!(LoginKey::from_input(" Not-An-Email "), LoginKey::from_input("not-an-email"));
    }

    #[test]
    fn ip_keys() {
        assert_eq!(ip_key(Some("192.0.2.7")), "ip4:192.0.2.7");
        assert_eq!(ip_key(Some("::ffff:192.0.2.7")), "ip4:192.0.2.7");
        assert_eq!(ip_key(Some("2001:db8:1:2:3:4:5:6")), "ip6:2001:db8:1:2::/64");
        assert_eq!(ip_key(Some("2001:db8:1:2:ffff::1")), ip_key(Some("2001:db8:1:2::9")));
        assert_ne!(ip_key(Some("2001:db8:1:3::1")), ip_key(Some("2001:db8:1:2::1")));
        assert_eq!(ip_key(None), "ip:unknown");
        assert_eq!(ip_key(Some("not an ip")), "ip:unknown");
    }
}
