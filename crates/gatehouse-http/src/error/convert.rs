//! Every core error as an [`ApiError`] (DESIGN.md §2 "http maps once"): accounts, the first-party
//! token API, the admin API (RBAC), Cedar policies and AuthZEN decisions, and federation.
//! Storage and other internal failures become a bare 500 whose cause only the log sees; an
//! unreachable database becomes 503 with `Retry-After` ([`ApiError::store`]).

use axum::http::StatusCode;
use gatehouse_core::AccountError;
use gatehouse_core::federation::FederationError;
use gatehouse_core::invitation::InvitationError;
use gatehouse_core::password::HashError;
use gatehouse_core::policy::PolicyError;
use gatehouse_core::rbac::RbacError;
use gatehouse_core::token::{FirstPartyError, RefreshError};

use super::ApiError;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        use AccountError as E;
        match e {
            E::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "invalid email or password")
            }
            E::Unauthenticated => Self::unauthenticated(),
            E::RateLimited(limited) => Self::rate_limited(&limited),
            E::RegistrationDisabled => Self::forbidden("registration_disabled", "registration is disabled"),
            E::InvalidEmail(e) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email", e.to_string()),
            E::WeakPassword(v) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", v.to_string()),
            E::InvalidInput(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
            E::EmailTaken => {
                Self::new(StatusCode::CONFLICT, "email_taken", "an account with this email address already exists")
            }
            E::NotFound => Self::not_found(),
            E::InvalidLink => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_link",
                "this link is invalid or has expired; ask for a new one",
            ),
            E::EmailNotVerified => Self::forbidden(
                "email_not_verified",
                "verify your email address first: follow the link we sent you, or ask for a new one on your account page",
            ),
            E::WrongPassword => Self::forbidden("invalid_password", "the current password is wrong"),
            E::ReauthenticationRequired => Self::forbidden(
                "reauthentication_required",
                "sign in again (within the last 10 minutes) to make this change",
            ),
            E::LastAdmin => Self::new(
                StatusCode::CONFLICT,
                "last_admin",
                "the last active admin cannot lose the admin role, be disabled or be deleted",
            ),
            E::InvalidMfaCode => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_mfa_code", "the code is wrong or was used already")
            }
            E::MfaChallengeInvalid => Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_token",
                "the mfa_token is invalid, expired or used; sign in again",
            ),
            E::MfaUnavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mfa_unavailable",
                "two-step sign-in is unavailable on this server",
            ),
            E::MfaPolicy(refusal) => crate::mfa_gate::refused(refusal),
            E::PasskeysUnavailable => Self::new(
                StatusCode::NOT_IMPLEMENTED,
                "passkeys_unsupported",
                "passkeys are not supported on this server",
            ),
            E::PasskeyCeremonyInvalid => Self::new(
                StatusCode::BAD_REQUEST,
                "passkey_ceremony_invalid",
                "the passkey request is invalid, expired or used; start again",
            ),
            E::PasskeyRefused => Self::new(StatusCode::UNAUTHORIZED, "passkey_refused", "the passkey was not accepted"),
            E::Store(ref s) => Self::store(s, &e),
            E::Hash(HashError::Busy) => Self::busy(),
            E::Hash(_) | E::Random(_) => Self::internal_cause(e),
        }
    }
}

/// The first-party token API (`/api/v1/auth/token`, `/api/v1/auth/refresh`).
impl From<FirstPartyError> for ApiError {
    fn from(e: FirstPartyError) -> Self {
        match e {
            FirstPartyError::Account(a) => a.into(),
            FirstPartyError::Refresh(RefreshError::Invalid) => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_grant", "the refresh token is invalid, expired or revoked")
            }
            FirstPartyError::Refresh(RefreshError::Store(ref s)) => Self::store(s, &e),
            other => Self::internal_cause(other),
        }
    }
}

/// The admin API.
impl From<RbacError> for ApiError {
    fn from(e: RbacError) -> Self {
        match e {
            RbacError::Forbidden(m) => Self::forbidden("forbidden", m),
            RbacError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", m),
            RbacError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}")),
            RbacError::Conflict(what) => {
                Self::new(StatusCode::CONFLICT, "conflict", format!("this {what} already exists"))
            }
            RbacError::Changed(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            RbacError::LastAdmin => Self::new(StatusCode::CONFLICT, "last_admin", e.to_string()),
            RbacError::MfaPolicy(refusal) => crate::mfa_gate::refused(refusal),
            RbacError::Store(ref s) => Self::store(s, &e),
            RbacError::Internal(_) => Self::internal_cause(e),
        }
    }
}

/// Cedar policy documents (admin API) and AuthZEN decisions.
impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e {
            PolicyError::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy", m),
            PolicyError::Document(d) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_policy", d.message),
            PolicyError::BadRequest(m) => Self::bad_request(m),
            PolicyError::Forbidden(m) => Self::forbidden("forbidden", m),
            PolicyError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}")),
            PolicyError::Conflict => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            PolicyError::Store(ref s) => Self::store(s, &e),
        }
    }
}

/// Federation failures that have no provider-specific page (those are rendered by
/// `routes::federation`, which names the provider).
impl From<FederationError> for ApiError {
    fn from(e: FederationError) -> Self {
        match e {
            FederationError::Account(a) => a.into(),
            FederationError::NotLinked => Self::not_found(),
            FederationError::Invitation(i) => i.into(),
            FederationError::Store(ref s) => Self::store(s, &e),
            other => Self::internal_cause(other),
        }
    }
}

/// Invitations: the admin API and the accept page / JSON endpoint.
impl From<InvitationError> for ApiError {
    fn from(e: InvitationError) -> Self {
        use InvitationError as E;
        match e {
            E::InvalidToken => Self::new(StatusCode::BAD_REQUEST, "invalid_invitation", e.to_string()),
            E::InvalidEmail(e) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email", e.to_string()),
            E::WeakPassword(v) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", v.to_string()),
            E::InvalidInput(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
            E::UnknownRole(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_role", e.to_string()),
            E::AccountExists => Self::new(StatusCode::CONFLICT, "email_taken", e.to_string()),
            E::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "no such invitation"),
            E::AlreadyAccepted | E::Concurrent => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::MailNotSent => Self::new(StatusCode::SERVICE_UNAVAILABLE, "mail_unavailable", e.to_string()),
            E::Hash(h) => AccountError::Hash(h).into(),
            E::Store(ref s) => Self::store(s, &e),
            E::Random(_) => Self::internal_cause(e),
        }
    }
}
