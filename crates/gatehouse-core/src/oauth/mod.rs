//! The OAuth 2.0 authorization server and OpenID Connect provider: clients, redirect URIs,
//! scopes, PKCE, authorization codes, the device grant, grants, ID tokens, introspection and
//! revocation.

mod audience;
mod authorize;
pub mod backchannel;
mod client;
mod client_assertion;
mod client_auth;
mod client_cache;
mod client_jwks;
mod client_update;
mod code;
mod decision;
mod device;
mod dpop;
mod dpop_nonce;
mod dynamic_registration;
mod error;
mod exchange_rule;
mod grant;
mod id_token;
mod introspect;
mod logout;
mod metadata_document;
mod par;
mod params;
mod pkce;
mod redirect;
mod resource;
mod scope;
mod self_registration;
mod service;

pub use authorize::{AuthorizeError, AuthorizeRequest, Prompt, is_privileged, redirect_with};
pub use client::{
    AuthMethod, Client, ClientLifecycle, ClientRegistration, ClientSecret, DEFAULT_SECRET_OVERLAP, DEVICE_CODE_GRANT,
    GrantType, MAX_SECRET_OVERLAP, RegistrationError, RegistrationKind, generate_client_id,
};
pub use client_assertion::{
    ASSERTION_ALGORITHMS, ASSERTION_LEEWAY, AcceptedAssertion, AssertionError, CLIENT_ASSERTION_TYPE,
    MAX_ASSERTION_LIFETIME, claimed_client_id, verify_assertion,
};
pub use client_auth::ClientCredentials;
pub use client_cache::{CLIENT_CACHE_TTL, CachedClientStore};
pub use client_jwks::{ClientJwks, MAX_CLIENT_KEYS, MAX_JWKS_BYTES};
pub use client_update::ClientUpdate;
pub use code::{AuthorizationCode, CODE_LIFETIME, CodeOutcome, Consent};
pub use decision::{AuthorizeOutcome, SignedInAs, consent_outcome, fresh_enough, sign_in_outcome};
pub use device::{
    DEVICE_CODE_LIFETIME, DEVICE_POLL_INTERVAL, DeviceApproval, DeviceAuthorization, DeviceAuthorizationResponse,
    DeviceError, DeviceRequest, DeviceState, VERIFICATION_PATH, display_user_code, normalize_user_code,
};
pub use dpop::{DpopRejection, DpopVerifier};
pub use dynamic_registration::{
    ClientInformation, DynamicRegistration, DynamicRegistrationError, MAX_INITIAL_TOKEN_LIFETIME, RegistrationMode,
    sweep_unused_registrations,
};

pub use dpop_nonce::DpopNonces;
pub use error::{ErrorCode, OAuthError, description_text};
pub use exchange_rule::{
    ANY_CLIENT, ExchangeRule, ExchangeRuleAdmin, ExchangeRuleStore, MAX_EXCHANGE_RULES, NewExchangeRule,
};
pub use grant::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, TokenResponse};
pub use id_token::{IdTokenHint, at_hash};
pub use introspect::{Introspection, TokenClaims};
pub use logout::{LogoutDecision, LogoutError, LogoutRequest};
pub use metadata_document::{
    FetchedDocument, MAX_CLIENT_ID_URL, MetadataDocumentClients, MetadataDocumentError, MetadataDocumentFetcher,
    MetadataDocumentPolicy, client_from_document, is_metadata_document_id, parse_client_id_url,
};
pub use par::{PAR_LIFETIME, PushedRequest, REQUEST_URI_PREFIX};
pub use params::{
    AuthorizeParams, CallbackParams, ClientParams, ConsentParams, FromParams, LogoutParams, Param, Repeated,
    TokenRequest,
};
pub use redirect::{LoopbackPorts, RedirectError, RedirectUri, find_match};
pub use resource::{
    MAX_RESOURCE_LEN, MAX_RESOURCES_PER_REQUEST, ResourceError, ResourceRegistration, ResourceServer,
    ResourceServerStore, ResourceUpdate, check_resource_indicator,
};
pub use scope::{Scope, ScopeError};
pub use self_registration::{
    ClientMetadata, MetadataError, RegistrationPolicy, SelfRegistrationStore, registered_metadata,
};
pub use service::{OAuthService, OAuthSettings};
