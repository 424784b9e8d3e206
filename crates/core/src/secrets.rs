//! Bearer secrets: invitation links, session cookies, CSRF tokens, API tokens.
//!
//! A secret is 256 bits from the operating system's CSPRNG, shown to its holder once and
//! stored only as its SHA-256 hash. Lookups go by hash, so the raw value never reaches the
//! store, and comparisons of secrets are constant-time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A raw secret as handed to its holder. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The SHA-256 of a secret, hex encoded: the only form that is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(String);

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), RandomError> {
    getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
}

impl Secret {
    /// A new 256-bit secret with a readable prefix (`roster_op_…`) so leaked tokens can be
    /// recognised by secret scanners. Prefix may be empty.
    pub fn generate(prefix: &str) -> Result<Self, RandomError> {
        let mut bytes = [0u8; 32];
        random_bytes(&mut bytes)?;
        Ok(Self(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Wraps a secret presented by a caller. Anything is accepted: an unknown value simply
    /// hashes to something that is not stored.
    pub fn presented(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> SecretHash {
        SecretHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// Constant-time comparison with a stored hash.
    pub fn matches(&self, stored: &SecretHash) -> bool {
        self.hash().0.as_bytes().ct_eq(stored.0.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl SecretHash {
    /// Rebuilds a hash read back from the store.
    pub fn from_stored(hex: impl Into<String>) -> Self {
        Self(hex.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_unique_and_prefixed() {
        let a = Secret::generate("roster_op_").unwrap();
        let b = Secret::generate("roster_op_").unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("roster_op_"));
        // 32 random bytes → 43 base64url characters.
        assert_eq!(a.expose().len(), "roster_op_".len() + 43);
    }

    #[test]
    fn hash_is_sha256_hex_and_never_the_secret() {
        let s = Secret::presented("abc");
        assert_eq!(
            s.hash().as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(s.matches(&s.hash()));
        assert!(!Secret::presented("abd").matches(&s.hash()));
    }

    #[test]
    fn debug_redacts() {
        let s = Secret::presented("top-secret");
        assert!(!format!("{s:?}").contains("top-secret"));
    }
}
