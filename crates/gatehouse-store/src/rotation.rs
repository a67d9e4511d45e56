//! The backend-independent half of refresh-token rotation (RFC 9700 §4.14.2): what a
//! presented token that could not be consumed means. `store::refresh` runs the statements and
//! calls this between them, on both backends alike.

use gatehouse_core::clock::UnixTime;
use gatehouse_core::token::RefreshFamily;

use crate::rows::TokenStateRow;

/// The `revoked_reason` of a family revoked because one of its consumed tokens came back.
pub(crate) const REUSE_REASON: &str = "refresh_token_reuse";

/// What to do with a presented token the conditional consume did not match.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unconsumed {
    /// Unknown, idle-expired, or its family is revoked or past its absolute expiry: refuse,
    /// change nothing.
    Invalid,
    /// Consumed before while its family is still live: someone holds a copy. Revoke the family.
    Reuse(Box<RefreshFamily>),
}

/// Classifies the token's state as read inside the rotation's transaction, after the consume.
pub(crate) fn unconsumed(state: Option<TokenStateRow>, now: UnixTime) -> Unconsumed {
    match state {
        None => Unconsumed::Invalid,
        Some(state) => {
            let (used_at, family) = state.into_parts();
            classify(used_at, family, now)
        }
    }
}

fn classify(used_at: Option<UnixTime>, family: RefreshFamily, now: UnixTime) -> Unconsumed {
    // A family revoked already (reuse seen before, logout, account disabled) stays revoked
    // with its first reason: presenting its tokens again is simply invalid.
    // An unused token the consume did not match is idle-expired.
    if !family.is_live(now) || used_at.is_none() {
        return Unconsumed::Invalid;
    }
    Unconsumed::Reuse(Box::new(family))
}

/// The family as it reads after `REVOKE_REFRESH_FAMILY` revoked it for reuse at `now`.
pub(crate) fn revoked_for_reuse(mut family: RefreshFamily, now: UnixTime) -> RefreshFamily {
    family.revoked_at = Some(now);
    family.revoked_reason = Some(REUSE_REASON.to_owned());
    family
}

#[cfg(test)]
mod tests {
    use gatehouse_core::user::UserId;
    use uuid::Uuid;

    use super::*;

    fn family(revoked_at: Option<i64>, expires_at: i64) -> RefreshFamily {
        RefreshFamily {
            id: Uuid::now_v7(),
            user_id: UserId(Uuid::now_v7()),
            client_id: "gatehouse".into(),
            scope: None,
            created_at: 0,
            expires_at,
            revoked_at,
            revoked_reason: revoked_at.map(|_| "logout".to_owned()),
            auth: gatehouse_core::acr::AuthContext::of_sign_in("pwd", 0),
            dpop_jkt: None,
        }
    }

    #[test]
    fn a_used_token_of_a_live_family_is_reuse() {
        let f = family(None, 100);
        assert_eq!(classify(Some(10), f.clone(), 50), Unconsumed::Reuse(Box::new(f)));
    }

    #[test]
    fn dead_families_and_unused_tokens_are_invalid() {
        assert_eq!(classify(Some(10), family(Some(20), 100), 50), Unconsumed::Invalid, "revoked");
        assert_eq!(classify(Some(10), family(None, 50), 50), Unconsumed::Invalid, "expired");
        assert_eq!(classify(None, family(None, 100), 50), Unconsumed::Invalid, "idle-expired");
        assert_eq!(unconsumed(None, 50), Unconsumed::Invalid, "unknown");
    }

    #[test]
    fn revoking_for_reuse_records_time_and_reason() {
        let f = revoked_for_reuse(family(None, 100), 42);
        assert_eq!((f.revoked_at, f.revoked_reason.as_deref()), (Some(42), Some(REUSE_REASON)));
    }
}
