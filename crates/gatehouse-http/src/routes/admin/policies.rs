//! Admin API: Cedar policies and the Cedar schema (`/admin/v1/policies…`,
//! `/admin/v1/policy-schema`). A document that does not parse or validate is refused with
//! Cedar's message (422) and never stored; every stored change is a new version.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::policy::PolicyVersion;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ErrorResponse, ListResponse};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

/// One `routes!` per path: each handler's `#[utoipa::path]` gives its method and path.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies))
        .routes(routes!(show_policy, put_policy, delete_policy))
        .routes(routes!(show_schema, put_schema))
}

/// One version of a policy (or of the schema). `body` is absent on a deletion.
#[derive(Serialize, ToSchema)]
pub struct VersionResponse {
    name: String,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    deleted: bool,
    author: String,
    created_at: i64,
    /// The store revision this version created.
    revision: i64,
}

impl From<&PolicyVersion> for VersionResponse {
    fn from(v: &PolicyVersion) -> Self {
        Self {
            name: v.name.clone(),
            version: v.version,
            body: v.body.clone(),
            deleted: v.body.is_none(),
            author: v.author.clone(),
            created_at: v.created_at,
            revision: v.revision,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// Cedar text.
    body: String,
}

#[derive(Serialize, ToSchema)]
pub struct PolicyResponse {
    #[serde(flatten)]
    current: VersionResponse,
    versions: Vec<VersionResponse>,
}

/// `GET /admin/v1/policies`: the active policies, latest version of each.
#[utoipa::path(
    get,
    path = "/admin/v1/policies",
    tag = "policies",
    responses((status = 200, description = "The active policies", body = ListResponse<VersionResponse>)),
)]
async fn list_policies(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<VersionResponse>>, ApiError> {
    let all = state.policies.list(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(VersionResponse::from).collect(), next_cursor: None }))
}

/// `GET /admin/v1/policies/{name}`: the latest version and every version, oldest first.
#[utoipa::path(
    get,
    path = "/admin/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "Policy name")),
    responses(
        (status = 200, description = "The latest version and the history", body = PolicyResponse),
        (status = 404, description = "No such policy", body = ErrorResponse),
        (status = 422, description = "Invalid policy name", body = ErrorResponse),
    ),
)]
async fn show_policy(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PolicyResponse>, ApiError> {
    let versions = state.policies.versions(&cap, &name).await?;
    let current = versions.last().map(VersionResponse::from).ok_or_else(ApiError::not_found)?;
    Ok(Json(PolicyResponse { current, versions: versions.iter().map(VersionResponse::from).collect() }))
}

/// `PUT /admin/v1/policies/{name}`: stores the next version (201 the first time, 200 after).
#[utoipa::path(
    put,
    path = "/admin/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "Policy name")),
    request_body = DocumentRequest,
    responses(
        (status = 200, description = "A new version", body = VersionResponse),
        (status = 201, description = "The first version", body = VersionResponse),
        (status = 409, description = "A concurrent change won; retry", body = ErrorResponse),
        (status = 422, description = "Invalid policy name, or the document does not parse or validate (Cedar's message)", body = ErrorResponse),
    ),
)]
async fn put_policy(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<DocumentRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let v = state.policies.put(&cap, &name, &req.body, &ctx).await?;
    let status = if v.version == 1 { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(VersionResponse::from(&v))))
}

/// `DELETE /admin/v1/policies/{name}`: a deletion version; the history stays.
#[utoipa::path(
    delete,
    path = "/admin/v1/policies/{name}",
    tag = "policies",
    params(("name" = String, Path, description = "Policy name")),
    responses(
        (status = 204, description = "Deleted (the history stays)"),
        (status = 404, description = "No such policy", body = ErrorResponse),
        (status = 422, description = "Invalid policy name", body = ErrorResponse),
    ),
)]
async fn delete_policy(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.policies.delete(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SchemaResponse {
    body: String,
    /// `true` while no schema was stored and the built-in one applies.
    default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
}

/// `GET /admin/v1/policy-schema`: the stored Cedar schema, or the built-in one.
#[utoipa::path(
    get,
    path = "/admin/v1/policy-schema",
    tag = "policies",
    responses((status = 200, description = "The schema in force", body = SchemaResponse)),
)]
async fn show_schema(Admin(cap): Admin, State(state): State<AppState>) -> Result<Json<SchemaResponse>, ApiError> {
    let doc = state.policies.schema(&cap).await?;
    Ok(Json(SchemaResponse { body: doc.text, default: doc.version.is_none(), version: doc.version.map(|v| v.version) }))
}

/// `PUT /admin/v1/policy-schema`: refused (422) when it does not parse or would invalidate a
/// stored policy.
#[utoipa::path(
    put,
    path = "/admin/v1/policy-schema",
    tag = "policies",
    request_body = DocumentRequest,
    responses(
        (status = 200, description = "A new schema version", body = VersionResponse),
        (status = 409, description = "A concurrent change won; retry", body = ErrorResponse),
        (status = 422, description = "The document does not parse or validate (Cedar's message)", body = ErrorResponse),
    ),
)]
async fn put_schema(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<DocumentRequest>,
) -> Result<Json<VersionResponse>, ApiError> {
    let v = state.policies.put_schema(&cap, &req.body, &ctx).await?;
    Ok(Json(VersionResponse::from(&v)))
}
