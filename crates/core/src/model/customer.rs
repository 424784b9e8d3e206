use crate::clock::Timestamp;
use crate::ids::{CustomerId, EntityId, OrgId};
use crate::names::DisplayName;

/// A customer record of the organization (seed 002: the partnership's customers). Members
/// with a customer-scoped role see only the customers assigned to them, or all of them when
/// none is assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    pub org_id: OrgId,
    pub name: DisplayName,
    /// The host product's own id for the customer; unique in the organization.
    pub external_id: Option<String>,
    /// Members (not removed) this customer is assigned to, as read; ignored when writing.
    pub assigned: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An organizational unit (subsidiary, region; seed 004). Each membership has at most one;
/// a scoped admin manages only members of the entities in their admin scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub id: EntityId,
    pub org_id: OrgId,
    /// Unique in the organization, ignoring case.
    pub name: DisplayName,
    /// Members (not removed) in the entity, as read; ignored when writing.
    pub members: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
