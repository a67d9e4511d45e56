//! User accounts.

use std::fmt;

use uuid::Uuid;

use crate::clock::UnixTime;
use crate::email::Email;

/// A user's id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Option<Self> {
        Uuid::try_parse(s).ok().map(Self)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: Option<String>,
    /// PHC string (Argon2id) or an imported bcrypt hash; `None` for accounts without a password.
    pub password_hash: Option<String>,
    pub status: UserStatus,
    pub email_verified: bool,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl User {
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("status", &self.status)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// Display names: optional, trimmed, 1..=100 characters, no control characters.
pub fn parse_display_name(raw: Option<&str>) -> Result<Option<String>, &'static str> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > 100 {
        return Err("display name must be at most 100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("display name must not contain control characters");
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(parse_display_name(None), Ok(None));
        assert_eq!(parse_display_name(Some("  ")), Ok(None));
        assert_eq!(parse_display_name(Some(" Zoë <b> ")), Ok(Some("Zoë <b>".into())));
        assert!(parse_display_name(Some("a\u{0}b")).is_err());
        assert!(parse_display_name(Some(&"x".repeat(101))).is_err());
    }

    #[test]
    fn debug_redacts_the_hash() {
        let u = User {
            id: UserId::generate(),
            email: Email::parse("a@example.com").unwrap(),
            display_name: None,
            password_hash: Some("$argon2id$secret".into()),
            status: UserStatus::Active,
            email_verified: false,
            created_at: 0,
            updated_at: 0,
        };
        assert!(!format!("{u:?}").contains("argon2id"));
    }
}
