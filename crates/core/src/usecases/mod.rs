//! Use cases, one module per feature. Each changes state in one store transaction that
//! also holds its audit event and outbox emails.

pub mod access_admin;
pub mod account;
pub mod assignments;
pub mod audit;
pub mod checks;
pub mod digests;
pub mod invitations;
pub mod inviting;
pub mod members;
pub mod notifications;
pub mod orgs;
pub mod recovery;
pub mod sessions;
pub mod setup;
pub mod sign_in;
pub mod sso;
pub mod tasks;
pub mod tokens;

use crate::model::{AuditTarget, Organization};

pub(crate) fn org_target(org: &Organization) -> Option<AuditTarget> {
    Some(AuditTarget {
        kind: "organization".to_owned(),
        id: org.id.as_uuid(),
    })
}

pub(crate) fn target(kind: &str, id: uuid::Uuid) -> Option<AuditTarget> {
    Some(AuditTarget {
        kind: kind.to_owned(),
        id,
    })
}
