//! Each organization's custom roles and groups, kept in memory between requests.
//!
//! A permission is decided from the member's own row (roles, custom role ids, groups,
//! entity, scope), read fresh on every request, and from what the organization's custom
//! roles and groups are made of. Those change rarely, but reading them took the largest
//! statements of a check. So this instance keeps a copy per organization, under the
//! organization's `access_version`, which the store bumps in the same transaction as every
//! change to them and which is read in the same statement as the membership. A copy whose
//! version differs is read again; so a change decides the very next request on every
//! instance, as without the copy.
//!
//! A copy is kept only from reads outside a write transaction: a transaction's reads may
//! show its own writes, which a rollback would leave behind under a version that a later
//! commit reuses. A transaction still uses a copy whose version equals the one it reads,
//! because committed changes never repeat a version (each takes the organization's lock
//! and adds one).

use super::{AccessProfile, Catalog};
use crate::ids::OrgId;
use crate::model::Membership;
use crate::store::{AccessDefinitions, Reads, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// At most this many organizations are kept; beyond it one is let go for each new one.
const CAPACITY: usize = 1024;

/// Organizations' definitions as last read; see the module's documentation.
#[derive(Debug, Default)]
pub struct DefinitionsCache {
    orgs: Mutex<HashMap<OrgId, Arc<AccessDefinitions>>>,
}

impl DefinitionsCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Prepares `m`'s permissions, its organization's definitions being at `version` (read
    /// with `m`). A membership that refers to no custom role and no group needs none.
    pub async fn profile(
        &self,
        catalog: &Catalog,
        reads: &mut dyn Reads,
        m: &Membership,
        version: u64,
    ) -> Result<AccessProfile, StoreError> {
        if m.custom_roles.is_empty() && m.groups.is_empty() {
            return Ok(AccessProfile::prepare(catalog, m, &[], &[]));
        }
        let defs = self.at(reads, m.org_id, version).await?;
        Ok(AccessProfile::prepare(
            catalog,
            m,
            &defs.custom_roles,
            &defs.groups,
        ))
    }

    /// The organization's definitions at `version`, or read now (as new or newer).
    pub async fn at(
        &self,
        reads: &mut dyn Reads,
        org: OrgId,
        version: u64,
    ) -> Result<Arc<AccessDefinitions>, StoreError> {
        if let Some(kept) = self.kept(org).filter(|d| d.version == version) {
            return Ok(kept);
        }
        let read = Arc::new(reads.access_definitions(org).await?);
        if !reads.in_transaction() {
            self.keep(org, &read);
        }
        Ok(read)
    }

    fn kept(&self, org: OrgId) -> Option<Arc<AccessDefinitions>> {
        self.lock().get(&org).cloned()
    }

    /// Keeps `read` unless a newer copy is kept already (a slower reader finishing last).
    fn keep(&self, org: OrgId, read: &Arc<AccessDefinitions>) {
        let mut orgs = self.lock();
        if orgs.get(&org).is_some_and(|d| d.version > read.version) {
            return;
        }
        if orgs.len() >= CAPACITY && !orgs.contains_key(&org) {
            if let Some(other) = orgs.keys().next().copied() {
                orgs.remove(&other);
            }
        }
        orgs.insert(org, Arc::clone(read));
    }

    /// The map, whatever a panicking holder left: every entry is whole, because each is
    /// replaced in one step.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrgId, Arc<AccessDefinitions>>> {
        self.orgs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many organizations are kept (for tests).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
