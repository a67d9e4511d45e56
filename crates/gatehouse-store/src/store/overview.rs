//! `OverviewStore`: the admin console dashboard's aggregations, done by the database
//! (`COUNT(*)`, and `GROUP BY` on a time bucket and an outcome class).

use async_trait::async_trait;
use gatehouse_core::clock::UnixTime;
use gatehouse_core::rbac::{OutcomeCount, OverviewCounts, OverviewStore, SignInOutcome};
use gatehouse_core::store::StoreError;

use super::SqlStore;
use crate::dialect::Dialect;

const OVERVIEW_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM users), \
     (SELECT COUNT(*) FROM sessions WHERE expires_at > $1 AND last_seen_at > $2), \
     (SELECT COUNT(*) FROM oauth_clients)";

/// The sign-in outcomes of `gatehouse_core::rbac::SignInOutcome`, per bucket, with `$reason` the
/// backend's expression for `details.reason` (the one difference, see
/// [`Dialect::SIGN_IN_OUTCOMES`]). Binds `$1` from, `$2` until, `$3` the bucket width; the
/// bucket is integer division, the same on both backends.
macro_rules! sign_in_outcomes {
    ($reason:literal) => {
        concat!(
            "SELECT bucket, outcome, COUNT(*) AS n FROM (SELECT (occurred_at - $1) / $3 AS bucket, CASE \
             WHEN event_type IN ('login.succeeded', 'federation.login_succeeded') THEN 'success' \
             WHEN event_type = 'login.failed' AND ",
            $reason,
            " IN ('wrong_password', 'unknown_account') THEN 'wrong_password' \
             WHEN event_type IN ('login.failed', 'mfa.failed') AND ",
            $reason,
            " = 'locked' THEN 'locked' \
             WHEN event_type = 'mfa.failed' THEN 'mfa_failed' END AS outcome \
             FROM audit_events WHERE occurred_at >= $1 AND occurred_at < $2 \
             AND event_type IN ('login.succeeded', 'federation.login_succeeded', 'login.failed', 'mfa.failed')) AS e \
             WHERE outcome IS NOT NULL GROUP BY bucket, outcome ORDER BY bucket, outcome"
        )
    };
}

/// SQLite keeps `details` as JSON text.
pub(crate) const SIGN_IN_OUTCOMES_SQLITE: &str = sign_in_outcomes!("json_extract(details, '$.reason')");
/// PostgreSQL keeps `details` as `JSONB`.
pub(crate) const SIGN_IN_OUTCOMES_POSTGRES: &str = sign_in_outcomes!("(details ->> 'reason')");

#[async_trait]
impl<D: Dialect> OverviewStore for SqlStore<D> {
    async fn overview_counts(&self, now: UnixTime, idle_after: UnixTime) -> Result<OverviewCounts, StoreError> {
        let (users, active_sessions, clients): (i64, i64, i64) =
            self.query(OVERVIEW_COUNTS).bind(now).bind(idle_after).fetch_one().await?;
        Ok(OverviewCounts { users, active_sessions, clients })
    }

    async fn sign_in_outcomes(
        &self,
        from: UnixTime,
        until: UnixTime,
        width: i64,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        let rows: Vec<(i64, String, i64)> =
            self.query(D::SIGN_IN_OUTCOMES).bind(from).bind(until).bind(width.max(1)).fetch_all().await?;
        Ok(rows
            .into_iter()
            .filter_map(|(bucket, outcome, count)| {
                SignInOutcome::from_code(&outcome).map(|outcome| OutcomeCount { bucket, outcome, count })
            })
            .collect())
    }
}
