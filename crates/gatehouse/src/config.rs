//! Configuration: built-in defaults < optional `gatehouse.toml` < `GATEHOUSE_*` environment
//! variables < command-line flags. Nested keys use `__` in the environment
//! (`GATEHOUSE_SESSION__IDLE_TIMEOUT=900`). Secrets may come from files (`GATEHOUSE_DATABASE_URL_FILE`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use gatehouse_core::keys::KeyPolicy;
use gatehouse_core::token::RefreshSettings;
use gatehouse_core::{AccountSettings, HashParams, PasswordPolicy, SessionSettings};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::web_config::{CorsConfig, LimitsConfig, TlsConfig, string_or_list};

mod abuse;
mod backchannel;
mod federation;
mod mail;
mod mfa;
mod oauth;
mod passkeys;
pub use abuse::{LockoutConfig, RateLimitConfig};
pub use backchannel::BackchannelLogoutConfig;
pub use federation::{FederationConfig, ProviderEntry};
pub use mail::{AccountsConfig, MailConfig, SmtpTls};
pub use mfa::MfaConfig;
pub use oauth::{DpopConfig, MetadataDocumentConfig, OAuthConfig, RegistrationConfig, RegistrationModeConfig};
pub use passkeys::PasskeysConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the server listens on.
    pub bind: SocketAddr,
    /// Public base URL of this server.
    pub issuer: String,
    /// Where the SQLite database (and later keys) live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/gatehouse.db`.
    pub database_url: String,
    /// `redis://…` or `rediss://…` (TLS; a password in the URL is sent as AUTH) shared by the
    /// nodes of a cluster: cluster-wide rate limits and cache invalidation. Empty: none (a single
    /// node, everything in process). Prefer `GATEHOUSE_REDIS_URL` or `GATEHOUSE_REDIS_URL_FILE`.
    pub redis_url: String,
    /// Prefix of every Redis key and channel (several deployments can share one Redis).
    pub redis_prefix: String,
    /// Apply pending migrations when the server starts.
    pub auto_migrate: bool,
    pub registration_enabled: bool,
    /// Maximum request body in bytes.
    pub body_limit: usize,
    /// `text` or `json` log lines on stderr.
    pub log_format: LogFormat,
    pub password: PasswordSettings,
    pub session: SessionConfig,
    pub tokens: TokenConfig,
    pub keys: KeyConfig,
    /// GCRA rate limits per client IP and per account (see `config/abuse.rs`).
    pub rate_limits: RateLimitConfig,
    /// Progressive delay and temporary lock after failed logins.
    pub lockout: LockoutConfig,
    /// TLS termination (see `web_config`).
    pub tls: TlsConfig,
    /// CIDR networks of reverse proxies whose forwarding headers are believed.
    #[serde(deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<String>,
    /// The header those proxies set: `x-forwarded-for` (with `X-Forwarded-Proto`) or `forwarded`.
    pub proxy_header: String,
    /// Add `preload` to `Strict-Transport-Security`.
    pub hsts_preload: bool,
    pub cors: CorsConfig,
    pub limits: LimitsConfig,
    /// Sign-in through upstream identity providers (see `config/federation.rs`).
    pub federation: FederationConfig,
    /// Account lifecycle: verification, reset and invitation lifetimes (see `config/mail.rs`).
    pub accounts: AccountsConfig,
    /// How mail is sent (see `config/mail.rs`).
    pub mail: MailConfig,
    /// Who must use a second factor (see `config/mfa.rs`).
    pub mfa: MfaConfig,
    /// WebAuthn passkeys (see `config/passkeys.rs`).
    pub passkeys: PasskeysConfig,
    /// Authorization-server policy (see `config/oauth.rs`).
    pub oauth: OAuthConfig,
    /// Sending logout tokens to clients (see `config/backchannel.rs`).
    pub backchannel_logout: BackchannelLogoutConfig,
    /// DPoP policy: server nonces (see `config/oauth.rs`).
    pub dpop: DpopConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./gatehouse-data"),
            database_url: String::new(),
            redis_url: String::new(),
            redis_prefix: gatehouse_store::shared_state::DEFAULT_PREFIX.into(),
            auto_migrate: true,
            registration_enabled: true,
            body_limit: 64 * 1024,
            log_format: LogFormat::Text,
            password: PasswordSettings::default(),
            session: SessionConfig::default(),
            tokens: TokenConfig::default(),
            keys: KeyConfig::default(),
            rate_limits: RateLimitConfig::default(),
            lockout: LockoutConfig::default(),
            tls: TlsConfig::default(),
            trusted_proxies: Vec::new(),
            proxy_header: "x-forwarded-for".into(),
            hsts_preload: false,
            cors: CorsConfig::default(),
            limits: LimitsConfig::default(),
            federation: FederationConfig::default(),
            accounts: AccountsConfig::default(),
            mail: MailConfig::default(),
            mfa: MfaConfig::default(),
            passkeys: PasskeysConfig::default(),
            oauth: OAuthConfig::default(),
            backchannel_logout: BackchannelLogoutConfig::default(),
            dpop: DpopConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PasswordSettings {
    pub min_length: usize,
    pub max_length: usize,
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Concurrent hashes at most; 0 means one per CPU.
    pub pool_size: usize,
    /// Requests that may wait for a hashing slot; more are refused at once with 503 and
    /// `Retry-After`. 0 means four per slot.
    pub queue_size: usize,
}

impl Default for PasswordSettings {
    fn default() -> Self {
        let params = HashParams::default();
        let policy = PasswordPolicy::default();
        Self {
            min_length: policy.min_length,
            max_length: policy.max_length,
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            pool_size: 0,
            queue_size: 0,
        }
    }
}

impl PasswordSettings {
    pub fn hash_params(&self) -> HashParams {
        HashParams { memory_kib: self.memory_kib, iterations: self.iterations, parallelism: self.parallelism }
    }

    pub fn pool_size(&self) -> usize {
        if self.pool_size > 0 { self.pool_size } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }

    pub fn queue_size(&self) -> usize {
        if self.queue_size > 0 { self.queue_size } else { self.pool_size() * gatehouse_core::password::QUEUE_PER_SLOT }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    /// Seconds without a request after which a session ends.
    pub idle_timeout: i64,
    /// Seconds after sign-in after which a session ends regardless of activity.
    pub absolute_timeout: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        let s = SessionSettings::default();
        Self { idle_timeout: s.idle_timeout, absolute_timeout: s.absolute_timeout }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// Access-token lifetime in seconds.
    pub access_token_lifetime: i64,
    /// `ES256` (default), `EdDSA`, `RS256`, or `HS256` (first-party only; needs
    /// `GATEHOUSE_HS256_SECRET` or `GATEHOUSE_HS256_SECRET_FILE`).
    pub access_token_alg: String,
    /// Default `aud` of access tokens; empty means the issuer URL.
    pub audience: String,
    /// Seconds of clock skew tolerated when verifying tokens (at most 60).
    pub leeway: i64,
    /// Refresh tokens: seconds from login until the family ends.
    pub refresh_absolute_lifetime: i64,
    /// Refresh tokens: seconds without use until a token stops working.
    pub refresh_idle_lifetime: i64,
    /// ID token lifetime in seconds.
    pub id_token_lifetime: i64,
    /// Require PKCE from confidential OAuth clients too (public clients always need it).
    /// Switching this off is unsafe (RFC 9700 §2.1.1) and meant only for legacy clients.
    pub require_pkce_for_confidential_clients: bool,
}

impl Default for TokenConfig {
    fn default() -> Self {
        let r = RefreshSettings::default();
        Self {
            access_token_lifetime: 900,
            access_token_alg: "ES256".into(),
            audience: String::new(),
            leeway: 30,
            refresh_absolute_lifetime: r.absolute_lifetime,
            refresh_idle_lifetime: r.idle_lifetime,
            id_token_lifetime: 3600,
            require_pkce_for_confidential_clients: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyConfig {
    /// Seconds a signing key signs before its successor takes over.
    pub rotation_interval: i64,
    /// Seconds a new key is published in the JWKS before it signs.
    pub publish_delay: i64,
    /// Seconds between checks for due rotations and for keys created by other nodes.
    pub check_interval: u64,
}

impl Default for KeyConfig {
    fn default() -> Self {
        let p = KeyPolicy::default();
        Self { rotation_interval: p.rotation_interval, publish_delay: p.publish_delay, check_interval: 60 }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub issuer: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// `serve --tls-self-signed`.
    pub tls_self_signed: bool,
}

impl Settings {
    /// Loads the layered configuration. `config_file` (or `GATEHOUSE_CONFIG`, or
    /// `./gatehouse.toml` when present) is optional unless named explicitly.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let env_file = std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from);
        let (path, required) = match config_file.map(Path::to_path_buf).or(env_file) {
            Some(p) => (p, true),
            None => (PathBuf::from("gatehouse.toml"), false),
        };
        let env: config::Map<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("GATEHOUSE_") && !IGNORED_ENV.iter().any(|i| k.starts_with(i)))
            .collect();
        let built = config::Config::builder()
            .add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml).required(required))
            .add_source(
                config::Environment::with_prefix("GATEHOUSE")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .with_context(|| format!("reading configuration (file {})", path.display()))?;
        let mut settings: Settings = built.try_deserialize().context("invalid configuration")?;
        if let Ok(file) = std::env::var("GATEHOUSE_DATABASE_URL_FILE") {
            settings.database_url = std::fs::read_to_string(&file)
                .with_context(|| format!("reading GATEHOUSE_DATABASE_URL_FILE {file}"))?
                .trim()
                .to_owned();
        }
        if let Ok(file) = std::env::var("GATEHOUSE_REDIS_URL_FILE") {
            settings.redis_url = std::fs::read_to_string(&file)
                .with_context(|| format!("reading GATEHOUSE_REDIS_URL_FILE {file}"))?
                .trim()
                .to_owned();
        }
        if let Some(cert) = std::env::var_os("GATEHOUSE_TLS_CERT") {
            settings.tls.cert_file = Some(cert.into());
        }
        if let Some(key) = std::env::var_os("GATEHOUSE_TLS_KEY") {
            settings.tls.key_file = Some(key.into());
        }
        settings.apply(overrides);
        Ok(settings)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(b) = o.bind {
            self.bind = b;
        }
        if let Some(i) = &o.issuer {
            self.issuer.clone_from(i);
        }
        if let Some(d) = &o.data_dir {
            self.data_dir.clone_from(d);
        }
        if let Some(u) = &o.database_url {
            self.database_url.clone_from(u);
        }
        if o.tls_self_signed {
            self.tls.self_signed = true;
        }
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("gatehouse.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The issuer as a URL: `https`, or plain `http` on a loopback host only. RFC 8414 §2: no
    /// query or fragment. A trailing slash is dropped.
    pub fn issuer_url(&self) -> anyhow::Result<Url> {
        let url = Url::parse(self.issuer.trim_end_matches('/'))
            .with_context(|| format!("GATEHOUSE_ISSUER is not a valid URL: {:?}", self.issuer))?;
        if url.query().is_some() || url.fragment().is_some() {
            bail!("GATEHOUSE_ISSUER must not have a query or fragment: {url}");
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("GATEHOUSE_ISSUER must not contain credentials");
        }
        match url.scheme() {
            "https" => Ok(url),
            "http" if is_loopback(&url) => Ok(url),
            "http" => bail!(
                "GATEHOUSE_ISSUER {url} uses plain http on a non-loopback host; use https \
                 (plain http is allowed only for 127.0.0.1, ::1 and localhost, for development)"
            ),
            other => bail!("GATEHOUSE_ISSUER must be an http(s) URL, not {other}:"),
        }
    }

    /// Whether this is a development setup (loopback plain-http issuer, or a loopback https
    /// issuer with a generated self-signed certificate), where a missing master key may be
    /// generated into the data directory.
    pub fn is_development(&self) -> bool {
        self.issuer_url().is_ok_and(|u| u.scheme() == "http" || (self.tls.self_signed && is_loopback(&u)))
    }

    /// The issuer string as it appears in tokens: no trailing slash.
    pub fn issuer_id(&self) -> String {
        self.issuer.trim_end_matches('/').to_owned()
    }

    pub fn key_policy(&self) -> KeyPolicy {
        KeyPolicy {
            rotation_interval: self.keys.rotation_interval,
            publish_delay: self.keys.publish_delay,
            // Every token a retired key signed has expired by then (ID tokens will join here).
            retire_after: self.tokens.access_token_lifetime.max(self.tokens.id_token_lifetime) + self.tokens.leeway,
        }
    }

    pub fn refresh_settings(&self) -> RefreshSettings {
        RefreshSettings {
            absolute_lifetime: self.tokens.refresh_absolute_lifetime,
            idle_lifetime: self.tokens.refresh_idle_lifetime,
        }
    }

    pub fn account_settings(&self) -> AccountSettings {
        AccountSettings {
            registration_enabled: self.registration_enabled,
            password_policy: PasswordPolicy {
                min_length: self.password.min_length,
                max_length: self.password.max_length,
            },
            session: SessionSettings {
                idle_timeout: self.session.idle_timeout,
                absolute_timeout: self.session.absolute_timeout,
            },
            require_verified_email: self.accounts.require_verified_email,
            verification_ttl: self.accounts.verification_ttl,
            reset_ttl: self.accounts.reset_ttl,
            invitation_ttl: self.accounts.invitation_ttl,
            // Checked by `validate`; an invalid role name there never gets this far.
            mfa: self.mfa.policy().unwrap_or_default(),
        }
    }

    /// Refuses settings that would run insecurely or not at all.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.issuer_url()?;
        self.oauth.registration.policy()?;
        self.oauth.client_id_metadata_document.check()?;
        if self.password.min_length < 8 {
            bail!("password.min_length must be at least 8 (NIST SP 800-63B)");
        }
        if self.password.max_length < 64 || self.password.max_length < self.password.min_length {
            bail!("password.max_length must be at least 64 and at least password.min_length");
        }
        if self.session.idle_timeout <= 0 || self.session.absolute_timeout <= 0 {
            bail!("session timeouts must be positive numbers of seconds");
        }
        // A session's last use is written at most once per TOUCH_INTERVAL: a shorter idle
        // timeout would end sessions that are in use.
        let min_idle = 2 * gatehouse_core::session::TOUCH_INTERVAL;
        if self.session.idle_timeout < min_idle {
            bail!("session.idle_timeout must be at least {min_idle} seconds (last use is recorded once a minute)");
        }
        let t = &self.tokens;
        if !matches!(t.access_token_alg.as_str(), "ES256" | "EdDSA" | "RS256" | "HS256") {
            bail!("tokens.access_token_alg must be ES256, EdDSA, RS256 or HS256, not {:?}", t.access_token_alg);
        }
        if t.access_token_lifetime < 60 || t.access_token_lifetime > 86_400 {
            bail!("tokens.access_token_lifetime must be between 60 and 86400 seconds");
        }
        if !(0..=60).contains(&t.leeway) {
            bail!("tokens.leeway must be between 0 and 60 seconds");
        }
        if !(60..=86_400).contains(&t.id_token_lifetime) {
            bail!("tokens.id_token_lifetime must be between 60 and 86400 seconds");
        }
        if t.refresh_idle_lifetime <= 0 || t.refresh_absolute_lifetime <= 0 {
            bail!("refresh-token lifetimes must be positive numbers of seconds");
        }
        let k = &self.keys;
        if k.publish_delay < 60 || k.rotation_interval <= k.publish_delay {
            bail!("keys.publish_delay must be at least 60 seconds and shorter than keys.rotation_interval");
        }
        if k.check_interval == 0 || k.check_interval as i64 * 2 > k.publish_delay {
            bail!("keys.check_interval must be positive and at most half of keys.publish_delay");
        }
        if self.body_limit < 1024 {
            bail!("body_limit must be at least 1024 bytes");
        }
        self.validate_redis()?;
        self.rate_limits.validate()?;
        self.lockout.validate()?;
        self.federation.validate()?;
        self.accounts.validate()?;
        self.mail.validate()?;
        self.backchannel_logout.validate()?;
        self.mfa.validate()?;
        self.passkeys.validate(&self.issuer)?;
        self.validate_web()
    }
}

impl Settings {
    /// The Redis settings, when a URL is configured.
    pub fn redis_options(&self) -> Option<gatehouse_store::RedisOptions> {
        (!self.redis_url.is_empty()).then(|| gatehouse_store::RedisOptions {
            url: self.redis_url.clone(),
            prefix: self.redis_prefix.clone(),
            timeout: gatehouse_store::shared_state::DEFAULT_TIMEOUT,
        })
    }

    fn validate_redis(&self) -> anyhow::Result<()> {
        let url = &self.redis_url;
        if !(url.is_empty() || url.starts_with("redis://") || url.starts_with("rediss://")) {
            bail!(
                "redis_url must start with redis:// or rediss:// (got {})",
                gatehouse_store::redact_url(&self.redis_url)
            );
        }
        let p = &self.redis_prefix;
        if p.is_empty() || p.len() > 64 || p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("redis_prefix must be 1 to 64 characters without spaces");
        }
        Ok(())
    }
}

/// Variables with our prefix that are not configuration keys.
const IGNORED_ENV: &[&str] = &[
    "GATEHOUSE_CONFIG",
    "GATEHOUSE_DATABASE_URL_FILE",
    "GATEHOUSE_REDIS_URL_FILE",
    "GATEHOUSE_TEST_",
    "GATEHOUSE_REQUIRE_SERVICES",
    "GATEHOUSE_LOG",
    "GATEHOUSE_TLS_CERT",
    "GATEHOUSE_TLS_KEY",
];

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_issuer(issuer: &str) -> Settings {
        Settings { issuer: issuer.into(), ..Settings::default() }
    }

    #[test]
    fn issuer_rules() {
        assert!(with_issuer("http://127.0.0.1:8080").issuer_url().is_ok());
        assert!(with_issuer("http://localhost:3000/").issuer_url().is_ok());
        assert!(with_issuer("http://[::1]:8080").issuer_url().is_ok());
        assert!(with_issuer("https://id.example.com").issuer_url().is_ok());
        let err = with_issuer("http://id.example.com").issuer_url().unwrap_err().to_string();
        assert!(err.contains("non-loopback"), "{err}");
        assert!(with_issuer("http://127.0.0.1.nip.io").issuer_url().is_err());
        assert!(with_issuer("https://id.example.com/?x=1").issuer_url().is_err());
        assert!(with_issuer("ftp://id.example.com").issuer_url().is_err());
        assert_eq!(with_issuer("https://id.example.com/").issuer_url().unwrap().as_str(), "https://id.example.com/");
    }

    #[test]
    fn default_database_is_sqlite_in_data_dir() {
        let s = Settings::default();
        assert_eq!(s.database_url(), "sqlite://./gatehouse-data/gatehouse.db");
        assert!(s.validate().is_ok());
    }

    #[test]
    fn redis_settings() {
        let mut s = Settings::default();
        assert!(s.redis_options().is_none(), "no Redis unless configured");
        s.redis_url = "rediss://:s3cret@cache.internal:6380/2".into();
        s.validate().unwrap();
        assert_eq!(s.redis_options().unwrap().prefix, "gatehouse:");
        s.redis_url = "http://:s3cret@cache".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("redis://") && !err.contains("s3cret"), "{err}");
        s.redis_url = "redis://127.0.0.1:6379".into();
        s.redis_prefix = "two words".into();
        assert!(s.validate().is_err());
    }

    #[test]
    fn overrides_win() {
        let mut s = Settings::default();
        s.apply(&Overrides { issuer: Some("https://a.example".into()), ..Overrides::default() });
        assert_eq!(s.issuer, "https://a.example");
    }
}
