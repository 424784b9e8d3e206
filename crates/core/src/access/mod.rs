//! Who is calling and what they may do.
//!
//! A permission check returns a grant value, and every use case that changes state takes
//! the grant it needs. Grants can only be built here, so a handler that forgets its check
//! does not compile.
//!
//! What a member holds is evaluated by [`AccessProfile`] from the catalog of permissions
//! ([`Catalog`]), the member's roles and their groups' roles. The membership is read from
//! the store on every request; what the organization's custom roles and groups are made
//! of comes from [`DefinitionsCache`] while the version read with the membership holds.
//! A change applies to the very next request on every instance.

mod catalog;
mod definitions;
mod evaluate;

pub use catalog::{
    BadCode, Catalog, CatalogEntry, CatalogError, CodeSource, HostPermission, PermissionCode,
};
pub use definitions::DefinitionsCache;
pub use evaluate::{
    AccessProfile, CustomerArg, CustomerReach, GrantRef, Reason, RoleRef, Step, Via,
    WITHIN_ADMIN_SCOPE,
};

use crate::ids::{ApiTokenId, EntityId, IdentityId, MembershipId, OrgId, SessionId};
use crate::model::{Actor, Membership, Permission};
use crate::store::{MemberAccess, Reads, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;

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
        /// Codes of the catalog, host products' included.
        permissions: BTreeSet<PermissionCode>,
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

/// Which members a grant reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberScope {
    /// Every member of the organization.
    All,
    /// A scoped admin's reach: members whose entity is one of `entities`, and the admin's
    /// own membership (seed 004).
    Entities {
        entities: BTreeSet<EntityId>,
        own: MembershipId,
    },
}

impl MemberScope {
    /// The scope of a caller acting through `membership`.
    pub fn of(membership: &Membership) -> Self {
        if membership.is_scoped_admin() {
            MemberScope::Entities {
                entities: membership.admin_scope.iter().copied().collect(),
                own: membership.id,
            }
        } else {
            MemberScope::All
        }
    }

    /// Whether a member is within reach. Outside it, a member is answered as absent.
    pub fn admits(&self, member: &Membership) -> bool {
        match self {
            MemberScope::All => true,
            MemberScope::Entities { entities, own } => {
                member.id == *own || member.entity.is_some_and(|e| entities.contains(&e))
            }
        }
    }

    /// Whether `entities` all lie within reach (an empty set, the whole organization, only
    /// for an unscoped caller).
    pub fn covers(&self, entities: &[EntityId]) -> bool {
        match self {
            MemberScope::All => true,
            MemberScope::Entities { entities: mine, .. } => {
                !entities.is_empty() && entities.iter().all(|e| mine.contains(e))
            }
        }
    }

    /// The entities of a scoped admin; `None` for the whole organization.
    pub fn entities(&self) -> Option<&BTreeSet<EntityId>> {
        match self {
            MemberScope::All => None,
            MemberScope::Entities { entities, .. } => Some(entities),
        }
    }

    pub fn is_all(&self) -> bool {
        *self == MemberScope::All
    }
}

/// Proof that the caller holds `permission` in `org`, over the members of `scope`.
#[derive(Debug)]
pub struct OrgGrant {
    org_id: OrgId,
    actor: Actor,
    permission: Permission,
    scope: MemberScope,
    customer_reach: CustomerSight,
}

/// Which customers the caller reads (`customers.read`): the membership they act through
/// (their own, or their token's creator's) and how its roles reach customers; `None` for
/// an operator or a token without a creator, who read every customer. Read with the
/// permissions, so a page that lists customers need not read the membership again.
pub(crate) type CustomerSight = Option<(MembershipId, CustomerReach)>;

fn sight(m: &Membership, p: &AccessProfile) -> CustomerSight {
    Some((m.id, p.customer_reach(Permission::CustomersRead.code())))
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
    /// The members this grant reaches.
    pub fn scope(&self) -> &MemberScope {
        &self.scope
    }

    /// Which customers the caller reads, as read with the grant.
    pub(crate) fn customer_reach(&self) -> CustomerSight {
        self.customer_reach
    }

    /// Holding a permission in an organization means seeing it (within the same reach).
    pub fn view(&self) -> OrgView {
        OrgView {
            org_id: self.org_id,
            scope: self.scope.clone(),
            customer_reach: self.customer_reach,
        }
    }
}

/// Proof that the caller may see `org` at all (operator, or an active member), and which
/// of its members.
#[derive(Debug)]
pub struct OrgView {
    org_id: OrgId,
    scope: MemberScope,
    customer_reach: CustomerSight,
}

impl OrgView {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }

    /// The members the caller sees: a scoped admin only those of their entities.
    pub fn scope(&self) -> &MemberScope {
        &self.scope
    }

    /// Which customers the caller reads, as read with the view.
    pub(crate) fn customer_reach(&self) -> CustomerSight {
        self.customer_reach
    }

    /// Operators see every organization.
    pub fn for_operator(_grant: &OperatorGrant, org: OrgId) -> Self {
        Self {
            org_id: org,
            scope: MemberScope::All,
            customer_reach: None,
        }
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

/// What a caller holds in an organization right now. Only this crate builds one or changes
/// it, and it names the organization and the caller it was read for, so [`grant`] and
/// [`view`] turn it into a grant only for that caller in that organization.
#[derive(Clone, Debug)]
pub struct Held {
    pub(crate) permissions: BTreeSet<Permission>,
    /// Every code held, host products' included; `None` for an operator, who holds all.
    pub(crate) codes: Option<BTreeSet<PermissionCode>>,
    /// The members the caller reaches with them.
    pub(crate) scope: MemberScope,
    /// The customers the caller reads.
    customer_reach: CustomerSight,
    org_id: OrgId,
    actor: Actor,
}

impl Held {
    /// Roster's own permissions held.
    pub fn permissions(&self) -> &BTreeSet<Permission> {
        &self.permissions
    }

    /// Whether this was read for `caller` in `org`.
    fn is_for(&self, caller: &Caller, org: OrgId) -> bool {
        self.org_id == org && self.actor == caller.actor()
    }

    /// An admin of the whole organization (or an operator): every code Admin carries, and
    /// no admin scope.
    pub fn is_full_admin(&self, catalog: &Catalog) -> bool {
        self.scope.is_all()
            && self.holds_all(catalog.builtin(crate::model::BuiltinRole::Admin).iter())
    }

    /// Whether every code of `codes` is held (what handing out a role takes).
    pub fn holds_all<'a>(&self, mut codes: impl Iterator<Item = &'a PermissionCode>) -> bool {
        match &self.codes {
            None => true,
            Some(held) => codes.all(|c| held.contains(c)),
        }
    }
}

fn roster_of(codes: &BTreeSet<PermissionCode>) -> BTreeSet<Permission> {
    codes.iter().filter_map(PermissionCode::roster).collect()
}

/// The prepared permissions of the caller's membership as just read (`access`), if it
/// admits the person.
async fn profile_from(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    access: Option<MemberAccess>,
) -> Result<Option<(Membership, AccessProfile)>, StoreError> {
    let Some(access) = access.filter(|a| a.membership.admits_person()) else {
        return Ok(None);
    };
    let profile = definitions
        .profile(catalog, reads, &access.membership, access.access_version)
        .await?;
    Ok(Some((access.membership, profile)))
}

/// Prepares a membership's permissions, reading the custom roles and groups it refers to
/// (one statement), and nothing when it refers to none.
pub async fn profile_for(
    catalog: &Arc<Catalog>,
    reads: &mut dyn Reads,
    m: &Membership,
) -> Result<AccessProfile, StoreError> {
    if m.custom_roles.is_empty() && m.groups.is_empty() {
        return Ok(AccessProfile::prepare(catalog, m, &[], &[]));
    }
    let sources = reads
        .access_sources(m.org_id, &m.custom_roles, &m.groups)
        .await?;
    Ok(AccessProfile::prepare(
        catalog,
        m,
        &sources.custom_roles,
        &sources.groups,
    ))
}

/// Every permission the caller holds in `org` right now, and over which members; `None`
/// when the caller has no business with the organization. Read from the store on every
/// call, so a changed role, group, scope or a deactivation applies to the very next request.
pub async fn held(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<Option<Held>, StoreError> {
    Ok(held_with_member(catalog, definitions, reads, caller, org)
        .await?
        .map(|(held, _)| held))
}

/// [`held`], with the membership the caller acts through (their own, or their token's
/// creator's) and its prepared permissions, for checks that look further (customer
/// reach) without reading them again.
pub async fn held_with_member(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<Option<(Held, Option<(Membership, AccessProfile)>)>, StoreError> {
    let access = match acting_identity(caller, org) {
        Some(identity) => reads.member_access(org, identity, None).await?,
        None => None,
    };
    held_with_access(catalog, definitions, reads, caller, org, access).await
}

/// The identity whose membership in `org` decides what `caller` holds there: the person,
/// or an organization token's creator; none for an operator, a token without a creator
/// or another organization's token.
pub fn acting_identity(caller: &Caller, org: OrgId) -> Option<IdentityId> {
    match caller {
        Caller::Operator { .. } => None,
        Caller::Person { identity_id, .. } => Some(*identity_id),
        Caller::Token {
            org_id, created_by, ..
        } => created_by.filter(|_| *org_id == org),
    }
}

/// [`held_with_member`] with the access of [`acting_identity`] in `org` already read
/// (`Reads::member_access` without a customer; `None` when there is no such identity),
/// for a use case that read it together with something else.
pub async fn held_with_access(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
    access: Option<MemberAccess>,
) -> Result<Option<(Held, Option<(Membership, AccessProfile)>)>, StoreError> {
    // Only the acting identity's membership in this organization counts, whatever a caller
    // passed in.
    let acting = acting_identity(caller, org);
    let access =
        access.filter(|a| a.membership.org_id == org && Some(a.membership.identity_id) == acting);
    match caller {
        Caller::Operator { .. } => Ok(Some((everything(caller, org), None))),
        Caller::Person { .. } => Ok(profile_from(catalog, definitions, reads, access)
            .await?
            .map(|(m, p)| (person_held(&m, &p), Some((m, p))))),
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
                None => Ok(Some((
                    Held {
                        permissions: roster_of(permissions),
                        codes: Some(permissions.clone()),
                        scope: MemberScope::All,
                        customer_reach: None,
                        org_id: org,
                        actor: caller.actor(),
                    },
                    None,
                ))),
                Some(_) => Ok(profile_from(catalog, definitions, reads, access)
                    .await?
                    .map(|(m, p)| (token_held(caller, permissions, &m, &p), Some((m, p))))),
            }
        }
    }
}

/// What an operator holds in any organization: every permission, every member, every
/// customer.
fn everything(caller: &Caller, org: OrgId) -> Held {
    Held {
        permissions: Permission::ALL.iter().copied().collect(),
        codes: None,
        scope: MemberScope::All,
        customer_reach: None,
        org_id: org,
        actor: caller.actor(),
    }
}

/// What a token holds through its creator's membership `m`: the token's codes that the
/// creator holds now, over the creator's members.
fn token_held(
    caller: &Caller,
    permissions: &BTreeSet<PermissionCode>,
    m: &Membership,
    p: &AccessProfile,
) -> Held {
    // A token names a few codes; its creator may hold every code of the catalog.
    let codes: BTreeSet<PermissionCode> = permissions
        .iter()
        .filter(|c| p.holds(c.as_str()))
        .cloned()
        .collect();
    Held {
        permissions: roster_of(&codes),
        codes: Some(codes),
        scope: MemberScope::of(m),
        customer_reach: sight(m, p),
        org_id: m.org_id,
        actor: caller.actor(),
    }
}

/// [`held`] for an organization token through `m`, its creator's membership as read
/// earlier in the same request, with `version`, its organization's `access_version` read
/// with it: the same answer without reading the membership again. `None` when `m` is not
/// the token's creator's in the token's organization, or admits nobody (deactivated,
/// invited, notifications only).
pub async fn held_by_token(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    m: &Membership,
    version: u64,
) -> Result<Option<Held>, StoreError> {
    let Caller::Token {
        org_id,
        created_by: Some(creator),
        permissions,
        ..
    } = caller
    else {
        return Ok(None);
    };
    if *org_id != m.org_id || *creator != m.identity_id || !m.admits_person() {
        return Ok(None);
    }
    let profile = definitions.profile(catalog, reads, m, version).await?;
    Ok(Some(token_held(caller, permissions, m, &profile)))
}

fn person_held(m: &Membership, p: &AccessProfile) -> Held {
    Held {
        permissions: p.roster_permissions(),
        codes: Some(p.codes().cloned().collect()),
        scope: MemberScope::of(m),
        customer_reach: sight(m, p),
        org_id: m.org_id,
        actor: Actor::Identity(m.identity_id),
    }
}

/// [`held`] for a person through `m`, their membership as read earlier in the same request
/// (a session's memberships are read to admit it) with `version`, its organization's
/// `access_version` read with it: the same answer without reading the membership again.
/// The organization's custom roles and groups are read only when the membership refers
/// to any and the kept copy is not at `version`, on a connection taken only then.
pub async fn held_by_person(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    store: &dyn Store,
    caller: &Caller,
    m: &Membership,
    version: u64,
) -> Result<Option<Held>, StoreError> {
    let theirs =
        matches!(caller, Caller::Person { identity_id, .. } if *identity_id == m.identity_id);
    if !theirs || !m.admits_person() {
        return Ok(None);
    }
    let profile = if m.custom_roles.is_empty() && m.groups.is_empty() {
        AccessProfile::prepare(catalog, m, &[], &[])
    } else {
        definitions
            .profile(catalog, &mut *store.reads().await?, m, version)
            .await?
    };
    Ok(Some(person_held(m, &profile)))
}

/// Every permission the caller holds in `org` right now; see [`held`].
pub async fn held_permissions(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<Option<BTreeSet<Permission>>, StoreError> {
    Ok(held(catalog, definitions, reads, caller, org)
        .await?
        .map(|h| h.permissions))
}

/// May the caller see `org`? Members of other organizations get `NotVisible`, never a hint
/// that the organization exists.
pub async fn view_org(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
) -> Result<OrgView, Denied> {
    match held(catalog, definitions, reads, caller, org).await? {
        Some(held) => view(held, caller, org),
        None => Err(Denied::NotVisible),
    }
}

/// The view of `org` that `held`, what the caller holds there as read earlier in the same
/// request, gives.
pub fn view(held: Held, caller: &Caller, org: OrgId) -> Result<OrgView, Denied> {
    if !held.is_for(caller, org) {
        return Err(Denied::NotVisible);
    }
    Ok(OrgView {
        org_id: org,
        scope: held.scope,
        customer_reach: held.customer_reach,
    })
}

/// Does the caller hold `permission` in `org`? Deny by default: the permission must come
/// from a role of an active membership, its own or a group's (operators hold every
/// permission). The grant carries the members the caller reaches.
pub async fn require(
    catalog: &Arc<Catalog>,
    definitions: &DefinitionsCache,
    reads: &mut dyn Reads,
    caller: &Caller,
    org: OrgId,
    permission: Permission,
) -> Result<OrgGrant, Denied> {
    let held = held(catalog, definitions, reads, caller, org)
        .await?
        .ok_or(Denied::NotVisible)?;
    grant(held, caller, org, permission)
}

/// [`require`] on what the caller holds in `org`, as read earlier in the same request.
pub fn grant(
    held: Held,
    caller: &Caller,
    org: OrgId,
    permission: Permission,
) -> Result<OrgGrant, Denied> {
    if !held.is_for(caller, org) {
        return Err(Denied::NotVisible);
    }
    if held.permissions.contains(&permission) {
        Ok(OrgGrant {
            org_id: org,
            actor: caller.actor(),
            permission,
            scope: held.scope,
            customer_reach: held.customer_reach,
        })
    } else {
        Err(Denied::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operator() -> Caller {
        Caller::Operator {
            token_id: ApiTokenId::new(),
        }
    }

    /// What a caller holds becomes a grant only for that caller in that organization.
    #[test]
    fn a_held_grants_only_its_caller_in_its_organization() {
        let (caller, other) = (operator(), operator());
        let (org, elsewhere) = (OrgId::new(), OrgId::new());
        let held = everything(&caller, org);
        assert!(grant(held.clone(), &caller, org, Permission::UsersRead).is_ok());
        assert!(view(held.clone(), &caller, org).is_ok());
        for (who, at) in [(&caller, elsewhere), (&other, org)] {
            assert!(matches!(
                grant(held.clone(), who, at, Permission::UsersRead),
                Err(Denied::NotVisible)
            ));
            assert!(matches!(
                view(held.clone(), who, at),
                Err(Denied::NotVisible)
            ));
        }
    }
}
