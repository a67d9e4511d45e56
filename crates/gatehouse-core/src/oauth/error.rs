//! OAuth error codes, exactly as RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1 and OpenID Connect
//! Core §3.1.2.6 define them, and RFC 8628 §3.5 for the device grant.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    UnsupportedResponseType,
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to handle the request (here: the
    /// database is unreachable). Answered with 503 and `Retry-After`.
    TemporarilyUnavailable,
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: the user must interact (`prompt=none` cannot be met).
    InteractionRequired,
    ConsentRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    UnsupportedTokenType,
    /// RFC 8628 §3.5: the user has not decided yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grows by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// RFC 9449 §5: the DPoP proof is missing where one is required, or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the token endpoint requires a server nonce in the DPoP proof; the answer
    /// carries one in `DPoP-Nonce`.
    UseDpopNonce,
    /// RFC 8707 §2: "The requested resource is invalid, missing, unknown, or malformed."
    InvalidTarget,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::InteractionRequired => "interaction_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

/// An OAuth error with its human-readable `error_description`, always within the character set
/// RFC 6749 §4.1.2.1 and §5.2 allow (see [`description_text`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self { code, description: description_text(&description.into()) }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_client() -> Self {
        Self::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

/// Longest `error_description` we send; ours are far shorter, this only bounds a mistake.
const MAX_DESCRIPTION: usize = 256;

/// `error_description` text as RFC 6749 §4.1.2.1 and §5.2 define it: `%x20-21 / %x23-5B /
/// %x5D-7E`, i.e. printable ASCII without `"` and `\`. `§` is written out as "section"; `"`
/// becomes `'`, `\` becomes `/`, anything else outside the set `?`. Descriptions are our own
/// texts and never quote the request, so this only guards the wire format.
pub fn description_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_DESCRIPTION));
    for c in text.chars() {
        match c {
            '\u{20}'..='\u{21}' | '\u{23}'..='\u{5b}' | '\u{5d}'..='\u{7e}' => out.push(c),
            '§' => out.push_str(if out.ends_with(' ') || out.is_empty() { "section " } else { " section " }),
            '"' => out.push('\''),
            '\\' => out.push('/'),
            _ => out.push('?'),
        }
        if out.len() >= MAX_DESCRIPTION {
            break;
        }
    }
    out.truncate(MAX_DESCRIPTION);
    out.replace("section  ", "section ")
}

/// Storage or crypto failures become `server_error` and are logged, never shown.
impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unreachable() {
            tracing::warn!(error = %e, "OAuth request refused: the database is unreachable");
            return Self::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable; try again shortly",
            );
        }
        tracing::error!(error = %e, "OAuth request failed");
        Self::server_error()
    }
}

/// An account lookup inside a grant (`active_user`): storage failures as [`StoreError`]'s.
impl From<crate::AccountError> for OAuthError {
    fn from(e: crate::AccountError) -> Self {
        match e {
            crate::AccountError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "an account lookup failed");
                Self::server_error()
            }
        }
    }
}

/// A refresh-token operation inside a grant: storage failures as [`StoreError`]'s.
impl From<crate::token::RefreshError> for OAuthError {
    fn from(e: crate::token::RefreshError) -> Self {
        match e {
            crate::token::RefreshError::Store(s) => s.into(),
            other => {
                tracing::error!(error = %other, "a refresh-token operation failed");
                Self::server_error()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6749 §5.2: error_description = 1*( %x20-21 / %x23-5B / %x5D-7E ).
    fn in_rfc6749_set(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
    }

    #[test]
    fn descriptions_stay_within_the_rfc6749_character_set() {
        let e = OAuthError::invalid_request("a parameter was included more than once (RFC 6749 §3.1)");
        assert_eq!(e.description, "a parameter was included more than once (RFC 6749 section 3.1)");
        for text in ["say \"hi\" \\ bye", "ä ö § \u{0} \n\t", "x§y", &"long ".repeat(200)] {
            let d = OAuthError::invalid_request(text).description;
            assert!(in_rfc6749_set(&d), "{d:?}");
            assert!(d.len() <= MAX_DESCRIPTION);
        }
    }
}
