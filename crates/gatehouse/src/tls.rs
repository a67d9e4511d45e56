//! TLS termination with rustls and the aws-lc-rs provider: TLS 1.3 and 1.2 only, rustls's
//! default (AEAD, forward-secret) cipher suites, ALPN h2 and http/1.1.
//!
//! The certificate and key come from PEM files (`GATEHOUSE_TLS_CERT`/`GATEHOUSE_TLS_KEY`) and
//! are read again on SIGHUP: new handshakes use the new certificate, open connections carry on.
//! For development, `serve --tls-self-signed` generates a certificate for the issuer's host into
//! the data directory once (key mode 0600) and reuses it afterwards.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

use crate::config::Settings;
use crate::secrets::{read_secret_file, write_private};

/// Makes aws-lc-rs the process-wide rustls provider (STACK.md: never ring). Idempotent.
pub fn install_crypto_provider() {
    // Err only means a provider is installed already (another server in this process).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Where the certificate chain and private key are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The TLS files for these settings (configured, or self-signed and generated when missing),
/// or `None` when TLS is off.
pub fn files(settings: &Settings) -> anyhow::Result<Option<TlsFiles>> {
    let tls = &settings.tls;
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert: cert.clone(), key: key.clone() })),
        _ if tls.self_signed => self_signed(settings).map(Some),
        _ => Ok(None),
    }
}

/// Reads the files into a rustls configuration. The key file must not be readable by other
/// users (the same rule as every other secret file).
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let cert_pem = std::fs::read(&files.cert).with_context(|| format!("reading {}", files.cert.display()))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    if certs.is_empty() {
        bail!("{} contains no certificate", files.cert.display());
    }
    let key_pem = Zeroizing::new(read_secret_file(&files.key).context("TLS private key")?);
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .with_context(|| format!("{} is not a PEM private key", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("{} does not match {}", files.key.display(), files.cert.display()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The configuration for serving; on Unix the files are read again on every SIGHUP (a bad new
/// file is logged and the old certificate kept). Abort the returned task at shutdown.
pub fn reloadable(config: Arc<ServerConfig>, files: TlsFiles) -> (RustlsConfig, tokio::task::JoinHandle<()>) {
    let config = RustlsConfig::from_config(config);
    let reloader = tokio::spawn(reload_on_sighup(config.clone(), files));
    (config, reloader)
}

#[cfg(unix)]
async fn reload_on_sighup(config: RustlsConfig, files: TlsFiles) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; the TLS certificate will not be reloaded");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match server_config(&files) {
            Ok(new) => {
                config.reload_from_config(new);
                tracing::info!(cert = %files.cert.display(), "SIGHUP: TLS certificate reloaded");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "SIGHUP: TLS reload failed; keeping the old certificate")
            }
        }
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_config: RustlsConfig, _files: TlsFiles) {}

/// `<data_dir>/tls-self-signed-<host>.{crt,key}`, generated on first use.
fn self_signed(settings: &Settings) -> anyhow::Result<TlsFiles> {
    let issuer = settings.issuer_url()?;
    let host = issuer.host_str().context("the issuer has no host")?.trim_matches(['[', ']']).to_owned();
    let stem: String = host.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
    let dir = &settings.data_dir;
    let files = TlsFiles {
        cert: dir.join(format!("tls-self-signed-{stem}.crt")),
        key: dir.join(format!("tls-self-signed-{stem}.key")),
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    create_private_dir(dir)?;
    for stale in [&files.cert, &files.key] {
        if stale.exists() {
            std::fs::remove_file(stale).with_context(|| format!("removing incomplete {}", stale.display()))?;
        }
    }
    let mut names = vec![host.clone()];
    let loopback = host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        names.extend(["localhost", "127.0.0.1", "::1"].into_iter().map(str::to_owned).filter(|n| *n != host));
    }
    let generated = rcgen::generate_simple_self_signed(names).context("generating a self-signed certificate")?;
    write_private(&files.key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&files.cert, generated.cert.pem()).with_context(|| format!("writing {}", files.cert.display()))?;
    tracing::warn!(
        cert = %files.cert.display(),
        "SELF-SIGNED TLS CERTIFICATE GENERATED for {host}: browsers will warn; development only. \
         In production set GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY."
    );
    Ok(files)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting permissions of {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gatehouse-tls-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn self_signed_is_generated_once_with_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        install_crypto_provider();
        let dir = scratch("gen");
        let mut s = Settings { issuer: "https://127.0.0.1:8443".into(), data_dir: dir.clone(), ..Settings::default() };
        s.tls.self_signed = true;
        let first = files(&s).unwrap().unwrap();
        let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let pem = std::fs::read(&first.cert).unwrap();
        assert!(server_config(&first).is_ok());
        let again = files(&s).unwrap().unwrap();
        assert_eq!(std::fs::read(&again.cert).unwrap(), pem, "reused, not regenerated");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn readable_key_files_and_garbage_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        install_crypto_provider();
        let dir = scratch("perm");
        let mut s = Settings { issuer: "https://localhost".into(), data_dir: dir.clone(), ..Settings::default() };
        s.tls.self_signed = true;
        let f = files(&s).unwrap().unwrap();
        std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = format!("{:#}", server_config(&f).unwrap_err());
        assert!(err.contains("readable by other users"), "{err}");
        std::fs::set_permissions(&f.key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&f.cert, "not a certificate").unwrap();
        assert!(server_config(&f).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
