//! Agent credentials: the argon2id hash for the desktop login, and the SIP digest HA1
//! values (RFC 2617 / RFC 8760). Argon2 is slow on purpose, so hashing and verifying run
//! on tokio's blocking pool, never on a runtime thread.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString};
use argon2::Argon2;
use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::CaseError;

/// What a backend's `add_agent` stores besides the [`NewAgent`](crate::NewAgent): the
/// hashes made from its password.
pub(crate) struct AgentHashes<'a> {
    pub password_hash: &'a str,
    pub realm: &'a str,
    pub ha1_md5: &'a str,
    pub ha1_sha256: &'a str,
}

/// The digest HA1 values of one agent for one realm.
pub(crate) struct Ha1 {
    pub md5: String,
    pub sha256: String,
}

/// `hex(H("extension:realm:password"))` for MD5 and SHA-256.
pub(crate) fn ha1(extension: &str, realm: &str, password: &str) -> Ha1 {
    let input = format!("{extension}:{realm}:{password}");
    Ha1 {
        md5: hex::encode(Md5::digest(input.as_bytes())),
        sha256: hex::encode(Sha256::digest(input.as_bytes())),
    }
}

/// Hashes a password to an argon2id PHC string (default parameters, random salt).
pub(crate) async fn hash_password(password: String) -> Result<String, CaseError> {
    blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches the PHC string `hash`. With `hash` `None` (no such agent)
/// it verifies against a dummy hash instead, so the answer (`false`) takes as long as a
/// wrong password for a real agent.
pub(crate) async fn verify_password(
    password: String,
    hash: Option<String>,
) -> Result<bool, CaseError> {
    blocking(move || match hash {
        Some(hash) => verify_now(&password, &hash),
        None => {
            let dummy = dummy_hash()?;
            verify_now(&password, dummy).map(|_| false)
        }
    })
    .await?
}

/// A new session token: 32 random bytes from the OS, hex.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored for a session token: hex(SHA-256(token)).
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn hash_now(password: &str) -> Result<String, CaseError> {
    let mut salt = [0u8; Salt::RECOMMENDED_LENGTH];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(hashing)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(hashing)
}

fn verify_now(password: &str, hash: &str) -> Result<bool, CaseError> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| CaseError::Corrupt(format!("agent password hash: {e}")))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(hashing(e)),
    }
}

/// A hash of a random password with the same parameters as real ones, made once.
fn dummy_hash() -> Result<&'static str, CaseError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h);
    }
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let hash = hash_now(&hex::encode(random))?;
    Ok(DUMMY.get_or_init(|| hash))
}

fn hashing(e: argon2::password_hash::Error) -> CaseError {
    CaseError::Hashing(e.to_string())
}

/// Runs `f` on the blocking pool; a panic in it is resumed here.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CaseError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => Ok(v),
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => Err(CaseError::Hashing(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha1_matches_rfc_2617_vector() {
        // RFC 2617 §3.5: HA1 of Mufasa / testrealm@host.com / Circle Of Life.
        let h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        assert_eq!(h.md5, "939e7578ed9e3c518a452acee763bce9");
        // RFC 7616 §3.9.1's user, SHA-256 (value cross-checked with Python's hashlib).
        let h = ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        assert_eq!(
            h.sha256,
            "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
        );
    }
}
