//! Federation test harness: a browser with one cookie jar per origin (several servers share
//! 127.0.0.1, and cookies ignore ports), the Node `oidc-provider` upstream
//! (`tests/interop/upstream_op.mjs`), and a Gatehouse configured with an upstream provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse::config::{ProviderEntry, Settings};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, TestApp};
use crate::interop::{INTEROP_DIR, available};

/// One cookie jar per `scheme://host:port`, like a browser keeps per-site cookies apart.
#[derive(Default)]
struct PerOrigin(Mutex<HashMap<String, Arc<Jar>>>);

impl PerOrigin {
    fn jar(&self, url: &url::Url) -> Arc<Jar> {
        let mut jars = self.0.lock().unwrap();
        jars.entry(url.origin().ascii_serialization()).or_default().clone()
    }
}

impl CookieStore for PerOrigin {
    fn set_cookies(&self, headers: &mut dyn Iterator<Item = &HeaderValue>, url: &url::Url) {
        self.jar(url).set_cookies(headers, url);
    }

    fn cookies(&self, url: &url::Url) -> Option<HeaderValue> {
        self.jar(url).cookies(url)
    }
}

/// The end of a walk through redirects.
pub struct Landed {
    /// The last URL requested (or the redirect target the walk stopped before).
    pub url: String,
    pub status: u16,
    pub body: String,
    /// Every URL requested, in order.
    pub visited: Vec<String>,
}

pub struct Browser {
    pub client: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .cookie_provider(Arc::new(PerOrigin::default()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { client }
    }

    /// GETs `url` and follows redirects while `go_on(next)` holds; stops (without requesting it)
    /// at the first target it refuses, reported with status 303.
    pub async fn walk(&self, url: &str, go_on: impl Fn(&str) -> bool) -> Landed {
        let mut url = url.to_owned();
        let mut visited = Vec::new();
        for _ in 0..20 {
            visited.push(url.clone());
            let r = self.client.get(&url).send().await.unwrap();
            let status = r.status().as_u16();
            if !(300..400).contains(&status) {
                let body = r.text().await.unwrap();
                return Landed { url, status, body, visited };
            }
            let to = r.headers()["location"].to_str().unwrap();
            let next = url::Url::parse(&url).unwrap().join(to).unwrap().to_string();
            if !go_on(&next) {
                return Landed { url: next, status, body: String::new(), visited };
            }
            url = next;
        }
        panic!("too many redirects: {visited:?}");
    }

    /// Follows every redirect on loopback.
    pub async fn follow(&self, url: &str) -> Landed {
        self.walk(url, |u| u.starts_with("http://127.0.0.1:")).await
    }

    pub async fn me(&self, app: &TestApp) -> (u16, Value) {
        let r = self.client.get(app.url("/api/v1/me")).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

static SECRETS: AtomicUsize = AtomicUsize::new(0);

/// A 0600 file holding `secret`, for `client_secret_file`.
pub fn secret_file(secret: &str) -> std::path::PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let n = SECRETS.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("gatehouse-fed-secret-{}-{n}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path).unwrap();
    f.write_all(secret.as_bytes()).unwrap();
    path
}

/// A listener for the Gatehouse under test, and its base URL (to register its callback first).
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    (l, base)
}

/// An `oidc` provider entry for `[[federation.providers]]`.
pub fn oidc_provider(id: &str, issuer: &str, client_id: &str, secret: &str) -> ProviderEntry {
    ProviderEntry {
        id: id.into(),
        kind: "oidc".into(),
        display_name: Some(format!("Upstream {id}")),
        issuer: Some(issuer.into()),
        client_id: client_id.into(),
        client_secret_file: Some(secret_file(secret)),
        ..ProviderEntry::default()
    }
}

/// Gatehouse on `listener` with these upstream providers.
pub async fn downstream(
    b: Backend,
    listener: tokio::net::TcpListener,
    providers: Vec<ProviderEntry>,
    tweak: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    TestApp::spawn_on(b, listener, |s| {
        s.federation.providers = providers;
        tweak(s);
    })
    .await
}

pub const OP_CLIENT_ID: &str = "gatehouse-downstream";
pub const OP_CLIENT_SECRET: &str = "op-client-secret-that-is-long-enough-0123456789";

/// The Node `oidc-provider` upstream, killed when dropped.
pub struct NodeOp {
    pub issuer: String,
    _child: tokio::process::Child,
}

impl NodeOp {
    /// `None` (skip) when Node or the package is missing, unless `GATEHOUSE_REQUIRE_SERVICES=1`.
    pub async fn start(redirect_uri: &str) -> Option<Self> {
        let install = "npm ci --prefix crates/gatehouse/tests/interop";
        if !available("node", &["-e", "import('oidc-provider')"], "Node oidc-provider", install) {
            return None;
        }
        let mut child = tokio::process::Command::new("node")
            .arg("upstream_op.mjs")
            .arg(format!("--client-id={OP_CLIENT_ID}"))
            .arg(format!("--client-secret={OP_CLIENT_SECRET}"))
            .arg(format!("--redirect-uri={redirect_uri}"))
            .current_dir(INTEROP_DIR)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("oidc-provider started within 30 s")
            .unwrap()
            .expect("a first line");
        // Keep reading: a closed pipe would kill the process at its next write (EPIPE).
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let ready: Value = serde_json::from_str(&line).unwrap();
        Some(Self { issuer: ready["issuer"].as_str().unwrap().to_owned(), _child: child })
    }

    /// Who signs in at the upstream next: `{"sub", "email", "email_verified", "deny"}`.
    pub async fn set_user(&self, user: Value) {
        let r = reqwest::Client::new().post(format!("{}/__test/user", self.issuer)).json(&user).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    /// How many times the upstream's login prompt ran.
    pub async fn logins(&self) -> u64 {
        let r = reqwest::Client::new().get(format!("{}/__test/stats", self.issuer)).send().await.unwrap();
        r.json::<Value>().await.unwrap()["logins"].as_u64().unwrap()
    }
}

/// The reasons of `federation.login_failed` events, oldest first.
pub async fn failure_reasons(app: &TestApp) -> Vec<String> {
    app.audit_events()
        .await
        .into_iter()
        .filter(|(t, ..)| t == "federation.login_failed")
        .map(|(_, _, _, details)| {
            serde_json::from_str::<Value>(&details).unwrap()["reason"].as_str().unwrap().to_owned()
        })
        .collect()
}

pub async fn event_types(app: &TestApp) -> Vec<String> {
    app.audit_events().await.into_iter().map(|(t, ..)| t).collect()
}
