//! Admin API: roles, permissions and role ↔ permission grants (`/admin/v1/roles…`,
//! `/admin/v1/permissions…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::rbac::{Permission, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ErrorResponse, ListResponse, present};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

/// One `routes!` per path: each handler's `#[utoipa::path]` gives its method and path.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(show_role, update_role, delete_role))
        .routes(routes!(role_members))
        .routes(routes!(grant_permission, revoke_permission))
        .routes(routes!(list_permissions, create_permission))
        .routes(routes!(show_permission, update_permission, delete_permission))
}

#[derive(Serialize, ToSchema)]
pub struct RoleResponse {
    name: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
    /// Only when showing one role.
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

#[derive(Serialize, ToSchema)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Roles: a-z, 0-9, '_', '.', '-'; permissions: resource:action.
    name: String,
    description: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// Absent: unchanged; `null`: cleared.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
}

/// `GET /admin/v1/roles`
#[utoipa::path(
    get,
    path = "/admin/v1/roles",
    tag = "roles",
    responses((status = 200, description = "All roles, by name", body = ListResponse<RoleResponse>)),
)]
async fn list_roles(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<RoleResponse>>, ApiError> {
    let roles = state.admin.rbac().list_roles(&cap).await?;
    Ok(Json(ListResponse { items: roles.iter().map(RoleResponse::from).collect(), next_cursor: None }))
}

/// `POST /admin/v1/roles`
#[utoipa::path(
    post,
    path = "/admin/v1/roles",
    tag = "roles",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created", body = RoleResponse),
        (status = 409, description = "A role with this name exists", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/admin/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 200, description = "The role with its permissions", body = RoleResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    patch,
    path = "/admin/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "Role name")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Updated", body = RoleResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/admin/v1/roles/{name}",
    tag = "roles",
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 204, description = "Deleted with its grants"),
        (status = 403, description = "The built-in admin role cannot be deleted", body = ErrorResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
async fn delete_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().delete_role(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct MembersResponse {
    users: Vec<String>,
}

/// `GET /admin/v1/roles/{name}/members`
#[utoipa::path(
    get,
    path = "/admin/v1/roles/{name}/members",
    tag = "roles",
    params(("name" = String, Path, description = "Role name")),
    responses(
        (status = 200, description = "Ids of the users holding the role", body = MembersResponse),
        (status = 404, description = "No such role", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
async fn role_members(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<MembersResponse>, ApiError> {
    let users = state.admin.rbac().role_members(&cap, &name).await?;
    Ok(Json(MembersResponse { users: users.iter().map(ToString::to_string).collect() }))
}

/// `PUT /admin/v1/roles/{name}/permissions/{permission}`: 201 when granted now, 200 when held.
#[utoipa::path(
    put,
    path = "/admin/v1/roles/{name}/permissions/{permission}",
    tag = "roles",
    params(
        ("name" = String, Path, description = "Role name"),
        ("permission" = String, Path, description = "Permission name"),
    ),
    responses(
        (status = 201, description = "Granted now"),
        (status = 200, description = "The role already had it"),
        (status = 404, description = "No such role or permission", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/admin/v1/roles/{name}/permissions/{permission}",
    tag = "roles",
    params(
        ("name" = String, Path, description = "Role name"),
        ("permission" = String, Path, description = "Permission name"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The role does not have this permission", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/admin/v1/permissions",
    tag = "permissions",
    responses((status = 200, description = "All permissions, by name", body = ListResponse<PermissionResponse>)),
)]
async fn list_permissions(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<PermissionResponse>>, ApiError> {
    let all = state.admin.rbac().list_permissions(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(PermissionResponse::from).collect(), next_cursor: None }))
}

/// `POST /admin/v1/permissions`
#[utoipa::path(
    post,
    path = "/admin/v1/permissions",
    tag = "permissions",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Created", body = PermissionResponse),
        (status = 409, description = "A permission with this name exists", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/admin/v1/permissions/{name}",
    tag = "permissions",
    params(("name" = String, Path, description = "Permission name, resource:action")),
    responses(
        (status = 200, description = "The permission", body = PermissionResponse),
        (status = 404, description = "No such permission", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
async fn show_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PermissionResponse>, ApiError> {
    let p = state.admin.rbac().permission(&cap, &name).await?;
    Ok(Json(PermissionResponse::from(&p)))
}

/// `PATCH /admin/v1/permissions/{name}`: the description only.
#[utoipa::path(
    patch,
    path = "/admin/v1/permissions/{name}",
    tag = "permissions",
    params(("name" = String, Path, description = "Permission name, resource:action")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "Updated", body = PermissionResponse),
        (status = 404, description = "No such permission", body = ErrorResponse),
    ),
)]
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
#[utoipa::path(
    delete,
    path = "/admin/v1/permissions/{name}",
    tag = "permissions",
    params(("name" = String, Path, description = "Permission name, resource:action")),
    responses(
        (status = 204, description = "Deleted with its grants"),
        (status = 404, description = "No such permission", body = ErrorResponse),
        (status = 422, description = "Invalid name", body = ErrorResponse),
    ),
)]
async fn delete_permission(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().delete_permission(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
