//! What the admin console shows beyond the admin API's lists: the dashboard's counts, sign-in
//! outcomes over time and recent security events, and a user's factors, consents and linked
//! providers. Every method takes the [`AdminCapability`], like the rest of [`AdminService`].

use std::sync::Arc;

use async_trait::async_trait;

use super::{AdminCapability, AdminService, RbacError};
use crate::account::{AccountError, MfaStatus};
use crate::audit::{AuditEventType, AuditQuery, AuditRecord};
use crate::clock::UnixTime;
use crate::federation::{FederatedIdentity, FederationStore};
use crate::oauth::Consent;
use crate::store::{ConsentStore, StoreError};
use crate::user::UserId;

/// A sign-in outcome as the dashboard counts it, from the audit trail:
///
/// - `Success`: `login.succeeded` (password, passkey) and `federation.login_succeeded`;
/// - `WrongPassword`: `login.failed` with reason `wrong_password` or `unknown_account` (the
///   sign-in form answers both the same way);
/// - `Locked`: `login.failed` or `mfa.failed` with reason `locked` (an attempt refused because
///   failures had locked the account key);
/// - `MfaFailed`: `mfa.failed` with any other reason (a wrong code or passkey at the second step).
///
/// Other refusals (a disabled account, an unverified address, passkey ceremonies) are in the
/// audit log but not in the chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignInOutcome {
    Success,
    WrongPassword,
    Locked,
    MfaFailed,
}

impl SignInOutcome {
    pub const ALL: [Self; 4] = [Self::Success, Self::WrongPassword, Self::Locked, Self::MfaFailed];

    /// The code the store's aggregation answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::WrongPassword => "wrong_password",
            Self::Locked => "locked",
            Self::MfaFailed => "mfa_failed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == code)
    }
}

/// One row of the store's aggregation: how many events of one outcome fell in one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeCount {
    /// `(occurred_at - from) / width`, from 0.
    pub bucket: i64,
    pub outcome: SignInOutcome,
    pub count: i64,
}

/// The dashboard's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverviewCounts {
    pub users: i64,
    /// Browser sessions neither expired nor idle past the idle timeout.
    pub active_sessions: i64,
    pub clients: i64,
}

/// The aggregations behind the dashboard, done by the database.
#[async_trait]
pub trait OverviewStore: Send + Sync {
    /// Users, clients, and sessions with `expires_at > now` and `last_seen_at > idle_after`.
    async fn overview_counts(&self, now: UnixTime, idle_after: UnixTime) -> Result<OverviewCounts, StoreError>;
    /// Sign-in outcomes ([`SignInOutcome`]) with `from <= occurred_at < until`, counted per
    /// bucket of `width` seconds (`(occurred_at - from) / width`), ordered by bucket; buckets
    /// without events are absent.
    async fn sign_in_outcomes(
        &self,
        from: UnixTime,
        until: UnixTime,
        width: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError>;
}

/// The stores the console reads besides the admin API's.
#[derive(Clone)]
pub struct ConsoleStores {
    pub overview: Arc<dyn OverviewStore>,
    pub consents: Arc<dyn ConsentStore>,
    pub federation: Arc<dyn FederationStore>,
}

/// The counts of one bucket of a [`SignInSeries`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeBucket {
    /// Where the bucket starts (inclusive).
    pub start: UnixTime,
    /// In the order of [`SignInOutcome::ALL`].
    pub counts: [i64; 4],
}

impl OutcomeBucket {
    pub fn count(&self, outcome: SignInOutcome) -> i64 {
        self.counts[outcome as usize]
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().sum()
    }
}

/// Sign-in outcomes over consecutive buckets of `width` seconds, oldest first, every bucket
/// present (zero when nothing happened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInSeries {
    pub width: i64,
    pub buckets: Vec<OutcomeBucket>,
}

impl SignInSeries {
    pub fn totals(&self) -> [i64; 4] {
        let mut out = [0; 4];
        for b in &self.buckets {
            for (o, n) in out.iter_mut().zip(b.counts) {
                *o += n;
            }
        }
        out
    }
}

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub counts: OverviewCounts,
    /// 24 hourly buckets, the last one the current hour (UTC).
    pub last_day: SignInSeries,
    /// 7 daily buckets, the last one today (UTC).
    pub last_week: SignInSeries,
    /// The newest security events (of [`SECURITY_EVENTS`]), newest first.
    pub recent: Vec<AuditRecord>,
}

/// The audit event types the dashboard lists as security events.
pub const SECURITY_EVENTS: [AuditEventType; 12] = [
    AuditEventType::LoginFailed,
    AuditEventType::AccountLocked,
    AuditEventType::MfaFailed,
    AuditEventType::MfaReset,
    AuditEventType::MfaPolicyRefused,
    AuditEventType::UserDisabled,
    AuditEventType::UserDeleted,
    AuditEventType::RoleGranted,
    AuditEventType::RoleRevoked,
    AuditEventType::RefreshTokenReused,
    AuditEventType::AuthorizationCodeReplayed,
    AuditEventType::KeyRotated,
];

/// How many recent security events the dashboard shows.
pub const RECENT_EVENTS: u32 = 20;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

impl AdminService {
    pub async fn overview(&self, _: &AdminCapability) -> Result<Overview, RbacError> {
        let now = self.clock.now();
        let idle = self.accounts.settings().session.idle_timeout;
        let counts = self.console.overview.overview_counts(now, now - idle).await?;
        let last_day = self.sign_in_series(now, HOUR, 24).await?;
        let last_week = self.sign_in_series(now, DAY, 7).await?;
        Ok(Overview { counts, last_day, last_week, recent: self.recent_security_events().await? })
    }

    /// `buckets` buckets of `width` seconds aligned to multiples of `width` (UTC hours, days),
    /// the last one containing `now`.
    async fn sign_in_series(&self, now: UnixTime, width: i64, buckets: i64) -> Result<SignInSeries, RbacError> {
        let until = (now.div_euclid(width) + 1) * width;
        let from = until - width * buckets;
        let rows = self.console.overview.sign_in_outcomes(from, until, width).await?;
        Ok(series(from, width, buckets, &rows))
    }

    /// The newest [`RECENT_EVENTS`] events of the [`SECURITY_EVENTS`] types: the newest of each
    /// type (one indexed query per type), merged by insertion order.
    async fn recent_security_events(&self) -> Result<Vec<AuditRecord>, RbacError> {
        let mut all = Vec::new();
        for event in SECURITY_EVENTS {
            let query = AuditQuery {
                event_type: Some(event.as_str().to_owned()),
                limit: RECENT_EVENTS,
                ..AuditQuery::default()
            };
            all.extend(self.audit_store.query_audit_events(&query).await?);
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.id));
        all.truncate(RECENT_EVENTS as usize);
        Ok(all)
    }

    /// A user's second factors (TOTP, passkeys, recovery codes left), as the account page shows them.
    pub async fn user_factors(&self, cap: &AdminCapability, id: UserId) -> Result<MfaStatus, RbacError> {
        self.user(cap, id).await?;
        self.accounts.mfa_status(id).await.map_err(|e| match e {
            AccountError::Store(e) => RbacError::Store(e),
            e => RbacError::Internal(e.to_string()),
        })
    }

    /// The clients a user has consented to, with the scopes.
    pub async fn user_consents(&self, cap: &AdminCapability, id: UserId) -> Result<Vec<Consent>, RbacError> {
        self.user(cap, id).await?;
        Ok(self.console.consents.consents_for_user(id).await?)
    }

    /// The upstream identities linked to a user.
    pub async fn user_identities(
        &self,
        cap: &AdminCapability,
        id: UserId,
    ) -> Result<Vec<FederatedIdentity>, RbacError> {
        self.user(cap, id).await?;
        Ok(self.console.federation.identities_for_user(id).await?)
    }
}

/// Every bucket from `from`, with the store's counts filled in (rows outside the range ignored).
fn series(from: UnixTime, width: i64, buckets: i64, rows: &[OutcomeCount]) -> SignInSeries {
    let mut out: Vec<OutcomeBucket> =
        (0..buckets).map(|i| OutcomeBucket { start: from + i * width, counts: [0; 4] }).collect();
    for row in rows {
        if let Some(b) = usize::try_from(row.bucket).ok().and_then(|i| out.get_mut(i)) {
            b.counts[row.outcome as usize] += row.count;
        }
    }
    SignInSeries { width, buckets: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_has_every_bucket_and_ignores_rows_outside() {
        let rows = [
            OutcomeCount { bucket: 0, outcome: SignInOutcome::Success, count: 2 },
            OutcomeCount { bucket: 2, outcome: SignInOutcome::MfaFailed, count: 1 },
            OutcomeCount { bucket: 2, outcome: SignInOutcome::WrongPassword, count: 3 },
            OutcomeCount { bucket: 3, outcome: SignInOutcome::Locked, count: 9 },
            OutcomeCount { bucket: -1, outcome: SignInOutcome::Locked, count: 9 },
        ];
        let s = series(1000, 10, 3, &rows);
        assert_eq!(s.buckets.iter().map(|b| b.start).collect::<Vec<_>>(), [1000, 1010, 1020]);
        assert_eq!(s.buckets[0].counts, [2, 0, 0, 0]);
        assert_eq!(s.buckets[1].total(), 0);
        assert_eq!(s.buckets[2].count(SignInOutcome::WrongPassword), 3);
        assert_eq!(s.buckets[2].count(SignInOutcome::MfaFailed), 1);
        assert_eq!(s.totals(), [2, 3, 0, 1]);
    }

    #[test]
    fn outcome_codes_round_trip() {
        for o in SignInOutcome::ALL {
            assert_eq!(SignInOutcome::from_code(o.as_str()), Some(o));
            assert_eq!(SignInOutcome::ALL[o as usize], o);
        }
        assert_eq!(SignInOutcome::from_code("other"), None);
    }
}
