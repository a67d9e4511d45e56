//! Admin API: mails sent to a user on an operator's request (`/admin/v1/users/{id}/…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ErrorResponse, user_id};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Client;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send_verification_email))
}

#[derive(Serialize, ToSchema)]
pub struct MailStatusResponse {
    /// `sent`, or `already_verified` (nothing was sent).
    status: &'static str,
}

/// `POST /admin/v1/users/{id}/verification-email`: mails the user a new verification link
/// (earlier links stop working).
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/verification-email",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 202, description = "A new link is on its way", body = MailStatusResponse),
        (status = 200, description = "The address is verified already; nothing was sent", body = MailStatusResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn send_verification_email(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(if state.admin.send_verification(&cap, user_id(&id)?, &ctx).await? {
        (StatusCode::ACCEPTED, Json(MailStatusResponse { status: "sent" })).into_response()
    } else {
        Json(MailStatusResponse { status: "already_verified" }).into_response()
    })
}
