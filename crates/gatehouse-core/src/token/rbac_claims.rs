//! The `roles` and `permissions` claims of access tokens, opt-in through scopes.
//!
//! RFC 9068 §2.2.3.1 ("Claims for Authorization Outside of Delegation Scenarios") lets a JWT
//! access token carry the SCIM (RFC 7643 §4.1.2) attributes `roles`, `groups` and
//! `entitlements` when the authorization server manages them. Gatehouse puts the holder's role
//! names in `roles` and the effective `resource:action` permissions (the union over the roles) in
//! `permissions` (its own claim, the RBAC counterpart of SCIM entitlements), both as arrays of
//! strings. A client opts in by being allowed, and then asking for, the scope `roles` and/or
//! `permissions`: tokens for other clients stay as small as before and reveal nothing.
//!
//! The values are read from the RBAC store at every issuance (authorization code, refresh,
//! client credentials), so a revoked role is gone from the next token.

use crate::oauth::Scope;
use crate::rbac::RbacStore;
use crate::store::StoreError;
use crate::user::UserId;

/// The scope that asks for the `roles` claim.
pub const ROLES_SCOPE: &str = "roles";
/// The scope that asks for the `permissions` claim.
pub const PERMISSIONS_SCOPE: &str = "permissions";

/// Upper bound of the `roles` and `permissions` claims together, in JSON bytes. Base64url makes
/// them a third larger in the token; with the other claims and the signature the token stays
/// well under the 16 KiB that `gatehouse-guard` (and Gatehouse itself) accept.
pub const MAX_RBAC_CLAIM_BYTES: usize = 8 * 1024;

/// Whose roles a token carries.
#[derive(Debug, Clone, Copy)]
pub enum Holder<'a> {
    /// A user's token (authorization code, refresh token).
    User(UserId),
    /// A client's own token (client credentials): its `client_roles`.
    Client(&'a str),
}

/// The claims a token carries; `None` = not asked for (the claim is absent, not empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RbacClaims {
    pub roles: Option<Vec<String>>,
    pub permissions: Option<Vec<String>>,
}

impl RbacClaims {
    /// The JSON size of both claims (each string quoted, comma-separated).
    pub fn encoded_len(&self) -> usize {
        let list = |v: &Option<Vec<String>>| v.as_ref().map_or(0, |v| v.iter().map(|s| s.len() + 3).sum::<usize>() + 2);
        list(&self.roles) + list(&self.permissions)
    }

    /// Whether the claims fit in a token that every verifier accepts.
    pub fn fits(&self) -> bool {
        self.encoded_len() <= MAX_RBAC_CLAIM_BYTES
    }

    /// Reads the holder's roles and permissions when `scope` asks for either; no query otherwise.
    pub async fn for_scope(store: &dyn RbacStore, holder: Holder<'_>, scope: &Scope) -> Result<Self, StoreError> {
        let (want_roles, want_permissions) = (scope.contains(ROLES_SCOPE), scope.contains(PERMISSIONS_SCOPE));
        if !want_roles && !want_permissions {
            return Ok(Self::default());
        }
        let access = match holder {
            Holder::User(id) => store.user_access(id).await?,
            Holder::Client(id) => store.client_access(id).await?,
        };
        Ok(Self {
            roles: want_roles.then(|| access.roles.iter().map(ToString::to_string).collect()),
            permissions: want_permissions.then(|| access.permissions.iter().map(ToString::to_string).collect()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_that_would_make_an_unverifiable_token_do_not_fit() {
        let names = |n: usize| Some((0..n).map(|i| format!("resource{i:03}.with-a-long-name:action")).collect());
        assert!(RbacClaims::default().fits());
        let small = RbacClaims { roles: names(10), permissions: names(100) };
        assert!(small.fits(), "{}", small.encoded_len());
        let large = RbacClaims { roles: None, permissions: names(300) };
        assert!(!large.fits(), "{}", large.encoded_len());
        let exact = serde_json::to_string(&large.permissions).unwrap_or_default().len();
        assert!(large.encoded_len() >= exact, "the estimate never undercounts: {} < {exact}", large.encoded_len());
    }
}
