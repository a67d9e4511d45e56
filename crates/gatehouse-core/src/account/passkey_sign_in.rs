//! Signing in with a passkey, in two roles:
//!
//! - **second factor** after the password (or an upstream provider): a ceremony bound to the
//!   pending second step, over the user's passkeys; its answer completes the step through
//!   [`AccountService::verify_second_factor`] (same lockout, same single use) with `amr`
//!   `pwd pop mfa`;
//! - **passwordless**: a discoverable-credential ceremony that names no user; the
//!   authenticator's answer names the credential and its user handle, user verification is
//!   required, and the session's `amr` is `pop mfa`.
//!
//! Each ceremony is single use (taken from storage before its answer is checked) and lives
//! five minutes; `webauthn-rs` checks the challenge, the origin, the RP id hash, user
//! verification and the signature counter.

use serde_json::json;
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyAuthentication};

use super::login::SignedIn;
use super::passkeys::{CeremonyStart, ceremony_error};
use super::{AccountError, AccountService};
use crate::audit::{AuditEventType, Outcome, RequestContext};
use crate::clock::UnixTime;
use crate::mfa::passkey::{
    AMR_PASSKEY, CeremonyPurpose, Passkey, PasskeyRecord, PublicKeyCredential, hash_ceremony_handle,
};
use crate::mfa::{MfaChannel, hash_handle};
use crate::session::SessionToken;
use crate::user::User;

use super::mfa_sign_in::SecondFactor;

impl AccountService {
    /// Starts a passkey ceremony for the pending second step `mfa_handle` (issued on one of
    /// `channels`), over the user's passkeys.
    pub async fn begin_passkey_second_factor(
        &self,
        mfa_handle: &str,
        channels: &[MfaChannel],
    ) -> Result<CeremonyStart, AccountError> {
        let webauthn = self.webauthn()?;
        let binding = hash_handle(mfa_handle);
        let challenge = self.mfa.mfa_challenge(&binding, self.clock.now()).await?;
        let Some(challenge) = challenge.filter(|c| channels.contains(&c.channel)) else {
            return Err(AccountError::MfaChallengeInvalid);
        };
        let records = self.passkeys.passkeys(challenge.user_id).await?;
        if records.is_empty() {
            return Err(AccountError::InvalidInput("this account has no passkey; use a code"));
        }
        let keys = records.iter().map(PasskeyRecord::passkey).collect::<Result<Vec<Passkey>, _>>()?;
        let (options, state) =
            webauthn.start_passkey_authentication(&keys).map_err(|e| ceremony_error("start authentication", &e))?;
        let options = serde_json::to_value(options).map_err(|_| AccountError::PasskeysUnavailable)?;
        let state = serde_json::to_string(&state).map_err(|_| AccountError::PasskeysUnavailable)?;
        self.start_ceremony(CeremonyPurpose::SecondFactor, Some(challenge.user_id), Some(binding), state, options).await
    }

    /// The passkey check of [`Self::verify_second_factor`]: the ceremony must belong to this
    /// pending step and user. The inner `Err` is the audit reason of a refusal.
    pub(super) async fn check_passkey_second_factor(
        &self,
        user: &User,
        step_hash: &[u8],
        ceremony: &str,
        response: &PublicKeyCredential,
        now: UnixTime,
    ) -> Result<Result<SecondFactor, &'static str>, AccountError> {
        let webauthn = self.webauthn()?;
        let ceremony_hash = hash_ceremony_handle(ceremony);
        let taken = self.passkeys.take_ceremony(&ceremony_hash, CeremonyPurpose::SecondFactor, now).await?;
        let Some(ceremony) = taken.filter(|c| c.user_id == Some(user.id) && c.binding.as_deref() == Some(step_hash))
        else {
            return Ok(Err("passkey_ceremony_invalid"));
        };
        let Ok(state) = serde_json::from_str::<PasskeyAuthentication>(&ceremony.state) else {
            return Ok(Err("passkey_ceremony_invalid"));
        };
        let Some(record) = self.passkeys.passkey_by_credential_id(response.get_credential_id()).await? else {
            return Ok(Err("unknown_passkey"));
        };
        if record.user_id != user.id {
            return Ok(Err("unknown_passkey"));
        }
        let result = match webauthn.finish_passkey_authentication(response, &state) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "a passkey answer was refused");
                return Ok(Err("passkey_refused"));
            }
        };
        self.record_use(&record, &result, now).await?;
        Ok(Ok(SecondFactor::Passkey))
    }

    async fn record_use(
        &self,
        record: &PasskeyRecord,
        result: &webauthn_rs::prelude::AuthenticationResult,
        now: UnixTime,
    ) -> Result<(), AccountError> {
        let mut passkey = record.passkey()?;
        passkey.update_credential(result);
        let json = serde_json::to_string(&passkey).map_err(|_| AccountError::PasskeysUnavailable)?;
        self.passkeys.record_passkey_use(record.id, &json, now).await?;
        Ok(())
    }

    /// Starts a passwordless sign-in: a discoverable-credential ceremony that names no user
    /// (the browser may offer it as autofill: conditional mediation).
    pub async fn begin_passkey_sign_in(&self) -> Result<CeremonyStart, AccountError> {
        let webauthn = self.webauthn()?;
        let (options, state) =
            webauthn.start_discoverable_authentication().map_err(|e| ceremony_error("start sign-in", &e))?;
        let options = serde_json::to_value(options).map_err(|_| AccountError::PasskeysUnavailable)?;
        let state = serde_json::to_string(&state).map_err(|_| AccountError::PasskeysUnavailable)?;
        self.start_ceremony(CeremonyPurpose::SignIn, None, None, state, options).await
    }

    /// Finishes a passwordless sign-in: a new session with `amr` `pop mfa`, ending the one
    /// presented. Every refusal is the same [`AccountError::PasskeyRefused`] (audited with its
    /// reason).
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        response: &PublicKeyCredential,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<SignedIn, AccountError> {
        let webauthn = self.webauthn()?;
        let now = self.clock.now();
        let refuse = |reason: &'static str, subject: Option<String>| async move {
            let details = json!({ "method": "passkey", "reason": reason });
            self.audit.record(AuditEventType::LoginFailed, Outcome::Failure, None, subject, ctx, details).await?;
            Err::<SignedIn, AccountError>(AccountError::PasskeyRefused)
        };
        let taken = self.passkeys.take_ceremony(&hash_ceremony_handle(ceremony), CeremonyPurpose::SignIn, now).await?;
        let Some(state) = taken.and_then(|c| serde_json::from_str::<DiscoverableAuthentication>(&c.state).ok()) else {
            return refuse("passkey_ceremony_invalid", None).await;
        };
        let Ok((user_handle, credential_id)) = webauthn.identify_discoverable_authentication(response) else {
            return refuse("no_user_handle", None).await;
        };
        let record = self.passkeys.passkey_by_credential_id(credential_id).await?;
        let Some(record) = record.filter(|r| r.user_id.0 == user_handle) else {
            return refuse("unknown_passkey", None).await;
        };
        let subject = Some(record.user_id.to_string());
        let Some(user) = self.active_user(record.user_id).await? else {
            return refuse("account_inactive", subject).await;
        };
        let passkey = record.passkey()?;
        let result = match webauthn.finish_discoverable_authentication_v2(response, state, &passkey) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "a passkey sign-in was refused");
                return refuse("passkey_refused", subject).await;
            }
        };
        self.record_use(&record, &result, now).await?;
        let details = json!({ "method": "passkey", "passkey_id": record.id });
        self.sign_in_as(user, previous, AMR_PASSKEY, now, ctx, details).await
    }

    /// Deletes ceremonies past their expiry; run periodically by the server.
    pub async fn purge_passkey_ceremonies(&self) -> Result<u64, AccountError> {
        Ok(self.passkeys.purge_ceremonies(self.clock.now()).await?)
    }
}
