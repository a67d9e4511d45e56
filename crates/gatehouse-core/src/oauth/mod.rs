//! The OAuth 2.0 authorization server and OpenID Connect provider: clients, redirect URIs,
//! scopes, PKCE, authorization codes, grants, ID tokens, introspection and revocation.

mod authorize;
mod client;
mod client_cache;
mod code;
mod error;
mod grant;
mod id_token;
mod introspect;
mod pkce;
mod redirect;
mod scope;
mod service;

pub use authorize::{AuthorizeError, AuthorizeRequest, Params, Prompt, redirect_with};
pub use client::{
    AuthMethod, Client, ClientRegistration, ClientSecret, GrantType, RegistrationError, generate_client_id,
};
pub use client_cache::{CLIENT_CACHE_TTL, CachedClientStore};
pub use code::{AuthorizationCode, CODE_LIFETIME, CodeOutcome, Consent};
pub use error::{ErrorCode, OAuthError};
pub use grant::TokenResponse;
pub use id_token::{IdTokenHint, at_hash};
pub use introspect::{Introspection, TokenClaims};
pub use redirect::{RedirectError, RedirectUri, find_match};
pub use scope::{Scope, ScopeError};
pub use service::{ClientCredentials, OAuthService, OAuthSettings, parse_basic};
