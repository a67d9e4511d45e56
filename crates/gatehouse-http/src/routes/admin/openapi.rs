//! The OpenAPI 3.1 document of the admin API, `GET /admin/v1/openapi.json`, generated from the
//! code: every admin handler carries a `#[utoipa::path]` and is registered with
//! `utoipa_axum::routes!`, which adds the route and its operation together, so a route without
//! a document cannot be registered that way (and a test refuses any other way in `admin/`).
//!
//! What holds for every route is added here once, not repeated on each handler: the bearer
//! security scheme (RFC 6750 §2.1) as the document's default requirement; the error responses
//! of the one admin extractor and body/query parsers: 401 (no or bad token), 403 (no admin
//! rights), 429 (the per-address limit on `/admin`), 400 (malformed body or query), and for
//! operations with a body 413 (too large), 415 (not sent as JSON) and 422 (a body that does not
//! fit its DTO); the grammar of name-like path parameters; and the links (OpenAPI 3.1 §4.8.20)
//! from each created resource to the operations taking its identifier. Handlers list only their
//! own outcomes (200/201/204, 404, 409, 422).
//!
//! The document itself is public (like discovery documents): it describes the API's shape,
//! not its data, and every operation in it still needs an admin token.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, ResponseBuilder};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

/// The security scheme's name in `components.securitySchemes`.
pub const BEARER: &str = "bearer";

/// Every JSON error of the admin API (DESIGN.md §3).
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    /// A short machine-readable code, e.g. `not_found`, `conflict`, `last_admin`.
    error: String,
    /// Human-readable text; never internal details.
    error_description: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Gatehouse admin API",
        description = "Users, invitations, sessions, roles, permissions, clients, resource servers, signing keys, the \
                       audit trail and \
                       Cedar policies. \
                       Every operation needs `Authorization: Bearer <access token>` with the scope \
                       `gatehouse:admin` or of a user holding the role `admin`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorResponse)),
    tags(
        (name = "users", description = "Accounts, their roles and sessions"),
        (name = "invitations", description = "Invitations to create an account, with roles"),
        (name = "roles", description = "Roles and their permissions"),
        (name = "permissions", description = "Permissions named resource:action"),
        (name = "clients", description = "OAuth clients and their roles"),
        (name = "resource-servers", description = "Resource servers: the APIs access tokens are for (RFC 8707)"),
        (name = "keys", description = "Token signing keys"),
        (name = "audit", description = "The audit trail"),
        (name = "policies", description = "Cedar policies and their schema, versioned"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The document for `routes` (the admin API's registrations), with the shared conventions.
pub fn document(routes: OpenApiRouter<AppState>) -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    doc.merge(routes.into_openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    let scheme = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some("An access token (RFC 9068) with the scope gatehouse:admin, or of an admin user"));
    components.add_security_scheme(BEARER, SecurityScheme::Http(scheme.build()));
    doc.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            add_shared_responses(op);
            constrain_names(path, op);
        }
    }
    doc
}

/// Role and policy names (gatehouse-core `rbac::names`, `policy`): 1-64 of `a-z 0-9 _ . -`,
/// starting with a letter or digit.
const NAME: &str = "^[a-z0-9][a-z0-9_.-]{0,63}$";
/// Permission names: `resource:action`, each part a name.
const PERMISSION: &str = "^[a-z0-9][a-z0-9_.-]{0,63}:[a-z0-9][a-z0-9_.-]{0,63}$";

/// The grammar of the name-like path parameters, written once here rather than on every
/// handler: `{role}`, `{permission}`, and `{name}` of roles, permissions and policies.
fn constrain_names(path: &str, op: &mut Operation) {
    for param in op.parameters.iter_mut().flatten().filter(|p| p.parameter_in == ParameterIn::Path) {
        let pattern = match param.name.as_str() {
            "role" => NAME,
            "permission" => PERMISSION,
            "name" if path.starts_with("/admin/v1/permissions/") => PERMISSION,
            "name" => NAME,
            _ => continue,
        };
        let schema = ObjectBuilder::new().schema_type(Type::String).pattern(Some(pattern));
        param.schema = Some(schema.build().into());
    }
}

/// OpenAPI links (3.1 §4.8.20): what a created resource can be used for next, so that clients
/// and tools (generated stateful tests) can follow "create, then read, change, delete". Each
/// row: the creating operation, its status, and the operations taking the new identifier.
const LINKS: [(&str, &str, &str, &str, &[&str]); 7] = [
    ("create_invitation", "201", "id", "$response.body#/id", &["revoke_invitation"]),
    (
        "create_user",
        "201",
        "id",
        "$response.body#/id",
        &[
            "show_user",
            "update_user",
            "disable_user",
            "delete_user",
            "user_roles",
            "grant_role",
            "revoke_role",
            "sessions",
            "revoke_session",
            "revoke_all_sessions",
            "password_reset",
            "mfa_reset",
            "send_verification_email",
        ],
    ),
    (
        "create_role",
        "201",
        "name",
        "$response.body#/name",
        &["show_role", "update_role", "delete_role", "role_members", "grant_permission", "revoke_permission"],
    ),
    (
        "create_permission",
        "201",
        "name",
        "$response.body#/name",
        &["show_permission", "update_permission", "delete_permission"],
    ),
    (
        "create_client",
        "201",
        "id",
        "$response.body#/client_id",
        &[
            "show_client",
            "delete_client",
            "client_roles",
            "grant_client_role",
            "revoke_client_role",
            "list_exchange_rules",
            "add_exchange_rule",
        ],
    ),
    (
        "create_resource_server",
        "201",
        "id",
        "$response.body#/id",
        &["show_resource_server", "update_resource_server", "delete_resource_server"],
    ),
    ("add_exchange_rule", "201", "rule", "$response.body#/id", &["remove_exchange_rule"]),
];

/// Adds [`LINKS`] to the serialised document. Done on the JSON because utoipa 5.5 writes a
/// Link's fields in snake case (`operation_id`), which OpenAPI tools do not read.
fn add_links(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
        let id = op.get("operationId").and_then(Value::as_str).unwrap_or_default();
        let Some((_, status, param, value, targets)) = LINKS.iter().find(|(source, ..)| *source == id) else {
            continue;
        };
        let Some(response) = op.pointer_mut(&format!("/responses/{status}")).and_then(Value::as_object_mut) else {
            continue;
        };
        let links: Map<String, Value> = targets
            .iter()
            .map(|t| ((*t).to_owned(), json!({ "operationId": t, "parameters": { *param: value } })))
            .collect();
        response.insert("links".to_owned(), Value::Object(links));
    }
}

/// The served text: [`document`] with its links.
pub fn served(routes: OpenApiRouter<AppState>) -> Result<String, serde_json::Error> {
    let mut doc = serde_json::to_value(document(routes))?;
    add_links(&mut doc);
    serde_json::to_string(&doc)
}

fn error(description: &str) -> utoipa::openapi::Response {
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build();
    ResponseBuilder::new().description(description).content("application/json", content).build()
}

fn add_shared_responses(op: &mut Operation) {
    let responses = &mut op.responses.responses;
    let mut add = |status: &str, description: &str| {
        responses.entry(status.to_owned()).or_insert_with(|| error(description).into());
    };
    // The whole `/admin` prefix is rate limited per client address.
    add("429", "Too many requests from this address; see Retry-After");
    // An operation that overrides `security` (the document itself) is public.
    if op.security.is_some() {
        return;
    }
    add("401", "No bearer token, or an invalid, expired or revoked one (RFC 6750 §3.1; WWW-Authenticate)");
    add(
        "403",
        "The token does not grant access to the admin API (forbidden), or the MFA policy needs a sign-in \
         with a second factor (mfa_required, mfa_enrollment_required)",
    );
    let has_query = op.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
    if op.request_body.is_some() || has_query {
        add("400", "Malformed JSON, or an unknown or malformed query parameter");
    }
    if op.request_body.is_some() {
        add("413", "The body is larger than the server accepts");
        add("415", "The body is not sent as Content-Type: application/json");
        add("422", "The body does not fit the request (unknown field, wrong type, invalid value)");
    }
}

/// The serialised document, built once.
fn cached() -> Result<&'static str, ApiError> {
    static DOC: OnceLock<Option<String>> = OnceLock::new();
    DOC.get_or_init(|| match served(super::routes()) {
        Ok(json) => Some(json),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document does not serialise");
            None
        }
    })
    .as_deref()
    .ok_or_else(ApiError::internal)
}

/// `GET /admin/v1/openapi.json`: this document (OpenAPI 3.1). Public.
#[utoipa::path(
    get,
    path = "/admin/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the admin API", body = Object))
)]
async fn openapi_json() -> Result<Response, ApiError> {
    let body = cached()?;
    let mut resp = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(resp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&served(super::super::routes()).unwrap()).unwrap()
    }

    fn admin_sources() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes/admin");
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap();
                // Only the code, not the tests below it (this file's test names the bypasses).
                let code = text.split("#[cfg(test)]").next().unwrap().to_owned();
                (e.file_name().to_string_lossy().into_owned(), code)
            })
            .collect();
        out.sort();
        out
    }

    /// Handler names inside `routes!(…)` calls of a source file.
    fn registered(source: &str) -> BTreeSet<String> {
        source
            .split("routes!(")
            .skip(1)
            .flat_map(|rest| rest.split(')').next().unwrap_or_default().split(','))
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// Names of the functions that carry a `#[utoipa::path(…)]`.
    fn documented(source: &str) -> BTreeSet<String> {
        source
            .split("#[utoipa::path(")
            .skip(1)
            .map(|rest| {
                let after = rest.split("\nasync fn ").nth(1).expect("a handler follows the attribute");
                after.split('(').next().unwrap().trim().to_owned()
            })
            .collect()
    }

    /// Coverage, from the registrations themselves: in `admin/`, routes are added only through
    /// `routes!` (which takes method and path from the handler's `#[utoipa::path]`), never by a
    /// plain axum call that would bypass the document; every documented handler is registered.
    #[test]
    fn every_admin_route_is_registered_with_its_document() {
        let bypasses = [".route(", ".route_service(", ".nest(", ".nest_service(", ".fallback(", " Router::new("];
        let mut all_registered = BTreeSet::new();
        for (file, source) in admin_sources() {
            for b in bypasses {
                assert!(!source.contains(b), "{file} registers a route with {b}: use routes!() and #[utoipa::path]");
            }
            let (reg, doc) = (registered(&source), documented(&source));
            assert_eq!(reg, doc, "{file}: registered handlers and documented handlers differ");
            all_registered.extend(reg);
        }
        // The operation ids are the handler names: the document holds every registered handler.
        let doc = doc();
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "duplicate operationId");
            }
        }
        assert_eq!(ids, all_registered);
        assert!(ids.len() >= 36, "{} operations", ids.len());
    }

    /// Every link names an operation of the document and one of its path parameters, and comes
    /// from a response that carries the field it reads.
    #[test]
    fn links_point_at_real_operations_and_parameters() {
        let doc = doc();
        let mut ops = std::collections::BTreeMap::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for op in item.as_object().unwrap().values() {
                ops.insert(op["operationId"].as_str().unwrap().to_owned(), (path.clone(), op.clone()));
            }
        }
        let mut count = 0;
        for (source, status, param, value, targets) in LINKS {
            let (_, op) = &ops[source];
            let links = op["responses"][status]["links"].as_object().unwrap();
            assert_eq!(links.len(), targets.len(), "{source}");
            let schema = op["responses"][status]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap();
            let schema = &doc["components"]["schemas"][schema.rsplit('/').next().unwrap()];
            let field = value.strip_prefix("$response.body#/").unwrap();
            assert!(schema["properties"].get(field).is_some(), "{source} answers no {field}");
            for &target in targets {
                let (path, _) = ops.get(target).unwrap_or_else(|| panic!("{source} links to unknown {target}"));
                assert!(path.contains(&format!("{{{param}}}")), "{target} ({path}) has no {param}");
                assert_eq!(links[target]["operationId"], *target);
                count += 1;
            }
        }
        assert!(count >= 20, "{count} links");
    }

    /// OpenAPI 3.1 §4.8.12: every templated path parameter is declared; responses and schemas
    /// follow the conventions (bearer security, shared errors, refs that resolve).
    #[test]
    fn the_document_follows_the_conventions() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["security"], serde_json::json!([{ BEARER: [] }]));
        assert_eq!(doc["components"]["securitySchemes"][BEARER]["scheme"], "bearer");
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            assert!(path.starts_with("/admin/v1/"), "{path}");
            let templated: BTreeSet<&str> = path.split('{').skip(1).map(|p| p.split('}').next().unwrap()).collect();
            for (method, op) in item.as_object().unwrap() {
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(declared, templated, "{method} {path}");
                assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path} has no tag");
                let responses = op["responses"].as_object().unwrap();
                assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success response");
                if path == "/admin/v1/openapi.json" {
                    assert_eq!(op["security"], serde_json::json!([{}]), "the document is public");
                    continue;
                }
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
                if op.get("requestBody").is_some() {
                    assert!(responses.contains_key("422"), "{method} {path} lacks 422");
                }
                if !templated.is_empty() && method != "put" {
                    assert!(responses.contains_key("404"), "{method} {path} lacks 404");
                }
            }
        }
    }
}
