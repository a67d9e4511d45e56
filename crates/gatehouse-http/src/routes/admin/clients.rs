//! Admin API: OAuth clients (`/admin/v1/clients…`): register, read, change (the same rules as a
//! registration), rotate the secret with an overlap, replace a `private_key_jwt` client's keys,
//! disable and enable, delete, and the client's roles. Every rule is in
//! `gatehouse_core::rbac::ClientAdmin`, shared with the console and the command line.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use gatehouse_core::oauth::{Client as OAuthClient, ClientRegistration, ClientUpdate};
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
        .routes(routes!(list_clients, create_client))
        .routes(routes!(show_client, update_client, delete_client))
        .routes(routes!(rotate_secret))
        .routes(routes!(replace_jwks))
        .routes(routes!(disable_client))
        .routes(routes!(enable_client))
        .routes(routes!(client_roles))
        .routes(routes!(grant_client_role, revoke_client_role))
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
    /// Authorization requests must be pushed to /oauth2/par first (RFC 9126 §6).
    require_pushed_authorization_requests: bool,
    /// Where logout tokens are POSTed when a session the client signed in to ends (OpenID
    /// Connect Back-Channel Logout 1.0 §2.2); null: the client is not told.
    backchannel_logout_uri: Option<String>,
    /// Logout tokens must carry `sid` (§2.2; Gatehouse always sends `sid` and `sub`).
    backchannel_logout_session_required: bool,
    /// Every token request must carry a DPoP proof (RFC 9449 §5.2).
    dpop_bound_access_tokens: bool,
    access_token_lifetime: Option<i64>,
    created_at: i64,
    /// The public JWK Set of a private_key_jwt client.
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<serde_json::Value>,
    /// Disabled: no new tokens, and the tokens it holds stop working until it is enabled.
    disabled: bool,
    disabled_at: Option<i64>,
    /// When the current secret was issued by a rotation.
    secret_rotated_at: Option<i64>,
    /// The secret before the last rotation works until then (absent: it does not work).
    previous_secret_expires_at: Option<i64>,
    /// Who registered the client: `admin` (this API, the console or the CLI), `dynamic` (the
    /// client itself, RFC 7591) or `metadata_document` (its client_id is the URL of a Client ID
    /// Metadata Document). Self-registered clients were not checked by anyone.
    #[schema(example = "admin")]
    registration: &'static str,
    /// When a self-registered client first authenticated at the token endpoint (absent: never,
    /// or an admin-registered client).
    first_used_at: Option<i64>,
    /// Only in the answer that issued it (create, rotation, a switch to client_secret_*), once.
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
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            access_token_lifetime: c.access_token_lifetime,
            created_at: c.created_at,
            jwks: c.jwks.as_ref().map(|j| j.as_json().clone()),
            disabled: c.is_disabled(),
            disabled_at: c.lifecycle.disabled_at,
            secret_rotated_at: c.lifecycle.secret_rotated_at,
            previous_secret_expires_at: c.lifecycle.previous_secret_expires_at,
            registration: c.lifecycle.registration.as_str(),
            first_used_at: c.lifecycle.first_used_at,
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
    let all = state.admin.client_admin().clients(&cap).await?;
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
    /// Authorization requests must be pushed to /oauth2/par first (RFC 9126 §6): a plain
    /// request to /oauth2/authorize is refused; needs the authorization_code grant.
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute https URL (http only on a
    /// loopback host), without a fragment.
    backchannel_logout_uri: Option<String>,
    /// §2.2: logout tokens must carry `sid` (default false).
    #[serde(default)]
    backchannel_logout_session_required: bool,
    /// RFC 9449 §5.2: the token endpoint refuses this client's requests without a DPoP proof
    /// (`invalid_dpop_proof`), so all its tokens are DPoP-bound.
    #[serde(default)]
    dpop_bound_access_tokens: bool,
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
        (status = 422, description = "A registration rule is not met", body = ErrorResponse),
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
        require_pushed_authorization_requests: req.require_pushed_authorization_requests,
        backchannel_logout_uri: req.backchannel_logout_uri,
        backchannel_logout_session_required: req.backchannel_logout_session_required,
        dpop_bound_access_tokens: req.dpop_bound_access_tokens,
    };
    let (client, secret) = state.admin.client_admin().create_client(&cap, registration, &ctx).await?;
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
    Ok(Json(ClientResponse::from(&state.admin.client_admin().client(&cap, &id).await?)))
}

/// `DELETE /admin/v1/clients/{id}`
#[utoipa::path(
    delete,
    path = "/admin/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (
            status = 204,
            description = "Deleted with its codes and consents; its refresh families are revoked and its tokens stop \
                           working",
        ),
        (status = 403, description = "A client cannot delete itself", body = ErrorResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
    ),
)]
async fn delete_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.client_admin().delete_client(&cap, &id, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    name: Option<String>,
    /// Replaces the list.
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    cors_origins: Option<Vec<String>>,
    skip_consent: Option<bool>,
    require_mfa: Option<bool>,
    require_pushed_authorization_requests: Option<bool>,
    /// Back-Channel Logout 1.0 §2.2. Absent: unchanged; `null`: no longer told.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    backchannel_logout_uri: Option<Option<String>>,
    backchannel_logout_session_required: Option<bool>,
    /// RFC 9449 §5.2: token requests must carry a DPoP proof.
    dpop_bound_access_tokens: Option<bool>,
    /// `none` makes the client public (its secrets go); `client_secret_basic` or
    /// `client_secret_post` on a client without a secret issues one, in this answer only;
    /// `private_key_jwt` needs `jwks` unless the client already is one.
    token_endpoint_auth_method: Option<String>,
    /// Absent: unchanged; `null`: the server default.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    access_token_lifetime: Option<Option<i64>>,
    /// Only with a switch to private_key_jwt (to replace keys: `PUT .../jwks`).
    jwks: Option<serde_json::Value>,
}

/// `PATCH /admin/v1/clients/{id}`: absent fields are unchanged; the result must meet every
/// registration rule, or nothing changes.
#[utoipa::path(
    patch,
    path = "/admin/v1/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    request_body = UpdateClientRequest,
    responses(
        (
            status = 200,
            description = "The changed client; client_secret only when a switch to client_secret_* issued one",
            body = ClientResponse,
        ),
        (status = 404, description = "No such client", body = ErrorResponse),
        (status = 409, description = "The client changed meanwhile: read it again and retry", body = ErrorResponse),
        (status = 422, description = "A registration rule is not met; nothing changed", body = ErrorResponse),
    ),
)]
async fn update_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateClientRequest>,
) -> Result<Json<ClientResponse>, ApiError> {
    let update = ClientUpdate {
        name: req.name,
        redirect_uris: req.redirect_uris,
        post_logout_redirect_uris: req.post_logout_redirect_uris,
        grant_types: req.grant_types,
        scopes: req.scopes,
        cors_origins: req.cors_origins,
        skip_consent: req.skip_consent,
        auth_method: req.token_endpoint_auth_method,
        access_token_lifetime: req.access_token_lifetime,
        require_mfa: req.require_mfa,
        require_pushed_authorization_requests: req.require_pushed_authorization_requests,
        backchannel_logout_uri: req.backchannel_logout_uri,
        backchannel_logout_session_required: req.backchannel_logout_session_required,
        dpop_bound_access_tokens: req.dpop_bound_access_tokens,
        jwks: req.jwks,
        expected_revision: None,
    };
    let (client, secret) = state.admin.client_admin().update_client(&cap, &id, update, &ctx).await?;
    let mut out = ClientResponse::from(&client);
    out.client_secret = secret.map(|s| s.expose().to_owned());
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// Seconds the old secret keeps working: 0 (it dies now) to 2592000 (30 days); default
    /// 86400 (one day).
    #[schema(minimum = 0, maximum = 2592000)]
    overlap_seconds: Option<i64>,
}

/// `POST /admin/v1/clients/{id}/secret`: a new secret, in this answer only.
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{id}/secret",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    request_body = RotateSecretRequest,
    responses(
        (
            status = 200,
            description = "The client with its new client_secret (shown once); the old secret works until \
                           previous_secret_expires_at",
            body = ClientResponse,
        ),
        (status = 404, description = "No such client", body = ErrorResponse),
        (status = 409, description = "The client changed meanwhile: retry", body = ErrorResponse),
        (
            status = 422,
            description = "The client has no secret (public or private_key_jwt), or the overlap is out of range",
            body = ErrorResponse,
        ),
    ),
)]
async fn rotate_secret(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<RotateSecretRequest>,
) -> Result<Json<ClientResponse>, ApiError> {
    let (client, secret) = state.admin.client_admin().rotate_secret(&cap, &id, req.overlap_seconds, &ctx).await?;
    let mut out = ClientResponse::from(&client);
    out.client_secret = Some(secret.expose().to_owned());
    Ok(Json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwksRequest {
    /// The public keys (RFC 7517 §5), as at registration.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

/// `PUT /admin/v1/clients/{id}/jwks`: replaces a private_key_jwt client's JWK Set.
#[utoipa::path(
    put,
    path = "/admin/v1/clients/{id}/jwks",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    request_body = JwksRequest,
    responses(
        (status = 200, description = "The client with its new keys", body = ClientResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
        (status = 409, description = "The client changed meanwhile: retry", body = ErrorResponse),
        (
            status = 422,
            description = "Not a private_key_jwt client, or the JWK Set breaks a rule",
            body = ErrorResponse,
        ),
    ),
)]
async fn replace_jwks(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<JwksRequest>,
) -> Result<Json<ClientResponse>, ApiError> {
    let jwks = serde_json::json!({ "keys": req.keys });
    let client = state.admin.client_admin().replace_jwks(&cap, &id, jwks, &ctx).await?;
    Ok(Json(ClientResponse::from(&client)))
}

/// `POST /admin/v1/clients/{id}/disable`
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{id}/disable",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (
            status = 200,
            description = "Disabled (or already was): no new tokens, its tokens and refresh families refused",
            body = ClientResponse,
        ),
        (status = 403, description = "A client cannot disable itself", body = ErrorResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
        (status = 409, description = "The client changed meanwhile: retry", body = ErrorResponse),
    ),
)]
async fn disable_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Json<ClientResponse>, ApiError> {
    Ok(Json(ClientResponse::from(&state.admin.client_admin().set_disabled(&cap, &id, true, &ctx).await?)))
}

/// `POST /admin/v1/clients/{id}/enable`
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{id}/enable",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "Enabled (or already was)", body = ClientResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
        (status = 409, description = "The client changed meanwhile: retry", body = ErrorResponse),
    ),
)]
async fn enable_client(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Result<Json<ClientResponse>, ApiError> {
    Ok(Json(ClientResponse::from(&state.admin.client_admin().set_disabled(&cap, &id, false, &ctx).await?)))
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
