use super::UnknownValue;
use crate::clock::Timestamp;
use crate::ids::{IdentityId, SignInAttemptId};

/// Why a sign-in ended the way it did. The precise code is recorded for admins and support;
/// the person is told only [`SignInCode::public_code`], so the answer never reveals whether
/// an account exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignInCode {
    Succeeded,
    /// No identity has this email.
    UnknownEmail,
    WrongPassword,
    /// The identity has never set a password (an invitation not yet accepted).
    NoPassword,
    /// No membership admits the person: every one is deactivated, removed or pending.
    MembershipDeactivated,
    /// The password was right, but every membership is Notifications-only.
    NotificationsOnly,
    /// Too many failures for this email or from this address.
    Throttled,
}

impl SignInCode {
    pub const ALL: [SignInCode; 7] = [
        SignInCode::Succeeded,
        SignInCode::UnknownEmail,
        SignInCode::WrongPassword,
        SignInCode::NoPassword,
        SignInCode::MembershipDeactivated,
        SignInCode::NotificationsOnly,
        SignInCode::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInCode::Succeeded => "succeeded",
            SignInCode::UnknownEmail => "unknown_email",
            SignInCode::WrongPassword => "wrong_password",
            SignInCode::NoPassword => "no_password",
            SignInCode::MembershipDeactivated => "membership_deactivated",
            SignInCode::NotificationsOnly => "notifications_only",
            SignInCode::Throttled => "throttled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "sign-in code",
                value: s.to_owned(),
                expected: "succeeded, unknown_email, wrong_password, no_password, \
                           membership_deactivated, notifications_only, throttled",
            })
    }

    /// The code the person signing in is shown. Everything that would tell an unknown
    /// email from a known one collapses into `invalid_credentials`.
    pub fn public_code(self) -> &'static str {
        match self {
            SignInCode::Succeeded => "succeeded",
            SignInCode::UnknownEmail
            | SignInCode::WrongPassword
            | SignInCode::NoPassword
            | SignInCode::MembershipDeactivated => "invalid_credentials",
            SignInCode::NotificationsOnly => "notifications_only",
            SignInCode::Throttled => "sign_in_throttled",
        }
    }

    pub fn succeeded(self) -> bool {
        self == SignInCode::Succeeded
    }
}

/// One sign-in, refused or not: what admins see on a member's *Sign-in attempts* and what
/// support finds by the reference the person quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInAttempt {
    pub id: SignInAttemptId,
    /// Short, human-quotable reference, e.g. `K7Q2-M9XD`.
    pub reference: String,
    pub at: Timestamp,
    /// The email as typed (trimmed, at most 320 characters).
    pub email: String,
    /// The identity the email belongs to, when one does.
    pub identity_id: Option<IdentityId>,
    pub client_ip: Option<String>,
    pub code: SignInCode,
}

/// A fixed-window failure counter for sign-in throttling, shared by every instance through
/// the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Attempts counted in the current window.
    pub count: u32,
    pub window_started_at: Timestamp,
}
