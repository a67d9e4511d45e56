//! The extractors [`RequirePermission`] and [`RequireRole`]: decisions from the `permissions`
//! and `roles` claims of a Gatehouse access token, taken locally without a call to Gatehouse.
//!
//! RFC 9068 §2.2.3.1 lets a JWT access token carry the SCIM (RFC 7643 §4.1.2) attributes
//! `roles`, `groups` and `entitlements` for authorization outside delegation; Gatehouse puts
//! the role names in `roles` and the effective `resource:action` permissions in its own
//! `permissions` claim, each only when the client asked for the scope of the same name. A token
//! without the claim therefore lacks every role or permission: 403, never a pass.
//!
//! RFC 6750 §3.1 defines only `insufficient_scope` for a 403, so these answer 403 with a JSON
//! body (`insufficient_permission` / `insufficient_role`) and no challenge: a new token from the
//! same client would not help, the grant is missing at the authorization server.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::StatusCode;
use ::axum::http::request::Parts;
use ::axum::response::{IntoResponse, Response};

use super::Guard;
use super::extract::{AuthRejection, RejectionKind, error_response};
use crate::claims::AccessClaims;

/// A valid token lacks a required permission or role: 403.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MissingGrant {
    Permission(String),
    Role(String),
}

impl MissingGrant {
    /// The `error` code of the JSON body.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Permission(_) => "insufficient_permission",
            Self::Role(_) => "insufficient_role",
        }
    }
}

impl fmt::Display for MissingGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Permission(p) => write!(f, "the permission {p} is required"),
            Self::Role(r) => write!(f, "the role {r} is required"),
        }
    }
}

impl IntoResponse for MissingGrant {
    fn into_response(self) -> Response {
        let description = match &self {
            Self::Permission(p) => format!("The access token lacks the permission {p}"),
            Self::Role(r) => format!("The access token lacks the role {r}"),
        };
        error_response(StatusCode::FORBIDDEN, None, self.error_code(), &description)
    }
}

/// Checks a permission inside a handler: `require_permission(&claims, "posts:delete")?`.
pub fn require_permission(claims: &AccessClaims, permission: &str) -> Result<(), MissingGrant> {
    if claims.has_permission(permission) { Ok(()) } else { Err(MissingGrant::Permission(permission.to_owned())) }
}

/// Checks a role inside a handler: `require_role(&claims, "editor")?`.
pub fn require_role(claims: &AccessClaims, role: &str) -> Result<(), MissingGrant> {
    if claims.has_role(role) { Ok(()) } else { Err(MissingGrant::Role(role.to_owned())) }
}

/// Names a permission for [`RequirePermission`]; [`define_permission!`](crate::define_permission)
/// writes the impl.
pub trait PermissionName {
    const PERMISSION: &'static str;
}

/// Names a role for [`RequireRole`]; [`define_role!`](crate::define_role) writes the impl.
pub trait RoleName {
    const ROLE: &'static str;
}

async fn authorize<St>(
    parts: &Parts,
    state: &St,
    check: impl FnOnce(&AccessClaims) -> Result<(), MissingGrant>,
) -> Result<AccessClaims, AuthRejection>
where
    Guard: FromRef<St>,
{
    let guard = Guard::from_ref(state);
    let claims = guard.authenticate_request(parts).await?;
    check(&claims).map_err(|e| guard.reject(RejectionKind::MissingGrant(e)))?;
    Ok(claims)
}

/// Extractor: the claims of a valid bearer token whose `permissions` claim holds
/// `P::PERMISSION`; 401 when the token is missing or invalid, 403 `insufficient_permission`
/// otherwise.
///
/// ```
/// use gatehouse_guard::{RequirePermission, define_permission};
///
/// define_permission!(pub PostsDelete = "posts:delete");
///
/// async fn delete_post(auth: RequirePermission<PostsDelete>) -> String {
///     format!("deleted by {}", auth.sub)
/// }
/// ```
pub struct RequirePermission<P> {
    pub claims: AccessClaims,
    permission: PhantomData<fn() -> P>,
}

/// Extractor: the claims of a valid bearer token whose `roles` claim holds `R::ROLE`; 401 when
/// the token is missing or invalid, 403 `insufficient_role` otherwise.
///
/// ```
/// use gatehouse_guard::{RequireRole, define_role};
///
/// define_role!(pub Editor = "editor");
///
/// async fn publish(auth: RequireRole<Editor>) -> String {
///     format!("published by {}", auth.sub)
/// }
/// ```
pub struct RequireRole<R> {
    pub claims: AccessClaims,
    role: PhantomData<fn() -> R>,
}

macro_rules! claims_wrapper {
    ($name:ident) => {
        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("claims", &self.claims).finish()
            }
        }

        impl<T> Deref for $name<T> {
            type Target = AccessClaims;

            fn deref(&self) -> &AccessClaims {
                &self.claims
            }
        }
    };
}

claims_wrapper!(RequirePermission);
claims_wrapper!(RequireRole);

impl<P, St> FromRequestParts<St> for RequirePermission<P>
where
    P: PermissionName,
    Guard: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let claims = authorize(parts, state, |c| require_permission(c, P::PERMISSION)).await?;
        Ok(Self { claims, permission: PhantomData })
    }
}

impl<R, St> FromRequestParts<St> for RequireRole<R>
where
    R: RoleName,
    Guard: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let claims = authorize(parts, state, |c| require_role(c, R::ROLE)).await?;
        Ok(Self { claims, role: PhantomData })
    }
}

/// Declares a marker type for [`RequirePermission`]:
/// `define_permission!(pub PostsDelete = "posts:delete");`.
#[macro_export]
macro_rules! define_permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $permission:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::PermissionName for $name {
            const PERMISSION: &'static str = $permission;
        }
    };
}

/// Declares a marker type for [`RequireRole`]: `define_role!(pub Editor = "editor");`.
#[macro_export]
macro_rules! define_role {
    ($(#[$meta:meta])* $vis:vis $name:ident = $role:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::RoleName for $name {
            const ROLE: &'static str = $role;
        }
    };
}
