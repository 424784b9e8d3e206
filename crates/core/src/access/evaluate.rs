//! Permission evaluation: one member's roles — their own and their groups' — prepared into
//! a set that answers "may they do P (on customer C)?" in memory, with the reasons when
//! asked.
//!
//! Deny by default: a permission is held only when some role of an active member grants
//! it; the member's permissions are the union of their roles' and their groups' roles'.
//! Customer data is limited per role: Admin reaches every customer, User and
//! customer-scoped custom roles reach the member's assigned customers (**all of them when
//! none is assigned**), Marketing reaches none.

use super::catalog::{Catalog, PermissionCode, Position};
use crate::ids::{CustomerId, GroupId, RoleId};
use crate::model::{BuiltinRole, CustomRole, Group, Membership, MembershipStatus, Permission};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Roster's own permissions a scoped admin's Admin role keeps: managing and seeing the
/// members of their entities. The organization-wide ones (settings, roles, tokens,
/// customers' records, the audit log, tasks, access checks about anyone) it does not carry;
/// host products' codes it keeps.
pub const WITHIN_ADMIN_SCOPE: [Permission; 5] = [
    Permission::UsersInvite,
    Permission::UsersManage,
    Permission::UsersRead,
    Permission::CustomersRead,
    Permission::PartnerKitRead,
];

/// Which role a grant comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoleRef {
    Builtin { role: BuiltinRole },
    Custom { id: RoleId, name: String },
}

impl RoleRef {
    fn describe(&self) -> String {
        match self {
            RoleRef::Builtin { role } => format!("built-in role {}", role.as_str()),
            RoleRef::Custom { name, .. } => format!("custom role '{name}'"),
        }
    }
}

/// How the member holds a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Via {
    Member,
    Group { id: GroupId, name: String },
}

/// Which customers a role's permissions reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerReach {
    All,
    /// The member's assigned customers; all of them when none is assigned.
    Assigned,
    None,
}

#[derive(Clone, Debug)]
struct Source {
    role: RoleRef,
    via: Via,
    reach: CustomerReach,
    /// Whether the role grants any code at all (an empty role reaches nothing).
    grants_any: bool,
}

/// Why a check came out as it did. Stable codes: host products may branch on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Granted,
    NotAMember,
    /// Invited, deactivated or removed.
    NotActive,
    NotificationsOnly,
    PermissionNotHeld,
    /// The customer is not among the member's assigned customers.
    CustomerNotAssigned,
    /// The roles that grant the permission reach no customer data (Marketing).
    NoCustomerAccess,
    /// No such customer in the organization.
    UnknownCustomer,
}

impl Reason {
    pub fn allowed(self) -> bool {
        self == Reason::Granted
    }
}

/// One step of an explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `membership`, `permission` or `customer`.
    pub check: &'static str,
    pub passed: bool,
    pub detail: String,
    /// The roles that grant the permission, on the `permission` step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantRef>,
}

/// A role that grants the permission asked about, and how the member holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrantRef {
    pub role: RoleRef,
    pub via: Via,
    pub customers: CustomerReach,
}

/// The customer a check is about, as the store knows it.
#[derive(Clone, Copy, Debug)]
pub struct CustomerArg {
    pub id: CustomerId,
    /// Whether the customer exists in the organization.
    pub exists: bool,
    /// Whether it is assigned to the member.
    pub assigned: bool,
    /// How many customers are assigned to the member.
    pub assigned_total: u64,
}

/// One member's prepared permissions.
///
/// Codes are kept as their places in the catalog, so preparing a member (which every
/// request a member or a token makes does, and a check twice) copies no code and hashes
/// none: a check was spending a twentieth of its time building a map of copied codes to
/// ask it about one.
#[derive(Clone, Debug)]
pub struct AccessProfile {
    catalog: Arc<Catalog>,
    status: Option<MembershipStatus>,
    notifications_only: bool,
    sources: Vec<Source>,
    /// Each code granted, as its place in the catalog, with the index in `sources` of a
    /// role granting it; sorted, so a code's grants are adjacent and found by a binary
    /// search.
    grants: Vec<(Position, u16)>,
}

impl AccessProfile {
    /// Someone with no membership in the organization: holds nothing.
    pub fn not_a_member(catalog: &Arc<Catalog>) -> Self {
        Self {
            catalog: Arc::clone(catalog),
            status: None,
            notifications_only: false,
            sources: Vec::new(),
            grants: Vec::new(),
        }
    }

    /// Prepares a membership's permissions. `custom_roles` and `groups` are the
    /// organization's definitions (or at least those the membership refers to); a
    /// reference to one that is gone grants nothing, and so does a code a custom role
    /// holds that the catalog no longer has (a host product took it out of `roster.toml`).
    pub fn prepare(
        catalog: &Arc<Catalog>,
        membership: &Membership,
        custom_roles: &[CustomRole],
        groups: &[Group],
    ) -> Self {
        let mut profile = Self {
            catalog: Arc::clone(catalog),
            status: Some(membership.status),
            notifications_only: membership.is_notifications_only(),
            sources: Vec::new(),
            grants: Vec::with_capacity(catalog.entries().len()),
        };
        let scoped_admin = membership.is_scoped_admin();
        let custom = |id: &RoleId| custom_roles.iter().find(|r| r.id == *id);
        let positions = |codes: &BTreeSet<PermissionCode>| -> Vec<Position> {
            codes
                .iter()
                .filter_map(|c| catalog.position(c.as_str()))
                .collect()
        };
        for role in &membership.roles {
            let codes = catalog.builtin_positions(*role).iter().filter(|at| {
                !(scoped_admin
                    && *role == BuiltinRole::Admin
                    && catalog
                        .roster_at(**at)
                        .is_some_and(|p| !WITHIN_ADMIN_SCOPE.contains(&p)))
            });
            profile.add(builtin_source(*role, Via::Member), codes.copied());
        }
        for id in &membership.custom_roles {
            if let Some(r) = custom(id) {
                profile.add(custom_source(r, Via::Member), positions(&r.permissions));
            }
        }
        for group in groups.iter().filter(|g| membership.groups.contains(&g.id)) {
            let via = Via::Group {
                id: group.id,
                name: group.name.to_string(),
            };
            for role in group.roles.iter().filter(|r| Group::may_hold(**r)) {
                profile.add(
                    builtin_source(*role, via.clone()),
                    catalog.builtin_positions(*role).iter().copied(),
                );
            }
            for id in &group.custom_roles {
                if let Some(r) = custom(id) {
                    profile.add(custom_source(r, via.clone()), positions(&r.permissions));
                }
            }
        }
        profile.grants.sort_unstable();
        profile
    }

    fn add(&mut self, source: Source, codes: impl IntoIterator<Item = Position>) {
        let index = u16::try_from(self.sources.len()).unwrap_or(u16::MAX);
        let mut source = source;
        for code in codes {
            source.grants_any = true;
            self.grants.push((code, index));
        }
        self.sources.push(source);
    }

    /// The roles that grant `code`, whatever the membership's status.
    fn sources_of(&self, code: &str) -> impl Iterator<Item = &Source> + Clone {
        let run = match self.catalog.position(code) {
            Some(at) => {
                let start = self.grants.partition_point(|g| g.0 < at);
                let end = start + self.grants[start..].partition_point(|g| g.0 == at);
                &self.grants[start..end]
            }
            None => &[],
        };
        run.iter()
            .filter_map(|(_, i)| self.sources.get(usize::from(*i)))
    }

    /// Every code granted, whatever the membership's status, each once.
    fn granted(&self) -> impl Iterator<Item = &PermissionCode> {
        self.grants
            .chunk_by(|a, b| a.0 == b.0)
            .filter_map(|run| self.catalog.code_at(run[0].0))
    }

    /// Whether the membership lets the person act at all.
    fn admits(&self) -> Result<(), Reason> {
        match self.status {
            None | Some(MembershipStatus::Removed) => Err(Reason::NotAMember),
            Some(MembershipStatus::Active) if self.notifications_only => {
                Err(Reason::NotificationsOnly)
            }
            Some(MembershipStatus::Active) => Ok(()),
            Some(_) => Err(Reason::NotActive),
        }
    }

    /// Every code the member holds right now (none unless active and not
    /// notifications-only).
    pub fn codes(&self) -> impl Iterator<Item = &PermissionCode> {
        let admitted = self.admits().is_ok();
        self.granted().filter(move |_| admitted)
    }

    /// Whether the member holds `code` right now.
    pub fn holds(&self, code: &str) -> bool {
        self.admits().is_ok() && self.sources_of(code).next().is_some()
    }

    /// Every code the member's roles grant, whatever the membership's status: what
    /// managing them (activating them again, say) puts in play.
    pub fn granted_codes(&self) -> impl Iterator<Item = &PermissionCode> {
        self.granted()
    }

    /// The roles that grant `code`, and how the member holds each, whatever the
    /// membership's status (what the member page's *Permissions* tab lists).
    pub fn grants_of(&self, code: &str) -> Vec<GrantRef> {
        self.sources_of(code)
            .map(|s| GrantRef {
                role: s.role.clone(),
                via: s.via.clone(),
                customers: s.reach,
            })
            .collect()
    }

    /// How far the member's roles reach into customer data at the widest, whatever the
    /// membership's status: `All` when any role granting something reaches every customer.
    pub fn widest_reach(&self) -> CustomerReach {
        let mut reach = CustomerReach::None;
        for s in self.sources.iter().filter(|s| s.grants_any) {
            match s.reach {
                CustomerReach::All => return CustomerReach::All,
                CustomerReach::Assigned => reach = CustomerReach::Assigned,
                CustomerReach::None => {}
            }
        }
        reach
    }

    /// Whether the member's permissions apply now (active, not notifications-only).
    pub fn in_force(&self) -> bool {
        self.admits().is_ok()
    }

    /// Roster's own permissions the member holds right now.
    pub fn roster_permissions(&self) -> BTreeSet<Permission> {
        if self.admits().is_err() {
            return BTreeSet::new();
        }
        self.grants
            .iter()
            .filter_map(|g| self.catalog.roster_at(g.0))
            .collect()
    }

    /// How far the member's grants of `code` reach into customer data: the widest of the
    /// roles that grant it (`None` when none does, or the member is not admitted).
    pub fn customer_reach(&self, code: &str) -> CustomerReach {
        if self.admits().is_err() {
            return CustomerReach::None;
        }
        let mut reach = CustomerReach::None;
        for s in self.sources_of(code) {
            match s.reach {
                CustomerReach::All => return CustomerReach::All,
                CustomerReach::Assigned => reach = CustomerReach::Assigned,
                CustomerReach::None => {}
            }
        }
        reach
    }

    /// May the member use `code` (on `customer`)? In memory, no allocation.
    pub fn check(&self, code: &str, customer: Option<&CustomerArg>) -> Reason {
        self.decide(code, customer, None)
    }

    /// The same decision with each step that led to it.
    pub fn explain(&self, code: &str, customer: Option<&CustomerArg>) -> (Reason, Vec<Step>) {
        let mut steps = Vec::new();
        let reason = self.decide(code, customer, Some(&mut steps));
        (reason, steps)
    }

    fn decide(
        &self,
        code: &str,
        customer: Option<&CustomerArg>,
        mut steps: Option<&mut Vec<Step>>,
    ) -> Reason {
        let explaining = steps.is_some();
        // Details are formatted only when explaining: a plain check allocates nothing.
        let mut step = |check, passed, detail: std::fmt::Arguments<'_>, grants: Vec<GrantRef>| {
            if let Some(steps) = steps.as_deref_mut() {
                steps.push(Step {
                    check,
                    passed,
                    detail: detail.to_string(),
                    grants,
                });
            }
        };
        if let Err(reason) = self.admits() {
            match (reason, self.status) {
                (Reason::NotificationsOnly, _) => step(
                    "membership",
                    false,
                    format_args!("the member holds only the Notifications role: they receive emails and are always denied"),
                    Vec::new(),
                ),
                (_, Some(s)) if s != MembershipStatus::Removed => step(
                    "membership",
                    false,
                    format_args!("the membership is {}: only active members are allowed anything", s.as_str()),
                    Vec::new(),
                ),
                _ => step(
                    "membership",
                    false,
                    format_args!("the identity is not a member of this organization"),
                    Vec::new(),
                ),
            }
            return reason;
        }
        if explaining {
            step(
                "membership",
                true,
                format_args!("the member is active"),
                Vec::new(),
            );
        }
        let sources = self.sources_of(code);
        if sources.clone().next().is_none() {
            step(
                "permission",
                false,
                format_args!("no role of the member or of their groups grants {code}"),
                Vec::new(),
            );
            return Reason::PermissionNotHeld;
        }
        if explaining {
            let grants: Vec<GrantRef> = sources
                .clone()
                .map(|s| GrantRef {
                    role: s.role.clone(),
                    via: s.via.clone(),
                    customers: s.reach,
                })
                .collect();
            let names: Vec<String> = sources
                .clone()
                .map(|s| match &s.via {
                    Via::Member => s.role.describe(),
                    Via::Group { name, .. } => {
                        format!("{} through group '{name}'", s.role.describe())
                    }
                })
                .collect();
            step(
                "permission",
                true,
                format_args!("{code} is granted by {}", names.join(", ")),
                grants,
            );
        }
        let Some(customer) = customer else {
            return Reason::Granted;
        };
        if !customer.exists {
            step(
                "customer",
                false,
                format_args!("there is no customer {} in this organization", customer.id),
                Vec::new(),
            );
            return Reason::UnknownCustomer;
        }
        let mut reaches_some = false;
        for s in sources {
            match s.reach {
                CustomerReach::All => {
                    step(
                        "customer",
                        true,
                        format_args!("{} reaches every customer", s.role.describe()),
                        Vec::new(),
                    );
                    return Reason::Granted;
                }
                CustomerReach::Assigned => {
                    reaches_some = true;
                    if customer.assigned_total == 0 {
                        step(
                            "customer",
                            true,
                            format_args!(
                                "{} is limited to assigned customers, and none is assigned: all customers",
                                s.role.describe()
                            ),
                            Vec::new(),
                        );
                        return Reason::Granted;
                    }
                    if customer.assigned {
                        step(
                            "customer",
                            true,
                            format_args!(
                                "customer {} is assigned to the member ({} is limited to assigned customers)",
                                customer.id,
                                s.role.describe()
                            ),
                            Vec::new(),
                        );
                        return Reason::Granted;
                    }
                }
                CustomerReach::None => {}
            }
        }
        if reaches_some {
            step(
                "customer",
                false,
                format_args!(
                    "customer {} is not among the {} customer(s) assigned to the member",
                    customer.id, customer.assigned_total
                ),
                Vec::new(),
            );
            Reason::CustomerNotAssigned
        } else {
            step(
                "customer",
                false,
                format_args!("the roles that grant this permission reach no customer data"),
                Vec::new(),
            );
            Reason::NoCustomerAccess
        }
    }
}

fn builtin_source(role: BuiltinRole, via: Via) -> Source {
    Source {
        role: RoleRef::Builtin { role },
        via,
        reach: match role {
            BuiltinRole::Admin => CustomerReach::All,
            BuiltinRole::User => CustomerReach::Assigned,
            BuiltinRole::Marketing | BuiltinRole::Notifications => CustomerReach::None,
        },
        grants_any: false,
    }
}

fn custom_source(role: &CustomRole, via: Via) -> Source {
    Source {
        role: RoleRef::Custom {
            id: role.id,
            name: role.name.to_string(),
        },
        via,
        reach: if role.customer_scoped {
            CustomerReach::Assigned
        } else {
            CustomerReach::All
        },
        grants_any: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{HostPermission, MemberScope};
    use crate::clock::Timestamp;
    use crate::ids::{EntityId, IdentityId, OrgId};
    use crate::names::DisplayName;
    use proptest::prelude::*;

    fn now() -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn catalog() -> Arc<Catalog> {
        Arc::new(
            Catalog::with_host(&[
                HostPermission {
                    code: "catalog.edit".into(),
                    label: "Edit the catalog".into(),
                    area: "Catalog".into(),
                    roles: vec!["user".into()],
                },
                HostPermission {
                    code: "import_export.run".into(),
                    label: "Run imports".into(),
                    area: "Catalog".into(),
                    roles: vec![],
                },
            ])
            .unwrap(),
        )
    }

    fn member(org: OrgId, roles: &[BuiltinRole]) -> Membership {
        Membership::new(
            org,
            IdentityId::new(),
            MembershipStatus::Active,
            roles.iter().copied(),
            now(),
        )
    }

    fn role(org: OrgId, name: &str, codes: &[&str], scoped: bool) -> CustomRole {
        CustomRole {
            id: RoleId::new(),
            org_id: org,
            name: DisplayName::parse(name).unwrap(),
            description: None,
            permissions: codes
                .iter()
                .map(|c| PermissionCode::parse(c).unwrap())
                .collect(),
            customer_scoped: scoped,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn group(org: OrgId, roles: &[BuiltinRole], custom: &[RoleId]) -> Group {
        Group {
            id: GroupId::new(),
            org_id: org,
            name: DisplayName::parse("Sales").unwrap(),
            description: None,
            roles: roles.to_vec(),
            custom_roles: custom.to_vec(),
            members: 0,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn customer(id: CustomerId, assigned: &BTreeSet<CustomerId>) -> CustomerArg {
        CustomerArg {
            id,
            exists: true,
            assigned: assigned.contains(&id),
            assigned_total: assigned.len() as u64,
        }
    }

    #[test]
    fn built_in_roles_hold_what_the_catalog_says() {
        let c = catalog();
        let org = OrgId::new();
        let user = AccessProfile::prepare(&c, &member(org, &[BuiltinRole::User]), &[], &[]);
        assert_eq!(user.check("catalog.edit", None), Reason::Granted);
        assert_eq!(user.check("customers.read", None), Reason::Granted);
        assert_eq!(
            user.check("import_export.run", None),
            Reason::PermissionNotHeld
        );
        assert_eq!(user.check("users.invite", None), Reason::PermissionNotHeld);
        let admin = AccessProfile::prepare(&c, &member(org, &[BuiltinRole::Admin]), &[], &[]);
        assert_eq!(admin.check("import_export.run", None), Reason::Granted);
        let marketing =
            AccessProfile::prepare(&c, &member(org, &[BuiltinRole::Marketing]), &[], &[]);
        assert_eq!(marketing.check("partner_kit.read", None), Reason::Granted);
        assert_eq!(
            marketing.check("customers.read", None),
            Reason::PermissionNotHeld
        );
    }

    #[test]
    fn customers_none_assigned_means_all_and_marketing_reaches_none() {
        let c = catalog();
        let org = OrgId::new();
        let (c1, c2) = (CustomerId::new(), CustomerId::new());
        let none = BTreeSet::new();
        let only_c1 = BTreeSet::from([c1]);
        let user = AccessProfile::prepare(&c, &member(org, &[BuiltinRole::User]), &[], &[]);
        assert_eq!(
            user.check("customers.read", Some(&customer(c2, &none))),
            Reason::Granted
        );
        assert_eq!(
            user.check("customers.read", Some(&customer(c1, &only_c1))),
            Reason::Granted
        );
        assert_eq!(
            user.check("customers.read", Some(&customer(c2, &only_c1))),
            Reason::CustomerNotAssigned
        );
        let admin = AccessProfile::prepare(&c, &member(org, &[BuiltinRole::Admin]), &[], &[]);
        assert_eq!(
            admin.check("customers.read", Some(&customer(c2, &only_c1))),
            Reason::Granted
        );
        // Marketing holds the partner kit, but never on a customer.
        let marketing =
            AccessProfile::prepare(&c, &member(org, &[BuiltinRole::Marketing]), &[], &[]);
        assert_eq!(
            marketing.check("partner_kit.read", Some(&customer(c1, &none))),
            Reason::NoCustomerAccess
        );
        let gone = CustomerArg {
            id: c1,
            exists: false,
            assigned: false,
            assigned_total: 0,
        };
        assert_eq!(
            admin.check("customers.read", Some(&gone)),
            Reason::UnknownCustomer
        );
    }

    #[test]
    fn a_custom_role_reaches_all_customers_unless_scoped() {
        let c = catalog();
        let org = OrgId::new();
        let wide = role(org, "Auditor", &["customers.read"], false);
        let narrow = role(org, "Agent", &["customers.read"], true);
        let (c1, c2) = (CustomerId::new(), CustomerId::new());
        let only_c1 = BTreeSet::from([c1]);
        let mut m = member(org, &[]);
        m.custom_roles = vec![narrow.id];
        let p = AccessProfile::prepare(&c, &m, &[wide.clone(), narrow.clone()], &[]);
        assert_eq!(
            p.check("customers.read", Some(&customer(c2, &only_c1))),
            Reason::CustomerNotAssigned
        );
        m.custom_roles = vec![narrow.id, wide.id];
        let p = AccessProfile::prepare(&c, &m, &[wide, narrow], &[]);
        assert_eq!(
            p.check("customers.read", Some(&customer(c2, &only_c1))),
            Reason::Granted
        );
    }

    #[test]
    fn a_code_the_catalog_no_longer_has_grants_nothing() {
        let c = catalog();
        let org = OrgId::new();
        // Saved while the host product registered `gone.code`, since taken out.
        let stale = role(org, "Stale", &["gone.code"], false);
        let mut m = member(org, &[]);
        m.custom_roles = vec![stale.id];
        let p = AccessProfile::prepare(&c, &m, std::slice::from_ref(&stale), &[]);
        assert_eq!(p.check("gone.code", None), Reason::PermissionNotHeld);
        assert!(!p.holds("gone.code"));
        assert_eq!(p.granted_codes().count(), 0);
        assert_eq!(p.widest_reach(), CustomerReach::None);
        let kept = role(org, "Kept", &["gone.code", "catalog.edit"], false);
        m.custom_roles = vec![kept.id];
        let p = AccessProfile::prepare(&c, &m, std::slice::from_ref(&kept), &[]);
        assert!(p.holds("catalog.edit"));
        let codes: Vec<&str> = p.codes().map(PermissionCode::as_str).collect();
        assert_eq!(codes, ["catalog.edit"]);
    }

    #[test]
    fn groups_add_their_roles_but_never_admin() {
        let c = catalog();
        let org = OrgId::new();
        let importer = role(org, "Importer", &["import_export.run"], false);
        let g = group(
            org,
            &[BuiltinRole::Marketing, BuiltinRole::Admin],
            &[importer.id],
        );
        let mut m = member(org, &[BuiltinRole::User]);
        let without = AccessProfile::prepare(
            &c,
            &m,
            std::slice::from_ref(&importer),
            std::slice::from_ref(&g),
        );
        assert_eq!(
            without.check("import_export.run", None),
            Reason::PermissionNotHeld
        );
        m.groups = vec![g.id];
        let with = AccessProfile::prepare(&c, &m, &[importer], &[g]);
        assert_eq!(with.check("import_export.run", None), Reason::Granted);
        assert_eq!(with.check("partner_kit.read", None), Reason::Granted);
        // A group row naming Admin (never written by Roster) still grants nothing of it.
        assert_eq!(with.check("org.settings", None), Reason::PermissionNotHeld);
    }

    #[test]
    fn a_scoped_admin_does_not_hold_organization_wide_permissions() {
        let c = catalog();
        let org = OrgId::new();
        let mut m = member(org, &[BuiltinRole::Admin]);
        m.admin_scope = vec![EntityId::new()];
        let p = AccessProfile::prepare(&c, &m, &[], &[]);
        assert_eq!(p.check("users.manage", None), Reason::Granted);
        for p_ in Permission::ALL {
            let expected = if WITHIN_ADMIN_SCOPE.contains(p_) {
                Reason::Granted
            } else {
                Reason::PermissionNotHeld
            };
            assert_eq!(p.check(p_.code(), None), expected, "{p_:?}");
        }
        assert_eq!(p.check("catalog.edit", None), Reason::Granted);
        assert!(!p.roster_permissions().contains(&Permission::OrgSettings));
    }

    #[test]
    fn explain_names_the_deciding_role_and_group() {
        let c = catalog();
        let org = OrgId::new();
        let g = group(org, &[BuiltinRole::User], &[]);
        let mut m = member(org, &[BuiltinRole::Marketing]);
        m.groups = vec![g.id];
        let p = AccessProfile::prepare(&c, &m, &[], std::slice::from_ref(&g));
        let c1 = CustomerId::new();
        let assigned = BTreeSet::from([c1]);
        let (reason, steps) = p.explain("customers.read", Some(&customer(c1, &assigned)));
        assert_eq!(reason, Reason::Granted);
        assert_eq!(steps.len(), 3, "{steps:?}");
        assert!(steps.iter().all(|s| s.passed));
        assert!(
            steps[1].detail.contains("through group 'Sales'"),
            "{steps:?}"
        );
        assert_eq!(
            steps[1].grants[0].via,
            Via::Group {
                id: g.id,
                name: "Sales".into()
            }
        );
        assert!(steps[2].detail.contains("is assigned"), "{steps:?}");

        let (reason, steps) = p.explain("import_export.run", None);
        assert_eq!(reason, Reason::PermissionNotHeld);
        assert_eq!(steps.len(), 2);
        assert!(!steps[1].passed);
        assert!(steps[1].detail.contains("import_export.run"));
    }

    fn any_status() -> impl Strategy<Value = MembershipStatus> {
        prop_oneof![
            Just(MembershipStatus::Invited),
            Just(MembershipStatus::Active),
            Just(MembershipStatus::Deactivated),
            Just(MembershipStatus::Removed),
        ]
    }

    fn any_roles() -> impl Strategy<Value = Vec<BuiltinRole>> {
        proptest::sample::subsequence(BuiltinRole::ALL.to_vec(), 0..=4)
    }

    fn all_codes(c: &Catalog) -> Vec<String> {
        c.entries().iter().map(|e| e.code.to_string()).collect()
    }

    proptest! {
        /// Allowed exactly when some role of the member or of one of their groups grants
        /// the code, and only for an active member who is not notifications-only.
        #[test]
        fn union_of_roles_and_groups_and_deny_by_default(
            status in any_status(),
            direct in any_roles(),
            group_roles in proptest::sample::subsequence(vec![BuiltinRole::User, BuiltinRole::Marketing], 0..=2),
            custom_codes in proptest::sample::subsequence(all_codes(&catalog()), 0..=6),
            in_group in any::<bool>(),
            holds_custom in any::<bool>(),
        ) {
            let c = catalog();
            let org = OrgId::new();
            let custom = role(org, "Custom", &custom_codes.iter().map(String::as_str).collect::<Vec<_>>(), false);
            let g = group(org, &group_roles, &[custom.id]);
            let mut m = member(org, &direct);
            m.status = status;
            if holds_custom { m.custom_roles = vec![custom.id]; }
            if in_group { m.groups = vec![g.id]; }
            let p = AccessProfile::prepare(&c, &m, std::slice::from_ref(&custom), std::slice::from_ref(&g));
            for code in all_codes(&c) {
                let mut expected: BTreeSet<&str> = BTreeSet::new();
                for r in &m.roles { expected.extend(c.builtin(*r).iter().map(PermissionCode::as_str)); }
                if holds_custom || in_group { expected.extend(custom.permissions.iter().map(PermissionCode::as_str)); }
                if in_group { for r in &g.roles { expected.extend(c.builtin(*r).iter().map(PermissionCode::as_str)); } }
                let admitted = status == MembershipStatus::Active && !m.is_notifications_only();
                let allowed = p.check(&code, None).allowed();
                prop_assert_eq!(allowed, admitted && expected.contains(code.as_str()), "{}", code);
                if !admitted { prop_assert!(!allowed); }
            }
            prop_assert!(!p.check("not.in.catalog", None).allowed());
        }

        /// With a customer: a User sees exactly the assigned customers, all when none is.
        #[test]
        fn none_assigned_is_all_otherwise_exactly_the_assigned(
            n_assigned in 0usize..4,
            pick in 0usize..6,
        ) {
            let c = catalog();
            let org = OrgId::new();
            let customers: Vec<CustomerId> = (0..6).map(|_| CustomerId::new()).collect();
            let assigned: BTreeSet<CustomerId> = customers.iter().take(n_assigned).copied().collect();
            let p = AccessProfile::prepare(&c, &member(org, &[BuiltinRole::User]), &[], &[]);
            let asked = customers[pick];
            let allowed = p.check("customers.read", Some(&customer(asked, &assigned))).allowed();
            prop_assert_eq!(allowed, assigned.is_empty() || assigned.contains(&asked));
        }

        /// A scoped admin reaches a member exactly when the member's entity is in scope, and
        /// covers a set only when it is a non-empty subset of the scope.
        #[test]
        fn scope_containment(scope_n in 1usize..4, entity_pick in proptest::option::of(0usize..6), covered in proptest::sample::subsequence((0usize..6).collect::<Vec<_>>(), 0..=6)) {
            let org = OrgId::new();
            let entities: Vec<EntityId> = (0..6).map(|_| EntityId::new()).collect();
            let mut admin = member(org, &[BuiltinRole::Admin]);
            admin.admin_scope = entities[..scope_n].to_vec();
            let scope = MemberScope::of(&admin);
            let mut target = member(org, &[BuiltinRole::User]);
            target.entity = entity_pick.map(|i| entities[i]);
            prop_assert_eq!(scope.admits(&target), entity_pick.is_some_and(|i| i < scope_n));
            let asked: Vec<EntityId> = covered.iter().map(|i| entities[*i]).collect();
            prop_assert_eq!(scope.covers(&asked), !asked.is_empty() && covered.iter().all(|i| *i < scope_n));
            prop_assert!(MemberScope::All.admits(&target));
            admin.admin_scope.clear();
            prop_assert!(MemberScope::of(&admin).is_all());
        }
    }
}
