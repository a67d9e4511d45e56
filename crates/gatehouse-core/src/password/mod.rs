//! Passwords: a secret type, the NIST SP 800-63B policy, and Argon2id/bcrypt hashing.

mod hasher;
mod memory;
mod policy;
mod threads;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

pub use hasher::{HashError, HashParams, PasswordHasher, PoolStats, QUEUE_PER_SLOT, Verification};
pub use policy::{PasswordPolicy, PolicyViolation};

/// A password as the user typed it. It never appears in `Debug` output or logs, and its memory
/// is zeroed when dropped.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(raw: impl Into<String>) -> Self {
        Self(SecretString::from(raw.into()))
    }

    /// Whether two entries are the same password (a form's "type it again" field).
    pub fn same_as(&self, other: &Self) -> bool {
        *self.normalized() == *other.normalized()
    }

    /// The bytes bcrypt hashes were made from: the password exactly as typed.
    pub(crate) fn raw(&self) -> &str {
        self.0.expose_secret()
    }

    /// NIST SP 800-63B §5.1.1.2: Unicode passwords are normalised (NFKC) before hashing, so the
    /// same password typed on two keyboards verifies.
    pub(crate) fn normalized(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(self.raw().nfkc().collect())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Password::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let p = Password::new("hunter2-secret");
        assert!(!format!("{p:?}").contains("hunter2"));
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Form {
            password: Password,
        }
        let f: Form = serde_json::from_str(r#"{"password":"hunter2-secret"}"#).unwrap();
        assert!(!format!("{f:?}").contains("hunter2"));
    }
}
