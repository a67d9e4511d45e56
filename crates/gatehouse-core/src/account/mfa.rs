//! Two-step sign-in, self-service and admin side: TOTP enrolment (a secret sealed under the
//! master key, confirmed by a first valid code), the status the account page shows, turning it
//! off and making new recovery codes (both after re-authentication), and the admin reset.
//! Every change is audited and told to the account's address.

use serde_json::json;
use zeroize::Zeroizing;

use super::{AccountError, AccountService, REAUTH_WINDOW, Reauth};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::mail::Notice;
use crate::mfa::{recovery, totp};
use crate::rbac::AdminCapability;
use crate::user::{User, UserId};

/// The purpose TOTP secrets are sealed under (bound to the user id).
pub(crate) const SEAL_PURPOSE: &str = "totp";

/// What the account page shows about the second factors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MfaStatus {
    /// When TOTP was turned on; `None` when it is off.
    pub totp_since: Option<UnixTime>,
    /// When a TOTP code was last accepted (the start of its time step).
    pub totp_last_used: Option<UnixTime>,
    /// Unused recovery codes.
    pub recovery_codes_left: usize,
    /// The registered passkeys, oldest first.
    pub passkeys: Vec<super::PasskeySummary>,
}

/// What the enrolment page shows: the secret for manual entry and the URI of the QR code.
pub struct TotpEnrolment {
    pub secret_base32: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment { .. }")
    }
}

impl AccountService {
    pub async fn mfa_status(&self, user: UserId) -> Result<MfaStatus, AccountError> {
        let totp = self.mfa.totp_factor(user).await?.filter(|f| f.confirmed_at.is_some());
        let totp_since = totp.as_ref().and_then(|f| f.confirmed_at);
        // The step recorded at enrolment is the confirming code's; only later steps are uses.
        let totp_last_used = totp
            .as_ref()
            .and_then(|f| f.last_used_step.map(|s| s * totp::STEP))
            .filter(|t| totp_since.is_some_and(|since| *t > since));
        let passkeys = self.passkeys(user).await?;
        let recovery_codes_left = if totp_since.is_some() || !passkeys.is_empty() {
            self.mfa.recovery_code_hashes(user).await?.len()
        } else {
            0
        };
        Ok(MfaStatus { totp_since, totp_last_used, recovery_codes_left, passkeys })
    }

    /// Whether the user must give a second factor after the password: a confirmed TOTP
    /// factor or a passkey.
    pub async fn has_second_factor(&self, user: UserId) -> Result<bool, AccountError> {
        if self.mfa.totp_factor(user).await?.is_some_and(|f| f.confirmed_at.is_some()) {
            return Ok(true);
        }
        Ok(!self.passkeys.passkeys(user).await?.is_empty())
    }

    pub(super) fn open_secret(&self, user: UserId, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, AccountError> {
        let key = self.master.as_ref().ok_or(AccountError::MfaUnavailable)?;
        key.open_for(SEAL_PURPOSE, &user.to_string(), sealed).map_err(|e| {
            tracing::error!(user = %user, error = %e, "a TOTP secret could not be opened with the master key");
            AccountError::MfaUnavailable
        })
    }

    /// Starts TOTP enrolment after re-authentication: a new secret, stored sealed and
    /// unconfirmed (replacing an unfinished enrolment), to be confirmed with
    /// [`Self::confirm_totp_enrolment`] within [`REAUTH_WINDOW`].
    pub async fn begin_totp_enrolment(
        &self,
        user: &User,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<TotpEnrolment, AccountError> {
        self.reauthenticate(user, reauth, ctx).await?;
        let key = self.master.as_ref().ok_or(AccountError::MfaUnavailable)?;
        let secret = totp::generate_secret()?;
        let sealed =
            key.seal_for(SEAL_PURPOSE, &user.id.to_string(), &secret).map_err(|_| AccountError::MfaUnavailable)?;
        if !self.mfa.begin_totp(user.id, &sealed, self.clock.now()).await? {
            return Err(AccountError::InvalidInput("two-step sign-in is already on; turn it off first"));
        }
        self.provisioning(user, &secret)
    }

    fn provisioning(&self, user: &User, secret: &[u8]) -> Result<TotpEnrolment, AccountError> {
        let issuer = self.mail.branding().product_name.clone();
        let (b32, uri) = totp::provisioning(secret, &issuer, user.email.as_str())
            .map_err(|_| AccountError::InvalidInput("this address cannot be used in an authenticator app"))?;
        Ok(TotpEnrolment { secret_base32: Zeroizing::new(b32), otpauth_uri: Zeroizing::new(uri) })
    }

    /// The unfinished enrolment again (the page after a mistyped code), while it is fresh.
    pub async fn pending_totp_enrolment(&self, user: &User) -> Result<Option<TotpEnrolment>, AccountError> {
        let now = self.clock.now();
        let factor = self.mfa.totp_factor(user.id).await?;
        let Some(factor) = factor.filter(|f| f.confirmed_at.is_none() && now - f.created_at <= REAUTH_WINDOW) else {
            return Ok(None);
        };
        let secret = self.open_secret(user.id, &factor.secret_sealed)?;
        self.provisioning(user, &secret).map(Some)
    }

    /// Completes enrolment with a valid code of the new secret; returns the recovery codes,
    /// shown this once.
    pub async fn confirm_totp_enrolment(
        &self,
        user: &User,
        code: &str,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, AccountError> {
        let now = self.clock.now();
        let factor = self.mfa.totp_factor(user.id).await?;
        let Some(factor) = factor.filter(|f| f.confirmed_at.is_none() && now - f.created_at <= REAUTH_WINDOW) else {
            return Err(AccountError::InvalidInput("start the set-up again: it is finished or has expired"));
        };
        let secret = self.open_secret(user.id, &factor.secret_sealed)?;
        let step = totp::matching_step(&secret, code, now).map_err(|_| AccountError::MfaUnavailable)?;
        let Some(step) = step else { return Err(AccountError::InvalidMfaCode) };
        let (codes, hashes) = recovery::generate()?;
        if !self.mfa.confirm_totp(user.id, step, &hashes, now).await? {
            return Err(AccountError::InvalidInput("start the set-up again: it is finished or has expired"));
        }
        self.record_mfa(AuditEventType::MfaEnrolled, user.id, None, ctx, json!({ "method": "totp" })).await?;
        self.notify(Notice::MfaEnabled { to: user.email.clone() }).await;
        Ok(codes)
    }

    /// Turns TOTP off (and deletes the recovery codes) after re-authentication.
    pub async fn disable_totp(
        &self,
        user: &User,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        self.reauthenticate(user, reauth, ctx).await?;
        if self.mfa.totp_factor(user.id).await?.is_none_or(|f| f.confirmed_at.is_none()) {
            return Err(AccountError::InvalidInput("no authenticator app is set up"));
        }
        let passkeys_left = !self.passkeys.passkeys(user.id).await?.is_empty();
        // Without another factor, the MFA policy would only send the user straight back to set
        // one up again.
        if !passkeys_left && self.mfa_policy_applies(user.id).await? {
            return Err(AccountError::InvalidInput(
                "two-step sign-in is required for your account and cannot be turned off",
            ));
        }
        if !passkeys_left {
            self.mfa.delete_mfa(user.id).await?;
        } else {
            // Passkeys remain a second factor: their recovery codes and pending steps stay.
            self.mfa.delete_totp(user.id).await?;
        }
        self.record_mfa(AuditEventType::MfaDisabled, user.id, None, ctx, json!({ "method": "totp" })).await?;
        self.notify(Notice::MfaDisabled { to: user.email.clone() }).await;
        Ok(())
    }

    /// A new set of recovery codes after re-authentication; the old ones stop working.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &User,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<Vec<String>, AccountError> {
        self.reauthenticate(user, reauth, ctx).await?;
        if !self.has_second_factor(user.id).await? {
            return Err(AccountError::InvalidInput("turn two-step sign-in on first"));
        }
        let (codes, hashes) = recovery::generate()?;
        self.mfa.replace_recovery_codes(user.id, &hashes, self.clock.now()).await?;
        self.record_mfa(AuditEventType::RecoveryCodesRegenerated, user.id, None, ctx, json!({ "count": codes.len() }))
            .await?;
        self.notify(Notice::RecoveryCodesRegenerated { to: user.email.clone() }).await;
        Ok(codes)
    }

    /// An admin removes the user's second factors (the user can sign in with the password and
    /// enrol again) and clears the second-step lock. `false` when there was nothing to remove.
    pub async fn reset_mfa(
        &self,
        cap: &AdminCapability,
        id: UserId,
        ctx: &RequestContext,
    ) -> Result<bool, AccountError> {
        let actor = cap.actor().to_string();
        let user = self.users.user_by_id(id).await?.ok_or(AccountError::NotFound)?;
        let (removed_totp, removed_passkeys) = self.passkeys.delete_all_factors(id).await?;
        let removed = removed_totp || removed_passkeys > 0;
        self.lockout.clear(&crate::abuse::LoginKey::for_mfa(id)).await?;
        self.record_mfa(
            AuditEventType::MfaReset,
            id,
            Some(&actor),
            ctx,
            json!({ "removed": removed, "passkeys": removed_passkeys }),
        )
        .await?;
        if removed {
            self.notify(Notice::MfaReset { to: user.email }).await;
        }
        Ok(removed)
    }

    pub(super) async fn record_mfa(
        &self,
        event: AuditEventType,
        user: UserId,
        actor: Option<&str>,
        ctx: &RequestContext,
        details: serde_json::Value,
    ) -> Result<(), AccountError> {
        let subject = Some(user.to_string());
        let actor = actor.map(str::to_owned).or_else(|| subject.clone());
        let outcome = if event == AuditEventType::MfaFailed { Outcome::Failure } else { Outcome::Success };
        self.audit.record(event, outcome, actor, subject, ctx, details).await?;
        Ok(())
    }
}
