//! Invitation links: issuing one, reading what it is for, and accepting it.
//!
//! This holds the path that lets a new identity in (enough for the first admin created by
//! `roster setup`); inviting, resending and cancelling from the API build on it.

use super::target;
use crate::access::Caller;
use crate::clock::Timestamp;
use crate::email::Email;
use crate::model::{
    Actor, AuditEvent, Identity, Invitation, InvitationState, Membership, MembershipStatus, Notice,
    Organization, OutboxMessage,
};
use crate::passwords::{HashError, PasswordPolicy, PolicyViolation};
use crate::roster::Roster;
use crate::secrets::{RandomError, Secret};
use crate::store::{StoreError, Tx};
use crate::usecases::sessions::NewSession;
use chrono::Duration;
use serde_json::json;

/// Prefix of invitation tokens, so a leaked one is recognisable.
pub const INVITATION_TOKEN_PREFIX: &str = "inv_";

/// Who is invited where, and by whom.
pub(crate) struct InvitationFor<'a> {
    pub org: &'a Organization,
    pub membership: &'a Membership,
    pub email: &'a Email,
    pub invited_by: Actor,
    pub inviter_name: Option<String>,
    /// The audit action: `invitation.created`, or `invitation.resent`.
    pub action: &'static str,
}

/// Writes an invitation for a pending membership and queues its email, inside the caller's
/// transaction. Returns the raw token, which exists nowhere else once this returns.
pub(crate) async fn issue_invitation(
    roster: &Roster,
    tx: &mut dyn Tx,
    this: InvitationFor<'_>,
    now: Timestamp,
) -> Result<Secret, IssueError> {
    let InvitationFor {
        org,
        membership,
        email,
        invited_by,
        inviter_name,
        action,
    } = this;
    let token = Secret::generate(INVITATION_TOKEN_PREFIX)?;
    let invitation = Invitation {
        id: crate::ids::InvitationId::new(),
        org_id: org.id,
        membership_id: membership.id,
        identity_id: membership.identity_id,
        token_hash: token.hash(),
        invited_by,
        created_at: now,
        expires_at: now + Duration::hours(i64::from(org.settings.invitation_lifetime_hours)),
        accepted_at: None,
        revoked_at: None,
    };
    tx.insert_invitation(&invitation).await?;
    tx.enqueue_outbox(&OutboxMessage::new(
        Some(org.id),
        email.clone(),
        Notice::Invitation {
            org_name: org.name.to_string(),
            inviter_name,
            link: roster.links.invitation(&token),
            expires_at: invitation.expires_at,
        },
        now,
    ))
    .await?;
    tx.append_audit(&AuditEvent::new(
        Some(org.id),
        invited_by,
        action,
        target("membership", membership.id.as_uuid()),
        json!({
            "invitation_id": invitation.id,
            "email": email.as_str(),
            "roles": membership.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "expires_at": invitation.expires_at,
        }),
        now,
    ))
    .await?;
    Ok(token)
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an invitation link is for, as shown before accepting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationInfo {
    pub org_name: String,
    /// The organization's password minimum, for the accept form.
    pub password_min_length: u32,
    pub email: Email,
    /// The identity can already sign in: accepting needs no password, only a sign-in.
    pub existing_identity: bool,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum InvitationError {
    /// Unknown, used or cancelled. One answer for all three, so a link reveals nothing.
    #[error("this invitation link is not valid")]
    Invalid,
    #[error("this invitation link has expired; an admin of {org_name} can resend it")]
    Expired { org_name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Input of [`Roster::accept_invitation`].
#[derive(Default)]
pub struct AcceptInput {
    pub password: Option<String>,
    pub password_confirmation: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Invitation(#[from] InvitationError),
    #[error("choose a password and confirm it")]
    PasswordRequired,
    #[error("the passwords do not match")]
    PasswordMismatch,
    #[error("the password does not meet the policy")]
    PasswordPolicy(Vec<PolicyViolation>),
    /// The identity exists; its owner must be signed in to accept.
    #[error("sign in as the invited person to accept")]
    SignInRequired,
    /// Someone else is signed in: a link never adds its organization to another identity.
    #[error("you are signed in as someone else; sign out and sign in as the invited person")]
    SignedInAsSomeoneElse,
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::usecases::sessions::StartSessionError> for AcceptError {
    fn from(e: crate::usecases::sessions::StartSessionError) -> Self {
        match e {
            crate::usecases::sessions::StartSessionError::Random(e) => AcceptError::Random(e),
            crate::usecases::sessions::StartSessionError::Store(e) => AcceptError::Store(e),
        }
    }
}

/// The result of accepting: the person is an active member and has a new session.
#[derive(Debug)]
pub struct Accepted {
    pub identity: Identity,
    pub membership: Membership,
    pub org: Organization,
    pub session: NewSession,
}

struct Resolved {
    invitation: Invitation,
    org: Organization,
    identity: Identity,
}

impl Roster {
    async fn resolve_invitation(&self, token: &Secret) -> Result<Resolved, InvitationError> {
        let mut reads = self.store.reads().await?;
        let invitation = reads
            .invitation_by_token(&token.hash())
            .await?
            .ok_or(InvitationError::Invalid)?;
        let org = reads
            .org(invitation.org_id)
            .await?
            .ok_or(InvitationError::Invalid)?;
        match invitation.state(self.clock.now()) {
            InvitationState::Open => {}
            InvitationState::Expired => {
                return Err(InvitationError::Expired {
                    org_name: org.name.to_string(),
                })
            }
            InvitationState::Accepted | InvitationState::Revoked => {
                return Err(InvitationError::Invalid)
            }
        }
        // A pending membership that was removed (or changed otherwise) takes its link
        // with it, whatever the link's own state says.
        let pending = reads
            .membership(org.id, invitation.membership_id)
            .await?
            .is_some_and(|m| m.status == MembershipStatus::Invited);
        if !pending {
            return Err(InvitationError::Invalid);
        }
        let identity = reads
            .identity(invitation.identity_id)
            .await?
            .ok_or(InvitationError::Invalid)?;
        Ok(Resolved {
            invitation,
            org,
            identity,
        })
    }

    pub async fn describe_invitation(
        &self,
        token: &Secret,
    ) -> Result<InvitationInfo, InvitationError> {
        let r = self.resolve_invitation(token).await?;
        Ok(InvitationInfo {
            org_name: r.org.name.to_string(),
            password_min_length: r.org.settings.password_min_length,
            existing_identity: r.identity.has_usable_sign_in(),
            email: r.identity.email,
            expires_at: r.invitation.expires_at,
        })
    }

    /// Accepts an invitation. A new identity sets its password here; an existing one must
    /// be the signed-in caller. Single use: of two concurrent accepts exactly one succeeds.
    pub async fn accept_invitation(
        &self,
        token: &Secret,
        input: AcceptInput,
        caller: Option<&Caller>,
    ) -> Result<Accepted, AcceptError> {
        let resolved = self.resolve_invitation(token).await?;
        let existing = resolved.identity.has_usable_sign_in();
        // Hash before the transaction: hashing is slow and must not hold the write lock.
        let new_hash = if existing {
            let signed_in_as = match caller {
                Some(Caller::Person { identity_id, .. }) => Some(*identity_id),
                _ => None,
            };
            match signed_in_as {
                Some(id) if id == resolved.identity.id => {}
                Some(_) => return Err(AcceptError::SignedInAsSomeoneElse),
                None => return Err(AcceptError::SignInRequired),
            }
            None
        } else {
            let (Some(password), Some(confirmation)) = (
                input.password.as_deref(),
                input.password_confirmation.as_deref(),
            ) else {
                return Err(AcceptError::PasswordRequired);
            };
            let policy = PasswordPolicy {
                min_length: resolved.org.settings.password_min_length,
            };
            let accepted = policy
                .check_off_runtime(
                    password.to_owned(),
                    Some(resolved.identity.email.as_str().to_owned()),
                    vec![resolved.org.name.to_string()],
                )
                .await
                .map_err(AcceptError::PasswordPolicy)?;
            if password != confirmation {
                return Err(AcceptError::PasswordMismatch);
            }
            Some(self.passwords.hash(accepted).await?)
        };

        let Resolved {
            invitation,
            org,
            identity,
        } = resolved;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        // Like every other change to the organization's members, accepting takes the
        // organization's lock first: a resend, cancel or edit that checked the member was
        // pending finishes before this runs, or runs after and sees it active.
        tx.org_for_update(org.id)
            .await?
            .ok_or(InvitationError::Invalid)?;
        // The compare-and-set is the single-use guarantee; everything after it only runs
        // for the one accept that won.
        if !tx.consume_invitation(org.id, invitation.id, now).await? {
            return Err(InvitationError::Invalid.into());
        }
        if invitation.state(now) == InvitationState::Expired {
            return Err(InvitationError::Expired {
                org_name: org.name.to_string(),
            }
            .into());
        }
        if !tx
            .set_membership_status(
                org.id,
                invitation.membership_id,
                MembershipStatus::Invited,
                MembershipStatus::Active,
                now,
            )
            .await?
        {
            return Err(InvitationError::Invalid.into());
        }
        if let Some(hash) = &new_hash {
            // Conditional on the identity having no password yet: a concurrent accept of
            // another invitation for the same new person may have set one meanwhile, and
            // then this person must sign in with it instead.
            if !tx.set_initial_password_hash(identity.id, hash, now).await? {
                return Err(AcceptError::SignInRequired);
            }
            // Sessions from before the first password can only have come through an
            // organization's single sign-on, whose provider vouched for this address before
            // its owner set a password here: they end, so no one else's provider keeps a
            // door into the organization joined now.
            tx.revoke_sessions_of_identity(identity.id, None, now)
                .await?;
        }
        tx.mark_email_verified(identity.id, now).await?;
        let membership = tx
            .membership(org.id, invitation.membership_id)
            .await?
            .ok_or(InvitationError::Invalid)?;
        let actor = Actor::Identity(identity.id);
        tx.append_audit(&AuditEvent::new(
            Some(org.id),
            actor,
            "invitation.accepted",
            target("membership", membership.id.as_uuid()),
            json!({ "invitation_id": invitation.id, "new_identity": !existing }),
            now,
        ))
        .await?;
        // Joining changes what the person may do, so the session rotates: the one they
        // accepted with ends and a new one starts.
        // The browser's cookie is replaced either way, so whichever session it held ends
        // too (for a new person accepting in a browser someone else was signed in to).
        if let Some(Caller::Person { session_id, .. }) = caller {
            tx.revoke_session(*session_id, now).await?;
        }
        // The session is bound by the strictest timeouts of every organization the person
        // may now use, this one included.
        let mut bound_by = vec![org.settings.clone()];
        for m in tx.memberships_of_identity(identity.id).await? {
            if m.org_id != org.id && m.admits_person() {
                if let Some(other) = tx.org(m.org_id).await? {
                    bound_by.push(other.settings);
                }
            }
        }
        let limits = crate::usecases::sessions::SessionLimits::strictest(&bound_by);
        let session = self
            .start_session_in(&mut *tx, identity.id, limits, Some(org.id), now)
            .await?;
        let identity = tx
            .identity(identity.id)
            .await?
            .ok_or(InvitationError::Invalid)?;
        tx.commit().await?;
        Ok(Accepted {
            identity,
            membership,
            org,
            session,
        })
    }
}

/// Used by `setup` to name the identity an invitation goes to.
pub(crate) fn identity_for(
    email: &Email,
    existing: Option<Identity>,
    now: Timestamp,
) -> (Identity, bool) {
    match existing {
        Some(identity) => (identity, false),
        None => (Identity::new(email.clone(), None, now), true),
    }
}
