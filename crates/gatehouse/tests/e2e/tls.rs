//! TLS end to end: the self-signed development mode (generated once, reused), HSTS over HTTPS,
//! the HTTP→HTTPS redirect listener, certificate reload on SIGHUP without dropping open
//! connections, refusal of readable key files, and `config check` warnings about secrets in
//! the configuration file. Clients trust exactly the server's certificate and nothing else.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gatehouse::config::Settings;
use gatehouse::secrets::Secrets;
use gatehouse::server::{Listeners, run_on};
use gatehouse_core::SystemClock;
use gatehouse_core::keys::MasterKey;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::web_defences::assert_security_headers;

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gatehouse-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A client that trusts exactly these PEM certificates (no system roots) and speaks only https.
fn trusting(pems: &[&[u8]]) -> reqwest::Client {
    let certs: Vec<reqwest::Certificate> = pems.iter().map(|p| reqwest::Certificate::from_pem(p).unwrap()).collect();
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Written beside and renamed over: a reload never sees half a file.
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).unwrap();
    f.write_all(contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A server in this process with `--tls-self-signed` and a redirect listener.
struct TlsServer {
    base: String,
    redirect: String,
    cert: Vec<u8>,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl TlsServer {
    async fn start(name: &str) -> Self {
        let dir = scratch_dir(name);
        let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, redirect_addr) = (main.local_addr().unwrap(), redirect.local_addr().unwrap());
        let mut settings = Settings {
            issuer: format!("https://{addr}"),
            data_dir: dir.clone(),
            database_url: format!("sqlite://{}", dir.join("gatehouse.db").display()),
            ..Settings::default()
        };
        settings.tls.self_signed = true;
        settings.tls.redirect_bind = Some(redirect_addr);
        settings.password.pool_size = 1;
        let secrets = Secrets { master_key: MasterKey::generate().unwrap().0, hs256: None };
        let (stop, rx) = oneshot::channel::<()>();
        let listeners = Listeners { main, redirect: Some(redirect) };
        let task = tokio::spawn(run_on(settings, secrets, Arc::new(SystemClock), listeners, async {
            let _ = rx.await;
        }));
        let cert_file = dir.join("tls-self-signed-127.0.0.1.crt");
        for _ in 0..400 {
            if let Ok(cert) = std::fs::read(&cert_file)
                && !cert.is_empty()
                && let Ok(r) = trusting(&[&cert]).get(format!("https://{addr}/readyz")).send().await
                && r.status() == 200
            {
                let base = format!("https://{addr}");
                return Self { base, redirect: format!("http://{redirect_addr}"), cert, dir, stop: Some(stop), task };
            }
            assert!(!task.is_finished(), "server exited during start-up");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("TLS server not ready");
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_hsts_and_a_redirect_listener() {
    let mut server = TlsServer::start("inproc").await;
    let c = trusting(&[&server.cert]);
    for (path, status) in [("/login", 200), ("/no/such/page", 404), ("/static/style.css", 200)] {
        let r = c.get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_security_headers(&r, path);
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains", "{path}");
    }
    // Over https the cookies are `__Host-` and `Secure`.
    let r = c.get(server.url("/login")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("__Host-gatehouse_csrf=") && cookie.contains("Secure"), "{cookie}");
    // TLS 1.2 is still accepted; a client that does not trust the certificate gets nowhere,
    // and the TLS port does not answer plain HTTP.
    let tls12 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&server.cert).unwrap()])
        .tls_version_max(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    assert_eq!(tls12.get(server.url("/healthz")).send().await.unwrap().status(), 200);
    let stranger = reqwest::Client::builder().tls_certs_only(Vec::new()).build().unwrap();
    assert!(stranger.get(server.url("/healthz")).send().await.is_err());
    let plain = reqwest::Client::new();
    let clear = plain.get(server.url("/healthz").replacen("https", "http", 1)).send().await;
    assert!(clear.is_err() || clear.unwrap().status() != 200, "nothing is served in clear on the TLS port");

    // The redirect listener: 308 for GET and HEAD to the issuer (whatever Host says), 405 else.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = plain
            .request(method.clone(), format!("{}/login?next=%2Faccount", server.redirect))
            .header("host", "evil.test")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 308, "{method}");
        assert_eq!(r.headers()["location"], server.url("/login?next=%2Faccount"), "{method}");
        assert_security_headers(&r, "redirect");
        assert!(!r.headers().contains_key("strict-transport-security"), "no HSTS over plain HTTP");
    }
    let r = plain.post(format!("{}/api/v1/auth/login", server.redirect)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    assert!(!r.headers().contains_key("location"));
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "https_required");
    let followed = c.get(server.url("/login?next=%2Faccount")).send().await.unwrap();
    assert_eq!(followed.status(), 200);

    // Graceful shutdown stops both listeners.
    server.stop.take().unwrap().send(()).unwrap();
    (&mut server.task).await.unwrap().unwrap();
    assert!(plain.get(format!("{}/", server.redirect)).send().await.is_err());
}

/// `gatehouse` with a clean environment (no GATEHOUSE_* variables) in `dir`.
fn gatehouse(dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("GATEHOUSE_")) {
        cmd.env_remove(k);
    }
    cmd.current_dir(dir)
        .env("GATEHOUSE_PASSWORD__POOL_SIZE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Starts `gatehouse serve` and returns the child and the base URL it announced.
async fn serve(mut cmd: tokio::process::Command) -> (tokio::process::Child, String) {
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = match tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap() {
        Some(line) => line,
        None => {
            let out = child.wait_with_output().await.unwrap();
            panic!("server did not start: {}", String::from_utf8_lossy(&out.stderr));
        }
    };
    let base = line.strip_prefix("Gatehouse listening on ").and_then(|l| l.split(' ').next()).unwrap().to_owned();
    assert!(base.starts_with("https://"), "{line}");
    (child, base)
}

async fn terminate(child: tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "exit {:?}: {}", out.status, String::from_utf8_lossy(&out.stderr));
}

async fn get_ok(client: &reqwest::Client, url: &str) -> bool {
    client.get(url).send().await.is_ok_and(|r| r.status() == 200)
}

/// Waits until the server answers `/readyz` over TLS with the certificate in `file`.
async fn ready_with_certificate(file: &Path, base: &str) -> Vec<u8> {
    for _ in 0..600 {
        if let Ok(cert) = std::fs::read(file)
            && !cert.is_empty()
            && get_ok(&trusting(&[&cert]), &format!("{base}/readyz")).await
        {
            return cert;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no TLS server with {} at {base}", file.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_self_signed_generates_a_certificate_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("selfsigned");
    let args = ["serve", "--tls-self-signed", "--bind", "127.0.0.1:0", "--issuer", "https://127.0.0.1:8443"];
    let (child, base) = serve({
        let mut c = gatehouse(&dir);
        c.args(args);
        c
    })
    .await;
    let data = dir.join("gatehouse-data");
    let cert = ready_with_certificate(&data.join("tls-self-signed-127.0.0.1.crt"), &base).await;
    let key_mode = std::fs::metadata(data.join("tls-self-signed-127.0.0.1.key")).unwrap().permissions().mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let r = trusting(&[&cert]).get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("strict-transport-security"));
    terminate(child).await;

    // Started again, it reuses the same certificate.
    let (child, base) = serve({
        let mut c = gatehouse(&dir);
        c.args(args);
        c
    })
    .await;
    assert_eq!(ready_with_certificate(&data.join("tls-self-signed-127.0.0.1.crt"), &base).await, cert, "reused");
    terminate(child).await;

    // TLS with a plain-http issuer is refused.
    let out = gatehouse(&dir).args(["serve", "--tls-self-signed", "--bind", "127.0.0.1:0"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be https"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn certificate() -> (String, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    (generated.cert.pem(), generated.signing_key.serialize_pem())
}

/// `gatehouse serve` with certificate files and a master key (an https issuer needs one).
fn serve_with_files(dir: &Path) -> tokio::process::Command {
    let mut cmd = gatehouse(dir);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--issuer", "https://127.0.0.1:8443"])
        .env("GATEHOUSE_TLS_CERT", dir.join("cert.pem"))
        .env("GATEHOUSE_TLS_KEY", dir.join("key.pem"))
        .env("GATEHOUSE_MASTER_KEY", MasterKey::generate().unwrap().1)
        // Keep idle connections open for the whole test.
        .env("GATEHOUSE_LIMITS__HEADER_READ_TIMEOUT", "120");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = scratch_dir("sighup");
    let (cert_a, key_a) = certificate();
    let (cert_b, key_b) = certificate();
    write_file(&dir.join("cert.pem"), cert_a.as_bytes(), 0o644);
    write_file(&dir.join("key.pem"), key_a.as_bytes(), 0o600);
    let (child, base) = serve(serve_with_files(&dir)).await;
    let healthz = format!("{base}/healthz");
    ready_with_certificate(&dir.join("cert.pem"), &base).await;
    let old_client = trusting(&[cert_a.as_bytes()]);
    assert!(get_ok(&old_client, &healthz).await, "certificate A is served");
    assert!(!get_ok(&trusting(&[cert_b.as_bytes()]), &healthz).await);

    write_file(&dir.join("cert.pem"), cert_b.as_bytes(), 0o644);
    write_file(&dir.join("key.pem"), key_b.as_bytes(), 0o600);
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let mut reloaded = false;
    for _ in 0..100 {
        if get_ok(&trusting(&[cert_b.as_bytes()]), &healthz).await {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "certificate B is served after SIGHUP");
    assert!(!get_ok(&trusting(&[cert_a.as_bytes()]), &healthz).await, "new handshakes no longer get A");
    // The connection opened before the reload is still alive: a new handshake would now fail
    // for this client, so success means its pooled connection was kept.
    assert!(get_ok(&old_client, &healthz).await, "the open connection survived the reload");

    // A broken replacement is refused and the current certificate stays.
    write_file(&dir.join("cert.pem"), b"not a certificate", 0o644);
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(get_ok(&trusting(&[cert_b.as_bytes()]), &healthz).await);
    terminate(child).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_key_files_are_refused() {
    let dir = scratch_dir("keymode");
    let refused = |out: std::process::Output, what: &str| {
        assert!(!out.status.success(), "{what} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("readable by other users"), "{what}: {stderr}");
    };
    let (cert, key) = certificate();
    write_file(&dir.join("cert.pem"), cert.as_bytes(), 0o644);
    for mode in [0o644, 0o640, 0o604] {
        write_file(&dir.join("key.pem"), key.as_bytes(), mode);
        refused(serve_with_files(&dir).output().await.unwrap(), &format!("TLS key mode {mode:o}"));
    }
    write_file(&dir.join("key.pem"), key.as_bytes(), 0o600);

    // The master key and the HS256 secret follow the same rule.
    let master = dir.join("master.key");
    write_file(&master, MasterKey::generate().unwrap().1.as_bytes(), 0o640);
    let out = gatehouse(&dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("GATEHOUSE_MASTER_KEY_FILE", &master)
        .output()
        .await
        .unwrap();
    refused(out, "master key mode 640");
    let secret = dir.join("hs256.secret");
    write_file(&secret, b"0123456789abcdef0123456789abcdef-hs256", 0o644);
    let out = gatehouse(&dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("GATEHOUSE_TOKENS__ACCESS_TOKEN_ALG", "HS256")
        .env("GATEHOUSE_HS256_SECRET_FILE", &secret)
        .output()
        .await
        .unwrap();
    refused(out, "HS256 secret mode 644");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_warns_about_secrets_in_the_file() {
    let dir = scratch_dir("secrets");
    std::fs::write(
        dir.join("gatehouse.toml"),
        "database_url = \"postgres://gh:file-pw-123@db.internal/gh\"\nmaster_key = \"c2VjcmV0LWtleS1tYXRlcmlhbA==\"\n\
         [tokens]\naccess_token_lifetime = 600\n[smtp]\npassword = \"smtp-pw-456\"\n",
    )
    .unwrap();
    let out = gatehouse(&dir).args(["config", "check", "--json"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings do not fail the check: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let warnings = v["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect::<Vec<_>>().join("\n");
    for key in ["database_url", "master_key", "smtp.password"] {
        assert!(warnings.contains(key), "{key}: {warnings}");
    }
    assert!(!warnings.contains("access_token_lifetime"), "{warnings}");
    for secret in ["file-pw-123", "c2VjcmV0LWtleS1tYXRlcmlhbA", "smtp-pw-456"] {
        assert!(!text.contains(secret), "{secret} printed");
    }
    let plain = gatehouse(&dir).args(["config", "check"]).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("warning: master_key looks like a secret"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
