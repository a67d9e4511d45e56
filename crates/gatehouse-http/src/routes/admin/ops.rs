//! Admin API: the audit trail (`/admin/v1/audit-events`, JSON or JSON lines), signing keys
//! (`/admin/v1/keys`) and OAuth clients with their roles (`/admin/v1/clients…`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::audit::{AuditQuery, AuditRecord};
use gatehouse_core::keys::Algorithm;
use gatehouse_core::oauth::{Client as OAuthClient, ClientRegistration};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, AdminQuery, ErrorResponse, ListResponse, MAX_PAGE, page_limit};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

/// One `routes!` per path: each handler's `#[utoipa::path]` gives its method and path.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_events))
        .routes(routes!(keys))
        .routes(routes!(rotate_key))
        .routes(routes!(list_clients, create_client))
        .routes(routes!(show_client, delete_client))
        .routes(routes!(client_roles))
        .routes(routes!(grant_client_role, revoke_client_role))
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

#[derive(Serialize, ToSchema)]
pub struct ClientResponse {
    client_id: String,
    name: String,
    public: bool,
    token_endpoint_auth_method: &'static str,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<&'static str>,
    scopes: Vec<String>,
    cors_origins: Vec<String>,
    skip_consent: bool,
    /// Every sign-in for this client must use a second factor (acr `urn:gatehouse:acr:mfa`).
    require_mfa: bool,
    access_token_lifetime: Option<i64>,
    created_at: i64,
    /// The public JWK Set of a private_key_jwt client.
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<serde_json::Value>,
    /// Only in the answer to a create, once.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

impl From<&OAuthClient> for ClientResponse {
    fn from(c: &OAuthClient) -> Self {
        Self {
            client_id: c.id.clone(),
            name: c.name.clone(),
            public: c.is_public(),
            token_endpoint_auth_method: c.auth_method.as_str(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            scopes: c.scopes.clone(),
            cors_origins: c.cors_origins.clone(),
            skip_consent: c.skip_consent,
            require_mfa: c.require_mfa,
            access_token_lifetime: c.access_token_lifetime,
            created_at: c.created_at,
            jwks: c.jwks.as_ref().map(|j| j.as_json().clone()),
            client_secret: None,
        }
    }
}

/// `GET /admin/v1/clients`
#[utoipa::path(
    get,
    path = "/admin/v1/clients",
    tag = "clients",
    responses((status = 200, description = "All clients", body = ListResponse<ClientResponse>)),
)]
async fn list_clients(
    Admin(cap): Admin,
    State(state): State<AppState>,
) -> Result<Json<ListResponse<ClientResponse>>, ApiError> {
    let all = state.admin.clients(&cap).await?;
    Ok(Json(ListResponse { items: all.iter().map(ClientResponse::from).collect(), next_cursor: None }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    name: String,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    cors_origins: Vec<String>,
    #[serde(default)]
    skip_consent: bool,
    /// Require a second factor of every sign-in for this client: users without one get no
    /// code; needs the authorization_code grant.
    #[serde(default)]
    require_mfa: bool,
    token_endpoint_auth_method: Option<String>,
    access_token_lifetime: Option<i64>,
    /// The client's public JWK Set, for `token_endpoint_auth_method` private_key_jwt (RFC 7591 §2).
    jwks: Option<serde_json::Value>,
}

/// `POST /admin/v1/clients`: the secret of a confidential client is in this answer only.
#[utoipa::path(
    post,
    path = "/admin/v1/clients",
    tag = "clients",
    request_body = CreateClientRequest,
    responses(
        (
            status = 201,
            description = "Created; a confidential client's secret is in this answer only",
            body = ClientResponse,
        ),
    ),
)]
async fn create_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<CreateClientRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let registration = ClientRegistration {
        name: req.name,
        public: req.public,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        grant_types: req.grant_types,
        scopes: req.scopes,
        cors_origins: req.cors_origins,
        skip_consent: req.skip_consent,
        auth_method: req.token_endpoint_auth_method,
        access_token_lifetime: req.access_token_lifetime,
        jwks: req.jwks,
        require_mfa: req.require_mfa,
    };
    let (client, secret) = state.admin.create_client(&cap, registration, &ctx).await?;
    let mut out = ClientResponse::from(&client);
    out.client_secret = secret.map(|s| s.expose().to_owned());
    Ok((StatusCode::CREATED, Json(out)))
}

/// `GET /admin/v1/clients/{id}`
#[utoipa::path(
    get,
    path = "/admin/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client (never its secret)", body = ClientResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
    ),
)]
async fn show_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClientResponse>, ApiError> {
    Ok(Json(ClientResponse::from(&state.admin.client(&cap, &id).await?)))
}

/// `DELETE /admin/v1/clients/{id}`
#[utoipa::path(
    delete,
    path = "/admin/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted with its grants and tokens"),
        (status = 404, description = "No such client", body = ErrorResponse),
    ),
)]
async fn delete_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.delete_client(&cap, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ClientRolesResponse {
    roles: Vec<String>,
}

/// `GET /admin/v1/clients/{id}/roles`
#[utoipa::path(
    get,
    path = "/admin/v1/clients/{id}/roles",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client's roles", body = ClientRolesResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
    ),
)]
async fn client_roles(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ClientRolesResponse>, ApiError> {
    let roles = state.admin.rbac().client_roles(&cap, &id).await?;
    Ok(Json(ClientRolesResponse { roles: roles.iter().map(ToString::to_string).collect() }))
}

/// `PUT /admin/v1/clients/{id}/roles/{role}`
#[utoipa::path(
    put,
    path = "/admin/v1/clients/{id}/roles/{role}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id"), ("role" = String, Path, description = "Role name")),
    responses(
        (status = 201, description = "Granted now"),
        (status = 200, description = "The client already held it"),
        (status = 404, description = "No such client or role", body = ErrorResponse),
        (status = 422, description = "Invalid role name", body = ErrorResponse),
    ),
)]
async fn grant_client_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let added = state.admin.rbac().grant_client_role(&cap, &id, &role, &ctx).await?;
    Ok(if added { StatusCode::CREATED } else { StatusCode::OK })
}

/// `DELETE /admin/v1/clients/{id}/roles/{role}`
#[utoipa::path(
    delete,
    path = "/admin/v1/clients/{id}/roles/{role}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id"), ("role" = String, Path, description = "Role name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "The client does not hold the role", body = ErrorResponse),
        (status = 422, description = "Invalid role name", body = ErrorResponse),
    ),
)]
async fn revoke_client_role(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, role)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.admin.rbac().revoke_client_role(&cap, &id, &role, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
