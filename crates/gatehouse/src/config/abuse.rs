//! `[rate_limits]` and `[lockout]`: the quotas of the GCRA rate limits and the failed-login
//! lockout (`gatehouse_core::abuse`). Every limit is `{ requests = N, period = SECONDS }`: N
//! requests at once, then one more every `period / N` seconds; both numbers are required.

use std::time::Duration;

use anyhow::bail;
use gatehouse_core::abuse::{LockoutPolicy, Quota, RateLimitSettings};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Password logins (`/login`, `/api/v1/auth/login`, `/api/v1/auth/token`) per client IP.
    pub login_ip: Quota,
    /// Password logins per account (normalised email, whether or not the account exists).
    pub login_account: Quota,
    /// Registrations (`/register`, `/api/v1/auth/register`) per client IP.
    pub register_ip: Quota,
    /// `/api/v1/auth/refresh` per client IP.
    pub refresh_ip: Quota,
    /// Everything under `/admin/` per client IP.
    pub admin_ip: Quota,
    /// `/oauth2/token` per presented `client_id`.
    pub token_client: Quota,
    /// The decision API (`/access/…`) per client IP.
    pub decision_ip: Quota,
    /// Password-reset requests (`/forgot-password`, `/api/v1/auth/password/forgot`) per client IP.
    pub reset_ip: Quota,
    /// Password-reset requests per address (existing or not): over it, the same answer and no mail.
    pub reset_account: Quota,
    /// Mails a signed-in user asks for (new verification link, change of address) per account.
    pub account_mail: Quota,
    /// User codes entered on the device sign-in page (`/device`) per client IP.
    pub user_code_ip: Quota,
    /// User codes entered on the device sign-in page per signed-in account.
    pub user_code_account: Quota,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let d = RateLimitSettings::default();
        Self {
            login_ip: d.login_ip,
            login_account: d.login_account,
            register_ip: d.register_ip,
            refresh_ip: d.refresh_ip,
            admin_ip: d.admin_ip,
            token_client: d.token_client,
            decision_ip: d.decision_ip,
            reset_ip: d.reset_ip,
            reset_account: d.reset_account,
            account_mail: d.account_mail,
            user_code_ip: d.user_code_ip,
            user_code_account: d.user_code_account,
        }
    }
}

impl RateLimitConfig {
    pub fn settings(&self) -> RateLimitSettings {
        RateLimitSettings {
            login_ip: self.login_ip,
            login_account: self.login_account,
            register_ip: self.register_ip,
            refresh_ip: self.refresh_ip,
            admin_ip: self.admin_ip,
            token_client: self.token_client,
            decision_ip: self.decision_ip,
            reset_ip: self.reset_ip,
            reset_account: self.reset_account,
            account_mail: self.account_mail,
            user_code_ip: self.user_code_ip,
            user_code_account: self.user_code_account,
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, q) in [
            ("login_ip", self.login_ip),
            ("login_account", self.login_account),
            ("register_ip", self.register_ip),
            ("refresh_ip", self.refresh_ip),
            ("admin_ip", self.admin_ip),
            ("token_client", self.token_client),
            ("decision_ip", self.decision_ip),
            ("reset_ip", self.reset_ip),
            ("reset_account", self.reset_account),
            ("account_mail", self.account_mail),
            ("user_code_ip", self.user_code_ip),
            ("user_code_account", self.user_code_account),
        ] {
            if let Err(e) = q.validate() {
                bail!("rate_limits.{name}: {e}");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LockoutConfig {
    /// Failed logins within `window` that lock the account key.
    pub max_failures: u32,
    /// Seconds over which failures are counted.
    pub window: i64,
    /// Seconds a lock lasts (at most a day: a lock never becomes permanent).
    pub lock_duration: i64,
    /// Failures answered without delay; after them the delay starts at `delay_base_ms` and doubles.
    pub free_failures: u32,
    pub delay_base_ms: u64,
    /// The longest progressive delay (at most 10 000 ms).
    pub delay_max_ms: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self::from(LockoutPolicy::default())
    }
}

impl From<LockoutPolicy> for LockoutConfig {
    fn from(p: LockoutPolicy) -> Self {
        Self {
            max_failures: p.max_failures,
            window: p.window,
            lock_duration: p.lock_duration,
            free_failures: p.free_failures,
            delay_base_ms: u64::try_from(p.delay_base.as_millis()).unwrap_or(u64::MAX),
            delay_max_ms: u64::try_from(p.delay_max.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl LockoutConfig {
    pub fn policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.max_failures,
            window: self.window,
            lock_duration: self.lock_duration,
            free_failures: self.free_failures,
            delay_base: Duration::from_millis(self.delay_base_ms),
            delay_max: Duration::from_millis(self.delay_max_ms),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.policy().validate().map_err(anyhow::Error::msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip() {
        let r = RateLimitConfig::default();
        assert!(r.validate().is_ok());
        assert_eq!(r.settings(), RateLimitSettings::default());
        let l = LockoutConfig::default();
        assert!(l.validate().is_ok());
        assert_eq!(l.policy(), LockoutPolicy::default());
    }

    #[test]
    fn invalid_values_are_refused() {
        let r = RateLimitConfig { register_ip: Quota::new(0, 60), ..RateLimitConfig::default() };
        assert!(r.validate().unwrap_err().to_string().contains("rate_limits.register_ip"));
        for l in [
            LockoutConfig { max_failures: 0, ..LockoutConfig::default() },
            LockoutConfig { lock_duration: 0, ..LockoutConfig::default() },
            LockoutConfig { lock_duration: 10 * 86_400, ..LockoutConfig::default() },
            LockoutConfig { delay_max_ms: 60_000, ..LockoutConfig::default() },
            LockoutConfig { delay_base_ms: 5000, delay_max_ms: 1000, ..LockoutConfig::default() },
        ] {
            assert!(l.validate().is_err(), "{l:?}");
        }
    }
}
