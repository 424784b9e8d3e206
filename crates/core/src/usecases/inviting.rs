//! Inviting people into an organization, resending and cancelling invitations (seed 001).
//!
//! An invitation creates an *Invite pending* membership holding the roles it was given and
//! emails a single-use link; accepting it (see [`super::invitations`]) makes the membership
//! active unchanged. An email that already has an identity able to sign in is granted
//! access at once and told so: that person never has to accept anything.
//!
//! Every change here runs under the organization's lock ([`lock_holding`]), re-reading the
//! caller's permissions there: an inviter never hands out more than they hold at that
//! moment, and two invitations of one address cannot both create a membership.

use super::assignments::{customers_to_assign, entity_to_set, groups_to_grant};
use super::invitations::{issue_invitation, InvitationFor};
use super::members::{
    custom_roles_named, live_member, lock_holding, may_grant, may_grant_custom, may_manage,
    parse_roles, role_names, view, Locked, MemberError,
};
use super::target;
use crate::access::{Caller, OrgGrant};
use crate::clock::seconds_until;
use crate::email::Email;
use crate::ids::{CustomerId, EntityId, GroupId, MembershipId};
use crate::model::{
    AuditEvent, BuiltinRole, Identity, Membership, MembershipStatus, Notice, OutboxMessage,
    Permission,
};
use crate::names::DisplayName;
use crate::roster::Roster;
use crate::store::{MemberView, StoreError, Tx};
use chrono::Duration;
use serde_json::json;

/// How long after an invitation email another may be sent for the same member (seed 001,
/// *Resend email*).
pub const RESEND_COOLDOWN_SECONDS: i64 = 30;

/// Who to invite, and with what.
#[derive(Clone, Debug)]
pub struct InviteInput {
    pub email: Email,
    /// Used only for a person Roster does not know yet; an existing identity keeps the name
    /// it has.
    pub name: Option<DisplayName>,
    /// Built-in role names and custom role ids.
    pub roles: Vec<String>,
    pub groups: Vec<GroupId>,
    /// Assigned customers (seed 002); none means all of them for customer-scoped roles.
    pub customers: Vec<CustomerId>,
    /// The member's entity (seed 004); a scoped admin must give one of theirs.
    pub entity: Option<EntityId>,
}

/// The member an invitation made.
#[derive(Clone, Debug)]
pub struct Invited {
    pub member: MemberView,
    /// The email already belonged to an identity that can sign in: the membership is active
    /// and the person was emailed that they have access, not an invitation.
    pub granted_at_once: bool,
}

/// What the invitation email says about who sent it.
async fn inviter_name(tx: &mut dyn Tx, caller: &Caller) -> Result<Option<String>, MemberError> {
    let Caller::Person { identity_id, .. } = caller else {
        return Ok(None);
    };
    Ok(tx.identity(*identity_id).await?.map(|i| i.display_name()))
}

impl Roster {
    /// Invites `input.email` with `input.roles` (needs `users.invite`, and every permission
    /// of every role given). `inviter_name` is who the email says sent it: the signed-in
    /// person's name as read with their session, `None` for programs.
    pub async fn invite(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        inviter_name: Option<String>,
        input: InviteInput,
    ) -> Result<Invited, MemberError> {
        // Two organizations inviting one new address at the same moment both try to create
        // its identity; the second finds the unique address taken, and on a second try
        // finds the identity the first created.
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .invite_once(grant, caller, inviter_name.clone(), input.clone())
                .await
            {
                Err(MemberError::Store(StoreError::EmailTaken)) if tries < 3 => continue,
                outcome => return outcome,
            }
        }
    }

    async fn invite_once(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        inviter_name: Option<String>,
        input: InviteInput,
    ) -> Result<Invited, MemberError> {
        let roles = parse_roles(&input.roles)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_holding(self, &mut *tx, grant, caller, Permission::UsersInvite).await?;
        may_grant(&locked, &roles.builtin)?;
        let custom = custom_roles_named(&mut *tx, locked.org.id, &roles.custom).await?;
        may_grant_custom(&locked, &custom)?;
        let groups = groups_to_grant(&mut *tx, &locked, &input.groups, &[]).await?;
        // Assignments only narrow: a caller limited to some customers gives them only when
        // the new member's roles reach customer data at all.
        let reaches_customers = roles
            .builtin
            .iter()
            .any(|r| matches!(r, BuiltinRole::Admin | BuiltinRole::User))
            || !custom.is_empty()
            || !groups.is_empty();
        let customers = if locked.customers.is_some() && !reaches_customers {
            if !input.customers.is_empty() {
                return Err(MemberError::OutsideCustomers);
            }
            Vec::new()
        } else {
            customers_to_assign(&mut *tx, &locked, &input.customers).await?
        };
        let entity = entity_to_set(&mut *tx, &locked, input.entity).await?;
        let org = &locked.org;
        // The address's identity and its domain's connection in one read: this runs while
        // the transaction holds the store's write lock (on SQLite, the only writer).
        let (by_email, sso) = tx.identity_and_sso_by_email(&input.email).await?;
        // With single sign-on enforced for the address's domain, members of this
        // organization come through the provider (just in time), not by invitation.
        if enforced_by(&mut *tx, org, sso, by_email.as_ref()).await? {
            return Err(MemberError::SsoEnforced {
                org_name: org.name.to_string(),
            });
        }

        // The identity is held until commit, and read again under that hold: an admin of
        // another organization re-addressing it meanwhile either finishes first (and the
        // address is then free) or sees this membership and refuses.
        let found = match by_email {
            Some(found) => tx
                .identity_for_update(found.id)
                .await?
                .filter(|i| i.email.key() == input.email.key()),
            None => None,
        };
        let identity = match found {
            Some(identity) => {
                if let Some(existing) = tx.membership_of(org.id, identity.id).await? {
                    return Err(match existing.status {
                        MembershipStatus::Invited => MemberError::InvitationPending,
                        _ => MemberError::AlreadyMember,
                    });
                }
                identity
            }
            None => {
                let identity = Identity::new(input.email.clone(), input.name, now);
                tx.insert_identity(&identity).await?;
                identity
            }
        };
        let granted_at_once = identity.has_usable_sign_in();
        let status = if granted_at_once {
            MembershipStatus::Active
        } else {
            MembershipStatus::Invited
        };
        let membership = Membership {
            custom_roles: roles.custom,
            groups,
            entity,
            ..Membership::new(org.id, identity.id, status, roles.builtin, now)
        };
        tx.insert_membership(&membership).await?;
        if !customers.is_empty() {
            tx.set_customer_assignments(org.id, membership.id, &customers, now)
                .await?;
        }
        // Everything below runs while this transaction holds the store's write lock (on
        // SQLite, the only writer), so nothing is read here that the request already has.
        if granted_at_once {
            tx.enqueue_outbox(&OutboxMessage::new(
                Some(org.id),
                identity.email.clone(),
                Notice::AccessGranted {
                    org_name: org.name.to_string(),
                    inviter_name,
                    link: self.links.org(&org.slug),
                },
                now,
            ))
            .await?;
            tx.append_audit(&AuditEvent::new(
                Some(org.id),
                grant.actor(),
                "membership.granted",
                target("membership", membership.id.as_uuid()),
                json!({
                    "email": identity.email.as_str(),
                    "roles": role_names(&membership.roles),
                    "status": { "from": null, "to": membership.status.as_str() },
                }),
                now,
            ))
            .await?;
        } else {
            issue_invitation(
                self,
                &mut *tx,
                InvitationFor {
                    org,
                    membership: &membership,
                    email: &identity.email,
                    invited_by: grant.actor(),
                    inviter_name,
                    action: "invitation.created",
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        // The member as just written, not read back: the store keeps these fields as given
        // (the invitation tests compare this answer with the member list's).
        let member = MemberView {
            email: identity.email,
            name: identity.name.map(|n| n.to_string()),
            membership,
        };
        Ok(Invited {
            member,
            granted_at_once,
        })
    }

    /// Sends a pending member a new invitation link (seed 001, *Resend email*). The old link
    /// stops working; the membership and everything assigned to it stay as they are. One
    /// email per member every 30 seconds.
    pub async fn resend_invitation(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_holding(self, &mut *tx, grant, caller, Permission::UsersInvite).await?;
        let pending = pending_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &pending).await?;
        if let Some(last) = tx.latest_invitation_of(locked.org.id, member).await? {
            let free_at = last.created_at + Duration::seconds(RESEND_COOLDOWN_SECONDS);
            if now < free_at {
                return Err(MemberError::ResendCooldown {
                    retry_after_seconds: seconds_until(free_at, now),
                });
            }
        }
        let person = view(&mut *tx, locked.org.id, member).await?;
        // An invitation from before single sign-on was enforced is not sent again: the
        // person joins through the provider.
        if enforced_here(&mut *tx, &locked.org, person.email.as_str()).await? {
            return Err(MemberError::SsoEnforced {
                org_name: locked.org.name.to_string(),
            });
        }
        tx.revoke_invitations_of(locked.org.id, member, now).await?;
        let inviter_name = inviter_name(&mut *tx, caller).await?;
        issue_invitation(
            self,
            &mut *tx,
            InvitationFor {
                org: &locked.org,
                membership: &pending,
                email: &person.email,
                invited_by: grant.actor(),
                inviter_name,
                action: "invitation.resent",
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cancels a pending invitation: its link dies and the pending membership goes (it is
    /// kept as a tombstone, so the audit trail still names it). Cancelling an admin's
    /// invitation takes an admin.
    pub async fn cancel_invitation(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_holding(self, &mut *tx, grant, caller, Permission::UsersInvite).await?;
        let pending = pending_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &pending).await?;
        let person = view(&mut *tx, locked.org.id, member).await?;
        let revoked = tx.revoke_invitations_of(locked.org.id, member, now).await?;
        if !tx
            .set_membership_status(
                locked.org.id,
                member,
                MembershipStatus::Invited,
                MembershipStatus::Removed,
                now,
            )
            .await?
        {
            // Accepted a moment ago: there is nothing pending to cancel any more.
            return Err(MemberError::NotPending);
        }
        tx.append_audit(&AuditEvent::new(
            Some(locked.org.id),
            grant.actor(),
            "invitation.cancelled",
            target("membership", member.as_uuid()),
            json!({
                "email": person.email.as_str(),
                "name": person.name,
                "identity_id": pending.identity_id,
                "roles": role_names(&pending.roles),
                "links_revoked": revoked,
                "status": { "from": MembershipStatus::Invited.as_str(), "to": MembershipStatus::Removed.as_str() },
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A member of the organization whose invitation is pending.
async fn pending_member(
    tx: &mut dyn Tx,
    locked: &Locked,
    member: MembershipId,
) -> Result<Membership, MemberError> {
    let m = live_member(tx, locked, member).await?;
    if m.status != MembershipStatus::Invited {
        return Err(MemberError::NotPending);
    }
    Ok(m)
}

/// Whether `org` enforces single sign-on for `email` and governs the person: then they
/// join through the provider, not by invitation.
async fn enforced_here(
    tx: &mut dyn crate::store::Tx,
    org: &crate::model::Organization,
    email: &str,
) -> Result<bool, crate::store::StoreError> {
    let Some(domain) = crate::model::email_domain(email) else {
        return Ok(false);
    };
    match tx.sso_connection_for_domain(&domain).await? {
        Some(c) if enforces(&c, org) => super::sso::governs(&mut *tx, &c, email).await,
        _ => Ok(false),
    }
}

/// [`enforced_here`] with the domain's connection and the address's identity already read.
async fn enforced_by(
    tx: &mut dyn crate::store::Tx,
    org: &crate::model::Organization,
    connection: Option<crate::model::SsoConnection>,
    identity: Option<&Identity>,
) -> Result<bool, crate::store::StoreError> {
    match connection {
        Some(c) if enforces(&c, org) => super::sso::governs_identity(&mut *tx, &c, identity).await,
        _ => Ok(false),
    }
}

/// Whether `connection` is `org`'s and enforces single sign-on for its domains.
fn enforces(connection: &crate::model::SsoConnection, org: &crate::model::Organization) -> bool {
    connection.enforce && connection.org_id == org.id
}
