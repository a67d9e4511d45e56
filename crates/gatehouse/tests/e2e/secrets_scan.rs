//! No secret ever reaches a log line or the audit trail (issue 6, item 7): the real binary runs
//! with debug logging, every kind of secret passes through it, then its whole log output and
//! the whole `audit_events` table are searched for each of them.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::oauth::{REDIRECT, pkce};

const PASSWORD: &str = "secret-scan passphrase 1";
const WRONG: &str = "wrong-scan passphrase 2";

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

fn csrf_of(html: &str) -> String {
    crate::helpers::csrf_from(html)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_or_the_audit_trail() {
    let dir = std::env::temp_dir().join(format!("gatehouse-secret-scan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_gatehouse");
    let clean_env = |cmd: &mut tokio::process::Command| {
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
            cmd.env_remove(k);
        }
        cmd.current_dir(&dir).env("GATEHOUSE_PASSWORD__POOL_SIZE", "1");
    };
    let mut serve = tokio::process::Command::new(bin);
    clean_env(&mut serve);
    serve
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("GATEHOUSE_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = serve.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log_task = tokio::spawn(async move {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf).await;
        buf
    });
    let line = BufReader::new(child.stdout.take().unwrap()).lines().next_line().await.unwrap().unwrap();
    let base = line.strip_prefix("Gatehouse listening on ").and_then(|l| l.split(' ').next()).unwrap().to_owned();
    let http =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..200 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut secrets: Vec<String> = vec![PASSWORD.into(), WRONG.into()];

    // Accounts and sessions.
    let r = http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "scan@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    http.post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "scan@example.com", "password": WRONG}))
        .send()
        .await
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "scan@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let session =
        r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().split('=').nth(1).unwrap().to_owned();
    secrets.push(session);

    // First-party tokens and a refresh.
    let t: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "scan@example.com", "password": PASSWORD, "token_delivery": "body"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(t["access_token"].as_str().unwrap().into());
    secrets.push(t["refresh_token"].as_str().unwrap().into());
    let t2: Value = http
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": t["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(t2["refresh_token"].as_str().unwrap().into());
    // A reuse, so the reuse-detection path logs too.
    http.post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": t["refresh_token"]}))
        .send()
        .await
        .unwrap();

    // An OAuth client and a full authorization-code flow.
    let mut cli = tokio::process::Command::new(bin);
    clean_env(&mut cli);
    let out = cli
        .args([
            "clients",
            "create",
            "--name",
            "Scan",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid",
            "--scope",
            "offline_access",
        ])
        .args(["--grant-type", "authorization_code", "--grant-type", "refresh_token", "--skip-consent", "--json"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let client: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (id, secret) = (client["client_id"].as_str().unwrap(), client["client_secret"].as_str().unwrap());
    secrets.push(secret.into());
    let (verifier, challenge) = pkce();
    secrets.push(verifier.clone());
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code").append_pair("client_id", id).append_pair("redirect_uri", REDIRECT);
    q.append_pair("scope", "openid offline_access")
        .append_pair("state", "s")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let authorize = format!("/oauth2/authorize?{}", q.finish());
    // Already signed in (the session above): straight back with a code.
    let r = http.get(format!("{base}{authorize}")).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with("/login") {
        let page = http.get(format!("{base}{location}")).send().await.unwrap().text().await.unwrap();
        let r = http
            .post(format!("{base}/login"))
            .form(&[
                ("csrf_token", csrf_of(&page).as_str()),
                ("email", "scan@example.com"),
                ("password", PASSWORD),
                ("next", &authorize),
            ])
            .send()
            .await
            .unwrap();
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        http.get(format!("{base}{back}")).send().await.unwrap().headers()["location"].to_str().unwrap().to_owned()
    } else {
        location
    };
    let code = query_of(&location)["code"].clone();
    secrets.push(code.clone());
    let tokens: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in ["access_token", "refresh_token", "id_token"] {
        secrets.push(tokens[k].as_str().unwrap_or_else(|| panic!("{k} in {tokens}")).into());
    }
    // Wrong client secret and a replayed code: failure paths log too.
    http.post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some("not-the-secret"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    secrets.push("not-the-secret".into());
    secrets.push(std::fs::read_to_string(dir.join("gatehouse-data/master.key")).unwrap().trim().to_owned());

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let logs = log_task.await.unwrap();
    assert!(logs.contains("audit event") && logs.contains("login.failed"), "debug logs were captured");

    let db = format!("sqlite://{}", dir.join("gatehouse-data/gatehouse.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    // Every column of every row, as text.
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT event_type || '|' || coalesce(actor, '') || '|' || coalesce(subject, '') || '|' || \
         coalesce(ip, '') || '|' || coalesce(user_agent, '') || '|' || outcome || '|' || details FROM audit_events",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(rows.len() >= 8, "the audit trail has the events");
    let audit = format!("{rows:?}");
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "a secret appears in the logs: {}…", &s[..6.min(s.len())]);
        assert!(!audit.contains(s.as_str()), "a secret appears in the audit trail: {}…", &s[..6.min(s.len())]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
