//! Admin API: roles, permissions and role ↔ permission grants (`/admin/v1/roles…`,
//! `/admin/v1/permissions…`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::{Json, Router};
use gatehouse_core::rbac::{Permission, Role};
use serde::{Deserialize, Serialize};

use super::{Admin, ListResponse, present};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/roles", get(list_roles).post(create_role))
        .route("/admin/v1/roles/{name}", get(show_role).patch(update_role).delete(delete_role))
        .route("/admin/v1/roles/{name}/members", get(role_members))
        .route("/admin/v1/roles/{name}/permissions/{permission}", put(grant_permission).delete(revoke_permission))
        .route("/admin/v1/permissions", get(list_permissions).post(create_permission))
        .route("/admin/v1/permissions/{name}", get(show_permission).patch(update_permission).delete(delete_permission))
}

#[derive(Serialize)]
pub struct RoleResponse {
    name: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<String>>,
}

impl From<&Role> for RoleResponse {
    fn from(r: &Role) -> Self {
        Self {
            name: r.name.to_string(),
            description: r.description.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            permissions: None,
        }
    }
}

#[derive(Serialize)]
pub struct PermissionResponse {
    name: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<&Permission> for PermissionResponse {
    fn from(p: &Permission) -> Self {
        Self {
            name: p.name.to_string(),
            description: p.description.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    name: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

/// `GET /admin/v1/roles`
async fn list_roles(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<RoleResponse>>, ApiError> {
    let roles = state.admin.rbac().list_roles(&cap).await?;
    Ok(Json(ListResponse { items: roles.iter().map(RoleResponse::from).collect(), next_cursor: None }))
}

/// `POST /admin/v1/roles`
async fn create_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let role = state.admin.rbac().create_role(&cap, &req.name, req.description.as_deref(), &ctx).await?;
    Ok((StatusCode::CREATED, Json(RoleResponse::from(&role))))
}

/// `GET /admin/v1/roles/{name}`: with its permissions.
async fn show_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RoleResponse>, ApiError> {
    let (role, permissions) = state.admin.rbac().role(&cap, &name).await?;
    let mut out = RoleResponse::from(&role);
    out.permissions = Some(permissions.iter().map(ToString::to_string).collect());
    Ok(Json(out))
}

/// `PATCH /admin/v1/roles/{name}`: the description only (names are keys).
async fn update_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> Result<Json<RoleResponse>, ApiError> {
    let rbac = state.admin.rbac();
    let role = match req.description {
        Some(d) => rbac.update_role(&cap, &name, d.as_deref(), &ctx).await?,
        None => rbac.role(&cap, &name).await?.0,
    };
    Ok(Json(RoleResponse::from(&role)))
}

/// `DELETE /admin/v1/roles/{name}`: 403 for the built-in `admin` role.
async fn delete_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().delete_role(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct MembersResponse {
    users: Vec<String>,
}

/// `GET /admin/v1/roles/{name}/members`
async fn role_members(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<MembersResponse>, ApiError> {
    let users = state.admin.rbac().role_members(&cap, &name).await?;
    Ok(Json(MembersResponse { users: users.iter().map(ToString::to_string).collect() }))
}

/// `PUT /admin/v1/roles/{name}/permissions/{permission}`: 201 when granted now, 200 when held.
async fn grant_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((name, permission)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let added = state.admin.rbac().grant_permission(&cap, &name, &permission, &ctx).await?;
    Ok(if added { StatusCode::CREATED } else { StatusCode::OK })
}

/// `DELETE /admin/v1/roles/{name}/permissions/{permission}`
async fn revoke_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((name, permission)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().revoke_permission(&cap, &name, &permission, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/v1/permissions`
async fn list_permissions(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<PermissionResponse>>, ApiError> {
    let all = state.admin.rbac().list_permissions(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(PermissionResponse::from).collect(), next_cursor: None }))
}

/// `POST /admin/v1/permissions`
async fn create_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let p = state.admin.rbac().create_permission(&cap, &req.name, req.description.as_deref(), &ctx).await?;
    Ok((StatusCode::CREATED, Json(PermissionResponse::from(&p))))
}

/// `GET /admin/v1/permissions/{name}`
async fn show_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PermissionResponse>, ApiError> {
    let p = state.admin.rbac().permission(&cap, &name).await?;
    Ok(Json(PermissionResponse::from(&p)))
}

/// `PATCH /admin/v1/permissions/{name}`: the description only.
async fn update_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> Result<Json<PermissionResponse>, ApiError> {
    let rbac = state.admin.rbac();
    let p = match req.description {
        Some(d) => rbac.update_permission(&cap, &name, d.as_deref(), &ctx).await?,
        None => rbac.permission(&cap, &name).await?,
    };
    Ok(Json(PermissionResponse::from(&p)))
}

/// `DELETE /admin/v1/permissions/{name}`
async fn delete_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().delete_permission(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
