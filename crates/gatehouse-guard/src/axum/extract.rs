//! The extractors [`Authenticated`] and [`RequireScope`], and their RFC 6750 §3 rejections.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use ::axum::Json;
use ::axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::Guard;
use super::grants::MissingGrant;
use crate::claims::AccessClaims;
use crate::verify::VerifyError;

/// A request the guard turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectionKind {
    /// No bearer credentials: 401 without an error code.
    MissingToken,
    /// 400 `invalid_request`.
    InvalidRequest(&'static str),
    /// 401 `invalid_token`.
    InvalidToken(VerifyError),
    /// 403 `insufficient_scope`.
    InsufficientScope(InsufficientScope),
    /// 403 `insufficient_permission` / `insufficient_role`.
    MissingGrant(MissingGrant),
    /// 503: no keys to check the token with.
    Unavailable,
    /// 401 `invalid_dpop_proof` (RFC 9449 §7.1).
    InvalidDpopProof(&'static str),
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingToken => f.write_str("no bearer token"),
            Self::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Self::InvalidToken(e) => write!(f, "invalid token: {e}"),
            Self::InsufficientScope(e) => write!(f, "insufficient scope: {} required", e.scope()),
            Self::MissingGrant(e) => e.fmt(f),
            Self::Unavailable => f.write_str("no verification keys available"),
            Self::InvalidDpopProof(why) => write!(f, "invalid DPoP proof: {why}"),
        }
    }
}

/// The rejection of [`Authenticated`], [`RequireScope`], `RequirePermission` and `RequireRole`;
/// renders the RFC 6750 §3 response.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    kind: RejectionKind,
    realm: Arc<str>,
    /// RFC 9728 §5.1 `resource_metadata`, added to 401 challenges when the guard has one.
    resource_metadata: Option<Arc<str>>,
}

impl AuthRejection {
    pub(crate) fn new(kind: RejectionKind, realm: Arc<str>) -> Self {
        Self { kind, realm, resource_metadata: None }
    }

    pub(crate) fn with_resource_metadata(mut self, url: Option<Arc<str>>) -> Self {
        self.resource_metadata = url;
        self
    }

    pub fn kind(&self) -> &RejectionKind {
        &self.kind
    }

    pub fn status(&self) -> StatusCode {
        match self.kind {
            RejectionKind::MissingToken | RejectionKind::InvalidToken(_) | RejectionKind::InvalidDpopProof(_) => {
                StatusCode::UNAUTHORIZED
            }
            RejectionKind::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RejectionKind::InsufficientScope(_) | RejectionKind::MissingGrant(_) => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

pub(super) fn error_response(
    status: StatusCode,
    challenge: Option<String>,
    error: &str,
    description: &str,
) -> Response {
    let mut resp = (status, Json(ErrorBody { error, error_description: description })).into_response();
    if let Some(challenge) = challenge {
        // The realm is checked when the guard is built and the other parts are constants.
        let value = HeaderValue::from_str(&challenge).unwrap_or(HeaderValue::from_static("Bearer"));
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    resp
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        // RFC 9728 §5.1: the metadata URL rides along in the Bearer challenge of a 401.
        let metadata =
            self.resource_metadata.as_deref().map(|u| format!(", resource_metadata=\"{u}\"")).unwrap_or_default();
        let realm = &self.realm;
        let status = self.status();
        match &self.kind {
            RejectionKind::MissingToken => error_response(
                status,
                Some(format!("Bearer realm=\"{realm}\"{metadata}")),
                "unauthenticated",
                "A bearer access token is required",
            ),
            RejectionKind::InvalidRequest(why) => {
                let challenge = format!("Bearer realm=\"{realm}\", error=\"invalid_request\"");
                error_response(status, Some(challenge), "invalid_request", why)
            }
            RejectionKind::InvalidToken(e) => {
                let (code, description) = (e.rfc6750_error(), e.client_description());
                let challenge = format!(
                    "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{description}\"{metadata}"
                );
                error_response(status, Some(challenge), code, description)
            }
            RejectionKind::InsufficientScope(e) => e.clone().into_response(),
            RejectionKind::MissingGrant(e) => e.clone().into_response(),
            RejectionKind::Unavailable => {
                error_response(status, None, "temporarily_unavailable", "The access token cannot be checked right now")
            }
            // RFC 9449 §7.1: the DPoP challenge with the algorithms a proof may use.
            RejectionKind::InvalidDpopProof(why) => {
                let algs = crate::DPOP_ALGORITHMS.map(|a| a.as_str()).join(" ");
                let challenge = format!("DPoP realm=\"{realm}\", error=\"invalid_dpop_proof\", algs=\"{algs}\"");
                error_response(status, Some(challenge), "invalid_dpop_proof", why)
            }
        }
    }
}

/// A valid token lacks a required scope: 403 with `error="insufficient_scope"` (RFC 6750 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientScope {
    scope: String,
}

impl InsufficientScope {
    pub fn new(scope: impl Into<String>) -> Self {
        Self { scope: scope.into() }
    }

    /// The scope that was required.
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

/// RFC 6749 §3.3 scope-token characters, which are also safe inside a quoted-string.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

impl IntoResponse for InsufficientScope {
    fn into_response(self) -> Response {
        let challenge = if is_scope_token(&self.scope) {
            format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", self.scope)
        } else {
            "Bearer error=\"insufficient_scope\"".to_owned()
        };
        let description = format!("The access token lacks the scope {}", self.scope);
        error_response(StatusCode::FORBIDDEN, Some(challenge), "insufficient_scope", &description)
    }
}

impl fmt::Display for InsufficientScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the scope {} is required", self.scope)
    }
}

/// Checks a scope inside a handler: `require_scope(&claims, "posts:write")?` answers 403 when the
/// token lacks it. [`RequireScope`] does the same in the handler's signature.
pub fn require_scope(claims: &AccessClaims, scope: &str) -> Result<(), InsufficientScope> {
    if claims.has_scope(scope) { Ok(()) } else { Err(InsufficientScope::new(scope)) }
}

/// Extractor: the claims of a valid bearer token, or a 401 rejection.
///
/// `Option<Authenticated>` is `None` when the request has no bearer token, and still rejects an
/// invalid one.
#[derive(Debug, Clone)]
pub struct Authenticated(pub AccessClaims);

impl<S> FromRequestParts<S> for Authenticated
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Guard::from_ref(state).authenticate_request(parts).await.map(Self)
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        match Guard::from_ref(state).authenticate_request(parts).await {
            Ok(claims) => Ok(Some(Self(claims))),
            Err(r) if r.kind == RejectionKind::MissingToken => Ok(None),
            Err(r) => Err(r),
        }
    }
}

/// Names a scope for [`RequireScope`]; [`define_scope!`](crate::define_scope) writes the impl.
pub trait ScopeName {
    const SCOPE: &'static str;
}

/// Extractor: the claims of a valid bearer token that grants `S::SCOPE`; 401 when the token is
/// missing or invalid, 403 `insufficient_scope` when it lacks the scope. The requirement is in
/// the handler's signature, so it cannot be forgotten inside the body.
///
/// ```
/// use gatehouse_guard::{RequireScope, define_scope};
///
/// define_scope!(pub PostsWrite = "posts:write");
///
/// async fn delete_post(auth: RequireScope<PostsWrite>) -> String {
///     format!("deleted by {}", auth.sub)
/// }
/// ```
pub struct RequireScope<S> {
    pub claims: AccessClaims,
    scope: PhantomData<fn() -> S>,
}

impl<S> fmt::Debug for RequireScope<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireScope").field("claims", &self.claims).finish()
    }
}

impl<S> Deref for RequireScope<S> {
    type Target = AccessClaims;

    fn deref(&self) -> &AccessClaims {
        &self.claims
    }
}

impl<S, St> FromRequestParts<St> for RequireScope<S>
where
    S: ScopeName,
    Guard: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let guard = Guard::from_ref(state);
        let claims = guard.authenticate_request(parts).await?;
        require_scope(&claims, S::SCOPE).map_err(|e| guard.reject(RejectionKind::InsufficientScope(e)))?;
        Ok(Self { claims, scope: PhantomData })
    }
}

/// Declares a marker type for [`RequireScope`]: `define_scope!(pub PostsWrite = "posts:write");`.
#[macro_export]
macro_rules! define_scope {
    ($(#[$meta:meta])* $vis:vis $name:ident = $scope:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $crate::ScopeName for $name {
            const SCOPE: &'static str = $scope;
        }
    };
}
