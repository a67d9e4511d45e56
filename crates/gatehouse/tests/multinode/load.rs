//! The bounded load: a few tasks, each a loop of random operations through the balancer until
//! told to stop or out of operations — password sign-ins (`/api/v1/auth/login`), first-party
//! token sign-ins (`/api/v1/auth/token`), refresh rotations (`/api/v1/auth/refresh`), OAuth code
//! flows with PKCE (the login form, then `/oauth2/token`), AuthZEN decisions and `/api/v1/me`.
//! Every result the cluster acknowledged (a 2xx that delivered its cookie, token or code) goes
//! into the [`Ledger`]; every other answer and every request without one into its failures.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cluster::{Cluster, PASSWORD};

pub const REDIRECT: &str = "https://app.example.com/callback";

/// What the load works with, created through the balancer and the CLI.
pub struct Setup {
    pub base: String,
    pub users: Vec<String>,
    /// A confidential web client that skips consent.
    pub client_id: String,
    pub client_secret: String,
    /// A client-credentials access token with `gatehouse:evaluate`.
    pub evaluator: String,
}

impl Setup {
    pub async fn create(cluster: &Cluster, users: usize) -> Self {
        let http = reqwest::Client::new();
        let emails: Vec<String> = (0..users).map(|i| format!("load{i}@example.com")).collect();
        for email in &emails {
            let r = http
                .post(cluster.url("/api/v1/auth/register"))
                .json(&json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202, "register {email}");
        }
        let web: Value = serde_json::from_str(
            &cluster
                .cli(&[
                    "clients",
                    "create",
                    "--name",
                    "Load web app",
                    "--grant-type",
                    "authorization_code",
                    "--redirect-uri",
                    REDIRECT,
                    "--scope",
                    "openid",
                    "--skip-consent",
                    "--json",
                ])
                .await,
        )
        .unwrap();
        let evaluator = client_credentials_client(cluster, "gatehouse:evaluate").await;
        let r = http
            .post(cluster.url("/oauth2/token"))
            .basic_auth(&evaluator.0, Some(&evaluator.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "evaluator token");
        let token = r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
        Self {
            base: cluster.nginx.base(),
            users: emails,
            client_id: web["client_id"].as_str().unwrap().to_owned(),
            client_secret: web["client_secret"].as_str().unwrap().to_owned(),
            evaluator: token,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `(client_id, client_secret)` of a new client-credentials client with `scope`.
pub async fn client_credentials_client(cluster: &Cluster, scope: &str) -> (String, String) {
    let out = cluster
        .cli(&[
            "clients",
            "create",
            "--name",
            "Machine",
            "--grant-type",
            "client_credentials",
            "--scope",
            scope,
            "--json",
        ])
        .await;
    let v: Value = serde_json::from_str(&out).unwrap();
    (v["client_id"].as_str().unwrap().to_owned(), v["client_secret"].as_str().unwrap().to_owned())
}

/// A refresh-token chain: one token sign-in, then its rotations.
#[derive(Debug, Clone)]
pub struct Chain {
    pub latest: String,
    /// A rotation of `latest` was sent and not acknowledged: it may or may not have happened.
    pub in_doubt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redemption {
    /// `/oauth2/token` answered 200 for it.
    Acknowledged,
    /// Sent, no 200 came back.
    InDoubt,
}

#[derive(Debug, Clone)]
pub struct Code {
    pub code: String,
    pub verifier: String,
    pub redemption: Redemption,
}

/// An answer that was not the 2xx asked for, or no answer.
#[derive(Debug, Clone)]
pub struct Failure {
    pub op: &'static str,
    pub post: bool,
    /// `None`: no HTTP answer (timeout, connection error, body cut off).
    pub status: Option<u16>,
    pub retry_after: bool,
    pub detail: String,
    pub at: Instant,
    pub elapsed: Duration,
}

/// Everything the cluster acknowledged, and everything that went wrong.
#[derive(Default)]
pub struct Ledger {
    /// (email, `name=value` of the session cookie)
    pub sessions: Vec<(String, String)>,
    /// Acknowledged sign-ins per email (API, token and form sign-ins).
    pub sign_ins: BTreeMap<String, usize>,
    pub chains: Vec<Chain>,
    /// Every refresh token ever acknowledged.
    pub refresh_tokens: Vec<String>,
    pub codes: Vec<Code>,
    pub decisions: usize,
    /// "<op> <status>" → count, for the printed summary.
    pub answers: BTreeMap<String, usize>,
    pub failures: Vec<Failure>,
}

impl Ledger {
    fn count(&mut self, op: &str, what: &str) {
        *self.answers.entry(format!("{op} {what}")).or_default() += 1;
    }

    pub fn summary(&self) -> String {
        let answers: Vec<String> = self.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!(
            "acknowledged: {} sessions, {} sign-ins, {} refresh tokens in {} chains ({} in doubt), {} codes \
             ({} redemptions in doubt), {} decisions; answers: {}",
            self.sessions.len(),
            self.sign_ins.values().sum::<usize>(),
            self.refresh_tokens.len(),
            self.chains.len(),
            self.chains.iter().filter(|c| c.in_doubt).count(),
            self.codes.len(),
            self.codes.iter().filter(|c| c.redemption == Redemption::InDoubt).count(),
            self.decisions,
            answers.join(", ")
        )
    }
}

pub type Shared = Arc<Mutex<Ledger>>;

/// A small xorshift generator: replayable randomness, no dependency.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Starts `tasks` load tasks; they stop when `stop` is set or after `max_ops` operations each.
pub fn start(
    setup: &Arc<Setup>,
    ledger: &Shared,
    stop: &Arc<AtomicBool>,
    tasks: usize,
    max_ops: usize,
    seed: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|t| {
            let (setup, ledger, stop) = (setup.clone(), ledger.clone(), stop.clone());
            let rng = Rng((seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
            tokio::spawn(task(setup, ledger, stop, max_ops, rng))
        })
        .collect()
}

async fn task(setup: Arc<Setup>, ledger: Shared, stop: Arc<AtomicBool>, max_ops: usize, mut rng: Rng) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..max_ops {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let email = setup.users[rng.below(setup.users.len())].clone();
        match rng.below(10) {
            0..=1 => login(&http, &setup, &ledger, &email).await,
            2..=3 => token_login(&http, &setup, &ledger, &email).await,
            4..=6 => rotate_one(&http, &setup, &ledger, &mut rng).await,
            7 => code_flow(&setup, &ledger, &email).await,
            8 => decision(&http, &setup, &ledger).await,
            _ => me(&http, &setup, &ledger, &mut rng).await,
        }
    }
}

/// The outcome of one request: the response when its status was the one expected.
pub enum Sent {
    Ok(reqwest::Response),
    /// Recorded as a failure already.
    Failed,
}

/// Sends `req`, expecting `want`; anything else is recorded as a failure of `op`.
pub async fn send(ledger: &Shared, op: &'static str, post: bool, req: reqwest::RequestBuilder, want: u16) -> Sent {
    let at = Instant::now();
    let result = req.send().await;
    let elapsed = at.elapsed();
    let mut l = ledger.lock().unwrap();
    match result {
        Ok(r) if r.status().as_u16() == want => {
            l.count(op, &want.to_string());
            Sent::Ok(r)
        }
        Ok(r) => {
            let status = r.status().as_u16();
            l.count(op, &status.to_string());
            let retry_after = r.headers().contains_key("retry-after");
            let upstream = r.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            l.failures.push(Failure {
                op,
                post,
                status: Some(status),
                retry_after,
                detail: format!("upstream {upstream}"),
                at,
                elapsed,
            });
            Sent::Failed
        }
        Err(e) => {
            l.count(op, "no answer");
            l.failures.push(Failure { op, post, status: None, retry_after: false, detail: e.to_string(), at, elapsed });
            Sent::Failed
        }
    }
}

/// `name=value` of the session cookie a response sets.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let pair = c.split(';').next()?;
        let (name, value) = pair.split_once('=')?;
        (name.contains("session") && !value.is_empty()).then(|| pair.to_owned())
    })
}

async fn login(http: &reqwest::Client, setup: &Setup, ledger: &Shared, email: &str) {
    let req = http.post(setup.url("/api/v1/auth/login")).json(&json!({ "email": email, "password": PASSWORD }));
    if let Sent::Ok(r) = send(ledger, "login", true, req, 200).await {
        // The cookie is in the headers: acknowledged once they arrived.
        let cookie = session_cookie(&r).expect("a sign-in sets the session cookie");
        let mut l = ledger.lock().unwrap();
        l.sessions.push((email.to_owned(), cookie));
        *l.sign_ins.entry(email.to_owned()).or_default() += 1;
    }
}

async fn token_login(http: &reqwest::Client, setup: &Setup, ledger: &Shared, email: &str) {
    let body = json!({ "email": email, "password": PASSWORD, "token_delivery": "body" });
    let req = http.post(setup.url("/api/v1/auth/token")).json(&body);
    if let Sent::Ok(r) = send(ledger, "token", true, req, 200).await
        && let Ok(v) = r.json::<Value>().await
    {
        let token = v["refresh_token"].as_str().expect("a token sign-in returns a refresh token").to_owned();
        let mut l = ledger.lock().unwrap();
        l.refresh_tokens.push(token.clone());
        l.chains.push(Chain { latest: token, in_doubt: false });
        *l.sign_ins.entry(email.to_owned()).or_default() += 1;
    }
}

/// Rotates one chain no other task holds. Anything but a 200 with the next token leaves the
/// chain in doubt: a rotation may have been committed before the answer was lost.
async fn rotate_one(http: &reqwest::Client, setup: &Setup, ledger: &Shared, rng: &mut Rng) {
    let chain = {
        let mut l = ledger.lock().unwrap();
        let ready: Vec<usize> = (0..l.chains.len()).filter(|i| !l.chains[*i].in_doubt).collect();
        (!ready.is_empty()).then(|| l.chains.swap_remove(ready[rng.below(ready.len())]))
    };
    let Some(mut chain) = chain else { return };
    let req = http.post(setup.url("/api/v1/auth/refresh")).json(&json!({ "refresh_token": chain.latest }));
    let next = match send(ledger, "refresh", true, req, 200).await {
        Sent::Ok(r) => r.json::<Value>().await.ok().and_then(|v| v["refresh_token"].as_str().map(str::to_owned)),
        Sent::Failed => None,
    };
    let mut l = ledger.lock().unwrap();
    match next {
        Some(next) => {
            l.refresh_tokens.push(next.clone());
            chain.latest = next;
        }
        None => chain.in_doubt = true,
    }
    l.chains.push(chain);
}

pub fn pkce() -> (String, String) {
    let verifier =
        URL_SAFE_NO_PAD.encode([*uuid::Uuid::new_v4().as_bytes(), *uuid::Uuid::new_v4().as_bytes()].concat());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

fn csrf_from(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The authorization code flow in a browser of its own: authorize → login form → code →
/// `/oauth2/token` with the PKCE verifier.
async fn code_flow(setup: &Setup, ledger: &Shared, email: &str) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(8))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (verifier, challenge) = pkce();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &setup.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let authorize = setup.url(&format!("/oauth2/authorize?{query}"));
    let Sent::Ok(r) = send(ledger, "authorize", false, browser.get(&authorize), 303).await else { return };
    let to_login = location(&r);
    let Sent::Ok(r) = send(ledger, "login page", false, browser.get(setup.url(&to_login)), 200).await else { return };
    let Some(csrf) = r.text().await.ok().as_deref().and_then(csrf_from) else { return };
    let next: String = url::Url::parse(&setup.url(&to_login))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let form = [("csrf_token", csrf.as_str()), ("email", email), ("password", PASSWORD), ("next", &next)];
    let Sent::Ok(r) = send(ledger, "login form", true, browser.post(setup.url("/login")).form(&form), 303).await else {
        return;
    };
    if session_cookie(&r).is_some() {
        *ledger.lock().unwrap().sign_ins.entry(email.to_owned()).or_default() += 1;
    }
    let back = location(&r);
    let Sent::Ok(r) = send(ledger, "authorize", false, browser.get(setup.url(&back)), 303).await else { return };
    let callback = location(&r);
    let Some(code) = url::Url::parse(&callback)
        .ok()
        .and_then(|u| u.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()))
    else {
        ledger.lock().unwrap().failures.push(Failure {
            op: "authorize",
            post: false,
            status: Some(303),
            retry_after: false,
            detail: format!("no code in {callback}"),
            at: Instant::now(),
            elapsed: Duration::ZERO,
        });
        return;
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let req = browser.post(setup.url("/oauth2/token")).basic_auth(&setup.client_id, Some(&setup.client_secret));
    let redeemed = match send(ledger, "code", true, req.form(&form), 200).await {
        Sent::Ok(r) => r.json::<Value>().await.is_ok_and(|v| v["access_token"].is_string()),
        Sent::Failed => false,
    };
    let redemption = if redeemed { Redemption::Acknowledged } else { Redemption::InDoubt };
    ledger.lock().unwrap().codes.push(Code { code, verifier, redemption });
}

/// The AuthZEN body every decision asks (the answer itself does not matter here).
pub fn decision_body() -> Value {
    json!({
        "subject": { "type": "user", "id": "alice" },
        "action": { "name": "read" },
        "resource": { "type": "document", "id": "1" }
    })
}

async fn decision(http: &reqwest::Client, setup: &Setup, ledger: &Shared) {
    let req = http.post(setup.url("/access/v1/evaluation")).bearer_auth(&setup.evaluator).json(&decision_body());
    if let Sent::Ok(r) = send(ledger, "decision", true, req, 200).await
        && r.json::<Value>().await.is_ok_and(|v| v["decision"].is_boolean())
    {
        ledger.lock().unwrap().decisions += 1;
    }
}

async fn me(http: &reqwest::Client, setup: &Setup, ledger: &Shared, rng: &mut Rng) {
    let cookie = {
        let l = ledger.lock().unwrap();
        (!l.sessions.is_empty()).then(|| l.sessions[rng.below(l.sessions.len())].1.clone())
    };
    let Some(cookie) = cookie else { return };
    send(ledger, "me", false, http.get(setup.url("/api/v1/me")).header("cookie", cookie), 200).await;
}
