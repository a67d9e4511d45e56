//! Secrets at rest: AES-256-GCM under the master key, with associated data naming what the value
//! is (a signing key's `kid`, or a purpose and row id) so a sealed value cannot be swapped into
//! another row. A wrong master key fails to open (the GCM tag does not verify) instead of
//! yielding garbage.
//!
//! The master key is a keyring: the current key seals; previous keys (during a rotation) only
//! open. Every value sealed now says which key sealed it — the envelope is
//! `"GH" 0x01 || key id (8 bytes) || nonce || ciphertext || tag`, with the 11-byte header also
//! in the associated data — so opening needs no trial and `gatehouse keys rewrap` can tell
//! what is still under an old key. Values sealed before the keyring existed (`nonce ||
//! ciphertext || tag`, no header) are still opened, by trying each key of the ring.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::random;

/// The envelope's magic and version.
const MAGIC: [u8; 3] = [b'G', b'H', 1];
const KEY_ID_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN;

/// One 256-bit key and its public id (a truncated SHA-256 of the key, domain-separated: it
/// names the key in envelopes and logs without revealing it).
#[derive(Clone)]
struct Secret {
    key: Zeroizing<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
}

impl Secret {
    fn new(key: [u8; 32]) -> Self {
        let digest = Sha256::new().chain_update(b"gatehouse-master-key-id:").chain_update(key).finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self { key: Zeroizing::new(key), id }
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        UnboundKey::new(&AES_256_GCM, self.key.as_slice()).map(LessSafeKey::new).map_err(|_| SealError::Seal)
    }

    /// Opens `nonce || ciphertext || tag` with `aad`; `None` when the tag does not verify.
    fn open_raw(&self, aad: Vec<u8>, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = self.aead().ok()?.open_in_place(nonce, Aad::from(aad), &mut buf).ok()?.len();
        buf.truncate(len);
        Some(buf)
    }
}

/// The master keyring: the key that encrypts signing keys, TOTP secrets and queued mail at
/// rest, plus any previous keys still accepted for opening. Cloning copies the keys into other
/// zeroized buffers; services that need it share one `Arc` where they can.
#[derive(Clone)]
pub struct MasterKey {
    current: Secret,
    previous: Vec<Secret>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "the master key must be 32 bytes, base64-encoded (44 characters); generate one with `openssl rand -base64 32`"
    )]
    BadMasterKey,
    #[error("a sealed value could not be decrypted: the master key is not the one it was encrypted with")]
    WrongMasterKey,
    #[error(
        "the master key is not the one a sealed value was encrypted with: it was encrypted under master key {0}, \
         which is neither the current master key nor one of the previous keys \
         (GATEHOUSE_MASTER_KEY_PREVIOUS / _PREVIOUS_FILE): add that key as a previous key"
    )]
    UnknownMasterKey(String),
    #[error("encryption failed")]
    Seal,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {}, {} previous, [REDACTED])", self.key_id(), self.previous.len())
    }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

impl MasterKey {
    /// Parses base64 (standard or URL-safe, padding optional) of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| SealError::BadMasterKey)?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SealError::BadMasterKey)?;
        Ok(Self { current: Secret::new(key), previous: Vec::new() })
    }

    /// A fresh random master key and its base64 text (for a development key file).
    pub fn generate() -> Result<(Self, Zeroizing<String>), SealError> {
        let key = random::bytes::<32>().map_err(|_| SealError::Seal)?;
        let text = Zeroizing::new(STANDARD.encode(key));
        Ok((Self { current: Secret::new(key), previous: Vec::new() }, text))
    }

    /// This key sealing, and `previous` (their current keys) accepted for opening only. A
    /// previous key equal to the current one is dropped.
    pub fn with_previous(mut self, previous: impl IntoIterator<Item = MasterKey>) -> Self {
        for key in previous {
            if key.current.id != self.current.id && !self.previous.iter().any(|p| p.id == key.current.id) {
                self.previous.push(key.current);
            }
        }
        self
    }

    /// The current key's id (16 hex digits), as envelopes and `keys rewrap` name it.
    pub fn key_id(&self) -> String {
        hex(&self.current.id)
    }

    /// The previous keys' ids.
    pub fn previous_ids(&self) -> Vec<String> {
        self.previous.iter().map(|p| hex(&p.id)).collect()
    }

    /// A 256-bit key for `label`, derived from the current key (HMAC-SHA256, domain-separated):
    /// every node with the same master key derives the same one, so it can key stateless
    /// values (DPoP nonces) that any node checks.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, KeyInit, Mac};
        let mut out = [0u8; 32];
        if let Ok(mut m) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.current.key.as_slice()) {
            m.update(b"gatehouse-derived-key:");
            m.update(label.as_bytes());
            out.copy_from_slice(&m.finalize().into_bytes());
        }
        out
    }

    /// The id of the key that sealed `sealed`, when the envelope names one (values sealed
    /// before the keyring existed do not).
    pub fn sealed_by(sealed: &[u8]) -> Option<String> {
        header_id(sealed).map(|id| hex(id))
    }

    /// Whether `sealed` is already sealed under the current key (nothing to rewrap).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        header_id(sealed) == Some(&self.current.id)
    }

    /// Seals a signing key's PKCS#8 DER, bound to its `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal_with(aad(kid), plaintext)
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_with(aad(kid), sealed)
    }

    /// Seals something other than a signing key: `purpose` and `id` are the associated data,
    /// so a sealed value opens only as what (and for the row) it was sealed for.
    pub fn seal_for(&self, purpose: &str, id: &str, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        self.seal_with(purpose_aad(purpose, id), plaintext)
    }

    /// Opens what [`Self::seal_for`] sealed with the same `purpose` and `id`.
    pub fn open_for(&self, purpose: &str, id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        self.open_with(purpose_aad(purpose, id), sealed)
    }

    /// `sealed` (a signing key's) sealed again under the current key; `None` when it already is.
    pub fn reseal(&self, kid: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        self.reseal_with(aad(kid), sealed)
    }

    /// [`Self::reseal`] for a value of [`Self::seal_for`].
    pub fn reseal_for(&self, purpose: &str, id: &str, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        self.reseal_with(purpose_aad(purpose, id), sealed)
    }

    fn reseal_with(&self, aad: Vec<u8>, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        if self.is_current(sealed) {
            // Checked all the same: a current-looking value that does not open is reported.
            self.open_with(aad, sealed)?;
            return Ok(None);
        }
        let plain = self.open_with(aad.clone(), sealed)?;
        self.seal_with(aad, &plain).map(Some)
    }

    fn seal_with(&self, aad: Vec<u8>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce_bytes = random::bytes::<NONCE_LEN>().map_err(|_| SealError::Seal)?;
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + plaintext.len() + AES_256_GCM.tag_len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&self.current.id);
        let aad = with_header(aad, &out);
        let mut buf = plaintext.to_vec();
        self.current
            .aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::from(aad), &mut buf)
            .map_err(|_| SealError::Seal)?;
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn ring(&self) -> impl Iterator<Item = &Secret> {
        std::iter::once(&self.current).chain(self.previous.iter())
    }

    fn open_with(&self, aad: Vec<u8>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if let Some(id) = header_id(sealed) {
            if let Some(secret) = self.ring().find(|s| &s.id == id)
                && let Some(plain) =
                    secret.open_raw(with_header(aad.clone(), &sealed[..HEADER_LEN]), &sealed[HEADER_LEN..])
            {
                return Ok(plain);
            }
            // A value from before the keyring whose random nonce happens to start like a
            // header (one in 2^24) is still opened below; anything else names its key.
            return self.open_legacy(aad, sealed).ok_or_else(|| {
                if self.ring().any(|s| &s.id == id) {
                    SealError::WrongMasterKey
                } else {
                    SealError::UnknownMasterKey(hex(id))
                }
            });
        }
        self.open_legacy(aad, sealed).ok_or(SealError::WrongMasterKey)
    }

    /// `nonce || ciphertext || tag`, sealed before envelopes named their key: each key is tried.
    fn open_legacy(&self, aad: Vec<u8>, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.ring().find_map(|s| s.open_raw(aad.clone(), sealed))
    }
}

fn header_id(sealed: &[u8]) -> Option<&[u8; KEY_ID_LEN]> {
    if sealed.len() < HEADER_LEN + NONCE_LEN + AES_256_GCM.tag_len() || sealed[..MAGIC.len()] != MAGIC {
        return None;
    }
    sealed[MAGIC.len()..HEADER_LEN].try_into().ok()
}

fn with_header(mut aad: Vec<u8>, header: &[u8]) -> Vec<u8> {
    aad.push(0);
    aad.extend_from_slice(header);
    aad
}

fn aad(kid: &str) -> Vec<u8> {
    format!("gatehouse-signing-key:{kid}").into_bytes()
}

/// Never equal to a signing key's associated data (another prefix).
fn purpose_aad(purpose: &str, id: &str) -> Vec<u8> {
    format!("gatehouse-sealed:{purpose}:{id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`MasterKey::seal_for`] wrote before envelopes named their key.
    fn seal_legacy(key: &MasterKey, purpose: &str, id: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = random::bytes::<NONCE_LEN>().unwrap();
        let mut buf = plaintext.to_vec();
        key.current
            .aead()
            .unwrap()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose_aad(purpose, id)),
                &mut buf,
            )
            .unwrap();
        [nonce.as_slice(), &buf].concat()
    }

    #[test]
    fn seal_open_round_trip_and_wrong_key() {
        let (key, text) = MasterKey::generate().unwrap();
        let again = MasterKey::parse(&text).unwrap();
        let sealed = key.seal("kid-1", b"private key der").unwrap();
        assert_eq!(again.open("kid-1", &sealed).unwrap().as_slice(), b"private key der");
        let (other, _) = MasterKey::generate().unwrap();
        assert_eq!(other.open("kid-1", &sealed).unwrap_err(), SealError::UnknownMasterKey(key.key_id()));
        assert_eq!(key.open("kid-2", &sealed).unwrap_err(), SealError::WrongMasterKey, "bound to its kid");
        let mail = key.seal_for("mail", "id-1", b"body").unwrap();
        assert_eq!(key.open_for("mail", "id-1", &mail).unwrap().as_slice(), b"body");
        assert!(key.open_for("mail", "id-2", &mail).is_err(), "bound to its row");
        assert!(key.open("id-1", &mail).is_err() && key.open_for("signing-key", "kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert!(key.open("kid-1", &tampered).is_err());
        assert!(key.open("kid-1", &sealed[..10]).is_err());
    }

    #[test]
    fn envelopes_name_their_key_and_the_header_is_authenticated() {
        let (key, _) = MasterKey::generate().unwrap();
        let sealed = key.seal_for("totp", "u1", b"secret").unwrap();
        assert_eq!(MasterKey::sealed_by(&sealed), Some(key.key_id()));
        assert_eq!(key.key_id().len(), 16);
        assert!(key.is_current(&sealed));
        // Another key id in the header: not opened with the right key under a forged name.
        let (other, _) = MasterKey::generate().unwrap();
        let ring = key.clone().with_previous([other.clone()]);
        let mut renamed = sealed.clone();
        renamed[MAGIC.len()..HEADER_LEN].copy_from_slice(&other.current.id);
        assert_eq!(ring.open_for("totp", "u1", &renamed).unwrap_err(), SealError::WrongMasterKey);
    }

    #[test]
    fn a_keyring_seals_with_the_current_key_and_opens_with_any() {
        let (old, _) = MasterKey::generate().unwrap();
        let (new, _) = MasterKey::generate().unwrap();
        let under_old = old.seal_for("mail", "m1", b"hello").unwrap();
        let legacy = seal_legacy(&old, "mail", "m1", b"legacy");
        assert_eq!(MasterKey::sealed_by(&legacy), None);
        assert_eq!(old.open_for("mail", "m1", &legacy).unwrap().as_slice(), b"legacy");

        let ring = new.clone().with_previous([old.clone(), new.clone(), old.clone()]);
        assert_eq!(ring.previous_ids(), vec![old.key_id()], "duplicates and the current key dropped");
        assert_eq!(ring.open_for("mail", "m1", &under_old).unwrap().as_slice(), b"hello");
        assert_eq!(ring.open_for("mail", "m1", &legacy).unwrap().as_slice(), b"legacy");
        let fresh = ring.seal_for("mail", "m1", b"new").unwrap();
        assert_eq!(MasterKey::sealed_by(&fresh), Some(new.key_id()));

        // Rewrapping: old and legacy values move to the new key; current ones are left alone.
        let moved = ring.reseal_for("mail", "m1", &under_old).unwrap().unwrap();
        assert!(new.is_current(&moved));
        assert_eq!(new.open_for("mail", "m1", &moved).unwrap().as_slice(), b"hello", "opens without the old key");
        let moved = ring.reseal_for("mail", "m1", &legacy).unwrap().unwrap();
        assert_eq!(new.open_for("mail", "m1", &moved).unwrap().as_slice(), b"legacy");
        assert_eq!(ring.reseal_for("mail", "m1", &fresh).unwrap(), None);
        assert!(ring.reseal_for("mail", "m2", &fresh).is_err(), "a current value that does not open is reported");

        // Only the new key: what the old key sealed names that key in the error.
        assert_eq!(new.open_for("mail", "m1", &under_old).unwrap_err(), SealError::UnknownMasterKey(old.key_id()));
        assert_eq!(new.open_for("mail", "m1", &legacy).unwrap_err(), SealError::WrongMasterKey);
        assert!(new.open_for("mail", "m1", &under_old).unwrap_err().to_string().contains(&old.key_id()));
    }

    #[test]
    fn master_key_parsing() {
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert_eq!(MasterKey::parse(&STANDARD.encode([7u8; 16])).unwrap_err(), SealError::BadMasterKey);
        assert_eq!(MasterKey::parse("not base64!").unwrap_err(), SealError::BadMasterKey);
        assert!(!format!("{:?}", MasterKey::parse(&STANDARD.encode([7u8; 32])).unwrap()).contains("Bw"));
    }
}
