//! Private keys at rest: AES-256-GCM under the master key, with the key's `kid` as associated
//! data so a sealed key cannot be swapped into another row. A wrong master key fails to open
//! every key (the GCM tag does not verify) instead of yielding a garbage key.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use crate::random;

/// The 256-bit key that encrypts signing keys (and queued mail) at rest. Cloning copies the
/// key into another zeroized buffer; services that need it share one `Arc` where they can.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "the master key must be 32 bytes, base64-encoded (44 characters); generate one with `openssl rand -base64 32`"
    )]
    BadMasterKey,
    #[error("a signing key could not be decrypted: the master key is not the one the keys were encrypted with")]
    WrongMasterKey,
    #[error("encryption failed")]
    Seal,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
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
        Ok(Self(Zeroizing::new(key)))
    }

    /// A fresh random master key and its base64 text (for a development key file).
    pub fn generate() -> Result<(Self, Zeroizing<String>), SealError> {
        let key = random::bytes::<32>().map_err(|_| SealError::Seal)?;
        let text = Zeroizing::new(STANDARD.encode(key));
        Ok((Self(Zeroizing::new(key)), text))
    }

    fn aead(&self) -> Result<LessSafeKey, SealError> {
        UnboundKey::new(&AES_256_GCM, self.0.as_slice()).map(LessSafeKey::new).map_err(|_| SealError::Seal)
    }

    /// `nonce || ciphertext || tag`.
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

    fn seal_with(&self, aad: Aad<Vec<u8>>, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let nonce_bytes = random::bytes::<NONCE_LEN>().map_err(|_| SealError::Seal)?;
        let mut buf = plaintext.to_vec();
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), aad, &mut buf)
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    fn open_with(&self, aad: Aad<Vec<u8>>, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(SealError::WrongMasterKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::WrongMasterKey)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let len = self.aead()?.open_in_place(nonce, aad, &mut buf).map_err(|_| SealError::WrongMasterKey)?.len();
        buf.truncate(len);
        Ok(buf)
    }
}

fn aad(kid: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("gatehouse-signing-key:{kid}").into_bytes())
}

/// Never equal to a signing key's associated data (another prefix).
fn purpose_aad(purpose: &str, id: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("gatehouse-sealed:{purpose}:{id}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_wrong_key() {
        let (key, text) = MasterKey::generate().unwrap();
        let again = MasterKey::parse(&text).unwrap();
        let sealed = key.seal("kid-1", b"private key der").unwrap();
        assert_eq!(again.open("kid-1", &sealed).unwrap().as_slice(), b"private key der");
        let (other, _) = MasterKey::generate().unwrap();
        assert_eq!(other.open("kid-1", &sealed).unwrap_err(), SealError::WrongMasterKey);
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
    fn master_key_parsing() {
        assert!(MasterKey::parse(&STANDARD.encode([7u8; 32])).is_ok());
        assert!(MasterKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert_eq!(MasterKey::parse(&STANDARD.encode([7u8; 16])).unwrap_err(), SealError::BadMasterKey);
        assert_eq!(MasterKey::parse("not base64!").unwrap_err(), SealError::BadMasterKey);
        assert!(!format!("{:?}", MasterKey::parse(&STANDARD.encode([7u8; 32])).unwrap()).contains("Bw"));
    }
}
