//! `gatehouse-guard`: the library resource servers use to accept Gatehouse credentials.
//!
//! So far it parses bearer credentials exactly as RFC 6750 §2.1 defines them; JWT verification
//! against the issuer's JWKS and the axum extractors come with the token work.

/// Why an `Authorization` header did not yield a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("the Authorization header does not use the Bearer scheme")]
    NotBearer,
    #[error("the bearer token is not a valid b64token (RFC 6750 §2.1)")]
    Malformed,
}

/// Extracts the token from an `Authorization` header value.
///
/// RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, where
/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
/// The scheme name is case-insensitive (RFC 9110 §11.1).
pub fn parse_bearer(header: &str) -> Result<&str, BearerError> {
    let (scheme, rest) = header.split_once(' ').ok_or(BearerError::NotBearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    let body = token.trim_end_matches('=');
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    if body.is_empty() || !body.chars().all(valid_char) {
        return Err(BearerError::Malformed);
    }
    Ok(token)
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
