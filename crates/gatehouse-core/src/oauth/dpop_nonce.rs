//! Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at resources), stateless
//! so that any node accepts a nonce any other node issued, with no shared store: a nonce is
//! `base64url(slot || HMAC-SHA256(key, label || slot)[..16])`, where `slot` is the current
//! time slot (big-endian seconds / slot length). A nonce of the current or the previous slot is
//! accepted, so one lives between one and two slots. The key is derived from the master key,
//! which every node of a cluster shares already.
//!
//! A nonce is the same for every client within a slot: it proves the proof was made recently
//! (after the server said so, §8), not that the client is who it claims; replay of one proof is
//! still refused by its `jti` (§11.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::clock::UnixTime;

/// Domain separation of the nonce MAC.
const LABEL: &[u8] = b"gatehouse-dpop-nonce-v1";
/// Bytes of the MAC kept in a nonce (128 bits: forging one is hopeless).
const MAC_LEN: usize = 16;
const NONCE_LEN: usize = 8 + MAC_LEN;

/// Issues and checks nonces with one key.
pub struct DpopNonces {
    key: Zeroizing<[u8; 32]>,
    slot_secs: i64,
}

impl std::fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DpopNonces(slot {} s, [REDACTED])", self.slot_secs)
    }
}

impl DpopNonces {
    /// Five minutes: a nonce is good for five to ten minutes, like a proof's `iat` window.
    pub const DEFAULT_SLOT_SECS: i64 = 300;

    /// Nonces under `key` (at least 32 random bytes' worth, e.g. from
    /// [`crate::keys::MasterKey::derive`]) changing every `slot_secs` seconds (at least 1).
    pub fn new(key: [u8; 32], slot_secs: i64) -> Self {
        Self { key: Zeroizing::new(key), slot_secs: slot_secs.max(1) }
    }

    /// The nonce of the current slot (RFC 9449 §8: `1*NQCHAR`; base64url is a subset).
    pub fn issue(&self, now: UnixTime) -> String {
        let slot = self.slot(now);
        let mut raw = [0u8; NONCE_LEN];
        raw[..8].copy_from_slice(&slot.to_be_bytes());
        raw[8..].copy_from_slice(&self.mac(slot)[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` was issued under this key in the current or the previous slot. The
    /// MAC is compared in constant time.
    pub fn accepts(&self, nonce: &str, now: UnixTime) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(nonce.as_bytes()) else {
            return false;
        };
        if raw.len() != NONCE_LEN {
            return false;
        }
        let mut slot_bytes = [0u8; 8];
        slot_bytes.copy_from_slice(&raw[..8]);
        let slot = i64::from_be_bytes(slot_bytes);
        let current = self.slot(now);
        if slot != current && slot != current.saturating_sub(1) {
            return false;
        }
        self.mac(slot)[..MAC_LEN].ct_eq(&raw[8..]).into()
    }

    fn slot(&self, now: UnixTime) -> i64 {
        now.div_euclid(self.slot_secs)
    }

    fn mac(&self, slot: i64) -> Vec<u8> {
        // HMAC takes keys of any length: this cannot fail, and an empty MAC never verifies.
        match <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice()) {
            Ok(mut m) => {
                m.update(LABEL);
                m.update(&slot.to_be_bytes());
                m.finalize().into_bytes().to_vec()
            }
            Err(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// RFC 9449 §8: the nonce a node issued is accepted by another node with the same key and
    /// no shared state (stateless across a cluster).
    #[test]
    fn a_nonce_is_accepted_by_any_node_with_the_key() {
        let issuer = DpopNonces::new([7; 32], 300);
        let other_node = DpopNonces::new([7; 32], 300);
        let nonce = issuer.issue(NOW);
        assert!(other_node.accepts(&nonce, NOW));
        assert!(other_node.accepts(&nonce, NOW + 299), "still good in the next slot");
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "NQCHAR");
    }

    /// §8: a stale nonce (two slots old) is refused, so the client must fetch a fresh one.
    #[test]
    fn a_stale_nonce_is_refused() {
        let n = DpopNonces::new([7; 32], 300);
        let nonce = n.issue(NOW);
        assert!(!n.accepts(&nonce, NOW + 2 * 300 + 1));
        assert!(!n.accepts(&n.issue(NOW + 600), NOW), "a nonce from the future is refused");
    }

    /// A nonce under another key, a tampered MAC or slot, or garbage is refused.
    #[test]
    fn forged_nonces_are_refused() {
        let n = DpopNonces::new([7; 32], 300);
        let foreign = DpopNonces::new([8; 32], 300).issue(NOW);
        assert!(!n.accepts(&foreign, NOW));
        let good = n.issue(NOW);
        let mut raw = URL_SAFE_NO_PAD.decode(&good).unwrap();
        raw[NONCE_LEN - 1] ^= 1;
        assert!(!n.accepts(&URL_SAFE_NO_PAD.encode(&raw), NOW));
        let mut raw = URL_SAFE_NO_PAD.decode(&good).unwrap();
        raw[7] ^= 1;
        assert!(!n.accepts(&URL_SAFE_NO_PAD.encode(&raw), NOW));
        for bad in ["", "x", "!!!!", &good[..20], &format!("{good}AA")] {
            assert!(!n.accepts(bad, NOW), "{bad}");
        }
    }
}
