//! The backend-independent halves of the OAuth stores: what a presented authorization code
//! that a redemption could not mark means (RFC 6749 §4.1.2: a code is single use, and a second
//! use must be recognised so what the first issued can be revoked), and how a new consent
//! merges with the one remembered. `store::{codes, consents}` run the statements and call
//! these, on both backends alike.

use gatehouse_core::oauth::CodeOutcome;

use crate::rows::CodeStateRow;

/// Classifies a code the conditional redeem did not match, as read inside the redemption's
/// transaction. A used code is a replay even once expired: until it is purged, a second use
/// still says someone holds a copy. An unused code the redeem did not match is expired.
/// A code issued to another client is `Invalid` and stays untouched: presenting someone else's
/// code neither burns it nor reveals whether it was used.
pub(crate) fn unredeemed(state: Option<CodeStateRow>, client_id: &str) -> CodeOutcome {
    match state.map(CodeStateRow::into_parts) {
        Some((_, code)) if code.client_id != client_id => CodeOutcome::Invalid,
        Some((Some(_used_at), code)) => CodeOutcome::Replayed(code),
        Some((None, _)) | None => CodeOutcome::Invalid,
    }
}

/// The union of the scopes consented before and now: the earlier ones first, in their order,
/// then each new one not yet present, in the order asked.
pub(crate) fn merge_scopes(mut existing: Vec<String>, new: &[String]) -> Vec<String> {
    for scope in new {
        if !existing.contains(scope) {
            existing.push(scope.clone());
        }
    }
    existing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn merging_keeps_earlier_scopes_first_and_adds_each_new_one_once() {
        let merged = merge_scopes(strings(&["openid", "profile"]), &strings(&["email", "openid", "email", "phone"]));
        assert_eq!(merged, strings(&["openid", "profile", "email", "phone"]));
        assert_eq!(merge_scopes(Vec::new(), &strings(&["b", "a", "b"])), strings(&["b", "a"]));
        assert_eq!(merge_scopes(strings(&["a"]), &[]), strings(&["a"]));
    }

    #[test]
    fn an_unknown_code_is_invalid() {
        assert_eq!(unredeemed(None, "app"), CodeOutcome::Invalid);
    }
}
