//! The admin API under `/admin/v1/` (DESIGN.md §3): users, invitations, sessions, roles, permissions and
//! their grants, the audit trail, signing keys, clients, resource servers, and Cedar policies.
//!
//! Authorization happens in one place, the [`Admin`] extractor: it verifies the bearer token
//! (RFC 6750 §2.1) and asks `AdminService::authorize` for an [`AdminCapability`]. Every admin
//! operation in `gatehouse-core` takes that capability, so a handler without the extractor has
//! nothing to pass and does not compile. Request bodies are explicit DTOs with
//! `deny_unknown_fields`: no field a caller adds can reach a model (no mass assignment).
//!
//! Routes are registered with `utoipa_axum::routes!` from handlers annotated with
//! `#[utoipa::path]`, which also builds the OpenAPI 3.1 document at `/admin/v1/openapi.json`
//! ([`openapi`]): a route and its documentation are one registration.

mod clients;
mod exchange_rules;
mod invitations;
mod openapi;
pub(crate) mod ops;
mod policies;
mod rbac;
mod reset;
mod resources;
mod user_mail;
mod users;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use gatehouse_core::abuse::LimitKind;
use gatehouse_core::rbac::{AdminCapability, Principal, RbacError};
use gatehouse_core::user::UserId;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::error::ApiError;
use crate::policy::{Answer, Methods, Policy, Routes};

/// Every admin route, and the 404 of unknown paths under `/admin`: all of them, whatever the
/// method, count against the admin rate limit.
pub fn router(state: &AppState) -> Routes {
    let policy = Policy::same_origin().limit(LimitKind::AdminIp, Methods::Any, Answer::Json);
    let known: Router<AppState> = routes().into();
    // The console (`routes::console`) answers the other paths under `/admin/`.
    let unknown = crate::policy::unknown_under("/admin/v1").merge(crate::policy::unknown_at("/admin/v1"));
    Routes::new(state, policy, known.merge(unknown))
}

/// Every admin route with its OpenAPI operation (see [`openapi`]). A new area adds its
/// `router()` (an `OpenApiRouter` built with `routes!`) here.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(users::router())
        .merge(invitations::router())
        .merge(reset::router())
        .merge(user_mail::router())
        .merge(rbac::router())
        .merge(ops::router())
        .merge(clients::router())
        .merge(resources::router())
        .merge(exchange_rules::router())
        .merge(policies::router())
        .merge(openapi::router())
}

pub use openapi::ErrorResponse;

/// The capability to use the admin API, extracted from `Authorization: Bearer …`.
/// No token or a bad one: 401 with `WWW-Authenticate`; a valid token without admin rights: 403;
/// an admin whom the MFA policy covers, with a token whose `amr` lacks `mfa`: 403
/// `mfa_required` (or `mfa_enrollment_required` without a second factor enrolled).
pub struct Admin(pub AdminCapability);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let claims = match super::live_token(state, parts).await {
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "the admin API needs a bearer access token",
                ));
            }
            Some(result) => result?,
        };
        let scopes: Vec<String> = claims.scopes().map(str::to_owned).collect();
        let principal = if claims.sub == claims.client_id {
            Principal::Client { id: claims.client_id.clone(), scopes }
        } else if let Some(id) = UserId::parse(&claims.sub) {
            Principal::User { id, client_id: claims.client_id.clone(), scopes, amr: claims.amr.clone() }
        } else {
            return Err(forbidden());
        };
        let ctx = crate::extract::request_context(&parts.extensions, &parts.headers);
        match state.admin.authorize(&principal, &ctx).await {
            Ok(cap) => Ok(Self(cap)),
            Err(RbacError::Forbidden(_)) => Err(forbidden()),
            Err(e) => Err(e.into()),
        }
    }
}

fn forbidden() -> ApiError {
    ApiError::forbidden("forbidden", "this token does not grant access to the admin API")
}

/// Query parameters, with unknown ones refused (400) in our error format.
pub struct AdminQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}

pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such user"))
}

/// The largest page a list answers (and the default of the audit trail).
pub const MAX_PAGE: u32 = 500;

/// `limit` of a list: absent means `default`; outside 1..=[`MAX_PAGE`] is refused (400), as the
/// document says, rather than quietly changed.
pub fn page_limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n @ 1..=MAX_PAGE) => Ok(n),
        Some(_) => Err(ApiError::bad_request("limit must be between 1 and 500")),
    }
}

/// A list and the cursor of the next page (absent on the last page).
#[derive(Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// For `Option<Option<T>>` fields: absent = `None` (leave alone), `null` = `Some(None)` (clear).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The CLI's capability must never be minted by the HTTP layer.
    #[test]
    fn http_never_uses_the_cli_capability() {
        let needle = ["operator", "_cli"].concat();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(d).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert!(!text.contains(&needle), "{} mints the CLI capability", path.display());
                }
            }
        }
    }
}
