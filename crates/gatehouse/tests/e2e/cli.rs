//! The `gatehouse` binary: user management, `serve` with no configuration, refusal of an
//! insecure issuer, `config check` redaction, `migrate`, and graceful shutdown.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, PASSWORD, TestApp, browser};
use crate::on_both_backends;

on_both_backends!(cli_manages_users, disabling_a_user_ends_all_sessions, shutdown_lets_in_flight_requests_finish);

fn stdout_json(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

async fn cli_manages_users(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    let created = stdout_json(
        &app.cli(
            &["users", "create", "--email", "Op@Example.com", "--display-name", "Op", "--password-stdin", "--json"],
            Some(&format!("{PASSWORD}\n")),
        )
        .await,
    );
    assert_eq!(created["email"], "Op@Example.com");
    let id = created["id"].as_str().unwrap().to_owned();
    let shown = stdout_json(&app.cli(&["users", "show", "op@example.com", "--json"], None).await);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["status"], "active");
    let listed = stdout_json(&app.cli(&["users", "list", "--json"], None).await);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Duplicates, weak passwords and a missing password are refused with a message.
    let dup = app.cli(&["users", "create", "--email", "op@example.com", "--password-stdin"], Some(PASSWORD)).await;
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let weak = app.cli(&["users", "create", "--email", "x@example.com", "--password-stdin"], Some("password")).await;
    assert!(String::from_utf8_lossy(&weak.stderr).contains("too common"));
    let none = app.cli(&["users", "create", "--email", "y@example.com"], None).await;
    assert!(!none.status.success());
    assert_eq!(stdout_json(&app.cli(&["users", "list", "--json"], None).await).as_array().unwrap().len(), 1);

    // set-password: the old password stops working and existing sessions end.
    assert_eq!(app.login("op@example.com", PASSWORD).await.status(), 200);
    let changed = stdout_json(
        &app.cli(&["users", "set-password", &id, "--password-stdin", "--json"], Some("a brand new passphrase")).await,
    );
    assert_eq!(changed["password_changed"], true);
    assert_eq!(app.me(&app.client).await.status(), 401);
    assert_eq!(app.login_with(&browser(), "op@example.com", PASSWORD).await.status(), 401);
    assert_eq!(app.login_with(&browser(), "op@example.com", "a brand new passphrase").await.status(), 200);

    let missing = app.cli(&["users", "show", "nobody@example.com"], None).await;
    assert!(!missing.status.success());
}

async fn disabling_a_user_ends_all_sessions(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    app.register("nina@example.com", PASSWORD).await;
    let (one, two) = (browser(), browser());
    assert_eq!(app.login_with(&one, "nina@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login_with(&two, "nina@example.com", PASSWORD).await.status(), 200);
    let out = stdout_json(&app.cli(&["users", "disable", "nina@example.com", "--json"], None).await);
    assert_eq!(out["sessions_ended"], 2);
    assert_eq!(app.me(&one).await.status(), 401);
    assert_eq!(app.me(&two).await.status(), 401);
    assert_eq!(app.login("nina@example.com", PASSWORD).await.status(), 401);
}

async fn shutdown_lets_in_flight_requests_finish(b: Backend) {
    let Some(mut app) = TestApp::spawn_with(b, |s| s.password.pool_size = 1).await else { return };
    app.register("olga@example.com", PASSWORD).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = app.url("/api/v1/auth/login");
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .json(&json!({ "email": "olga@example.com", "password": PASSWORD }))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    // Eight logins through a pool of one take a while; stop the server once all of them are
    // in flight (one hashing, the rest queued for the pool).
    let gauge = |metrics: &str, name: &str| -> usize {
        metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok()).unwrap_or(0)
    };
    for _ in 0..2000 {
        let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
        let accepted = gauge(&metrics, "gatehouse_password_hash_waiting ")
            + gauge(&metrics, "gatehouse_password_hash_running ")
            + tasks.iter().filter(|t| t.is_finished()).count();
        if accepted == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    app.stop().await.expect("graceful shutdown");
    for t in tasks {
        assert_eq!(t.await.unwrap().expect("request completed"), 200);
    }
    assert!(reqwest::get(app.url("/healthz")).await.is_err(), "no longer listening");
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gatehouse-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `gatehouse` with a clean environment (no GATEHOUSE_* variables) in `dir`.
fn gatehouse(dir: &std::path::Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn serve_with_no_configuration_creates_everything_and_stops_on_sigterm() {
    let dir = scratch_dir("serve");
    let mut child = gatehouse(&dir).args(["serve", "--bind", "127.0.0.1:0"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = line
        .strip_prefix("Gatehouse listening on ")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{line}"));
    let r = reqwest::get(format!("{addr}/login")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign in"));
    assert!(dir.join("gatehouse-data/gatehouse.db").exists());
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "exit {:?}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("development only"), "the plain-http warning: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn non_loopback_http_issuer_is_refused() {
    let dir = scratch_dir("issuer");
    let out = gatehouse(&dir)
        .args(["serve", "--bind", "127.0.0.1:0", "--issuer", "http://id.example.com"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("non-loopback") && stderr.contains("https"), "{stderr}");
    assert!(!dir.join("gatehouse-data").exists(), "nothing created");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn config_check_redacts_secrets_and_layers_sources() {
    let dir = scratch_dir("config");
    std::fs::write(
        dir.join("gatehouse.toml"),
        "bind = \"127.0.0.1:9000\"\nregistration_enabled = false\n[session]\nidle_timeout = 600\n",
    )
    .unwrap();
    let out = gatehouse(&dir)
        .args(["config", "check", "--json"])
        .env("GATEHOUSE_DATABASE_URL", "postgres://gh:s3cret-pw@db.internal:5432/gatehouse")
        .env("GATEHOUSE_SESSION__IDLE_TIMEOUT", "900")
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("s3cret-pw"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let s = &v["settings"];
    assert!(s["database_url"].as_str().unwrap().contains("REDACTED"));
    assert_eq!(s["bind"], "127.0.0.1:9000", "from the file");
    assert_eq!(s["registration_enabled"], false, "from the file");
    assert_eq!(s["session"]["idle_timeout"], 900, "environment beats the file");
    assert_eq!(s["session"]["absolute_timeout"], 86400, "default");
    let bad =
        gatehouse(&dir).args(["config", "check"]).env("GATEHOUSE_ISSUER", "http://example.com").output().await.unwrap();
    assert!(!bad.status.success());
    // Issue #18 item 12: last use is written once a minute, so a shorter idle timeout would end
    // sessions in use; refused at start-up.
    let short =
        gatehouse(&dir).args(["config", "check"]).env("GATEHOUSE_SESSION__IDLE_TIMEOUT", "59").output().await.unwrap();
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("idle_timeout must be at least 120"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn migrate_applies_once() {
    let dir = scratch_dir("migrate");
    let first = gatehouse(&dir).arg("migrate").output().await.unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(!text.starts_with("0 "), "{text}");
    let second = gatehouse(&dir).arg("migrate").output().await.unwrap();
    assert!(String::from_utf8_lossy(&second.stdout).starts_with("0 migration(s)"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `gatehouse users disable` goes through the same last-admin guard as the admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_cannot_disable_the_last_admin() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    app.register("boss@example.com", PASSWORD).await;
    let out = app.cli(&["roles", "grant", "admin", "--user", "boss@example.com"], None).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = app.cli(&["users", "disable", "boss@example.com"], None).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("last active admin"));
    assert_eq!(app.login("boss@example.com", PASSWORD).await.status(), 200, "still active");
    // With a second admin the first can be disabled.
    app.register("deputy@example.com", PASSWORD).await;
    assert!(app.cli(&["roles", "grant", "admin", "--user", "deputy@example.com"], None).await.status.success());
    assert!(app.cli(&["users", "disable", "boss@example.com"], None).await.status.success());
}
