use super::{Actor, UnknownValue};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{IdentityId, IdentityTokenId, OrgId};
use crate::secrets::SecretHash;

/// What a single-use identity link is for. A link is looked up together with its purpose,
/// so a reset link can never confirm an email change or the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    PasswordReset,
    EmailChange,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::PasswordReset => "password_reset",
            TokenPurpose::EmailChange => "email_change",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        match s {
            "password_reset" => Ok(TokenPurpose::PasswordReset),
            "email_change" => Ok(TokenPurpose::EmailChange),
            other => Err(UnknownValue {
                what: "token purpose",
                value: other.to_owned(),
                expected: "password_reset, email_change",
            }),
        }
    }
}

/// A single-use link bound to one identity and one purpose. The link holds the raw token;
/// only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityToken {
    pub id: IdentityTokenId,
    pub identity_id: IdentityId,
    pub purpose: TokenPurpose,
    pub token_hash: SecretHash,
    /// The address being confirmed, for [`TokenPurpose::EmailChange`].
    pub new_email: Option<Email>,
    /// The organization whose admin sent the link, if an admin did.
    pub org_id: Option<OrgId>,
    pub requested_by: Actor,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl IdentityToken {
    /// Whether the link still works at `now`: not used, not replaced, not expired.
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}
