//! Reading an organization's audit log (the console's *Audit log*, its CSV export and
//! `GET /api/v1/orgs/{org}/audit`). Events are written by every other use case; this one
//! only reads them, newest first, with who acted shown by email where a person did.

use crate::access::{MemberScope, OrgGrant};
use crate::clock::Timestamp;
use crate::ids::{AuditEventId, IdentityId};
use crate::model::{Actor, AuditEvent, AuditQuery, Permission};
use crate::store::StoreError;
use crate::Roster;
use std::collections::BTreeMap;

/// The filters a reader of the log may set; the organization comes from the grant.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// An exact action, e.g. `membership.deactivated`.
    pub action: Option<String>,
    /// Events about this target (a membership, a role, ...).
    pub target_id: Option<uuid::Uuid>,
    /// Events by this person.
    pub actor: Option<IdentityId>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Continue below this event (the `next_cursor` of the previous page).
    pub before: Option<AuditEventId>,
    pub limit: u32,
}

/// Why a page of the log is not shown.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log covers the whole organization (every member, every customer), so a reader
    /// whose access is limited to some entities or customers may not read it, even when a
    /// custom role grants `audit.read`.
    #[error("the audit log covers the whole organization; your access is limited to some entities or customers")]
    LimitedReach,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of the log, with the emails of the people who acted in it.
#[derive(Clone, Debug)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Emails of the identities that appear as actors on this page. A person whose
    /// identity was since erased is absent and shown by id.
    pub actor_emails: BTreeMap<IdentityId, String>,
    /// The last event's id when the page is full: there may be more below it.
    pub next_cursor: Option<AuditEventId>,
}

impl Roster {
    /// A page of the organization's audit log. Needs `audit.read` and a reach over the
    /// whole organization: the log names every member and customer, so a scoped admin or a
    /// reader limited to some customers (who may hold `audit.read` through a custom role)
    /// is refused rather than shown what their other pages hide.
    pub async fn audit_log(
        &self,
        grant: &OrgGrant,
        filter: &AuditFilter,
    ) -> Result<AuditPage, AuditError> {
        debug_assert_eq!(grant.permission(), Permission::AuditRead);
        if !matches!(grant.scope(), MemberScope::All)
            || self.customer_limit_of(&grant.view()).await?.is_some()
        {
            return Err(AuditError::LimitedReach);
        }
        let limit = filter.limit.clamp(1, 1000);
        let mut reads = self.store.reads().await?;
        let events = reads
            .list_audit(&AuditQuery {
                org_id: Some(grant.org_id()),
                actor: filter.actor.map(Actor::Identity),
                target_id: filter.target_id,
                action: filter.action.clone(),
                since: filter.since,
                until: filter.until,
                before: filter.before,
                limit,
            })
            .await?;
        let mut actor_emails = BTreeMap::new();
        for event in &events {
            if let Actor::Identity(id) = event.actor {
                if let std::collections::btree_map::Entry::Vacant(slot) = actor_emails.entry(id) {
                    if let Some(identity) = reads.identity(id).await? {
                        slot.insert(identity.email.to_string());
                    }
                }
            }
        }
        let next_cursor = (events.len() == limit as usize)
            .then(|| events.last().map(|e| e.id))
            .flatten();
        Ok(AuditPage {
            events,
            actor_emails,
            next_cursor,
        })
    }
}
