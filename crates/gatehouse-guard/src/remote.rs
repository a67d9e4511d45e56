//! Fetching and caching the issuer's JWK Set (RFC 7517 §5) from `{issuer}/oauth2/jwks`.
//!
//! The cache honours `Cache-Control: max-age` (RFC 9111 §5.2.2.1) within bounds (30 s to 1 h by
//! default). A token with an unknown `kid` triggers a refetch, but at most once per
//! `refetch_interval` (RFC 8725 §3.10 warns against letting tokens drive fetches): a flood of
//! bogus kids costs the issuer one request per interval. Concurrent misses share one fetch. A
//! failed fetch keeps the last good key set. The only URL ever fetched is the configured one.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderValue};
use reqwest::{StatusCode, Url};

use crate::claims::AccessClaims;
use crate::keys::{JwksError, KeySet};
use crate::verify::{Validation, VerifyError, precheck, verify};

/// How the JWKS is fetched and cached. Every default is on the safe side; see each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksCacheConfig {
    /// Least time between two refetches caused by unknown kids, and between retries after a
    /// failed fetch. Default 30 s.
    pub refetch_interval: Duration,
    /// Cache lifetime when the response has no `max-age`. Default 5 min.
    pub default_ttl: Duration,
    /// Lower bound on the lifetime taken from `max-age` (also for `no-cache`). Default 30 s.
    pub min_ttl: Duration,
    /// Upper bound on the lifetime taken from `max-age`. Default 1 h.
    pub max_ttl: Duration,
    /// Whole-request timeout. Default 10 s.
    pub timeout: Duration,
    /// Connect timeout. Default 5 s.
    pub connect_timeout: Duration,
    /// Largest JWKS body accepted. Default 64 KiB (a JWKS of a few keys is about 2 KiB).
    pub max_body_bytes: usize,
    /// Allow `http://` URLs on hosts other than loopback. Default false: a JWKS fetched in the
    /// clear can be replaced by anyone on the path.
    pub allow_http: bool,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        Self {
            refetch_interval: Duration::from_secs(30),
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 64 * 1024,
            allow_http: false,
        }
    }
}

/// Why the JWKS could not be fetched (or a cache could not be set up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid JWKS URL {0:?}")]
    InvalidUrl(String),
    #[error("refusing plain-HTTP JWKS URL {0:?} on a non-loopback host (see JwksCacheConfig::allow_http)")]
    InsecureUrl(String),
    #[error("could not build the HTTP client: {0}")]
    Client(String),
    #[error("JWKS request failed: {0}")]
    Http(String),
    #[error("the JWKS endpoint answered HTTP {0}")]
    Status(u16),
    #[error("the JWKS response is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Jwks(#[from] JwksError),
    #[error("no JWKS yet, and the last fetch failed less than refetch_interval ago")]
    BackingOff,
}

/// Why [`JwksCache::verify`] refused a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The token is bad.
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// No key set could be had at all, so the token could not be checked.
    #[error("no verification keys available: {0}")]
    Unavailable(#[from] FetchError),
}

/// A shared, cheaply cloneable cache of the issuer's JWKS.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").field("url", &self.inner.url.as_str()).finish_non_exhaustive()
    }
}

struct Inner {
    url: Url,
    client: reqwest::Client,
    config: JwksCacheConfig,
    state: Mutex<State>,
    /// Held for the duration of a fetch, so that concurrent misses share one.
    fetch_lock: tokio::sync::Mutex<()>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    ttl: Duration,
    failed_at: Option<Instant>,
    kid_refetch_at: Option<Instant>,
}

impl State {
    fn fresh(&self) -> Option<Arc<KeySet>> {
        if self.fetched_at.is_some_and(|t| t.elapsed() < self.ttl) { self.keys.clone() } else { None }
    }
}

fn within(at: Option<Instant>, interval: Duration) -> bool {
    at.is_some_and(|t| t.elapsed() < interval)
}

impl JwksCache {
    /// A cache of `{issuer}/oauth2/jwks`, where Gatehouse publishes its keys.
    pub fn for_issuer(issuer: &str, config: JwksCacheConfig) -> Result<Self, FetchError> {
        Self::new(&format!("{}/oauth2/jwks", issuer.trim_end_matches('/')), config)
    }

    /// A cache of the JWKS at `jwks_url`.
    pub fn new(jwks_url: &str, config: JwksCacheConfig) -> Result<Self, FetchError> {
        Self::with_client_builder(jwks_url, reqwest::Client::builder(), config)
    }

    /// Like [`JwksCache::new`], starting from a caller's client builder (for example one with an
    /// extra root certificate). Redirects are switched off and the timeouts set on top of it.
    pub fn with_client_builder(
        jwks_url: &str,
        builder: reqwest::ClientBuilder,
        config: JwksCacheConfig,
    ) -> Result<Self, FetchError> {
        let url = Url::parse(jwks_url).map_err(|_| FetchError::InvalidUrl(jwks_url.into()))?;
        check_scheme(&url, config.allow_http)?;
        let client = builder
            // A redirect could point the fetch anywhere; the issuer publishes at a fixed URL.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("gatehouse-guard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FetchError::Client(error_chain(&e)))?;
        let inner = Inner {
            url,
            client,
            config,
            state: Mutex::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: AtomicU64::new(0),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    pub fn config(&self) -> &JwksCacheConfig {
        &self.inner.config
    }

    /// How many fetches were attempted so far (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a handful of plain values that are always consistent: a panic elsewhere
        // while holding the lock cannot leave it half-written.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current key set, fetching it when the cache is empty or stale. A cache hit only
    /// clones an `Arc`.
    pub async fn keys(&self) -> Result<Arc<KeySet>, FetchError> {
        let stale = {
            let state = self.state();
            if let Some(keys) = state.fresh() {
                return Ok(keys);
            }
            state.keys.clone()
        };
        let _fetching = match (self.inner.fetch_lock.try_lock(), &stale) {
            (Ok(guard), _) => guard,
            // Someone is already refreshing: answer with the stale set rather than queue.
            (Err(_), Some(stale)) => return Ok(Arc::clone(stale)),
            (Err(_), None) => self.inner.fetch_lock.lock().await,
        };
        {
            let state = self.state();
            if let Some(keys) = state.fresh() {
                return Ok(keys);
            }
            if within(state.failed_at, self.inner.config.refetch_interval) {
                return state.keys.clone().ok_or(FetchError::BackingOff);
            }
        }
        match self.fetch_and_store().await {
            Ok(keys) => Ok(keys),
            Err(e) => self.state().keys.clone().ok_or(e),
        }
    }

    /// Called when a token names a kid that `seen` lacks: refetches unless another task already
    /// replaced `seen`, or a kid-driven refetch happened less than `refetch_interval` ago.
    /// Returns the newer key set, if there is one.
    pub async fn refetch_for_unknown_kid(&self, seen: &Arc<KeySet>) -> Option<Arc<KeySet>> {
        let _fetching = self.inner.fetch_lock.lock().await;
        {
            let mut state = self.state();
            if let Some(current) = &state.keys
                && !Arc::ptr_eq(current, seen)
            {
                return Some(Arc::clone(current));
            }
            let interval = self.inner.config.refetch_interval;
            if within(state.kid_refetch_at, interval) || within(state.failed_at, interval) {
                tracing::debug!("unknown kid: JWKS refetch suppressed by the rate limit");
                return None;
            }
            state.kid_refetch_at = Some(Instant::now());
        }
        self.fetch_and_store().await.ok()
    }

    /// Verifies `token` with the cached keys, refetching once (rate-limited) on an unknown kid.
    pub async fn verify(&self, token: &str, v: &Validation, now_unix: i64) -> Result<AccessClaims, RemoteError> {
        let keys = match self.keys().await {
            Ok(keys) => keys,
            // A token that is bad whatever the keys is still `invalid_token`.
            Err(e) => return Err(precheck(token, v).map_or_else(RemoteError::Token, |()| RemoteError::Unavailable(e))),
        };
        match verify(token, &keys, v, now_unix) {
            Err(VerifyError::UnknownKid(kid)) => match self.refetch_for_unknown_kid(&keys).await {
                Some(newer) => Ok(verify(token, &newer, v, now_unix)?),
                None => Err(VerifyError::UnknownKid(kid).into()),
            },
            other => Ok(other?),
        }
    }

    async fn fetch_and_store(&self) -> Result<Arc<KeySet>, FetchError> {
        let result = self.fetch().await;
        let mut state = self.state();
        match result {
            Ok((set, ttl)) => {
                let keys = Arc::new(set);
                state.keys = Some(Arc::clone(&keys));
                state.fetched_at = Some(Instant::now());
                state.ttl = ttl;
                state.failed_at = None;
                Ok(keys)
            }
            Err(e) => {
                tracing::warn!(url = %self.inner.url, error = %e, kept_keys = state.keys.is_some(), "JWKS fetch failed");
                state.failed_at = Some(Instant::now());
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let config = &self.inner.config;
        let mut resp = self
            .inner
            .client
            .get(self.inner.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .send()
            .await
            .map_err(|e| FetchError::Http(error_chain(&e)))?;
        if resp.status() != StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        let max = config.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let ttl = ttl_from(resp.headers().get_all(CACHE_CONTROL).iter(), config);
        let mut body = Vec::new();
        // Read chunk by chunk so a missing or lying Content-Length cannot make us buffer more.
        while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Http(error_chain(&e)))? {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        let set = KeySet::from_jwks(&body)?;
        for skipped in set.skipped() {
            tracing::warn!(kid = ?skipped.kid, reason = %skipped.reason, "JWKS key skipped");
        }
        tracing::debug!(url = %self.inner.url, keys = set.len(), ttl_secs = ttl.as_secs(), "JWKS fetched");
        Ok((set, ttl))
    }
}

/// `https`, or `http` on loopback (development) or when explicitly allowed.
fn check_scheme(url: &Url, allow_http: bool) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(FetchError::InsecureUrl(url.to_string())),
        _ => Err(FetchError::InvalidUrl(url.to_string())),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => {
            host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// The cache lifetime from `Cache-Control` (RFC 9111 §5.2.2), kept within the configured bounds.
fn ttl_from<'a>(values: impl Iterator<Item = &'a HeaderValue>, config: &JwksCacheConfig) -> Duration {
    let mut ttl = None;
    for directive in values.filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            ttl = Some(Duration::ZERO);
            break;
        }
        if name.eq_ignore_ascii_case("max-age")
            && ttl.is_none()
            && let Ok(secs) = value.trim().trim_matches('"').parse::<u64>()
        {
            ttl = Some(Duration::from_secs(secs));
        }
    }
    // Not Duration::clamp: it panics when a misconfigured min exceeds max.
    ttl.unwrap_or(config.default_ttl).max(config.min_ttl).min(config.max_ttl)
}

/// reqwest's Display shows only the outermost error; the cause (refused, TLS, timeout) is below.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttl(values: &[&'static str]) -> u64 {
        let values: Vec<_> = values.iter().map(|v| HeaderValue::from_static(v)).collect();
        ttl_from(values.iter(), &JwksCacheConfig::default()).as_secs()
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(ttl(&["public, max-age=600"]), 600);
        assert_eq!(ttl(&["public", "max-age=\"120\""]), 120);
        assert_eq!(ttl(&["max-age=5"]), 30);
        assert_eq!(ttl(&["max-age=86400"]), 3600);
        assert_eq!(ttl(&["no-store"]), 30);
        assert_eq!(ttl(&["max-age=600, no-cache"]), 30);
        assert_eq!(ttl(&[]), 300);
        assert_eq!(ttl(&["max-age=banana"]), 300);
        assert_eq!(ttl(&["max-age=99999999999999999999999"]), 300);
    }

    #[test]
    fn misconfigured_bounds_do_not_panic() {
        let config = JwksCacheConfig {
            min_ttl: Duration::from_secs(100),
            max_ttl: Duration::from_secs(10),
            ..Default::default()
        };
        assert_eq!(ttl_from([HeaderValue::from_static("max-age=50")].iter(), &config), Duration::from_secs(10));
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        let ok = |u: &str, allow| check_scheme(&Url::parse(u).unwrap(), allow).is_ok();
        assert!(ok("https://id.example.com/oauth2/jwks", false));
        assert!(ok("http://127.0.0.1:8080/oauth2/jwks", false));
        assert!(ok("http://127.1.2.3/oauth2/jwks", false));
        assert!(ok("http://localhost/oauth2/jwks", false));
        assert!(ok("http://[::1]:9000/oauth2/jwks", false));
        assert!(!ok("http://id.example.com/oauth2/jwks", false));
        assert!(!ok("http://10.0.0.1/oauth2/jwks", false));
        assert!(ok("http://gatehouse:8080/oauth2/jwks", true));
        assert!(!ok("ftp://id.example.com/jwks", true));
        assert!(!ok("file:///etc/passwd", true));
    }

    #[test]
    fn the_jwks_url_follows_the_issuer() {
        let cache = JwksCache::for_issuer("https://id.example.com", JwksCacheConfig::default()).unwrap();
        assert_eq!(cache.url(), "https://id.example.com/oauth2/jwks");
        let cache = JwksCache::for_issuer("https://id.example.com/tenant/", JwksCacheConfig::default()).unwrap();
        assert_eq!(cache.url(), "https://id.example.com/tenant/oauth2/jwks");
        assert!(matches!(JwksCache::new("not a url", JwksCacheConfig::default()), Err(FetchError::InvalidUrl(_))));
    }

    #[tokio::test]
    async fn an_unreachable_issuer_yields_unavailable_and_backs_off() {
        // A port that was just free: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}/oauth2/jwks");
        let cache = JwksCache::new(&url, JwksCacheConfig::default()).unwrap();
        assert!(matches!(cache.keys().await, Err(FetchError::Http(_))));
        assert_eq!(cache.keys().await.unwrap_err(), FetchError::BackingOff);
        assert_eq!(cache.fetch_count(), 1);
    }
}
