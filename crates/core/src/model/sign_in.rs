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
    /// Password sign-in for a domain whose organization enforces single sign-on.
    SsoEnforced,
    /// The provider answered with an error, or its answer did not verify (code exchange,
    /// signature, issuer, audience, expiry, nonce).
    SsoProviderError,
    /// The callback's state is unknown, used or expired.
    SsoStateInvalid,
    /// The provider did not say the email is verified.
    SsoEmailUnverified,
    /// The verified email's domain is not claimed by the connection used.
    SsoDomainNotClaimed,
    /// A new person, and the connection has no default role to give them.
    SsoNoDefaultRole,
    /// The provider said yes; the member is deactivated here.
    SsoMemberDeactivated,
    /// The account also belongs to other organizations: one organization's provider does
    /// not sign it in.
    SsoAccountElsewhere,
}

impl SignInCode {
    pub const ALL: [SignInCode; 15] = [
        SignInCode::Succeeded,
        SignInCode::UnknownEmail,
        SignInCode::WrongPassword,
        SignInCode::NoPassword,
        SignInCode::MembershipDeactivated,
        SignInCode::NotificationsOnly,
        SignInCode::Throttled,
        SignInCode::SsoEnforced,
        SignInCode::SsoProviderError,
        SignInCode::SsoStateInvalid,
        SignInCode::SsoEmailUnverified,
        SignInCode::SsoDomainNotClaimed,
        SignInCode::SsoNoDefaultRole,
        SignInCode::SsoMemberDeactivated,
        SignInCode::SsoAccountElsewhere,
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
            SignInCode::SsoEnforced => "sso_enforced",
            SignInCode::SsoProviderError => "sso_provider_error",
            SignInCode::SsoStateInvalid => "sso_state_invalid",
            SignInCode::SsoEmailUnverified => "sso_email_unverified",
            SignInCode::SsoDomainNotClaimed => "sso_domain_not_claimed",
            SignInCode::SsoNoDefaultRole => "sso_no_default_role",
            SignInCode::SsoMemberDeactivated => "sso_member_deactivated",
            SignInCode::SsoAccountElsewhere => "sso_account_elsewhere",
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
                           membership_deactivated, notifications_only, throttled, sso_*",
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
            // Single sign-on refusals are about the domain or come after the provider
            // vouched for the person: naming them reveals no account.
            c => c.as_str(),
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
