//! Recovery codes: ten single-use codes of 50 random bits each, written as two groups of five
//! base32 characters (`k3x9a-7mzqp`). Only their SHA-256 is stored (a salt or a slow hash adds
//! nothing to 50 random bits that can only be tried online, under the lockout); presented codes
//! are compared with the stored hashes in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::random::{self, RandomError};

/// Codes per set.
pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
const CHARS: usize = 10;

/// A new set: the codes to show once, and their hashes to store.
pub fn generate() -> Result<(Vec<String>, Vec<Vec<u8>>), RandomError> {
    let mut codes = Vec::with_capacity(COUNT);
    for _ in 0..COUNT {
        let raw = random::bytes::<CHARS>()?;
        let chars: String = raw.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect();
        codes.push(format!("{}-{}", &chars[..5], &chars[5..]));
    }
    let hashes = codes.iter().map(|c| hash(c)).collect();
    Ok((codes, hashes))
}

/// Case, spaces and dashes do not matter; the look-alikes `0`, `1`, `8` are not in the
/// alphabet, so they are read as `o`, `l`, `b`.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' => 'l',
            '8' => 'b',
            other => other,
        })
        .collect()
}

/// The stored form of a code.
pub fn hash(code: &str) -> Vec<u8> {
    Sha256::new().chain_update(b"gatehouse-recovery-code:").chain_update(normalize(code).as_bytes()).finalize().to_vec()
}

/// The stored hash `presented` matches, if any; every stored hash is compared, in constant time.
pub fn find<'a>(presented: &str, stored: &'a [Vec<u8>]) -> Option<&'a [u8]> {
    let h = hash(presented);
    let mut found = None;
    for s in stored {
        let equal: bool = s.as_slice().ct_eq(&h).into();
        if equal && found.is_none() {
            found = Some(s.as_slice());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_grouped_and_hashed() {
        let (codes, hashes) = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), COUNT);
        assert_eq!(find(&codes[3].to_uppercase().replace('-', " "), &hashes), Some(hashes[3].as_slice()));
        assert_eq!(find("aaaaa-aaaaa", &hashes), None);
    }
}
