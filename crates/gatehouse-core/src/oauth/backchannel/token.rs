//! The Logout Token (OpenID Connect Back-Channel Logout 1.0 §2.4): a JWT signed with the ID
//! token key, explicitly typed `logout+jwt` (§2.4, §4.1 cross-JWT confusion), short-lived.

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::UnixTime;
use crate::keys::{Algorithm, KeyService};

/// §2.4 `events`: the member that makes a JWT a logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// §2.4: the `typ` header the specification recommends for explicit typing.
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";
/// Seconds a logout token is valid: short, as §2.4 recommends (a retry signs a new one).
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// §2.4's claims. There is deliberately no `nonce` field: "A Logout Token MUST NOT contain a
/// nonce Claim", so that it can never pass as an ID token.
#[derive(Serialize)]
struct LogoutTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    jti: &'a str,
    events: Value,
    sid: &'a str,
}

/// What one logout token says.
pub struct LogoutTokenInput<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub subject: &'a str,
    /// The grant id, as the ID tokens' `sid`. Always sent (with `sub`; §2.4 allows both), so
    /// clients that require it (`backchannel_logout_session_required`) get it too.
    pub sid: &'a str,
    /// Unique per token: every attempt signs a fresh one.
    pub jti: &'a str,
    pub now: UnixTime,
}

/// Signs a logout token with the RS256 key ID tokens are signed with (§2.4).
pub fn sign(keys: &KeyService, input: &LogoutTokenInput<'_>) -> Result<String, String> {
    let claims = LogoutTokenClaims {
        iss: input.issuer,
        sub: input.subject,
        aud: input.client_id,
        iat: input.now,
        exp: input.now + LOGOUT_TOKEN_LIFETIME,
        jti: input.jti,
        events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
        sid: input.sid,
    };
    let key = keys.signing_key(Algorithm::RS256).map_err(|e| format!("no RS256 key: {e}"))?;
    key.sign_jws(LOGOUT_TOKEN_TYPE, &claims).map_err(|e| format!("signing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §2.4: the claims set has every required member, the event, and never `nonce`.
    #[test]
    fn claims_have_the_event_and_no_nonce() {
        let claims = LogoutTokenClaims {
            iss: "https://id.example.com",
            sub: "u",
            aud: "c",
            iat: 10,
            exp: 10 + LOGOUT_TOKEN_LIFETIME,
            jti: "j",
            events: json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
            sid: "s",
        };
        let v = serde_json::to_value(&claims).unwrap();
        for k in ["iss", "sub", "aud", "iat", "exp", "jti", "sid"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["events"][BACKCHANNEL_LOGOUT_EVENT], json!({}));
        assert!(v.get("nonce").is_none());
        assert_eq!(v["exp"].as_i64(), Some(130));
    }
}
