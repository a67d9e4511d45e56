//! The audit trail: append-only security events, each also emitted as one structured log line.

use std::sync::Arc;

use crate::clock::{Clock, UnixTime};
use crate::store::{AuditStore, StoreError};

/// The kinds of security event Gatehouse records (DESIGN.md §1 "Audit").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEventType {
    UserRegistered,
    UserCreated,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionRevoked,
    UserDisabled,
    PasswordChanged,
    PasswordRehashed,
    KeyRotated,
    /// `gatehouse keys rewrap` re-sealed secrets under the current master key (details: counts
    /// per kind and the key ids, never a secret).
    MasterKeyRewrapped,
    TokenIssued,
    RefreshTokenReused,
    RefreshFamilyRevoked,
    /// A request was refused by a rate limit (details: `limit`, `key_kind`, `retry_after`).
    RateLimitExceeded,
    /// Failed logins locked an account key for a while (details: `email`, `failures`, `locked_until`).
    AccountLocked,
    UserUpdated,
    UserEnabled,
    UserDeleted,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    PermissionCreated,
    PermissionUpdated,
    PermissionDeleted,
    /// A permission was granted to a role (subject: the role; details: `permission`).
    PermissionGranted,
    PermissionRevoked,
    /// A role was granted to a user (subject: the user; details: `role`).
    RoleGranted,
    RoleRevoked,
    /// A role was granted to a client (subject: `client:<id>`; details: `role`).
    ClientRoleGranted,
    ClientRoleRevoked,
    ClientCreated,
    ClientDeleted,
    /// A client's settings changed (details: the fields that changed).
    ClientUpdated,
    /// A client got a new secret (details: `previous_secret_expires_at`, never a secret).
    ClientSecretRotated,
    /// A `private_key_jwt` client's JWK Set was replaced (details: the new key ids).
    ClientJwksReplaced,
    ClientDisabled,
    ClientEnabled,
    /// A resource server was registered (subject: `resource:<identifier>`; RFC 8707).
    ResourceServerCreated,
    /// A resource server's settings changed (details: the fields that changed).
    ResourceServerUpdated,
    ResourceServerDeleted,
    /// A new version of a Cedar policy was stored (subject: the policy name; details: `version`).
    PolicyPut,
    /// A Cedar policy was deleted (a deletion version; details: `version`).
    PolicyDeleted,
    /// A new version of the Cedar schema was stored (details: `version`).
    PolicySchemaPut,
    /// A decision on Gatehouse's own resources (`gatehouse`, `gatehouse.*`) through the
    /// decision API (subject: `<type>:<id>`; details: action, resource, decision, basis).
    AccessDecision,
    /// A sign-in through an upstream provider opened a session (details: `provider`, `session_id`).
    FederatedLoginSucceeded,
    /// A sign-in through an upstream provider was refused (details: `provider`, `reason`).
    FederatedLoginFailed,
    /// An account was created just in time for an upstream identity (details: `provider`).
    FederatedAccountCreated,
    /// An upstream identity was linked to an account (details: `provider`).
    FederatedLinked,
    /// An upstream identity was unlinked from an account (details: `provider`).
    FederatedUnlinked,
    /// A user allowed a client its scopes (subject: the user; details: `client_id`, `scopes`).
    ConsentGranted,
    /// A user withdrew a consent (subject: the user; details: `client_id`, `grants_revoked`).
    ConsentRevoked,
    /// An authorization code was presented again (RFC 6749 §4.1.2): the request is denied and
    /// the grant issued from it revoked (subject: the code's user; details: `client_id`, `grant_id`).
    AuthorizationCodeReplayed,
    /// A user approved a device's sign-in (RFC 8628 §3.3; subject: the user; details:
    /// `client_id`, `scopes`).
    DeviceApproved,
    /// A user denied a device's sign-in (RFC 8628 §3.3; subject: the user; details: `client_id`).
    DeviceDenied,
    /// Someone registered with an address that has an account; the owner was told by mail and
    /// the answer was the same as for a new address (subject: the existing user).
    RegistrationDuplicate,
    /// A verification link was mailed (subject: the user; details: `purpose`).
    EmailVerificationSent,
    /// An address was confirmed through its link (subject: the user).
    EmailVerified,
    /// A password-reset link was asked for (subject: the user when the address is known;
    /// details: `known`).
    PasswordResetRequested,
    /// A password was set through a reset link (subject: the user).
    PasswordReset,
    /// A change of address was asked for, pending confirmation at the new address.
    EmailChangeRequested,
    /// A change of address took effect.
    EmailChanged,
    /// An invitation was sent (subject: `invitation:<id>`; details: `roles`).
    InvitationCreated,
    /// An invitation was accepted (subject: the new user; details: `invitation_id`).
    InvitationAccepted,
    /// An invitation was revoked (subject: `invitation:<id>`).
    InvitationRevoked,
    /// A message could not be delivered after every retry (details: `kind`, `attempts`, `error`).
    MailFailed,
    /// A logout token was accepted by a client's `backchannel_logout_uri` (Back-Channel Logout
    /// 1.0 §2.8; subject: the user; details: `client_id`, `sid`, `attempts`).
    BackchannelLogoutDelivered,
    /// A logout token could not be delivered after every retry (details: `client_id`, `sid`,
    /// `attempts`, `error`).
    BackchannelLogoutFailed,
    /// TOTP enrolment completed with a valid code (subject: the user).
    MfaEnrolled,
    /// The user turned TOTP off (subject: the user).
    MfaDisabled,
    /// A second factor was accepted at sign-in (details: `method`).
    MfaVerified,
    /// A second factor was refused at sign-in (details: `reason`).
    MfaFailed,
    /// A recovery code was used at sign-in (details: `remaining`).
    RecoveryCodeUsed,
    /// A new set of recovery codes replaced the old one.
    RecoveryCodesRegenerated,
    /// An admin removed a user's second factors (actor: the admin).
    MfaReset,
    /// The MFA policy refused a request (subject: the user; details: `reason`
    /// `mfa_enrollment_required` or `mfa_required`, and `where`: `page`, `api`, `authorize`,
    /// `token`, `admin_api`).
    MfaPolicyRefused,
    /// RFC 8693: a token was exchanged (actor: the requesting client; subject: the new token's
    /// `sub`; details: `subject_client`, `audience`, `scope`, `mode`, `actor`).
    TokenExchanged,
    /// A token exchange was refused (details: `error`, `reason`).
    TokenExchangeRefused,
    /// An admin added a token exchange rule to a client (details: the rule).
    ExchangeRuleAdded,
    /// An admin removed a token exchange rule (details: `rule`).
    ExchangeRuleRemoved,
    /// A client registered itself: RFC 7591 or a Client ID Metadata Document seen for the first
    /// time (subject: `client:<id>`; details: `registration`, `redirect_uris`).
    ClientSelfRegistered,
    /// A self-registered client replaced its registration (RFC 7592 §2.2).
    ClientSelfUpdated,
    /// A self-registered client deleted its registration (RFC 7592 §2.3).
    ClientSelfDeleted,
    /// A self-registered client never used within the configured lifetime was deleted.
    ClientSelfExpired,
}

impl AuditEventType {
    /// Every event type (the console's filter lists them): a new variant goes here too; the
    /// test below fails while one is missing.
    pub const ALL: [Self; 84] = [
        Self::UserRegistered,
        Self::UserCreated,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::SessionRevoked,
        Self::UserDisabled,
        Self::PasswordChanged,
        Self::PasswordRehashed,
        Self::KeyRotated,
        Self::MasterKeyRewrapped,
        Self::TokenIssued,
        Self::RefreshTokenReused,
        Self::RefreshFamilyRevoked,
        Self::RateLimitExceeded,
        Self::AccountLocked,
        Self::UserUpdated,
        Self::UserEnabled,
        Self::UserDeleted,
        Self::RoleCreated,
        Self::RoleUpdated,
        Self::RoleDeleted,
        Self::PermissionCreated,
        Self::PermissionUpdated,
        Self::PermissionDeleted,
        Self::PermissionGranted,
        Self::PermissionRevoked,
        Self::RoleGranted,
        Self::RoleRevoked,
        Self::ClientRoleGranted,
        Self::ClientRoleRevoked,
        Self::ClientCreated,
        Self::ClientDeleted,
        Self::ClientUpdated,
        Self::ClientSecretRotated,
        Self::ClientJwksReplaced,
        Self::ClientDisabled,
        Self::ClientEnabled,
        Self::ResourceServerCreated,
        Self::ResourceServerUpdated,
        Self::ResourceServerDeleted,
        Self::PolicyPut,
        Self::PolicyDeleted,
        Self::PolicySchemaPut,
        Self::AccessDecision,
        Self::FederatedLoginSucceeded,
        Self::FederatedLoginFailed,
        Self::FederatedAccountCreated,
        Self::FederatedLinked,
        Self::FederatedUnlinked,
        Self::ConsentGranted,
        Self::ConsentRevoked,
        Self::AuthorizationCodeReplayed,
        Self::DeviceApproved,
        Self::DeviceDenied,
        Self::RegistrationDuplicate,
        Self::EmailVerificationSent,
        Self::EmailVerified,
        Self::PasswordResetRequested,
        Self::PasswordReset,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::InvitationCreated,
        Self::InvitationAccepted,
        Self::InvitationRevoked,
        Self::MailFailed,
        Self::BackchannelLogoutDelivered,
        Self::BackchannelLogoutFailed,
        Self::MfaEnrolled,
        Self::MfaDisabled,
        Self::MfaVerified,
        Self::MfaFailed,
        Self::RecoveryCodeUsed,
        Self::RecoveryCodesRegenerated,
        Self::MfaReset,
        Self::MfaPolicyRefused,
        Self::TokenExchanged,
        Self::TokenExchangeRefused,
        Self::ExchangeRuleAdded,
        Self::ExchangeRuleRemoved,
        Self::ClientSelfRegistered,
        Self::ClientSelfUpdated,
        Self::ClientSelfDeleted,
        Self::ClientSelfExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::UserCreated => "user.created",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::Logout => "session.logout",
            Self::SessionRevoked => "session.revoked",
            Self::UserDisabled => "user.disabled",
            Self::PasswordChanged => "password.changed",
            Self::PasswordRehashed => "password.rehashed",
            Self::KeyRotated => "key.rotated",
            Self::MasterKeyRewrapped => "master_key.rewrapped",
            Self::TokenIssued => "token.issued",
            Self::RefreshTokenReused => "refresh_token.reuse_detected",
            Self::RefreshFamilyRevoked => "refresh_token.family_revoked",
            Self::RateLimitExceeded => "rate_limit.exceeded",
            Self::AccountLocked => "account.locked",
            Self::UserUpdated => "user.updated",
            Self::UserEnabled => "user.enabled",
            Self::UserDeleted => "user.deleted",
            Self::RoleCreated => "role.created",
            Self::RoleUpdated => "role.updated",
            Self::RoleDeleted => "role.deleted",
            Self::PermissionCreated => "permission.created",
            Self::PermissionUpdated => "permission.updated",
            Self::PermissionDeleted => "permission.deleted",
            Self::PermissionGranted => "role.permission_granted",
            Self::PermissionRevoked => "role.permission_revoked",
            Self::RoleGranted => "user.role_granted",
            Self::RoleRevoked => "user.role_revoked",
            Self::ClientRoleGranted => "client.role_granted",
            Self::ClientRoleRevoked => "client.role_revoked",
            Self::ClientCreated => "client.created",
            Self::ClientDeleted => "client.deleted",
            Self::ClientUpdated => "client.updated",
            Self::ClientSecretRotated => "client.secret_rotated",
            Self::ClientJwksReplaced => "client.jwks_replaced",
            Self::ClientDisabled => "client.disabled",
            Self::ClientEnabled => "client.enabled",
            Self::ResourceServerCreated => "resource_server.created",
            Self::ResourceServerUpdated => "resource_server.updated",
            Self::ResourceServerDeleted => "resource_server.deleted",
            Self::PolicyPut => "policy.put",
            Self::PolicyDeleted => "policy.deleted",
            Self::PolicySchemaPut => "policy.schema_put",
            Self::AccessDecision => "access.decision",
            Self::FederatedLoginSucceeded => "federation.login_succeeded",
            Self::FederatedLoginFailed => "federation.login_failed",
            Self::FederatedAccountCreated => "federation.account_created",
            Self::FederatedLinked => "federation.linked",
            Self::FederatedUnlinked => "federation.unlinked",
            Self::ConsentGranted => "consent.granted",
            Self::ConsentRevoked => "consent.revoked",
            Self::AuthorizationCodeReplayed => "authorization_code.replayed",
            Self::DeviceApproved => "device.approved",
            Self::DeviceDenied => "device.denied",
            Self::RegistrationDuplicate => "user.registration_duplicate",
            Self::EmailVerificationSent => "email.verification_sent",
            Self::EmailVerified => "email.verified",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::PasswordReset => "password.reset",
            Self::EmailChangeRequested => "email.change_requested",
            Self::EmailChanged => "email.changed",
            Self::InvitationCreated => "invitation.created",
            Self::InvitationAccepted => "invitation.accepted",
            Self::InvitationRevoked => "invitation.revoked",
            Self::MailFailed => "mail.failed",
            Self::BackchannelLogoutDelivered => "logout.backchannel_delivered",
            Self::BackchannelLogoutFailed => "logout.backchannel_failed",
            Self::MfaEnrolled => "mfa.enrolled",
            Self::MfaDisabled => "mfa.disabled",
            Self::MfaVerified => "mfa.verified",
            Self::MfaFailed => "mfa.failed",
            Self::RecoveryCodeUsed => "recovery_code.used",
            Self::RecoveryCodesRegenerated => "recovery_codes.regenerated",
            Self::MfaReset => "mfa.reset",
            Self::MfaPolicyRefused => "mfa.policy_refused",
            Self::TokenExchanged => "token.exchanged",
            Self::TokenExchangeRefused => "token.exchange_refused",
            Self::ExchangeRuleAdded => "client.exchange_rule_added",
            Self::ExchangeRuleRemoved => "client.exchange_rule_removed",
            Self::ClientSelfRegistered => "client.self_registered",
            Self::ClientSelfUpdated => "client.self_updated",
            Self::ClientSelfDeleted => "client.self_deleted",
            Self::ClientSelfExpired => "client.self_registration_expired",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One row of `audit_events`. `actor` is who acted (a user id, `cli`, or `anonymous`),
/// `subject` what it was done to. Never holds a secret.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub occurred_at: UnixTime,
    pub event_type: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub outcome: String,
    pub details: serde_json::Value,
}

/// A filter over the audit trail (admin API). Every field narrows; `None` means "any".
/// Results are newest first (by insertion id); `before_id` continues after a previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// `occurred_at >= from`.
    pub from: Option<UnixTime>,
    /// `occurred_at < until`.
    pub until: Option<UnixTime>,
    pub event_type: Option<String>,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A stored event with its insertion id (the pagination cursor).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// Where a request came from, for the audit trail and the session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    /// The same context with the user agent cut to 512 characters (it is attacker-controlled
    /// and stored with sessions and sign-ins).
    pub fn for_storage(&self) -> Self {
        Self { ip: self.ip.clone(), user_agent: self.user_agent.as_deref().map(|ua| ua.chars().take(512).collect()) }
    }

    /// The context of a command-line invocation.
    pub fn cli() -> Self {
        Self { ip: None, user_agent: Some("gatehouse-cli".into()) }
    }
}

#[derive(Clone)]
pub struct Auditor {
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
}

impl Auditor {
    pub fn new(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn record(
        &self,
        event_type: AuditEventType,
        outcome: Outcome,
        actor: Option<String>,
        subject: Option<String>,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let event = AuditEvent {
            occurred_at: self.clock.now(),
            event_type: event_type.as_str().to_owned(),
            actor,
            subject,
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            outcome: outcome.as_str().to_owned(),
            details,
        };
        tracing::info!(
            target: "gatehouse::audit",
            event_type = %event.event_type,
            outcome = %event.outcome,
            actor = event.actor.as_deref().unwrap_or("-"),
            subject = event.subject.as_deref().unwrap_or("-"),
            ip = event.ip.as_deref().unwrap_or("-"),
            details = %event.details,
            "audit event"
        );
        self.store.append_audit_event(&event).await
    }
}

#[cfg(test)]
mod tests {
    use super::AuditEventType;

    /// `ALL` has every variant once: as many entries as `as_str` has arms (counted in this
    /// file's source, as the compiler makes that match exhaustive), and no name twice.
    #[test]
    fn all_lists_every_event_type_once() {
        let source = include_str!("audit.rs");
        let start = source.find("pub fn as_str(self)").unwrap_or_default();
        let end = start + source[start..].find("\n    }\n").unwrap_or_default();
        let arms = source[start..end].lines().filter(|l| l.trim_start().starts_with("Self::")).count();
        assert_eq!(AuditEventType::ALL.len(), arms);
        let mut names: Vec<&str> = AuditEventType::ALL.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), arms);
    }
}
