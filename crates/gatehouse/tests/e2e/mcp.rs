//! Gatehouse as the authorization server of an MCP server, driven by the official MCP
//! TypeScript SDK (`@modelcontextprotocol/sdk`, tests/interop/mcp_sdk_client.mjs) as the client.
//!
//! The MCP server is `examples/mcp-server` (Streamable HTTP, protected by `gatehouse-guard`),
//! registered in Gatehouse as a resource server. The SDK gets a 401 naming the server's
//! Protected Resource Metadata (RFC 9728 §5.1), finds Gatehouse from it (§2, RFC 8414), gets
//! a client id (an operator's, or its own by RFC 7591 or a Client ID Metadata Document), runs the
//! code flow with PKCE (RFC 7636) and `resource` (RFC 8707 §2.1), and calls tools with the
//! audience-bound token. A token for another resource is refused by the MCP server, and the
//! MCP server's token by another resource server.

use std::path::Path;
use std::time::Duration;

use gatehouse_guard::Guard;
use serde_json::{Value, json};

use crate::admin::cli_ok;
use gatehouse::config::{RegistrationModeConfig, Settings};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::interop::{INTEROP_DIR, available};
use crate::oauth::create_client;
use crate::on_both_backends;
use crate::self_registration::admin_view;

on_both_backends!(
    mcp_sdk_with_an_operator_registered_client,
    mcp_sdk_registers_by_dynamic_registration,
    mcp_sdk_registers_with_a_client_id_metadata_document,
    mcp_server_refuses_tokens_for_other_resources,
);

const EMAIL: &str = "ada@example.com";

/// A running MCP server and what the test needs to know about it.
pub(crate) struct McpServer {
    /// The MCP endpoint, which is also the resource identifier.
    pub resource: String,
    pub origin: String,
}

/// Starts `examples/mcp-server` for Gatehouse at `app` on a free port, and registers it in
/// Gatehouse as a resource server accepting the scope `mcp:tools`.
pub(crate) async fn start_mcp_server(app: &TestApp) -> McpServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{origin}/mcp");
    let config = mcp_server::Config { issuer: app.base.clone(), resource: resource.clone(), allowed_origins: vec![] };
    let router = mcp_server::app(&config, mcp_server::guard(&config).unwrap()).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    cli_ok(app, &["resources", "add", &resource, "--name", "Example MCP server", "--scope", "mcp:tools"]).await;
    McpServer { resource, origin }
}

/// A second API (audience `https://other.example.com/`), guarded the same way.
async fn other_api(app: &TestApp) -> String {
    const OTHER: &str = "https://other.example.com/";
    cli_ok(app, &["resources", "add", OTHER, "--name", "Other API", "--scope", "mcp:tools"]).await;
    let guard = Guard::for_issuer(&app.base, OTHER).unwrap();
    let router = axum::Router::new()
        .route("/things", axum::routing::get(|_: gatehouse_guard::Authenticated| async { "things" }))
        .with_state(guard);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/things", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Whether node and the SDK are installed (skip, or fail under GATEHOUSE_REQUIRE_SERVICES=1).
pub(crate) fn sdk_available() -> bool {
    available(
        "node",
        &["-e", "import('@modelcontextprotocol/sdk/client/index.js')"],
        "the MCP TypeScript SDK",
        "npm ci --prefix crates/gatehouse/tests/interop",
    )
}

/// Runs the SDK client against `server` with `extra` arguments; returns its JSON summary, which
/// must say `ok`.
pub(crate) async fn run_sdk(server: &McpServer, redirect: &str, extra: &[String]) -> Value {
    let script = Path::new(INTEROP_DIR).join("mcp_sdk_client.mjs");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(&script).current_dir(INTEROP_DIR).kill_on_drop(true);
    cmd.args([
        format!("--server={}", server.resource),
        format!("--email={EMAIL}"),
        format!("--redirect-uri={redirect}"),
        format!("--password={PASSWORD}"),
    ]);
    cmd.args(extra);
    let out =
        tokio::time::timeout(Duration::from_secs(90), cmd.output()).await.expect("the SDK finished in 90 s").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{} failed\nstdout: {stdout}\nstderr: {stderr}", script.display());
    let summary: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(summary["ok"], true, "{summary:#}");
    summary
}

/// What every SDK run must report: the authorization request named the MCP server as the
/// resource with S256 PKCE, the token is bound to it, and the tools answered for the user.
pub(crate) fn assert_sdk_summary(app: &TestApp, server: &McpServer, summary: &Value, user_id: &str) {
    let request = &summary["authorization_request"];
    assert_eq!(request["resource"], server.resource.as_str(), "RFC 8707 §2.1: resource on the request");
    assert_eq!(request["code_challenge_method"], "S256", "RFC 7636 §4.3");
    assert_eq!(request["response_type"], "code");
    assert_eq!(request["scope"], "mcp:tools", "the scope comes from the server's metadata (RFC 9728 §2)");
    assert_eq!(summary["callback_iss"], app.base.as_str(), "RFC 9207 §2");
    assert_eq!(summary["token_type"].as_str().map(str::to_ascii_lowercase).as_deref(), Some("bearer"));
    assert_eq!(summary["tools"], json!(["add", "whoami"]));
    assert_eq!(summary["sum"], "42");
    let whoami = &summary["whoami"];
    assert_eq!(whoami["sub"], user_id);
    assert_eq!(whoami["aud"], json!([server.resource]), "the token's audience is exactly the MCP server");
    assert_eq!(whoami["client_id"], summary["client_id"]);
}

/// The MCP server's own answers without a token: 401 with the metadata URL (RFC 9728 §5.1) and
/// the metadata naming Gatehouse (§2, §3.2).
async fn assert_discovery_from_the_server(app: &TestApp, server: &McpServer) {
    let r = browser()
        .post(&server.resource)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", server.origin);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")), "{challenge}");
    let metadata: Value = browser().get(&metadata_url).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["resource"], server.resource.as_str());
    assert_eq!(metadata["authorization_servers"], json!([app.base]));
    assert_eq!(metadata["scopes_supported"], json!(["mcp:tools"]));
}

/// An MCP client configured with a client id by hand: discovery from the MCP server, the code
/// flow with `resource`, and tools called with the audience-bound token.
async fn mcp_sdk_with_an_operator_registered_client(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    if !sdk_available() {
        return;
    }
    let user = app.register_user(EMAIL, PASSWORD).await;
    let server = start_mcp_server(&app).await;
    assert_discovery_from_the_server(&app, &server).await;
    let redirect = "http://127.0.0.1:33418/callback";
    let client = create_client(
        &app,
        &["--public", "--grant-type", "authorization_code", "--redirect-uri", redirect, "--scope", "mcp:tools"],
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let summary = run_sdk(&server, redirect, &[format!("--client-id={client_id}")]).await;
    assert_eq!(summary["registered_by"], "operator");
    assert_eq!(summary["client_id"], client_id);
    assert_sdk_summary(&app, &server, &summary, user["id"].as_str().unwrap());
}

/// Gatehouse set up by `configure` (with `mcp:tools` among the scopes self-registered clients may
/// ask for), the user, the MCP server, and the SDK's run with `extra`: the app, the server, the
/// user's id and the SDK's summary (`None`: skipped).
async fn self_registering_sdk(
    b: Backend,
    configure: impl FnOnce(&mut Settings),
    redirect: &str,
    extra: &[String],
) -> Option<(TestApp, McpServer, String, Value)> {
    let app = TestApp::spawn_with(b, |s| {
        configure(s);
        s.oauth.registration.allowed_scopes.push("mcp:tools".into());
    })
    .await?;
    if !sdk_available() {
        return None;
    }
    let user = app.register_user(EMAIL, PASSWORD).await["id"].as_str().unwrap().to_owned();
    let server = start_mcp_server(&app).await;
    let summary = run_sdk(&server, redirect, extra).await;
    assert!(summary["pages"].as_array().unwrap().contains(&json!("consent page")), "{summary:#}");
    assert_sdk_summary(&app, &server, &summary, &user);
    Some((app, server, user, summary))
}

/// An MCP client that registers itself (RFC 7591, open registration: Gatehouse advertises
/// `registration_endpoint` and no Client ID Metadata Documents): the SDK registers at the
/// endpoint, and the client is marked as self-registered in the admin API.
async fn mcp_sdk_registers_by_dynamic_registration(b: Backend) {
    let open = |s: &mut Settings| s.oauth.registration.mode = RegistrationModeConfig::Open;
    let redirect = "http://127.0.0.1:33419/callback";
    let Some((app, _, _, summary)) = self_registering_sdk(b, open, redirect, &[]).await else { return };
    assert_eq!(summary["registered_by"], "dynamic");
    let client = admin_view(&app, summary["client_id"].as_str().unwrap()).await;
    assert_eq!(client["registration"], "dynamic", "marked as self-registered in the admin API");
}

/// An MCP client whose id is the HTTPS URL of its Client ID Metadata Document (served here on
/// loopback, allowed by the development setting, with a test CA): the SDK uses it because
/// Gatehouse advertises `client_id_metadata_document_supported`; Gatehouse fetches the document.
async fn mcp_sdk_registers_with_a_client_id_metadata_document(b: Backend) {
    let docs = crate::self_registration::DocServer::start().await;
    let redirect = "http://127.0.0.1:33420/callback";
    let client_id = docs.client_id();
    docs.serve(&json!({
        "client_id": client_id,
        "client_name": "MCP SDK interop test",
        "redirect_uris": [redirect],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "mcp:tools"
    }));
    let cimd = crate::self_registration::cimd(&docs, true);
    let configure = |s: &mut Settings| {
        cimd(s);
        s.oauth.client_id_metadata_document.max_document_bytes = 4096;
    };
    let extra = [format!("--client-metadata-url={client_id}")];
    let Some((app, _, _, summary)) = self_registering_sdk(b, configure, redirect, &extra).await else { return };
    assert_eq!(summary["registered_by"], "metadata_document");
    assert_eq!(summary["client_id"], client_id.as_str());
    assert_eq!(admin_view(&app, &client_id).await["registration"], "metadata_document");
}

/// RFC 8707 / RFC 9068 §4: each resource server accepts only tokens minted for it — a token for
/// another resource is refused by the MCP server (401 `invalid_token`, with the metadata URL so
/// the client can start over), and the MCP server's token is refused by the other API.
async fn mcp_server_refuses_tokens_for_other_resources(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let server = start_mcp_server(&app).await;
    let other = other_api(&app).await;
    let client = create_client(&app, &["--grant-type", "client_credentials", "--scope", "mcp:tools"]).await;
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    let mcp_token = token_for(&app, (id, secret), &server.resource).await;
    let other_token = token_for(&app, (id, secret), "https://other.example.com/").await;
    let call = |token: String| {
        browser()
            .post(&server.resource)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                          "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}))
            .send()
    };

    let r = call(mcp_token.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "3", "{body}");

    let r = call(other_token.clone()).await.unwrap();
    assert_eq!(r.status(), 401, "a token for another resource");
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");

    assert_eq!(browser().get(&other).bearer_auth(&other_token).send().await.unwrap().status(), 200);
    assert_eq!(browser().get(&other).bearer_auth(&mcp_token).send().await.unwrap().status(), 401);
}

/// A client-credentials token for `resource` (RFC 8707 §2.2).
async fn token_for(app: &TestApp, (id, secret): (&str, &str), resource: &str) -> String {
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "mcp:tools"), ("resource", resource)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}
