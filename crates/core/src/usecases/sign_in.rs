//! Password sign-in with throttling and diagnostics.
//!
//! One answer for every way a sign-in can fail without the right password, or for a person
//! no organization admits (unknown email, wrong password, no password yet, deactivated or
//! removed everywhere): `invalid_credentials`, after the same amount of hashing work. Only
//! once the password is right does a Notifications-only member learn why.
//!
//! Throttling counts attempts per email and failures per client address in the store, so
//! every instance shares the counters. An attempt is counted against its email *before*
//! its password is checked: of fifty parallel guesses at one account, exactly fifty are
//! counted and at most ten are ever verified. A success clears the email's counter. A
//! client address is counted only when an attempt fails, so an office behind one address
//! signing in at nine o'clock is never throttled for succeeding.

use super::sessions::{may_hold_session, NewSession, SessionLimits, StartSessionError};
use super::target;
use crate::access::OrgGrant;
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{IdentityId, MembershipId, SignInAttemptId};
use crate::model::{
    Actor, AuditEvent, Identity, Membership, MembershipStatus, Organization, SignInAttempt,
    SignInCode, ThrottleState,
};
use crate::passwords::HashError;
use crate::roster::Roster;
use crate::secrets::{random_bytes, RandomError, Secret};
use crate::store::{StoreError, Tx};
use chrono::Duration;
use serde_json::json;

/// Failures counted per email, and per client address, before sign-in is throttled.
pub const MAX_FAILURES: u32 = 10;
/// The window in which failures are counted; the throttle lifts when it ends.
pub const THROTTLE_WINDOW_MINUTES: i64 = 15;

pub(crate) const EMAIL_SCOPE: &str = "sign_in_email";
const IP_SCOPE: &str = "sign_in_ip";

/// Longest email kept as typed in an attempt record.
const MAX_TYPED_EMAIL: usize = 320;

/// A sign-in as the person made it.
pub struct SignInInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The client's address as the web edge established it (proxies only if trusted).
    pub client_ip: Option<String>,
    /// The session cookie the browser already had, if any: it ends, so a session id known
    /// before sign-in never carries over.
    pub previous_session: Option<Secret>,
}

/// A successful sign-in.
#[derive(Debug)]
pub struct SignedIn {
    pub identity: Identity,
    pub memberships: Vec<(Membership, Organization)>,
    pub session: NewSession,
}

/// A refused sign-in, as shown to the person: what to quote to support and when to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInRefusal {
    pub code: SignInCode,
    pub reference: String,
    pub at: Timestamp,
    /// The email as typed.
    pub email: String,
    /// Seconds until the throttle lifts, for [`SignInCode::Throttled`].
    pub retry_after_seconds: Option<u64>,
    /// The organization the refusal is about, when there is one to name (single sign-on:
    /// the organization whose provider is used, or which enforces it).
    pub organization: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("sign-in refused: {}", .0.code.public_code())]
    Refused(SignInRefusal),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StartSessionError> for SignInError {
    fn from(e: StartSessionError) -> Self {
        match e {
            StartSessionError::Random(e) => SignInError::Random(e),
            StartSessionError::Store(e) => SignInError::Store(e),
        }
    }
}

/// A short reference a person can read out to support, e.g. `K7Q2-M9XD` (40 random bits;
/// it identifies an attempt, it guards nothing).
pub fn new_reference() -> Result<String, RandomError> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 8];
    random_bytes(&mut bytes)?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(format!("{}-{}", &chars[..4], &chars[4..]))
}

fn typed_email(raw: &str) -> String {
    raw.trim().chars().take(MAX_TYPED_EMAIL).collect()
}

/// The key an email is throttled under: the parsed address's key, or the lowercased text
/// when it does not parse, so junk input is counted too.
pub(crate) fn email_throttle_key(typed: &str) -> String {
    Email::parse(typed).map_or_else(|_| typed.to_lowercase(), |e| e.key())
}

/// The key a client address is throttled under. An IPv6 client usually holds a whole /64,
/// so the /64 is the unit; an IPv4-mapped IPv6 address counts as its IPv4 address.
pub(crate) fn ip_throttle_key(client_ip: Option<&str>) -> String {
    match client_ip.and_then(|s| s.parse::<std::net::IpAddr>().ok()) {
        Some(ip) => match ip.to_canonical() {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        None => "unknown".to_owned(),
    }
}

fn seconds_left(state: &ThrottleState, now: Timestamp) -> u64 {
    let lifts = state.window_started_at + Duration::minutes(THROTTLE_WINDOW_MINUTES);
    crate::clock::seconds_until(lifts, now)
}

/// What the password check decided, before any membership is considered.
enum Verdict {
    Refused(SignInCode),
    PasswordRight(Identity),
}

impl Roster {
    /// Signs a person in with email and password.
    pub async fn sign_in(&self, input: SignInInput<'_>) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let email = typed_email(input.email);
        let email_key = email_throttle_key(&email);
        let ip_key = ip_throttle_key(input.client_ip.as_deref());
        let window_start = now - Duration::minutes(THROTTLE_WINDOW_MINUTES);

        // An organization that enforces single sign-on for the email's domain turns
        // passwords off for it: no password is checked, and the person is told where to go.
        if let Some(org) = self.sso_enforced_for(&email).await? {
            let identity = self.identity_for_attempt(&email).await?;
            let refused = self
                .refuse(
                    &email,
                    identity,
                    input.client_ip,
                    SignInCode::SsoEnforced,
                    None,
                    now,
                )
                .await?;
            return Err(match refused {
                SignInError::Refused(r) => SignInError::Refused(SignInRefusal {
                    organization: Some(org.name.to_string()),
                    ..r
                }),
                other => other,
            });
        }

        // Count the attempt against its email first, in its own transaction, so parallel
        // guesses at one account see each other's counts before any of them is verified.
        // A client address is only read here and counted when an attempt fails: many
        // people behind one address signing in at once must not lock each other out.
        let mut tx = self.store.begin().await?;
        let by_email = tx
            .hit_throttle(EMAIL_SCOPE, &email_key, now, window_start)
            .await?;
        let by_ip = tx
            .throttle(IP_SCOPE, &ip_key)
            .await?
            .filter(|s| s.window_started_at > window_start && s.count >= MAX_FAILURES);
        tx.commit().await?;
        let over: Vec<&ThrottleState> = std::iter::once(&by_email)
            .filter(|s| s.count > MAX_FAILURES)
            .chain(by_ip.as_ref())
            .collect();
        if !over.is_empty() {
            let wait = over.iter().map(|s| seconds_left(s, now)).max();
            let identity = self.identity_for_attempt(&email).await?;
            return Err(self
                .refuse(
                    &email,
                    identity,
                    input.client_ip,
                    SignInCode::Throttled,
                    wait,
                    now,
                )
                .await?);
        }

        let verdict = self.check_password(&email, input.password).await?;
        let identity = match verdict {
            Verdict::Refused(code) => {
                let identity = self.identity_for_attempt(&email).await?;
                return Err(self
                    .refuse(&email, identity, input.client_ip, code, None, now)
                    .await?);
            }
            Verdict::PasswordRight(identity) => identity,
        };

        let mut reads = self.store.reads().await?;
        let memberships = reads.memberships_of_identity(identity.id).await?;
        let mut with_orgs = Vec::with_capacity(memberships.len());
        for m in &memberships {
            if let Some(org) = reads.org(m.org_id).await? {
                with_orgs.push((m.clone(), org));
            }
        }
        drop(reads);
        if !may_hold_session(&memberships) {
            let code = if memberships
                .iter()
                .any(|m| m.status.grants_access() && m.is_notifications_only())
            {
                SignInCode::NotificationsOnly
            } else {
                SignInCode::MembershipDeactivated
            };
            // A Notifications-only member is told so once the password is right, so giving
            // the count back reveals nothing. A deactivated one must look exactly like a
            // wrong password, including in the count: nothing is given back.
            if code == SignInCode::NotificationsOnly {
                let mut tx = self.store.begin().await?;
                tx.release_throttle(EMAIL_SCOPE, &email_key).await?;
                tx.commit().await?;
            }
            return Err(self
                .refuse(&email, Some(identity.id), input.client_ip, code, None, now)
                .await?);
        }

        let rehash = match &identity.password_hash {
            Some(stored) if crate::passwords::needs_rehash(stored) => {
                Some(self.passwords.rehash(input.password).await?)
            }
            _ => None,
        };
        let limits = SessionLimits::strictest(
            with_orgs
                .iter()
                .filter(|(m, _)| m.admits_person())
                .map(|(_, o)| &o.settings),
        );

        let mut tx = self.store.begin().await?;
        // The password was checked outside this transaction. Holding the identity, make
        // sure it is still the same one: a reset, password change or email change that
        // committed meanwhile (each ends every session) must not be followed by a session
        // (or a rehash) from the old password or address.
        let current = tx.identity_for_update(identity.id).await?;
        let unchanged = current.is_some_and(|c| {
            c.password_hash == identity.password_hash && c.email.key() == identity.email.key()
        });
        if !unchanged {
            drop(tx);
            return Err(self
                .refuse(
                    &email,
                    Some(identity.id),
                    input.client_ip,
                    SignInCode::WrongPassword,
                    None,
                    now,
                )
                .await?);
        }
        tx.clear_throttle(EMAIL_SCOPE, &email_key).await?;
        if let Some(previous) = &input.previous_session {
            if let Some(old) = tx.session_by_token(&previous.hash()).await? {
                tx.revoke_session(old.id, now).await?;
            }
        }
        if let Some(hash) = &rehash {
            tx.set_password_hash(identity.id, hash, now).await?;
        }
        let session = self
            .start_session_in(&mut *tx, identity.id, limits, None, now)
            .await?;
        let reference = new_reference()?;
        record_attempt(
            &mut *tx,
            SignInAttempt {
                id: SignInAttemptId::new(),
                reference,
                at: now,
                email: email.clone(),
                identity_id: Some(identity.id),
                client_ip: input.client_ip,
                code: SignInCode::Succeeded,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SignedIn {
            identity,
            memberships: with_orgs,
            session,
        })
    }

    /// Checks the password with the same hashing work whether or not the email is known.
    async fn check_password(&self, email: &str, password: &str) -> Result<Verdict, SignInError> {
        let identity = match Email::parse(email) {
            Ok(email) => {
                let mut reads = self.store.reads().await?;
                reads.identity_by_email(&email).await?
            }
            Err(_) => None,
        };
        let Some(identity) = identity else {
            self.passwords.verify_dummy(password).await?;
            return Ok(Verdict::Refused(SignInCode::UnknownEmail));
        };
        let Some(stored) = identity.password_hash.as_deref() else {
            self.passwords.verify_dummy(password).await?;
            return Ok(Verdict::Refused(SignInCode::NoPassword));
        };
        if self.passwords.verify(password, stored).await? {
            Ok(Verdict::PasswordRight(identity))
        } else {
            Ok(Verdict::Refused(SignInCode::WrongPassword))
        }
    }

    async fn identity_for_attempt(&self, email: &str) -> Result<Option<IdentityId>, StoreError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(None);
        };
        let mut reads = self.store.reads().await?;
        Ok(reads.identity_by_email(&email).await?.map(|i| i.id))
    }

    /// Records a refused attempt and builds what the person is told.
    async fn refuse(
        &self,
        email: &str,
        identity: Option<IdentityId>,
        client_ip: Option<String>,
        code: SignInCode,
        retry_after_seconds: Option<u64>,
        now: Timestamp,
    ) -> Result<SignInError, SignInError> {
        let reference = new_reference()?;
        let mut tx = self.store.begin().await?;
        if code != SignInCode::NotificationsOnly && code != SignInCode::SsoEnforced {
            let key = ip_throttle_key(client_ip.as_deref());
            let window_start = now - Duration::minutes(THROTTLE_WINDOW_MINUTES);
            tx.hit_throttle(IP_SCOPE, &key, now, window_start).await?;
        }
        record_attempt(
            &mut *tx,
            SignInAttempt {
                id: SignInAttemptId::new(),
                reference: reference.clone(),
                at: now,
                email: email.to_owned(),
                identity_id: identity,
                client_ip,
                code,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SignInError::Refused(SignInRefusal {
            code,
            reference,
            at: now,
            email: email.to_owned(),
            retry_after_seconds,
            organization: None,
        }))
    }

    /// A member's recent sign-in attempts, newest first, for their organization's admins.
    /// `None` when the organization has no such member.
    /// Someone who holds more than the caller (an admin, to a scoped admin) keeps their
    /// attempts to themselves: `Err(Forbidden)`.
    pub async fn member_sign_in_attempts(
        &self,
        grant: &OrgGrant,
        caller: &crate::access::Caller,
        member: MembershipId,
        limit: u32,
    ) -> Result<Option<Vec<SignInAttempt>>, crate::access::Denied> {
        let mut reads = self.store.reads().await?;
        let Some((held, customers)) =
            super::members::caller_reach(self, &mut *reads, caller, grant.org_id()).await?
        else {
            return Ok(None);
        };
        let Some(membership) = reads
            .membership(grant.org_id(), member)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed && held.scope.admits(m))
        else {
            return Ok(None);
        };
        if super::members::outranks(
            &self.catalog,
            &mut *reads,
            &held,
            customers.as_ref().map(|l| &l.customers),
            &membership,
        )
        .await?
        {
            return Err(crate::access::Denied::Forbidden);
        }
        Ok(Some(
            reads
                .sign_in_attempts_of(membership.identity_id, limit)
                .await?,
        ))
    }
}

/// Writes the attempt and its audit event. The audit trail keeps no email of an unknown
/// identity beyond the attempt record, and never a password.
pub(crate) async fn record_attempt(
    tx: &mut dyn Tx,
    attempt: SignInAttempt,
) -> Result<(), StoreError> {
    tx.insert_sign_in_attempt(&attempt).await?;
    let (action, actor) = if attempt.code.succeeded() {
        (
            "sign_in.succeeded",
            attempt.identity_id.map_or(Actor::System, Actor::Identity),
        )
    } else {
        ("sign_in.failed", Actor::System)
    };
    tx.append_audit(&AuditEvent::new(
        None,
        actor,
        action,
        attempt
            .identity_id
            .and_then(|id| target("identity", id.as_uuid())),
        json!({
            "code": attempt.code.as_str(),
            "reference": attempt.reference,
            "client_ip": attempt.client_ip,
        }),
        attempt.at,
    ))
    .await
}

/// What a refusal means and who can fix it, for the error page and the API answer. Keyed by
/// the public code only, so it never tells an unknown email from a known one.
pub fn explain(public_code: &str) -> (&'static str, &'static str) {
    match public_code {
        "invalid_credentials" => (
            "The email or password is not right, or this account cannot sign in.",
            "You: check the email and password, or reset your password. If your access was \
             turned off, an admin of your organization can turn it back on.",
        ),
        "notifications_only" => (
            "This account only receives email notifications; it cannot sign in.",
            "An admin of your organization can give you a role that signs in.",
        ),
        "sign_in_throttled" => (
            "Too many failed sign-ins for this email or from this network. Sign-in is paused \
             for a while.",
            "You: wait and try again, or reset your password. If it keeps happening, your \
             operator can look it up with the reference.",
        ),
        "sso_enforced" => (
            "Your organization signs its people in through its identity provider (single \
             sign-on): passwords are turned off for your email's domain.",
            "You: choose Sign in with only your email, and your organization's provider \
             takes over. Its admin can turn enforcement off.",
        ),
        "sso_provider_error" => (
            "Your organization's identity provider did not complete the sign-in, or its \
             answer could not be verified (its signature, issuer, audience, expiry or nonce).",
            "Try again. If it keeps happening, an admin of your organization can check the \
             connection with Test connection; quote the reference.",
        ),
        "sso_state_invalid" => (
            "This sign-in came back from the identity provider too late, twice, or without \
             the sign-in it belongs to.",
            "You: start again from the sign-in page.",
        ),
        "sso_email_unverified" => (
            "Your identity provider did not confirm that you own this email address.",
            "Your organization's identity provider admin: mark the address verified.",
        ),
        "sso_domain_not_claimed" => (
            "Your email's domain is not one this organization's single sign-on connection \
             claims.",
            "An admin of your organization: add the domain to the connection.",
        ),
        "sso_no_default_role" => (
            "You are not a member of this organization yet, and its single sign-on connection \
             has no default role for new members.",
            "An admin of your organization: invite you, or set a default role on the \
             connection.",
        ),
        "sso_account_elsewhere" => (
            "This account also belongs to other organizations, so one organization's identity \
             provider cannot sign it in.",
            "You: sign in with your email and password.",
        ),
        "sso_member_deactivated" => (
            "Your identity provider signed you in, but your access to this organization is \
             deactivated.",
            "An admin of your organization can activate it again.",
        ),
        _ => (
            "The sign-in did not complete.",
            "Your operator, with the reference.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_short_and_quotable() {
        let a = new_reference().unwrap();
        let b = new_reference().unwrap();
        assert_eq!(a.len(), 9);
        assert_eq!(&a[4..5], "-");
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn addresses_are_throttled_per_ipv4_and_per_ipv6_slash_64() {
        assert_eq!(ip_throttle_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(ip_throttle_key(Some("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(
            ip_throttle_key(Some("2001:db8:1:2:aaaa::1")),
            ip_throttle_key(Some("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            ip_throttle_key(Some("2001:db8:1:2::1")),
            ip_throttle_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(ip_throttle_key(None), "unknown");
    }

    #[test]
    fn unknown_and_known_accounts_collapse_to_one_public_code() {
        for code in [
            SignInCode::UnknownEmail,
            SignInCode::WrongPassword,
            SignInCode::NoPassword,
            SignInCode::MembershipDeactivated,
        ] {
            assert_eq!(code.public_code(), "invalid_credentials");
        }
    }
}
