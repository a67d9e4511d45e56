//! Sending logout tokens (Back-Channel Logout 1.0 §2.5) and reading the answer (§2.8): a
//! round claims due rows one by one, signs a fresh logout token for each, POSTs it, and
//! deletes the row on 200 or 204. Any other answer, a timeout or a transport error is retried
//! with exponential backoff ([`RetryPolicy`], as the mail queue); after the last attempt the
//! row is marked failed. Each delivery and each final failure is audited.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::token::{self, LogoutTokenInput};
use super::{BackchannelSessions, PendingLogout};
use crate::audit::{AuditEventType, Auditor, Outcome, RequestContext};
use crate::clock::Clock;
use crate::keys::KeyService;
use crate::mail::{DeliveryReport, RetryPolicy, short_error};
use crate::store::{ClientStore, StoreError};

/// At most this many logouts per round, so that a long queue does not starve shutdown.
const MAX_PER_ROUND: usize = 100;

/// The HTTP side of §2.5: POST `logout_token=<jwt>` as `application/x-www-form-urlencoded`.
/// Implementations follow no redirects, time out quickly and read little of the answer.
#[async_trait]
pub trait LogoutSender: Send + Sync {
    /// The response's status code, or a short description of why there was none.
    async fn post(&self, uri: &str, logout_token: &str) -> Result<u16, String>;
}

/// The sending half: signs and posts due logout tokens.
pub struct BackchannelDelivery {
    sessions: Arc<BackchannelSessions>,
    clients: Arc<dyn ClientStore>,
    keys: Arc<KeyService>,
    issuer: String,
    sender: Arc<dyn LogoutSender>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    policy: RetryPolicy,
}

impl BackchannelDelivery {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sessions: Arc<BackchannelSessions>,
        clients: Arc<dyn ClientStore>,
        keys: Arc<KeyService>,
        issuer: String,
        sender: Arc<dyn LogoutSender>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        policy: RetryPolicy,
    ) -> Self {
        Self { sessions, clients, keys, issuer, sender, clock, audit, policy }
    }

    pub fn sessions(&self) -> &Arc<BackchannelSessions> {
        &self.sessions
    }

    /// Delivers every due logout (up to a round's limit).
    pub async fn deliver_due(&self) -> Result<DeliveryReport, StoreError> {
        let store = self.sessions.store();
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_PER_ROUND {
            let now = self.clock.now();
            let Some(logout) = store.claim_due_logout(now, now.saturating_add(self.policy.lease)).await? else {
                break;
            };
            self.deliver_one(logout, &mut report).await?;
        }
        Ok(report)
    }

    async fn deliver_one(&self, logout: PendingLogout, report: &mut DeliveryReport) -> Result<(), StoreError> {
        let store = self.sessions.store();
        let lease = logout.locked_until.unwrap_or_default();
        let attempts = logout.attempts.saturating_add(1);
        let client = self.clients.client_by_id(&logout.client_id).await?;
        let Some(uri) = client.and_then(|c| c.backchannel_logout_uri) else {
            // The client is gone or no longer has an endpoint: nobody is left to tell.
            store.delete_logout(logout.grant_id, lease).await?;
            return Ok(());
        };
        let now = self.clock.now();
        let (sid, sub, jti) =
            (logout.grant_id.to_string(), logout.user_id.to_string(), uuid::Uuid::now_v7().to_string());
        let input = LogoutTokenInput {
            issuer: &self.issuer,
            client_id: &logout.client_id,
            subject: &sub,
            sid: &sid,
            jti: &jti,
            now,
        };
        let outcome = match token::sign(&self.keys, &input) {
            Ok(jwt) => self.sender.post(&uri, &jwt).await,
            Err(e) => Err(e),
        };
        let details = |extra: serde_json::Value| {
            let mut d = json!({ "client_id": logout.client_id, "sid": sid, "attempts": attempts });
            if let (Some(d), serde_json::Value::Object(extra)) = (d.as_object_mut(), extra) {
                d.extend(extra);
            }
            d
        };
        let error = match outcome {
            // §2.8: 200 OK on success; 204 also says it worked.
            Ok(200 | 204) => {
                if store.delete_logout(logout.grant_id, lease).await? {
                    metrics::counter!("gatehouse_backchannel_logout_sent_total").increment(1);
                    tracing::info!(client_id = %logout.client_id, attempts, "back-channel logout delivered");
                    self.audit(
                        AuditEventType::BackchannelLogoutDelivered,
                        Outcome::Success,
                        &logout,
                        details(json!({})),
                    )
                    .await?;
                    report.sent += 1;
                }
                return Ok(());
            }
            Ok(status) => format!("HTTP {status}"),
            Err(e) => short_error(&e),
        };
        match self.policy.next_attempt(attempts, logout.ended_at, self.clock.now()) {
            Some(next) => {
                store.retry_logout(logout.grant_id, lease, attempts, next, &error).await?;
                metrics::counter!("gatehouse_backchannel_logout_retried_total").increment(1);
                tracing::warn!(client_id = %logout.client_id, attempts, %error, retry_at = next,
                    "back-channel logout not delivered; will retry");
                report.retried += 1;
            }
            None => {
                if store.fail_logout(logout.grant_id, lease, attempts, &error, self.clock.now()).await? {
                    metrics::counter!("gatehouse_backchannel_logout_failed_total").increment(1);
                    tracing::error!(client_id = %logout.client_id, attempts, %error,
                        "back-channel logout could not be delivered; given up");
                    let d = details(json!({ "error": error }));
                    self.audit(AuditEventType::BackchannelLogoutFailed, Outcome::Failure, &logout, d).await?;
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }

    async fn audit(
        &self,
        event: AuditEventType,
        outcome: Outcome,
        logout: &PendingLogout,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        let subject = Some(logout.user_id.to_string());
        self.audit.record(event, outcome, None, subject, &RequestContext::default(), details).await
    }

    /// Deletes failed rows older than `retention` seconds.
    pub async fn purge_failed(&self, retention: i64) -> Result<u64, StoreError> {
        let before = self.clock.now().saturating_sub(retention);
        self.sessions.store().purge_failed_logouts(before).await
    }
}
