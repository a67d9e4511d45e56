//! Role-based access control in the classic schema (users, roles, permissions,
//! role_permissions, user_roles, plus client_roles for machine identities), and the admin
//! capability that gates Gatehouse's own admin API.
//!
//! Authorization cannot be skipped: every admin operation ([`RbacService`], [`AdminService`])
//! takes an [`AdminCapability`], a value only [`AdminService::authorize`] hands out after the
//! check (and [`AdminCapability::operator_cli`] for the command line, which the HTTP crate never
//! calls — a test there checks). A handler that forgets the check has no capability to pass, so
//! it does not compile.

mod admin;
mod admin_clients;
mod admin_overview;
mod admin_resources;
mod capability;
mod names;
mod service;
mod snapshot;
mod store;

use crate::clock::UnixTime;
use crate::store::StoreError;

pub use admin::{AdminService, AdminStores, Page, UserFilter};
pub use admin_clients::ClientAdmin;
pub use admin_overview::{
    ConsoleStores, OutcomeBucket, OutcomeCount, Overview, OverviewCounts, OverviewStore, RECENT_EVENTS,
    SECURITY_EVENTS, SignInOutcome, SignInSeries,
};
pub use admin_resources::ResourceAdmin;
pub use capability::{ADMIN_ROLE, ADMIN_SCOPE, Actor, AdminCapability, Principal};
pub use names::{NameError, PermissionName, RoleName, parse_description};
pub use service::{RbacService, RoleHolders};
pub use snapshot::{RbacSnapshot, RbacSnapshots};
pub use store::{GuardOutcome, GuardedChange, RbacGrants, RbacStore};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: RoleName,
    pub description: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub name: PermissionName,
    pub description: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// The roles a user or client holds and the effective permissions they grant (the union over
/// the roles), both sorted by name and without duplicates. What access tokens carry in their
/// `roles` and `permissions` claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub roles: Vec<RoleName>,
    pub permissions: Vec<PermissionName>,
}

impl Access {
    /// Folds `(role, permission)` rows, as one `LEFT JOIN` of grants to role permissions
    /// returns them (permission `None` for a role without permissions), into sorted sets.
    pub fn from_rows(rows: impl IntoIterator<Item = (RoleName, Option<PermissionName>)>) -> Self {
        let mut out = Self::default();
        for (role, permission) in rows {
            if out.roles.last() != Some(&role) {
                out.roles.push(role);
            }
            out.permissions.extend(permission);
        }
        out.roles.sort();
        out.roles.dedup();
        out.permissions.sort();
        out.permissions.dedup();
        out
    }
}

#[cfg(test)]
mod access_tests {
    use super::*;

    #[test]
    fn access_rows_fold_into_sorted_unique_sets() {
        let r = |s: &str| RoleName::parse(s).unwrap();
        let p = |s: &str| PermissionName::parse(s).unwrap();
        let rows = vec![
            (r("viewer"), Some(p("posts:read"))),
            (r("editor"), Some(p("posts:write"))),
            (r("editor"), Some(p("posts:read"))),
            (r("empty"), None),
            (r("viewer"), None),
        ];
        let access = Access::from_rows(rows);
        assert_eq!(access.roles, [r("editor"), r("empty"), r("viewer")]);
        assert_eq!(access.permissions, [p("posts:read"), p("posts:write")]);
        assert_eq!(Access::from_rows(Vec::new()), Access::default());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// The caller is who they say, but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A compare-and-set lost: the record changed between reading and writing it.
    #[error("this {0} was changed by another request meanwhile: read it again and retry")]
    Changed(&'static str),
    /// The change would leave no active user holding the `admin` role.
    #[error("the last active admin cannot lose the admin role, be disabled or be deleted")]
    LastAdmin,
    /// The MFA policy (`[mfa]`) refused an admin: no second factor enrolled, or a sign-in
    /// without one.
    #[error("the MFA policy refused: {}", .0.as_str())]
    MfaPolicy(crate::mfa::policy::MfaRefusal),
    #[error(transparent)]
    Store(StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for RbacError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Store(other),
        }
    }
}

impl From<NameError> for RbacError {
    fn from(e: NameError) -> Self {
        Self::Invalid(e.0.to_owned())
    }
}
