//! The records Roster keeps. Plain data with the rules that belong to each record; use cases
//! combine them and the store persists them.

mod audit;
mod credentials;
mod custom_role;
mod customer;
mod group;
mod identity;
mod invitation;
mod membership;
mod organization;
mod outbox;
mod roles;
mod sign_in;
mod sso;
mod tasks;
mod tokens;

pub use audit::{Actor, AuditEvent, AuditQuery, AuditTarget};
pub use credentials::{IdentityToken, TokenPurpose};
pub use custom_role::CustomRole;
pub use customer::{Customer, Entity};
pub use group::Group;
pub use identity::Identity;
pub use invitation::{Invitation, InvitationState};
pub use membership::{Membership, MembershipStatus, TransitionError};
pub use organization::{OrgKind, OrgSettings, Organization, SettingsError};
pub use outbox::{DigestLine, Notice, OutboxMessage, OutboxStatus};
pub use roles::{BuiltinRole, Permission};
pub use sign_in::{SignInAttempt, SignInCode, ThrottleState};
pub use sso::{email_domain, valid_domain, SsoConnection, SsoLogin};
pub use tasks::{
    valid_category_key, DigestCustomers, DigestDue, DigestFrequency, DigestRecord, DigestTask,
    NotificationPrefs, Task, TaskCategory, TaskFilter, TaskStatus,
};
pub use tokens::{ApiToken, ApiTokenKind, Session};

/// Parse errors for the small enums stored as text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'; expected one of: {expected}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// One page of a list plus where to continue.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Id of the last item when more items follow.
    pub next_after: Option<uuid::Uuid>,
    /// Count of all matching items, not only this page; with `total_capped`, a lower bound.
    pub total: u64,
    /// The list stopped counting at `total`: more items match. Only lists that would
    /// otherwise count a very large number of rows on every page cap their count.
    pub total_capped: bool,
}

/// Keyset paging: items sort by id (UUIDv7, so by creation time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<uuid::Uuid>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 200;

    /// Clamps a requested limit into 1..=200 (default 50).
    pub fn new(limit: Option<u32>, after: Option<uuid::Uuid>) -> Self {
        Self {
            limit: limit
                .unwrap_or(Self::DEFAULT_LIMIT)
                .clamp(1, Self::MAX_LIMIT),
            after,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(None, None)
    }
}
