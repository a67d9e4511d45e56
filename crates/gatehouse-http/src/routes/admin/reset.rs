//! Admin API: have a password-reset link mailed to a user (`/admin/v1/users/{id}/password-reset`),
//! and remove a user's second factors (`/admin/v1/users/{id}/mfa/reset`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ErrorResponse, user_id};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Client;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(password_reset)).routes(routes!(mfa_reset))
}

/// `POST /admin/v1/users/{id}/password-reset`: mails the user a single-use reset link (their
/// older links stop working). The password itself is unchanged until the link is used.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/password-reset",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 202, description = "A reset link was sent to the user's address"),
        (status = 404, description = "No such user", body = ErrorResponse),
        (status = 422, description = "The account is disabled", body = ErrorResponse),
    ),
)]
async fn password_reset(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.accounts.admin_password_reset(&cap, user_id(&id)?, &ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MfaResetResponse {
    /// Whether the user had a second factor (authenticator app or passkeys) that was removed.
    pub removed: bool,
}

/// `POST /admin/v1/users/{id}/mfa/reset`: removes the user's authenticator app, passkeys and
/// recovery codes (for a user who lost them) and lifts a second-step lock; audited (`mfa.reset`) and
/// mailed to the user. The user signs in with the password alone until they set up again.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/mfa/reset",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The second factors were removed (or there were none)", body = MfaResetResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn mfa_reset(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<axum::Json<MfaResetResponse>, ApiError> {
    let removed = state.accounts.reset_mfa(&cap, user_id(&id)?, &ctx).await?;
    Ok(axum::Json(MfaResetResponse { removed }))
}
