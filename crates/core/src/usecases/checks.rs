//! The check API for host products: "may identity X use permission P (on customer C) in
//! this organization?", and for support, "why (not)?".
//!
//! Each check reads the member (roles, custom roles, groups, entity, scope) and, for a
//! customer, the assignment, with the organization's `access_version`, in one statement
//! ([`crate::store::Reads::member_access`]). What the organization's custom roles and
//! groups are made of comes from [`crate::access::DefinitionsCache`] while that version
//! holds, so a change decides the very next check on every instance. Evaluation itself
//! is in memory ([`crate::access::AccessProfile`]).

use crate::access::{
    self, profile_for, AccessProfile, CatalogEntry, CustomerArg, Denied, GrantRef, OrgGrant,
    OrgView, Reason, Step,
};
use crate::ids::MembershipId;
use crate::ids::{CustomerId, IdentityId};
use crate::model::MembershipStatus;
use crate::model::Permission;
use crate::roster::Roster;
use crate::secrets::Secret;
use crate::store::{MemberAccess, Reads, StoreError};

#[derive(Clone, Debug)]
pub struct CheckRequest {
    pub identity: IdentityId,
    pub permission: String,
    pub customer: Option<CustomerId>,
}

#[derive(Clone, Debug)]
pub struct CheckOutcome {
    pub reason: Reason,
    /// Filled only when an explanation was asked for.
    pub steps: Vec<Step>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The grant is not one for checks.
    #[error("you do not have permission to do this")]
    Forbidden,
    #[error("unknown permission '{0}'; the catalog is at GET /api/v1/permissions")]
    UnknownPermission(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How [`Roster::check_by_token`] ended.
#[derive(Clone, Debug)]
pub enum TokenCheckOutcome {
    /// The token is unknown or not live, or its creator no longer admits it.
    Unauthenticated,
    Decided(CheckOutcome),
    /// Not decided here: an operator's token, a token no person created (what it holds is
    /// read otherwise), or `{org}` names another organization than the token's.
    /// [`Roster::authenticate_bearer`] and [`Roster::check_access`] decide it.
    Elsewhere,
}

impl Roster {
    /// Decides a check (`access.check`); with `explain`, also says step by step why.
    pub async fn check_access(
        &self,
        grant: &OrgGrant,
        request: &CheckRequest,
        explain: bool,
    ) -> Result<CheckOutcome, CheckError> {
        self.may_check(grant, request)?;
        let mut reads = self.store.reads().await?;
        let member = reads
            .member_access(grant.org_id(), request.identity, request.customer)
            .await?;
        Ok(self.decide(&mut *reads, member, request, explain).await?)
    }

    /// A check asked with an organization token, `raw`, about `{org}`: the same answers as
    /// [`Roster::authenticate_bearer`] then [`Roster::check_access`], from one read of the
    /// store ([`crate::store::Reads::token_check`]) where they make two. Host products ask
    /// this more than anything else.
    pub async fn check_by_token(
        &self,
        raw: &Secret,
        org: &str,
        request: &CheckRequest,
        explain: bool,
    ) -> Result<TokenCheckOutcome, CheckError> {
        let now = self.clock.now();
        let mut reads = self.store.reads().await?;
        let Some(read) = reads
            .token_check(&raw.hash(), request.identity, request.customer)
            .await?
        else {
            return Ok(TokenCheckOutcome::Unauthenticated);
        };
        let Some(bearer) = self
            .bearer_of(&mut *reads, &read.token, read.creator, now)
            .await?
        else {
            return Ok(TokenCheckOutcome::Unauthenticated);
        };
        let (Some(held), Some(token_org)) = (bearer.held, bearer.org) else {
            return Ok(TokenCheckOutcome::Elsewhere);
        };
        if !token_org.is_named(org) {
            return Ok(TokenCheckOutcome::Elsewhere);
        }
        let grant = match access::grant(held, &bearer.caller, token_org.id, Permission::AccessCheck)
        {
            Ok(grant) => Ok(grant),
            Err(Denied::Forbidden) => Err(CheckError::Forbidden),
            Err(Denied::Store(e)) => Err(CheckError::Store(e)),
            // Not for a token in its own organization; the general way says why.
            Err(Denied::NotVisible) => return Ok(TokenCheckOutcome::Elsewhere),
        };
        let outcome = match grant.and_then(|grant| self.may_check(&grant, request)) {
            Ok(()) => self
                .decide(&mut *reads, read.member, request, explain)
                .await
                .map_err(CheckError::Store),
            Err(e) => Err(e),
        };
        drop(reads);
        // Admitted, so used, whatever the check came to, as `authenticate_bearer` notes.
        self.touch_if_stale(&read.token, now).await?;
        outcome.map(TokenCheckOutcome::Decided)
    }

    /// Refuses a check the grant is not for, or about a code the catalog does not have.
    fn may_check(&self, grant: &OrgGrant, request: &CheckRequest) -> Result<(), CheckError> {
        if grant.permission() != Permission::AccessCheck {
            return Err(CheckError::Forbidden);
        }
        if !self.catalog.contains(&request.permission) {
            return Err(CheckError::UnknownPermission(request.permission.clone()));
        }
        Ok(())
    }

    /// Decides `request` about `member`, as read in the grant's organization.
    async fn decide(
        &self,
        reads: &mut dyn Reads,
        member: Option<MemberAccess>,
        request: &CheckRequest,
        explain: bool,
    ) -> Result<CheckOutcome, StoreError> {
        let profile = match &member {
            Some(m) => {
                self.definitions
                    .profile(&self.catalog, reads, &m.membership, m.access_version)
                    .await?
            }
            None => AccessProfile::not_a_member(&self.catalog),
        };
        let arg = match (request.customer, &member) {
            (Some(id), Some(m)) => Some(match m.customer {
                Some(a) => CustomerArg {
                    id,
                    exists: true,
                    assigned: a.assigned,
                    assigned_total: a.assigned_total,
                },
                None => CustomerArg {
                    id,
                    exists: false,
                    assigned: false,
                    assigned_total: 0,
                },
            }),
            _ => None,
        };
        Ok(if explain {
            let (reason, steps) = profile.explain(&request.permission, arg.as_ref());
            CheckOutcome { reason, steps }
        } else {
            CheckOutcome {
                reason: profile.check(&request.permission, arg.as_ref()),
                steps: Vec::new(),
            }
        })
    }
}

/// One permission a member holds, with the roles that grant it.
#[derive(Clone, Debug)]
pub struct HeldPermission {
    pub entry: CatalogEntry,
    pub grants: Vec<GrantRef>,
}

/// A member's effective permissions (the member page's *Permissions* tab).
#[derive(Clone, Debug)]
pub struct MemberPermissions {
    /// Whether they apply now: the member is active and not notifications-only.
    pub in_force: bool,
    /// In catalog order (Roster's codes, then the host product's), each with its area.
    pub items: Vec<HeldPermission>,
}

impl Roster {
    /// What a member's roles and groups grant, code by code; `None` when the member is
    /// absent, removed, another organization's or beyond the viewer's reach.
    pub async fn member_permissions(
        &self,
        view: &OrgView,
        member: MembershipId,
    ) -> Result<Option<MemberPermissions>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(m) = reads
            .membership(view.org_id(), member)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed && view.scope().admits(m))
        else {
            return Ok(None);
        };
        let profile = profile_for(&self.catalog, &mut *reads, &m).await?;
        let items = self
            .catalog
            .entries()
            .iter()
            .filter_map(|entry| {
                let grants = profile.grants_of(entry.code.as_str());
                (!grants.is_empty()).then(|| HeldPermission {
                    entry: entry.clone(),
                    grants,
                })
            })
            .collect();
        Ok(Some(MemberPermissions {
            in_force: profile.in_force(),
            items,
        }))
    }
}
