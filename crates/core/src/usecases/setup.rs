//! `roster setup`: the first organization and its first Admin.
//!
//! A fresh install has no account with a known password. Setup creates the organization and
//! an *Invite pending* Admin membership, queues the invitation email and hands the link to the
//! operator; the person sets their own password when accepting it.

use super::invitations::{identity_for, issue_invitation, InvitationFor, IssueError};
use super::orgs::{insert_new_org, CreateOrgError, NewOrg};
use super::target;
use crate::access::OperatorGrant;
use crate::email::Email;
use crate::model::{
    AuditEvent, BuiltinRole, Membership, MembershipStatus, Notice, Organization, OutboxMessage,
};
use crate::names::Slug;
use crate::roster::Roster;
use crate::store::StoreError;
use serde_json::json;

#[derive(Clone, Debug)]
pub struct SetupInput {
    pub org: NewOrg,
    pub admin_email: Email,
}

#[derive(Debug)]
pub struct SetupOutcome {
    pub org: Organization,
    pub membership: Membership,
    /// The invitation link; `None` when the admin already had an identity that can sign in,
    /// in which case they were granted access at once and emailed about it.
    pub invitation_link: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("an organization with the slug '{0}' already exists; setup has already run for it")]
    AlreadySetUp(Slug),
    #[error(transparent)]
    Org(CreateOrgError),
    #[error(transparent)]
    Issue(#[from] IssueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CreateOrgError> for SetupError {
    fn from(e: CreateOrgError) -> Self {
        match e {
            CreateOrgError::SlugTaken(s) => SetupError::AlreadySetUp(s),
            CreateOrgError::Store(e) => SetupError::Store(e),
            e => SetupError::Org(e),
        }
    }
}

impl Roster {
    pub async fn setup(
        &self,
        grant: &OperatorGrant,
        input: SetupInput,
    ) -> Result<SetupOutcome, SetupError> {
        let now = self.clock.now();
        let actor = grant.actor();
        let mut tx = self.store.begin().await?;
        let org = insert_new_org(&mut *tx, input.org, actor, now).await?;

        let existing = tx.identity_by_email(&input.admin_email).await?;
        let (identity, is_new) = identity_for(&input.admin_email, existing, now);
        if is_new {
            tx.insert_identity(&identity).await?;
        }
        let can_sign_in = identity.has_usable_sign_in();
        let status = if can_sign_in {
            MembershipStatus::Active
        } else {
            MembershipStatus::Invited
        };
        let membership = Membership::new(org.id, identity.id, status, [BuiltinRole::Admin], now);
        tx.insert_membership(&membership).await?;

        let invitation_link = if can_sign_in {
            tx.enqueue_outbox(&OutboxMessage::new(
                Some(org.id),
                identity.email.clone(),
                Notice::AccessGranted {
                    org_name: org.name.to_string(),
                    inviter_name: None,
                    link: self.links.org(&org.slug),
                },
                now,
            ))
            .await?;
            tx.append_audit(&AuditEvent::new(
                Some(org.id),
                actor,
                "membership.granted",
                target("membership", membership.id.as_uuid()),
                json!({ "email": identity.email.as_str(), "roles": ["admin"] }),
                now,
            ))
            .await?;
            None
        } else {
            let token = issue_invitation(
                self,
                &mut *tx,
                InvitationFor {
                    org: &org,
                    membership: &membership,
                    email: &identity.email,
                    invited_by: actor,
                    inviter_name: None,
                    action: "invitation.created",
                },
                now,
            )
            .await?;
            Some(self.links.invitation(&token))
        };
        tx.commit().await?;
        Ok(SetupOutcome {
            org,
            membership,
            invitation_link,
        })
    }
}
