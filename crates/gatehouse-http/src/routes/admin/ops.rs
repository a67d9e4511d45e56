//! Admin API: the audit trail (`/admin/v1/audit-events`, JSON or JSON lines) and signing keys
//! (`/admin/v1/keys`). OAuth clients are in `clients`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{AuditQuery, AuditRecord};
use gatehouse_core::keys::Algorithm;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, AdminQuery, ListResponse, MAX_PAGE, page_limit};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

/// One `routes!` per path: each handler's `#[utoipa::path]` gives its method and path.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_events)).routes(routes!(keys)).routes(routes!(rotate_key))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditEventsQuery {
    /// Unix seconds, inclusive.
    from: Option<i64>,
    /// Unix seconds, exclusive.
    until: Option<i64>,
    /// Event type, e.g. `login.succeeded`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    actor: Option<String>,
    subject: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `json` (default) or `jsonl` (every matching event, one JSON object per line).
    #[param(pattern = "^jsonl?$")]
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventResponse {
    id: i64,
    occurred_at: i64,
    #[serde(rename = "type")]
    event_type: String,
    actor: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    outcome: String,
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditRecord> for AuditEventResponse {
    fn from(r: AuditRecord) -> Self {
        let e = r.event;
        Self {
            id: r.id,
            occurred_at: e.occurred_at,
            event_type: e.event_type,
            actor: e.actor,
            subject: e.subject,
            ip: e.ip,
            user_agent: e.user_agent,
            outcome: e.outcome,
            details: e.details,
        }
    }
}

/// The most a JSON-lines export returns in one response; narrow the time range for more.
pub(crate) const EXPORT_MAX: usize = 100_000;

/// `GET /admin/v1/audit-events?from=&until=&type=&actor=&subject=&cursor=&limit=&format=`
#[utoipa::path(
    get,
    path = "/admin/v1/audit-events",
    tag = "audit",
    params(AuditEventsQuery),
    responses(
        (
            status = 200,
            description = "format=json: a page of events, newest first; format=jsonl: every matching event, \
                           one JSON object per line",
            content(
                (ListResponse<AuditEventResponse> = "application/json"),
                (String = "application/jsonl"),
            ),
        ),
    ),
)]
async fn audit_events(
    Admin(cap): Admin,
    State(state): State<AppState>,
    AdminQuery(q): AdminQuery<AuditEventsQuery>,
) -> Result<Response, ApiError> {
    let before_id = match q.cursor.as_deref() {
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::bad_request("invalid cursor"))?),
        None => None,
    };
    let mut query = AuditQuery {
        from: q.from,
        until: q.until,
        event_type: q.event_type,
        actor: q.actor,
        subject: q.subject,
        before_id,
        limit: page_limit(q.limit, 100)?,
    };
    match q.format.as_deref() {
        None | Some("json") => {
            let page = state.admin.audit_events(&cap, &query).await?;
            let items = page.items.into_iter().map(AuditEventResponse::from).collect();
            Ok(Json(ListResponse { items, next_cursor: page.next }).into_response())
        }
        Some("jsonl") => {
            query.limit = MAX_PAGE;
            let body = export_lines(&state, &cap, query).await?;
            Ok(([(header::CONTENT_TYPE, "application/jsonl")], body).into_response())
        }
        Some(_) => Err(ApiError::bad_request("format must be json or jsonl")),
    }
}

/// Every event matching `query` from its `before_id` on, newest first, one JSON object per line
/// (the fields of [`AuditEventResponse`]); after [`EXPORT_MAX`] events the export stops at the
/// end of that page. The API's `format=jsonl` and the console's export both answer this.
pub(crate) async fn export_lines(
    state: &AppState,
    cap: &gatehouse_core::rbac::AdminCapability,
    mut query: AuditQuery,
) -> Result<String, ApiError> {
    let mut body = String::new();
    let mut count = 0;
    loop {
        let page = state.admin.audit_events(cap, &query).await?;
        for record in page.items {
            let line = serde_json::to_string(&AuditEventResponse::from(record))
                .map_err(|e| ApiError::internal_cause(format_args!("audit event does not serialise: {e}")))?;
            body.push_str(&line);
            body.push('\n');
            count += 1;
        }
        match page.next {
            Some(next) if count < EXPORT_MAX => query.before_id = next.parse().ok(),
            _ => break,
        }
    }
    Ok(body)
}

#[derive(Serialize, ToSchema)]
pub struct KeyResponse {
    kid: String,
    alg: &'static str,
    state: &'static str,
    created_at: i64,
    activates_at: i64,
    unpublish_at: Option<i64>,
}

/// `GET /admin/v1/keys`
#[utoipa::path(
    get,
    path = "/admin/v1/keys",
    tag = "keys",
    responses((status = 200, description = "Signing keys and their states", body = ListResponse<KeyResponse>)),
)]
async fn keys(Admin(cap): Admin, State(state): State<AppState>) -> Json<ListResponse<KeyResponse>> {
    let items = state
        .admin
        .keys(&cap)
        .into_iter()
        .map(|k| KeyResponse {
            kid: k.kid,
            alg: k.alg.as_str(),
            state: k.state,
            created_at: k.created_at,
            activates_at: k.activates_at,
            unpublish_at: k.unpublish_at,
        })
        .collect();
    Json(ListResponse { items, next_cursor: None })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// ES256, EdDSA or RS256.
    #[schema(pattern = "^(ES256|EdDSA|RS256)$")]
    alg: String,
    /// Sign with the new key at once instead of after the publication delay.
    #[serde(default)]
    immediately: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RotateResponse {
    kid: String,
}

/// `POST /admin/v1/keys/rotate`
#[utoipa::path(
    post,
    path = "/admin/v1/keys/rotate",
    tag = "keys",
    request_body = RotateRequest,
    responses((status = 201, description = "A new key; published now, signing once active", body = RotateResponse)),
)]
async fn rotate_key(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<RotateRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let alg = Algorithm::parse(&req.alg).ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", "alg must be ES256, EdDSA or RS256")
    })?;
    let kid = state.admin.rotate_key(&cap, alg, req.immediately, &ctx).await?;
    Ok((StatusCode::CREATED, Json(RotateResponse { kid })))
}
