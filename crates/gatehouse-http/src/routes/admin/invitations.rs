//! Admin API: invitations to create an account (`/admin/v1/invitations…`). The link itself is
//! only ever mailed to the invited address: no response carries it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::invitation::Invitation;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Admin, AdminQuery, ErrorResponse, ListResponse, page_limit};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_invitations, create_invitation)).routes(routes!(revoke_invitation))
}

/// An invitation as the admin API shows it (never its token).
#[derive(Serialize, ToSchema)]
pub struct InvitationResponse {
    id: String,
    email: String,
    roles: Vec<String>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    status: &'static str,
    /// Who invited: a user id, `client:<id>` or `cli`.
    invited_by: String,
    created_at: i64,
    expires_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted_at: Option<i64>,
    /// The account the invitation created (absent if deleted since).
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<i64>,
}

impl InvitationResponse {
    fn new(i: &Invitation, now: i64) -> Self {
        Self {
            id: i.id.to_string(),
            email: i.email.as_str().to_owned(),
            roles: i.roles.iter().map(ToString::to_string).collect(),
            status: i.status(now).as_str(),
            invited_by: i.invited_by.clone(),
            created_at: i.created_at,
            expires_at: i.expires_at,
            accepted_at: i.accepted_at,
            accepted_user_id: i.accepted_user_id.map(|u| u.to_string()),
            revoked_at: i.revoked_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    email: String,
    /// Roles granted when the invitation is accepted; each must exist.
    #[serde(default)]
    roles: Vec<String>,
}

/// `POST /admin/v1/invitations`: mails a single-use link to the address.
#[utoipa::path(
    post,
    path = "/admin/v1/invitations",
    tag = "invitations",
    request_body = CreateInvitationRequest,
    responses(
        (status = 201, description = "Invited; a newer invitation replaces an open one", body = InvitationResponse),
        (status = 409, description = "An account with this email address exists", body = ErrorResponse),
        (status = 422, description = "Malformed address or unknown role", body = ErrorResponse),
    ),
)]
async fn create_invitation(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateInvitationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let invitation = state.invitations.invite(&cap, &req.email, &req.roles, &ctx).await?;
    Ok((StatusCode::CREATED, Json(InvitationResponse::new(&invitation, state.invitations.now()))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListInvitationsQuery {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// `GET /admin/v1/invitations?after=&limit=`
#[utoipa::path(
    get,
    path = "/admin/v1/invitations",
    tag = "invitations",
    params(ListInvitationsQuery),
    responses((status = 200, description = "A page of invitations, oldest first", body = ListResponse<InvitationResponse>)),
)]
async fn list_invitations(
    Admin(cap): Admin,
    State(state): State<AppState>,
    AdminQuery(query): AdminQuery<ListInvitationsQuery>,
) -> Result<Json<ListResponse<InvitationResponse>>, ApiError> {
    let after = query.after.as_deref().map(|a| Uuid::try_parse(a).map_err(|_| ApiError::bad_request("invalid cursor")));
    let page = state.invitations.list(&cap, after.transpose()?, page_limit(query.limit, 50)?).await?;
    let now = state.invitations.now();
    Ok(Json(ListResponse {
        items: page.items.iter().map(|i| InvitationResponse::new(i, now)).collect(),
        next_cursor: page.next,
    }))
}

/// `DELETE /admin/v1/invitations/{id}`: the link stops working.
#[utoipa::path(
    delete,
    path = "/admin/v1/invitations/{id}",
    tag = "invitations",
    params(("id" = String, Path, description = "Invitation id (UUID)")),
    responses(
        (status = 204, description = "Revoked (also when it was already)"),
        (status = 404, description = "No such invitation", body = ErrorResponse),
        (status = 409, description = "The invitation has already been accepted", body = ErrorResponse),
    ),
)]
async fn revoke_invitation(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id =
        Uuid::try_parse(&id).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such invitation"))?;
    state.invitations.revoke(&cap, id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
