use super::UnknownValue;
use serde::{Deserialize, Serialize};

/// The four roles every organization has (seed 002).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinRole {
    /// Everything, including managing other admins.
    Admin,
    /// Customer data, limited by customer assignments.
    User,
    /// Partner kit only, no customer data.
    Marketing,
    /// Receives emails; can never sign in.
    Notifications,
}

impl BuiltinRole {
    pub const ALL: [BuiltinRole; 4] = [
        BuiltinRole::Admin,
        BuiltinRole::User,
        BuiltinRole::Marketing,
        BuiltinRole::Notifications,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BuiltinRole::Admin => "admin",
            BuiltinRole::User => "user",
            BuiltinRole::Marketing => "marketing",
            BuiltinRole::Notifications => "notifications",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownValue {
                what: "role",
                value: s.to_owned(),
                expected: "admin, user, marketing, notifications",
            })
    }

    /// What the role allows. Deny by default: a permission not listed is refused.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            BuiltinRole::Admin => Permission::ALL,
            BuiltinRole::User => &[CustomersRead, UsersRead],
            BuiltinRole::Marketing => &[PartnerKitRead],
            BuiltinRole::Notifications => &[],
        }
    }
}

/// Roster's own permission codes. Host products add theirs in `roster.toml`
/// ([`crate::access::Catalog`]); a custom role may hold both kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    #[serde(rename = "users.invite")]
    UsersInvite,
    #[serde(rename = "users.manage")]
    UsersManage,
    #[serde(rename = "users.read")]
    UsersRead,
    #[serde(rename = "roles.manage")]
    RolesManage,
    #[serde(rename = "customers.read")]
    CustomersRead,
    #[serde(rename = "customers.manage")]
    CustomersManage,
    #[serde(rename = "partner_kit.read")]
    PartnerKitRead,
    #[serde(rename = "org.settings")]
    OrgSettings,
    #[serde(rename = "audit.read")]
    AuditRead,
    #[serde(rename = "tokens.manage")]
    TokensManage,
    #[serde(rename = "tasks.write")]
    TasksWrite,
    /// Host products asking `POST .../check` whether a member may do something.
    #[serde(rename = "access.check")]
    AccessCheck,
}

impl Permission {
    pub const ALL: &'static [Permission] = &[
        Permission::UsersInvite,
        Permission::UsersManage,
        Permission::UsersRead,
        Permission::RolesManage,
        Permission::CustomersRead,
        Permission::CustomersManage,
        Permission::PartnerKitRead,
        Permission::OrgSettings,
        Permission::AuditRead,
        Permission::TokensManage,
        Permission::TasksWrite,
        Permission::AccessCheck,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Permission::UsersInvite => "users.invite",
            Permission::UsersManage => "users.manage",
            Permission::UsersRead => "users.read",
            Permission::RolesManage => "roles.manage",
            Permission::CustomersRead => "customers.read",
            Permission::CustomersManage => "customers.manage",
            Permission::PartnerKitRead => "partner_kit.read",
            Permission::OrgSettings => "org.settings",
            Permission::AuditRead => "audit.read",
            Permission::TokensManage => "tokens.manage",
            Permission::TasksWrite => "tasks.write",
            Permission::AccessCheck => "access.check",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownValue> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.code() == s)
            .ok_or_else(|| UnknownValue {
                what: "permission",
                value: s.to_owned(),
                expected: "a code from GET /api/v1/permissions",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::parse(r.as_str()), Ok(r));
        }
        assert!(BuiltinRole::parse("root").is_err());
    }

    #[test]
    fn only_admin_manages_and_notifications_has_nothing() {
        assert!(BuiltinRole::Admin
            .permissions()
            .contains(&Permission::OrgSettings));
        for r in [
            BuiltinRole::User,
            BuiltinRole::Marketing,
            BuiltinRole::Notifications,
        ] {
            assert!(!r.permissions().contains(&Permission::OrgSettings), "{r:?}");
            assert!(!r.permissions().contains(&Permission::UsersInvite), "{r:?}");
        }
        assert!(BuiltinRole::Notifications.permissions().is_empty());
        assert!(!BuiltinRole::Marketing
            .permissions()
            .contains(&Permission::CustomersRead));
    }

    #[test]
    fn permission_codes_match_serde() {
        assert!(Permission::parse("root").is_err());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.code()), Ok(*p));
            assert_eq!(
                serde_json::to_string(p).unwrap(),
                format!("\"{}\"", p.code())
            );
        }
    }
}
