use crate::access::PermissionCode;
use crate::clock::Timestamp;
use crate::ids::{OrgId, RoleId};
use crate::names::DisplayName;
use std::collections::BTreeSet;

/// A role an organization defined for itself: a name and a set of permission codes from
/// the catalog. A new role holds nothing until permissions are given to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomRole {
    pub id: RoleId,
    pub org_id: OrgId,
    /// Unique in the organization, ignoring case.
    pub name: DisplayName,
    pub description: Option<String>,
    pub permissions: BTreeSet<PermissionCode>,
    /// Whether the role's customer data is limited by the member's customer assignments
    /// (like the built-in User role): with assignments, only those customers; with none,
    /// all of them.
    pub customer_scoped: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
