//! Admin API: a client's token exchange rules (RFC 8693), `/admin/v1/clients/{id}/exchange-rules…`.
//! Without a rule a client may not exchange tokens at all; every rule is checked in
//! `gatehouse_core::oauth` (`ExchangeRuleAdmin`), shared with the command line.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gatehouse_core::oauth::{ExchangeRule, NewExchangeRule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admin, ErrorResponse, ListResponse};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_exchange_rules, add_exchange_rule)).routes(routes!(remove_exchange_rule))
}

/// One rule: the client may exchange access tokens issued to `subject_clients` for a token for
/// one of `audiences`, with at most `scopes` (and never more than the subject token's scope).
#[derive(Serialize, ToSchema)]
pub struct ExchangeRuleResponse {
    id: String,
    client_id: String,
    /// Client ids whose tokens may be exchanged, or `*` for any client.
    subject_clients: Vec<String>,
    /// Registered client ids, or the server's default audience.
    audiences: Vec<String>,
    scopes: Vec<String>,
    /// Without an actor_token the new token speaks as the subject.
    allow_impersonation: bool,
    /// With an actor_token (the client's own token) the new token carries `act`.
    allow_delegation: bool,
    created_at: i64,
}

impl From<&ExchangeRule> for ExchangeRuleResponse {
    fn from(r: &ExchangeRule) -> Self {
        Self {
            id: r.id.to_string(),
            client_id: r.client_id.clone(),
            subject_clients: r.subject_clients.clone(),
            audiences: r.audiences.clone(),
            scopes: r.scopes.clone(),
            allow_impersonation: r.allow_impersonation,
            allow_delegation: r.allow_delegation,
            created_at: r.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeRuleRequest {
    /// 1 to 100 client ids, or `["*"]`.
    subject_clients: Vec<String>,
    /// 1 to 100 audiences: registered client ids or the default audience.
    audiences: Vec<String>,
    /// 1 to 100 scopes.
    scopes: Vec<String>,
    #[serde(default)]
    allow_impersonation: bool,
    #[serde(default)]
    allow_delegation: bool,
}

/// `GET /admin/v1/clients/{id}/exchange-rules`
#[utoipa::path(
    get,
    path = "/admin/v1/clients/{id}/exchange-rules",
    tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client's exchange rules, oldest first", body = ListResponse<ExchangeRuleResponse>),
        (status = 404, description = "No such client", body = ErrorResponse),
    ),
)]
async fn list_exchange_rules(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ListResponse<ExchangeRuleResponse>>, ApiError> {
    let rules = state.oauth.exchange_rule_admin().rules(&cap, &id).await?;
    Ok(Json(ListResponse { items: rules.iter().map(ExchangeRuleResponse::from).collect(), next_cursor: None }))
}

/// `POST /admin/v1/clients/{id}/exchange-rules`
#[utoipa::path(
    post,
    path = "/admin/v1/clients/{id}/exchange-rules",
    tag = "clients",
    params(("id" = String, Path, description = "Client id (the client that will send exchange requests)")),
    request_body = ExchangeRuleRequest,
    responses(
        (status = 201, description = "The new rule", body = ExchangeRuleResponse),
        (status = 404, description = "No such client", body = ErrorResponse),
        (
            status = 422,
            description = "A public client, an unknown audience, an empty or too long list, or neither mode allowed",
            body = ErrorResponse,
        ),
    ),
)]
async fn add_exchange_rule(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ExchangeRuleRequest>,
) -> Result<(StatusCode, Json<ExchangeRuleResponse>), ApiError> {
    let new = NewExchangeRule {
        subject_clients: req.subject_clients,
        audiences: req.audiences,
        scopes: req.scopes,
        allow_impersonation: req.allow_impersonation,
        allow_delegation: req.allow_delegation,
    };
    let rule = state.oauth.exchange_rule_admin().add(&cap, &id, new, &ctx).await?;
    Ok((StatusCode::CREATED, Json(ExchangeRuleResponse::from(&rule))))
}

/// `DELETE /admin/v1/clients/{id}/exchange-rules/{rule}`
#[utoipa::path(
    delete,
    path = "/admin/v1/clients/{id}/exchange-rules/{rule}",
    tag = "clients",
    params(("id" = String, Path, description = "Client id"), ("rule" = String, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Removed: exchanges it allowed are refused from now on"),
        (status = 404, description = "The client has no such rule", body = ErrorResponse),
    ),
)]
async fn remove_exchange_rule(
    Admin(cap): Admin,
    State(state): State<AppState>,
    Client(ctx): Client,
    Path((id, rule)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let rule = uuid::Uuid::try_parse(&rule).map_err(|_| ApiError::not_found())?;
    state.oauth.exchange_rule_admin().remove(&cap, &id, rule, &ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}
