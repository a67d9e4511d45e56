//! The named rate limits Gatehouse enforces, their quotas, and the one check every caller uses:
//! it counts, and on refusal it writes a `rate_limit.exceeded` audit event and a metric.

use std::sync::Arc;

use serde_json::json;

use super::LoginKey;
use super::gcra::{InProcessRateLimiter, Quota, RateLimiter, RetryAfter};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::store::AuditStore;

/// One rate limit: what it protects and what it is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Password logins (`/login`, `/api/v1/auth/login`, `/api/v1/auth/token`) per client IP.
    LoginIp,
    /// Password logins per account (normalised email, existing or not).
    LoginAccount,
    /// Registrations per client IP.
    RegisterIp,
    /// Refresh-token exchanges per client IP.
    RefreshIp,
    /// Admin API requests per client IP.
    AdminIp,
    /// OAuth token requests per presented `client_id` (checked before the client authenticates,
    /// so guessing a client's secret is limited too).
    TokenClient,
    /// Decision API (`/access/…`, AuthZEN) requests per client IP: a decision reads the RBAC
    /// store several times, so a runaway caller is stopped before it starves the others.
    DecisionIp,
    /// Password-reset requests (`/forgot-password`, `/api/v1/auth/password/forgot`) per client IP.
    ResetIp,
    /// Password-reset requests per address (normalised email, existing or not). Over it, the
    /// request gets the same answer and no mail is sent.
    ResetAccount,
    /// Mails a signed-in user asks for (a new verification link, a change of address) per
    /// account.
    AccountMail,
    /// User codes entered on the device sign-in page (`/device`, RFC 8628 §5.1) per client IP.
    UserCodeIp,
    /// User codes entered on the device sign-in page per signed-in account.
    UserCodeAccount,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginIp => "login_ip",
            Self::LoginAccount => "login_account",
            Self::RegisterIp => "register_ip",
            Self::RefreshIp => "refresh_ip",
            Self::AdminIp => "admin_ip",
            Self::TokenClient => "token_client",
            Self::DecisionIp => "decision_ip",
            Self::ResetIp => "reset_ip",
            Self::ResetAccount => "reset_account",
            Self::AccountMail => "account_mail",
            Self::UserCodeIp => "user_code_ip",
            Self::UserCodeAccount => "user_code_account",
        }
    }

    /// What the key is: `ip` or `account`.
    pub fn key_kind(self) -> &'static str {
        match self {
            Self::LoginAccount | Self::ResetAccount | Self::AccountMail | Self::UserCodeAccount => "account",
            Self::TokenClient => "client",
            _ => "ip",
        }
    }

    /// The limit that keeps refusals under this one from flooding the audit trail.
    fn audit_limit(self) -> &'static str {
        match self {
            Self::LoginIp => "audit:login_ip",
            Self::LoginAccount => "audit:login_account",
            Self::RegisterIp => "audit:register_ip",
            Self::RefreshIp => "audit:refresh_ip",
            Self::AdminIp => "audit:admin_ip",
            Self::TokenClient => "audit:token_client",
            Self::DecisionIp => "audit:decision_ip",
            Self::ResetIp => "audit:reset_ip",
            Self::ResetAccount => "audit:reset_account",
            Self::AccountMail => "audit:account_mail",
            Self::UserCodeIp => "audit:user_code_ip",
            Self::UserCodeAccount => "audit:user_code_account",
        }
    }
}

/// The quota of each limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub login_ip: Quota,
    pub login_account: Quota,
    pub register_ip: Quota,
    pub refresh_ip: Quota,
    pub admin_ip: Quota,
    pub token_client: Quota,
    pub decision_ip: Quota,
    pub reset_ip: Quota,
    pub reset_account: Quota,
    pub account_mail: Quota,
    pub user_code_ip: Quota,
    pub user_code_account: Quota,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            login_ip: Quota::new(30, 60),
            login_account: Quota::new(10, 60),
            register_ip: Quota::new(10, 3600),
            refresh_ip: Quota::new(120, 60),
            admin_ip: Quota::new(300, 60),
            token_client: Quota::new(6000, 60),
            decision_ip: Quota::new(60_000, 60),
            reset_ip: Quota::new(20, 3600),
            reset_account: Quota::new(3, 3600),
            account_mail: Quota::new(5, 3600),
            user_code_ip: Quota::new(20, 600),
            user_code_account: Quota::new(10, 600),
        }
    }
}

impl RateLimitSettings {
    pub fn quota(&self, kind: LimitKind) -> Quota {
        match kind {
            LimitKind::LoginIp => self.login_ip,
            LimitKind::LoginAccount => self.login_account,
            LimitKind::RegisterIp => self.register_ip,
            LimitKind::RefreshIp => self.refresh_ip,
            LimitKind::AdminIp => self.admin_ip,
            LimitKind::TokenClient => self.token_client,
            LimitKind::DecisionIp => self.decision_ip,
            LimitKind::ResetIp => self.reset_ip,
            LimitKind::ResetAccount => self.reset_account,
            LimitKind::AccountMail => self.account_mail,
            LimitKind::UserCodeIp => self.user_code_ip,
            LimitKind::UserCodeAccount => self.user_code_account,
        }
    }
}

/// A request refused by a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry after {} seconds", .retry_after.0)]
pub struct RateLimited {
    pub limit: LimitKind,
    pub retry_after: RetryAfter,
}

/// At most one `rate_limit.exceeded` event per limit and key in this time: an attack that is
/// being refused must not turn into a stream of audit rows.
const AUDIT_QUOTA: Quota = Quota::new(1, 60);

/// The rate limits, over a [`RateLimiter`] (in-process now; Redis when scaled out).
pub struct RateLimits {
    limiter: Arc<dyn RateLimiter>,
    settings: RateLimitSettings,
    audit: Auditor,
}

impl RateLimits {
    pub fn new(
        limiter: Arc<dyn RateLimiter>,
        settings: RateLimitSettings,
        audit: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { limiter, settings, audit: Auditor::new(audit, clock) }
    }

    /// Limits counted in this process's memory.
    pub fn in_process(settings: RateLimitSettings, audit: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self::new(Arc::new(InProcessRateLimiter::new(clock.clone())), settings, audit, clock)
    }

    pub fn settings(&self) -> &RateLimitSettings {
        &self.settings
    }

    /// Counts one request of `key` against `kind` (an IP key from [`super::ip_key`]).
    pub async fn check(&self, kind: LimitKind, key: &str, ctx: &RequestContext) -> Result<(), RateLimited> {
        self.check_with(kind, key, ctx, json!({})).await
    }

    /// Counts one login attempt against the per-account limit.
    pub async fn check_login_account(&self, key: &LoginKey, ctx: &RequestContext) -> Result<(), RateLimited> {
        self.check_with(LimitKind::LoginAccount, key.as_str(), ctx, json!({ "email": key.normalized() })).await
    }

    async fn check_with(
        &self,
        kind: LimitKind,
        key: &str,
        ctx: &RequestContext,
        mut details: serde_json::Value,
    ) -> Result<(), RateLimited> {
        let Err(retry_after) = self.limiter.check(kind.as_str(), self.settings.quota(kind), key).await else {
            return Ok(());
        };
        metrics::counter!("gatehouse_rate_limited_total", "limit" => kind.as_str()).increment(1);
        if self.limiter.check(kind.audit_limit(), AUDIT_QUOTA, key).await.is_ok() {
            details["limit"] = kind.as_str().into();
            details["key_kind"] = kind.key_kind().into();
            details["retry_after"] = retry_after.0.into();
            let recorded =
                self.audit.record(AuditEventType::RateLimitExceeded, Outcome::Failure, None, None, ctx, details).await;
            if let Err(e) = recorded {
                // The refusal stands either way; a failing audit store must not turn a 429 into a 500.
                tracing::error!(error = %e, limit = kind.as_str(), "recording rate_limit.exceeded failed");
            }
        }
        Err(RateLimited { limit: kind, retry_after })
    }
}
