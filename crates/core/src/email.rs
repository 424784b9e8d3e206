//! `Email`: the sign-in name of an identity. Parsed once at the edge; inner code never
//! re-validates.
//!
//! Rules: surrounding whitespace trimmed; the domain case-folded (domains are
//! case-insensitive); at most 254 characters in all and 64 in the local part; no control
//! characters or whitespace anywhere; a dot-atom local part (quoted local parts are refused
//! rather than half-supported); a domain of at least two dot-separated labels of letters,
//! digits and inner hyphens. Uniqueness is case-insensitive on the whole address
//! ([`Email::key`]), while the local part keeps the case the person typed for display.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an email address is required")]
    Empty,
    #[error("an email address has at most 254 characters")]
    TooLong,
    #[error("the part before @ has at most 64 characters")]
    LocalTooLong,
    #[error("an email address cannot contain spaces or control characters")]
    ForbiddenCharacter,
    #[error("an email address needs exactly one @ with text before it")]
    MissingAt,
    #[error("the part before @ is not valid")]
    InvalidLocal,
    #[error("the domain after @ is missing or not valid")]
    InvalidDomain,
}

/// Characters RFC 5322 allows in a dot-atom besides letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

impl Email {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::ForbiddenCharacter);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::MissingAt)?;
        if local.is_empty() || local.contains('@') {
            return Err(EmailError::MissingAt);
        }
        if local.chars().count() > 64 {
            return Err(EmailError::LocalTooLong);
        }
        if !valid_local(local) {
            return Err(EmailError::InvalidLocal);
        }
        let domain = domain.to_lowercase();
        if !valid_domain(&domain) {
            return Err(EmailError::InvalidDomain);
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key that identity uniqueness is enforced on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

fn valid_local(local: &str) -> bool {
    !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    if domain.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.chars().count() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        // A top-level domain is never all digits, which also refuses bare IPv4 literals.
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn trims_and_folds_the_domain_only() {
        let e = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace@example.com");
        assert_eq!(e.key(), "ada.lovelace@example.com");
        assert_eq!(e.local_part(), "Ada.Lovelace");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn accepts_common_shapes() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "jürgen@bücher.de",
            "x_y-z@a-b.example",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok} should parse");
        }
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        use EmailError::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("no-at-sign", MissingAt),
            ("@example.com", MissingAt),
            ("a@@example.com", MissingAt),
            ("a b@example.com", ForbiddenCharacter),
            ("a\u{0}b@example.com", ForbiddenCharacter),
            ("ab@exa\nmple.com", ForbiddenCharacter),
            (".a@example.com", InvalidLocal),
            ("a..b@example.com", InvalidLocal),
            ("\"quoted\"@example.com", InvalidLocal),
            ("a@", InvalidDomain),
            ("a@localhost", InvalidDomain),
            ("a@-x.com", InvalidDomain),
            ("a@x..com", InvalidDomain),
            ("a@1.2.3.4", InvalidDomain),
            ("a@exa_mple.com", InvalidDomain),
        ];
        for (input, want) in cases {
            assert_eq!(Email::parse(input), Err(want), "{input:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long_local), Err(LocalTooLong));
        let long = format!("a@{}.com", "b".repeat(260));
        assert_eq!(Email::parse(&long), Err(TooLong));
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        let e: Email = serde_json::from_str("\"A@B.example\"").unwrap();
        assert_eq!(e.as_str(), "A@b.example");
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()), Ok(e.clone()));
                prop_assert!(!e.as_str().chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn case_variants_share_a_key(local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,10}") {
            let a = Email::parse(&format!("{local}@{domain}.example")).unwrap();
            let b = Email::parse(&format!("{}@{}.EXAMPLE", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(a.key(), b.key());
        }
    }
}
