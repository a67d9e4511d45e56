//! Configuration of the web defences: TLS (`[tls]`), trusted proxies, HSTS preload, CORS
//! (`[cors]`) and input limits (`[limits]`). Defaults are safe; `validate_web` refuses settings
//! that would run insecurely.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use gatehouse_http::{CorsPolicy, HttpSettings, InputLimits, ProxyHeader, TrustedProxies};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::Settings;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM certificate chain (`GATEHOUSE_TLS_CERT`); reloaded on SIGHUP.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (`GATEHOUSE_TLS_KEY`), readable by its owner only; reloaded on SIGHUP.
    pub key_file: Option<PathBuf>,
    /// Generate (once) a self-signed certificate for the issuer's host into the data directory
    /// (`serve --tls-self-signed`; development only).
    pub self_signed: bool,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub redirect_bind: Option<SocketAddr>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.self_signed || self.cert_file.is_some() || self.key_file.is_some()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    /// Exact origins (`https://app.example.com`) allowed to call the JSON API with credentials.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsConfig {
    /// Largest request head (request line and headers) in bytes; HTTP/1 answers 431 above it.
    pub max_header_bytes: usize,
    /// Most request header fields (431 above).
    pub max_headers: usize,
    /// Longest path and query in bytes (414 above).
    pub max_url_length: usize,
    /// Deepest nesting of JSON arrays/objects in a request body (400 above).
    pub max_json_depth: usize,
    /// Most fields in a form body (413 above).
    pub max_form_fields: usize,
    /// Seconds from request head to response head: 408 if the body is still arriving, else 503.
    pub request_timeout: u64,
    /// Seconds a client may take to send a request head (slowloris); the connection is closed.
    pub header_read_timeout: u64,
    /// Concurrent connections per listener; more are closed at once.
    pub max_connections: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let l = InputLimits::default();
        Self {
            max_header_bytes: 16 * 1024,
            max_headers: l.max_headers,
            max_url_length: l.max_url_length,
            max_json_depth: l.max_json_depth,
            max_form_fields: l.max_form_fields,
            request_timeout: l.request_timeout.as_secs(),
            header_read_timeout: 10,
            max_connections: 512,
        }
    }
}

impl LimitsConfig {
    pub fn input_limits(&self) -> InputLimits {
        InputLimits {
            max_url_length: self.max_url_length,
            max_headers: self.max_headers,
            max_json_depth: self.max_json_depth,
            max_form_fields: self.max_form_fields,
            request_timeout: Duration::from_secs(self.request_timeout),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        // hyper refuses read buffers under 8 KiB.
        if self.max_header_bytes < 8192 {
            bail!("limits.max_header_bytes must be at least 8192");
        }
        if self.max_headers < 16 || self.max_url_length < 1024 || self.max_form_fields < 8 {
            bail!("limits.max_headers must be at least 16, max_url_length at least 1024, max_form_fields at least 8");
        }
        if !(2..=128).contains(&self.max_json_depth) {
            bail!("limits.max_json_depth must be between 2 and 128");
        }
        if self.request_timeout == 0 || self.header_read_timeout == 0 || self.max_connections == 0 {
            bail!("limits.request_timeout, header_read_timeout and max_connections must be positive");
        }
        Ok(())
    }
}

/// A list from TOML (`["a", "b"]`) or from one environment variable (`a,b` or `a b`).
pub fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    })
}

impl Settings {
    pub fn trusted_proxies(&self) -> anyhow::Result<TrustedProxies> {
        TrustedProxies::parse(&self.trusted_proxies).map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))
    }

    pub fn proxy_header(&self) -> anyhow::Result<ProxyHeader> {
        self.proxy_header.parse().map_err(|e| anyhow::anyhow!("proxy_header: {e}"))
    }

    pub fn cors_policy(&self) -> anyhow::Result<CorsPolicy> {
        CorsPolicy::new(&self.cors.allowed_origins).map_err(|e| anyhow::anyhow!("cors.allowed_origins: {e}"))
    }

    /// What the HTTP layer needs; `tls` says whether our own listener terminates TLS.
    pub fn http_settings(&self, issuer: url::Url, tls: bool) -> anyhow::Result<HttpSettings> {
        let mut http = HttpSettings::new(issuer, self.body_limit);
        http.tls = tls;
        http.hsts_preload = self.hsts_preload;
        http.trusted_proxies = self.trusted_proxies()?;
        http.proxy_header = self.proxy_header()?;
        http.limits = self.limits.input_limits();
        Ok(http)
    }

    /// TLS, proxy, CORS and limit settings.
    pub(crate) fn validate_web(&self) -> anyhow::Result<()> {
        let tls = &self.tls;
        if tls.cert_file.is_some() != tls.key_file.is_some() {
            bail!("TLS needs both a certificate and a key: set GATEHOUSE_TLS_CERT and GATEHOUSE_TLS_KEY");
        }
        if tls.self_signed && tls.cert_file.is_some() {
            bail!(
                "choose either --tls-self-signed or certificate files (GATEHOUSE_TLS_CERT/GATEHOUSE_TLS_KEY), not both"
            );
        }
        if tls.enabled() && self.issuer_url()?.scheme() != "https" {
            bail!("TLS is on, so the issuer must be https (e.g. --issuer https://{}), not {}", self.bind, self.issuer);
        }
        if let Some(redirect) = tls.redirect_bind {
            if !tls.enabled() {
                bail!("tls.redirect_bind needs TLS (certificate files or --tls-self-signed)");
            }
            if redirect == self.bind && redirect.port() != 0 {
                bail!("tls.redirect_bind must differ from bind");
            }
        }
        self.trusted_proxies()?;
        self.proxy_header()?;
        self.cors_policy()?;
        self.limits.validate().context("invalid [limits]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn https() -> Settings {
        Settings { issuer: "https://id.example.com".into(), ..Settings::default() }
    }

    #[test]
    fn defaults_are_valid() {
        assert!(Settings::default().validate_web().is_ok());
    }

    #[test]
    fn tls_rules() {
        let mut s = Settings::default();
        s.tls.self_signed = true;
        assert!(s.validate_web().unwrap_err().to_string().contains("must be https"));
        let mut s = https();
        s.tls.cert_file = Some("cert.pem".into());
        assert!(s.validate_web().is_err(), "key missing");
        s.tls.key_file = Some("key.pem".into());
        assert!(s.validate_web().is_ok());
        s.tls.self_signed = true;
        assert!(s.validate_web().is_err(), "both");
        let mut s = https();
        s.tls.redirect_bind = Some("127.0.0.1:8081".parse().unwrap());
        assert!(s.validate_web().is_err(), "redirect without TLS");
        s.tls.self_signed = true;
        assert!(s.validate_web().is_ok());
    }

    #[test]
    fn proxies_cors_and_limits_are_checked() {
        let mut s = Settings { trusted_proxies: vec!["10.0.0.0/33".into()], ..Settings::default() };
        assert!(s.validate_web().is_err());
        s.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()];
        assert!(s.validate_web().is_ok());
        s.cors.allowed_origins = vec!["https://*.example.com".into()];
        assert!(s.validate_web().is_err());
        s.cors.allowed_origins = vec!["null".into()];
        assert!(s.validate_web().is_err());
        s.cors.allowed_origins = vec!["https://app.example.com".into()];
        assert!(s.validate_web().is_ok());
        s.proxy_header = "x-real-ip".into();
        assert!(s.validate_web().is_err());
        s.proxy_header = "forwarded".into();
        s.limits.max_header_bytes = 4096;
        assert!(s.validate_web().is_err());
    }

    #[test]
    fn lists_from_one_string() {
        #[derive(Deserialize)]
        struct T {
            #[serde(deserialize_with = "string_or_list")]
            v: Vec<String>,
        }
        let t: T = serde_json::from_str(r#"{"v": "10.0.0.0/8, 192.168.0.0/16"}"#).unwrap();
        assert_eq!(t.v, ["10.0.0.0/8", "192.168.0.0/16"]);
        let t: T = serde_json::from_str(r#"{"v": ["a"]}"#).unwrap();
        assert_eq!(t.v, ["a"]);
    }
}
