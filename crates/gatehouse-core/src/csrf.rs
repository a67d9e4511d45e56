//! CSRF tokens for forms (synchronizer pattern, derived rather than stored).
//!
//! The token is HMAC-SHA256 keyed by a secret only the browser holds in an HttpOnly cookie —
//! the session id once signed in, a random pre-session value before — so it is tied to that
//! session, every node computes the same value without shared state, and a leaked form token
//! does not reveal the session id.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const LABEL: &[u8] = b"gatehouse-csrf-v1";

/// The CSRF token for forms rendered to the holder of `binding` (session id or pre-session id).
pub fn token_for(binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(binding))
}

/// Constant-time check of a submitted token against the expected one for `binding`.
pub fn verify(binding: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.as_bytes()) else {
        return false;
    };
    mac(binding).ct_eq(presented.as_slice()).into()
}

fn mac(binding: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; an empty MAC would never verify.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(binding.as_bytes()) {
        Ok(mut m) => {
            m.update(LABEL);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_bound_to_its_session() {
        let t = token_for("session-a");
        assert!(verify("session-a", &t));
        assert!(!verify("session-b", &t));
        assert!(!verify("session-a", ""));
        assert!(!verify("session-a", "%%%"));
        assert_ne!(t, "session-a");
    }
}
