//! The claims of a Gatehouse access token (RFC 9068 §2.2, RFC 7519 §4.1).

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// The verified claims of an access token.
///
/// RFC 9068 §2.2 makes `iss`, `exp`, `aud`, `sub`, `client_id`, `iat` and `jti` required; a token
/// without one of them is refused. `aud` may be a string or an array on the wire and is always a
/// list here. NumericDate values may be fractional (RFC 7519 §2); they are rounded down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    #[serde(deserialize_with = "numeric_date")]
    pub exp: i64,
    #[serde(deserialize_with = "numeric_date")]
    pub iat: i64,
    #[serde(default, deserialize_with = "optional_numeric_date", skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    /// Space-separated scope tokens (RFC 8693 §4.2); see [`AccessClaims::scopes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, deserialize_with = "optional_numeric_date", skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// RFC 9068 §2.2.1 / RFC 8176: how the user signed in (`pwd`, `otp`, `mfa`, …); empty for
    /// tokens without a user sign-in (client credentials). See [`AccessClaims::has_mfa`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// RFC 9068 §2.2.1: the authentication context class of the sign-in
    /// (`urn:gatehouse:acr:1fa` or `urn:gatehouse:acr:mfa` from Gatehouse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// RFC 7800 §3.1 confirmation: a DPoP-bound token carries the thumbprint of its key
    /// (RFC 9449 §6.1). See [`AccessClaims::dpop_jkt`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// RFC 8693 §4.1: in a delegated token (from a token exchange), the party acting for `sub`;
    /// an earlier actor of a chain is nested inside. Absent in other tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// The `act` claim (RFC 8693 §4.1): who acts, and (nested) who acted before them. Other members
/// a token may carry are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    /// Gatehouse names the actor's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The prior actor (RFC 8693 §4.1: nested `act` claims are for information only; access
    /// decisions consider only the outermost actor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// The `cnf` claim (RFC 7800 §3.1) with the members Gatehouse uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 9449 §6.1: the RFC 7638 thumbprint of the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl AccessClaims {
    /// The granted scope tokens, in token order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty())
    }

    /// Whether the token grants `scope` (compared exactly, RFC 6749 §3.3).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Whether the user behind the token signed in with more than one factor: its `amr`
    /// contains `mfa` (RFC 8176 §2), whatever the factors were. The `amr` claim, not `acr`,
    /// decides, so that a token from any issuer following RFC 8176 is judged alike.
    pub fn has_mfa(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }

    /// The DPoP key thumbprint the token is bound to (RFC 9449 §6.1), if it is bound. A bound
    /// token is accepted only with a DPoP proof by that key, never as a bearer token (§7.2).
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().and_then(|c| c.jkt.as_deref())
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

struct NumericDate;

impl Visitor<'_> for NumericDate {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate (seconds since the epoch)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("NumericDate out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // i64::MAX as f64 rounds up to 2^63, so the upper bound is exclusive.
        if v.is_finite() && v >= i64::MIN as f64 && v < i64::MAX as f64 {
            Ok(v.floor() as i64)
        } else {
            Err(E::custom("NumericDate out of range"))
        }
    }
}

fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(NumericDate)
}

fn optional_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    numeric_date(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> serde_json::Value {
        json!({"iss": "https://id.example", "sub": "u1", "aud": "api", "exp": 200, "iat": 100,
               "jti": "j", "client_id": "c"})
    }

    #[test]
    fn aud_may_be_a_string_or_an_array() {
        let c: AccessClaims = serde_json::from_value(base()).unwrap();
        assert_eq!(c.aud, ["api"]);
        let mut v = base();
        v["aud"] = json!(["a", "b"]);
        let c: AccessClaims = serde_json::from_value(v).unwrap();
        assert_eq!(c.aud, ["a", "b"]);
    }

    #[test]
    fn required_claims_are_required() {
        for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(claim);
            assert!(serde_json::from_value::<AccessClaims>(v).is_err(), "{claim}");
        }
    }

    #[test]
    fn numeric_dates_accept_fractions_and_refuse_strings() {
        let mut v = base();
        v["exp"] = json!(200.9);
        v["nbf"] = json!(50);
        let c: AccessClaims = serde_json::from_value(v.clone()).unwrap();
        assert_eq!((c.exp, c.nbf), (200, Some(50)));
        v["exp"] = json!("200");
        assert!(serde_json::from_value::<AccessClaims>(v.clone()).is_err());
        v["exp"] = json!(1e300);
        assert!(serde_json::from_value::<AccessClaims>(v).is_err());
    }

    #[test]
    fn scopes_split_on_spaces() {
        let mut v = base();
        v["scope"] = json!("posts:read  posts:write openid");
        v["roles"] = json!(["editor"]);
        v["permissions"] = json!(["posts:delete"]);
        let c: AccessClaims = serde_json::from_value(v).unwrap();
        assert_eq!(c.scopes().collect::<Vec<_>>(), ["posts:read", "posts:write", "openid"]);
        assert!(c.has_scope("posts:write"));
        assert!(!c.has_scope("posts"));
        assert!(!c.has_scope(""));
        assert!(c.has_role("editor") && c.has_permission("posts:delete"));
        let none: AccessClaims = serde_json::from_value(base()).unwrap();
        assert_eq!(none.scopes().count(), 0);
    }

    #[test]
    fn amr_and_acr_are_optional_and_mfa_is_read_from_amr() {
        let none: AccessClaims = serde_json::from_value(base()).unwrap();
        assert!(none.amr.is_empty() && none.acr.is_none() && !none.has_mfa());
        let out = serde_json::to_value(&none).unwrap();
        assert!(out.get("amr").is_none() && out.get("acr").is_none(), "absent stays absent");
        let mut v = base();
        v["amr"] = json!(["pwd", "otp", "mfa"]);
        v["acr"] = json!("urn:gatehouse:acr:mfa");
        let c: AccessClaims = serde_json::from_value(v.clone()).unwrap();
        assert!(c.has_mfa());
        assert_eq!(c.acr.as_deref(), Some("urn:gatehouse:acr:mfa"));
        v["amr"] = json!(["pwd", "mfax"]);
        assert!(!serde_json::from_value::<AccessClaims>(v.clone()).unwrap().has_mfa());
        v["amr"] = json!("pwd");
        assert!(serde_json::from_value::<AccessClaims>(v).is_err(), "amr is an array (RFC 8176 §1)");
    }
}
