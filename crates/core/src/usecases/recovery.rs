//! Password reset links: asked for by the person (*Forgot password*) or sent by an admin
//! (seed 001, *Send a reset link*), and redeemed.
//!
//! A link is single-use, lives 30 minutes, and dies when a newer one is issued or the
//! password changes by any path. Redeeming sets the password, ends every session and API
//! token of the identity, does not sign anybody in, and tells the account's address. A
//! request alone changes nothing: the old password keeps working until a link is redeemed.

use super::sign_in::{email_throttle_key, EMAIL_SCOPE};
use super::target;
use crate::access::{Caller, OrgGrant};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{IdentityId, IdentityTokenId, MembershipId};
use crate::model::{
    Actor, AuditEvent, Identity, IdentityToken, MembershipStatus, Notice, OrgSettings,
    OutboxMessage, Permission, TokenPurpose,
};
use crate::passwords::{HashError, PasswordPolicy, PolicyViolation};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{Reads, StoreError, Tx};
use chrono::Duration;
use serde_json::json;

pub const RESET_TOKEN_PREFIX: &str = "rst_";
/// How long a reset link works.
pub const RESET_LINK_MINUTES: i64 = 30;
/// After a link is issued for a person, no other is issued for them this long.
pub const RESET_COOLDOWN_SECONDS: i64 = 30;
/// Self-service requests per email and hour; beyond that requests are quietly dropped.
const SELF_SERVICE_PER_HOUR: u32 = 5;
const SELF_SERVICE_SCOPE: &str = "password_reset_email";

#[derive(Debug, thiserror::Error)]
pub enum AdminResetError {
    #[error("not found")]
    NotFound,
    /// The member holds more than the caller (an admin, or permissions the caller lacks).
    #[error("you do not have permission to do this")]
    Forbidden,
    #[error("only active members can get a reset link")]
    NotActive,
    #[error("a reset link was just sent; wait {retry_after_seconds} s")]
    Cooldown { retry_after_seconds: u64 },
    /// The member's email domain signs in through `org_name`'s identity provider only.
    #[error(
        "{org_name} signs this address in through single sign-on; it has no password to reset"
    )]
    SsoEnforced { org_name: String },
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why *Forgot password* sends nothing, when it says so.
#[derive(Debug, thiserror::Error)]
pub enum ResetRequestError {
    /// The address's domain signs in through `org_name`'s identity provider only. This is
    /// about the domain, not the account, so saying it reveals no one.
    #[error(
        "{org_name} signs this address in through single sign-on; it has no password to reset"
    )]
    SsoEnforced { org_name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfirmResetError {
    /// Unknown, used, replaced or expired: one answer for all.
    #[error("this link is not valid; ask for a new one")]
    TokenInvalid,
    #[error("the password does not meet the policy")]
    PasswordPolicy(Vec<PolicyViolation>),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The password rules that apply to an identity: the strictest minimum of every
/// organization it belongs to, and their names as forbidden words.
pub(crate) async fn policy_for(
    reads: &mut dyn Reads,
    identity: &Identity,
) -> Result<(PasswordPolicy, Vec<String>), StoreError> {
    let mut mins = Vec::new();
    let mut names = Vec::new();
    for m in reads.memberships_of_identity(identity.id).await? {
        if let Some(org) = reads.org(m.org_id).await? {
            mins.push(org.settings.password_min_length);
            names.push(org.name.to_string());
        }
    }
    if mins.is_empty() {
        mins.push(OrgSettings::default().password_min_length);
    }
    Ok((PasswordPolicy::strictest(mins), names))
}

/// Checks a new password for `identity` against the rules that apply to it.
pub(crate) async fn check_new_password(
    roster: &Roster,
    identity: &Identity,
    candidate: &str,
) -> Result<Result<crate::passwords::AcceptedPassword, Vec<PolicyViolation>>, StoreError> {
    let mut reads = roster.store.reads().await?;
    let (policy, org_names) = policy_for(&mut *reads, identity).await?;
    drop(reads);
    Ok(policy
        .check_off_runtime(
            candidate.to_owned(),
            Some(identity.email.as_str().to_owned()),
            org_names,
        )
        .await)
}

/// After a password is set by any path: every session (but `keep`) and every API token of
/// the identity ends, outstanding reset links die, and the account's address is told.
pub(crate) async fn after_password_set(
    roster: &Roster,
    tx: &mut dyn Tx,
    identity: &Identity,
    keep: Option<crate::ids::SessionId>,
    actor: Actor,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sessions = tx
        .revoke_sessions_of_identity(identity.id, keep, now)
        .await?;
    let tokens = tx
        .revoke_api_tokens_of_identity(identity.id, None, now)
        .await?;
    tx.revoke_identity_tokens(identity.id, TokenPurpose::PasswordReset, now)
        .await?;
    tx.clear_throttle(EMAIL_SCOPE, &identity.email.key())
        .await?;
    tx.enqueue_outbox(&OutboxMessage::new(
        None,
        identity.email.clone(),
        Notice::PasswordChanged {
            at: now,
            link: roster.links.sign_in(),
        },
        now,
    ))
    .await?;
    if sessions > 0 || tokens > 0 {
        tx.append_audit(&AuditEvent::new(
            None,
            actor,
            "sessions.revoked",
            target("identity", identity.id.as_uuid()),
            json!({ "sessions": sessions, "api_tokens": tokens, "reason": "password_set" }),
            now,
        ))
        .await?;
    }
    Ok(())
}

/// Seconds left of the cooldown after the identity's latest link, if it is still running.
async fn cooldown_left(
    tx: &mut dyn Reads,
    identity: IdentityId,
    now: Timestamp,
) -> Result<Option<u64>, StoreError> {
    let Some(latest) = tx
        .latest_identity_token(identity, TokenPurpose::PasswordReset)
        .await?
    else {
        return Ok(None);
    };
    let ends = latest.created_at + Duration::seconds(RESET_COOLDOWN_SECONDS);
    if now < ends {
        Ok(Some(crate::clock::seconds_until(ends, now)))
    } else {
        Ok(None)
    }
}

struct LinkFor<'a> {
    identity: &'a Identity,
    org: Option<(crate::ids::OrgId, String)>,
    requested_by: Actor,
}

/// Writes a new reset link (older ones die) and queues its email.
async fn issue_link(
    roster: &Roster,
    tx: &mut dyn Tx,
    this: LinkFor<'_>,
    now: Timestamp,
) -> Result<(), IssueLinkError> {
    let token = Secret::generate(RESET_TOKEN_PREFIX)?;
    tx.revoke_identity_tokens(this.identity.id, TokenPurpose::PasswordReset, now)
        .await?;
    let record = IdentityToken {
        id: IdentityTokenId::new(),
        identity_id: this.identity.id,
        purpose: TokenPurpose::PasswordReset,
        token_hash: token.hash(),
        new_email: None,
        org_id: this.org.as_ref().map(|(id, _)| *id),
        requested_by: this.requested_by,
        created_at: now,
        expires_at: now + Duration::minutes(RESET_LINK_MINUTES),
        used_at: None,
        revoked_at: None,
    };
    tx.insert_identity_token(&record).await?;
    tx.enqueue_outbox(&OutboxMessage::new(
        record.org_id,
        this.identity.email.clone(),
        Notice::PasswordReset {
            org_name: this.org.map(|(_, name)| name),
            link: roster.links.password_reset(&token),
            expires_at: record.expires_at,
        },
        now,
    ))
    .await?;
    tx.append_audit(&AuditEvent::new(
        record.org_id,
        this.requested_by,
        "password_reset.requested",
        target("identity", this.identity.id.as_uuid()),
        json!({ "link_id": record.id, "expires_at": record.expires_at }),
        now,
    ))
    .await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum IssueLinkError {
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IssueLinkError> for AdminResetError {
    fn from(e: IssueLinkError) -> Self {
        match e {
            IssueLinkError::Random(e) => AdminResetError::Random(e),
            IssueLinkError::Store(e) => AdminResetError::Store(e),
        }
    }
}

impl Roster {
    /// *Forgot password*. Answers after the same work whether or not the address belongs to
    /// anyone — one write transaction counting the request — and issues the link, if there
    /// is one to issue, in the background, so neither the answer nor its timing says which.
    /// Requests during the cooldown or past the hourly limit for an address are dropped.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), ResetRequestError> {
        if let Some(org) = self.sso_enforced_for(email.trim()).await? {
            return Err(ResetRequestError::SsoEnforced {
                org_name: org.name.to_string(),
            });
        }
        let now = self.clock.now();
        let key = email_throttle_key(email.trim());
        let mut tx = self.store.begin().await?;
        let count = tx
            .hit_throttle(SELF_SERVICE_SCOPE, &key, now, now - Duration::hours(1))
            .await?;
        tx.commit().await?;
        let Ok(parsed) = Email::parse(email.trim()) else {
            return Ok(());
        };
        if count.count > SELF_SERVICE_PER_HOUR {
            return Ok(());
        }
        let roster = self.clone();
        self.background.spawn(async move {
            if let Err(e) = roster.issue_self_service_link(&parsed, now).await {
                tracing::error!(error = %e, "no reset link issued");
            }
        });
        Ok(())
    }

    async fn issue_self_service_link(
        &self,
        email: &Email,
        now: Timestamp,
    ) -> Result<(), IssueLinkError> {
        let mut tx = self.store.begin().await?;
        let Some(identity) = tx.identity_by_email(email).await? else {
            return Ok(());
        };
        let memberships = tx.memberships_of_identity(identity.id).await?;
        if !super::sessions::may_hold_session(&memberships) {
            return Ok(());
        }
        // Holding the identity serialises this with an admin's link and the cooldown.
        if tx.identity_for_update(identity.id).await?.is_none()
            || cooldown_left(&mut *tx, identity.id, now).await?.is_some()
        {
            return Ok(());
        }
        let link = LinkFor {
            identity: &identity,
            org: None,
            requested_by: Actor::System,
        };
        issue_link(self, &mut *tx, link, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An admin sends a reset link to an active member (seed 001, *Send a reset link*).
    /// The admin never sees the link or the password.
    pub async fn send_reset_link(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<(), AdminResetError> {
        debug_assert_eq!(grant.permission(), Permission::UsersManage);
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // What the caller holds now, and whom they reach with it.
        let (held, limit) = super::members::caller_reach(self, &mut *tx, caller, grant.org_id())
            .await?
            .filter(|(h, _)| h.permissions.contains(&Permission::UsersManage))
            .ok_or(AdminResetError::Forbidden)?;
        let membership = tx
            .membership(grant.org_id(), member)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed && held.scope.admits(m))
            .ok_or(AdminResetError::NotFound)?;
        // Like every other change to a member: not to someone who holds more.
        if super::members::outranks(
            &self.catalog,
            &mut *tx,
            &held,
            limit.as_ref().map(|l| &l.customers),
            &membership,
        )
        .await?
        {
            return Err(AdminResetError::Forbidden);
        }
        if membership.status != MembershipStatus::Active {
            return Err(AdminResetError::NotActive);
        }
        // A domain whose organization enforces single sign-on has no passwords to reset.
        if let Some(identity) = tx.identity(membership.identity_id).await? {
            if let Some(domain) = crate::model::email_domain(identity.email.as_str()) {
                if let Some(c) = tx.sso_connection_for_domain(&domain).await? {
                    if c.enforce
                        && super::sso::governs(&mut *tx, &c, identity.email.as_str()).await?
                    {
                        let org_name = tx
                            .org(c.org_id)
                            .await?
                            .map(|o| o.name.to_string())
                            .unwrap_or_default();
                        return Err(AdminResetError::SsoEnforced { org_name });
                    }
                }
            }
        }
        // Holding the identity serialises two admins (or two instances) racing the cooldown.
        let identity = tx
            .identity_for_update(membership.identity_id)
            .await?
            .ok_or(AdminResetError::NotFound)?;
        if let Some(retry_after_seconds) = cooldown_left(&mut *tx, identity.id, now).await? {
            return Err(AdminResetError::Cooldown {
                retry_after_seconds,
            });
        }
        let org = tx
            .org(grant.org_id())
            .await?
            .ok_or(AdminResetError::NotFound)?;
        let link = LinkFor {
            identity: &identity,
            org: Some((org.id, org.name.to_string())),
            requested_by: grant.actor(),
        };
        issue_link(self, &mut *tx, link, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many seconds are left before the member can be sent another reset link, so the
    /// console's *Send a reset link (30s)* keeps counting down across a page reload.
    /// `None` when a link can be sent now, or the member is not visible to the reader.
    pub async fn reset_link_cooldown(
        &self,
        view: &crate::access::OrgView,
        member: MembershipId,
    ) -> Result<Option<u64>, StoreError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let Some(membership) = reads
            .membership(view.org_id(), member)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed && view.scope().admits(m))
        else {
            return Ok(None);
        };
        cooldown_left(&mut *reads, membership.identity_id, now).await
    }

    /// Whether a reset link still works, and for which address, so its page can say so
    /// before the person types a new password.
    pub async fn describe_reset_link(&self, token: &Secret) -> Result<Email, ConfirmResetError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let link = reads
            .identity_token_by_hash(&token.hash(), TokenPurpose::PasswordReset)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or(ConfirmResetError::TokenInvalid)?;
        let identity = reads
            .identity(link.identity_id)
            .await?
            .ok_or(ConfirmResetError::TokenInvalid)?;
        Ok(identity.email)
    }

    /// Redeems a reset link: sets the password, ends every session and API token of the
    /// identity, and does not sign anybody in.
    pub async fn confirm_password_reset(
        &self,
        token: &Secret,
        new_password: &str,
    ) -> Result<(), ConfirmResetError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let link = reads
            .identity_token_by_hash(&token.hash(), TokenPurpose::PasswordReset)
            .await?
            .filter(|t| t.is_usable(now))
            .ok_or(ConfirmResetError::TokenInvalid)?;
        let identity = reads
            .identity(link.identity_id)
            .await?
            .ok_or(ConfirmResetError::TokenInvalid)?;
        drop(reads);
        let accepted = check_new_password(self, &identity, new_password)
            .await?
            .map_err(ConfirmResetError::PasswordPolicy)?;
        let hash = self.passwords.hash(accepted).await?;

        let mut tx = self.store.begin().await?;
        // The compare-and-set makes the link single-use, also under concurrent redeems.
        if !tx.consume_identity_token(link.id, now).await? {
            return Err(ConfirmResetError::TokenInvalid);
        }
        tx.set_password_hash(identity.id, &hash, now).await?;
        let actor = Actor::Identity(identity.id);
        after_password_set(self, &mut *tx, &identity, None, actor, now).await?;
        tx.append_audit(&AuditEvent::new(
            link.org_id,
            actor,
            "password_reset.completed",
            target("identity", identity.id.as_uuid()),
            json!({ "link_id": link.id }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
