//! Admin API: resource servers (`/admin/v1/resource-servers…`, RFC 8707): register, list, read,
//! change, delete. Every rule is in `gatehouse_core::oauth::ResourceRegistration`, every change
//! goes through `gatehouse_core::rbac::ResourceAdmin` (audited), shared with the command line.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::oauth::{ResourceRegistration, ResourceServer, ResourceUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Admin, ErrorResponse, ListResponse, present};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_resource_servers, create_resource_server)).routes(routes!(
        show_resource_server,
        update_resource_server,
        delete_resource_server
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ResourceServerResponse {
    id: String,
    /// The resource indicator clients send (RFC 8707 §2) and the `aud` of its tokens.
    identifier: String,
    name: String,
    /// The scopes its tokens may carry.
    scopes: Vec<String>,
    /// Seconds; null: the server's default.
    access_token_lifetime: Option<i64>,
    /// ES256, EdDSA or RS256.
    signing_alg: &'static str,
    /// Whether its tokens may carry the `permissions` claim.
    allow_permissions: bool,
    created_at: i64,
    updated_at: i64,
    revision: i64,
}

impl From<&ResourceServer> for ResourceServerResponse {
    fn from(r: &ResourceServer) -> Self {
        Self {
            id: r.id.to_string(),
            identifier: r.identifier.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            access_token_lifetime: r.access_token_lifetime,
            signing_alg: r.signing_alg.as_str(),
            allow_permissions: r.allow_permissions,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
        }
    }
}

fn resource_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource server"))
}

/// `GET /admin/v1/resource-servers`
#[utoipa::path(
    get,
    path = "/admin/v1/resource-servers",
    tag = "resource-servers",
    responses((status = 200, description = "All resource servers, by identifier", body = ListResponse<ResourceServerResponse>)),
)]
async fn list_resource_servers(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<ResourceServerResponse>>, ApiError> {
    let all = state.admin.resource_admin().resource_servers(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(ResourceServerResponse::from).collect(), next_cursor: None }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResourceServerRequest {
    /// An absolute URI without a fragment (RFC 8707 §2), compared exactly; not Gatehouse's own
    /// audience.
    #[schema(pattern = "^[A-Za-z][A-Za-z0-9+.-]*:[!-\"$-~]*$", max_length = 512, example = "https://api.example.com/")]
    identifier: String,
    #[schema(min_length = 1, max_length = 200, example = "Posts API")]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
    /// 60 to 86400 seconds; absent: the server's default.
    access_token_lifetime: Option<i64>,
    /// ES256 (default), EdDSA or RS256.
    #[schema(example = "ES256")]
    signing_alg: Option<String>,
    #[serde(default)]
    allow_permissions: bool,
}

/// `POST /admin/v1/resource-servers`
#[utoipa::path(
    post,
    path = "/admin/v1/resource-servers",
    tag = "resource-servers",
    request_body = CreateResourceServerRequest,
    responses(
        (status = 201, description = "Registered", body = ResourceServerResponse),
        (status = 409, description = "The identifier is registered already", body = ErrorResponse),
        (status = 422, description = "A registration rule is not met", body = ErrorResponse),
    ),
)]
async fn create_resource_server(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateResourceServerRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let registration = ResourceRegistration {
        identifier: req.identifier,
        name: req.name,
        scopes: req.scopes,
        access_token_lifetime: req.access_token_lifetime,
        signing_alg: req.signing_alg,
        allow_permissions: req.allow_permissions,
    };
    let rs = state.admin.resource_admin().create(&cap, registration, &ctx).await?;
    Ok((StatusCode::CREATED, Json(ResourceServerResponse::from(&rs))))
}

/// `GET /admin/v1/resource-servers/{id}`
#[utoipa::path(
    get,
    path = "/admin/v1/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "Resource server id (a UUID)")),
    responses(
        (status = 200, description = "The resource server", body = ResourceServerResponse),
        (status = 404, description = "No such resource server", body = ErrorResponse),
    ),
)]
async fn show_resource_server(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResourceServerResponse>, ApiError> {
    let rs = state.admin.resource_admin().resource_server(&cap, resource_id(&id)?).await?;
    Ok(Json(ResourceServerResponse::from(&rs)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateResourceServerRequest {
    name: Option<String>,
    /// Replaces the list.
    scopes: Option<Vec<String>>,
    /// Absent: unchanged; `null`: the server default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    access_token_lifetime: Option<Option<i64>>,
    signing_alg: Option<String>,
    allow_permissions: Option<bool>,
}

/// `PATCH /admin/v1/resource-servers/{id}`: absent fields are unchanged (the identifier never
/// changes: register a new resource server instead).
#[utoipa::path(
    patch,
    path = "/admin/v1/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "Resource server id (a UUID)")),
    request_body = UpdateResourceServerRequest,
    responses(
        (status = 200, description = "The changed resource server", body = ResourceServerResponse),
        (status = 404, description = "No such resource server", body = ErrorResponse),
        (status = 409, description = "It changed meanwhile: read it again and retry", body = ErrorResponse),
        (status = 422, description = "A registration rule is not met; nothing changed", body = ErrorResponse),
    ),
)]
async fn update_resource_server(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateResourceServerRequest>,
) -> Result<Json<ResourceServerResponse>, ApiError> {
    let update = ResourceUpdate {
        name: req.name,
        scopes: req.scopes,
        access_token_lifetime: req.access_token_lifetime,
        signing_alg: req.signing_alg,
        allow_permissions: req.allow_permissions,
    };
    let rs = state.admin.resource_admin().update(&cap, resource_id(&id)?, update, &ctx).await?;
    Ok(Json(ResourceServerResponse::from(&rs)))
}

/// `DELETE /admin/v1/resource-servers/{id}`
#[utoipa::path(
    delete,
    path = "/admin/v1/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "Resource server id (a UUID)")),
    responses(
        (
            status = 204,
            description = "Deleted: no new tokens name it; a refresh asking for it is refused with invalid_target",
        ),
        (status = 404, description = "No such resource server", body = ErrorResponse),
    ),
)]
async fn delete_resource_server(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.resource_admin().delete(&cap, resource_id(&id)?, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
