//! The second step of a password sign-in. A right password for an account with TOTP opens no
//! session: it stores a pending step ([`MfaChallenge`], 5 minutes, single-use, bound to the
//! channel it was issued on) and hands out its random handle. The step is completed with a
//! TOTP code or a recovery code; only then is there a session (or a token pair), with `amr`
//! `pwd otp mfa` (RFC 8176 §2).
//!
//! Failures are counted under the account's second-factor [`LoginKey::for_mfa`] with the same
//! lockout rules as passwords (progressive delay, temporary lock); a locked step refuses even a
//! right code, with the same answer as a wrong one. A TOTP code is accepted once: the step it
//! matched is recorded atomically and an equal or earlier step is refused.

use serde_json::json;

use super::login::SignedIn;
use super::{AccountError, AccountService};
use crate::abuse::{Gate, LoginKey};
use crate::audit::{AuditEventType, RequestContext};
use crate::clock::UnixTime;
use crate::mail::Notice;
use crate::mfa::passkey::{AMR_PASSKEY, PublicKeyCredential};
use crate::mfa::{AMR_SECOND_FACTOR, MfaChallenge, MfaChannel, hash_handle, recovery, totp};
use crate::password::Password;
use crate::session::SessionToken;
use crate::user::User;

/// A pending second step: the handle goes to the browser (cookie) or the client (JSON).
pub struct MfaPending {
    pub handle: String,
    pub expires_at: UnixTime,
    /// The second factors the user can complete it with: `totp`, `passkey`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

impl std::fmt::Debug for MfaPending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaPending").field("expires_at", &self.expires_at).finish_non_exhaustive()
    }
}

/// The outcome of the password step.
#[derive(Debug)]
pub enum FirstFactor {
    /// No second factor is enrolled: the user is signed in by the password alone.
    Done(Box<User>),
    /// The password was right; the second factor is still missing.
    MfaRequired(MfaPending),
}

/// The outcome of a session sign-in with a password.
#[derive(Debug)]
pub enum LoginOutcome {
    SignedIn(Box<SignedIn>),
    MfaRequired(MfaPending),
}

/// Which second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
    Passkey,
}

impl SecondFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }

    /// RFC 8176 values this factor adds to those of the first step.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Totp | Self::RecoveryCode => AMR_SECOND_FACTOR,
            Self::Passkey => AMR_PASSKEY,
        }
    }
}

/// What the second step is completed with.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP code or a recovery code.
    Code(&'a str),
    /// A passkey's answer to the ceremony begun by
    /// [`AccountService::begin_passkey_second_factor`] for this step.
    Passkey { ceremony: &'a str, response: &'a PublicKeyCredential },
}

/// A completed second step.
#[derive(Debug)]
pub struct MfaVerified {
    pub user: User,
    pub channel: MfaChannel,
    /// The parked authorization request to continue (page sign-ins).
    pub next: Option<String>,
    pub method: SecondFactor,
    /// RFC 8176 values of the first step.
    pub first_amr: String,
}

impl MfaVerified {
    /// RFC 8176 values of the whole sign-in, space-separated (`pwd otp mfa`, `fed otp mfa`,
    /// `pwd pop mfa`).
    pub fn amr(&self) -> String {
        format!("{} {}", self.first_amr, self.method.amr())
    }
}

impl AccountService {
    /// The password step: [`Self::authenticate`], then a pending second step if the account
    /// has a second factor.
    pub async fn authenticate_first_factor(
        &self,
        email: &str,
        password: &Password,
        channel: MfaChannel,
        next: Option<&str>,
        ctx: &RequestContext,
    ) -> Result<FirstFactor, AccountError> {
        let user = self.authenticate(email, password, ctx).await?;
        if !self.has_second_factor(user.id).await? {
            return Ok(FirstFactor::Done(Box::new(user)));
        }
        Ok(FirstFactor::MfaRequired(self.begin_second_step(&user, channel, next, "pwd").await?))
    }

    /// A pending second step for `user`, whose first step (`amr`: `pwd`, or `fed` for a
    /// sign-in through an upstream provider) is done.
    pub async fn begin_second_step(
        &self,
        user: &User,
        channel: MfaChannel,
        next: Option<&str>,
        amr: &str,
    ) -> Result<MfaPending, AccountError> {
        let (handle, row) = MfaChallenge::issue(user.id, channel, next.map(str::to_owned), amr, self.clock.now())?;
        self.mfa.insert_mfa_challenge(&row).await?;
        let mut methods = Vec::new();
        if self.mfa.totp_factor(user.id).await?.is_some_and(|f| f.confirmed_at.is_some()) {
            methods.push("totp");
        }
        if self.webauthn.is_some() && !self.passkeys.passkeys(user.id).await?.is_empty() {
            methods.push("passkey");
        }
        if !self.mfa.recovery_code_hashes(user.id).await?.is_empty() {
            methods.push("recovery_code");
        }
        Ok(MfaPending { handle, expires_at: row.expires_at, methods })
    }

    /// Checks the second factor for the pending step `handle` (issued on one of `channels`)
    /// and consumes the step. Any failure leaves no session behind.
    pub async fn verify_second_factor(
        &self,
        handle: &str,
        channels: &[MfaChannel],
        proof: Proof<'_>,
        ctx: &RequestContext,
    ) -> Result<MfaVerified, AccountError> {
        let now = self.clock.now();
        let handle_hash = hash_handle(handle);
        let challenge = self.mfa.mfa_challenge(&handle_hash, now).await?;
        let Some(challenge) = challenge.filter(|c| channels.contains(&c.channel)) else {
            return Err(AccountError::MfaChallengeInvalid);
        };
        let user = self.active_user(challenge.user_id).await?.ok_or(AccountError::MfaChallengeInvalid)?;
        let key = LoginKey::for_mfa(user.id);
        self.limits.check_login_account(&key, ctx).await?;
        let attempt = match self.lockout.begin(&key).await? {
            Gate::Open(attempt) => attempt,
            Gate::Closed { .. } => {
                self.record_mfa(AuditEventType::MfaFailed, user.id, None, ctx, json!({ "reason": "locked" })).await?;
                return Err(AccountError::InvalidMfaCode);
            }
        };
        if !attempt.delay().is_zero() {
            tokio::time::sleep(attempt.delay()).await;
        }
        let checked = match proof {
            Proof::Code(code) => self.check_code(&user, code, now).await?,
            Proof::Passkey { ceremony, response } => {
                self.check_passkey_second_factor(&user, &handle_hash, ceremony, response, now).await?
            }
        };
        let method = match checked {
            Ok(method) => method,
            Err(reason) => {
                self.record_mfa(AuditEventType::MfaFailed, user.id, None, ctx, json!({ "reason": reason })).await?;
                if let Some(lock) = attempt.failed().await? {
                    let details =
                        json!({ "second_factor": true, "failures": lock.failures, "locked_until": lock.until });
                    let id = Some(user.id.to_string());
                    let audit = self.audit.record(
                        AuditEventType::AccountLocked,
                        crate::audit::Outcome::Failure,
                        None,
                        id,
                        ctx,
                        details,
                    );
                    audit.await?;
                }
                return Err(AccountError::InvalidMfaCode);
            }
        };
        attempt.succeeded().await?;
        // Single-use: of two completions of one step, only one gets past this.
        if !self.mfa.take_mfa_challenge(&handle_hash, now).await? {
            return Err(AccountError::MfaChallengeInvalid);
        }
        self.record_mfa(AuditEventType::MfaVerified, user.id, None, ctx, json!({ "method": method.as_str() })).await?;
        if method == SecondFactor::RecoveryCode {
            let remaining = self.mfa.recovery_code_hashes(user.id).await?.len();
            self.record_mfa(AuditEventType::RecoveryCodeUsed, user.id, None, ctx, json!({ "remaining": remaining }))
                .await?;
            self.notify(Notice::RecoveryCodeUsed { to: user.email.clone(), remaining }).await;
        }
        Ok(MfaVerified { user, channel: challenge.channel, next: challenge.next, method, first_amr: challenge.amr })
    }

    /// A six-digit code is checked as TOTP (and its step used up), anything else as a recovery
    /// code (and deleted). The inner `Err` is the audit reason of a refusal.
    async fn check_code(
        &self,
        user: &User,
        code: &str,
        now: UnixTime,
    ) -> Result<Result<SecondFactor, &'static str>, AccountError> {
        if totp::looks_like_code(code) {
            let Some(factor) = self.mfa.totp_factor(user.id).await?.filter(|f| f.confirmed_at.is_some()) else {
                return Ok(Err("not_enrolled"));
            };
            let secret = self.open_secret(user.id, &factor.secret_sealed)?;
            let step = totp::matching_step(&secret, code, now).map_err(|_| AccountError::MfaUnavailable)?;
            return Ok(match step {
                None => Err("wrong_code"),
                Some(step) if self.mfa.use_totp_step(user.id, step).await? => Ok(SecondFactor::Totp),
                Some(_) => Err("replayed_code"),
            });
        }
        let stored = self.mfa.recovery_code_hashes(user.id).await?;
        let Some(hash) = recovery::find(code, &stored) else { return Ok(Err("wrong_recovery_code")) };
        Ok(if self.mfa.use_recovery_code(user.id, hash).await? {
            Ok(SecondFactor::RecoveryCode)
        } else {
            Err("replayed_recovery_code")
        })
    }

    /// Completes a pending session sign-in (the page or `/api/v1/auth/login`): the second
    /// factor, then a new session with `amr` `pwd otp mfa`, ending the one presented.
    pub async fn complete_mfa_sign_in(
        &self,
        handle: &str,
        channels: &[MfaChannel],
        proof: Proof<'_>,
        previous: Option<&SessionToken>,
        ctx: &RequestContext,
    ) -> Result<(SignedIn, Option<String>), AccountError> {
        let verified = self.verify_second_factor(handle, channels, proof, ctx).await?;
        let details = json!({ "method": "session", "second_factor": verified.method.as_str() });
        let amr = verified.amr();
        let now = self.clock.now();
        let signed_in = self.sign_in_as(verified.user, previous, &amr, now, ctx, details).await?;
        Ok((signed_in, verified.next))
    }

    /// Deletes pending second steps past their expiry; run periodically by the server.
    pub async fn purge_mfa_challenges(&self) -> Result<u64, AccountError> {
        Ok(self.mfa.purge_mfa_challenges(self.clock.now()).await?)
    }
}
