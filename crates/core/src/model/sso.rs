//! Single sign-on through OpenID Connect, per organization (seed 004): the connection an
//! organization sets up with its identity provider, and the short-lived record of a
//! sign-in sent to the provider and not yet back.

use super::BuiltinRole;
use crate::clock::Timestamp;
use crate::ids::OrgId;
use crate::secrets::SecretHash;

/// An organization's OpenID Connect connection. At most one per organization.
#[derive(Clone, PartialEq, Eq)]
pub struct SsoConnection {
    pub org_id: OrgId,
    /// The provider's issuer URL; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Write-only: accepted by the API, used towards the provider, never shown again.
    pub client_secret: String,
    /// Scopes asked for besides `openid` (by default `email` and `profile`).
    pub scopes: Vec<String>,
    /// Email domains whose people sign in through this connection, lowercase. A domain is
    /// claimed by one organization only.
    pub domains: Vec<String>,
    /// The role of a member created at their first SSO sign-in (just in time). `None`:
    /// nobody new is let in; only existing members sign in through SSO.
    pub default_role: Option<BuiltinRole>,
    /// Password sign-in, password resets and manual invitations are refused for the
    /// claimed domains: members come only through SSO.
    pub enforce: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Everything but the secret, so a connection in a log line never carries it.
impl std::fmt::Debug for SsoConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConnection")
            .field("org_id", &self.org_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("domains", &self.domains)
            .field("default_role", &self.default_role)
            .field("enforce", &self.enforce)
            .finish_non_exhaustive()
    }
}

impl SsoConnection {
    /// Whether `email`'s domain is one this connection claims.
    pub fn claims(&self, email: &str) -> bool {
        email_domain(email).is_some_and(|d| self.domains.contains(&d))
    }
}

/// The domain of an email address, lowercase.
pub fn email_domain(email: &str) -> Option<String> {
    email
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// Whether `domain` is a plausible email domain: labels of letters, digits and hyphens,
/// at least two of them, at most 253 characters.
pub fn valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// A sign-in sent to the provider: what the callback needs to finish it, found by the
/// hash of the `state` value and used once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoLogin {
    pub state_hash: SecretHash,
    pub org_id: OrgId,
    /// The ID token must carry this nonce.
    pub nonce: String,
    /// The PKCE verifier sent with the code.
    pub pkce_verifier: String,
    /// The email the person typed, for the diagnostics of a failure.
    pub email_hint: String,
    /// Where to go after signing in (a local path).
    pub next: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_checked_and_compared_lowercase() {
        assert!(valid_domain("acme.example"));
        assert!(valid_domain("eu.acme-corp.example"));
        for bad in [
            "",
            "acme",
            ".acme.example",
            "acme..example",
            "-acme.example",
            "Acme.example",
            "acme.example/x",
            "a@b.example",
        ] {
            assert!(!valid_domain(bad), "{bad}");
        }
        assert_eq!(
            email_domain("Jane@ACME.Example").as_deref(),
            Some("acme.example")
        );
        assert_eq!(email_domain("nobody"), None);
    }
}
