//! Who is calling and what they may do.
//!
//! A permission check returns a grant value, and every use case that changes state takes
//! the grant it needs. Grants can only be built here, so a handler that forgets its check
//! does not compile.

use crate::ids::{ApiTokenId, IdentityId, OrgId, SessionId};
use crate::model::{Actor, Membership, Permission};
use crate::store::{Reads, StoreError};
use std::collections::BTreeSet;

/// An authenticated caller, as the web edge established it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A program with an operator token: deployment-wide administration.
    Operator { token_id: ApiTokenId },
    /// A person with a session.
    Person {
        identity_id: IdentityId,
        session_id: SessionId,
    },
    /// A program with an organization's API token. It acts only in that organization,
    /// with at most the token's permissions and, when a person created it, never beyond
    /// what that person holds at the time of the request.
    Token {
        token_id: ApiTokenId,
        org_id: OrgId,
        created_by: Option<IdentityId>,
        permissions: BTreeSet<Permission>,
    },
}

impl Caller {
    pub fn actor(&self) -> Actor {
        match self {
            Caller::Operator { token_id } => Actor::Operator(*token_id),
            Caller::Person { identity_id, .. } => Actor::Identity(*identity_id),
            Caller::Token { token_id, .. } => Actor::ApiToken(*token_id),
        }
    }

    /// The person behind the caller: the signed-in person, or whoever created the token.
    pub fn identity(&self) -> Option<IdentityId> {
        match self {
            Caller::Operator { .. } => None,
            Caller::Person { identity_id, .. } => Some(*identity_id),
            Caller::Token { created_by, .. } => *created_by,
        }
    }
}

/// Proof that the caller may act deployment-wide.
#[derive(Debug)]
pub struct OperatorGrant {
    actor: Actor,
}

impl OperatorGrant {
    pub fn actor(&self) -> Actor {
        self.actor
    }

    /// The server's own command line acts as operator: whoever runs it already holds the
    /// database.
    pub fn command_line() -> Self {
        Self { actor: Actor::Cli }
    }
}

/// Proof that the caller holds `permission` in `org`.
#[derive(Debug)]
pub struct OrgGrant {
    org_id: OrgId,
    actor: Actor,
    permission: Permission,
}

impl OrgGrant {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    pub fn actor(&self) -> Actor {
        self.actor
    }
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// Holding a permission in an organization means seeing it.
    pub fn view(&self) -> OrgView {
        OrgView {
            org_id: self.org_id,
        }
    }
}

/// Proof that the caller may see `org` at all (operator, or an active member).
#[derive(Debug)]
pub struct OrgView {
    org_id: OrgId,
}

impl OrgView {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// Operators see every organization.
    pub fn for_operator(_grant: &OperatorGrant, org: OrgId) -> Self {
        Self { org_id: org }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// Not allowed, though the caller may know the organization.
    #[error("you do not have permission to do this")]
    Forbidden,
    /// The caller has no business with the organization; answer as if it did not exist.
    #[error("not found")]
    NotVisible,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn require_operator(caller: &Caller) -> Result<OperatorGrant, Denied> {
    match caller {
        Caller::Operator { .. } => Ok(OperatorGrant {
            actor: caller.actor(),
        }),
        Caller::Person { .. } | Caller::Token { .. } => Err(Denied::Forbidden),
    }
}

async fn active_membership(
    reads: &mut dyn Reads,
    identity: IdentityId,
    org: OrgId,
) -> Result<Option<Membership>, StoreError> {
    Ok(reads
        .membership_of(org, identity)
        .await?
        .filter(Membership::admits_person))
}

/// Every permission the caller holds in `org` right now; `None` when the caller has no
/// business with the organization. Read from the store on every call, so a changed role or
/// a deactivation applies to the very next request.
pub async fn held_permissions(
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<Option<BTreeSet<Permission>>, StoreError> {
    match caller {
        Caller::Operator { .. } => Ok(Some(Permission::ALL.iter().copied().collect())),
        Caller::Person { identity_id, .. } => Ok(active_membership(reads, *identity_id, org)
            .await?
            .map(|m| m.role_permissions())),
        Caller::Token {
            org_id,
            created_by,
            permissions,
            ..
        } => {
            if *org_id != org {
                return Ok(None);
            }
            match created_by {
                None => Ok(Some(permissions.clone())),
                Some(identity) => Ok(active_membership(reads, *identity, org)
                    .await?
                    .map(|m| permissions & &m.role_permissions())),
            }
        }
    }
}

/// May the caller see `org`? Members of other organizations get `NotVisible`, never a hint
/// that the organization exists.
pub async fn view_org(
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<OrgView, Denied> {
    match held_permissions(reads, caller, org).await? {
        Some(_) => Ok(OrgView { org_id: org }),
        None => Err(Denied::NotVisible),
    }
}

/// Does the caller hold `permission` in `org`? Deny by default: the permission must come
/// from a role of an active membership (operators hold every permission).
pub async fn require(
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
    permission: Permission,
) -> Result<OrgGrant, Denied> {
    let grant = OrgGrant {
        org_id: org,
        actor: caller.actor(),
        permission,
    };
    let held = held_permissions(reads, caller, org)
        .await?
        .ok_or(Denied::NotVisible)?;
    if held.contains(&permission) {
        Ok(grant)
    } else {
        Err(Denied::Forbidden)
    }
}
