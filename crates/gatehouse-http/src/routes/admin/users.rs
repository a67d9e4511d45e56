//! Admin API: users and their sessions and roles (`/admin/v1/users…`).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use gatehouse_core::Password;
use gatehouse_core::rbac::UserFilter;
use gatehouse_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};

use super::{Admin, AdminQuery, ListResponse, present, user_id};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::routes::UserResponse;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/users", get(list_users).post(create_user))
        .route("/admin/v1/users/{id}", get(show_user).patch(update_user).delete(delete_user))
        .route("/admin/v1/users/{id}/disable", post(disable_user))
        .route("/admin/v1/users/{id}/roles", get(user_roles))
        .route("/admin/v1/users/{id}/roles/{role}", put(grant_role).delete(revoke_role))
        .route("/admin/v1/users/{id}/sessions", get(sessions).delete(revoke_all_sessions))
        .route("/admin/v1/users/{id}/sessions/{session_id}", delete(revoke_session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListUsersQuery {
    after: Option<String>,
    limit: Option<u32>,
    /// Part of the email address (case-insensitive).
    q: Option<String>,
}

/// `GET /admin/v1/users?after=&limit=&q=`
async fn list_users(
    Admin(cap): Admin,
    State(state): State<AppState>,
    AdminQuery(query): AdminQuery<ListUsersQuery>,
) -> Result<Json<ListResponse<UserResponse>>, ApiError> {
    let after = query.after.as_deref().map(|a| user_id(a).map_err(|_| ApiError::bad_request("invalid cursor")));
    let filter = UserFilter { after: after.transpose()?, limit: query.limit.unwrap_or(50), email_contains: query.q };
    let page = state.admin.list_users(&cap, &filter).await?;
    Ok(Json(ListResponse { items: page.items.iter().map(UserResponse::from).collect(), next_cursor: page.next }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    email: String,
    password: Password,
    display_name: Option<String>,
}

/// `POST /admin/v1/users`
async fn create_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateUserRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let user = state.admin.create_user(&cap, &req.email, &req.password, req.display_name.as_deref(), &ctx).await?;
    Ok((StatusCode::CREATED, Json(UserResponse::from(&user))))
}

#[derive(Serialize)]
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
async fn show_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<UserDetailResponse>, ApiError> {
    let user = state.admin.user(&cap, user_id(&id)?).await?;
    Ok(Json(detail(&state, &cap, &user).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    status: Option<StatusValue>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum StatusValue {
    Active,
    Disabled,
}

/// `PATCH /admin/v1/users/{id}`: display name and status only.
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
async fn delete_user(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.delete_user(&cap, user_id(&id)?, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct RolesResponse {
    roles: Vec<String>,
}

/// `GET /admin/v1/users/{id}/roles`
async fn user_roles(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RolesResponse>, ApiError> {
    let roles = state.admin.rbac().user_roles(&cap, user_id(&id)?).await?;
    Ok(Json(RolesResponse { roles: roles.iter().map(ToString::to_string).collect() }))
}

/// `PUT /admin/v1/users/{id}/roles/{role}`: 201 when granted now, 200 when already held.
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
async fn revoke_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().revoke_user_role(&cap, user_id(&id)?, &role, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct SessionResponse {
    id: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// `GET /admin/v1/users/{id}/sessions`
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

#[derive(Serialize)]
pub struct RevokedResponse {
    sessions_ended: u64,
}

/// `DELETE /admin/v1/users/{id}/sessions`: ends every session of the user.
async fn revoke_all_sessions(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Json<RevokedResponse>, ApiError> {
    let sessions_ended = state.admin.revoke_all_sessions(&cap, user_id(&id)?, &ctx).await?;
    Ok(Json(RevokedResponse { sessions_ended }))
}
