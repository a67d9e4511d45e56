//! Password policy after NIST SP 800-63B §5.1.1.2: a length range, no composition rules, and a
//! refusal of common passwords and of the account's own email address.

use std::collections::HashSet;
use std::sync::LazyLock;

use super::Password;
use crate::email::Email;

/// The 30,000 most common passwords of leaked corpora (see `data/README.md`).
static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt").lines().map(str::trim).filter(|l| !l.is_empty()).collect()
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8, max_length: 128 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("password must be at least {0} characters long")]
    TooShort(usize),
    #[error("password must be at most {0} characters long")]
    TooLong(usize),
    #[error("password is too common; choose another one")]
    Common,
    #[error("password must not be the email address")]
    SameAsEmail,
}

impl PasswordPolicy {
    /// Number of entries in the bundled common-password list.
    pub fn common_list_len() -> usize {
        COMMON.len()
    }

    pub fn check(&self, password: &Password, email: &Email) -> Result<(), PolicyViolation> {
        let normalized = password.normalized();
        // §5.1.1.2: "each Unicode code point SHALL be counted as a single character".
        let len = normalized.chars().count();
        if len < self.min_length {
            return Err(PolicyViolation::TooShort(self.min_length));
        }
        if len > self.max_length {
            return Err(PolicyViolation::TooLong(self.max_length));
        }
        let lower = zeroize::Zeroizing::new(normalized.to_lowercase());
        if COMMON.contains(lower.as_str()) {
            return Err(PolicyViolation::Common);
        }
        let local = email.key().rsplit_once('@').map(|(l, _)| l).unwrap_or_default();
        if lower.as_str() == email.key() || lower.as_str() == local {
            return Err(PolicyViolation::SameAsEmail);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("Someone.Long@example.com").unwrap()
    }

    #[test]
    fn bundled_list_is_real_and_large() {
        assert!(PasswordPolicy::common_list_len() >= 10_000);
    }

    #[test]
    fn enforces_length_in_code_points() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check(&Password::new("short7!"), &email()), Err(PolicyViolation::TooShort(8)));
        // Eight non-ASCII code points are eight characters even though they are 16+ bytes.
        assert_eq!(p.check(&Password::new("ßüöäñçéè"), &email()), Ok(()));
        assert_eq!(p.check(&Password::new("x".repeat(129)), &email()), Err(PolicyViolation::TooLong(128)));
        assert_eq!(p.check(&Password::new("correct horse battery staple"), &email()), Ok(()));
    }

    #[test]
    fn refuses_common_passwords_case_insensitively() {
        let p = PasswordPolicy::default();
        for common in ["password", "PassWord1", "12345678", "iloveyou", "qwertyuiop"] {
            assert_eq!(p.check(&Password::new(common), &email()), Err(PolicyViolation::Common), "{common}");
        }
    }

    #[test]
    fn refuses_the_email_itself() {
        let p = PasswordPolicy::default();
        assert_eq!(p.check(&Password::new("someone.long@EXAMPLE.com"), &email()), Err(PolicyViolation::SameAsEmail));
        assert_eq!(p.check(&Password::new("Someone.Long"), &email()), Err(PolicyViolation::SameAsEmail));
    }
}
