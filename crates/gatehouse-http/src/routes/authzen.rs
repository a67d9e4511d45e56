//! The decision API: OpenID AuthZEN Authorization API 1.0, `POST /access/v1/evaluation` (§6)
//! and `POST /access/v1/evaluations` (§7), in the spec's HTTPS binding (section "Transport").
//!
//! Callers are clients acting for themselves (client credentials) whose access token carries
//! `gatehouse:evaluate` ("Model": authorizing the API itself is out of scope, OAuth 2.0 is
//! RECOMMENDED; "Security Considerations": the PDP SHOULD authenticate the PEP).
//! A decision is always `200` with `{"decision": …}`; 400/401/403/500 are errors about the
//! payload or the caller, never about the decision. `?explain=true` adds a Reason Object
//! (§6.2, "Additional Context in a Response") and Gatehouse's structured explanation under the response's `context`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_core::mfa::policy::has_mfa;
use gatehouse_core::policy::{Decision, DecisionRequest, PolicyError, SUBJECT_TOKEN};
use gatehouse_core::rbac::{Actor, Principal};
use gatehouse_core::user::UserId;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::admin::AdminQuery;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Client, JsonBody};
use crate::policy::{Answer, Methods, Policy, Routes};
use gatehouse_core::abuse::LimitKind;

/// Most evaluations in one `/access/v1/evaluations` call.
pub const MAX_EVALUATIONS: usize = 100;
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: &AppState) -> Routes {
    // Every request under `/access/`, unknown paths and any method included, counts: a decision
    // reads the subject's status from the store, and a batch up to 100 of them.
    let policy = Policy::same_origin().limit(LimitKind::DecisionIp, Methods::Any, Answer::Json);
    let routes = Router::new()
        .route("/access/v1/evaluation", post(evaluation))
        .route("/access/v1/evaluations", post(evaluations))
        .merge(crate::policy::unknown_under("/access"));
    Routes::new(state, policy, routes)
}

/// The caller, checked: a bearer token of a client with `gatehouse:evaluate`. No token or a
/// bad one: 401 with `WWW-Authenticate`; any other token: 403.
pub struct Evaluator(pub Actor);

impl FromRequestParts<AppState> for Evaluator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(claims) = super::live_token(state, parts).await else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the decision API needs a bearer access token",
            ));
        };
        let claims = claims?;
        let scopes: Vec<String> = claims.scopes().map(str::to_owned).collect();
        let principal = if claims.sub == claims.client_id {
            Principal::Client { id: claims.client_id.clone(), scopes }
        } else if let Some(id) = UserId::parse(&claims.sub) {
            Principal::User { id, client_id: claims.client_id.clone(), scopes, amr: claims.amr.clone() }
        } else {
            return Err(forbidden());
        };
        match state.policies.authorize_evaluator(&principal).await {
            Ok(actor) => Ok(Self(actor)),
            Err(PolicyError::Forbidden(_)) => Err(forbidden()),
            Err(e) => Err(e.into()),
        }
    }
}

fn forbidden() -> ApiError {
    ApiError::forbidden("forbidden", "this token does not grant access to the decision API")
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    #[serde(default)]
    explain: bool,
}

/// §6.1: one 4-tuple (unknown members refused with 400).
fn parse_request(v: Value) -> Result<DecisionRequest, String> {
    serde_json::from_value(v).map_err(|e| format!("invalid evaluation request: {e}"))
}

/// A parsed request with the subject's evidence read: `subject.properties.token`, when given,
/// must be a live Gatehouse access token of the subject (its `sub` is `subject.id`); it is taken
/// out of the properties and `principal.mfa` becomes whether its `amr` has `mfa` (RFC 8176 §2).
async fn read_request(state: &AppState, v: Value) -> Result<DecisionRequest, String> {
    let mut req = parse_request(v)?;
    let Some(token) = req.subject.properties.remove(SUBJECT_TOKEN) else { return Ok(req) };
    let Value::String(token) = token else { return Err("subject.properties.token must be a string".to_owned()) };
    const INVALID: &str = "subject.properties.token is not a valid, unexpired Gatehouse access token";
    let claims = state.bearer.verify(&token, state.accounts.clock().now()).ok_or(INVALID)?;
    let live = state
        .tokens
        .refresh_service()
        .access_token_is_live(&claims.client_id, claims.sid.as_deref(), &claims.jti)
        .await;
    if !live.map_err(|e| format!("the token's revocation could not be checked: {e}"))? {
        return Err(INVALID.to_owned());
    }
    if claims.sub != req.subject.id {
        return Err("subject.properties.token was issued to another subject than subject.id".to_owned());
    }
    req.subject_mfa = Some(has_mfa(&claims.amr));
    Ok(req)
}

/// §6.2: `{"decision": bool}`, with a `context` when explaining.
fn response_body(decision: &Decision, explain: bool) -> Value {
    if !explain {
        return json!({ "decision": decision.allowed });
    }
    let e = &decision.explanation;
    json!({
        "decision": decision.allowed,
        "context": { "id": decision.basis(), "reason_admin": { "en": reason_text(decision) }, "gatehouse": e },
    })
}

/// The explanation in one sentence (the Reason Object's `reason_admin`; the console shows it).
pub fn reason_text(decision: &Decision) -> String {
    let e = &decision.explanation;
    if !e.errors.is_empty() {
        format!("denied: evaluation error: {}", e.errors.join("; "))
    } else if !e.forbidden_by.is_empty() {
        format!("denied by policy {}", e.forbidden_by.join(", "))
    } else if !e.granted_by_roles.is_empty() {
        format!("permission {} granted by role {}", e.permission, e.granted_by_roles.join(", "))
    } else if !e.permitted_by.is_empty() {
        format!("permitted by policy {}", e.permitted_by.join(", "))
    } else {
        format!("denied by default: no role grants {} and no policy permits", e.permission)
    }
}

/// Transport, "Request Identification in a Response": the PEP's `X-Request-ID` MUST be echoed.
fn with_request_id(headers: &HeaderMap, body: Value) -> Response {
    let mut resp = Json(body).into_response();
    if let Some(id) = headers.get(X_REQUEST_ID) {
        resp.headers_mut().insert(X_REQUEST_ID, id.clone());
    }
    resp
}

/// `POST /access/v1/evaluation` (AuthZEN §6).
async fn evaluation(
    Evaluator(caller): Evaluator,
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    AdminQuery(q): AdminQuery<ExplainQuery>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let req = read_request(&state, body).await.map_err(ApiError::bad_request)?;
    let decision = state.policies.decide(&caller, &req, &ctx).await?;
    Ok(with_request_id(&headers, response_body(&decision, q.explain)))
}

/// §7.1: defaults at the top level, the `evaluations` array, and `options`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationsRequest {
    subject: Option<Value>,
    action: Option<Value>,
    resource: Option<Value>,
    context: Option<Value>,
    evaluations: Option<Vec<Value>>,
    options: Option<Map<String, Value>>,
}

/// §7.1.2.1 evaluation semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

impl Semantic {
    /// Other option keys are caller metadata (§7.1.2) and are ignored.
    fn from_options(options: Option<&Map<String, Value>>) -> Result<Self, String> {
        match options.and_then(|o| o.get("evaluations_semantic")) {
            None => Ok(Self::ExecuteAll),
            Some(Value::String(s)) if s == "execute_all" => Ok(Self::ExecuteAll),
            Some(Value::String(s)) if s == "deny_on_first_deny" => Ok(Self::DenyOnFirstDeny),
            Some(Value::String(s)) if s == "permit_on_first_permit" => Ok(Self::PermitOnFirstPermit),
            Some(_) => {
                Err("options.evaluations_semantic must be execute_all, deny_on_first_deny or permit_on_first_permit"
                    .to_owned())
            }
        }
    }
}

/// §7.1.1: an evaluation's own members win over the top-level defaults.
fn merged(defaults: &EvaluationsRequest, item: Value) -> Result<Value, String> {
    let Value::Object(mut item) = item else { return Err("each evaluation must be a JSON object".to_owned()) };
    for (key, default) in [
        ("subject", &defaults.subject),
        ("action", &defaults.action),
        ("resource", &defaults.resource),
        ("context", &defaults.context),
    ] {
        if let Some(d) = default {
            item.entry(key).or_insert_with(|| d.clone());
        }
    }
    Ok(Value::Object(item))
}

/// `POST /access/v1/evaluations` (AuthZEN §7).
async fn evaluations(
    Evaluator(caller): Evaluator,
    State(state): State<AppState>,
    Client(ctx): Client,
    headers: HeaderMap,
    AdminQuery(q): AdminQuery<ExplainQuery>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let mut req: EvaluationsRequest =
        serde_json::from_value(body).map_err(|e| ApiError::bad_request(format!("invalid evaluations request: {e}")))?;
    let semantic = Semantic::from_options(req.options.as_ref()).map_err(ApiError::bad_request)?;
    let items = match req.evaluations.take().filter(|items| !items.is_empty()) {
        // §7.1: without an `evaluations` array, the request is a single evaluation.
        None => {
            let single = merged(&req, json!({})).map_err(ApiError::bad_request)?;
            let single = read_request(&state, single).await.map_err(ApiError::bad_request)?;
            let decision = state.policies.decide(&caller, &single, &ctx).await?;
            return Ok(with_request_id(&headers, response_body(&decision, q.explain)));
        }
        Some(items) if items.len() > MAX_EVALUATIONS => {
            return Err(ApiError::bad_request(format!("at most {MAX_EVALUATIONS} evaluations per request")));
        }
        Some(items) => items,
    };
    // One policy set, one copy of the RBAC grants and each subject's facts for the whole batch.
    let mut decider = state.policies.decider().await?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        // §7.2.1: an error in one evaluation is that evaluation's `false`, with the error.
        let one = match merged(&req, item) {
            Ok(v) => read_request(&state, v).await,
            Err(m) => Err(m),
        };
        let (allowed, body) = match one {
            Ok(one) => match decider.decide(&caller, &one, &ctx).await {
                Ok(d) => (d.allowed, response_body(&d, q.explain)),
                Err(PolicyError::BadRequest(m)) => (false, item_error(&m)),
                Err(e) => return Err(e.into()),
            },
            Err(m) => (false, item_error(&m)),
        };
        out.push(body);
        let stop = match semantic {
            Semantic::ExecuteAll => false,
            Semantic::DenyOnFirstDeny => !allowed,
            Semantic::PermitOnFirstPermit => allowed,
        };
        if stop {
            if let (Semantic::DenyOnFirstDeny, Some(Value::Object(last))) = (semantic, out.last_mut()) {
                let context = last.entry("context").or_insert_with(|| json!({}));
                if let Value::Object(c) = context {
                    c.insert("reason".into(), json!("deny_on_first_deny"));
                }
            }
            break;
        }
    }
    Ok(with_request_id(&headers, json!({ "evaluations": out })))
}

fn item_error(message: &str) -> Value {
    json!({ "decision": false, "context": { "error": { "status": 400, "message": message } } })
}
