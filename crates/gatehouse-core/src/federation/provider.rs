//! Upstream provider configurations: a generic OpenID Connect provider (issuer URL, found by
//! OpenID Connect Discovery 1.0 §4), presets for Google and Microsoft (Entra ID), and GitHub as
//! plain OAuth 2.0 (RFC 6749 §4.1; no ID token, identity from its REST API).

use super::claims::ClaimMapping;

/// The kinds of upstream we know how to talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenID Connect provider, configured by its issuer URL.
    Oidc,
    /// OpenID Connect, issuer `https://accounts.google.com`.
    Google,
    /// OpenID Connect on the Microsoft identity platform (v2.0 endpoints).
    Microsoft,
    /// OAuth 2.0 without OpenID Connect: identity from `GET /user` and `GET /user/emails`.
    GitHub,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oidc" => Some(Self::Oidc),
            "google" => Some(Self::Google),
            "microsoft" => Some(Self::Microsoft),
            "github" => Some(Self::GitHub),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Google => "google",
            Self::Microsoft => "microsoft",
            Self::GitHub => "github",
        }
    }

    /// Whether the provider issues ID tokens (and so gets a `nonce` and ID token validation).
    pub fn is_oidc(self) -> bool {
        !matches!(self, Self::GitHub)
    }
}

/// How the `iss` of an ID token is checked (OIDC Core §3.1.3.7 step 2: exact match with the
/// issuer from discovery). The one documented exception is Microsoft's multi-tenant endpoints,
/// whose discovery document names the issuer as a template with a `{tenantid}` placeholder:
/// there the `iss` must be that template with the token's own `tid` claim filled in
/// (Microsoft identity platform, "Validate the issuer").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerRule {
    Exact(String),
    MicrosoftTenant { template: String },
}

/// The placeholder in Microsoft's multi-tenant issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

impl IssuerRule {
    /// Whether the `issuer` of the discovery document is the one this rule expects
    /// (OpenID Connect Discovery 1.0 §4.3: identical to the issuer we expect). That is the
    /// rule's issuer, not the URL we discovered from: Microsoft's `consumers` endpoint is
    /// discovered at `/consumers/v2.0` but names the fixed consumers tenant as its issuer.
    pub fn accepts_discovered(&self, discovered: &str) -> bool {
        match self {
            Self::Exact(expected) => discovered == expected,
            Self::MicrosoftTenant { template } => discovered == template,
        }
    }

    /// Whether an ID token's `iss` (with its `tid` claim, if any) is acceptable.
    pub fn accepts_token(&self, iss: &str, tid: Option<&str>) -> bool {
        match self {
            Self::Exact(expected) => iss == expected,
            Self::MicrosoftTenant { template } => {
                tid.filter(|t| is_guid(t)).is_some_and(|t| iss == template.replace(TENANT_PLACEHOLDER, t))
            }
        }
    }

    /// RFC 9207 §2.4: the `iss` parameter of an authorization response must be the issuer we
    /// sent the user to (for the tenant template: that template with some tenant id in it).
    pub fn accepts_response_iss(&self, iss: &str) -> bool {
        match self {
            Self::Exact(expected) => iss == expected,
            Self::MicrosoftTenant { template } => template.split_once(TENANT_PLACEHOLDER).is_some_and(|(pre, post)| {
                iss.strip_prefix(pre).and_then(|rest| rest.strip_suffix(post)).is_some_and(is_guid)
            }),
        }
    }

    /// An exact issuer the library verifier can check itself; `None` for a template.
    pub fn exact(&self) -> Option<&str> {
        match self {
            Self::Exact(s) => Some(s),
            Self::MicrosoftTenant { .. } => None,
        }
    }
}

/// A GUID in its canonical 8-4-4-4-12 hex form (a Microsoft tenant id).
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderConfigError {
    #[error("provider id {0:?} must be 1..=32 characters of a-z, 0-9, '-' or '_'")]
    BadId(String),
    #[error("provider {id}: unknown kind {kind:?} (expected oidc, google, microsoft or github)")]
    UnknownKind { id: String, kind: String },
    #[error("provider {0}: `issuer` is required for kind = \"oidc\"")]
    MissingIssuer(String),
    #[error("provider {0}: `issuer` must be an https URL (http only on loopback), without query or fragment")]
    BadIssuer(String),
    #[error("provider {0}: `client_id` is required")]
    MissingClientId(String),
    #[error("provider {0}: `tenant` must be common, organizations, consumers or a tenant id (GUID)")]
    BadTenant(String),
    #[error("provider {0}: scopes must include `openid` for an OpenID Connect provider")]
    MissingOpenidScope(String),
}

/// What an operator wrote for one provider (`[[federation.providers]]`), before presets apply.
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    pub id: String,
    pub kind: String,
    pub display_name: Option<String>,
    pub issuer: Option<String>,
    pub tenant: Option<String>,
    pub client_id: String,
    pub scopes: Option<Vec<String>>,
    pub claims: Option<ClaimMapping>,
    /// GitHub only: the web and API base URLs (GitHub Enterprise Server, or tests).
    pub github_web_url: Option<String>,
    pub github_api_url: Option<String>,
}

/// A provider, presets applied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    pub display_name: String,
    /// The issuer we discover from (OIDC) — for GitHub, its web base URL.
    pub issuer: String,
    pub issuer_rule: IssuerRule,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub claims: ClaimMapping,
    /// GitHub only: `<api>/user` and `<api>/user/emails`.
    pub api_url: Option<String>,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const MICROSOFT_LOGIN: &str = "https://login.microsoftonline.com";
/// Microsoft's tenant of personal accounts: `consumers` discovery names it in its issuer.
const MICROSOFT_CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

impl ProviderConfig {
    pub fn build(input: ProviderInput) -> Result<Self, ProviderConfigError> {
        let id = input.id.clone();
        let id_ok = (1..=32).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(ProviderConfigError::BadId(id));
        }
        let kind = ProviderKind::parse(&input.kind)
            .ok_or_else(|| ProviderConfigError::UnknownKind { id: id.clone(), kind: input.kind.clone() })?;
        if input.client_id.trim().is_empty() {
            return Err(ProviderConfigError::MissingClientId(id));
        }
        let (issuer, issuer_rule, default_name) = match kind {
            ProviderKind::Oidc => {
                let issuer = input.issuer.clone().ok_or_else(|| ProviderConfigError::MissingIssuer(id.clone()))?;
                (issuer.clone(), IssuerRule::Exact(issuer), id.clone())
            }
            ProviderKind::Google => {
                (GOOGLE_ISSUER.to_owned(), IssuerRule::Exact(GOOGLE_ISSUER.to_owned()), "Google".into())
            }
            ProviderKind::Microsoft => {
                let (issuer, rule) = microsoft_issuer(input.tenant.as_deref().unwrap_or("common"))
                    .ok_or_else(|| ProviderConfigError::BadTenant(id.clone()))?;
                (issuer, rule, "Microsoft".into())
            }
            ProviderKind::GitHub => {
                let web = input.github_web_url.clone().unwrap_or_else(|| "https://github.com".into());
                (web.clone(), IssuerRule::Exact(web), "GitHub".into())
            }
        };
        if !acceptable_url(&issuer) {
            return Err(ProviderConfigError::BadIssuer(id));
        }
        let scopes = input.scopes.clone().unwrap_or_else(|| match kind {
            ProviderKind::GitHub => vec!["read:user".into(), "user:email".into()],
            _ => vec!["openid".into(), "email".into(), "profile".into()],
        });
        if kind.is_oidc() && !scopes.iter().any(|s| s == "openid") {
            return Err(ProviderConfigError::MissingOpenidScope(id));
        }
        let api_url = (kind == ProviderKind::GitHub)
            .then(|| input.github_api_url.clone().unwrap_or_else(|| "https://api.github.com".into()));
        if api_url.as_deref().is_some_and(|u| !acceptable_url(u)) {
            return Err(ProviderConfigError::BadIssuer(id));
        }
        let claims = input.claims.clone().unwrap_or_else(|| match kind {
            ProviderKind::GitHub => ClaimMapping::github(),
            ProviderKind::Microsoft => ClaimMapping::microsoft(),
            _ => ClaimMapping::default(),
        });
        Ok(Self {
            display_name: input.display_name.clone().unwrap_or(default_name),
            id,
            kind,
            issuer,
            issuer_rule,
            client_id: input.client_id,
            scopes,
            claims,
            api_url,
        })
    }

    /// The callback to register at the provider: `<our issuer>/login/<id>/callback`.
    pub fn redirect_uri(&self, our_issuer: &str) -> String {
        format!("{}/login/{}/callback", our_issuer.trim_end_matches('/'), self.id)
    }
}

/// The discovery issuer and the rule for a Microsoft tenant setting.
fn microsoft_issuer(tenant: &str) -> Option<(String, IssuerRule)> {
    let template = format!("{MICROSOFT_LOGIN}/{TENANT_PLACEHOLDER}/v2.0");
    match tenant {
        "common" | "organizations" => {
            Some((format!("{MICROSOFT_LOGIN}/{tenant}/v2.0"), IssuerRule::MicrosoftTenant { template }))
        }
        "consumers" => {
            let issuer = format!("{MICROSOFT_LOGIN}/{MICROSOFT_CONSUMERS_TENANT}/v2.0");
            // Discovery at /consumers names the fixed consumers tenant as its issuer.
            Some((format!("{MICROSOFT_LOGIN}/consumers/v2.0"), IssuerRule::Exact(issuer)))
        }
        t if is_guid(t) => {
            let issuer = format!("{MICROSOFT_LOGIN}/{}/v2.0", t.to_ascii_lowercase());
            Some((issuer.clone(), IssuerRule::Exact(issuer)))
        }
        _ => None,
    }
}

/// https, or http on a loopback host (development and tests); no query, no fragment.
fn acceptable_url(s: &str) -> bool {
    let Ok(u) = url::Url::parse(s) else { return false };
    is_https_or_loopback(&u) && u.query().is_none() && u.fragment().is_none()
}

/// An upstream endpoint we send secrets to or fetch keys from: https, or http on a loopback
/// host only (development and tests). Applies to the issuer and to the token, JWKS and
/// UserInfo endpoints a discovery document names.
pub fn is_https_or_loopback(u: &url::Url) -> bool {
    let loopback = matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || u.host_str() == Some("localhost");
    u.scheme() == "https" || (u.scheme() == "http" && loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> ProviderInput {
        ProviderInput { id: kind.into(), kind: kind.into(), client_id: "cid".into(), ..ProviderInput::default() }
    }

    #[test]
    fn google_preset() {
        let p = ProviderConfig::build(input("google")).unwrap();
        assert_eq!(p.kind, ProviderKind::Google);
        assert_eq!(p.issuer, "https://accounts.google.com");
        assert_eq!(p.issuer_rule, IssuerRule::Exact("https://accounts.google.com".into()));
        assert_eq!(p.scopes, ["openid", "email", "profile"]);
        assert_eq!(p.claims, ClaimMapping::default());
        assert_eq!(p.display_name, "Google");
        assert_eq!(p.redirect_uri("https://id.example/"), "https://id.example/login/google/callback");
    }

    #[test]
    fn github_preset() {
        let p = ProviderConfig::build(input("github")).unwrap();
        assert!(!p.kind.is_oidc());
        assert_eq!(p.issuer, "https://github.com");
        assert_eq!(p.api_url.as_deref(), Some("https://api.github.com"));
        assert_eq!(p.scopes, ["read:user", "user:email"]);
        assert_eq!(p.claims, ClaimMapping::github());
    }

    #[test]
    fn microsoft_tenants() {
        let common = ProviderConfig::build(input("microsoft")).unwrap();
        assert_eq!(common.issuer, "https://login.microsoftonline.com/common/v2.0");
        let tid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let good = format!("https://login.microsoftonline.com/{tid}/v2.0");
        assert!(common.issuer_rule.accepts_token(&good, Some(tid)));
        // The tid must be the one in the issuer, and must be a GUID.
        assert!(!common.issuer_rule.accepts_token(&good, Some("00000000-0000-0000-0000-000000000000")));
        assert!(!common.issuer_rule.accepts_token(&good, None));
        assert!(!common.issuer_rule.accepts_token("https://login.microsoftonline.com/x/v2.0", Some("x")));
        assert!(common.issuer_rule.accepts_discovered("https://login.microsoftonline.com/{tenantid}/v2.0"));
        assert!(!common.issuer_rule.accepts_discovered("https://evil.example/{tenantid}/v2.0"));
        assert!(common.issuer_rule.accepts_response_iss(&good));
        assert!(!common.issuer_rule.accepts_response_iss("https://login.microsoftonline.com/evil/v2.0"));
        assert!(!common.issuer_rule.accepts_response_iss("https://evil.example/v2.0"));

        assert_eq!(common.claims.email_verified, "xms_edov");

        let single =
            ProviderConfig::build(ProviderInput { tenant: Some(tid.to_uppercase()), ..input("microsoft") }).unwrap();
        assert_eq!(single.issuer_rule, IssuerRule::Exact(good.clone()));
        assert!(single.issuer_rule.accepts_token(&good, Some(tid)));

        // `consumers` is discovered at /consumers/v2.0, whose document (and tokens) name the fixed
        // consumers tenant as the issuer (Discovery 1.0 §4.3 compares against that issuer).
        let consumers =
            ProviderConfig::build(ProviderInput { tenant: Some("consumers".into()), ..input("microsoft") }).unwrap();
        assert_eq!(consumers.issuer, "https://login.microsoftonline.com/consumers/v2.0");
        let consumers_iss = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
        assert!(consumers.issuer_rule.accepts_discovered(consumers_iss));
        assert!(!consumers.issuer_rule.accepts_discovered(&consumers.issuer));
        assert!(consumers.issuer_rule.accepts_token(consumers_iss, Some("9188040d-6c67-4c5b-b112-36a304b66dad")));
        assert!(consumers.issuer_rule.accepts_response_iss(consumers_iss));

        let bad = ProviderConfig::build(ProviderInput { tenant: Some("../evil".into()), ..input("microsoft") });
        assert_eq!(bad, Err(ProviderConfigError::BadTenant("microsoft".into())));
    }

    #[test]
    fn generic_oidc_needs_issuer_and_openid_scope() {
        assert!(matches!(ProviderConfig::build(input("oidc")), Err(ProviderConfigError::MissingIssuer(_))));
        let with = |issuer: &str| ProviderInput { issuer: Some(issuer.into()), ..input("oidc") };
        assert!(ProviderConfig::build(with("https://op.example")).is_ok());
        assert!(ProviderConfig::build(with("http://127.0.0.1:9000")).is_ok());
        assert!(matches!(ProviderConfig::build(with("http://op.example")), Err(ProviderConfigError::BadIssuer(_))));
        assert!(matches!(
            ProviderConfig::build(with("https://op.example/?x=1")),
            Err(ProviderConfigError::BadIssuer(_))
        ));
        let no_openid = ProviderInput { scopes: Some(vec!["email".into()]), ..with("https://op.example") };
        assert!(matches!(ProviderConfig::build(no_openid), Err(ProviderConfigError::MissingOpenidScope(_))));
    }

    #[test]
    fn ids_are_url_safe() {
        for bad in ["", "Google", "a/b", "a b", &"x".repeat(33)] {
            let r = ProviderConfig::build(ProviderInput { id: bad.into(), ..input("google") });
            assert!(matches!(r, Err(ProviderConfigError::BadId(_))), "{bad:?}");
        }
        assert!(matches!(
            ProviderConfig::build(ProviderInput { kind: "saml".into(), ..input("google") }),
            Err(ProviderConfigError::UnknownKind { .. })
        ));
    }
}
