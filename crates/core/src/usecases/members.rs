//! What admins do to a member's standing: deactivate, activate, remove, replace the roles;
//! and a member leaving an organization on their own.
//!
//! **At least one active Admin, always** (SECURITY 41). Every change that could lower the
//! number of active admins takes the organization's row first (`org_for_update`:
//! PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE` already holds the write lock), then
//! re-reads the caller's permissions and the target, counts the active admins, and only
//! then writes. Two admins demoting or removing each other at the same moment therefore run
//! one after the other, and the second sees the first's change.
//!
//! Each change writes its audit event (and, for a removal, the *access revoked* email) in
//! the same transaction.

use super::account::{issue_email_change, EmailChangeFor, EMAIL_CHANGE_TOKEN_PREFIX};
use super::invitations::{issue_invitation, InvitationFor};
use super::target;
use crate::access::{
    self, Caller, Catalog, CustomerReach, MemberScope, OrgGrant, OrgView, PermissionCode,
};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::{CustomerId, MembershipId, OrgId, RoleId};
use crate::model::{
    Actor, AuditEvent, BuiltinRole, CustomRole, Membership, MembershipStatus, Notice, Organization,
    OutboxMessage, Permission,
};
use crate::names::DisplayName;
use crate::roster::Roster;
use crate::secrets::Secret;
use crate::store::{MemberView, StoreError, Tx};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a change to members or to the access model can refuse.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// No such member in this organization (or removed), or the caller may not see it.
    #[error("not found")]
    NotFound,
    /// The caller lacks `users.manage`, or would act beyond what they hold (granting a
    /// role they do not hold, or managing an admin without being one).
    #[error("you do not have permission to do this")]
    Forbidden,
    #[error("the member is {}; they cannot become {}", .from.as_str(), .to.as_str())]
    InvalidStatus {
        from: MembershipStatus,
        to: MembershipStatus,
    },
    #[error("{0}")]
    InvalidRole(String),
    /// The change would leave the organization without an active admin.
    #[error("the organization must keep at least one active admin")]
    LastAdmin,
    /// Inviting someone who is an active or deactivated member already.
    #[error("this person is already a member")]
    AlreadyMember,
    /// Inviting someone whose invitation is still pending: resend it instead.
    #[error("this person's invitation is pending")]
    InvitationPending,
    /// Inviting an address of a domain this organization signs in through single sign-on
    /// only: its members come through the provider.
    #[error("{org_name} signs this address in through single sign-on")]
    SsoEnforced { org_name: String },
    /// Resending or cancelling an invitation of a member who is not pending.
    #[error("the member has no pending invitation")]
    NotPending,
    #[error("an invitation was just sent; wait {retry_after_seconds} s")]
    ResendCooldown { retry_after_seconds: u64 },
    /// Another identity holds the address.
    #[error("another account uses this email")]
    EmailTaken,
    /// The identity belongs to other organizations too, so its address is not this
    /// organization's to change.
    #[error("this person's email is managed by them, not by this organization")]
    EmailNotManaged,
    /// Likewise for the name: it is the person's across all their organizations.
    #[error("this person's name is managed by them, not by this organization")]
    NameNotManaged,
    /// A group, customer or entity that is not the organization's.
    #[error("no {what} {id} in this organization")]
    UnknownReference { what: &'static str, id: String },
    /// A role, group, customer or entity of this name (or customer external id) exists.
    #[error("a {what} with this name exists")]
    NameTaken { what: &'static str },
    /// Deleting a role, customer or entity something still uses.
    #[error("the {what} is in use: {detail}")]
    InUse { what: &'static str, detail: String },
    /// A value that breaks a rule of its field.
    #[error("{0}")]
    Invalid(String),
    /// A permission code that is not in the catalog.
    #[error("{0}")]
    UnknownPermission(String),
    /// A role given permissions its author does not hold.
    #[error("you cannot give a role permissions you do not hold: {0}")]
    BeyondOwn(String),
    /// A caller limited to some customers assigning others, or none (which means all).
    #[error("you can assign only among your own customers")]
    OutsideCustomers,
    /// A scoped admin acting beyond their entities.
    #[error("this is outside your admin scope")]
    OutsideScope,
    #[error(transparent)]
    Random(#[from] crate::secrets::RandomError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::invitations::IssueError> for MemberError {
    fn from(e: super::invitations::IssueError) -> Self {
        match e {
            super::invitations::IssueError::Random(e) => MemberError::Random(e),
            super::invitations::IssueError::Store(e) => MemberError::Store(e),
        }
    }
}

/// Roles as a request names them: built-in role names and custom role ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleNames {
    /// Sorted, without duplicates.
    pub builtin: Vec<BuiltinRole>,
    /// Sorted, without duplicates; not yet checked against the organization.
    pub custom: Vec<RoleId>,
}

/// Parses a set of roles: at least one, each a built-in role name or a custom role's id.
pub fn parse_roles(names: &[String]) -> Result<RoleNames, MemberError> {
    if names.is_empty() {
        return Err(MemberError::InvalidRole(
            "give the member at least one role: admin, user, marketing, notifications or a custom role's id".into(),
        ));
    }
    let mut builtin = BTreeSet::new();
    let mut custom = BTreeSet::new();
    let mut unknown = Vec::new();
    for name in names {
        if let Ok(r) = BuiltinRole::parse(name) {
            builtin.insert(r);
        } else if let Ok(id) = name.parse::<RoleId>() {
            custom.insert(id);
        } else {
            unknown.push(name.as_str());
        }
    }
    if !unknown.is_empty() {
        return Err(MemberError::InvalidRole(format!(
            "unknown role(s): {}; expected admin, user, marketing, notifications or a custom role's id",
            unknown.join(", ")
        )));
    }
    Ok(RoleNames {
        builtin: builtin.into_iter().collect(),
        custom: custom.into_iter().collect(),
    })
}

/// The organization's custom roles named by `ids`; an id that is not one of them is
/// refused.
pub(crate) async fn custom_roles_named(
    tx: &mut dyn Tx,
    org: OrgId,
    ids: &[RoleId],
) -> Result<Vec<CustomRole>, MemberError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let all = tx.custom_roles(org).await?;
    ids.iter()
        .map(|id| {
            all.iter().find(|r| r.id == *id).cloned().ok_or_else(|| {
                MemberError::InvalidRole(format!("no custom role {id} in this organization"))
            })
        })
        .collect()
}

/// The organization held for this transaction, and what the caller holds in it now.
pub(crate) struct Locked {
    pub org: Organization,
    /// The caller's permissions, codes and member reach, read under the lock.
    pub access: access::Held,
    /// The customers the caller's own customer data is limited to; `None` when they reach
    /// every customer.
    pub customers: Option<BTreeSet<CustomerId>>,
    pub catalog: std::sync::Arc<Catalog>,
}

impl Locked {
    pub(crate) fn holds(&self, permission: Permission) -> bool {
        self.access.permissions.contains(&permission)
    }

    pub(crate) fn holds_codes<'a>(&self, codes: impl Iterator<Item = &'a PermissionCode>) -> bool {
        self.access.holds_all(codes)
    }

    pub(crate) fn scope(&self) -> &MemberScope {
        &self.access.scope
    }

    pub(crate) fn is_full_admin(&self) -> bool {
        self.access.is_full_admin(&self.catalog)
    }
}

/// The customers a caller's own customer data is limited to, and the membership whose
/// assignments they are.
pub(crate) struct CustomerLimit {
    pub member: MembershipId,
    pub customers: BTreeSet<CustomerId>,
}

/// The limit of the caller acting through `acting` (their membership and its prepared
/// permissions; `None` for an operator or a token of no one, who reach every customer). A
/// member whose roles reach customers only through assignments, and has some, is limited
/// to them; one whose roles reach no customer data is limited to none.
pub(crate) async fn customer_limit(
    reads: &mut dyn crate::store::Reads,
    acting: Option<&(Membership, access::AccessProfile)>,
) -> Result<Option<CustomerLimit>, StoreError> {
    let Some((m, profile)) = acting else {
        return Ok(None);
    };
    let reach = profile.customer_reach(Permission::CustomersRead.code());
    limit_of_reach(reads, m.org_id, Some((m.id, reach))).await
}

/// [`customer_limit`] from what a grant or view read with the caller's permissions earlier
/// in the same request; reads the assignments only for a reach limited to them.
pub(crate) async fn limit_of_reach(
    reads: &mut dyn crate::store::Reads,
    org: OrgId,
    reach: access::CustomerSight,
) -> Result<Option<CustomerLimit>, StoreError> {
    let Some((member, reach)) = reach else {
        return Ok(None);
    };
    let customers = match reach {
        CustomerReach::All => return Ok(None),
        CustomerReach::Assigned => {
            let assigned: BTreeSet<CustomerId> = reads
                .customer_assignments(org, member)
                .await?
                .into_iter()
                .collect();
            if assigned.is_empty() {
                return Ok(None);
            }
            assigned
        }
        CustomerReach::None => BTreeSet::new(),
    };
    Ok(Some(CustomerLimit { member, customers }))
}

/// What the caller holds in `org` now and the customers they are limited to, from one
/// read of the membership they act through; `None` when they have no business there.
pub(crate) async fn caller_reach(
    roster: &Roster,
    reads: &mut dyn crate::store::Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<Option<(access::Held, Option<CustomerLimit>)>, StoreError> {
    let Some((held, acting)) =
        access::held_with_member(&roster.catalog, &roster.definitions, reads, caller, org).await?
    else {
        return Ok(None);
    };
    let limit = customer_limit(reads, acting.as_ref()).await?;
    Ok(Some((held, limit)))
}

/// Takes the organization's lock, then re-reads the caller's permissions under it: a
/// caller demoted, deactivated or removed by a change that committed first holds what
/// that change left them.
pub(crate) async fn lock_org(
    roster: &Roster,
    tx: &mut dyn Tx,
    org: OrgId,
    caller: &Caller,
) -> Result<Locked, MemberError> {
    // First, before any count or check: this is what serialises the last-admin rule. The
    // caller's access comes with it, read under the lock (one call on SQLite, whose one
    // writer this transaction holds).
    let (org, acting) = tx
        .org_for_update_with_access(org, access::acting_identity(caller, org))
        .await?;
    let org = org.ok_or(MemberError::NotFound)?;
    let (access, member) = access::held_with_access(
        &roster.catalog,
        &roster.definitions,
        tx,
        caller,
        org.id,
        acting,
    )
    .await?
    .ok_or(MemberError::NotFound)?;
    let limit = customer_limit(tx, member.as_ref()).await?;
    Ok(Locked {
        org,
        access,
        customers: limit.map(|l| l.customers),
        catalog: roster.catalog.clone(),
    })
}

/// The lock plus a manager's checks: `users.manage` now, and the grant was made for this
/// caller.
pub(crate) async fn lock_as_manager(
    roster: &Roster,
    tx: &mut dyn Tx,
    grant: &OrgGrant,
    caller: &Caller,
) -> Result<Locked, MemberError> {
    lock_holding(roster, tx, grant, caller, Permission::UsersManage).await
}

/// The lock plus the checks of a grant for `permission`: it was made for this permission
/// and this caller, and the caller still holds the permission under the lock.
pub(crate) async fn lock_holding(
    roster: &Roster,
    tx: &mut dyn Tx,
    grant: &OrgGrant,
    caller: &Caller,
    permission: Permission,
) -> Result<Locked, MemberError> {
    if grant.permission() != permission || grant.actor() != caller.actor() {
        return Err(MemberError::Forbidden);
    }
    let locked = lock_org(roster, tx, grant.org_id(), caller).await?;
    if !locked.holds(permission) {
        return Err(MemberError::Forbidden);
    }
    Ok(locked)
}

/// Codes that manage members: a scoped admin never hands them on, since the role would
/// carry them beyond the admin's entities.
const MANAGING: [Permission; 2] = [Permission::UsersInvite, Permission::UsersManage];

/// Refuses roles the caller could not hand out: every code of each role in `granted`,
/// host products' included, must be one the caller holds (so Admin takes an admin of the
/// whole organization, or an operator), and a caller limited to some customers never
/// hands out a role that reaches all of them.
pub(crate) fn may_grant<'a>(
    locked: &Locked,
    granted: impl IntoIterator<Item = &'a BuiltinRole>,
) -> Result<(), MemberError> {
    for role in granted {
        if !locked.holds_codes(locked.catalog.builtin(*role).iter()) {
            return Err(MemberError::Forbidden);
        }
        if *role == BuiltinRole::Admin && !locked.is_full_admin() {
            return Err(MemberError::Forbidden);
        }
    }
    Ok(())
}

/// The same for custom roles: each of their codes; never an unscoped role by a caller
/// limited to some customers; never a member-managing role by a scoped admin.
pub(crate) fn may_grant_custom<'a>(
    locked: &Locked,
    granted: impl IntoIterator<Item = &'a CustomRole>,
) -> Result<(), MemberError> {
    for role in granted {
        if !locked.holds_codes(role.permissions.iter()) {
            return Err(MemberError::Forbidden);
        }
        if !role.customer_scoped && locked.customers.is_some() {
            return Err(MemberError::Forbidden);
        }
        let manages = role
            .permissions
            .iter()
            .any(|c| c.roster().is_some_and(|p| MANAGING.contains(&p)));
        if manages && !locked.scope().is_all() {
            return Err(MemberError::Forbidden);
        }
    }
    Ok(())
}

/// A member of the organization that is not removed and that the caller reaches; outside
/// a scoped admin's entities a member is answered as absent.
pub(crate) async fn live_member(
    tx: &mut dyn Tx,
    locked: &Locked,
    id: MembershipId,
) -> Result<Membership, MemberError> {
    tx.membership(locked.org.id, id)
        .await?
        .filter(|m| m.status != MembershipStatus::Removed && locked.scope().admits(m))
        .ok_or(MemberError::NotFound)
}

/// Managing a member (any change to their standing, roles or assignments) takes holding
/// everything their roles grant, whatever their status, and reaching as far as they do;
/// managing an admin takes an admin of the whole organization. So nobody edits,
/// re-addresses, deactivates or re-activates someone who holds or reaches more.
pub(crate) async fn may_manage(
    tx: &mut dyn Tx,
    locked: &Locked,
    target: &Membership,
) -> Result<(), MemberError> {
    if outranks(
        &locked.catalog,
        tx,
        &locked.access,
        locked.customers.as_ref(),
        target,
    )
    .await?
    {
        return Err(MemberError::Forbidden);
    }
    Ok(())
}

/// Whether `target` holds or reaches something the caller does not: Admin over a caller
/// who is not an admin of the whole organization; a code of their roles the caller lacks
/// (codes the catalog no longer lists aside); a member-managing code over a scoped admin
/// (whose reach stops at their entities, the target's would not); or customers beyond
/// those the caller is limited to (`customers`).
pub(crate) async fn outranks(
    catalog: &Arc<Catalog>,
    reads: &mut dyn crate::store::Reads,
    held: &access::Held,
    customers: Option<&BTreeSet<CustomerId>>,
    target: &Membership,
) -> Result<bool, StoreError> {
    let full_admin = held.is_full_admin(catalog);
    if target.is_admin() && !full_admin {
        return Ok(true);
    }
    if held.codes.is_none() || full_admin {
        return Ok(false);
    }
    let profile = access::profile_for(catalog, reads, target).await?;
    if !held.holds_all(
        profile
            .granted_codes()
            .filter(|c| catalog.contains(c.as_str())),
    ) {
        return Ok(true);
    }
    let manages = profile
        .granted_codes()
        .any(|c| c.roster().is_some_and(|p| MANAGING.contains(&p)));
    if manages && !held.scope.is_all() {
        return Ok(true);
    }
    match customers {
        Some(mine) => reaches_beyond(reads, &profile, target, mine).await,
        None => Ok(false),
    }
}

/// Whether a member with `profile` reaches customers outside `mine`: a role reaching all of
/// them, or one reaching the assigned ones while none is assigned (which means all), or an
/// assignment outside `mine`.
pub(crate) async fn reaches_beyond(
    reads: &mut dyn crate::store::Reads,
    profile: &access::AccessProfile,
    member: &Membership,
    mine: &BTreeSet<CustomerId>,
) -> Result<bool, StoreError> {
    Ok(match profile.widest_reach() {
        CustomerReach::None => false,
        CustomerReach::All => true,
        CustomerReach::Assigned => {
            let assigned = reads.customer_assignments(member.org_id, member.id).await?;
            assigned.is_empty() || assigned.iter().any(|c| !mine.contains(c))
        }
    })
}

/// After a change of roles or groups by a caller limited to some customers: the member
/// must not reach beyond them.
pub(crate) async fn stays_within_customers(
    tx: &mut dyn Tx,
    locked: &Locked,
    after: &Membership,
) -> Result<(), MemberError> {
    if let Some(mine) = &locked.customers {
        let profile = access::profile_for(&locked.catalog, tx, after).await?;
        if reaches_beyond(tx, &profile, after, mine).await? {
            return Err(MemberError::OutsideCustomers);
        }
    }
    Ok(())
}

/// Refuses a change after which `before` would no longer be an active admin when it is the
/// organization's last one. Must run under [`lock_org`].
pub(crate) async fn keep_an_admin(
    tx: &mut dyn Tx,
    before: &Membership,
    still_active_admin: bool,
) -> Result<(), MemberError> {
    let is_active_admin = before.status == MembershipStatus::Active && before.is_unscoped_admin();
    if is_active_admin && !still_active_admin && tx.count_active_admins(before.org_id).await? <= 1 {
        return Err(MemberError::LastAdmin);
    }
    Ok(())
}

/// The member as answered, read inside the transaction.
pub(crate) async fn view(
    tx: &mut dyn Tx,
    org: OrgId,
    id: MembershipId,
) -> Result<MemberView, MemberError> {
    let membership = tx.membership(org, id).await?.ok_or(MemberError::NotFound)?;
    let identity = tx
        .identity(membership.identity_id)
        .await?
        .ok_or(MemberError::NotFound)?;
    Ok(MemberView {
        membership,
        email: identity.email,
        name: identity.name.map(|n| n.to_string()),
    })
}

pub(crate) fn role_names(roles: &[BuiltinRole]) -> Vec<&'static str> {
    roles.iter().map(|r| r.as_str()).collect()
}

/// Moves `before` to `to` by compare-and-set and records it.
async fn change_status(
    tx: &mut dyn Tx,
    before: &Membership,
    to: MembershipStatus,
    actor: Actor,
    now: Timestamp,
) -> Result<MemberView, MemberError> {
    if !tx
        .set_membership_status(before.org_id, before.id, before.status, to, now)
        .await?
    {
        // Another writer that does not take the organization's lock (an invitation being
        // accepted) moved it first.
        return Err(MemberError::InvalidStatus {
            from: before.status,
            to,
        });
    }
    let after = view(tx, before.org_id, before.id).await?;
    let action = match to {
        MembershipStatus::Active => "membership.activated",
        MembershipStatus::Deactivated => "membership.deactivated",
        _ => "membership.status_changed",
    };
    tx.append_audit(&AuditEvent::new(
        Some(before.org_id),
        actor,
        action,
        target("membership", before.id.as_uuid()),
        json!({
            "email": after.email.as_str(),
            "status": { "from": before.status.as_str(), "to": to.as_str() },
            "roles": role_names(&before.roles),
        }),
        now,
    ))
    .await?;
    Ok(after)
}

/// Tombstones `before`, tells the person, and records it.
async fn remove(
    tx: &mut dyn Tx,
    org: &Organization,
    before: &Membership,
    actor: Actor,
    left: bool,
    now: Timestamp,
) -> Result<(), MemberError> {
    before
        .status
        .transition(MembershipStatus::Removed)
        .map_err(|e| MemberError::InvalidStatus {
            from: e.from,
            to: e.to,
        })?;
    keep_an_admin(tx, before, false).await?;
    let person = view(tx, org.id, before.id).await?;
    if !tx
        .set_membership_status(
            org.id,
            before.id,
            before.status,
            MembershipStatus::Removed,
            now,
        )
        .await?
    {
        return Err(MemberError::NotFound);
    }
    // Their tokens here end with the membership: were the person invited again, the new
    // membership must not bring old tokens back to life.
    let tokens_revoked = tx
        .revoke_api_tokens_of_identity(before.identity_id, Some(org.id), now)
        .await?;
    // Someone who only had a pending invitation never had access to lose.
    let notified = before.status != MembershipStatus::Invited;
    if notified {
        tx.enqueue_outbox(&OutboxMessage::new(
            Some(org.id),
            person.email.clone(),
            Notice::AccessRevoked {
                org_name: org.name.to_string(),
            },
            now,
        ))
        .await?;
    }
    tx.append_audit(&AuditEvent::new(
        Some(org.id),
        actor,
        "membership.removed",
        target("membership", before.id.as_uuid()),
        json!({
            "email": person.email.as_str(),
            "name": person.name,
            "identity_id": before.identity_id,
            "status": { "from": before.status.as_str(), "to": MembershipStatus::Removed.as_str() },
            "roles": role_names(&before.roles),
            "left": left,
            "notified": notified,
            "tokens_revoked": tokens_revoked,
        }),
        now,
    ))
    .await?;
    Ok(())
}

impl Roster {
    /// Deactivates an active member (seed 004): data and assignments stay; from the next
    /// request on they cannot use the organization.
    pub async fn deactivate_member(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<MemberView, MemberError> {
        self.move_member(grant, caller, member, MembershipStatus::Deactivated)
            .await
    }

    /// Gives a deactivated member their access back, with everything they had.
    pub async fn activate_member(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<MemberView, MemberError> {
        self.move_member(grant, caller, member, MembershipStatus::Active)
            .await
    }

    async fn move_member(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        to: MembershipStatus,
    ) -> Result<MemberView, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        // Activation is only the way back from deactivation: a pending invitation becomes
        // active when the person accepts it, never on an admin's word.
        let allowed = match to {
            MembershipStatus::Active => before.status == MembershipStatus::Deactivated,
            _ => before.status.transition(to).is_ok(),
        };
        if !allowed {
            return Err(MemberError::InvalidStatus {
                from: before.status,
                to,
            });
        }
        keep_an_admin(&mut *tx, &before, to == MembershipStatus::Active).await?;
        let after = change_status(&mut *tx, &before, to, grant.actor(), now).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Removes a member (seeds 001–003): the membership becomes a tombstone, the person is
    /// told by email, their identity and other memberships stay as they are.
    pub async fn remove_member(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        let left = caller.identity() == Some(before.identity_id)
            && matches!(caller, Caller::Person { .. });
        remove(&mut *tx, &locked.org, &before, grant.actor(), left, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The signed-in person leaves the organization. Needs no permission beyond being an
    /// active member; the last-admin rule still holds.
    pub async fn leave_org(&self, view: &OrgView, caller: &Caller) -> Result<(), MemberError> {
        let Caller::Person { identity_id, .. } = caller else {
            return Err(MemberError::NotFound);
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_org(self, &mut *tx, view.org_id(), caller).await?;
        let before = tx
            .membership_of(locked.org.id, *identity_id)
            .await?
            .ok_or(MemberError::NotFound)?;
        remove(&mut *tx, &locked.org, &before, caller.actor(), true, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the member's roles, built-in and custom. A caller never grants a role whose
    /// permissions they do not all hold (so Admin takes an admin of the whole organization
    /// or an operator), never changes an admin's roles without being one, and never takes
    /// Admin from the last active admin.
    pub async fn set_member_roles(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        roles: &[String],
    ) -> Result<MemberView, MemberError> {
        let roles = parse_roles(roles)?;
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        let custom = custom_roles_named(&mut *tx, locked.org.id, &roles.custom).await?;
        may_grant(
            &locked,
            roles.builtin.iter().filter(|r| !before.roles.contains(r)),
        )?;
        may_grant_custom(
            &locked,
            custom
                .iter()
                .filter(|r| !before.custom_roles.contains(&r.id)),
        )?;
        if roles.builtin == before.roles && roles.custom == before.custom_roles {
            return view(&mut *tx, locked.org.id, member).await;
        }
        keep_an_admin(
            &mut *tx,
            &before,
            roles.builtin.contains(&BuiltinRole::Admin),
        )
        .await?;
        stays_within_customers(
            &mut *tx,
            &locked,
            &Membership {
                roles: roles.builtin.clone(),
                custom_roles: roles.custom.clone(),
                ..before.clone()
            },
        )
        .await?;
        if !tx
            .set_membership_roles(locked.org.id, member, &roles.builtin, now)
            .await?
            || !tx
                .set_membership_custom_roles(locked.org.id, member, &roles.custom, now)
                .await?
        {
            return Err(MemberError::NotFound);
        }
        // An admin scope means nothing without Admin; left behind it would make a later
        // Admin a scoped one unannounced.
        if !roles.builtin.contains(&BuiltinRole::Admin) && !before.admin_scope.is_empty() {
            tx.set_admin_scope(locked.org.id, member, &[], now).await?;
        }
        let after = view(&mut *tx, locked.org.id, member).await?;
        tx.append_audit(&AuditEvent::new(
            Some(locked.org.id),
            grant.actor(),
            "membership.roles_changed",
            target("membership", member.as_uuid()),
            json!({
                "email": after.email.as_str(),
                "status": before.status.as_str(),
                "roles": { "from": role_names(&before.roles), "to": role_names(&roles.builtin) },
                "custom_roles": { "from": before.custom_roles, "to": roles.custom },
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

/// An admin's changes to a member's identity; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct MemberEdit {
    pub name: Option<DisplayName>,
    pub email: Option<Email>,
}

/// One member with what the member page shows beyond the list: the invitation that
/// brought them (who, when, until when) and their last sign-in.
#[derive(Clone, Debug)]
pub struct MemberDetail {
    pub member: MemberView,
    pub invited_at: Option<Timestamp>,
    pub invited_by: Option<Actor>,
    /// The inviting person's name (or email, when they have no name); `None` when a program
    /// or the command line invited.
    pub invited_by_name: Option<String>,
    /// The pending link's expiry, while the member is *Invite pending*.
    pub invitation_expires_at: Option<Timestamp>,
    pub last_sign_in_at: Option<Timestamp>,
    /// The customers assigned to the member in this organization (seed 002).
    pub customers: Vec<crate::ids::CustomerId>,
}

/// What an edit did.
#[derive(Clone, Debug)]
pub struct Edited {
    pub member: MemberView,
    /// A confirmation link went to this address: the email changes when it is used.
    pub pending_email: Option<Email>,
}

impl Roster {
    /// Edits a member's name and email (seed 002). Both live on the person's one identity,
    /// so they are this organization's to change only while the person belongs to no other
    /// organization; the email never to an address another identity has.
    ///
    /// A person who can sign in gets a confirmation link at the new address and a notice
    /// at the old one; the address changes, and every session ends, when the link is used
    /// (SECURITY 44). A person who cannot sign in yet has an unconfirmed address anyway: it
    /// changes at once, and a pending invitation goes again to the new address while the
    /// link sent to the old one dies.
    pub async fn edit_member(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        edit: MemberEdit,
    ) -> Result<Edited, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        // Held until commit: an invitation into another organization that found this
        // identity by its address waits for this change, then sees it (and the other way
        // round, this change sees that organization's new membership).
        let identity = tx
            .identity_for_update(before.identity_id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let new_name = edit.name.filter(|n| identity.name.as_ref() != Some(n));
        let new_email = edit.email.filter(|e| e.as_str() != identity.email.as_str());
        if new_name.is_none() && new_email.is_none() {
            let member = view(&mut *tx, locked.org.id, member).await?;
            return Ok(Edited {
                member,
                pending_email: None,
            });
        }
        let elsewhere = tx
            .memberships_of_identity(identity.id)
            .await?
            .iter()
            .any(|m| m.org_id != locked.org.id);
        if elsewhere {
            return Err(if new_email.is_some() {
                MemberError::EmailNotManaged
            } else {
                MemberError::NameNotManaged
            });
        }
        if let Some(email) = &new_email {
            if tx
                .identity_by_email(email)
                .await?
                .is_some_and(|other| other.id != identity.id)
            {
                return Err(MemberError::EmailTaken);
            }
        }
        if let Some(name) = &new_name {
            tx.update_identity_profile(
                identity.id,
                Some(name.as_str()),
                identity.timezone.as_deref(),
                identity.locale.as_deref(),
                now,
            )
            .await?;
        }
        let mut pending_email = None;
        if let Some(email) = &new_email {
            if identity.has_usable_sign_in() {
                issue_email_change(
                    self,
                    &mut *tx,
                    EmailChangeFor {
                        identity: &identity,
                        new_email: email,
                        org_id: Some(locked.org.id),
                        requested_by: grant.actor(),
                    },
                    Secret::generate(EMAIL_CHANGE_TOKEN_PREFIX)?,
                    now,
                )
                .await?;
                pending_email = Some(email.clone());
            } else {
                match tx.set_identity_email(identity.id, email, now).await {
                    Ok(true) => {}
                    Ok(false) => return Err(MemberError::NotFound),
                    Err(StoreError::EmailTaken) => return Err(MemberError::EmailTaken),
                    Err(e) => return Err(e.into()),
                }
                if before.status == MembershipStatus::Invited {
                    tx.revoke_invitations_of(locked.org.id, member, now).await?;
                    issue_invitation(
                        self,
                        &mut *tx,
                        InvitationFor {
                            org: &locked.org,
                            membership: &before,
                            email,
                            invited_by: grant.actor(),
                            inviter_name: None,
                            action: "invitation.resent",
                        },
                        now,
                    )
                    .await?;
                }
            }
        }
        let after = view(&mut *tx, locked.org.id, member).await?;
        tx.append_audit(&AuditEvent::new(
            Some(locked.org.id),
            grant.actor(),
            "membership.edited",
            target("membership", member.as_uuid()),
            json!({
                "email": { "from": identity.email.as_str(), "to": after.email.as_str() },
                "pending_email": pending_email.as_ref().map(|e| e.as_str()),
                "name": {
                    "from": identity.name.as_ref().map(|n| n.as_str()),
                    "to": after.name,
                },
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(Edited {
            member: after,
            pending_email,
        })
    }

    /// The customers the caller's own customer data is limited to in `org`; `None` when they
    /// reach every customer (an operator, or roles that reach all).
    pub async fn customer_limit_of(
        &self,
        view: &OrgView,
    ) -> Result<Option<BTreeSet<CustomerId>>, StoreError> {
        let reach = view.customer_reach();
        if !matches!(
            reach,
            Some((_, CustomerReach::Assigned | CustomerReach::None))
        ) {
            return Ok(None);
        }
        let mut reads = self.store.reads().await?;
        Ok(limit_of_reach(&mut *reads, view.org_id(), reach)
            .await?
            .map(|limit| limit.customers))
    }

    /// One member, as the member page shows them; `None` when absent, removed or another
    /// organization's.
    pub async fn member_detail(
        &self,
        view: &OrgView,
        id: MembershipId,
    ) -> Result<Option<MemberDetail>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(membership) = reads
            .membership(view.org_id(), id)
            .await?
            .filter(|m| m.status != MembershipStatus::Removed && view.scope().admits(m))
        else {
            return Ok(None);
        };
        let Some(identity) = reads.identity(membership.identity_id).await? else {
            return Ok(None);
        };
        let invitation = reads.latest_invitation_of(view.org_id(), id).await?;
        let last_sign_in_at = reads.last_sign_in_at(identity.id).await?;
        let customers = reads.customer_assignments(view.org_id(), id).await?;
        let pending = membership.status == MembershipStatus::Invited;
        let invited_by_name = match invitation.as_ref().map(|i| i.invited_by) {
            Some(Actor::Identity(inviter)) => {
                reads.identity(inviter).await?.map(|i| i.display_name())
            }
            _ => None,
        };
        Ok(Some(MemberDetail {
            invited_by_name,
            invited_at: invitation.as_ref().map(|i| i.created_at),
            invited_by: invitation.as_ref().map(|i| i.invited_by),
            invitation_expires_at: invitation
                .as_ref()
                .filter(|_| pending)
                .map(|i| i.expires_at),
            last_sign_in_at,
            customers,
            member: MemberView {
                membership,
                email: identity.email,
                name: identity.name.map(|n| n.to_string()),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn roles_parse_into_sorted_sets_of_built_ins_and_custom_ids() {
        assert_eq!(
            parse_roles(&names(&["user", "admin", "user"]))
                .unwrap()
                .builtin,
            vec![BuiltinRole::Admin, BuiltinRole::User]
        );
        let id = RoleId::new();
        let parsed = parse_roles(&[id.to_string(), "user".into()]).unwrap();
        assert_eq!(parsed.custom, vec![id]);
        assert_eq!(parsed.builtin, vec![BuiltinRole::User]);
        for bad in [names(&[]), names(&["root"]), names(&["user", "Admin"])] {
            assert!(
                matches!(parse_roles(&bad), Err(MemberError::InvalidRole(_))),
                "{bad:?}"
            );
        }
        let Err(MemberError::InvalidRole(detail)) = parse_roles(&names(&["root", "x"])) else {
            panic!("refused");
        };
        assert!(detail.contains("root, x"), "{detail}");
    }
}
