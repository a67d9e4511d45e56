//! TOTP (RFC 6238) with the parameters every authenticator app supports: HMAC-SHA-1, 6 digits,
//! 30-second steps, a code of the previous or next step accepted too (§5.2, clock drift).

use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::clock::UnixTime;
use crate::random::{self, RandomError};

/// Seconds per step (RFC 6238 §5.2 recommends 30).
pub const STEP: i64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// 160 bits, the length RFC 4226 §4 recommends and HMAC-SHA-1's block output.
pub const SECRET_LEN: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("TOTP parameters refused: {0}")]
    Params(String),
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// A fresh random secret.
pub fn generate_secret() -> Result<Zeroizing<Vec<u8>>, RandomError> {
    Ok(Zeroizing::new(random::bytes::<SECRET_LEN>()?.to_vec()))
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp, TotpError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(1)
        .with_step_duration(STEP as u64)
        .with_secret(Secret::from(secret))
        .with_issuer(Some(issuer.replace(':', "")))
        .with_account_name(account.replace(':', ""))
        .build()
        .map_err(|e| TotpError::Params(e.to_string()))
}

/// What an authenticator app needs: the secret in base32 for manual entry, and the
/// `otpauth://totp/…` URI the QR code carries.
pub fn provisioning(secret: &[u8], issuer: &str, account: &str) -> Result<(String, String), TotpError> {
    let t = totp(secret, issuer, account)?;
    let uri = t.to_url().map_err(|e| TotpError::Params(e.to_string()))?;
    Ok((t.secret().to_base32(), uri))
}

/// The code of `step` (for tests and tools; verification uses [`matching_step`]).
pub fn code_at(secret: &[u8], step: i64) -> Result<String, TotpError> {
    let t = totp(secret, "gatehouse", "user")?;
    Ok(t.generate(u64::try_from(step * STEP).unwrap_or(0)).to_string())
}

/// The time step of `now`.
pub fn step_of(now: UnixTime) -> i64 {
    now.div_euclid(STEP)
}

/// The step in `now`'s step ±1 whose code is `code`, if any. All three codes are computed and
/// compared in constant time, so timing tells nothing about which step (or digit) matched.
pub fn matching_step(secret: &[u8], code: &str, now: UnixTime) -> Result<Option<i64>, TotpError> {
    let presented: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let well_formed = presented.len() == DIGITS && presented.bytes().all(|b| b.is_ascii_digit());
    let t = totp(secret, "gatehouse", "user")?;
    let current = step_of(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        let expected = t.generate(u64::try_from(step * STEP).unwrap_or(0)).to_string();
        let equal: bool = expected.as_bytes().ct_eq(presented.as_bytes()).into();
        if equal && well_formed && found.is_none() {
            found = Some(step);
        }
    }
    Ok(found)
}

/// Whether presented input looks like a TOTP code (six digits) rather than a recovery code.
pub fn looks_like_code(input: &str) -> bool {
    let digits: Vec<u8> = input.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits.len() == DIGITS && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        // The RFC's 20-byte SHA-1 seed; its 8-digit values end in these 6 digits.
        let secret = b"12345678901234567890";
        for (time, expected) in [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924")] {
            assert_eq!(code_at(secret, time / STEP).unwrap(), expected);
        }
    }

    #[test]
    fn accepts_one_step_either_side_only() {
        let secret = generate_secret().unwrap();
        let now = 1_700_000_015;
        let s = step_of(now);
        for delta in [-1, 0, 1] {
            let code = code_at(&secret, s + delta).unwrap();
            assert_eq!(matching_step(&secret, &code, now).unwrap(), Some(s + delta));
        }
        for delta in [-2, 2] {
            let code = code_at(&secret, s + delta).unwrap();
            assert_eq!(matching_step(&secret, &code, now).unwrap(), None);
        }
        assert_eq!(matching_step(&secret, "12345", now).unwrap(), None);
        assert_eq!(matching_step(&secret, "abcdef", now).unwrap(), None);
    }

    #[test]
    fn provisioning_uri_names_issuer_and_account() {
        let (b32, uri) = provisioning(b"12345678901234567890", "Gatehouse", "alice@example.com").unwrap();
        assert_eq!(b32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert!(uri.starts_with("otpauth://totp/Gatehouse:alice%40example.com?"), "{uri}");
        assert!(uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") && uri.contains("issuer=Gatehouse"), "{uri}");
    }
}
