//! The signing-key lifecycle, computed from the stored rows and the clock alone, so that every
//! node sharing a database reaches the same answer without coordination:
//!
//! - **next**: published in the JWKS, not yet signing (`now < activates_at`);
//! - **active**: the newest key of its algorithm with `activates_at <= now` — it signs;
//! - **retired**: replaced; still published until every token it signed has expired
//!   (`successor.activates_at + retire_after`);
//! - **expired**: past that point; no longer published and deleted.

use serde_json::Value;

use super::material::Algorithm;
use crate::clock::UnixTime;

/// One row of `signing_keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Algorithm,
    /// PKCS#8 DER sealed with the master key (see `sealed`).
    pub sealed_private_key: Vec<u8>,
    pub public_jwk: Value,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    /// Scheduled rotations of one algorithm share a slot number, and storage keeps
    /// `(alg, rotation_slot)` unique: two nodes scheduling the same rotation insert one key.
    /// Manual rotations have no slot.
    pub rotation_slot: Option<i64>,
}

/// Rotation timing in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// How long a key signs before its successor takes over (default 30 days).
    pub rotation_interval: i64,
    /// How long a new key is published before it signs (default 24 h: longer than any JWKS
    /// cache should live; our own JWKS answers are cacheable for at most an hour).
    pub publish_delay: i64,
    /// How long a retired key stays published: the longest token lifetime plus leeway.
    pub retire_after: i64,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self { rotation_interval: 30 * 86_400, publish_delay: 86_400, retire_after: 15 * 60 + 60 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired { unpublish_at: UnixTime },
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired { .. } => "retired",
            Self::Expired => "expired",
        }
    }

    pub fn is_published(self) -> bool {
        !matches!(self, Self::Expired)
    }
}

/// The state of every key, in the order given.
pub fn states(keys: &[StoredKey], now: UnixTime, policy: &KeyPolicy) -> Vec<KeyState> {
    keys.iter()
        .map(|k| {
            if k.activates_at > now {
                return KeyState::Next;
            }
            // The earliest key of the same algorithm that activated after this one replaced it.
            let successor = keys
                .iter()
                .filter(|o| {
                    o.alg == k.alg && o.activates_at <= now && (o.activates_at, &o.kid) > (k.activates_at, &k.kid)
                })
                .map(|o| o.activates_at)
                .min();
            match successor {
                None => KeyState::Active,
                Some(at) if at + policy.retire_after > now => {
                    KeyState::Retired { unpublish_at: at + policy.retire_after }
                }
                Some(_) => KeyState::Expired,
            }
        })
        .collect()
}

/// When the scheduled rotation of `alg` needs a new key: `(activates_at, rotation_slot)`.
/// With no key at all the first one signs at once (nothing can have cached a JWKS yet).
pub fn rotation_due(keys: &[StoredKey], alg: Algorithm, now: UnixTime, policy: &KeyPolicy) -> Option<(UnixTime, i64)> {
    let of_alg: Vec<&StoredKey> = keys.iter().filter(|k| k.alg == alg).collect();
    if of_alg.iter().any(|k| k.activates_at > now) {
        return None;
    }
    let Some(active) = of_alg.iter().max_by_key(|k| (k.activates_at, &k.kid)) else {
        return Some((now, 0));
    };
    let successor_at = active.activates_at + policy.rotation_interval;
    (now >= successor_at - policy.publish_delay).then(|| (successor_at.max(now + policy.publish_delay), successor_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, alg: Algorithm, activates_at: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg,
            sealed_private_key: vec![],
            public_jwk: Value::Null,
            created_at: activates_at,
            activates_at,
            rotation_slot: None,
        }
    }

    const P: KeyPolicy = KeyPolicy { rotation_interval: 1000, publish_delay: 100, retire_after: 50 };

    #[test]
    fn next_active_retired_expired() {
        let keys =
            vec![key("a", Algorithm::ES256, 0), key("b", Algorithm::ES256, 1000), key("c", Algorithm::ES256, 2000)];
        assert_eq!(states(&keys, 950, &P), [KeyState::Active, KeyState::Next, KeyState::Next]);
        assert_eq!(
            states(&keys, 1010, &P),
            [KeyState::Retired { unpublish_at: 1050 }, KeyState::Active, KeyState::Next]
        );
        assert_eq!(
            states(&keys, 2020, &P),
            [KeyState::Expired, KeyState::Retired { unpublish_at: 2050 }, KeyState::Active]
        );
    }

    #[test]
    fn algorithms_rotate_independently() {
        let keys = vec![key("a", Algorithm::ES256, 0), key("r", Algorithm::RS256, 500)];
        assert_eq!(states(&keys, 600, &P), [KeyState::Active, KeyState::Active]);
    }

    #[test]
    fn scheduled_rotation_publishes_before_signing() {
        assert_eq!(rotation_due(&[], Algorithm::EdDSA, 10, &P), Some((10, 0)));
        let keys = vec![key("a", Algorithm::EdDSA, 0)];
        assert_eq!(rotation_due(&keys, Algorithm::EdDSA, 899, &P), None);
        // Due 100 s (the publish delay) before the interval ends; it activates at the interval.
        assert_eq!(rotation_due(&keys, Algorithm::EdDSA, 900, &P), Some((1000, 1000)));
        // Late (a node was down): still published for the full delay before it signs.
        assert_eq!(rotation_due(&keys, Algorithm::EdDSA, 5000, &P), Some((5100, 1000)));
        let with_next = vec![key("a", Algorithm::EdDSA, 0), key("b", Algorithm::EdDSA, 1000)];
        assert_eq!(rotation_due(&with_next, Algorithm::EdDSA, 950, &P), None, "one next key at a time");
    }
}
