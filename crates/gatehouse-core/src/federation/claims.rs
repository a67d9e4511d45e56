//! From upstream claims to an identity: which claim holds the subject, the email, whether the
//! email is verified, and the name (OIDC Core §5.1 standard claims by default). GitHub has no
//! ID token: its `GET /user` and `GET /user/emails` answers are mapped instead.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::email::Email;

/// Names of the claims read from a verified ID token (and the userinfo response, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMapping {
    pub subject: String,
    pub email: String,
    pub email_verified: String,
    pub name: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            subject: "sub".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            name: "name".into(),
        }
    }
}

impl ClaimMapping {
    /// GitHub's user object: a numeric `id` (the stable subject), `login`, `name`; the email
    /// comes from `/user/emails` (see [`github_identity`]).
    pub fn github() -> Self {
        Self { subject: "id".into(), email: "email".into(), email_verified: "verified".into(), name: "name".into() }
    }

    /// Microsoft (Entra ID): ID tokens carry no `email_verified`. The optional claim `xms_edov`
    /// ("email domain owner verified") says the domain of `email` is verified by its tenant;
    /// it must be enabled as an optional claim of the ID token in the app registration. Without
    /// it no Microsoft email counts as verified (fail closed: the `email` of an Entra account is
    /// editable by tenant admins, the "nOAuth" account takeover).
    pub fn microsoft() -> Self {
        Self { email_verified: "xms_edov".into(), ..Self::default() }
    }
}

/// Who the upstream says the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamIdentity {
    pub provider: String,
    pub subject: String,
    pub email: Option<Email>,
    /// Only ever true when the upstream said so explicitly.
    pub email_verified: bool,
    pub name: Option<String>,
    /// When the upstream authenticated the user (the ID token's `auth_time`, OIDC Core §2);
    /// `None` when it does not say (GitHub, many OIDC providers without `max_age`).
    pub auth_time: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("the upstream identity has no usable subject")]
    MissingSubject,
}

/// A string claim, or a number rendered as a string (GitHub ids are numbers).
fn string_claim(claims: &Value, name: &str) -> Option<String> {
    match claims.get(name)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `true` or `"true"` (some providers send the string); anything else is unverified.
fn bool_claim(claims: &Value, name: &str) -> bool {
    match claims.get(name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// Maps verified claims to an identity. The subject is required and limited to 255 characters
/// (OIDC Core §2); an email that does not parse is dropped rather than trusted.
pub fn map_claims(provider: &str, claims: &Value, mapping: &ClaimMapping) -> Result<UpstreamIdentity, ClaimError> {
    let subject = string_claim(claims, &mapping.subject)
        .filter(|s| s.len() <= 255 && !s.chars().any(char::is_control))
        .ok_or(ClaimError::MissingSubject)?;
    let email = string_claim(claims, &mapping.email).and_then(|e| Email::parse(&e).ok());
    let email_verified = email.is_some() && bool_claim(claims, &mapping.email_verified);
    let name = string_claim(claims, &mapping.name)
        .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect::<String>())
        .filter(|n| !n.trim().is_empty());
    Ok(UpstreamIdentity { provider: provider.to_owned(), subject, email, email_verified, name, auth_time: None })
}

/// GitHub: the subject and name from `GET /user`; the email is the primary address from
/// `GET /user/emails` and counts as verified only when GitHub marks it `verified` (the public
/// `email` of `/user` is never trusted: it is whatever the user typed in their profile).
pub fn github_identity(
    provider: &str,
    user: &Value,
    emails: &Value,
    mapping: &ClaimMapping,
) -> Result<UpstreamIdentity, ClaimError> {
    let mut identity = map_claims(provider, user, mapping)?;
    let primary =
        emails.as_array().into_iter().flatten().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
    identity.email = primary.and_then(|e| string_claim(e, &mapping.email)).and_then(|e| Email::parse(&e).ok());
    identity.email_verified =
        identity.email.is_some() && primary.is_some_and(|e| bool_claim(e, &mapping.email_verified));
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn google_id_token_claims() {
        // The shape of a Google ID token (developers.google.com/identity/openid-connect).
        let claims = json!({
            "iss": "https://accounts.google.com", "azp": "cid", "aud": "cid",
            "sub": "110169484474386276334", "email": "Alice@Example.com", "email_verified": true,
            "name": "Alice Liddell", "iat": 1, "exp": 2
        });
        let id = map_claims("google", &claims, &ClaimMapping::default()).unwrap();
        assert_eq!(id.subject, "110169484474386276334");
        assert_eq!(id.email.as_ref().map(Email::key), Some("alice@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.name.as_deref(), Some("Alice Liddell"));
    }

    #[test]
    fn unverified_unless_said_so() {
        let m = ClaimMapping::default();
        for v in [json!(false), json!("false"), json!(1), Value::Null] {
            let id = map_claims("p", &json!({ "sub": "s", "email": "a@b.example", "email_verified": v }), &m).unwrap();
            assert!(!id.email_verified);
        }
        let id = map_claims("p", &json!({ "sub": "s", "email": "a@b.example", "email_verified": "true" }), &m).unwrap();
        assert!(id.email_verified);
        // No email: never "verified".
        let id = map_claims("p", &json!({ "sub": "s", "email_verified": true }), &m).unwrap();
        assert!(!id.email_verified && id.email.is_none());
    }

    #[test]
    fn subject_required() {
        let m = ClaimMapping::default();
        assert_eq!(map_claims("p", &json!({ "email": "a@b.example" }), &m), Err(ClaimError::MissingSubject));
        assert_eq!(map_claims("p", &json!({ "sub": "" }), &m), Err(ClaimError::MissingSubject));
        assert_eq!(map_claims("p", &json!({ "sub": "x".repeat(256) }), &m), Err(ClaimError::MissingSubject));
    }

    #[test]
    fn custom_mapping() {
        let m = ClaimMapping { subject: "oid".into(), email: "upn".into(), ..ClaimMapping::default() };
        let id = map_claims("entra", &json!({ "sub": "pairwise", "oid": "o-1", "upn": "u@corp.example" }), &m).unwrap();
        assert_eq!(id.subject, "o-1");
        assert_eq!(id.email.unwrap().as_str(), "u@corp.example");
    }

    #[test]
    fn microsoft_email_verified_only_with_xms_edov() {
        // Entra ID v2.0 ID token with the optional claims `email` and `xms_edov` enabled.
        let m = ClaimMapping::microsoft();
        let base = json!({ "sub": "AAAA-pairwise", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                           "email": "alice@contoso.example", "name": "Alice" });
        let mut with = base.clone();
        with["xms_edov"] = json!(true);
        assert!(map_claims("microsoft", &with, &m).unwrap().email_verified);
        // No `xms_edov` (the claim is not enabled): unverified, whatever `email_verified` says.
        assert!(!map_claims("microsoft", &base, &m).unwrap().email_verified);
        let mut spoof = base.clone();
        spoof["email_verified"] = json!(true);
        assert!(!map_claims("microsoft", &spoof, &m).unwrap().email_verified);
        with["xms_edov"] = json!(false);
        assert!(!map_claims("microsoft", &with, &m).unwrap().email_verified);
    }

    #[test]
    fn github_user_and_emails() {
        // Shapes from docs.github.com REST "Get the authenticated user" / "List email addresses".
        let user =
            json!({ "login": "octocat", "id": 583231, "name": "The Octocat", "email": "public@profile.example" });
        let emails = json!([
            { "email": "octocat@github.example", "verified": true, "primary": true, "visibility": "public" },
            { "email": "other@x.example", "verified": true, "primary": false, "visibility": null }
        ]);
        let id = github_identity("github", &user, &emails, &ClaimMapping::github()).unwrap();
        assert_eq!(id.subject, "583231");
        assert_eq!(id.email.as_ref().map(Email::as_str), Some("octocat@github.example"));
        assert!(id.email_verified);
        assert_eq!(id.name.as_deref(), Some("The Octocat"));

        let unverified = json!([{ "email": "octocat@github.example", "verified": false, "primary": true }]);
        let id = github_identity("github", &user, &unverified, &ClaimMapping::github()).unwrap();
        assert!(!id.email_verified);
        // No primary address: no email at all (the profile's public email is not trusted).
        let id = github_identity("github", &user, &json!([]), &ClaimMapping::github()).unwrap();
        assert!(id.email.is_none());
    }
}
