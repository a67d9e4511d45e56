//! axum integration: [`Guard`], the [`Authenticated`], [`RequireScope`], [`RequirePermission`]
//! and [`RequireRole`] extractors, and the error responses of RFC 6750 §3.
//!
//! The extractors find the [`Guard`] through axum state (`Guard: FromRef<S>`): use it as the
//! router's state, or implement `FromRef<AppState> for Guard` for a larger state.
//!
//! | situation                                   | answer                                                         |
//! |---------------------------------------------|----------------------------------------------------------------|
//! | no `Authorization: Bearer` (§3.1)           | 401, `WWW-Authenticate: Bearer realm="…"`, no error code       |
//! | token invalid, expired, forged              | 401, `Bearer realm="…", error="invalid_token", …`              |
//! | two `Authorization` headers                 | 400, `Bearer realm="…", error="invalid_request"`               |
//! | valid token without the scope (§3.1)        | 403, `Bearer error="insufficient_scope", scope="…"`            |
//! | valid token without the permission / role   | 403, body `insufficient_permission` / `insufficient_role`      |
//! | no key set could be fetched at all          | 503 (the token is not blamed, so clients do not drop it)        |
//!
//! Bodies are `{"error": "...", "error_description": "..."}`; the description never says more than
//! "invalid" or "expired". The precise reason is logged at debug level.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, header};

use crate::claims::AccessClaims;
use crate::keys::KeySet;
#[cfg(feature = "remote")]
use crate::remote::{FetchError, JwksCache, JwksCacheConfig, RemoteError};
use crate::verify::{Validation, VerifyError, verify};
use crate::{BearerError, TokenScheme, parse_authorization};

mod dpop;
mod extract;
mod grants;

pub use extract::{
    AuthRejection, Authenticated, InsufficientScope, RejectionKind, RequireScope, ScopeName, require_scope,
};
pub use grants::{
    MissingGrant, PermissionName, RequirePermission, RequireRole, RoleName, require_permission, require_role,
};

/// Seconds since the Unix epoch; replaceable for tests with a controllable clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> i64 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

enum KeySource {
    Static(Arc<KeySet>),
    #[cfg(feature = "remote")]
    Remote(JwksCache),
}

/// Verifies bearer tokens for one resource server: issuer, audiences, leeway, realm and keys.
/// Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<GuardInner>,
}

struct GuardInner {
    validation: Validation,
    keys: KeySource,
    realm: Arc<str>,
    clock: Clock,
    /// RFC 9728 §5.1: the metadata URL named in 401 challenges.
    resource_metadata: Option<Arc<str>>,
    /// DPoP-bound tokens accepted (RFC 9449 §7.1), when enabled.
    dpop: Option<dpop::DpopResource>,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("validation", &self.inner.validation)
            .field("realm", &self.inner.realm)
            .finish_non_exhaustive()
    }
}

/// Why a [`Guard`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardConfigError {
    #[error("the issuer must be non-empty and must not end with '/' (Gatehouse issuers never do)")]
    Issuer,
    #[error("at least one audience is required")]
    NoAudience,
    #[error("the realm must be printable ASCII without '\"' or '\\'")]
    Realm,
    #[error("the resource metadata URL must be printable ASCII without '\"' or '\\'")]
    ResourceMetadata,
    #[error("the DPoP origin must be an http(s) origin without path, query or fragment")]
    DpopOrigin,
    #[error("no key source: give a key set or enable the `remote` feature")]
    NoKeys,
    #[cfg(feature = "remote")]
    #[error(transparent)]
    Jwks(#[from] FetchError),
}

/// Builds a [`Guard`]. Without [`GuardBuilder::key_set`] or [`GuardBuilder::jwks_cache`], the
/// keys are fetched from `{issuer}/oauth2/jwks`.
pub struct GuardBuilder {
    issuer: String,
    audiences: Vec<String>,
    leeway_secs: u64,
    realm: String,
    resource_metadata: Option<String>,
    dpop_origin: Option<String>,
    keys: Option<KeySource>,
    #[cfg(feature = "remote")]
    cache_config: JwksCacheConfig,
    clock: Clock,
}

impl GuardBuilder {
    /// Adds an accepted audience; at least one is required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerance, capped at 60 s. Default 30 s.
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs.min(Validation::MAX_LEEWAY_SECS);
        self
    }

    /// The `realm` of `WWW-Authenticate` (RFC 6750 §3). Default `api`.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// RFC 9728 §5.1: name the resource's metadata document in every 401 challenge
    /// (`WWW-Authenticate: Bearer resource_metadata="…"`), so that a client that knows only the
    /// resource can discover its authorization server. Pass
    /// [`crate::ProtectedResourceMetadata::metadata_url`].
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// Verify with a fixed key set (for example one HS256 key) instead of the issuer's JWKS.
    pub fn key_set(mut self, keys: KeySet) -> Self {
        self.keys = Some(KeySource::Static(Arc::new(keys)));
        self
    }

    /// Verify with an existing JWKS cache (shared with other guards, or with a custom client).
    #[cfg(feature = "remote")]
    pub fn jwks_cache(mut self, cache: JwksCache) -> Self {
        self.keys = Some(KeySource::Remote(cache));
        self
    }

    /// Settings of the JWKS cache created from the issuer URL.
    #[cfg(feature = "remote")]
    pub fn cache_config(mut self, config: JwksCacheConfig) -> Self {
        self.cache_config = config;
        self
    }

    /// Accepts DPoP-bound tokens (RFC 9449 §7.1): `Authorization: DPoP <token>` with a proof in
    /// the `DPoP` header by the key the token's `cnf.jkt` names, made for this request —
    /// `origin` (`https://api.example.com`, as clients address this server) plus the request's
    /// path. Proofs are accepted once (per process) within five minutes of their `iat`.
    /// Without this, DPoP-bound tokens are refused; bound tokens are never accepted as bearer
    /// tokens (§7.2).
    pub fn dpop(mut self, origin: impl Into<String>) -> Self {
        self.dpop_origin = Some(origin.into());
        self
    }

    /// The clock used for `exp`/`nbf`/`iat`, in seconds since the Unix epoch; the system clock
    /// by default.
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn build(self) -> Result<Guard, GuardConfigError> {
        if self.issuer.is_empty() || self.issuer.ends_with('/') {
            return Err(GuardConfigError::Issuer);
        }
        if self.audiences.is_empty() {
            return Err(GuardConfigError::NoAudience);
        }
        if self.realm.is_empty() || !self.realm.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') {
            return Err(GuardConfigError::Realm);
        }
        let quotable =
            |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\');
        if self.resource_metadata.as_deref().is_some_and(|u| !quotable(u)) {
            return Err(GuardConfigError::ResourceMetadata);
        }
        if self.dpop_origin.as_deref().is_some_and(|o| !dpop::valid_origin(o)) {
            return Err(GuardConfigError::DpopOrigin);
        }
        let keys = match self.keys {
            Some(keys) => keys,
            #[cfg(feature = "remote")]
            None => KeySource::Remote(JwksCache::for_issuer(&self.issuer, self.cache_config)?),
            #[cfg(not(feature = "remote"))]
            None => return Err(GuardConfigError::NoKeys),
        };
        let validation = Validation::new(self.issuer, self.audiences).with_leeway(self.leeway_secs);
        let inner = GuardInner {
            validation,
            keys,
            realm: self.realm.into(),
            clock: self.clock,
            resource_metadata: self.resource_metadata.map(Into::into),
            dpop: self.dpop_origin.map(dpop::DpopResource::new),
        };
        Ok(Guard { inner: Arc::new(inner) })
    }
}

impl Guard {
    pub fn builder(issuer: impl Into<String>) -> GuardBuilder {
        GuardBuilder {
            issuer: issuer.into(),
            audiences: Vec::new(),
            leeway_secs: Validation::DEFAULT_LEEWAY_SECS,
            realm: "api".into(),
            resource_metadata: None,
            dpop_origin: None,
            keys: None,
            #[cfg(feature = "remote")]
            cache_config: JwksCacheConfig::default(),
            clock: Arc::new(system_clock),
        }
    }

    /// A guard for tokens of `issuer` meant for `audience`, with keys from `{issuer}/oauth2/jwks`
    /// and every other setting at its default.
    #[cfg(feature = "remote")]
    pub fn for_issuer(issuer: &str, audience: &str) -> Result<Self, GuardConfigError> {
        Self::builder(issuer).audience(audience).build()
    }

    pub fn validation(&self) -> &Validation {
        &self.inner.validation
    }

    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    #[cfg(feature = "remote")]
    pub fn jwks_cache(&self) -> Option<&JwksCache> {
        match &self.inner.keys {
            KeySource::Remote(cache) => Some(cache),
            KeySource::Static(_) => None,
        }
    }

    /// Fetches the JWKS now, so that a misconfigured issuer shows at start-up rather than on the
    /// first request. A no-op with a fixed key set.
    #[cfg(feature = "remote")]
    pub async fn warm_up(&self) -> Result<(), FetchError> {
        match &self.inner.keys {
            KeySource::Remote(cache) => cache.keys().await.map(drop),
            KeySource::Static(_) => Ok(()),
        }
    }

    /// Verifies a bearer token's value.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, AuthRejection> {
        let now = (self.inner.clock)();
        let v = &self.inner.validation;
        let result = match &self.inner.keys {
            KeySource::Static(keys) => verify(token, keys, v, now).map_err(RejectionKind::InvalidToken),
            #[cfg(feature = "remote")]
            KeySource::Remote(cache) => cache.verify(token, v, now).await.map_err(|e| match e {
                RemoteError::Token(e) => RejectionKind::InvalidToken(e),
                RemoteError::Unavailable(_) => RejectionKind::Unavailable,
            }),
        };
        result.map_err(|kind| {
            match &kind {
                RejectionKind::Unavailable => tracing::warn!("bearer token not checked: no JWKS available"),
                other => tracing::debug!(reason = %other, "bearer token refused"),
            }
            self.reject(kind)
        })
    }

    /// Reads `Authorization: Bearer` (RFC 6750 §2.1) from `headers` and verifies the token. A
    /// DPoP-bound token is refused (RFC 9449 §7.2); [`Self::authenticate_request`] (what the
    /// extractors use) also takes the DPoP scheme when [`GuardBuilder::dpop`] enabled it.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<AccessClaims, AuthRejection> {
        match self.credentials(headers)? {
            (TokenScheme::Bearer, token) => self.bearer(token).await,
            (TokenScheme::Dpop, _) => Err(self.reject(RejectionKind::MissingToken)),
        }
    }

    /// [`Self::authenticate`] for a whole request: with DPoP enabled, `Authorization: DPoP`
    /// and its proof are checked against the request's method and path (RFC 9449 §4.3, §7.1).
    pub async fn authenticate_request(&self, parts: &Parts) -> Result<AccessClaims, AuthRejection> {
        let (scheme, token) = self.credentials(&parts.headers)?;
        let dpop = match (scheme, &self.inner.dpop) {
            (TokenScheme::Bearer, _) => return self.bearer(token).await,
            // RFC 6750 §3.1: a scheme this resource does not take means no credentials.
            (TokenScheme::Dpop, None) => return Err(self.reject(RejectionKind::MissingToken)),
            (TokenScheme::Dpop, Some(dpop)) => dpop,
        };
        let claims = self.verify(token).await?;
        let Some(bound) = claims.dpop_jkt() else {
            return Err(self.reject(RejectionKind::InvalidToken(VerifyError::DpopBinding)));
        };
        dpop.check(&parts.headers, parts.method.as_str(), parts.uri.path(), token, bound, (self.inner.clock)())
            .map_err(|why| {
                tracing::debug!(reason = why, "DPoP proof refused");
                self.reject(RejectionKind::InvalidDpopProof(why))
            })?;
        Ok(claims)
    }

    /// The one `Authorization` header's scheme and token.
    fn credentials<'h>(&self, headers: &'h HeaderMap) -> Result<(TokenScheme, &'h str), AuthRejection> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Err(self.reject(RejectionKind::MissingToken));
        };
        if values.next().is_some() {
            return Err(self.reject(RejectionKind::InvalidRequest("more than one Authorization header")));
        }
        let not_b64token = || self.reject(RejectionKind::InvalidToken(VerifyError::Malformed("not a b64token")));
        let value = value.to_str().map_err(|_| not_b64token())?;
        match parse_authorization(value) {
            Ok(credentials) => Ok(credentials),
            // RFC 6750 §3.1: another scheme means no bearer credentials at all.
            Err(BearerError::NotBearer) => Err(self.reject(RejectionKind::MissingToken)),
            Err(BearerError::Malformed) => Err(not_b64token()),
        }
    }

    /// A token presented as a bearer token: valid, and not DPoP-bound (RFC 9449 §7.2).
    async fn bearer(&self, token: &str) -> Result<AccessClaims, AuthRejection> {
        let claims = self.verify(token).await?;
        if claims.dpop_jkt().is_some() {
            return Err(self.reject(RejectionKind::InvalidToken(VerifyError::DpopBinding)));
        }
        Ok(claims)
    }

    pub(crate) fn reject(&self, kind: RejectionKind) -> AuthRejection {
        AuthRejection::new(kind, Arc::clone(&self.inner.realm))
            .with_resource_metadata(self.inner.resource_metadata.clone())
    }
}

#[cfg(test)]
mod tests;
