//! `[backchannel_logout]`: how logout tokens are sent to clients' `backchannel_logout_uri`
//! (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8) and retried.

use std::time::Duration;

use anyhow::bail;
use gatehouse_core::mail::RetryPolicy;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BackchannelLogoutConfig {
    /// Seconds a client has to answer one logout token (connecting included).
    pub timeout: u64,
    /// Seconds before the first retry of a logout token a client did not take (any answer but
    /// 200 or 204, or none); doubled after each further failure…
    pub retry_initial_delay: i64,
    /// …up to this many seconds between attempts.
    pub retry_max_delay: i64,
    /// A logout is given up (`logout.backchannel_failed`) once its session ended this many
    /// seconds ago…
    pub retry_max_age: i64,
    /// …or after this many attempts.
    pub max_attempts: u32,
    /// Seconds between the sender's looks for retries that fell due (a logout on this node
    /// wakes it at once; one on another node is seen within this time).
    pub poll_interval: u64,
    /// Seconds a given-up logout's record is kept.
    pub failed_retention: i64,
}

impl Default for BackchannelLogoutConfig {
    fn default() -> Self {
        // Six attempts within about half an hour: 1 min, 2, 4, 8, 16 between them.
        Self {
            timeout: 5,
            retry_initial_delay: 60,
            retry_max_delay: 1800,
            retry_max_age: 3600,
            max_attempts: 6,
            poll_interval: 5,
            failed_retention: 7 * 86_400,
        }
    }
}

impl BackchannelLogoutConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, v, min, max) in [
            ("retry_initial_delay", self.retry_initial_delay, 1, 3600),
            ("retry_max_delay", self.retry_max_delay, self.retry_initial_delay, 86_400),
            ("retry_max_age", self.retry_max_age, 60, 7 * 86_400),
            ("failed_retention", self.failed_retention, 3600, 365 * 86_400),
        ] {
            if !(min..=max).contains(&v) {
                bail!("backchannel_logout.{name} must be between {min} and {max} seconds");
            }
        }
        if !(1..=100).contains(&self.max_attempts) {
            bail!("backchannel_logout.max_attempts must be between 1 and 100");
        }
        if !(1..=60).contains(&self.timeout) {
            bail!("backchannel_logout.timeout must be between 1 and 60 seconds");
        }
        if !(1..=300).contains(&self.poll_interval) {
            bail!("backchannel_logout.poll_interval must be between 1 and 300 seconds");
        }
        Ok(())
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial_delay: self.retry_initial_delay,
            max_delay: self.retry_max_delay,
            max_age: self.retry_max_age,
            max_attempts: self.max_attempts,
            // Longer than one POST can take, so a lease never ends while its POST is running.
            lease: i64::try_from(self.timeout).unwrap_or(60).saturating_mul(2).saturating_add(30),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval)
    }
}
