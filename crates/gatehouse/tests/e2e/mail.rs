//! Issue #14, mail delivery: messages are queued durably and delivered by a worker over real
//! SMTP (the aiosmtpd sink in `smtp.rs`), retried while the server is down, kept across a
//! restart, given up with `mail.failed` when refused for good; links come from the issuer
//! only; without an SMTP server the development outbox writes private files.

use std::time::{Duration, Instant};

use gatehouse::config::{Settings, SmtpTls};

use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::on_both_backends;
use crate::smtp::{QueueRow, REJECT_PREFIX, SmtpSink, wait_for_queue};

on_both_backends!(
    delivered_over_smtp_with_the_configured_sender,
    a_dead_smtp_server_does_not_slow_the_request_and_mail_is_retried,
    pending_mail_survives_a_restart,
    a_permanently_refused_message_fails_with_an_audit_event,
    forged_host_headers_do_not_change_the_link,
    the_development_outbox_writes_private_files,
);

/// Sends to the sink on `port` in plaintext (loopback), polling for retries every second.
pub(crate) fn via_smtp(port: u16) -> impl FnOnce(&mut Settings) {
    move |s: &mut Settings| {
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = port;
        s.mail.smtp_tls = SmtpTls::InsecurePlaintext;
        s.mail.smtp_timeout = 2;
        s.mail.poll_interval = 1;
        s.mail.from = "Example ID <id@example.org>".into();
        s.mail.reply_to = "help@example.org".into();
    }
}

/// Creates an account for `email` with the CLI (which mails nothing), then registers the
/// address: exactly one message, the "someone tried to register" mail to its owner.
pub(crate) async fn provoke_mail(app: &TestApp, email: &str) {
    let out = app.cli(&["users", "create", "--email", email, "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(app.register(email, "another password entirely").await.status(), 202);
}

pub(crate) fn retried_once(rows: &[QueueRow]) -> bool {
    rows.len() == 1 && rows[0].status == "pending" && rows[0].attempts >= 1
}

async fn delivered_over_smtp_with_the_configured_sender(b: Backend) {
    let Some(sink) = SmtpSink::start(None).await else { return };
    let Some(app) = TestApp::spawn_with(b, via_smtp(sink.port)).await else { return };
    provoke_mail(&app, "owner@example.com").await;
    let mail = sink.wait_for("owner@example.com", 1).await.remove(0);
    assert!(mail.subject.starts_with("Someone tried to register"), "{}", mail.subject);
    assert_eq!(mail.header("from"), Some("\"Example ID\" <id@example.org>"));
    assert_eq!(mail.header("reply-to"), Some("help@example.org"));
    assert_eq!(mail.link().as_deref(), Some(app.url("/forgot-password").as_str()));
    assert!(mail.html.contains(&app.url("/forgot-password")));
    // Delivered messages leave the queue.
    wait_for_queue(&app.database_url, <[QueueRow]>::is_empty).await;
}

async fn a_dead_smtp_server_does_not_slow_the_request_and_mail_is_retried(b: Backend) {
    // A server that accepts connections and never says a word: sending inline would hang the
    // request for the SMTP timeout.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = blackhole.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = blackhole.accept().await {
            held.push(socket);
        }
    });
    let Some(app) = TestApp::spawn_with(b, via_smtp(port)).await else { return };
    let out = app.cli(&["users", "create", "--email", "slow@example.com", "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let started = Instant::now();
    assert_eq!(app.register("slow@example.com", "another password entirely").await.status(), 202);
    assert!(started.elapsed() < Duration::from_millis(1500), "answered in {:?}", started.elapsed());

    let rows = wait_for_queue(&app.database_url, retried_once).await;
    assert_eq!(rows[0].kind, "registration_attempt");
    assert!(rows[0].last_error.as_deref().is_some_and(|e| e.contains("timed out")), "{rows:?}");
    hold.abort();
    let _ = hold.await;
    // The server is back; the retry falls due once the backoff (15 s) has passed.
    let Some(mut sink) = SmtpSink::start(Some(port)).await else { return };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.mails_to("slow@example.com").is_empty(), "not before the backoff ends");
    app.clock.advance(20);
    sink.wait_for("slow@example.com", 1).await;
    wait_for_queue(&app.database_url, <[QueueRow]>::is_empty).await;
    sink.stop().await;
}

async fn pending_mail_survives_a_restart(b: Backend) {
    let Some(mut sink) = SmtpSink::start(None).await else { return };
    sink.stop().await;
    let Some(mut app) = TestApp::spawn_with(b, via_smtp(sink.port)).await else { return };
    provoke_mail(&app, "patient@example.com").await;
    let rows = wait_for_queue(&app.database_url, retried_once).await;
    // At rest the message is sealed: neither the address nor the link is readable.
    let body = rows[0].sealed_body.as_deref().expect("a pending message has its body");
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains("patient@example.com") && !text.contains("forgot-password"));

    app.restart().await;
    sink.restart().await;
    app.clock.advance(3600);
    let mail = sink.wait_for("patient@example.com", 1).await.remove(0);
    assert!(mail.subject.starts_with("Someone tried to register"));
    wait_for_queue(&app.database_url, <[QueueRow]>::is_empty).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sink.mails_to("patient@example.com").len(), 1, "delivered once");
}

async fn a_permanently_refused_message_fails_with_an_audit_event(b: Backend) {
    let Some(sink) = SmtpSink::start(None).await else { return };
    let Some(app) = TestApp::spawn_with(b, via_smtp(sink.port)).await else { return };
    let address = format!("{REJECT_PREFIX}-me@example.com");
    provoke_mail(&app, &address).await;
    let rows = wait_for_queue(&app.database_url, |r| r.len() == 1 && r[0].status == "failed").await;
    assert_eq!(rows[0].attempts, 1, "a 5xx is not retried");
    assert_eq!(rows[0].last_error.as_deref(), Some("smtp 550"));
    assert!(rows[0].sealed_body.is_none(), "a failed message keeps no body");

    let failed: Vec<_> = app.audit_events().await.into_iter().filter(|e| e.0 == "mail.failed").collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].1, "failure");
    let details: serde_json::Value = serde_json::from_str(&failed[0].3).unwrap();
    assert_eq!(details["kind"], "registration_attempt");
    assert_eq!(details["attempts"], 1);
    assert_eq!(details["error"], "smtp 550");
    assert!(!failed[0].3.contains('@'), "no address in the audit trail: {}", failed[0].3);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("gatehouse_mail_failed_total{") && l.contains("registration_attempt")),
        "{metrics}"
    );
    assert!(metrics.contains("gatehouse_mail_pending"), "{metrics}");
    assert!(sink.mails_to(&address).is_empty());
}

async fn forged_host_headers_do_not_change_the_link(b: Backend) {
    let Some(sink) = SmtpSink::start(None).await else { return };
    let Some(app) = TestApp::spawn_with(b, via_smtp(sink.port)).await else { return };
    let out = app.cli(&["users", "create", "--email", "victim@example.com", "--password-stdin"], Some(PASSWORD)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Forwarded", "host=evil.example;proto=https")
        .json(&serde_json::json!({ "email": "victim@example.com", "password": "another password entirely" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let mail = sink.wait_for("victim@example.com", 1).await.remove(0);
    assert!(!mail.text.contains("evil.example") && !mail.html.contains("evil.example"));
    assert_eq!(mail.link().as_deref(), Some(app.url("/forgot-password").as_str()));
}

async fn the_development_outbox_writes_private_files(b: Backend) {
    let Some(app) = TestApp::spawn(b).await else { return };
    provoke_mail(&app, "dev@example.com").await;
    let mail = app.wait_for_mail("dev@example.com", 1).await;
    assert_eq!(mail.link().as_deref(), Some(app.url("/forgot-password").as_str()));
    let files: Vec<_> = std::fs::read_dir(app.outbox_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&files[0]), 0o600, "a message may hold a reset link");
    assert_eq!(mode(&app.outbox_dir()), 0o700);
    wait_for_queue(&app.database_url, <[QueueRow]>::is_empty).await;
}
