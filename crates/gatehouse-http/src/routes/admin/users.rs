//! Admin API: users and their sessions and roles (`/admin/v1/users…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::Password;
use gatehouse_core::rbac::UserFilter;
use gatehouse_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, AdminQuery, ErrorResponse, ListResponse, page_limit, present, user_id};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::routes::UserResponse;

/// One `routes!` per path: each handler's `#[utoipa::path]` gives its method and path.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(show_user, update_user, delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(user_roles))
        .routes(routes!(grant_role, revoke_role))
        .routes(routes!(sessions, revoke_all_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// The `next_cursor` of the previous page.
    after: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Part of the email address (case-insensitive).
    q: Option<String>,
}

/// `GET /admin/v1/users?after=&limit=&q=`
#[utoipa::path(
    get,
    path = "/admin/v1/users",
    tag = "users",
    params(ListUsersQuery),
    responses((status = 200, description = "A page of users in id order", body = ListResponse<UserResponse>)),
)]
async fn list_users(
    Admin(cap): Admin,
    State(state): State<AppState>,
    AdminQuery(query): AdminQuery<ListUsersQuery>,
) -> Result<Json<ListResponse<UserResponse>>, ApiError> {
    let after = query.after.as_deref().map(|a| user_id(a).map_err(|_| ApiError::bad_request("invalid cursor")));
    let filter = UserFilter { after: after.transpose()?, limit: page_limit(query.limit, 50)?, email_contains: query.q };
    let page = state.admin.list_users(&cap, &filter).await?;
    Ok(Json(ListResponse { items: page.items.iter().map(UserResponse::from).collect(), next_cursor: page.next }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: String,
    /// Checked against the password policy (length, common passwords).
    #[schema(value_type = String, format = Password)]
    password: Password,
    display_name: Option<String>,
}

/// `POST /admin/v1/users`
#[utoipa::path(
    post,
    path = "/admin/v1/users",
    tag = "users",
    request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserResponse),
        (status = 409, description = "An account with this email address exists", body = ErrorResponse),
    ),
)]
async fn create_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = state.admin.create_user(&cap, &req.email, &req.password, req.display_name.as_deref(), &ctx).await?;
    Ok((StatusCode::CREATED, Json(UserResponse::from(&user))))
}

#[derive(Serialize, ToSchema)]
pub struct UserDetailResponse {
    #[serde(flatten)]
    user: UserResponse,
    updated_at: i64,
    roles: Vec<String>,
}

async fn detail(
    state: &AppState,
    cap: &gatehouse_core::rbac::AdminCapability,
    user: &User,
) -> Result<UserDetailResponse, ApiError> {
    let roles = state.admin.rbac().user_roles(cap, user.id).await?;
    Ok(UserDetailResponse {
        user: UserResponse::from(user),
        updated_at: user.updated_at,
        roles: roles.iter().map(ToString::to_string).collect(),
    })
}

/// `GET /admin/v1/users/{id}`
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The user with their roles", body = UserDetailResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn show_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserDetailResponse>, ApiError> {
    let user = state.admin.user(&cap, user_id(&id)?).await?;
    Ok(Json(detail(&state, &cap, &user).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    display_name: Option<Option<String>>,
    status: Option<StatusValue>,
}

#[derive(Deserialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
enum StatusValue {
    Active,
    Disabled,
}

/// `PATCH /admin/v1/users/{id}`: display name and status only.
#[utoipa::path(
    patch,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserDetailResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
        (status = 409, description = "The last active admin cannot be disabled or deleted", body = ErrorResponse),
    ),
)]
async fn update_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateUserRequest>,
) -> Result<Json<UserDetailResponse>, ApiError> {
    let status = req.status.map(|s| match s {
        StatusValue::Active => UserStatus::Active,
        StatusValue::Disabled => UserStatus::Disabled,
    });
    let name = req.display_name.as_ref().map(Option::as_deref);
    let user = state.admin.update_user(&cap, user_id(&id)?, name, status, &ctx).await?;
    Ok(Json(detail(&state, &cap, &user).await?))
}

/// `POST /admin/v1/users/{id}/disable`: also ends the user's sessions and refresh tokens.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/disable",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Disabled; sessions and refresh tokens ended"),
        (status = 404, description = "No such user", body = ErrorResponse),
        (status = 409, description = "The last active admin cannot be disabled or deleted", body = ErrorResponse),
    ),
)]
async fn disable_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.disable_user(&cap, user_id(&id)?, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /admin/v1/users/{id}`
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = ErrorResponse),
        (status = 409, description = "The last active admin cannot be disabled or deleted", body = ErrorResponse),
    ),
)]
async fn delete_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.delete_user(&cap, user_id(&id)?, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RolesResponse {
    roles: Vec<String>,
}

/// `GET /admin/v1/users/{id}/roles`
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}/roles",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The user's roles", body = RolesResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn user_roles(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RolesResponse>, ApiError> {
    let roles = state.admin.rbac().user_roles(&cap, user_id(&id)?).await?;
    Ok(Json(RolesResponse { roles: roles.iter().map(ToString::to_string).collect() }))
}

/// `PUT /admin/v1/users/{id}/roles/{role}`: 201 when granted now, 200 when already held.
#[utoipa::path(
    put,
    path = "/admin/v1/users/{id}/roles/{role}",
    tag = "users",
    params(
        ("id" = String, Path, description = "User id (UUID)"),
        ("role" = String, Path, description = "Role name"),
    ),
    responses(
        (status = 201, description = "Granted now"),
        (status = 200, description = "The user already held it"),
        (status = 403, description = "Nobody grants a role to themselves", body = ErrorResponse),
        (status = 404, description = "No such user or role", body = ErrorResponse),
        (status = 422, description = "Invalid role name", body = ErrorResponse),
    ),
)]
async fn grant_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let added = state.admin.rbac().grant_user_role(&cap, user_id(&id)?, &role, &ctx).await?;
    Ok(if added { StatusCode::CREATED } else { StatusCode::OK })
}

/// `DELETE /admin/v1/users/{id}/roles/{role}`: 409 `last_admin` for the last active admin.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/roles/{role}",
    tag = "users",
    params(
        ("id" = String, Path, description = "User id (UUID)"),
        ("role" = String, Path, description = "Role name"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The user does not hold the role", body = ErrorResponse),
        (status = 409, description = "The last active admin keeps the admin role", body = ErrorResponse),
        (status = 422, description = "Invalid role name", body = ErrorResponse),
    ),
)]
async fn revoke_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().revoke_user_role(&cap, user_id(&id)?, &role, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// The session id, or for a token login its refresh-token family id.
    id: String,
    /// `browser` (a session cookie) or `token` (a first-party token login).
    kind: &'static str,
    /// `gatehouse` for token logins.
    client_id: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// `GET /admin/v1/users/{id}/sessions`
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}/sessions",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "The user's live sign-ins: browser sessions and first-party token logins", body = ListResponse<SessionResponse>),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn sessions(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<SessionResponse>>, ApiError> {
    let sessions = state.admin.sessions(&cap, user_id(&id)?).await?;
    let items = sessions
        .into_iter()
        .map(|s| SessionResponse {
            id: s.id.to_string(),
            kind: s.kind.as_str(),
            client_id: s.client_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(Json(ListResponse { items, next_cursor: None }))
}

/// `DELETE /admin/v1/users/{id}/sessions/{session_id}`: a session of another user is 404.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/sessions/{session_id}",
    tag = "users",
    params(
        ("id" = String, Path, description = "User id (UUID)"),
        ("session_id" = String, Path, description = "Session id (UUID)"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No such session of this user", body = ErrorResponse),
    ),
)]
async fn revoke_session(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let session = uuid::Uuid::try_parse(&session_id).map_err(|_| ApiError::not_found())?;
    state.admin.revoke_session(&cap, user_id(&id)?, session, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct RevokedResponse {
    /// Browser sessions deleted.
    sessions_ended: u64,
    /// Refresh-token families revoked: first-party token logins and OAuth grants.
    refresh_families_revoked: u64,
}

/// `DELETE /admin/v1/users/{id}/sessions`: ends every sign-in of the user (browser sessions,
/// first-party token logins, OAuth grants).
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/sessions",
    tag = "users",
    params(("id" = String, Path, description = "User id (UUID)")),
    responses(
        (status = 200, description = "What was ended", body = RevokedResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ),
)]
async fn revoke_all_sessions(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    let ended = state.admin.revoke_all_sessions(&cap, user_id(&id)?, &ctx).await?;
    Ok(Json(RevokedResponse { sessions_ended: ended.sessions, refresh_families_revoked: ended.refresh_families }))
}
