use super::{BuiltinRole, UnknownValue};
use crate::clock::Timestamp;
use crate::ids::{EntityId, GroupId, IdentityId, MembershipId, OrgId, RoleId};
use serde::{Deserialize, Serialize};

/// Where a membership stands. `Removed` is a tombstone: the row stays so history and the
/// audit trail keep a stable id, but it grants nothing and never changes again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Shown as *Invite pending*.
    Invited,
    Active,
    Deactivated,
    Removed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a membership that is {from:?} cannot become {to:?}")]
pub struct TransitionError {
    pub from: MembershipStatus,
    pub to: MembershipStatus,
}

impl MembershipStatus {
    pub const ALL: [MembershipStatus; 4] = [
        MembershipStatus::Invited,
        MembershipStatus::Active,
        MembershipStatus::Deactivated,
        MembershipStatus::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Invited => "invited",
            MembershipStatus::Active => "active",
            MembershipStatus::Deactivated => "deactivated",
            MembershipStatus::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "membership status",
                value: s.to_owned(),
                expected: "invited, active, deactivated, removed",
            })
    }

    /// The membership state machine. Every status change goes through here.
    pub fn transition(self, to: MembershipStatus) -> Result<MembershipStatus, TransitionError> {
        use MembershipStatus::*;
        let allowed = matches!(
            (self, to),
            (Invited, Active)
                | (Invited, Removed)
                | (Active, Deactivated)
                | (Active, Removed)
                | (Deactivated, Active)
                | (Deactivated, Removed)
        );
        if allowed {
            Ok(to)
        } else {
            Err(TransitionError { from: self, to })
        }
    }

    /// Whether the membership lets its identity into the organization.
    pub fn grants_access(self) -> bool {
        self == MembershipStatus::Active
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub id: MembershipId,
    pub org_id: OrgId,
    pub identity_id: IdentityId,
    pub status: MembershipStatus,
    /// Built-in roles held directly. Sorted and without duplicates.
    pub roles: Vec<BuiltinRole>,
    /// Custom roles held directly. Sorted and without duplicates.
    pub custom_roles: Vec<RoleId>,
    /// Groups the member is in. Sorted and without duplicates.
    pub groups: Vec<GroupId>,
    /// The member's entity, if any (seed 004).
    pub entity: Option<EntityId>,
    /// With Admin: the entities whose members this admin manages. Empty means the whole
    /// organization. Sorted and without duplicates.
    pub admin_scope: Vec<EntityId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub removed_at: Option<Timestamp>,
}

impl Membership {
    pub fn new(
        org_id: OrgId,
        identity_id: IdentityId,
        status: MembershipStatus,
        roles: impl IntoIterator<Item = BuiltinRole>,
        now: Timestamp,
    ) -> Self {
        let mut roles: Vec<BuiltinRole> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        Self {
            id: MembershipId::new(),
            org_id,
            identity_id,
            status,
            roles,
            custom_roles: Vec::new(),
            groups: Vec::new(),
            entity: None,
            admin_scope: Vec::new(),
            created_at: now,
            updated_at: now,
            removed_at: None,
        }
    }

    /// Holds the Admin role, scoped or not.
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&BuiltinRole::Admin)
    }

    /// An admin over the whole organization: the kind the last-admin rule keeps.
    pub fn is_unscoped_admin(&self) -> bool {
        self.is_admin() && self.admin_scope.is_empty()
    }

    /// An admin limited to the members of some entities (seed 004).
    pub fn is_scoped_admin(&self) -> bool {
        self.is_admin() && !self.admin_scope.is_empty()
    }

    /// Whether the person may use the organization: active, and holding a role other than
    /// Notifications (a Notifications-only member receives emails and nothing else).
    pub fn admits_person(&self) -> bool {
        self.status.grants_access() && !self.is_notifications_only()
    }

    /// Whether the membership holds only the Notifications role (roles granted through
    /// groups do not change that: such a member still only receives emails).
    pub fn is_notifications_only(&self) -> bool {
        self.custom_roles.is_empty()
            && !self.roles.is_empty()
            && self.roles.iter().all(|r| *r == BuiltinRole::Notifications)
    }

    /// Everything the membership's roles allow, whatever its status.
    pub fn role_permissions(&self) -> std::collections::BTreeSet<super::Permission> {
        self.roles
            .iter()
            .flat_map(|r| r.permissions().iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::MembershipStatus::*;
    use super::*;

    #[test]
    fn the_state_machine() {
        let allowed = [
            (Invited, Active),
            (Invited, Removed),
            (Active, Deactivated),
            (Active, Removed),
            (Deactivated, Active),
            (Deactivated, Removed),
        ];
        for from in MembershipStatus::ALL {
            for to in MembershipStatus::ALL {
                let ok = from.transition(to).is_ok();
                assert_eq!(ok, allowed.contains(&(from, to)), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn removed_is_final_and_only_active_grants_access() {
        for to in MembershipStatus::ALL {
            assert!(Removed.transition(to).is_err());
        }
        assert!(Active.grants_access());
        for s in [Invited, Deactivated, Removed] {
            assert!(!s.grants_access());
        }
    }

    #[test]
    fn roles_are_a_sorted_set() {
        let m = Membership::new(
            OrgId::new(),
            IdentityId::new(),
            Invited,
            [BuiltinRole::User, BuiltinRole::Admin, BuiltinRole::User],
            chrono::Utc::now(),
        );
        assert_eq!(m.roles, vec![BuiltinRole::Admin, BuiltinRole::User]);
        assert!(m.is_admin());
    }

    #[test]
    fn only_active_members_with_a_real_role_are_admitted() {
        let now = chrono::Utc::now();
        let m = |status, roles: &[BuiltinRole]| {
            Membership::new(OrgId::new(), IdentityId::new(), status, roles.to_vec(), now)
        };
        assert!(m(Active, &[BuiltinRole::User]).admits_person());
        assert!(m(Active, &[BuiltinRole::Notifications, BuiltinRole::User]).admits_person());
        assert!(!m(Active, &[BuiltinRole::Notifications]).admits_person());
        assert!(m(Active, &[BuiltinRole::Notifications]).is_notifications_only());
        assert!(!m(Deactivated, &[BuiltinRole::Admin]).admits_person());
        assert!(!m(Invited, &[BuiltinRole::Admin]).admits_person());
    }
}
