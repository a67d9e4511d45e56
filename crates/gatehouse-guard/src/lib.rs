//! `gatehouse-guard`: the library resource servers use to accept Gatehouse access tokens.
//!
//! - [`parse_bearer`] reads `Authorization: Bearer` exactly as RFC 6750 §2.1 defines it.
//! - [`KeySet`] holds verification keys parsed once from the issuer's JWK Set (RFC 7517).
//! - [`verify`] checks a JWT access token strictly (RFC 9068, RFC 8725): the key decides the
//!   algorithm, nothing in a token header can fetch anything, and `iss`, `aud`, `exp`, `nbf`,
//!   `iat` are checked with a leeway of at most 60 seconds.
//! - [`VerifiedTokens`] remembers tokens that verified (by SHA-256, per key-set generation), so a
//!   token presented again skips its signature check; the claim checks still run every time.
//! - [`verify_proof`] checks a DPoP proof (RFC 9449 §4.3) and gives the key thumbprint a bound
//!   token's `cnf.jkt` must equal.
//! - [`JwksCache`] (feature `remote`) fetches and caches `{issuer}/oauth2/jwks`, refetching on an
//!   unknown `kid` at most once per interval.
//! - [`Guard`], [`Authenticated`] and [`RequireScope`] (feature `axum`) answer 401/403 as RFC 6750
//!   §3 prescribes; [`RequirePermission`] and [`RequireRole`] answer 403 when the token's
//!   `permissions` / `roles` claim (RFC 9068 §2.2.3.1) lacks what the route needs.
//! - [`ProtectedResourceMetadata`] describes the resource server (RFC 9728 §2), serves the
//!   document at `/.well-known/oauth-protected-resource[/path]` (§3, feature `axum`), and
//!   [`GuardBuilder::resource_metadata`] names it in every 401 challenge (§5.1), so that a client
//!   (an MCP client, say) discovers Gatehouse from the resource. The guard pins the resource's
//!   identifier as the audience: a token Gatehouse minted for another resource (RFC 8707) fails.
//!
//! ```no_run
//! # #[cfg(all(feature = "axum", feature = "remote"))]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::{delete, get}};
//! use gatehouse_guard::{Authenticated, Guard, RequireScope, define_scope};
//!
//! define_scope!(PostsWrite = "posts:write");
//!
//! async fn list(Authenticated(claims): Authenticated) -> String {
//!     format!("hello {}", claims.sub)
//! }
//! async fn remove(auth: RequireScope<PostsWrite>) -> String {
//!     format!("{} may write", auth.claims.sub)
//! }
//!
//! let guard = Guard::for_issuer("https://id.example.com", "https://api.example.com")?;
//! let app: Router = Router::new().route("/posts", get(list)).route("/posts/{id}", delete(remove)).with_state(guard);
//! # Ok(()) }
//! ```

#[cfg(feature = "axum")]
mod axum;
mod claims;
mod dpop;
mod keys;
#[cfg(feature = "remote")]
mod remote;
mod resource_metadata;
#[cfg(test)]
mod test_support;
mod verified;
mod verify;

#[cfg(feature = "axum")]
pub use crate::axum::{
    AuthRejection, Authenticated, Clock, Guard, GuardBuilder, GuardConfigError, InsufficientScope, MissingGrant,
    PermissionName, RejectionKind, RequirePermission, RequireRole, RequireScope, RoleName, ScopeName,
    require_permission, require_role, require_scope,
};
pub use claims::{AccessClaims, Actor, Confirmation};
pub use dpop::{DPOP_ALGORITHMS, DpopError, DpopProof, MAX_PROOF_LEN, ProofRequest, access_token_hash, verify_proof};
pub use keys::{Algorithm, JwksError, KeyError, KeySet, SkippedKey, VerificationKey, jwk_thumbprint};
#[cfg(feature = "remote")]
pub use remote::{FetchError, JwksCache, JwksCacheConfig, RemoteError};
pub use resource_metadata::{MetadataError, ProtectedResourceMetadata, WELL_KNOWN_PATH};
pub use verified::VerifiedTokens;
pub use verify::{MAX_TOKEN_LEN, Validation, VerifyError, verify, verify_jws};

/// Why an `Authorization` header did not yield a bearer (or DPoP) token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the Authorization header does not use the Bearer (or DPoP) scheme")]
    NotBearer,
    #[error("the bearer token is not a valid b64token (RFC 6750 §2.1)")]
    Malformed,
}

/// The authentication scheme an access token was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    /// RFC 6750 §2.1.
    Bearer,
    /// RFC 9449 §7.1: a DPoP-bound token, with a proof in the `DPoP` header.
    Dpop,
}

/// Extracts the token from an `Authorization` header value.
///
/// RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, where
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// The scheme name is case-insensitive (RFC 9110 §11.1).
pub fn parse_bearer(header: &str) -> Result<&str, BearerError> {
    match parse_authorization(header)? {
        (TokenScheme::Bearer, token) => Ok(token),
        (TokenScheme::Dpop, _) => Err(BearerError::NotBearer),
    }
}

/// Like [`parse_bearer`], also accepting the `DPoP` scheme of RFC 9449 §7.1, whose credentials
/// have the same token68 syntax.
pub fn parse_authorization(header: &str) -> Result<(TokenScheme, &str), BearerError> {
    let (scheme, rest) = header.split_once(' ').ok_or(BearerError::NotBearer)?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        TokenScheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        TokenScheme::Dpop
    } else {
        return Err(BearerError::NotBearer);
    };
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    if body.is_empty() || !body.chars().all(valid_char) {
        return Err(BearerError::Malformed);
    }
    Ok((scheme, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_rfc6750_b64tokens() {
        assert_eq!(parse_bearer("Bearer mF_9.B5f-4.1JqM"), Ok("mF_9.B5f-4.1JqM"));
        assert_eq!(parse_bearer("bearer abc=="), Ok("abc=="));
        assert_eq!(parse_bearer("BEARER   a+b/c~"), Ok("a+b/c~"));
    }

    #[test]
    fn rfc9449_s7_1_the_dpop_scheme_is_parsed_apart() {
        assert_eq!(
            parse_authorization("DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            Ok((TokenScheme::Dpop, "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"))
        );
        assert_eq!(parse_authorization("dpop a.b.c"), Ok((TokenScheme::Dpop, "a.b.c")));
        assert_eq!(parse_authorization("Bearer a.b.c"), Ok((TokenScheme::Bearer, "a.b.c")));
        assert_eq!(parse_bearer("DPoP a.b.c"), Err(BearerError::NotBearer), "not a bearer token");
        assert_eq!(parse_authorization("DPoP a b"), Err(BearerError::Malformed));
    }

    #[test]
    fn refuses_other_schemes_and_bad_tokens() {
        assert_eq!(parse_bearer("Basic dXNlcjpwYXNz"), Err(BearerError::NotBearer));
        assert_eq!(parse_bearer("Bearer"), Err(BearerError::NotBearer));
        assert_eq!(parse_bearer("Bearer "), Err(BearerError::Malformed));
        assert_eq!(parse_bearer("Bearer ==="), Err(BearerError::Malformed));
        assert_eq!(parse_bearer("Bearer a b"), Err(BearerError::Malformed));
        assert_eq!(parse_bearer("Bearer a=b"), Err(BearerError::Malformed));
        assert_eq!(parse_bearer("Bearer tok\u{e9}n"), Err(BearerError::Malformed));
    }
}
