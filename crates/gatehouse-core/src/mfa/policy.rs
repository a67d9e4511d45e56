//! The MFA policy (issue #15): who must use a second factor. The operator names it in `[mfa]`:
//! `required` (everyone) and `required_for_roles` (holders of these roles, assigned directly).
//!
//! This module is the rule alone, without storage: [`MfaPolicy::must_enrol`] (the policy
//! applies and no second factor is enrolled: the person may do nothing but set one up) and
//! [`MfaPolicy::admin_refusal`] (the admin API needs a sign-in whose RFC 8176 `amr` has `mfa`).
//! `account::mfa_policy` reads roles and factors and calls it; the HTTP layer enforces it in one
//! middleware (enrolment) and in the admin capability's door (`AdminService::authorize`).

use crate::rbac::RoleName;

/// The RFC 8176 §2 value of a sign-in that used more than one factor.
pub const AMR_MFA: &str = "mfa";

/// Who must use a second factor. The default requires nobody (an upgrade changes nothing until
/// the operator opts in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MfaPolicy {
    /// Every user must use a second factor.
    pub required: bool,
    /// Users holding one of these roles (directly) must use a second factor.
    pub required_for_roles: Vec<RoleName>,
}

/// Why the policy refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaRefusal {
    /// No second factor is enrolled: set one up first.
    EnrollmentRequired,
    /// A second factor is enrolled (or not), but this sign-in did not use one.
    MfaRequired,
}

impl MfaRefusal {
    /// The error code of the JSON answer and the audit trail's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnrollmentRequired => "mfa_enrollment_required",
            Self::MfaRequired => "mfa_required",
        }
    }
}

impl MfaPolicy {
    /// Nobody is required to use a second factor: no check needs to read anything.
    pub fn is_off(&self) -> bool {
        !self.required && self.required_for_roles.is_empty()
    }

    /// Whether the policy covers a user holding `roles`.
    pub fn applies<R: AsRef<str>>(&self, roles: &[R]) -> bool {
        self.required || roles.iter().any(|r| self.required_for_roles.iter().any(|x| x.as_str() == r.as_ref()))
    }

    /// The policy covers the user and no second factor is enrolled: until one is, the user may
    /// only set one up (or sign out).
    pub fn must_enrol<R: AsRef<str>>(&self, roles: &[R], has_second_factor: bool) -> bool {
        !has_second_factor && self.applies(roles)
    }

    /// The admin API for a user holding `roles` whose sign-in had `amr`: `None` when allowed.
    /// Without a second factor enrolled the answer says to enrol; otherwise, to sign in with it.
    pub fn admin_refusal<R: AsRef<str>, A: AsRef<str>>(
        &self,
        roles: &[R],
        has_second_factor: bool,
        amr: &[A],
    ) -> Option<MfaRefusal> {
        if !self.applies(roles) || has_mfa(amr) {
            None
        } else if has_second_factor {
            Some(MfaRefusal::MfaRequired)
        } else {
            Some(MfaRefusal::EnrollmentRequired)
        }
    }
}

/// Whether a sign-in's `amr` values include `mfa` (RFC 8176 §2: more than one factor).
pub fn has_mfa<A: AsRef<str>>(amr: &[A]) -> bool {
    amr.iter().any(|a| a.as_ref() == AMR_MFA)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<RoleName> {
        names.iter().map(|n| RoleName::parse(n).unwrap()).collect()
    }

    const NONE: [&str; 0] = [];

    #[test]
    fn off_by_default_requires_nobody() {
        let p = MfaPolicy::default();
        assert!(p.is_off());
        assert!(!p.applies(&["admin"]));
        assert!(!p.must_enrol(&["admin"], false));
        assert_eq!(p.admin_refusal(&["admin"], false, &["pwd"]), None);
    }

    #[test]
    fn roles_apply_only_to_their_holders() {
        let p = MfaPolicy { required: false, required_for_roles: roles(&["admin", "ops"]) };
        assert!(!p.is_off());
        assert!(p.applies(&["reader", "ops"]));
        assert!(!p.applies(&["reader"]));
        assert!(!p.applies(&NONE));
        assert!(!p.applies(&["Admin"]), "role names compare exactly");
        assert!(p.must_enrol(&["admin"], false));
        assert!(!p.must_enrol(&["admin"], true), "enrolled");
        assert!(!p.must_enrol(&["reader"], false), "not covered");
    }

    #[test]
    fn the_global_switch_covers_everyone() {
        let p = MfaPolicy { required: true, required_for_roles: Vec::new() };
        assert!(!p.is_off());
        assert!(p.applies(&NONE));
        assert!(p.must_enrol(&NONE, false));
        assert!(!p.must_enrol(&NONE, true));
    }

    #[test]
    fn the_admin_api_needs_mfa_in_amr() {
        let p = MfaPolicy { required: false, required_for_roles: roles(&["admin"]) };
        assert_eq!(p.admin_refusal(&["admin"], false, &["pwd"]), Some(MfaRefusal::EnrollmentRequired));
        assert_eq!(p.admin_refusal(&["admin"], true, &["pwd"]), Some(MfaRefusal::MfaRequired));
        assert_eq!(p.admin_refusal(&["admin"], true, &NONE), Some(MfaRefusal::MfaRequired));
        assert_eq!(p.admin_refusal(&["admin"], true, &["pwd", "otp", "mfa"]), None);
        assert_eq!(p.admin_refusal(&["admin"], true, &["fed", "otp", "mfa"]), None);
        assert_eq!(
            p.admin_refusal(&["admin"], true, &["otp"]),
            Some(MfaRefusal::MfaRequired),
            "otp alone is one factor"
        );
        assert_eq!(p.admin_refusal(&["reader"], false, &["pwd"]), None, "not covered");
        assert_eq!(MfaRefusal::MfaRequired.as_str(), "mfa_required");
        assert_eq!(MfaRefusal::EnrollmentRequired.as_str(), "mfa_enrollment_required");
    }

    #[test]
    fn amr_is_matched_by_value() {
        assert!(has_mfa(&["pwd", "otp", "mfa"]));
        assert!(!has_mfa(&["pwd", "otp"]));
        assert!(!has_mfa(&["pwd mfa"]), "one value per element");
        assert!(!has_mfa(&NONE));
    }
}
