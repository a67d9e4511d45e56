//! `[mfa]`: who must use a second factor (`gatehouse_core::mfa::policy`). Off by default, so an
//! upgrade changes nothing until the operator opts in; the recommended setting is
//! `required_for_roles = ["admin"]`. In the environment: `GATEHOUSE_MFA__REQUIRED=true`,
//! `GATEHOUSE_MFA__REQUIRED_FOR_ROLES=admin,ops` (comma- or space-separated).

use anyhow::anyhow;
use gatehouse_core::mfa::policy::MfaPolicy;
use gatehouse_core::rbac::RoleName;
use serde::{Deserialize, Serialize};

use crate::web_config::string_or_list;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MfaConfig {
    /// Every user must set up and use a second factor.
    pub required: bool,
    /// Users holding one of these roles (directly) must set up and use a second factor.
    #[serde(deserialize_with = "string_or_list")]
    pub required_for_roles: Vec<String>,
}

impl MfaConfig {
    /// The policy, with every role name checked (a typo would silently protect nobody).
    pub fn policy(&self) -> anyhow::Result<MfaPolicy> {
        let required_for_roles = self
            .required_for_roles
            .iter()
            .map(|r| RoleName::parse(r).map_err(|e| anyhow!("mfa.required_for_roles: {r:?}: {}", e.0)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(MfaPolicy { required: self.required, required_for_roles })
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.policy().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_role_names_are_checked() {
        let c = MfaConfig::default();
        assert!(c.policy().unwrap().is_off());
        let c = MfaConfig { required: false, required_for_roles: vec!["admin".into(), "ops".into()] };
        let p = c.policy().unwrap();
        assert!(p.applies(&["ops"]) && !p.applies(&["reader"]));
        let bad = MfaConfig { required: false, required_for_roles: vec!["Admin Team".into()] };
        assert!(bad.validate().unwrap_err().to_string().contains("mfa.required_for_roles"));
    }
}
