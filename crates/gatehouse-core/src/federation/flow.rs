//! The secrets of one federated login and their binding to the browser.
//!
//! - `state` (RFC 6749 §10.12, RFC 9700 §4.7.1): 256 random bits; only its SHA-256 is stored,
//!   with the hash of the browser's binding cookie, the provider, an expiry and where to go
//!   afterwards. It is consumed (deleted) on first use, whatever the outcome.
//! - `nonce` (OIDC Core §3.1.2.1, §15.5.2) and the PKCE `code_verifier` (RFC 7636 §4.1) are not
//!   stored at all: both are HMAC-SHA256 of the `state` keyed by the binding cookie's secret,
//!   so they can be recomputed only by the browser that started the login, and a database
//!   leak reveals neither.
//! - `return_to` is only ever a path on our own origin ([`ReturnTo`]): no open redirect.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::UnixTime;
use crate::random::{self, RandomError};
use crate::user::UserId;

/// How long a started login may take at the upstream.
pub const LOGIN_STATE_LIFETIME: i64 = 600;

/// A login in progress, as stored (keyed by `state_hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    pub state_hash: Vec<u8>,
    /// SHA-256 of the browser's binding cookie.
    pub binding_hash: Vec<u8>,
    pub provider: String,
    pub return_to: Option<String>,
    /// Set when a signed-in user links a provider to their account: the callback must come back
    /// to a session of this same user.
    pub link_user: Option<UserId>,
    /// `prompt=login` was sent upstream: the upstream `auth_time` must be from this login.
    pub force_login: bool,
    /// Set on the record of a verified upstream identity waiting for the local password
    /// (not a login at the upstream: its "state" is the token of the password form).
    pub pending: Option<PendingLink>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// An upstream identity (verified, with a verified email) whose email belongs to a local
/// account: it is linked once the browser that brought it proves that account's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLink {
    pub subject: String,
    pub user_id: UserId,
    pub email: Option<String>,
}

/// The random value of the browser's federation cookie. Never logged, never stored.
#[derive(Clone)]
pub struct BrowserBinding(SecretString);

impl BrowserBinding {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(SecretString::from(random::token()?)))
    }

    pub fn from_cookie(value: &str) -> Self {
        Self(SecretString::from(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.expose_secret().as_bytes()).to_vec()
    }

    /// Constant-time comparison with a stored binding hash.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        self.hash().ct_eq(stored_hash).into()
    }

    fn derive(&self, label: &[u8], state: &str) -> String {
        match <Hmac<Sha256> as KeyInit>::new_from_slice(self.0.expose_secret().as_bytes()) {
            Ok(mut m) => {
                m.update(label);
                m.update(state.as_bytes());
                URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
            }
            // HMAC takes keys of any length; unreachable, and an empty value never verifies.
            Err(_) => String::new(),
        }
    }

    /// The nonce and PKCE verifier of the login identified by `state`.
    pub fn secrets(&self, state: &str) -> FlowSecrets {
        FlowSecrets {
            state: state.to_owned(),
            nonce: self.derive(b"gatehouse-federation-nonce-v1", state),
            pkce_verifier: self.derive(b"gatehouse-federation-pkce-v1", state),
        }
    }
}

impl fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserBinding([REDACTED])")
    }
}

/// `state`, `nonce` and PKCE verifier of one login.
#[derive(Clone)]
pub struct FlowSecrets {
    pub state: String,
    pub nonce: String,
    /// 43 characters of base64url: a valid RFC 7636 §4.1 `code_verifier` (256 bits).
    pub pkce_verifier: String,
}

impl FlowSecrets {
    /// RFC 7636 §4.2 `S256`: `BASE64URL(SHA256(ASCII(code_verifier)))`.
    pub fn pkce_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.pkce_verifier.as_bytes()))
    }

    pub fn state_hash(&self) -> Vec<u8> {
        state_hash(&self.state)
    }
}

impl fmt::Debug for FlowSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlowSecrets([REDACTED])")
    }
}

/// What storage keys a login state by.
pub fn state_hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// Where to go after a federated sign-in: a path (with query) on our own origin, nothing else.
/// A downstream application's redirect URI is reached only through `/oauth2/authorize?…`,
/// which checks it against the client's registration again.
pub struct ReturnTo;

impl ReturnTo {
    pub fn parse(raw: &str) -> Option<String> {
        let ok = raw.starts_with('/')
            && !raw.starts_with("//")
            && raw.len() <= 4096
            && !raw.contains(['\\', '\r', '\n', '\t'])
            && !raw.chars().any(char::is_control);
        if !ok {
            return None;
        }
        // Belt and braces: resolved against a placeholder origin it must stay on that origin.
        let base = url::Url::parse("https://gatehouse.invalid/").ok()?;
        let resolved = base.join(raw).ok()?;
        (resolved.origin() == base.origin()).then(|| raw.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_bound_to_the_browser() {
        let a = BrowserBinding::from_cookie("browser-a");
        let b = BrowserBinding::from_cookie("browser-b");
        let sa = a.secrets("state-1");
        assert_eq!(sa.nonce, a.secrets("state-1").nonce);
        assert_ne!(sa.nonce, b.secrets("state-1").nonce);
        assert_ne!(sa.nonce, a.secrets("state-2").nonce);
        assert_ne!(sa.nonce, sa.pkce_verifier);
        // RFC 7636 §4.1: 43..=128 characters of [A-Za-z0-9-._~].
        assert_eq!(sa.pkce_verifier.len(), 43);
        assert!(sa.pkce_verifier.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert!(a.matches(&a.hash()));
        assert!(!a.matches(&b.hash()));
        assert!(!format!("{a:?}{sa:?}").contains("browser-a"));
    }

    #[test]
    fn pkce_s256_appendix_b() {
        // RFC 7636 Appendix B.
        let s = FlowSecrets {
            state: String::new(),
            nonce: String::new(),
            pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        };
        assert_eq!(s.pkce_challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn return_to_stays_on_our_origin() {
        for good in ["/account", "/oauth2/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", "/"] {
            assert_eq!(ReturnTo::parse(good).as_deref(), Some(good));
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/a\r\nLocation: https://evil.example",
            "/\tevil",
        ] {
            assert_eq!(ReturnTo::parse(bad), None, "{bad:?}");
        }
    }
}
