//! Email addresses: parsed once, normalised (NFKC), compared case-insensitively, and refused
//! when they could pass for another address (UTS #39 §5 mixed-script detection).

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

/// A syntactically plausible email address. `as_str` is the NFKC form as the user typed it;
/// `key` is the form used for uniqueness and look-up (NFKC, then Unicode lower case), so that
/// `Alice@Example.com` and `alice@example.com` (or a full-width look-alike) are one account.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("email address is empty")]
    Empty,
    #[error("email address is longer than 254 characters")]
    TooLong,
    #[error("email address must have the form local-part@domain")]
    Malformed,
    #[error("email address must not contain invisible characters or mix writing systems within a part")]
    LookAlike,
}

impl Email {
    /// An address as a new account (or a changed address) may have: [`Self::parse`], and not a
    /// look-alike of another address (UTS #39). Look-ups use [`Self::parse`], so an account
    /// registered before this rule still signs in.
    pub fn parse_new(raw: &str) -> Result<Self, EmailError> {
        let email = Self::parse(raw)?;
        let (local, domain) = email.display.rsplit_once('@').ok_or(EmailError::Malformed)?;
        if could_pass_for_another(local) || domain.split('.').any(could_pass_for_another) {
            return Err(EmailError::LookAlike);
        }
        Ok(email)
    }

    /// A syntactically plausible address, normalised; used to look accounts up.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let display: String = raw.trim().nfkc().collect();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = display.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let bad_char = |c: char| c.is_whitespace() || c.is_control() || c == '@';
        let local_ok = !local.is_empty() && local.chars().count() <= 64 && !local.contains(bad_char);
        let domain_ok = !domain.is_empty()
            && !domain.contains(bad_char)
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !local_ok || !domain_ok {
            return Err(EmailError::Malformed);
        }
        let key = display.to_lowercase();
        Ok(Self { display, key })
    }

    /// Rebuilds an address read back from storage (already normalised when it was stored).
    pub fn from_stored(display: String, key: String) -> Self {
        Self { display, key }
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Whether a local part or domain label could look like another one: a non-ASCII character
/// outside UTS #39's General Security Profile (which leaves out the default-ignorable ones such as
/// U+200B ZERO WIDTH SPACE, format and bidi controls, and obsolete or confusable scripts), or
/// letters that fail UTS #39 §5.2's "Highly Restrictive" level: one script, or Latin with only
/// Han + Hiragana + Katakana, Han + Bopomofo or Han + Hangul (`аlice` with a Cyrillic `а` fails;
/// `taro山田` passes). ASCII-only parts are never refused here. A part written wholly in another
/// script (an all-Cyrillic `аре`) stays possible: comparing by confusable skeleton would change
/// the stored keys, and single-script addresses are real addresses.
fn could_pass_for_another(part: &str) -> bool {
    if part.is_ascii() {
        return false;
    }
    if part.chars().any(|c| !c.is_ascii() && !c.identifier_allowed()) {
        return true;
    }
    // ASCII punctuation (`.`, `+`, `-`, …) is no identifier character; only letters and digits
    // take part in the script check.
    let letters: String = part.chars().filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric()).collect();
    !letters.as_str().check_restriction_level(RestrictionLevel::HighlyRestrictive)
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_width_for_the_key() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Alice@Example.COM");
        assert_eq!(a.key(), "alice@example.com");
        // U+FF41 FULLWIDTH LATIN SMALL LETTER A folds to 'a' under NFKC.
        let b = Email::parse("\u{ff41}lice@example.com").unwrap();
        assert_eq!(a.key(), b.key());
    }

    /// Look-alikes of `alice@example.com` are refused rather than registered beside it.
    #[test]
    fn refuses_invisible_characters_and_mixed_scripts() {
        for bad in [
            "alice\u{200b}@example.com", // ZERO WIDTH SPACE
            "al\u{00ad}ice@example.com", // SOFT HYPHEN
            "ali\u{200d}ce@example.com", // ZERO WIDTH JOINER
            "alice\u{2066}@example.com", // LEFT-TO-RIGHT ISOLATE
            "\u{0430}lice@example.com",  // CYRILLIC SMALL LETTER A
            "alice@ex\u{0430}mple.com",  // the same in the domain
            "alice@example\u{200b}.com",
            "\u{03bf}pal@example.com", // GREEK SMALL LETTER OMICRON before Latin
        ] {
            assert_eq!(Email::parse_new(bad), Err(EmailError::LookAlike), "{bad:?}");
            assert!(Email::parse(bad).is_ok(), "look-ups still find an account stored before the rule: {bad:?}");
        }
        for good in [
            "alice@example.com",
            "alice.smith+tag@example.com",
            "\u{0430}\u{043b}\u{0438}\u{0441}\u{0430}@example.com", // алиса: one script
            "josé@example.com",
            "用户@例子.中国",
            "user1@münchen.de",
            "taro山田@example.jp",
            "mp3下载@例子.中国",
        ] {
            assert!(Email::parse_new(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn keeps_sql_metacharacters_literally() {
        let e = Email::parse("o'brien\";--%_\\@example.com").unwrap();
        assert_eq!(e.as_str(), "o'brien\";--%_\\@example.com");
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a b@example.com",
            "a@exa mple.com",
            "a@.com",
            "a@com.",
            "a@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Email::parse(&format!("{}@example.com", "a".repeat(65))), Err(EmailError::Malformed));
        assert_eq!(Email::parse(&format!("a@{}.com", "b".repeat(260))), Err(EmailError::TooLong));
    }
}
