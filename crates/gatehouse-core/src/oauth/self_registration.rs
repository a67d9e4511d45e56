//! Client self-registration: the policy every self-registered client must fit (redirect URI
//! schemes and hosts, grant types, scopes), client metadata as RFC 7591 §2 defines it, the
//! storage of initial access tokens (§3) and of first use (for the sweeper of unused
//! registrations). The endpoints' rules are in `dynamic_registration`; Client ID Metadata
//! Documents in `metadata_document`.

use async_trait::async_trait;
use serde_json::{Map, Value, json};
use url::Url;

use super::client::{Client, ClientRegistration, GrantType};
use super::redirect::RedirectUri;
use super::scope::Scope;
use crate::clock::UnixTime;
use crate::store::StoreError;

/// Storage of what self-registration adds to clients.
#[async_trait]
pub trait SelfRegistrationStore: Send + Sync {
    /// Stores an operator-issued initial access token (RFC 7591 §3), by its SHA-256.
    async fn insert_initial_access_token(
        &self,
        token_hash: &[u8],
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether a token with this SHA-256 exists and has not expired at `now`.
    async fn initial_access_token_valid(&self, token_hash: &[u8], now: UnixTime) -> Result<bool, StoreError>;
    /// Records the first use of a client (a no-op once recorded).
    async fn mark_client_used(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError>;
    /// Self-registered clients created before `created_before` that were never used.
    async fn unused_registrations(&self, created_before: UnixTime) -> Result<Vec<String>, StoreError>;
}

/// What a self-registered client may ask for. Configured by the operator; `open` and
/// `initial_access_token` registrations (RFC 7591) and metadata documents share it.
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    /// Schemes a redirect URI may use (on top of the general rules: https, or http on loopback).
    pub allowed_redirect_schemes: Vec<String>,
    /// Hosts a redirect URI may name: exact names, or `*.example.com` for any subdomain. Empty:
    /// any host.
    pub allowed_redirect_hosts: Vec<String>,
    pub allowed_grant_types: Vec<GrantType>,
    /// Scopes a self-registered client may be given; also what one gets when it asks for none.
    pub allowed_scopes: Vec<String>,
    /// Seconds after which a self-registered client that was never used is deleted (0: never).
    pub unused_lifetime: i64,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            allowed_redirect_schemes: vec!["https".into(), "http".into()],
            allowed_redirect_hosts: Vec::new(),
            allowed_grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            allowed_scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
            unused_lifetime: 30 * 86_400,
        }
    }
}

/// RFC 7591 §3.2.2 error codes (and what they are about).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// `invalid_redirect_uri`: a redirect URI is malformed or not allowed by the policy.
    #[error("{0}")]
    RedirectUri(String),
    /// `invalid_client_metadata`: any other field.
    #[error("{0}")]
    Metadata(String),
    /// `invalid_software_statement`: software statements are not supported.
    #[error("software statements are not supported by this server")]
    SoftwareStatement,
}

impl MetadataError {
    /// The RFC 7591 §3.2.2 `error` value.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RedirectUri(_) => "invalid_redirect_uri",
            Self::Metadata(_) => "invalid_client_metadata",
            Self::SoftwareStatement => "invalid_software_statement",
        }
    }
}

fn bad(m: impl Into<String>) -> MetadataError {
    MetadataError::Metadata(m.into())
}

/// Client metadata (RFC 7591 §2) as a self-registered client asks for it, checked against the
/// policy. Fields Gatehouse does not use (logo_uri, contacts, ...) are ignored, and the
/// response lists only what was registered (§3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub client_name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub auth_method: super::AuthMethod,
    pub scopes: Vec<String>,
}

/// Fields that would let a self-registered client claim trust it has not earned: always refused.
const PRIVILEGED_FIELDS: &[&str] = &["skip_consent", "require_mfa", "cors_origins", "access_token_lifetime"];

impl ClientMetadata {
    /// RFC 7591 §2: parses and checks `metadata` against `policy`. `allowed_methods` are the
    /// `token_endpoint_auth_method`s this kind of registration may use; the first is the
    /// default.
    pub fn parse(
        metadata: &Value,
        policy: &RegistrationPolicy,
        allowed_methods: &[super::AuthMethod],
    ) -> Result<Self, MetadataError> {
        let obj = metadata.as_object().ok_or_else(|| bad("the client metadata must be a JSON object"))?;
        if obj.contains_key("software_statement") {
            return Err(MetadataError::SoftwareStatement);
        }
        if let Some(f) = PRIVILEGED_FIELDS.iter().find(|f| obj.contains_key(**f)) {
            return Err(bad(format!("{f} cannot be set by a self-registered client")));
        }
        let client_name = optional_string(obj, "client_name")?;
        if let Some(n) = &client_name
            && (n.trim().is_empty()
                || n.chars().count() > 100
                || n.chars().any(|c| c.is_control() || crate::account::is_invisible_format(c)))
        {
            // Shown on the consent page: no bidi overrides or zero-width characters to spoof it.
            return Err(bad("client_name must be 1 to 100 characters without control or invisible characters"));
        }
        let redirect_uris = string_array(obj, "redirect_uris")?.unwrap_or_default();
        for (i, uri) in redirect_uris.iter().enumerate() {
            check_redirect_uri(uri, policy)
                .map_err(|why| MetadataError::RedirectUri(format!("redirect_uris[{i}] {why}")))?;
        }
        // §2: the default grant type is authorization_code, the default response type code.
        let grant_names = string_array(obj, "grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
        let mut grant_types = Vec::new();
        for name in &grant_names {
            let g = GrantType::parse(name)
                .ok_or_else(|| bad("grant_types names a grant type this server does not support"))?;
            if !policy.allowed_grant_types.contains(&g) {
                return Err(bad(format!("the grant type {} is not allowed for self-registered clients", g.as_str())));
            }
            if !grant_types.contains(&g) {
                grant_types.push(g);
            }
        }
        let response_types = string_array(obj, "response_types")?;
        let wants_code = grant_types.contains(&GrantType::AuthorizationCode);
        // §2.1: response_types and grant_types must agree (code <-> authorization_code).
        match response_types.as_deref() {
            None => {}
            Some([]) if !wants_code => {}
            Some([one]) if one == "code" && wants_code => {}
            Some(_) => {
                return Err(bad(
                    "response_types must be [\"code\"] with the authorization_code grant and empty without it \
                     (RFC 7591 section 2.1)",
                ));
            }
        }
        if wants_code && redirect_uris.is_empty() {
            return Err(MetadataError::RedirectUri("the authorization_code grant needs redirect_uris".into()));
        }
        let method = optional_string(obj, "token_endpoint_auth_method")?;
        let auth_method = match method.as_deref() {
            None => allowed_methods.first().copied().ok_or_else(|| bad("no authentication method is allowed"))?,
            Some(m) => super::AuthMethod::parse(m)
                .filter(|m| allowed_methods.contains(m))
                .ok_or_else(|| bad("token_endpoint_auth_method is not supported for self-registered clients"))?,
        };
        let scopes = match optional_string(obj, "scope")? {
            None => policy.allowed_scopes.clone(),
            Some(s) => {
                let scope = Scope::parse(&s).map_err(|_| bad("scope is not a valid list of scope tokens"))?;
                if !scope.is_subset_of(&policy.allowed_scopes) || scope.iter().any(super::is_privileged) {
                    return Err(bad("scope asks for more than self-registered clients may have"));
                }
                scope.into_vec()
            }
        };
        Ok(Self { client_name, redirect_uris, grant_types, auth_method, scopes })
    }

    /// The operator-level registration these metadata amount to (checked once more there).
    pub(super) fn registration(&self, default_name: &str) -> ClientRegistration {
        ClientRegistration {
            name: self.client_name.clone().unwrap_or_else(|| default_name.to_owned()),
            public: self.auth_method == super::AuthMethod::None,
            redirect_uris: self.redirect_uris.clone(),
            grant_types: self.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            scopes: self.scopes.clone(),
            auth_method: Some(self.auth_method.as_str().to_owned()),
            ..ClientRegistration::default()
        }
    }
}

/// RFC 7591 §3.2.1: the registered metadata of `client`, as the client sees it.
pub fn registered_metadata(client: &Client) -> Map<String, Value> {
    let code = client.allows_grant(GrantType::AuthorizationCode);
    let mut m = Map::new();
    m.insert("client_id".into(), json!(client.id));
    m.insert("client_id_issued_at".into(), json!(client.created_at));
    m.insert("client_name".into(), json!(client.name));
    m.insert("redirect_uris".into(), json!(client.redirect_uris));
    m.insert("grant_types".into(), json!(client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>()));
    m.insert("response_types".into(), json!(if code { vec!["code"] } else { vec![] }));
    m.insert("token_endpoint_auth_method".into(), json!(client.auth_method.as_str()));
    m.insert("scope".into(), json!(client.scopes.join(" ")));
    m
}

/// The general redirect rules, then the policy's schemes and hosts. The reason never quotes
/// the URI (it is the requester's input).
fn check_redirect_uri(uri: &str, policy: &RegistrationPolicy) -> Result<(), String> {
    RedirectUri::register(uri).map_err(|e| e.to_string())?;
    let url = Url::parse(uri).map_err(|_| "must be an absolute URL".to_owned())?;
    if !policy.allowed_redirect_schemes.iter().any(|s| s == url.scheme()) {
        return Err("uses a scheme that self-registered clients may not use".into());
    }
    let host = url.host_str().unwrap_or_default();
    if !policy.allowed_redirect_hosts.is_empty() && !policy.allowed_redirect_hosts.iter().any(|h| host_matches(h, host))
    {
        return Err("names a host that self-registered clients may not use".into());
    }
    Ok(())
}

/// `pattern` is a host name, or `*.example.com` for any strict subdomain of example.com.
fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(parent) => {
            host.len() > parent.len() + 1 && host.ends_with(parent) && host[..host.len() - parent.len()].ends_with('.')
        }
        None => pattern.eq_ignore_ascii_case(host),
    }
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, MetadataError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{key} must be a string"))),
    }
}

fn string_array(obj: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, MetadataError> {
    let err = || bad(format!("{key} must be an array of strings (at most 20)"));
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if items.len() <= 20 => {
            items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(err)).collect::<Result<_, _>>().map(Some)
        }
        Some(_) => Err(err()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::AuthMethod;
    use super::*;

    const PUBLIC: &[AuthMethod] = &[AuthMethod::None];

    fn parse(v: Value) -> Result<ClientMetadata, MetadataError> {
        ClientMetadata::parse(&v, &RegistrationPolicy::default(), &[AuthMethod::ClientSecretBasic, AuthMethod::None])
    }

    #[test]
    fn defaults_follow_rfc_7591_section_2() {
        let m = parse(json!({"redirect_uris": ["https://app.example.com/cb"]})).unwrap();
        assert_eq!(m.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(m.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.scopes, RegistrationPolicy::default().allowed_scopes);
    }

    #[test]
    fn client_names_cannot_hide_or_reorder_text() {
        for name in ["Good\u{202E}tneilC", "Zero\u{200B}width", "Line\nbreak", "  "] {
            let r = parse(json!({"redirect_uris": ["https://app.example.com/cb"], "client_name": name}));
            assert_eq!(r.unwrap_err().code(), "invalid_client_metadata", "{name:?}");
        }
        let ok = parse(json!({"redirect_uris": ["https://app.example.com/cb"], "client_name": "Café Agent"}));
        assert_eq!(ok.unwrap().client_name.as_deref(), Some("Café Agent"));
    }

    #[test]
    fn rfc_7591_section_3_2_2_error_codes() {
        let redirect = parse(json!({"redirect_uris": ["javascript:alert(1)"]})).unwrap_err();
        assert_eq!(redirect.code(), "invalid_redirect_uri");
        assert!(!redirect.to_string().contains("alert"), "never quotes the input");
        let grant = parse(json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}));
        assert_eq!(grant.unwrap_err().code(), "invalid_client_metadata");
        let scope = parse(json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid gatehouse:admin"}));
        assert_eq!(scope.unwrap_err().code(), "invalid_client_metadata");
        let types = parse(json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}));
        assert_eq!(types.unwrap_err().code(), "invalid_client_metadata");
        assert_eq!(parse(json!({"software_statement": "x"})).unwrap_err().code(), "invalid_software_statement");
        assert_eq!(
            parse(json!({"redirect_uris": "https://a.example/cb"})).unwrap_err().code(),
            "invalid_client_metadata"
        );
        assert!(parse(json!({"redirect_uris": ["https://a.example/cb"], "skip_consent": true})).is_err());
        let pkjwt = ClientMetadata::parse(
            &json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            &RegistrationPolicy::default(),
            PUBLIC,
        );
        assert_eq!(pkjwt.unwrap_err().code(), "invalid_client_metadata");
    }

    #[test]
    fn redirect_host_policy() {
        let policy = RegistrationPolicy {
            allowed_redirect_hosts: vec!["*.example.com".into(), "127.0.0.1".into()],
            ..RegistrationPolicy::default()
        };
        let p = |uri: &str| ClientMetadata::parse(&json!({"redirect_uris": [uri]}), &policy, PUBLIC);
        assert!(p("https://app.example.com/cb").is_ok());
        assert!(p("http://127.0.0.1:8080/cb").is_ok());
        for refused in ["https://example.com/cb", "https://evil-example.com/cb", "https://app.example.com.evil.test/cb"]
        {
            assert_eq!(p(refused).unwrap_err().code(), "invalid_redirect_uri", "{refused}");
        }
        let https_only = RegistrationPolicy { allowed_redirect_schemes: vec!["https".into()], ..policy };
        let http = ClientMetadata::parse(&json!({"redirect_uris": ["http://127.0.0.1:8080/cb"]}), &https_only, PUBLIC);
        assert_eq!(http.unwrap_err().code(), "invalid_redirect_uri");
    }
}
