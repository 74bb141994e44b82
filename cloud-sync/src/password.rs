//! Password hashes, shared by the box (admin and portal users) and the fleet service (box
//! broker credentials, dashboard users), so both sides store and check them one way:
//! `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64 without padding).

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

const PBKDF2_ITERATIONS: u32 = 100_000;

/// Equality that takes the same time wherever the first difference is (tokens, digests).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The system's random source failed: nothing safe can be made without it.
#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub struct RandomFailed;

/// `N` bytes from the system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomFailed> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| RandomFailed)?;
    Ok(out)
}

/// A random password of `len` characters from an alphabet without look-alikes (no 0/O, 1/l):
/// one-time admin passwords, claim codes, broker credentials.
pub fn random_password(len: usize) -> Result<String, RandomFailed> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let [b] = random_bytes::<1>()?;
        // Rejection sampling keeps every character equally likely.
        if usize::from(b) < 256 - 256 % ALPHABET.len() {
            out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
        }
    }
    Ok(out)
}

pub fn hash_password(password: &str) -> Result<String, RandomFailed> {
    let salt: [u8; 16] = random_bytes()?;
    let mut out = [0u8; 32];
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password.as_bytes(), &mut out);
    Ok(format!("pbkdf2-sha256${PBKDF2_ITERATIONS}${}${}", B64.encode(salt), B64.encode(out)))
}

/// Checks a password against a stored hash, in constant time.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iter), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(iter), Ok(salt), Ok(hash)) =
        (iter.parse().ok().and_then(NonZeroU32::new), B64.decode(salt), B64.decode(hash))
    else {
        return false;
    };
    pbkdf2::verify(pbkdf2::PBKDF2_HMAC_SHA256, iter, &salt, password.as_bytes(), &hash).is_ok()
}

/// A hash of a password nobody has: checking a login of an unknown name against it costs the
/// same as a wrong password, so timing tells nobody which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_compares_whole_values() {
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    #[test]
    fn a_hash_accepts_its_password_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsf", &h));
        assert!(!verify_password("correct horse", "plain-text"));
        assert_ne!(hash_password("correct horse").unwrap(), h, "salted");
    }
}
