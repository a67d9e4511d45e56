//! `[federation]`: sign-in through upstream identity providers. Client secrets are never in
//! this file: each provider names an environment variable (`client_secret_env`) or a 0600 file
//! (`client_secret_file`) that holds its secret; a `client_secret` key is refused.

use std::path::PathBuf;

use anyhow::{Context, bail};
use gatehouse_core::federation::provider::ProviderInput;
use gatehouse_core::federation::{ClaimMapping, ProviderConfig, Provisioning};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FederationConfig {
    /// Just-in-time accounts: `open`, `invite_only` (no new accounts; existing ones may link a
    /// provider) or `domains` (only verified emails in `allowed_domains`).
    pub provisioning: String,
    pub allowed_domains: Vec<String>,
    pub providers: Vec<ProviderEntry>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self { provisioning: "open".into(), allowed_domains: Vec::new(), providers: Vec::new() }
    }
}

/// One `[[federation.providers]]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderEntry {
    /// URL-safe id: the callback is `<issuer>/login/<id>/callback`.
    pub id: String,
    /// `oidc`, `google`, `microsoft` or `github`.
    pub kind: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The OpenID Connect issuer (kind `oidc` only).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Microsoft only: `common` (default), `organizations`, `consumers` or a tenant id.
    #[serde(default)]
    pub tenant: Option<String>,
    pub client_id: String,
    /// Name of the environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File (mode 0600) holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub claims: Option<ClaimMapping>,
    /// GitHub only (GitHub Enterprise Server): web and API base URLs.
    #[serde(default)]
    pub github_web_url: Option<String>,
    #[serde(default)]
    pub github_api_url: Option<String>,
}

impl ProviderEntry {
    pub fn config(&self) -> anyhow::Result<ProviderConfig> {
        Ok(ProviderConfig::build(ProviderInput {
            id: self.id.clone(),
            kind: self.kind.clone(),
            display_name: self.display_name.clone(),
            issuer: self.issuer.clone(),
            tenant: self.tenant.clone(),
            client_id: self.client_id.clone(),
            scopes: self.scopes.clone(),
            claims: self.claims.clone(),
            github_web_url: self.github_web_url.clone(),
            github_api_url: self.github_api_url.clone(),
        })?)
    }

    /// Where the secret comes from, for `providers list` (never the secret).
    pub fn secret_source(&self) -> String {
        match (&self.client_secret_env, &self.client_secret_file) {
            (Some(var), None) => format!("env {var}"),
            (None, Some(file)) => format!("file {}", file.display()),
            _ => "missing".into(),
        }
    }

    pub fn secret(&self) -> anyhow::Result<SecretString> {
        let text = match (&self.client_secret_env, &self.client_secret_file) {
            (Some(var), None) => std::env::var(var)
                .with_context(|| format!("federation provider {}: environment variable {var} is not set", self.id))?,
            (None, Some(file)) => crate::secrets::read_secret_file(file)
                .with_context(|| format!("federation provider {}: client_secret_file", self.id))?,
            _ => bail!("federation provider {}: set exactly one of client_secret_env or client_secret_file", self.id),
        };
        if text.trim().is_empty() {
            bail!("federation provider {}: the client secret is empty", self.id);
        }
        Ok(SecretString::from(text.trim().to_owned()))
    }
}

impl FederationConfig {
    pub fn provisioning(&self) -> anyhow::Result<Provisioning> {
        Provisioning::parse(&self.provisioning, &self.allowed_domains).with_context(|| {
            format!(
                "federation.provisioning must be open, invite_only or domains (with allowed_domains), not {:?}",
                self.provisioning
            )
        })
    }

    /// Every provider, presets applied; ids unique. Secrets are not read here.
    pub fn provider_configs(&self) -> anyhow::Result<Vec<ProviderConfig>> {
        let mut out: Vec<ProviderConfig> = Vec::new();
        for entry in &self.providers {
            let config = entry.config()?;
            if out.iter().any(|p| p.id == config.id) {
                bail!("federation provider id {:?} is used twice", config.id);
            }
            out.push(config);
        }
        Ok(out)
    }

    /// Providers with their secrets, for the server.
    pub fn load(&self) -> anyhow::Result<Vec<(ProviderConfig, SecretString)>> {
        let configs = self.provider_configs()?;
        configs.into_iter().zip(&self.providers).map(|(c, e)| Ok((c, e.secret()?))).collect()
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.provisioning()?;
        self.provider_configs()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> anyhow::Result<FederationConfig> {
        Ok(config::Config::builder()
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?)
    }

    #[test]
    fn presets_from_toml() {
        let f = parse(
            "provisioning = \"domains\"\nallowed_domains = [\"example.com\"]\n\
             [[providers]]\nid = \"google\"\nkind = \"google\"\nclient_id = \"g.apps\"\nclient_secret_env = \"G\"\n\
             [[providers]]\nid = \"github\"\nkind = \"github\"\nclient_id = \"Iv1\"\nclient_secret_file = \"/run/gh\"\n\
             [[providers]]\nid = \"work\"\nkind = \"microsoft\"\ntenant = \"organizations\"\nclient_id = \"m\"\nclient_secret_env = \"M\"\n",
        )
        .unwrap();
        f.validate().unwrap();
        let p = f.provider_configs().unwrap();
        assert_eq!(p[0].issuer, "https://accounts.google.com");
        assert_eq!(p[1].api_url.as_deref(), Some("https://api.github.com"));
        assert_eq!(p[2].issuer, "https://login.microsoftonline.com/organizations/v2.0");
        assert_eq!(f.providers[1].secret_source(), "file /run/gh");
        assert_eq!(f.provisioning().unwrap(), Provisioning::Domains(vec!["example.com".into()]));
    }

    #[test]
    fn secrets_never_come_from_the_file() {
        let err =
            parse("[[providers]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\nclient_secret = \"hunter2\"\n");
        assert!(err.is_err(), "client_secret is an unknown field");
        let f = parse("[[providers]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\n").unwrap();
        assert!(f.load().unwrap_err().to_string().contains("client_secret_env or client_secret_file"));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(parse("provisioning = \"domains\"\n").unwrap().validate().is_err(), "domains without a list");
        let twice = "[[providers]]\nid = \"g\"\nkind = \"google\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\n";
        assert!(parse(&twice.repeat(2)).unwrap().validate().is_err(), "duplicate id");
    }
}
