use super::BuiltinRole;
use crate::clock::Timestamp;
use crate::ids::{GroupId, OrgId, RoleId};
use crate::names::DisplayName;

/// A named set of members of one organization. The roles granted to a group apply to each
/// of its members, on top of their own.
///
/// A group never grants Admin or Notifications: admin rights are given to a person
/// directly (so the last-admin rule counts them), and Notifications grants nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub org_id: OrgId,
    /// Unique in the organization, ignoring case.
    pub name: DisplayName,
    pub description: Option<String>,
    /// Sorted and without duplicates.
    pub roles: Vec<BuiltinRole>,
    /// Sorted and without duplicates.
    pub custom_roles: Vec<RoleId>,
    /// Members in the group that are not removed, as read; ignored when writing.
    pub members: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Group {
    /// Whether a group may grant this built-in role.
    pub fn may_hold(role: BuiltinRole) -> bool {
        matches!(role, BuiltinRole::User | BuiltinRole::Marketing)
    }
}
