//! Human-facing names and slugs, parsed at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The URL name of an organization: 2–63 characters of `a-z`, `0-9` and inner single
/// hyphens. Never shaped like a UUID, because `{org}` in a path takes an id or a slug.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("a slug has 2 to 63 characters")]
    Length,
    #[error("a slug uses only lowercase letters a-z, digits and single hyphens between them")]
    Characters,
    #[error("a slug cannot look like an id")]
    LooksLikeId,
}

impl Slug {
    pub fn parse(input: &str) -> Result<Self, SlugError> {
        let s = input.trim();
        if !(2..=63).contains(&s.len()) {
            return Err(SlugError::Length);
        }
        let chars_ok = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !chars_ok || s.starts_with('-') || s.ends_with('-') || s.contains("--") {
            return Err(SlugError::Characters);
        }
        if Uuid::parse_str(s).is_ok() {
            return Err(SlugError::LooksLikeId);
        }
        Ok(Self(s.to_owned()))
    }

    /// Derives a slug from an organization name: ASCII letters and digits kept and
    /// lowercased, everything else collapsed into single hyphens.
    pub fn from_name(name: &str) -> Result<Self, SlugError> {
        let mut out = String::new();
        for c in name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_end_matches('-').chars().take(63).collect();
        Self::parse(trimmed.trim_end_matches('-'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Slug {
    type Error = SlugError;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> Self {
        s.0
    }
}

/// A display name (organization or person): trimmed, 1–200 characters, no control
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name is required")]
    Empty,
    #[error("a name has at most 200 characters")]
    TooLong,
    #[error("a name cannot contain control characters")]
    ControlCharacter,
}

impl DisplayName {
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.chars().count() > 200 {
            return Err(NameError::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(NameError::ControlCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The folded form member search compares: lowercase, by Rust's Unicode rules. Names are
/// stored with it and a query is folded the same way, so both backends match alike.
pub fn search_key(text: &str) -> String {
    text.to_lowercase()
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DisplayName {
    type Error = NameError;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        Self::parse(&v)
    }
}

impl From<DisplayName> for String {
    fn from(s: DisplayName) -> Self {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("acme-eu-2").is_ok());
        assert_eq!(Slug::parse("a"), Err(SlugError::Length));
        assert_eq!(Slug::parse("Acme"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("-acme"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("ac--me"), Err(SlugError::Characters));
        assert_eq!(Slug::parse("ac me"), Err(SlugError::Characters));
        assert_eq!(
            Slug::parse(&uuid::Uuid::now_v7().to_string()),
            Err(SlugError::LooksLikeId)
        );
    }

    #[test]
    fn slug_from_name() {
        assert_eq!(Slug::from_name("Acme Corp.").unwrap().as_str(), "acme-corp");
        assert_eq!(
            Slug::from_name("  Müller & Söhne GmbH ").unwrap().as_str(),
            "m-ller-s-hne-gmbh"
        );
        assert!(Slug::from_name("!!!").is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(DisplayName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert_eq!(DisplayName::parse(" "), Err(NameError::Empty));
        assert_eq!(
            DisplayName::parse("a\u{7}b"),
            Err(NameError::ControlCharacter)
        );
        assert_eq!(
            DisplayName::parse(&"x".repeat(201)),
            Err(NameError::TooLong)
        );
    }
}
