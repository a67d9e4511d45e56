//! The MFA policy applied to accounts ([`crate::mfa::policy`] holds the rule): reading a user's
//! roles and second factors, deciding, and auditing every refusal as `mfa.policy_refused`
//! (details: `reason` and `where`). With the policy off nothing is read.

use serde_json::json;

use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::mfa::policy::{MfaPolicy, MfaRefusal};
use crate::user::UserId;

impl AccountService {
    pub fn mfa_policy(&self) -> &MfaPolicy {
        &self.settings.mfa
    }

    /// Whether the policy covers `user` (the global switch, or a role it names, held directly).
    pub async fn mfa_policy_applies(&self, user: UserId) -> Result<bool, AccountError> {
        let policy = self.mfa_policy();
        if policy.is_off() {
            return Ok(false);
        }
        if policy.required {
            return Ok(true);
        }
        Ok(policy.applies(&self.guard.user_roles(user).await?))
    }

    /// `Err(MfaPolicy(EnrollmentRequired))` (audited, with `area`: where the request was refused) when
    /// the policy covers `user` and no second factor is enrolled; the one check behind the
    /// HTTP layer's enrolment gate and the token API's refusal.
    pub async fn enforce_mfa_enrolment(
        &self,
        user: UserId,
        area: &str,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let policy = self.mfa_policy();
        if policy.is_off() {
            return Ok(());
        }
        let roles = if policy.required { Vec::new() } else { self.guard.user_roles(user).await? };
        if !policy.applies(&roles) {
            return Ok(());
        }
        if policy.must_enrol(&roles, self.has_second_factor(user).await?) {
            self.record_policy_refusal(user, MfaRefusal::EnrollmentRequired, area, ctx).await?;
            return Err(AccountError::MfaPolicy(MfaRefusal::EnrollmentRequired));
        }
        Ok(())
    }

    /// The admin API for `user`, whose sign-in had `amr`: refused (and audited) when the policy
    /// covers the user and `amr` lacks `mfa`.
    pub async fn enforce_mfa_for_admin(
        &self,
        user: UserId,
        amr: &[String],
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let policy = self.mfa_policy();
        if policy.is_off() || crate::mfa::policy::has_mfa(amr) {
            return Ok(());
        }
        let roles = if policy.required { Vec::new() } else { self.guard.user_roles(user).await? };
        if !policy.applies(&roles) {
            return Ok(());
        }
        let refusal = policy.admin_refusal(&roles, self.has_second_factor(user).await?, amr);
        match refusal {
            None => Ok(()),
            Some(r) => {
                self.record_policy_refusal(user, r, "admin_api", ctx).await?;
                Err(AccountError::MfaPolicy(r))
            }
        }
    }

    async fn record_policy_refusal(
        &self,
        user: UserId,
        refusal: MfaRefusal,
        area: &str,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        let subject = Some(user.to_string());
        let details = json!({ "reason": refusal.as_str(), "where": area });
        self.audit
            .record(AuditEventType::MfaPolicyRefused, Outcome::Failure, subject.clone(), subject, ctx, details)
            .await?;
        Ok(())
    }
}
