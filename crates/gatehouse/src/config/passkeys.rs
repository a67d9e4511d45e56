//! `[passkeys]`: WebAuthn. The relying party comes from the issuer: its id is the issuer's
//! host, its origin the issuer's origin. Behind a proxy that serves Gatehouse under the
//! issuer's name nothing needs setting; `rp_id` is only for sharing passkeys with sibling
//! hosts under a parent domain, and `origins` for extra origins that run ceremonies.

use anyhow::{Context, bail};
use gatehouse_core::mfa::passkey::{RelyingParty, Url};
use serde::{Deserialize, Serialize};

use crate::web_config::string_or_list;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PasskeysConfig {
    /// `false` switches passkeys off (registration and sign-in answer "not supported").
    pub enabled: bool,
    /// The relying-party id: the issuer's host (default) or a parent domain of it. Passkeys are
    /// bound to it: changing it later makes every registered passkey unusable.
    pub rp_id: String,
    /// More origins allowed to run ceremonies (`https://app.example.com`), each under `rp_id`.
    #[serde(deserialize_with = "string_or_list")]
    pub origins: Vec<String>,
}

impl Default for PasskeysConfig {
    fn default() -> Self {
        Self { enabled: true, rp_id: String::new(), origins: Vec::new() }
    }
}

impl PasskeysConfig {
    /// The relying party for `issuer`; `None` when passkeys are off or the issuer's host is an
    /// IP address (browsers refuse those as relying-party ids), which is logged.
    pub fn relying_party(&self, issuer: &str, product_name: &str) -> anyhow::Result<Option<RelyingParty>> {
        if !self.enabled {
            return Ok(None);
        }
        let issuer = Url::parse(issuer).context("issuer is not a URL")?;
        let origins = self
            .origins
            .iter()
            .map(|o| Url::parse(o).with_context(|| format!("passkeys.origins: {o:?} is not a URL")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let rp_id = Some(self.rp_id.trim()).filter(|s| !s.is_empty());
        match RelyingParty::from_issuer(&issuer, rp_id, &origins, product_name) {
            Ok(rp) => Ok(Some(rp)),
            Err(gatehouse_core::mfa::passkey::RelyingPartyError::NoHost) => {
                tracing::warn!(
                    "passkeys are off: the issuer's host is not a domain name (WebAuthn needs one; use localhost for development)"
                );
                Ok(None)
            }
            Err(e) => bail!("{e}"),
        }
    }

    pub fn validate(&self, issuer: &str) -> anyhow::Result<()> {
        if let Some(rp) = self.relying_party(issuer, "Gatehouse")? {
            rp.build().map_err(|e| {
                anyhow::anyhow!(
                    "passkeys: {e} (rp_id must be the issuer's host or a parent domain, and every origin under it)"
                )
            })?;
        }
        Ok(())
    }
}
