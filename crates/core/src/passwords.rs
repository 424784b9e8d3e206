//! Password policy and hashing, in one place so every path that sets a password (accepting
//! an invitation now; reset and change later) applies the same rules.
//!
//! The policy follows NIST SP 800-63B: a minimum length (12 by default, raised per
//! organization), a maximum of 1,024 bytes checked before hashing, NFKC normalisation, no
//! composition rules. Hashes are argon2id PHC strings with OWASP's parameters, computed off
//! the async runtime with a bounded number running at once, so no burst of requests can make
//! the server hash without limit.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const DEFAULT_MIN_LENGTH: u32 = 12;

/// Why a password was refused. All reasons are reported at once.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PolicyViolation {
    TooShort { min_length: u32 },
    TooLong { max_bytes: usize },
    ControlCharacter,
}

impl PolicyViolation {
    pub fn message(&self) -> String {
        match self {
            PolicyViolation::TooShort { min_length } => {
                format!("Use at least {min_length} characters.")
            }
            PolicyViolation::TooLong { max_bytes } => {
                format!("Use at most {max_bytes} bytes.")
            }
            PolicyViolation::ControlCharacter => {
                "Passwords cannot contain control characters.".to_owned()
            }
        }
    }
}

/// A password that passed the policy, already NFKC-normalised. `Debug` never prints it.
pub struct AcceptedPassword(String);

impl std::fmt::Debug for AcceptedPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptedPassword(<redacted>)")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: DEFAULT_MIN_LENGTH,
        }
    }
}

impl PasswordPolicy {
    /// Checks a candidate. The byte cap is checked on the raw input first, so an oversized
    /// password is refused before any work is done on it.
    pub fn check(&self, candidate: &str) -> Result<AcceptedPassword, Vec<PolicyViolation>> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return Err(vec![PolicyViolation::TooLong {
                max_bytes: MAX_PASSWORD_BYTES,
            }]);
        }
        let normalized = normalize(candidate);
        let mut violations = Vec::new();
        if normalized.len() > MAX_PASSWORD_BYTES {
            violations.push(PolicyViolation::TooLong {
                max_bytes: MAX_PASSWORD_BYTES,
            });
        }
        let length = u32::try_from(normalized.chars().count()).unwrap_or(u32::MAX);
        if length < self.min_length {
            violations.push(PolicyViolation::TooShort {
                min_length: self.min_length,
            });
        }
        if normalized.chars().any(char::is_control) {
            violations.push(PolicyViolation::ControlCharacter);
        }
        if violations.is_empty() {
            Ok(AcceptedPassword(normalized))
        } else {
            Err(violations)
        }
    }
}

fn normalize(s: &str) -> String {
    s.nfkc().collect()
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing pool is closed")]
    Closed,
}

/// Hashes and verifies passwords with a bounded number of hashes running at once.
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

fn argon2() -> Result<Argon2<'static>, HashError> {
    // OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1.
    let params = Params::new(19_456, 2, 1, None).map_err(|e| HashError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

impl Passwords {
    /// `concurrency` hashes may run at once; more wait their turn.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    pub async fn hash(&self, password: AcceptedPassword) -> Result<String, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()?
                .hash_password(password.0.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))?
    }

    /// Whether `candidate` matches the stored PHC string. A malformed stored hash never
    /// matches.
    pub async fn verify(&self, candidate: &str, stored: &str) -> Result<bool, HashError> {
        if candidate.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Closed)?;
        let candidate = normalize(candidate);
        let stored = stored.to_owned();
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(false);
            };
            Ok(argon2()?
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_rules() {
        let p = PasswordPolicy::default();
        assert_eq!(
            p.check("elevenchars").unwrap_err(),
            vec![PolicyViolation::TooShort { min_length: 12 }]
        );
        assert!(p.check("twelve chars").is_ok());
        assert!(p.check(&"🦀".repeat(12)).is_ok(), "code points, not bytes");
        assert!(p.check(&"x".repeat(1024)).is_ok());
        assert_eq!(
            p.check(&"x".repeat(1025)).unwrap_err(),
            vec![PolicyViolation::TooLong { max_bytes: 1024 }]
        );
        let raised = PasswordPolicy { min_length: 15 };
        assert!(raised.check("fourteen chars").is_err());
    }

    #[test]
    fn all_reasons_are_reported() {
        let err = PasswordPolicy::default().check("a\u{7}b").unwrap_err();
        assert_eq!(err.len(), 2);
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_after_nfkc() {
        let pw = Passwords::new(2);
        let policy = PasswordPolicy::default();
        let a = pw
            .hash(policy.check("ﬁne ﬁne ﬁne ﬁne").unwrap())
            .await
            .unwrap();
        let b = pw
            .hash(policy.check("fine fine fine fine").unwrap())
            .await
            .unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "unique salts");
        assert!(pw.verify("fine fine fine fine", &a).await.unwrap(), "NFKC");
        assert!(!pw.verify("fine fine fine fine!", &a).await.unwrap());
        assert!(!pw.verify("fine fine fine fin", &a).await.unwrap());
        assert!(!pw.verify("x", "not a phc string").await.unwrap());
    }
}
