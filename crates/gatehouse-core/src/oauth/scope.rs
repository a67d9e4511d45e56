//! Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens; order does not matter.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scope is not a list of valid scope tokens (RFC 6749 §3.3)")]
pub struct ScopeError(pub String);

impl Scope {
    /// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, separated by single spaces (we accept
    /// runs of spaces); duplicates are dropped, first occurrence kept.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let mut out: Vec<String> = Vec::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            let valid = token.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
            if !valid || token.len() > 128 {
                return Err(ScopeError(token.to_owned()));
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Ok(Self(out))
    }

    pub fn from_vec(v: Vec<String>) -> Self {
        Self(v)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &[String]) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc6749_scope_tokens() {
        let s = Scope::parse("openid  profile openid posts:read").unwrap();
        assert_eq!(s.to_string(), "openid profile posts:read");
        assert!(s.is_subset_of(&["openid".into(), "profile".into(), "posts:read".into()]));
        assert!(!s.is_subset_of(&["openid".into()]));
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("caf\u{e9}").is_err());
        assert!(Scope::parse("").unwrap().is_empty());
    }
}
