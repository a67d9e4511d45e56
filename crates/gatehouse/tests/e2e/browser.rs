//! Passkeys in a real browser (issue #15): Debian's Chromium, headless, driven by playwright-core
//! (`tests/interop/passkey_browser.mjs`) with a CDP virtual authenticator (CTAP2, internal,
//! resident keys, user verification). The page's own `passkey.js` runs the ceremonies, so this
//! checks what the software authenticator of `passkeys.rs` cannot: that Chromium accepts the
//! options the server sends (W3C WebAuthn L3 §5.1.3 `create()`, §5.1.4 `get()`, RP id
//! `localhost`), and that the server accepts what Chromium answers. Flow: password sign-in on
//! `/login`, "Add a passkey" on `/account/mfa` (recovery codes shown), sign out, then the passkey
//! alone signs in, once through the conditional request the sign-in page starts on load and
//! once through "Sign in with a passkey".
//!
//! Screenshots are the artefacts: `target/test-artefacts/browser-<backend>/`. A missing Chromium
//! or playwright-core skips with a note, unless `GATEHOUSE_REQUIRE_SERVICES=1` (`.ci/run`
//! installs both: `apt-get install chromium`, `npm ci --prefix crates/gatehouse/tests/interop`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp};
use crate::interop::{INTEROP_DIR, available};
use crate::on_both_backends;
use crate::passkeys::session_amrs;

on_both_backends!(chromium_registers_a_passkey_and_signs_in_with_it);

const CHROMIUM: &str = "/usr/bin/chromium";

/// `target/test-artefacts/<what>-<backend>` (under `CARGO_TARGET_DIR` when set).
pub(crate) fn artefact_dir(what: &str, b: Backend) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"), PathBuf::from);
    let backend = match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    target.join("test-artefacts").join(format!("{what}-{backend}"))
}

/// One Chromium at a time: the browser tests share the machine's two cores with the rest of the
/// suite (threads of one test process under `cargo test`).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Debian's Chromium and the npm playwright-core: both there, or a skip note (a failure under
/// `GATEHOUSE_REQUIRE_SERVICES=1`).
pub(crate) fn chromium_available() -> bool {
    let install = "apt-get install chromium; npm ci --prefix crates/gatehouse/tests/interop";
    available(CHROMIUM, &["--version"], "Chromium (/usr/bin/chromium)", install)
        && available(
            "node",
            &["--input-type=module", "-e", "await import('playwright-core')"],
            "Node playwright-core",
            install,
        )
}

/// Runs `tests/interop/<script>` with `args` and the screenshot directory
/// ([`artefact_dir`]`(what, b)`), one browser at a time; its output is kept there as `run.log`.
/// Returns the JSON line it printed (after asserting it succeeded, the failing step first: a CI
/// log may show only a few lines) and the directory.
pub(crate) async fn run_script(script: &str, what: &str, b: Backend, args: &[&str]) -> (Value, PathBuf) {
    let dir = artefact_dir(what, b);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    let _one = ONE_BROWSER.lock().await;
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(Path::new(INTEROP_DIR).join(script)).args(args).arg(&dir).current_dir(INTEROP_DIR).kill_on_drop(true);
    let out =
        tokio::time::timeout(Duration::from_secs(300), cmd.output()).await.expect("browser run within 300 s").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("run.log"), format!("stdout:\n{stdout}\nstderr:\n{stderr}\n")).unwrap();
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    assert!(out.status.success(), "{script} failed: {}\nsteps: {}\n{result:#}", result["error"], result["steps"]);
    eprintln!("{script}: {:.1} s, {}", started.elapsed().as_secs_f64(), result["browser"]);
    (result, dir)
}

async fn chromium_registers_a_passkey_and_signs_in_with_it(b: Backend) {
    if !chromium_available() {
        return;
    }
    // WebAuthn relying-party ids are host names: browsers refuse IP addresses.
    let Some(app) = TestApp::spawn_with(b, |s| s.issuer = s.issuer.replace("127.0.0.1", "localhost")).await else {
        return;
    };
    let base = app.base.replace("127.0.0.1", "localhost");
    let email = "chromium@example.com";
    app.register_user(email, PASSWORD).await;
    let (result, dir) = run_script("passkey_browser.mjs", "browser", b, &[&base, email, PASSWORD]).await;

    // What the browser saw.
    assert_eq!(result["ok"], true, "{result:#}");
    assert_eq!(result["credentials"], 1, "one resident credential in the authenticator");
    assert_eq!(result["recovery_codes"], 10, "the first second factor brings recovery codes");
    assert_eq!(result["signed_in_email"], email);
    let sign_ins = result["sign_ins"].as_array().unwrap();
    assert_eq!(sign_ins.len(), 2, "{result:#}");
    assert_eq!(sign_ins[1]["via"], "button");
    assert!(result.get("password_posted_again").is_none(), "the passkey, not a password, signed in");
    let shots: Vec<&str> = result["screenshots"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    for name in ["passkey-registered-codes.png", "passkey-account-listed.png", "passkey-sign-in-page.png"] {
        let path = dir.join(name);
        assert!(shots.contains(&path.to_str().unwrap()), "{name} in {shots:?}");
        let png = std::fs::read(&path).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{} is a PNG", path.display());
    }
    for s in &shots {
        eprintln!("screenshot: {s}");
    }

    // What the server recorded: the enrolment, two passkey sign-ins, their sessions.
    let audit = app.audit_events().await;
    let enrolled: Vec<Value> = audit
        .iter()
        .filter(|e| e.0 == "mfa.enrolled" && e.1 == "success")
        .map(|e| serde_json::from_str(&e.3).unwrap())
        .collect();
    assert_eq!(enrolled.len(), 1, "{audit:?}");
    assert_eq!(enrolled[0]["method"], "passkey");
    assert_eq!(enrolled[0]["discoverable"], true, "Chromium's virtual authenticator made a resident key");
    let by_passkey = audit
        .iter()
        .filter(|e| e.0 == "login.succeeded")
        .map(|e| serde_json::from_str::<Value>(&e.3).unwrap())
        .filter(|d| d["method"] == "passkey" && d["passkey_id"] == enrolled[0]["passkey_id"])
        .count();
    // Two, unless the conditional request was answered late while the button's was running.
    assert_eq!(Some(by_passkey as u64), result["passkey_finishes"].as_u64(), "{audit:?}");
    assert!(by_passkey >= 2, "{audit:?}");
    // Signing out deletes a session: left are the API sign-in of `register_user` and the
    // browser's last one, by the passkey. RFC 8176: proof of possession of a key, and two
    // factors (the key and its user verification), no password.
    let amrs = session_amrs(&app).await;
    let mut expected = vec!["pwd"];
    expected.extend(std::iter::repeat_n("pop mfa", by_passkey - 1));
    assert_eq!(amrs, expected, "the browser's password and first passkey sessions ended at sign-out");
}
