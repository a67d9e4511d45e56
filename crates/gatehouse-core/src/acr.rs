//! Authentication context: Gatehouse's `acr` values (OpenID Connect Core §2 `acr`, §3.1.2.1
//! `acr_values`, §5.5.1.1), derived from the RFC 8176 `amr` values of a sign-in, and the
//! context a token carries from its sign-in (`amr`, `acr`, `auth_time`), through refreshes
//! too (Core §12.2).

use crate::clock::UnixTime;

/// One factor (a password, or an upstream provider's sign-in).
pub const ACR_1FA: &str = "urn:gatehouse:acr:1fa";
/// More than one factor: the sign-in's `amr` contains `mfa` (RFC 8176 §2).
pub const ACR_MFA: &str = "urn:gatehouse:acr:mfa";
/// What discovery advertises as `acr_values_supported` (OpenID Connect Discovery 1.0 §3).
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_1FA, ACR_MFA];

/// An authentication context class Gatehouse asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Acr {
    OneFactor,
    Mfa,
}

impl Acr {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneFactor => ACR_1FA,
            Self::Mfa => ACR_MFA,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            ACR_1FA => Some(Self::OneFactor),
            ACR_MFA => Some(Self::Mfa),
            _ => None,
        }
    }

    /// The class of a sign-in with these RFC 8176 values (space-separated): any sign-in whose
    /// methods include `mfa` is multi-factor, whatever the factors were (`pwd otp mfa`,
    /// `fed otp mfa`, and later `hwk user mfa` or `pwd hwk mfa` for passkeys), so that a new
    /// factor needs no change here; anything else is one factor.
    pub fn from_amr(amr: &str) -> Self {
        if amr_has_mfa(amr) { Self::Mfa } else { Self::OneFactor }
    }

    /// OpenID Connect Core §3.1.2.1 `acr_values`: the values in order of preference; the first
    /// one Gatehouse supports is the one it works to. Unknown values are ignored (the claim is
    /// requested as a Voluntary Claim), so `None` when none is supported.
    pub fn first_supported(acr_values: &str) -> Option<Self> {
        acr_values.split(' ').find_map(Self::parse)
    }
}

/// Whether RFC 8176 values (space-separated) include `mfa`.
pub fn amr_has_mfa(amr: &str) -> bool {
    amr.split_whitespace().any(|m| m == "mfa")
}

/// How and when the user behind a token signed in: what access tokens (RFC 9068 §2.2.1) and
/// ID tokens (OpenID Connect Core §2) say about the authentication, and what a refresh family
/// keeps so that refreshed tokens describe the original sign-in (Core §12.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// RFC 8176 values, space-separated; empty when unknown (a family older than this record).
    pub amr: String,
    /// The [`Acr`] asserted at sign-in, as its URN.
    pub acr: String,
    /// When the user authenticated; 0 when unknown (then no `auth_time` claim).
    pub auth_time: UnixTime,
}

impl AuthContext {
    /// The context of a sign-in with `amr` at `auth_time`; its `acr` follows from `amr`.
    pub fn of_sign_in(amr: &str, auth_time: UnixTime) -> Self {
        Self { amr: amr.to_owned(), acr: Acr::from_amr(amr).as_str().to_owned(), auth_time }
    }

    /// The `amr` claim: the values as an array.
    pub fn amr_values(&self) -> Vec<String> {
        self.amr.split_whitespace().map(str::to_owned).collect()
    }

    /// The `acr` claim, absent when none was recorded.
    pub fn acr_claim(&self) -> Option<String> {
        (!self.acr.is_empty()).then(|| self.acr.clone())
    }

    /// The `auth_time` claim, absent when unknown.
    pub fn auth_time_claim(&self) -> Option<UnixTime> {
        (self.auth_time > 0).then_some(self.auth_time)
    }

    pub fn has_mfa(&self) -> bool {
        amr_has_mfa(&self.amr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_follows_from_amr_and_any_mfa_is_mfa() {
        assert_eq!(Acr::from_amr("pwd"), Acr::OneFactor);
        assert_eq!(Acr::from_amr("fed"), Acr::OneFactor);
        assert_eq!(Acr::from_amr(""), Acr::OneFactor);
        assert_eq!(Acr::from_amr("pwd otp mfa"), Acr::Mfa);
        assert_eq!(Acr::from_amr("fed otp mfa"), Acr::Mfa);
        // Passkeys (later): whatever the factors, `mfa` decides.
        assert_eq!(Acr::from_amr("hwk user mfa"), Acr::Mfa);
        assert_eq!(Acr::from_amr("pwd hwk mfa"), Acr::Mfa);
        assert_eq!(Acr::from_amr(" otp  mfa "), Acr::Mfa);
        // Only the whole value counts.
        assert_eq!(Acr::from_amr("pwd mfax xmfa"), Acr::OneFactor);
        assert_eq!(Acr::from_amr("pwd otp mfa").as_str(), "urn:gatehouse:acr:mfa");
        assert_eq!(Acr::from_amr("pwd").as_str(), "urn:gatehouse:acr:1fa");
    }

    #[test]
    fn the_first_supported_value_in_order_of_preference_wins() {
        // OpenID Connect Core §3.1.2.1: values in order of preference; unknown ones ignored.
        assert_eq!(Acr::first_supported("urn:gatehouse:acr:mfa"), Some(Acr::Mfa));
        assert_eq!(Acr::first_supported("urn:other:gold urn:gatehouse:acr:mfa"), Some(Acr::Mfa));
        assert_eq!(Acr::first_supported("urn:gatehouse:acr:1fa urn:gatehouse:acr:mfa"), Some(Acr::OneFactor));
        assert_eq!(Acr::first_supported("urn:other:gold 0 1"), None);
        assert_eq!(Acr::first_supported(""), None);
        assert_eq!(Acr::first_supported("URN:GATEHOUSE:ACR:MFA"), None, "compared exactly");
        for v in ACR_VALUES_SUPPORTED {
            assert_eq!(Acr::parse(v).map(Acr::as_str), Some(v));
        }
    }

    #[test]
    fn a_sign_in_context_carries_its_claims() {
        let c = AuthContext::of_sign_in("pwd otp mfa", 100);
        assert_eq!(c.amr_values(), ["pwd", "otp", "mfa"]);
        assert_eq!(c.acr_claim().as_deref(), Some(ACR_MFA));
        assert_eq!(c.auth_time_claim(), Some(100));
        assert!(c.has_mfa());
        let unknown = AuthContext { amr: String::new(), acr: ACR_1FA.into(), auth_time: 0 };
        assert!(unknown.amr_values().is_empty() && unknown.auth_time_claim().is_none() && !unknown.has_mfa());
    }
}
