//! Admin API: Cedar policies and the Cedar schema (`/admin/v1/policies…`,
//! `/admin/v1/policy-schema`). A document that does not parse or validate is refused with
//! Cedar's message (422) and never stored; every stored change is a new version.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_core::policy::PolicyVersion;
use serde::{Deserialize, Serialize};

use super::{Admin, ListResponse};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/policies", get(list_policies))
        .route("/admin/v1/policies/{name}", get(show_policy).put(put_policy).delete(delete_policy))
        .route("/admin/v1/policy-schema", get(show_schema).put(put_schema))
}

/// One version of a policy (or of the schema). `body` is absent on a deletion.
#[derive(Serialize)]
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// Cedar text.
    body: String,
}

#[derive(Serialize)]
pub struct PolicyResponse {
    #[serde(flatten)]
    current: VersionResponse,
    versions: Vec<VersionResponse>,
}

/// `GET /admin/v1/policies`: the active policies, latest version of each.
async fn list_policies(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<VersionResponse>>, ApiError> {
    let all = state.policies.list(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(VersionResponse::from).collect(), next_cursor: None }))
}

/// `GET /admin/v1/policies/{name}`: the latest version and every version, oldest first.
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
async fn delete_policy(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.policies.delete(&cap, &name, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct SchemaResponse {
    body: String,
    /// `true` while no schema was stored and the built-in one applies.
    default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
}

/// `GET /admin/v1/policy-schema`
async fn show_schema(Admin(cap): Admin, State(state): State<AppState>) -> Result<Json<SchemaResponse>, ApiError> {
    let doc = state.policies.schema(&cap).await?;
    Ok(Json(SchemaResponse { body: doc.text, default: doc.version.is_none(), version: doc.version.map(|v| v.version) }))
}

/// `PUT /admin/v1/policy-schema`: refused (422) when it does not parse or would invalidate a
/// stored policy.
async fn put_schema(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<DocumentRequest>,
) -> Result<Json<VersionResponse>, ApiError> {
    let v = state.policies.put_schema(&cap, &req.body, &ctx).await?;
    Ok(Json(VersionResponse::from(&v)))
}
