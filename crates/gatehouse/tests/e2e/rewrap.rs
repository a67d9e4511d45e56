//! Master key rotation (issue #17, item 3): a server deployed with a new master key and the old
//! one as "previous" keeps signing, checking TOTP codes and sending queued mail;
//! `gatehouse keys rewrap` (dry run, then for real, while the server serves) moves every sealed
//! value to the new key, idempotently and audited; the server restarted with the new key alone
//! still does all three. A master key that sealed nothing here gives a clear error, never a panic.

use gatehouse_core::keys::MasterKey;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, browser, write_0600};
use crate::mail::{provoke_mail, via_smtp};
use crate::mfa::{enrol, fresh_code, signed_in};
use crate::on_both_backends;
use crate::smtp::{SmtpSink, wait_for_queue};

on_both_backends!(rewrap_moves_every_secret_to_the_new_master_key_while_serving);

const ADA: &str = "ada@example.com";

/// The first-party token API through the second factor: a signed access token, checked against
/// the JWKS. Exercises the TOTP secret and the signing key.
async fn sign_in_with_totp(app: &TestApp, secret: &[u8]) -> String {
    let b = browser();
    let body = json!({ "email": ADA, "password": PASSWORD, "token_delivery": "body" });
    let r = b.post(app.url("/api/v1/auth/token")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let pending: Value = r.json().await.unwrap();
    assert_eq!(pending["error"], "mfa_required", "{pending}");
    let body = json!({ "mfa_token": pending["mfa_token"], "code": fresh_code(app, secret), "token_delivery": "body" });
    let r = b.post(app.url("/api/v1/auth/mfa")).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "the TOTP code is accepted");
    let token: Value = r.json().await.unwrap();
    let access = token["access_token"].as_str().expect("access token").to_owned();
    let jwks = app.client.get(app.url("/oauth2/jwks")).send().await.unwrap().bytes().await.unwrap();
    let keys = gatehouse_guard::KeySet::from_jwks(&jwks).expect("our JWKS parses");
    let validation = gatehouse_guard::Validation::new(app.base.clone(), vec![app.base.clone()]);
    gatehouse_guard::verify(&access, &keys, &validation, app.clock_now()).expect("the token verifies");
    access
}

async fn rewrap(app: &TestApp, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["keys", "rewrap", "--json", "--batch-size", "2"];
    args.extend_from_slice(extra);
    app.cli_with_env(&args, env).await
}

fn report(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

/// (rewrapped, current) per kind.
fn counts(r: &Value) -> [(u64, u64); 3] {
    ["signing_key", "totp", "mail"].map(|k| (r[k]["rewrapped"].as_u64().unwrap(), r[k]["current"].as_u64().unwrap()))
}

async fn rewrap_moves_every_secret_to_the_new_master_key_while_serving(b: Backend) {
    let Some(mut sink) = SmtpSink::start(None).await else { return };
    sink.stop().await;
    let Some(mut app) = TestApp::spawn_with(b, via_smtp(sink.port)).await else { return };
    let out = app.cli(&["users", "create", "--email", ADA, "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (secret, _) = enrol(&app, &signed_in(&app, ADA).await).await;
    sign_in_with_totp(&app, &secret).await;
    // Messages that stay queued (the SMTP server is down), sealed under the old key: the
    // "two-step sign-in turned on" notice and a "someone tried to register" mail.
    provoke_mail(&app, "patient@example.com").await;
    wait_for_queue(&app.database_url, |rows| rows.len() == 2 && rows.iter().all(|r| r.attempts >= 1)).await;

    // Deploy: the new key seals, the old one only opens.
    let old_text = std::fs::read_to_string(app.dir().join("test-master.key")).unwrap();
    let (_, new_text) = MasterKey::generate().unwrap();
    let new_file = app.dir().join("new-master.key");
    write_0600(&new_file, &new_text);
    let old_file = app.dir().join("test-master.key");
    let (new, old) = (MasterKey::parse(&new_text).unwrap(), MasterKey::parse(&old_text).unwrap());
    app.restart_with_master(new.clone().with_previous([old.clone()])).await;
    sign_in_with_totp(&app, &secret).await;

    let (new_path, old_path) = (new_file.to_str().unwrap(), old_file.to_str().unwrap());
    let ring = [("GATEHOUSE_MASTER_KEY_FILE", new_path), ("GATEHOUSE_MASTER_KEY_PREVIOUS_FILE", old_path)];
    let dry = report(&rewrap(&app, &["--dry-run"], &ring).await);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        (dry["key_id"].as_str(), dry["previous_key_ids"].clone()),
        (Some(new.key_id().as_str()), json!([old.key_id()]))
    );
    assert_eq!(counts(&dry), [(3, 0), (1, 0), (2, 0)], "three signing keys, one TOTP secret, two mails: {dry}");
    assert_eq!(counts(&report(&rewrap(&app, &["--dry-run"], &ring).await)), counts(&dry), "a dry run writes nothing");

    // For real, while the server signs in (TOTP) and signs tokens.
    let (out, _) = tokio::join!(rewrap(&app, &[], &ring), sign_in_with_totp(&app, &secret));
    let done = report(&out);
    assert_eq!(counts(&done), [(3, 0), (1, 0), (2, 0)], "{done}");
    for kind in ["signing_key", "totp", "mail"] {
        assert_eq!((done[kind]["changed"].as_u64(), done[kind]["unreadable"].as_u64()), (Some(0), Some(0)));
    }
    let again = report(&rewrap(&app, &[], &ring).await);
    assert_eq!(counts(&again), [(0, 3), (0, 1), (0, 2)], "idempotent: {again}");
    let audited: Vec<_> = app.audit_events().await.into_iter().filter(|(t, ..)| t == "master_key.rewrapped").collect();
    assert_eq!(audited.len(), 2, "each real run is audited, the dry runs are not");
    let details: Value = serde_json::from_str(&audited[0].3).unwrap();
    assert_eq!(details["totp"]["rewrapped"], 1);
    assert!(!audited[0].3.contains(&new_text.to_string()) && !audited[0].3.contains(old_text.trim()));
    sign_in_with_totp(&app, &secret).await;

    // Drop the previous key: everything still opens.
    app.restart_with_master(new.clone()).await;
    sign_in_with_totp(&app, &secret).await;
    sink.restart().await;
    app.clock.advance(3600);
    let mail = sink.wait_for("patient@example.com", 1).await.remove(0);
    assert!(mail.subject.starts_with("Someone tried to register"), "{}", mail.subject);
    assert_eq!(sink.wait_for(ADA, 1).await.len(), 1, "the notice sealed under the old key is delivered too");
    eprintln!("rewrapped: 3 signing keys, 1 TOTP secret, 2 queued mails; second run: 0");

    // A key that sealed none of this: a clear error, no panic.
    let (_, stranger) = MasterKey::generate().unwrap();
    let stranger_file = app.dir().join("stranger.key");
    write_0600(&stranger_file, &stranger);
    let only_stranger = [("GATEHOUSE_MASTER_KEY_FILE", stranger_file.to_str().unwrap())];
    let out = rewrap(&app, &["--dry-run"], &only_stranger).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("add that key to GATEHOUSE_MASTER_KEY_PREVIOUS") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["signing_key"]["unreadable"], 3, "{r}");
    let out = app.cli_with_env(&["keys", "list"], &only_stranger).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&format!("master key {}", new.key_id())) && !stderr.contains("panicked"), "{stderr}");
}
