//! OAuth clients (RFC 6749 §2): registration rules, the stored record, and client secrets.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::client_jwks::ClientJwks;
use super::redirect::{RedirectError, RedirectUri};
use super::scope::{Scope, ScopeError};
use crate::clock::UnixTime;
use crate::random::{self, RandomError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628 §3.4: the device authorization grant (CLIs, TVs: input-constrained devices).
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

/// RFC 8628 §3.4: the `grant_type` value of the device authorization grant.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => DEVICE_CODE_GRANT,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::AuthorizationCode, Self::RefreshToken, Self::ClientCredentials, Self::DeviceCode]
            .into_iter()
            .find(|g| g.as_str() == s)
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method` values we support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2, OIDC Core §9).
    PrivateKeyJwt,
    /// Public clients: no authentication, PKCE instead.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::ClientSecretBasic, Self::ClientSecretPost, Self::PrivateKeyJwt, Self::None]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// A registered client. `client_secret_*` clients have a secret hash, `private_key_jwt` clients
/// a JWK Set; public ones neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub name: String,
    /// SHA-256 of the secret (a 256-bit random value: no salt or slow hash needed).
    pub secret_hash: Option<Vec<u8>>,
    pub auth_method: AuthMethod,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub cors_origins: Vec<String>,
    /// First-party clients skip the consent page.
    pub skip_consent: bool,
    /// Seconds; `None` means the server default.
    pub access_token_lifetime: Option<i64>,
    pub created_at: UnixTime,
    /// The public keys of a `private_key_jwt` client; `None` for every other method.
    pub jwks: Option<ClientJwks>,
    /// Every sign-in for this client must be multi-factor (`urn:gatehouse:acr:mfa`): a user
    /// without a second factor gets no code, and refresh needs a family signed in so.
    pub require_mfa: bool,
    /// RFC 9126 §6: this client's authorization requests must be pushed (PAR) first; a plain
    /// authorization request is refused with `invalid_request`.
    pub require_pushed_authorization_requests: bool,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed when a
    /// session this client signed in to ends (`None`: the client is not told).
    pub backchannel_logout_uri: Option<String>,
    /// §2.2 `backchannel_logout_session_required`: its logout tokens must carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of this client must carry
    /// a DPoP proof (refused with `invalid_dpop_proof` otherwise).
    pub dpop_bound_access_tokens: bool,
    /// Secret rotation, disabling and the optimistic-concurrency revision.
    pub lifecycle: ClientLifecycle,
}

/// What changes over a client's life besides its settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientLifecycle {
    /// Bumped by every stored change: an update made from an older read is refused.
    pub revision: i64,
    /// When the current secret was issued by a rotation (`None`: the registration's secret).
    pub secret_rotated_at: Option<UnixTime>,
    /// SHA-256 of the secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<UnixTime>,
    /// A disabled client gets no tokens, and the tokens it holds stop working (until enabled).
    pub disabled_at: Option<UnixTime>,
    /// Who registered the client: an operator, the client itself (RFC 7591), or its Client ID
    /// Metadata Document.
    pub registration: RegistrationKind,
    /// SHA-256 of the RFC 7592 registration access token of a self-registered client.
    pub registration_token_hash: Option<Vec<u8>>,
    /// When a metadata-document client's fetched document must be fetched again.
    pub metadata_expires_at: Option<UnixTime>,
    /// When the client first authenticated at the token endpoint (only kept for self-registered
    /// clients; read from the store, never written by an update: see
    /// `SelfRegistrationStore::mark_client_used`).
    pub first_used_at: Option<UnixTime>,
}

/// How a client came to be registered (the admin API shows it; the consent page warns about
/// self-registered ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationKind {
    /// By an operator (admin API, console, CLI).
    #[default]
    Admin,
    /// By the client itself at the registration endpoint (RFC 7591).
    Dynamic,
    /// From a Client ID Metadata Document at the URL that is its client_id.
    MetadataDocument,
}

impl RegistrationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Dynamic => "dynamic",
            Self::MetadataDocument => "metadata_document",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Dynamic, Self::MetadataDocument].into_iter().find(|k| k.as_str() == s)
    }

    /// Registered by the client itself, so nobody has checked who runs it.
    pub fn is_self_registered(self) -> bool {
        self != Self::Admin
    }
}

/// The longest overlap of a secret rotation: 30 days.
pub const MAX_SECRET_OVERLAP: i64 = 30 * 86_400;
/// The overlap of a rotation that names none: one day.
pub const DEFAULT_SECRET_OVERLAP: i64 = 86_400;

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    pub fn allows_grant(&self, g: GrantType) -> bool {
        self.grant_types.contains(&g)
    }

    pub fn is_disabled(&self) -> bool {
        self.lifecycle.disabled_at.is_some()
    }

    /// This client as `described` says it is (name, redirect URIs, grant types, scopes: what a
    /// self-registered client states about itself, by RFC 7592 update or metadata document);
    /// everything an operator or Gatehouse set on it (disabled, MFA, PAR, DPoP, back-channel
    /// logout, lifetimes, secret, lifecycle) stays.
    pub fn redescribed(self, described: Client) -> Client {
        Client {
            name: described.name,
            redirect_uris: described.redirect_uris,
            grant_types: described.grant_types,
            scopes: described.scopes,
            ..self
        }
    }

    /// Whether the client authenticates with a secret (`client_secret_basic` or `_post`).
    pub fn uses_secret(&self) -> bool {
        matches!(self.auth_method, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
    }

    /// Constant-time check of a presented secret: the current one, or the one before the last
    /// rotation while its overlap lasts (`now` is the server's clock). Both are compared always.
    pub fn secret_matches(&self, presented: &str, now: UnixTime) -> bool {
        let digest = Sha256::digest(presented.as_bytes());
        let matches = |h: &Option<Vec<u8>>| match h {
            Some(h) => digest.as_slice().ct_eq(h),
            None => subtle::Choice::from(0),
        };
        let current = matches(&self.secret_hash);
        let previous = matches(&self.lifecycle.previous_secret_hash);
        let in_overlap = self.lifecycle.previous_secret_expires_at.is_some_and(|until| now < until);
        bool::from(current | (previous & subtle::Choice::from(u8::from(in_overlap))))
    }

    /// A new secret replaces the current one, which keeps working for `overlap` more seconds
    /// (0: it dies now; an older previous secret always dies). The new secret is shown once.
    pub fn rotate_secret(&mut self, overlap: i64, now: UnixTime) -> Result<ClientSecret, RegistrationError> {
        if !self.uses_secret() {
            return Err(RegistrationError::Invalid(
                "only clients that authenticate with a secret (client_secret_basic or client_secret_post) have one \
                 to rotate",
            ));
        }
        if !(0..=MAX_SECRET_OVERLAP).contains(&overlap) {
            return Err(RegistrationError::Invalid("overlap_seconds must be 0 to 2592000 (30 days)"));
        }
        let secret = ClientSecret::generate().map_err(|_| RegistrationError::Invalid("randomness failed"))?;
        let old = self.secret_hash.replace(secret.hash());
        let keep = overlap > 0 && old.is_some();
        self.lifecycle.previous_secret_hash = if keep { old } else { None };
        self.lifecycle.previous_secret_expires_at = keep.then_some(now + overlap);
        self.lifecycle.secret_rotated_at = Some(now);
        Ok(secret)
    }
}

/// A client secret as shown once on creation.
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self(SecretString::from(random::token()?)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.expose_secret().as_bytes()).to_vec()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

/// What an operator asks for when registering a client.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub public: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub cors_origins: Vec<String>,
    pub skip_consent: bool,
    /// `client_secret_basic` (default for confidential clients), `client_secret_post` or
    /// `private_key_jwt` (which needs `jwks`).
    pub auth_method: Option<String>,
    pub access_token_lifetime: Option<i64>,
    /// The public JWK Set of a `private_key_jwt` client (RFC 7591 §2 `jwks`).
    pub jwks: Option<serde_json::Value>,
    /// Users must sign in with a second factor for this client (see [`Client::require_mfa`]).
    pub require_mfa: bool,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Back-Channel Logout 1.0 §2.2: https (http on loopback only), absolute, no fragment.
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    /// Token requests must carry a DPoP proof (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistrationError {
    #[error("name must be 1 to 100 characters without control characters")]
    Name,
    #[error("redirect URI {uri:?}: {reason}")]
    RedirectUri { uri: String, reason: RedirectError },
    #[error(
        "unknown grant type {0:?}: use authorization_code, refresh_token, client_credentials or \
         urn:ietf:params:oauth:grant-type:device_code"
    )]
    GrantType(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("scope {:?} is not a valid scope token (RFC 6749 §3.3)", .0.0)]
    Scope(#[from] ScopeError),
    #[error("jwks: {0}")]
    Jwks(String),
    #[error(
        "backchannel_logout_uri must be an absolute https URL (http only on a loopback host) without a \
         fragment (OpenID Connect Back-Channel Logout 1.0 §2.2)"
    )]
    BackchannelLogoutUri,
    #[error(
        "CORS origin {0:?} must be an origin like https://app.example.com (scheme, host, optional port; nothing else)"
    )]
    Origin(String),
}

/// A registration whose every rule holds: a client without id, creation time or secret.
pub(super) struct Checked(Client);

impl Checked {
    pub(super) fn into_client(self, id: String, created_at: UnixTime) -> Client {
        Client { id, created_at, ..self.0 }
    }
}

impl ClientRegistration {
    /// Checks every rule and builds the record; returns the secret for confidential clients.
    pub fn validate(self, id: String, now: UnixTime) -> Result<(Client, Option<ClientSecret>), RegistrationError> {
        let mut client = self.check()?.into_client(id, now);
        // A private_key_jwt client authenticates with its keys only: it gets no secret.
        let secret = if client.uses_secret() {
            Some(ClientSecret::generate().map_err(|_| RegistrationError::Invalid("randomness failed"))?)
        } else {
            None
        };
        client.secret_hash = secret.as_ref().map(ClientSecret::hash);
        Ok((client, secret))
    }

    /// Every registration rule, shared by registering and updating a client.
    pub(super) fn check(self) -> Result<Checked, RegistrationError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(RegistrationError::Name);
        }
        let mut grant_types = Vec::new();
        for g in if self.grant_types.is_empty() { vec!["authorization_code".to_owned()] } else { self.grant_types } {
            let g = GrantType::parse(&g).ok_or(RegistrationError::GrantType(g))?;
            if !grant_types.contains(&g) {
                grant_types.push(g);
            }
        }
        let check_uris = |uris: Vec<String>| -> Result<Vec<String>, RegistrationError> {
            uris.into_iter()
                .map(|u| match RedirectUri::register(&u) {
                    Ok(r) => Ok(r.as_str().to_owned()),
                    Err(reason) => Err(RegistrationError::RedirectUri { uri: u, reason }),
                })
                .collect()
        };
        let redirect_uris = check_uris(self.redirect_uris)?;
        let post_logout_redirect_uris = check_uris(self.post_logout_redirect_uris)?;
        if grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(RegistrationError::Invalid("the authorization_code grant needs at least one redirect URI"));
        }
        let user_grant = grant_types.iter().any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::DeviceCode));
        if self.require_mfa && !user_grant {
            return Err(RegistrationError::Invalid(
                "require_mfa is about users signing in: it needs the authorization_code or device_code grant",
            ));
        }
        if self.require_pushed_authorization_requests && !grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(RegistrationError::Invalid(
                "require_pushed_authorization_requests is about authorization requests: it needs the \
                 authorization_code grant",
            ));
        }
        if self.public && grant_types.contains(&GrantType::ClientCredentials) {
            return Err(RegistrationError::Invalid(
                "public clients cannot use client_credentials (they hold no secret)",
            ));
        }
        let scopes = Scope::parse(&self.scopes.join(" "))?.into_vec();
        let cors_origins = self.cors_origins.into_iter().map(validate_origin).collect::<Result<Vec<_>, _>>()?;
        let auth_method = match (self.public, self.auth_method.as_deref()) {
            (true, None | Some("none")) => AuthMethod::None,
            (true, Some(_)) => {
                return Err(RegistrationError::Invalid("public clients use token_endpoint_auth_method none"));
            }
            (false, None) => AuthMethod::ClientSecretBasic,
            (false, Some(m)) => match AuthMethod::parse(m) {
                Some(AuthMethod::None) | None => {
                    return Err(RegistrationError::Invalid(
                        "confidential clients use client_secret_basic, client_secret_post or private_key_jwt",
                    ));
                }
                Some(m) => m,
            },
        };
        if let Some(l) = self.access_token_lifetime
            && !(60..=86_400).contains(&l)
        {
            return Err(RegistrationError::Invalid("access_token_lifetime must be 60 to 86400 seconds"));
        }
        let jwks = match (auth_method, self.jwks) {
            (AuthMethod::PrivateKeyJwt, Some(jwks)) => Some(ClientJwks::parse(jwks).map_err(RegistrationError::Jwks)?),
            (AuthMethod::PrivateKeyJwt, None) => {
                return Err(RegistrationError::Invalid("private_key_jwt clients need a JWK Set (jwks)"));
            }
            (_, Some(_)) => return Err(RegistrationError::Invalid("jwks is only for private_key_jwt clients")),
            (_, None) => None,
        };
        let backchannel_logout_uri = self.backchannel_logout_uri.map(validate_backchannel_logout_uri).transpose()?;
        Ok(Checked(Client {
            id: String::new(),
            name,
            secret_hash: None,
            auth_method,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            scopes,
            cors_origins,
            skip_consent: self.skip_consent,
            access_token_lifetime: self.access_token_lifetime,
            created_at: 0,
            jwks,
            require_mfa: self.require_mfa,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            backchannel_logout_uri,
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            lifecycle: ClientLifecycle::default(),
        }))
    }
}

/// A new client id: 128 random bits, lower-case hex (never starts with `-`, so it is safe as a
/// command-line argument, and needs no escaping anywhere).
pub fn generate_client_id() -> Result<String, RandomError> {
    Ok(random::bytes::<16>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// Back-Channel Logout 1.0 §2.2: an absolute URL with no fragment; https, or http to a
/// loopback host (an RP on the same machine, as in development). At most 2000 characters.
fn validate_backchannel_logout_uri(uri: String) -> Result<String, RegistrationError> {
    if uri.len() > 2000 || uri.contains('#') || uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RegistrationError::BackchannelLogoutUri);
    }
    let url = url::Url::parse(&uri).map_err(|_| RegistrationError::BackchannelLogoutUri)?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let ok = url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && (url.scheme() == "https" && url.host().is_some() || url.scheme() == "http" && loopback);
    if ok { Ok(url.to_string()) } else { Err(RegistrationError::BackchannelLogoutUri) }
}

/// An origin exactly as browsers send it: `scheme://host[:port]`, https unless loopback.
fn validate_origin(o: String) -> Result<String, RegistrationError> {
    let url = url::Url::parse(&o).map_err(|_| RegistrationError::Origin(o.clone()))?;
    let serialized = url.origin().ascii_serialization();
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    let ok = !o.contains('*')
        && serialized == o.trim_end_matches('/')
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback));
    if ok { Ok(serialized) } else { Err(RegistrationError::Origin(o)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            scopes: vec!["openid".into(), "profile".into()],
            ..ClientRegistration::default()
        }
    }

    #[test]
    fn require_mfa_is_kept_and_needs_user_sign_ins() {
        let (client, _) = ClientRegistration { require_mfa: true, ..reg() }.validate("id".into(), 0).unwrap();
        assert!(client.require_mfa);
        assert!(!reg().validate("id".into(), 0).unwrap().0.require_mfa, "off unless asked for");
        let machine = ClientRegistration {
            redirect_uris: vec![],
            grant_types: vec!["client_credentials".into()],
            require_mfa: true,
            ..reg()
        };
        assert!(
            matches!(machine.validate("id".into(), 0), Err(RegistrationError::Invalid(m)) if m.contains("require_mfa"))
        );
    }

    /// OpenID Connect Back-Channel Logout 1.0 §2.2: an absolute URL without a fragment; http
    /// only to a loopback host (Gatehouse's rule; the spec leaves http to the OP).
    #[test]
    fn backchannel_logout_uri_rules() {
        let with = |uri: &str| {
            ClientRegistration { backchannel_logout_uri: Some(uri.into()), ..reg() }.validate("c".into(), 0)
        };
        for ok in [
            "https://rp.example.com/logout",
            "https://rp.example.com:8443/bc?x=1",
            "http://127.0.0.1:9000/bc",
            "http://localhost/bc",
            "http://[::1]:1/bc",
        ] {
            let (c, _) = with(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(c.backchannel_logout_uri.is_some(), "{ok}");
        }
        for bad in [
            "http://rp.example.com/bc",
            "https://rp.example.com/bc#frag",
            "https://rp.example.com/bc#",
            "/bc",
            "ftp://rp.example.com/bc",
            "https://u:p@rp.example.com/bc",
            "https://rp.example.com/b\0c",
            "https://rp.example.com/b c",
        ] {
            assert_eq!(with(bad).unwrap_err(), RegistrationError::BackchannelLogoutUri, "{bad}");
        }
        let (c, _) =
            ClientRegistration { backchannel_logout_session_required: true, ..reg() }.validate("c".into(), 0).unwrap();
        assert!(c.backchannel_logout_session_required && c.backchannel_logout_uri.is_none());
    }

    #[test]
    fn confidential_client_gets_a_hashed_secret() {
        let (client, secret) = reg().validate("id".into(), 0).unwrap();
        let secret = secret.unwrap();
        assert!(client.secret_matches(secret.expose(), 0));
        assert!(!client.secret_matches("wrong", 0));
        assert_eq!(client.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(client.grant_types, [GrantType::AuthorizationCode]);
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn public_clients_have_no_secret_and_no_client_credentials() {
        let (client, secret) = ClientRegistration { public: true, ..reg() }.validate("id".into(), 0).unwrap();
        assert!(secret.is_none() && client.is_public() && !client.secret_matches("", 0));
        let err = ClientRegistration { public: true, grant_types: vec!["client_credentials".into()], ..reg() }
            .validate("id".into(), 0);
        assert!(err.is_err());
    }

    #[test]
    fn registration_rules() {
        assert!(matches!(
            ClientRegistration { redirect_uris: vec![], ..reg() }.validate("i".into(), 0),
            Err(RegistrationError::Invalid(_))
        ));
        assert!(matches!(
            ClientRegistration { grant_types: vec!["implicit".into()], ..reg() }.validate("i".into(), 0),
            Err(RegistrationError::GrantType(_))
        ));
        assert!(matches!(
            ClientRegistration { name: " ".into(), ..reg() }.validate("i".into(), 0),
            Err(RegistrationError::Name)
        ));
        for bad in [
            "https://app.example.com/path",
            "null",
            "https://*.example.com",
            "http://app.example.com",
            "https://app.example.com.evil.test/x",
        ] {
            assert!(
                ClientRegistration { cors_origins: vec![bad.into()], ..reg() }.validate("i".into(), 0).is_err(),
                "{bad}"
            );
        }
        let (c, _) = ClientRegistration { cors_origins: vec!["https://app.example.com".into()], ..reg() }
            .validate("i".into(), 0)
            .unwrap();
        assert_eq!(c.cors_origins, ["https://app.example.com"]);
    }

    #[test]
    fn private_key_jwt_clients_register_keys_and_get_no_secret() {
        use crate::oauth::client_jwks::tests::{ec_jwk, ec_pair};
        let jwks = serde_json::json!({"keys": [ec_jwk("k", &ec_pair())]});
        let pkjwt = || ClientRegistration { auth_method: Some("private_key_jwt".into()), ..reg() };
        let (c, secret) = ClientRegistration { jwks: Some(jwks.clone()), ..pkjwt() }.validate("i".into(), 0).unwrap();
        assert!(secret.is_none() && c.secret_hash.is_none() && !c.secret_matches("", 0));
        assert_eq!(
            (c.auth_method, c.jwks.map(|j| j.as_json().clone())),
            (AuthMethod::PrivateKeyJwt, Some(jwks.clone()))
        );
        assert!(matches!(pkjwt().validate("i".into(), 0), Err(RegistrationError::Invalid(_))));
        assert!(matches!(
            ClientRegistration { jwks: Some(jwks), ..reg() }.validate("i".into(), 0),
            Err(RegistrationError::Invalid(_))
        ));
        let mut private = ec_jwk("k", &ec_pair());
        private["d"] = serde_json::json!("AAAA");
        let err = ClientRegistration { jwks: Some(serde_json::json!({"keys": [private]})), ..pkjwt() }
            .validate("i".into(), 0)
            .unwrap_err();
        assert!(matches!(err, RegistrationError::Jwks(_)) && err.to_string().contains("\"d\""), "{err}");
    }
}
