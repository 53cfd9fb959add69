//! Authentication plugins' arithmetic: the scramble fastlb sends its clients, and the
//! tokens of `mysql_native_password` and `caching_sha2_password` (computed to log in to a
//! server, compared to verify a client; fastlb knows its users' passwords).

use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const NATIVE_PASSWORD: &[u8] = b"mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &[u8] = b"caching_sha2_password";

/// Length of the scramble (nonce) both plugins use.
pub const SCRAMBLE_LEN: usize = 20;

/// caching_sha2_password's AuthMoreData bytes.
pub const SHA2_FAST_AUTH_OK: u8 = 0x03;
pub const SHA2_FULL_AUTH: u8 = 0x04;

/// A fresh scramble: random printable bytes (clients treat the second part as a
/// NUL-terminated string, so no zero bytes).
pub fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    let mut scramble = [0u8; SCRAMBLE_LEN];
    if getrandom::fill(&mut scramble).is_err() {
        // No OS randomness is a broken system; a predictable scramble would be a silent
        // weakness, so fall back to the clock mixed through SHA-256 rather than zeros.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let digest = Sha256::digest(now.to_le_bytes());
        scramble.copy_from_slice(&digest[..SCRAMBLE_LEN]);
    }
    for byte in &mut scramble {
        *byte = 0x21 + (*byte % 94);
    }
    scramble
}

/// `SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))`; empty for an empty password.
pub fn native_password_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut hasher = Sha1::new();
    hasher.update(scramble);
    hasher.update(stage2);
    let mix = hasher.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble)`; empty for an empty
/// password.
pub fn sha2_password_token(password: &[u8], scramble: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut hasher = Sha256::new();
    hasher.update(stage2);
    hasher.update(scramble);
    let mix = hasher.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// The token a client of `plugin` must send for `password`, or None for a plugin fastlb
/// does not verify.
pub fn expected_token(plugin: &[u8], password: &[u8], scramble: &[u8]) -> Option<Vec<u8>> {
    match plugin {
        NATIVE_PASSWORD => Some(native_password_token(password, scramble)),
        CACHING_SHA2_PASSWORD => Some(sha2_password_token(password, scramble)),
        _ => None,
    }
}

/// Compares without an early exit, so the time taken doesn't tell how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAMBLE: &[u8; 20] = b"abcdefghijklmnopqrst";

    // Expected values computed independently with Python's hashlib.
    #[test]
    fn native_password_known_answer() {
        let token = native_password_token(b"secret", SCRAMBLE);
        assert_eq!(hex(&token), "8817c50fa779daef010ee7577825b0847df9842e");
    }

    #[test]
    fn sha2_password_known_answer() {
        let token = sha2_password_token(b"secret", SCRAMBLE);
        assert_eq!(
            hex(&token),
            "c76e2898612a4cf042c77fa8c4702c4c64c0c2c557c53c4d75595aaa6abae809"
        );
    }

    #[test]
    fn empty_password_empty_token() {
        assert!(native_password_token(b"", SCRAMBLE).is_empty());
        assert!(sha2_password_token(b"", SCRAMBLE).is_empty());
    }

    #[test]
    fn scramble_is_printable_and_fresh() {
        let a = new_scramble();
        assert!(a.iter().all(|b| (0x21..0x7f).contains(b)));
        assert_ne!(a, new_scramble());
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
