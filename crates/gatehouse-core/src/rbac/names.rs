//! Role and permission names, parsed once at the edge ("parse, don't validate").
//!
//! Role names: 1..=64 characters of `a-z 0-9 _ . -`, starting with a letter or digit.
//! Permission names: `resource:action`, each part 1..=64 characters of the same set.
//! Lower case only, so `Admin` and `admin` can never be two roles.

use std::fmt;

/// Why a name or description was refused (the message is safe to show to the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub &'static str);

const PART_MAX: usize = 64;

fn valid_part(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && s.len() <= PART_MAX
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'))
}

/// A role's name, e.g. `admin`, `editor`, `billing-ops`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if valid_part(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError("role names are 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RoleName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A permission's name, `resource:action`, e.g. `posts:delete`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PermissionName(String);

impl PermissionName {
    pub fn parse(s: &str) -> Result<Self, NameError> {
        match s.split_once(':') {
            Some((resource, action)) if valid_part(resource) && valid_part(action) => Ok(Self(s.to_owned())),
            _ => Err(NameError(
                "permission names are resource:action, each part 1-64 characters of a-z, 0-9, '_', '.', '-'",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn resource(&self) -> &str {
        self.0.split_once(':').map_or("", |(r, _)| r)
    }

    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, a)| a)
    }
}

macro_rules! name_fmt {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
    };
}
name_fmt!(RoleName);
name_fmt!(PermissionName);

/// Descriptions: optional, trimmed, at most 256 characters, no control characters.
pub fn parse_description(raw: Option<&str>) -> Result<Option<String>, NameError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > 256 {
        return Err(NameError("description must be at most 256 characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(NameError("description must not contain control characters"));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names() {
        for ok in ["admin", "a", "billing-ops", "team.eu_1", "9lives", &"x".repeat(64)] {
            assert!(RoleName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Admin", "-x", "_x", ".x", "a b", "a:b", "é", "a\0", &"x".repeat(65), "a/b"] {
            assert!(RoleName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn permission_names() {
        let p = PermissionName::parse("posts:delete").unwrap();
        assert_eq!((p.resource(), p.action()), ("posts", "delete"));
        for ok in ["billing.invoices:read", "a:b", "x-1:y_2"] {
            assert!(PermissionName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["posts", "posts:", ":delete", "a:b:c", "Posts:read", "posts:*", "posts :read", ""] {
            assert!(PermissionName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(PermissionName::parse(&format!("{}:{}", "r".repeat(64), "a".repeat(64))).is_ok());
        assert!(PermissionName::parse(&format!("{}:a", "r".repeat(65))).is_err());
    }

    #[test]
    fn descriptions() {
        assert_eq!(parse_description(None), Ok(None));
        assert_eq!(parse_description(Some("  ")), Ok(None));
        assert_eq!(parse_description(Some(" Edits <b>posts</b> ")), Ok(Some("Edits <b>posts</b>".into())));
        assert!(parse_description(Some("a\nb")).is_err());
        assert!(parse_description(Some(&"x".repeat(257))).is_err());
    }

    #[test]
    fn every_accepted_name_round_trips_and_only_uses_the_charset() {
        // A cheap exhaustive-ish sweep over short strings instead of a proptest dependency.
        let alphabet = ['a', 'z', '0', '_', '.', '-', ':', 'A', ' ', 'é'];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s: String = [a, b, c].iter().collect();
                    if let Ok(r) = RoleName::parse(&s) {
                        assert_eq!(r.as_str(), s);
                        assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)));
                    }
                    if let Ok(p) = PermissionName::parse(&s) {
                        assert_eq!(s.matches(':').count(), 1);
                        assert_eq!(p.as_str(), s);
                    }
                }
            }
        }
    }
}
