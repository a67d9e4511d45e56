//! Client self-registration end to end: RFC 7591 dynamic registration (open and
//! initial-access-token modes, §3.2.2 errors for policy violations), RFC 7592 management with
//! and without the registration access token, OAuth Client ID Metadata Documents served over
//! HTTPS on loopback (happy path, private addresses, a document whose `client_id` or
//! `redirect_uris` differ, an oversize document), both kinds through the code flow with PKCE
//! and `resource` (RFC 8707), the consent page's notice, the admin API's `registration`, and
//! the sweeper of registrations never used.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use gatehouse::config::{RegistrationModeConfig, Settings};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{call, cli_ok, client_token};
use crate::claims::claims_of;
use crate::helpers::{Backend, PASSWORD, TestApp, browser, csrf_from};
use crate::oauth::{REDIRECT, authorize_as, authorize_url, pkce, query_of, token_request};
use crate::on_both_backends;

on_both_backends!(
    rfc7591_open_registration_runs_the_code_flow_with_a_resource,
    rfc7591_initial_access_token_mode,
    rfc7591_s3_2_2_policy_violations_are_refused,
    rfc7592_management_needs_the_registration_access_token,
    cimd_client_runs_the_code_flow_with_a_resource,
    cimd_refusals,
    unused_registrations_are_swept,
);

const API: &str = "https://api.example.com/";

fn open(s: &mut Settings) {
    s.oauth.registration.mode = RegistrationModeConfig::Open;
    s.oauth.registration.allowed_scopes.push("read".into());
}

async fn register(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = browser().post(app.url("/oauth2/register")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn error_of(r: reqwest::Response, status: u16) -> String {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    body["error"].as_str().unwrap().to_owned()
}

/// ada and a resource server `API` accepting `read`.
async fn fixture(app: &TestApp) {
    assert_eq!(app.register("ada@example.com", PASSWORD).await.status(), 202);
    cli_ok(app, &["resources", "add", API, "--name", "API", "--scope", "read"]).await;
}

/// The code flow for `client` with `resource=API`: the consent page is checked for the
/// self-registration notice (with `host` for a metadata document), then the token's audience.
async fn code_flow_with_resource(app: &TestApp, client: &Value, host: Option<&str>) -> Value {
    let id = client["client_id"].as_str().unwrap();
    let (verifier, challenge) = pkce();
    let url = authorize_url(app, id, Some(&challenge), &[("resource", API)])
        .replace("scope=openid+profile+email+offline_access", "scope=openid+offline_access+read");
    // The consent page, seen by a signed-in browser.
    let b = browser();
    let page = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(app.url("/login"))
        .form(&[("csrf_token", csrf_from(&page).as_str()), ("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let consent = b.get(&url).send().await.unwrap();
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    assert!(
        consent.contains("This application registered itself; Gatehouse has not verified who runs it"),
        "{consent}"
    );
    if let Some(host) = host {
        assert!(consent.contains(&format!("<strong>{host}</strong>")), "{consent}");
    }
    let callback = authorize_as(app, &b, &url, "ada@example.com", "allow").await;
    let q = query_of(&callback);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
        ("resource", API),
    ];
    let r = token_request(app, client, &form).await;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await.unwrap();
    let claims = claims_of(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(API), "RFC 8707 §2.2: the token is for the resource asked for");
    assert_eq!(claims["client_id"], json!(id));
    tokens
}

pub(crate) async fn admin_view(app: &TestApp, id: &str) -> Value {
    let (_, admin) = client_token(app, &["gatehouse:admin"]).await;
    let path = format!("/admin/v1/clients/{}", url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>());
    let r = call(app, Some(&admin), Method::GET, &path, None).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn rfc7591_open_registration_runs_the_code_flow_with_a_resource(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, open).await else { return };
    fixture(&app).await;
    let disco: Value =
        browser().get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(disco["registration_endpoint"], json!(app.url("/oauth2/register")));
    assert!(disco.get("client_id_metadata_document_supported").is_none(), "not enabled: not advertised");
    // RFC 7591 §3.1: a public client.
    let meta = json!({
        "client_name": "Agent",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "openid offline_access read",
        "logo_uri": "https://app.example.com/logo.png"
    });
    let r = register(&app, None, &meta).await;
    assert_eq!(r.status(), 201, "RFC 7591 §3.2.1");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let client: Value = r.json().await.unwrap();
    assert!(client.get("client_secret").is_none(), "a public client has no secret");
    assert!(client["client_id_issued_at"].is_i64());
    assert_eq!(client["redirect_uris"], json!([REDIRECT]));
    assert_eq!(client["scope"], json!("openid offline_access read"));
    assert_eq!(client["token_endpoint_auth_method"], json!("none"));
    assert!(client["registration_access_token"].as_str().unwrap().len() >= 32);
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(client["registration_client_uri"], json!(app.url(&format!("/oauth2/register/{id}"))));
    assert_eq!(admin_view(&app, id).await["registration"], json!("dynamic"));
    code_flow_with_resource(&app, &client, None).await;

    // A confidential client: §3.2.1 client_secret with client_secret_expires_at.
    let r =
        register(&app, None, &json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_post"}))
            .await;
    assert_eq!(r.status(), 201);
    let confidential: Value = r.json().await.unwrap();
    assert!(confidential["client_secret"].as_str().unwrap().len() >= 32);
    assert_eq!(confidential["client_secret_expires_at"], json!(0));
    let events: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    assert_eq!(events.iter().filter(|e| *e == "client.self_registered").count(), 2, "{events:?}");
}

async fn rfc7591_initial_access_token_mode(b: Backend) {
    let Some(app) =
        TestApp::spawn_with(b, |s| s.oauth.registration.mode = RegistrationModeConfig::InitialAccessToken).await
    else {
        return;
    };
    let meta = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let r = register(&app, None, &meta).await;
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"));
    assert_eq!(error_of(r, 401).await, "invalid_token", "RFC 7591 §3: no initial access token");
    assert_eq!(error_of(register(&app, Some("wrong-token"), &meta).await, 401).await, "invalid_token");
    let out = cli_ok(&app, &["clients", "registration-token", "create", "--expires-in", "600", "--json"]).await;
    let token: Value = serde_json::from_str(&out).unwrap();
    let token = token["initial_access_token"].as_str().unwrap();
    assert_eq!(register(&app, Some(token), &meta).await.status(), 201);
    app.clock.advance(601);
    assert_eq!(error_of(register(&app, Some(token), &meta).await, 401).await, "invalid_token", "expired");
}

async fn rfc7591_s3_2_2_policy_violations_are_refused(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        open(s);
        s.oauth.registration.allowed_redirect_hosts = vec!["app.example.com".into(), "127.0.0.1".into()];
    })
    .await
    else {
        return;
    };
    let cases = [
        (json!({"redirect_uris": ["https://evil.example/cb"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": ["javascript:alert(1)"]}), "invalid_redirect_uri"),
        (json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}), "invalid_client_metadata"),
        (json!({"redirect_uris": [REDIRECT], "scope": "openid gatehouse:admin"}), "invalid_client_metadata"),
        (json!({"redirect_uris": [REDIRECT], "scope": "openid write"}), "invalid_client_metadata"),
        (json!({"redirect_uris": [REDIRECT], "skip_consent": true}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}), "invalid_client_metadata"),
        (json!({"redirect_uris": REDIRECT}), "invalid_client_metadata"),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
        (json!({"software_statement": "eyJ..."}), "invalid_software_statement"),
    ];
    for (body, code) in cases {
        let r = register(&app, None, &body).await;
        let text = r.text().await.unwrap();
        assert!(!text.contains("evil.example") && !text.contains("alert"), "never reflected: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"], json!(code), "{body}: {text}");
    }
    // NUL and invalid UTF-8 are answered with 400, never stored.
    for raw in
        [&b"{\"redirect_uris\": [\"https://app.example.com/cb\\u0000\"]}"[..], &b"{\"client_name\": \"\xff\xfe\"}"[..]]
    {
        let r = browser()
            .post(app.url("/oauth2/register"))
            .header("content-type", "application/json")
            .body(raw.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let r = browser().post(app.url("/oauth2/register")).form(&[("redirect_uris", REDIRECT)]).send().await.unwrap();
    assert_eq!(r.status(), 415, "RFC 7591 §3.1: JSON only");
    let (_, admin) = client_token(&app, &["gatehouse:admin"]).await;
    let all: Value = call(&app, Some(&admin), Method::GET, "/admin/v1/clients", None).await.json().await.unwrap();
    let dynamic = all["items"].as_array().unwrap().iter().filter(|c| c["registration"] == "dynamic").count();
    assert_eq!(dynamic, 0, "nothing refused was registered: {all}");
}

async fn rfc7592_management_needs_the_registration_access_token(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, open).await else { return };
    let r = register(&app, None, &json!({"client_name": "Tool", "redirect_uris": [REDIRECT]})).await;
    let client: Value = r.json().await.unwrap();
    let (id, token) = (client["client_id"].as_str().unwrap(), client["registration_access_token"].as_str().unwrap());
    let uri = client["registration_client_uri"].as_str().unwrap().to_owned();
    let send = |method: Method, token: Option<&str>, body: Option<Value>| {
        let mut req = browser().request(method, &uri);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    // §2.1: read.
    assert_eq!(error_of(send(Method::GET, None, None).await.unwrap(), 401).await, "invalid_token");
    assert_eq!(error_of(send(Method::GET, Some("x"), None).await.unwrap(), 401).await, "invalid_token");
    let r = send(Method::GET, Some(token), None).await.unwrap();
    assert_eq!(r.status(), 200);
    let read: Value = r.json().await.unwrap();
    assert_eq!((read["client_id"].as_str(), read["client_name"].as_str()), (Some(id), Some("Tool")));
    assert!(read.get("client_secret").is_none() && read.get("registration_access_token").is_none());
    // Another client's token does not open this one.
    let other: Value = register(&app, None, &json!({"redirect_uris": [REDIRECT]})).await.json().await.unwrap();
    let other_token = other["registration_access_token"].as_str().unwrap();
    assert_eq!(send(Method::GET, Some(other_token), None).await.unwrap().status(), 401);
    // §2.2: update (client_id required; the policy still holds).
    let new = json!({"client_id": id, "client_name": "Tool 2", "redirect_uris": ["https://app.example.com/other"]});
    assert_eq!(send(Method::PUT, None, Some(new.clone())).await.unwrap().status(), 401);
    let no_id = json!({"client_name": "Tool 2", "redirect_uris": [REDIRECT]});
    assert_eq!(
        error_of(send(Method::PUT, Some(token), Some(no_id)).await.unwrap(), 400).await,
        "invalid_client_metadata"
    );
    let bad = json!({"client_id": id, "redirect_uris": ["http://evil.example/cb"]});
    assert_eq!(error_of(send(Method::PUT, Some(token), Some(bad)).await.unwrap(), 400).await, "invalid_redirect_uri");
    let r = send(Method::PUT, Some(token), Some(new)).await.unwrap();
    assert_eq!(r.status(), 200);
    let updated: Value = r.json().await.unwrap();
    assert_eq!(updated["redirect_uris"], json!(["https://app.example.com/other"]));
    assert_eq!(updated["client_name"], json!("Tool 2"));
    // The old secret still authenticates (unchanged by the update).
    let secret = client["client_secret"].as_str().unwrap();
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 400).await, "unauthorized_client", "authenticated, then the grant is refused");
    // §2.3: delete.
    assert_eq!(send(Method::DELETE, None, None).await.unwrap().status(), 401);
    assert_eq!(send(Method::DELETE, Some(token), None).await.unwrap().status(), 204);
    assert_eq!(send(Method::GET, Some(token), None).await.unwrap().status(), 401, "§2.1: gone is 401");
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r, 401).await, "invalid_client");
    let events: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"client.self_updated".to_owned()) && events.contains(&"client.self_deleted".to_owned()));
}

/// A TLS server on 127.0.0.1 serving `/client.json` (whatever `doc` holds) and counting hits.
pub(crate) struct DocServer {
    base: String,
    doc: Arc<std::sync::Mutex<Vec<u8>>>,
    hits: Arc<AtomicUsize>,
    ca_file: std::path::PathBuf,
}

impl DocServer {
    pub(crate) async fn start() -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
        let (cert, key) = (generated.cert.pem(), generated.signing_key.serialize_pem());
        let ca_file = std::env::temp_dir().join(format!("gatehouse-cimd-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca_file, &cert).unwrap();
        let config =
            axum_server::tls_rustls::RustlsConfig::from_pem(cert.into_bytes(), key.into_bytes()).await.unwrap();
        let doc = Arc::new(std::sync::Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (d, h) = (doc.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/client.json",
            axum::routing::get(move || {
                let (d, h) = (d.clone(), h.clone());
                async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    let body = d.lock().unwrap().clone();
                    ([("content-type", "application/json"), ("cache-control", "max-age=300")], body)
                }
            }),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let server = axum_server::from_tcp_rustls(listener, config).unwrap();
        tokio::spawn(async move { server.serve(app.into_make_service()).await });
        Self { base: format!("https://127.0.0.1:{}", addr.port()), doc, hits, ca_file }
    }

    pub(crate) fn client_id(&self) -> String {
        format!("{}/client.json", self.base)
    }

    pub(crate) fn serve(&self, doc: &Value) {
        *self.doc.lock().unwrap() = serde_json::to_vec(doc).unwrap();
    }

    fn document(&self) -> Value {
        json!({
            "client_id": self.client_id(),
            "client_name": "MCP Agent",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "openid offline_access read"
        })
    }
}

pub(crate) fn cimd(docs: &DocServer, dev: bool) -> impl FnOnce(&mut Settings) {
    let ca = docs.ca_file.clone();
    move |s: &mut Settings| {
        let c = &mut s.oauth.client_id_metadata_document;
        c.enabled = true;
        c.allow_private_addresses_insecure_dev_only = dev;
        c.extra_ca_file = Some(ca);
        c.max_document_bytes = 1024;
        s.oauth.registration.allowed_scopes.push("read".into());
    }
}

async fn cimd_client_runs_the_code_flow_with_a_resource(b: Backend) {
    let docs = DocServer::start().await;
    let Some(app) = TestApp::spawn_with(b, cimd(&docs, true)).await else { return };
    fixture(&app).await;
    let disco: Value =
        browser().get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(disco["client_id_metadata_document_supported"], json!(true));
    assert!(disco.get("registration_endpoint").is_none(), "registration disabled: not advertised");
    docs.serve(&docs.document());
    let client = json!({"client_id": docs.client_id()});
    let tokens = code_flow_with_resource(&app, &client, Some("127.0.0.1")).await;
    let hits = docs.hits.load(Ordering::SeqCst);
    assert!(hits >= 1, "the document was fetched");
    // A refresh within the cache lifetime does not fetch again.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("resource", API),
    ];
    assert_eq!(token_request(&app, &client, &form).await.status(), 200);
    assert_eq!(docs.hits.load(Ordering::SeqCst), hits, "cached per Cache-Control");
    let view = admin_view(&app, &docs.client_id()).await;
    assert_eq!((view["registration"].as_str(), view["public"].as_bool()), (Some("metadata_document"), Some(true)));
    assert_eq!(view["name"], json!("MCP Agent"));
}

/// The authorization request of `client_id` is refused on Gatehouse's own error page.
async fn refused(app: &TestApp, client_id: &str) -> String {
    let (_, challenge) = pkce();
    let r = browser().get(authorize_url(app, client_id, Some(&challenge), &[])).send().await.unwrap();
    assert_eq!(r.status(), 400, "refused, never redirected");
    r.text().await.unwrap()
}

async fn cimd_refusals(b: Backend) {
    let docs = DocServer::start().await;
    // Without the development setting: loopback and private addresses are never fetched.
    let Some(app) = TestApp::spawn_with(b, cimd(&docs, false)).await else { return };
    docs.serve(&docs.document());
    for id in [docs.client_id(), "https://10.0.0.1/client.json".into(), "https://[::1]/client.json".into()] {
        let page = refused(&app, &id).await;
        assert!(page.contains("not registered"), "{page}");
    }
    assert_eq!(docs.hits.load(Ordering::SeqCst), 0, "no request reached the private address");
    drop(app);

    let Some(app) = TestApp::spawn_with(b, cimd(&docs, true)).await else { return };
    // The document's redirect URIs differ from the request's.
    let mut doc = docs.document();
    doc["redirect_uris"] = json!(["https://elsewhere.example.com/cb"]);
    docs.serve(&doc);
    assert!(refused(&app, &docs.client_id()).await.contains("redirect URI"));
    // A document naming another client_id (fetched anew: the refused one was not kept).
    let mut doc = docs.document();
    doc["client_id"] = json!("https://app.example.com/client.json");
    docs.serve(&doc);
    assert!(refused(&app, &format!("{}/client.json?v=2", docs.base)).await.contains("not registered"));
    // Oversize (max_document_bytes = 1024).
    let mut doc = docs.document();
    doc["client_name"] = json!("x".repeat(40));
    doc["padding"] = json!("y".repeat(2000));
    docs.serve(&doc);
    assert!(refused(&app, &format!("{}/client.json?v=3", docs.base)).await.contains("not registered"));
    // A refused client_id is remembered for a minute: asking again fetches nothing.
    let before = docs.hits.load(Ordering::SeqCst);
    assert!(refused(&app, &format!("{}/client.json?v=3", docs.base)).await.contains("not registered"));
    assert_eq!(docs.hits.load(Ordering::SeqCst), before, "not fetched again");
    // A shared-secret method is refused.
    let mut doc = docs.document();
    doc["client_id"] = json!(format!("{}/client.json?v=4", docs.base));
    doc["token_endpoint_auth_method"] = json!("client_secret_basic");
    docs.serve(&doc);
    assert!(refused(&app, &format!("{}/client.json?v=4", docs.base)).await.contains("not registered"));
    // Not a valid client_id URL (no path): never fetched.
    let before = docs.hits.load(Ordering::SeqCst);
    refused(&app, &format!("{}/", docs.base)).await;
    assert_eq!(docs.hits.load(Ordering::SeqCst), before);
}

async fn unused_registrations_are_swept(b: Backend) {
    let Some(app) = TestApp::spawn_with(b, |s| {
        open(s);
        s.oauth.registration.unused_registration_lifetime = 60;
        s.oauth.registration.sweep_interval = 1;
    })
    .await
    else {
        return;
    };
    let meta = json!({"redirect_uris": [REDIRECT]});
    let unused: Value = register(&app, None, &meta).await.json().await.unwrap();
    let used: Value = register(&app, None, &meta).await.json().await.unwrap();
    // `used` authenticates at the token endpoint once.
    let r = browser()
        .post(app.url("/oauth2/token"))
        .basic_auth(used["client_id"].as_str().unwrap(), used["client_secret"].as_str())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let read = |c: &Value| {
        let (uri, token) =
            (c["registration_client_uri"].as_str().unwrap(), c["registration_access_token"].as_str().unwrap());
        browser().get(uri).bearer_auth(token).send()
    };
    assert_eq!(read(&unused).await.unwrap().status(), 200);
    app.clock.advance(120);
    let mut gone = false;
    for _ in 0..50 {
        if read(&unused).await.unwrap().status() == 401 {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the registration never used was deleted");
    assert_eq!(read(&used).await.unwrap().status(), 200, "the used one stays");
    let events: Vec<String> = app.audit_events().await.into_iter().map(|e| e.0).collect();
    assert!(events.contains(&"client.self_registration_expired".to_owned()), "{events:?}");
}
