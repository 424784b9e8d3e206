use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::IdentityId;
use crate::names::DisplayName;

/// One person across the whole deployment; the email is the sign-in name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub id: IdentityId,
    pub email: Email,
    pub name: Option<DisplayName>,
    /// argon2id PHC string; `None` until the person sets a password (an invited identity).
    pub password_hash: Option<String>,
    pub email_verified_at: Option<Timestamp>,
    /// IANA time zone name, e.g. `Europe/Paris`.
    pub timezone: Option<String>,
    /// BCP 47 language tag, e.g. `fr-FR`.
    pub locale: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Identity {
    /// A new identity that has not signed in yet.
    pub fn new(email: Email, name: Option<DisplayName>, now: Timestamp) -> Self {
        Self {
            id: IdentityId::new(),
            email,
            name,
            password_hash: None,
            email_verified_at: None,
            timezone: None,
            locale: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the person can already sign in on their own (seed 001: such an identity is
    /// granted access at once instead of being invited).
    /// How others see the person: their name, or their email when they gave none.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.to_string(),
            None => self.email.to_string(),
        }
    }

    pub fn has_usable_sign_in(&self) -> bool {
        self.password_hash.is_some()
    }
}
