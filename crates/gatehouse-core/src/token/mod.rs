//! Tokens: RFC 9068 JWT access tokens, rotating refresh tokens with reuse detection
//! (RFC 9700 §4.14.2), and the first-party token flow that combines them.

mod access;
mod first_party;
mod rbac_claims;
mod refresh;

pub use access::{
    AccessTokenRequest, AccessTokenSettings, Hs256Key, IssuedAccessToken, SigningChoice, TokenError, TokenIssuer,
};
pub use first_party::{
    FIRST_PARTY_CLIENT, FirstPartyError, FirstPartyTokens, JSON_CHANNELS, MfaCompletion, TokenLogin, TokenPair,
};
pub use rbac_claims::{Holder, PERMISSIONS_SCOPE, ROLES_SCOPE, RbacClaims};
pub use refresh::{
    FamilyActivity, NewGrant, RefreshError, RefreshFamily, RefreshService, RefreshSettings, RefreshToken,
    RefreshTokenRow, RotateOutcome,
};
