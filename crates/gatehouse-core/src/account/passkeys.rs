//! Passkeys on the account: register one (after re-authentication), list, rename nothing,
//! remove one (never the last way to sign in). The ceremonies are in
//! [`crate::mfa::passkey`]; the sign-ins with a passkey in `passkey_sign_in`.

use serde_json::json;
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

use super::{AccountError, AccountService, Reauth};
use crate::audit::{AuditEventType, RequestContext};
use crate::clock::UnixTime;
use crate::mail::Notice;
use crate::mfa::passkey::{
    Ceremony, CeremonyPurpose, MAX_NAME_CHARS, PasskeyRecord, PasskeyRemoval, Webauthn, hash_ceremony_handle,
};
use crate::mfa::recovery;
use crate::store::StoreError;
use crate::user::{User, UserId};

/// A passkey as the account page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeySummary {
    pub id: Uuid,
    pub name: String,
    pub discoverable: bool,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// A ceremony to run in the browser: its handle, and the options for
/// `navigator.credentials.create()` / `.get()` (WebAuthn's JSON form).
pub struct CeremonyStart {
    pub handle: String,
    pub options: serde_json::Value,
}

impl std::fmt::Debug for CeremonyStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CeremonyStart { .. }")
    }
}

/// A registered passkey, and the recovery codes made with it when it is the account's first
/// second factor (shown once).
#[derive(Debug)]
pub struct PasskeyAdded {
    pub passkey: PasskeySummary,
    pub recovery_codes: Option<Vec<String>>,
}

impl From<&PasskeyRecord> for PasskeySummary {
    fn from(r: &PasskeyRecord) -> Self {
        Self {
            id: r.id,
            name: r.name.clone(),
            discoverable: r.discoverable,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// W3C WebAuthn L3 §5.1 `rawId`: credential ids are at most 1023 bytes.
const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// Characters that change how text around them is shown without being seen: bidi controls,
/// zero-width characters, the BOM and interlinear annotation marks.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// A passkey's name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters and
/// no invisible formatting (a name shown to its owner must look like what it is).
pub fn passkey_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    let bad = |c: char| c.is_control() || is_invisible_format(c);
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(bad) {
        return Err(AccountError::InvalidInput("give the passkey a name of 1 to 64 characters"));
    }
    Ok(name.to_owned())
}

impl AccountService {
    pub(super) fn webauthn(&self) -> Result<&Webauthn, AccountError> {
        self.webauthn.as_deref().ok_or(AccountError::PasskeysUnavailable)
    }

    /// Whether passkeys can be used on this server (the issuer has a host name).
    pub fn passkeys_enabled(&self) -> bool {
        self.webauthn.is_some()
    }

    pub async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeySummary>, AccountError> {
        Ok(self.passkeys.passkeys(user).await?.iter().map(PasskeySummary::from).collect())
    }

    /// Starts registering a passkey named `name` after re-authentication: a discoverable credential is
    /// preferred, user verification required, attestation `none`; the user's existing
    /// passkeys are excluded.
    pub async fn begin_passkey_registration(
        &self,
        user: &User,
        name: &str,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<CeremonyStart, AccountError> {
        // Checked before the authenticator makes a credential that could not be stored.
        passkey_name(name)?;
        let webauthn = self.webauthn()?;
        self.reauthenticate(user, reauth, ctx).await?;
        let existing = self.passkeys.passkeys(user.id).await?;
        let exclude = existing.iter().map(|p| p.credential_id.clone()).collect::<Vec<_>>();
        let (options, state) = webauthn
            .start_passkey_registration(user.id.0, user.email.as_str(), user.email.as_str(), Some(exclude))
            .map_err(|e| ceremony_error("start registration", &e))?;
        let mut options = serde_json::to_value(options).map_err(|_| AccountError::PasskeysUnavailable)?;
        // Ask for a discoverable credential (for sign-in without an email address) but accept
        // an authenticator that cannot store one: `preferred` (WebAuthn L3 §5.4.6).
        if let Some(sel) = options.pointer_mut("/publicKey/authenticatorSelection").and_then(|v| v.as_object_mut()) {
            sel.insert("residentKey".into(), json!("preferred"));
            sel.insert("requireResidentKey".into(), json!(false));
        }
        let state = serde_json::to_string(&state).map_err(|_| AccountError::PasskeysUnavailable)?;
        self.start_ceremony(CeremonyPurpose::Register, Some(user.id), None, state, options).await
    }

    pub(super) async fn start_ceremony(
        &self,
        purpose: CeremonyPurpose,
        user: Option<UserId>,
        binding: Option<Vec<u8>>,
        state: String,
        options: serde_json::Value,
    ) -> Result<CeremonyStart, AccountError> {
        let (handle, row) = Ceremony::issue(purpose, user, binding, state, self.clock.now())?;
        self.passkeys.insert_ceremony(&row).await?;
        Ok(CeremonyStart { handle, options })
    }

    /// Finishes a registration begun by [`Self::begin_passkey_registration`] for the same
    /// user: the authenticator's answer is checked (challenge, origin, RP id, user
    /// verification) and the passkey stored under `name`.
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        handle: &str,
        name: &str,
        response: &RegisterPublicKeyCredential,
        ctx: &RequestContext,
    ) -> Result<PasskeyAdded, AccountError> {
        let name = passkey_name(name)?;
        let webauthn = self.webauthn()?;
        let now = self.clock.now();
        let ceremony =
            self.passkeys.take_ceremony(&hash_ceremony_handle(handle), CeremonyPurpose::Register, now).await?;
        let Some(ceremony) = ceremony.filter(|c| c.user_id == Some(user.id)) else {
            return Err(AccountError::PasskeyCeremonyInvalid);
        };
        let state: PasskeyRegistration =
            serde_json::from_str(&ceremony.state).map_err(|_| AccountError::PasskeyCeremonyInvalid)?;
        let passkey = match webauthn.finish_passkey_registration(response, &state) {
            Ok(p) => p,
            Err(e) => {
                let reason = e.to_string();
                self.record_mfa(
                    AuditEventType::MfaFailed,
                    user.id,
                    None,
                    ctx,
                    json!({ "method": "passkey_registration", "reason": reason }),
                )
                .await?;
                return Err(AccountError::PasskeyRefused);
            }
        };
        // W3C WebAuthn L3 §5.1: a credential id is at most 1023 bytes.
        if passkey.cred_id().len() > MAX_CREDENTIAL_ID_LEN {
            return Err(AccountError::PasskeyRefused);
        }
        let record = PasskeyRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name,
            credential: serde_json::to_string(&passkey).map_err(|_| AccountError::PasskeysUnavailable)?,
            discoverable: response.extensions.cred_props.as_ref().and_then(|c| c.rk).unwrap_or(false),
            sign_count: 0,
            created_at: now,
            last_used_at: None,
        };
        // The first second factor brings recovery codes: stored with the passkey, in one
        // transaction, only if the user has none (two registrations at once make one set).
        let (codes, hashes) = recovery::generate()?;
        let recovery_codes = match self.passkeys.insert_passkey(&record, &hashes, now).await {
            Ok(true) => Some(codes),
            Ok(false) => None,
            // WebAuthn L3 §7.1 step 25: a credential id registered already is refused.
            Err(StoreError::Conflict(_)) => return Err(AccountError::PasskeyRefused),
            Err(e) => return Err(e.into()),
        };
        // The owner is told first: the mail is the warning if someone else added it.
        self.notify(Notice::PasskeyAdded { to: user.email.clone(), name: record.name.clone() }).await;
        let details = json!({ "method": "passkey", "passkey_id": record.id, "discoverable": record.discoverable });
        self.record_mfa(AuditEventType::MfaEnrolled, user.id, None, ctx, details).await?;
        Ok(PasskeyAdded { passkey: PasskeySummary::from(&record), recovery_codes })
    }

    /// Removes one of the user's passkeys after re-authentication. Refused when it is the
    /// last way to sign in (no password, no other passkey, no upstream provider linked). With
    /// the last second factor gone, the recovery codes go too.
    pub async fn remove_passkey(
        &self,
        user: &User,
        id: Uuid,
        reauth: Reauth<'_>,
        ctx: &RequestContext,
    ) -> Result<(), AccountError> {
        self.reauthenticate(user, reauth, ctx).await?;
        let name = match self.passkeys.delete_passkey(user.id, id).await? {
            PasskeyRemoval::Removed(name) => name,
            PasskeyRemoval::NotFound => return Err(AccountError::NotFound),
            PasskeyRemoval::LastMethod => {
                return Err(AccountError::InvalidInput(
                    "this passkey is the only way to sign in to this account; add another one first",
                ));
            }
        };
        if !self.has_second_factor(user.id).await? {
            self.mfa.replace_recovery_codes(user.id, &[], self.clock.now()).await?;
        }
        let details = json!({ "method": "passkey", "passkey_id": id });
        self.record_mfa(AuditEventType::MfaDisabled, user.id, None, ctx, details).await?;
        self.notify(Notice::PasskeyRemoved { to: user.email.clone(), name }).await;
        Ok(())
    }
}

/// A ceremony `webauthn-rs` could not start (a configuration problem, logged).
pub(super) fn ceremony_error(what: &str, e: &webauthn_rs::prelude::WebauthnError) -> AccountError {
    tracing::error!(error = %e, "passkeys: could not {what}");
    AccountError::PasskeysUnavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_visible_text() {
        assert_eq!(passkey_name("  Laptop ").unwrap(), "Laptop");
        assert_eq!(passkey_name("Zoë's phone <1>").unwrap(), "Zoë's phone <1>");
        for bad in ["", "   ", "a\u{0}b", "tab\there", "evil\u{202E}gnp.exe", "zero\u{200B}width", &"x".repeat(65)] {
            assert!(passkey_name(bad).is_err(), "{bad:?}");
        }
        assert!(passkey_name(&"é".repeat(64)).is_ok(), "characters, not bytes");
    }
}
