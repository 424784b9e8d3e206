//! Typed ids. Every id is a UUIDv7 so rows sort by creation time and an id of one kind can
//! never be passed where another is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// One person across the whole deployment.
    IdentityId
);
id_type!(
    /// A tenant.
    OrgId
);
id_type!(
    /// An identity inside one organization.
    MembershipId
);
id_type!(InvitationId);
id_type!(SessionId);
id_type!(ApiTokenId);
id_type!(AuditEventId);
id_type!(OutboxId);
id_type!(
    /// A single-use link for a password reset or an email change.
    IdentityTokenId
);
id_type!(SignInAttemptId);
id_type!(
    /// A custom role of one organization.
    RoleId
);
id_type!(
    /// A named set of members of one organization.
    GroupId
);
id_type!(
    /// A customer record of one organization.
    CustomerId
);
id_type!(
    /// An organizational unit (subsidiary, region) of one organization.
    EntityId
);
id_type!(
    /// An outstanding work item a host product posted for an organization.
    TaskId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_time_ordered() {
        let a = OrgId::new();
        let b = OrgId::new();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert!(a < b, "a later id sorts after an earlier one");
    }

    #[test]
    fn ids_round_trip_through_strings() {
        let id = MembershipId::new();
        assert_eq!(id.to_string().parse::<MembershipId>().unwrap(), id);
        assert!("not-a-uuid".parse::<MembershipId>().is_err());
    }
}
