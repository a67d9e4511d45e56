//! mcp-server: a small Model Context Protocol server whose tools are protected by
//! `gatehouse-guard`, so that any MCP client can discover Gatehouse from it and sign in.
//!
//! - Transport: MCP "Streamable HTTP" (specification 2025-11-25, *Transports*): every JSON-RPC
//!   message is one `POST /mcp`; a request is answered with one `application/json` response, a
//!   notification or response with `202 Accepted`; `GET` and `DELETE` answer `405` (this server
//!   opens no server-to-client stream and keeps no sessions).
//! - Authorization (MCP *Authorization*): the server is an OAuth 2.0 protected resource. Its
//!   Protected Resource Metadata (RFC 9728) names Gatehouse as the authorization server; a request
//!   without a valid token gets `401` with `WWW-Authenticate: Bearer resource_metadata="…"`
//!   (RFC 9728 §5.1); a token must carry this server's identifier as `aud` (RFC 8707, the guard
//!   pins it) and the scope `mcp:tools`, else `403 insufficient_scope`.
//! - Tools: `whoami` (the token's subject and client) and `add` (two numbers).

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use gatehouse_guard::{
    AccessClaims, AuthRejection, Guard, ProtectedResourceMetadata, RequireScope, ScopeName, define_scope,
};
use serde_json::{Value, json};

define_scope!(
    /// Needed for every MCP request.
    McpTools = "mcp:tools"
);

/// Protocol revisions this server speaks (MCP *Lifecycle* §version negotiation), newest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// JSON-RPC 2.0 error codes (JSON-RPC §5.1).
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// What the server needs to know about itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer URL of Gatehouse, exactly as in its tokens' `iss`.
    pub issuer: String,
    /// This server's resource identifier: the URL of its MCP endpoint (`…/mcp`), registered in
    /// Gatehouse as a resource server with the scope `mcp:tools`.
    pub resource: String,
    /// Browser origins allowed to call the endpoint; a request with any other `Origin` is refused
    /// (MCP *Transports*: servers MUST validate `Origin` against DNS rebinding).
    pub allowed_origins: Vec<String>,
}

#[derive(Clone)]
struct AppState {
    guard: Guard,
    origins: Arc<[String]>,
}

impl FromRef<AppState> for Guard {
    fn from_ref(state: &AppState) -> Guard {
        state.guard.clone()
    }
}

/// Why the server could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("resource metadata: {0}")]
    Metadata(#[from] gatehouse_guard::MetadataError),
    #[error("guard: {0}")]
    Guard(#[from] gatehouse_guard::GuardConfigError),
}

/// The metadata document (RFC 9728 §2) of the server described by `config`.
pub fn metadata(config: &Config) -> Result<ProtectedResourceMetadata, ConfigError> {
    ProtectedResourceMetadata::new(&config.resource, &config.issuer)
        .map(|m| m.scopes([McpTools::SCOPE]).name("Gatehouse example MCP server"))
        .map_err(ConfigError::Metadata)
}

/// A guard for `config`: Gatehouse's keys, the resource as the audience, and the metadata URL in
/// every 401 challenge.
pub fn guard(config: &Config) -> Result<Guard, ConfigError> {
    let metadata = metadata(config)?;
    Guard::builder(&config.issuer)
        .audience(&config.resource)
        .realm("mcp")
        .resource_metadata(metadata.metadata_url())
        .build()
        .map_err(ConfigError::Guard)
}

/// The server's routes: `/mcp` and the metadata document, with `guard` checking tokens.
pub fn app(config: &Config, guard: Guard) -> Result<Router, ConfigError> {
    let metadata = metadata(config)?;
    let path = url_path(&config.resource);
    let state = AppState { guard, origins: config.allowed_origins.clone().into() };
    Ok(Router::new()
        .route(&path, post(mcp).get(no_stream).delete(no_stream))
        .with_state(state)
        .merge(metadata.router()))
}

/// The path of an absolute URL (`/` when it has none).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].split(['?', '#']).next().unwrap_or("/").to_owned(),
        None => "/".to_owned(),
    }
}

/// `GET` (a server-to-client stream) and `DELETE` (ending a session): neither is offered here,
/// which the transport allows with `405 Method Not Allowed`.
async fn no_stream() -> Response {
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST")]).into_response()
}

/// One JSON-RPC message: the headers first (a foreign `Origin` is refused whatever the token),
/// then the token, then the body.
async fn mcp(
    State(state): State<AppState>,
    auth: Result<RequireScope<McpTools>, AuthRejection>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refusal) = check_headers(&state, &headers) {
        return refusal;
    }
    let auth = match auth {
        Ok(auth) => auth,
        Err(rejection) => return rejection.into_response(),
    };
    // Transports: input the server cannot accept is an HTTP error, with a JSON-RPC error body
    // without an id.
    let Ok(message) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, rpc_error(Value::Null, PARSE_ERROR, "Parse error")).into_response();
    };
    let Some(object) = message.as_object().filter(|o| o.get("jsonrpc") == Some(&json!("2.0"))) else {
        return (StatusCode::BAD_REQUEST, rpc_error(Value::Null, INVALID_REQUEST, "Invalid Request")).into_response();
    };
    let id = object.get("id").cloned();
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        // A response from the client (we never ask it anything) or garbage without a method.
        return match id {
            Some(_) if object.contains_key("result") || object.contains_key("error") => {
                StatusCode::ACCEPTED.into_response()
            }
            _ => (StatusCode::BAD_REQUEST, rpc_error(Value::Null, INVALID_REQUEST, "Invalid Request")).into_response(),
        };
    };
    let id = match id {
        // A notification (`notifications/initialized`, `notifications/cancelled`, …): accepted.
        None => return StatusCode::ACCEPTED.into_response(),
        // MCP *Basic*: a request id MUST be a string or an integer (never null).
        Some(id) if id.is_string() || id.is_i64() || id.is_u64() => id,
        Some(_) => {
            return (StatusCode::BAD_REQUEST, rpc_error(Value::Null, INVALID_REQUEST, "Invalid Request"))
                .into_response();
        }
    };
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    match call(method, &params, &auth.claims) {
        Ok(result) => Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response(),
        Err((code, message)) => rpc_error(id, code, message).into_response(),
    }
}

/// `Origin` (DNS rebinding) and `MCP-Protocol-Version` (MCP *Transports*: an unsupported version
/// MUST be answered with 400).
fn check_headers(state: &AppState, headers: &HeaderMap) -> Option<Response> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.origins.iter().any(|a| a == o));
        if !allowed {
            return Some((StatusCode::FORBIDDEN, Json(json!({"error": "origin not allowed"}))).into_response());
        }
    }
    if let Some(version) = headers.get("mcp-protocol-version")
        && !version.to_str().is_ok_and(|v| PROTOCOL_VERSIONS.contains(&v))
    {
        let body = rpc_error(Value::Null, INVALID_REQUEST, "Unsupported MCP-Protocol-Version");
        return Some((StatusCode::BAD_REQUEST, body).into_response());
    }
    None
}

fn rpc_error(id: Value, code: i64, message: &str) -> Json<Value> {
    Json(json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}))
}

/// The server's methods.
fn call(method: &str, params: &Value, claims: &AccessClaims) -> Result<Value, (i64, &'static str)> {
    match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            // Lifecycle: answer with the client's version when supported, else our newest.
            let version = asked.filter(|v| PROTOCOL_VERSIONS.contains(v)).unwrap_or(PROTOCOL_VERSIONS[0]);
            Ok(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "gatehouse-example-mcp", "version": env!("CARGO_PKG_VERSION")},
            }))
        }
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": [
            {
                "name": "whoami",
                "description": "Who the access token speaks for: subject, client and audience.",
                "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            },
            {
                "name": "add",
                "description": "Adds two numbers.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                    "required": ["a", "b"],
                    "additionalProperties": false,
                },
            },
        ]})),
        "tools/call" => tool(params, claims),
        _ => Err((METHOD_NOT_FOUND, "Method not found")),
    }
}

fn tool(params: &Value, claims: &AccessClaims) -> Result<Value, (i64, &'static str)> {
    let args = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
    let text = match params.get("name").and_then(Value::as_str) {
        Some("whoami") => json!({"sub": claims.sub, "client_id": claims.client_id, "aud": claims.aud}).to_string(),
        Some("add") => {
            let number = |k: &str| args.get(k).and_then(Value::as_f64).filter(|n| n.is_finite());
            let (Some(a), Some(b)) = (number("a"), number("b")) else {
                return Err((INVALID_PARAMS, "add takes two finite numbers a and b"));
            };
            (a + b).to_string()
        }
        _ => return Err((INVALID_PARAMS, "Unknown tool")),
    };
    Ok(json!({"content": [{"type": "text", "text": text}], "isError": false}))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;
    use axum::body::Body;
    use axum::http::{Request, header};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use gatehouse_guard::{KeySet, VerificationKey};
    use tower::ServiceExt as _;

    use super::*;

    const SECRET: &[u8] = b"example secret, at least 32 bytes long";
    const ISSUER: &str = "https://id.example.test";
    const RESOURCE: &str = "https://mcp.example.test/mcp";

    fn server() -> Router {
        let config = Config {
            issuer: ISSUER.into(),
            resource: RESOURCE.into(),
            allowed_origins: vec!["https://app.test".into()],
        };
        let keys = KeySet::from_keys([VerificationKey::hs256("k1", SECRET).unwrap()]).unwrap();
        let guard = Guard::builder(ISSUER)
            .audience(RESOURCE)
            .resource_metadata(metadata(&config).unwrap().metadata_url())
            .key_set(keys)
            .build()
            .unwrap();
        app(&config, guard).unwrap()
    }

    fn token(aud: &str, scope: &str) -> String {
        let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"});
        let claims = json!({"iss": ISSUER, "sub": "u1", "aud": aud, "exp": now + 60, "iat": now,
                            "jti": "j", "client_id": "c", "scope": scope});
        let input = format!("{}.{}", b64(header), b64(claims));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, SECRET), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    async fn post(body: &str, token: Option<&str>, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::post("/mcp").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = server().oneshot(req.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    fn good() -> String {
        token(RESOURCE, "mcp:tools")
    }

    #[tokio::test]
    async fn rfc9728_s5_1_a_request_without_a_token_names_the_metadata() {
        let (status, headers, _) = post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None, &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let challenge = headers[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(
            challenge
                .contains(r#"resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp""#),
            "{challenge}"
        );
        let other = token("https://other.example.test/", "mcp:tools");
        let (status, _, _) = post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, Some(&other), &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "RFC 8707: a token for another audience");
        let unscoped = token(RESOURCE, "openid");
        let (status, _, _) = post(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, Some(&unscoped), &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "RFC 6750 §3.1 insufficient_scope");
    }

    #[tokio::test]
    async fn initialize_negotiates_the_protocol_version() {
        let ask = |v: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","id":"a","method":"initialize","params":{{"protocolVersion":"{v}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
            )
        };
        let (status, _, body) = post(&ask("2025-06-18"), Some(&good()), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"], "a");
        assert_eq!(body["result"]["protocolVersion"], "2025-06-18", "a supported version is echoed");
        assert!(body["result"]["capabilities"]["tools"].is_object());
        let (_, _, body) = post(&ask("1999-01-01"), Some(&good()), &[]).await;
        assert_eq!(body["result"]["protocolVersion"], PROTOCOL_VERSIONS[0], "else our newest");
    }

    #[tokio::test]
    async fn tools_are_listed_and_called() {
        let (_, _, body) = post(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#, Some(&good()), &[]).await;
        let names: Vec<&str> =
            body["result"]["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(names, ["whoami", "add"]);
        let call =
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}"#;
        let (_, _, body) = post(call, Some(&good()), &[]).await;
        assert_eq!(body["result"]["content"][0]["text"], "42");
        let call = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"whoami"}}"#;
        let (_, _, body) = post(call, Some(&good()), &[]).await;
        let who: Value = serde_json::from_str(body["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!((who["sub"].as_str(), who["aud"][0].as_str()), (Some("u1"), Some(RESOURCE)));
        let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"add","arguments":{"a":"x"}}}"#;
        let (_, _, body) = post(call, Some(&good()), &[]).await;
        assert_eq!(body["error"]["code"], INVALID_PARAMS);
    }

    #[tokio::test]
    async fn json_rpc_errors_and_notifications() {
        let (status, _, body) = post("{not json", Some(&good()), &[]).await;
        assert_eq!((status, body["error"]["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(PARSE_ERROR)));
        let (status, _, body) = post(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, Some(&good()), &[]).await;
        assert_eq!((status, body["error"]["code"].as_i64()), (StatusCode::BAD_REQUEST, Some(INVALID_REQUEST)));
        assert_eq!(body["id"], Value::Null, "no id on an error about unreadable input");
        let (_, _, body) = post(r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#, Some(&good()), &[]).await;
        assert_eq!(body["error"]["code"], METHOD_NOT_FOUND);
        let (status, _, _) =
            post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, Some(&good()), &[]).await;
        assert_eq!(status, StatusCode::ACCEPTED, "Transports: a notification is answered 202");
        for id in ["null", "1.5", "true", "{}"] {
            let request = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let (status, _, body) = post(&request, Some(&good()), &[]).await;
            assert_eq!(
                (status, body["error"]["code"].as_i64()),
                (StatusCode::BAD_REQUEST, Some(INVALID_REQUEST)),
                "{id}"
            );
        }
    }

    #[tokio::test]
    async fn origin_and_protocol_version_headers_are_checked() {
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let (status, _, _) = post(ping, Some(&good()), &[("origin", "https://evil.test")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "Transports: Origin MUST be validated");
        let (status, _, _) = post(ping, None, &[("origin", "https://evil.test")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "before the token is looked at");
        let (status, _, _) = post(ping, Some(&good()), &[("origin", "https://app.test")]).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = post(ping, Some(&good()), &[("mcp-protocol-version", "2020-01-01")]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "Transports: an unsupported version is 400");
        let (status, _, _) = post(ping, Some(&good()), &[("mcp-protocol-version", "2025-06-18")]).await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn no_stream_and_no_sessions() {
        for method in [axum::http::Method::GET, axum::http::Method::DELETE] {
            let req = Request::builder().method(method.clone()).uri("/mcp").body(Body::empty()).unwrap();
            let resp = server().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        }
    }

    #[tokio::test]
    async fn the_metadata_is_served() {
        let req = Request::get("/.well-known/oauth-protected-resource/mcp").body(Body::empty()).unwrap();
        let resp = server().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let doc: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(doc["resource"], RESOURCE);
        assert_eq!(doc["authorization_servers"], json!([ISSUER]));
    }
}
