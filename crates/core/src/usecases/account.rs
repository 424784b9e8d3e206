//! The signed-in person's own account: profile, password change, email change.
//!
//! Changing the password or the email needs the current password, which is the
//! re-authentication: a stolen session alone cannot take the account over. Wrong current
//! passwords are counted like failed sign-ins, so a session cannot be used to guess.

use super::recovery::{after_password_set, check_new_password};
use super::sessions::{NewSession, SessionLimits, StartSessionError};
use super::sign_in::{MAX_FAILURES, THROTTLE_WINDOW_MINUTES};
use super::target;
use crate::clock::seconds_until;
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{IdentityId, IdentityTokenId, OrgId};
use crate::model::{
    Actor, AuditEvent, Identity, IdentityToken, Notice, OutboxMessage, TokenPurpose,
};
use crate::names::DisplayName;
use crate::passwords::{HashError, PolicyViolation};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{StoreError, Tx};
use chrono::Duration;
use serde_json::json;

pub const EMAIL_CHANGE_TOKEN_PREFIX: &str = "eml_";
/// How long an email-change confirmation link works.
pub const EMAIL_CHANGE_LINK_HOURS: i64 = 24;
const REAUTH_SCOPE: &str = "reauth_identity";
/// Email-change requests per identity and hour. The request says whether an address is
/// taken (as the contract asks), so it must not become an unlimited lookup service.
const EMAIL_CHANGES_PER_HOUR: u32 = 5;
const EMAIL_CHANGE_SCOPE: &str = "email_change_identity";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the current password is not right")]
    WrongPassword,
    #[error("too many wrong passwords; wait {retry_after_seconds} s")]
    Throttled { retry_after_seconds: u64 },
    #[error("the password does not meet the policy")]
    PasswordPolicy(Vec<PolicyViolation>),
    #[error("{0}")]
    InvalidEmail(String),
    #[error("this is already your email address")]
    EmailUnchanged,
    #[error("another account uses this email address")]
    EmailTaken,
    #[error("this link is not valid; ask for a new one")]
    TokenInvalid,
    #[error("{0}")]
    InvalidProfile(String),
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Changes to the own profile; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ProfileChange {
    pub name: Option<Option<String>>,
    pub timezone: Option<Option<String>>,
    pub locale: Option<Option<String>>,
}

/// An IANA zone name such as `Europe/Paris` or `UTC`.
fn valid_timezone(tz: &str) -> bool {
    tz.parse::<chrono_tz::Tz>().is_ok()
}

/// A BCP 47 tag such as `fr` or `fr-FR`: a 2–3 letter language and 1–8 character subtags.
fn valid_locale(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    lang_ok
        && tag.len() <= 35
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

impl Roster {
    async fn load_identity(&self, id: IdentityId) -> Result<Identity, AccountError> {
        let mut reads = self.store.reads().await?;
        reads.identity(id).await?.ok_or(AccountError::NotFound)
    }

    /// Checks the current password, counting a wrong one against the identity.
    async fn reauthenticate(
        &self,
        identity: &Identity,
        password: &str,
    ) -> Result<(), AccountError> {
        let now = self.clock.now();
        let key = identity.id.to_string();
        let mut tx = self.store.begin().await?;
        let state = tx
            .hit_throttle(
                REAUTH_SCOPE,
                &key,
                now,
                now - Duration::minutes(THROTTLE_WINDOW_MINUTES),
            )
            .await?;
        tx.commit().await?;
        if state.count > MAX_FAILURES {
            let lifts = state.window_started_at + Duration::minutes(THROTTLE_WINDOW_MINUTES);
            return Err(AccountError::Throttled {
                retry_after_seconds: seconds_until(lifts, now),
            });
        }
        let right = match identity.password_hash.as_deref() {
            Some(stored) => self.passwords.verify(password, stored).await?,
            None => {
                self.passwords.verify_dummy(password).await?;
                false
            }
        };
        if !right {
            return Err(AccountError::WrongPassword);
        }
        let mut tx = self.store.begin().await?;
        tx.clear_throttle(REAUTH_SCOPE, &key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Updates the own name, time zone and locale.
    pub async fn update_profile(
        &self,
        identity_id: IdentityId,
        change: ProfileChange,
    ) -> Result<Identity, AccountError> {
        let identity = self.load_identity(identity_id).await?;
        let name = match change.name {
            None => identity.name.as_ref().map(|n| n.as_str().to_owned()),
            Some(None) => None,
            Some(Some(n)) => Some(
                DisplayName::parse(&n)
                    .map_err(|e| AccountError::InvalidProfile(e.to_string()))?
                    .as_str()
                    .to_owned(),
            ),
        };
        let timezone = match change.timezone {
            None => identity.timezone.clone(),
            Some(None) => None,
            Some(Some(tz)) if valid_timezone(&tz) => Some(tz),
            Some(Some(_)) => {
                return Err(AccountError::InvalidProfile(
                    "timezone must be an IANA time zone such as Europe/Paris or UTC".to_owned(),
                ))
            }
        };
        let locale = match change.locale {
            None => identity.locale.clone(),
            Some(None) => None,
            Some(Some(l)) if valid_locale(&l) => Some(l),
            Some(Some(_)) => {
                return Err(AccountError::InvalidProfile(
                    "locale must be a language tag such as fr or fr-FR".to_owned(),
                ))
            }
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if !tx
            .update_identity_profile(
                identity_id,
                name.as_deref(),
                timezone.as_deref(),
                locale.as_deref(),
                now,
            )
            .await?
        {
            return Err(AccountError::NotFound);
        }
        if timezone != identity.timezone {
            // Digests go out at 08:00 in the person's zone: plan them again in the new one.
            tx.replan_digests_of_identity(identity_id, now).await?;
        }
        tx.append_audit(&AuditEvent::new(
            None,
            Actor::Identity(identity_id),
            "identity.profile_updated",
            target("identity", identity_id.as_uuid()),
            json!({ "name": name, "timezone": timezone, "locale": locale }),
            now,
        ))
        .await?;
        let updated = tx
            .identity(identity_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Changes the own password. Every session and every API token of the identity ends;
    /// the person making the change gets a new session in place of theirs (rotated, so an
    /// id known before the change is worth nothing after it).
    pub async fn change_password(
        &self,
        identity_id: IdentityId,
        current_password: &str,
        new_password: &str,
    ) -> Result<NewSession, AccountError> {
        let identity = self.load_identity(identity_id).await?;
        self.reauthenticate(&identity, current_password).await?;
        let accepted = check_new_password(self, &identity, new_password)
            .await?
            .map_err(AccountError::PasswordPolicy)?;
        let hash = self.passwords.hash(accepted).await?;
        let now = self.clock.now();
        let actor = Actor::Identity(identity_id);
        let mut tx = self.store.begin().await?;
        if !tx.set_password_hash(identity_id, &hash, now).await? {
            return Err(AccountError::NotFound);
        }
        after_password_set(self, &mut *tx, &identity, None, actor, now).await?;
        tx.append_audit(&AuditEvent::new(
            None,
            actor,
            "password.changed",
            target("identity", identity_id.as_uuid()),
            json!({}),
            now,
        ))
        .await?;
        let mut settings = Vec::new();
        for m in tx.memberships_of_identity(identity_id).await? {
            if m.admits_person() {
                if let Some(org) = tx.org(m.org_id).await? {
                    settings.push(org.settings);
                }
            }
        }
        let session = self
            .start_session_in(
                &mut *tx,
                identity_id,
                SessionLimits::strictest(&settings),
                None,
                now,
            )
            .await
            .map_err(|e| match e {
                StartSessionError::Random(e) => AccountError::Random(e),
                StartSessionError::Store(e) => AccountError::Store(e),
            })?;
        tx.commit().await?;
        Ok(session)
    }

    /// Asks to change the own sign-in email: a link goes to the new address and a notice to
    /// the old one. Nothing changes until the link is used.
    pub async fn request_email_change(
        &self,
        identity_id: IdentityId,
        current_password: &str,
        new_email: &str,
    ) -> Result<(), AccountError> {
        let new_email =
            Email::parse(new_email).map_err(|e| AccountError::InvalidEmail(e.to_string()))?;
        let identity = self.load_identity(identity_id).await?;
        if new_email.key() == identity.email.key() {
            return Err(AccountError::EmailUnchanged);
        }
        self.reauthenticate(&identity, current_password).await?;
        let token = Secret::generate(EMAIL_CHANGE_TOKEN_PREFIX)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let count = tx
            .hit_throttle(
                EMAIL_CHANGE_SCOPE,
                &identity_id.to_string(),
                now,
                now - Duration::hours(1),
            )
            .await?;
        if count.count > EMAIL_CHANGES_PER_HOUR {
            // Counted, so the limit holds; nothing else is written.
            tx.commit().await?;
            let lifts = count.window_started_at + Duration::hours(1);
            return Err(AccountError::Throttled {
                retry_after_seconds: seconds_until(lifts, now),
            });
        }
        if tx.identity_by_email(&new_email).await?.is_some() {
            tx.commit().await?;
            return Err(AccountError::EmailTaken);
        }
        issue_email_change(
            self,
            &mut *tx,
            EmailChangeFor {
                identity: &identity,
                new_email: &new_email,
                org_id: None,
                requested_by: Actor::Identity(identity_id),
            },
            token,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The address an email-change link would confirm, while the link works.
    pub async fn describe_email_change(&self, token: &Secret) -> Result<Email, AccountError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        reads
            .identity_token_by_hash(&token.hash(), TokenPurpose::EmailChange)
            .await?
            .filter(|t| t.is_usable(now))
            .and_then(|t| t.new_email)
            .ok_or(AccountError::TokenInvalid)
    }

    /// Applies an email change from its link. Every session of the identity ends.
    pub async fn confirm_email_change(&self, token: &Secret) -> Result<(), AccountError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let link = tx
            .identity_token_by_hash(&token.hash(), TokenPurpose::EmailChange)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or(AccountError::TokenInvalid)?;
        let new_email = link.new_email.clone().ok_or(AccountError::TokenInvalid)?;
        let old = tx
            .identity(link.identity_id)
            .await?
            .ok_or(AccountError::TokenInvalid)?;
        if !tx.consume_identity_token(link.id, now).await? {
            return Err(AccountError::TokenInvalid);
        }
        // Dropping the transaction on EmailTaken rolls the consume back: the link stays
        // usable should the other account give the address up.
        match tx
            .set_identity_email(link.identity_id, &new_email, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(AccountError::TokenInvalid),
            Err(StoreError::EmailTaken) => return Err(AccountError::EmailTaken),
            Err(e) => return Err(e.into()),
        }
        let sessions = tx
            .revoke_sessions_of_identity(link.identity_id, None, now)
            .await?;
        // A reset link sent to the old address must not outlive the change: whoever can
        // still read that mailbox could otherwise take the account back.
        tx.revoke_identity_tokens(link.identity_id, TokenPurpose::PasswordReset, now)
            .await?;
        let actor = Actor::Identity(link.identity_id);
        tx.append_audit(&AuditEvent::new(
            None,
            actor,
            "email.changed",
            target("identity", link.identity_id.as_uuid()),
            json!({
                "old_email": old.email.as_str(),
                "new_email": new_email.as_str(),
                "sessions_revoked": sessions,
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An email change to confirm: whose, to which address, and who asked for it.
pub(crate) struct EmailChangeFor<'a> {
    pub identity: &'a Identity,
    pub new_email: &'a Email,
    /// The organization whose admin asked, if one did.
    pub org_id: Option<OrgId>,
    pub requested_by: Actor,
}

/// Writes a confirmation link for an email change (earlier ones die), emails it to the new
/// address and a notice to the old one, and records the request, inside the caller's
/// transaction. The address changes only when the link is used (SECURITY 44).
pub(crate) async fn issue_email_change(
    roster: &Roster,
    tx: &mut dyn Tx,
    change: EmailChangeFor<'_>,
    token: Secret,
    now: Timestamp,
) -> Result<(), StoreError> {
    let EmailChangeFor {
        identity,
        new_email,
        org_id,
        requested_by,
    } = change;
    let identity_id = identity.id;
    tx.revoke_identity_tokens(identity_id, TokenPurpose::EmailChange, now)
        .await?;
    let record = IdentityToken {
        id: IdentityTokenId::new(),
        identity_id,
        purpose: TokenPurpose::EmailChange,
        token_hash: token.hash(),
        new_email: Some(new_email.clone()),
        org_id,
        requested_by,
        created_at: now,
        expires_at: now + Duration::hours(EMAIL_CHANGE_LINK_HOURS),
        used_at: None,
        revoked_at: None,
    };
    tx.insert_identity_token(&record).await?;
    tx.enqueue_outbox(&OutboxMessage::new(
        org_id,
        new_email.clone(),
        Notice::EmailChangeConfirm {
            new_email: new_email.as_str().to_owned(),
            link: roster.links.email_change(&token),
            expires_at: record.expires_at,
        },
        now,
    ))
    .await?;
    tx.enqueue_outbox(&OutboxMessage::new(
        org_id,
        identity.email.clone(),
        Notice::EmailChangeNotice {
            new_email: new_email.as_str().to_owned(),
            at: now,
        },
        now,
    ))
    .await?;
    tx.append_audit(&AuditEvent::new(
        org_id,
        requested_by,
        "email_change.requested",
        target("identity", identity_id.as_uuid()),
        json!({ "link_id": record.id, "new_email": new_email.as_str() }),
        now,
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_values_are_checked() {
        assert!(valid_timezone("Europe/Paris"));
        assert!(valid_timezone("UTC"));
        assert!(!valid_timezone("Mars/Olympus_Mons"));
        assert!(valid_locale("fr"));
        assert!(valid_locale("fr-FR"));
        assert!(valid_locale("zh-Hant-TW"));
        assert!(!valid_locale("f"));
        assert!(!valid_locale("fr_FR"));
        assert!(!valid_locale("fr-"));
    }
}
