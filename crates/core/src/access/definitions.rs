//! Each organization's custom roles and groups, kept in memory between requests.
//!
//! A permission is decided from the member's own row (roles, custom role ids, groups,
//! entity, scope), read fresh on every request, and from what the organization's custom
//! roles and groups are made of. Those change rarely, but reading them took the largest
//! statements of a check. So this instance keeps a copy per organization, under the
//! organization's `access_version`, which the store replaces in the same transaction as
//! every change to them and which is read in the same statement as the membership. A copy
//! whose version differs is read again; so a change decides the very next request on
//! every instance, as without the copy.
//!
//! The version is random, not a counter, and compared only for equality: a counter would
//! repeat after commits are lost (a failover, a restored backup), and a copy kept at the
//! lost value would match other rows.
//!
//! A copy is kept only from reads outside a write transaction: a transaction's reads may
//! show its own writes, which a rollback would undo. A transaction still uses a copy whose
//! version equals the one it reads; otherwise it reads only what the membership refers to
//! ([`Reads::access_sources`]), as a write's lock needs no more.

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
        catalog: &Arc<Catalog>,
        reads: &mut dyn Reads,
        m: &Membership,
        version: u64,
    ) -> Result<AccessProfile, StoreError> {
        if m.custom_roles.is_empty() && m.groups.is_empty() {
            return Ok(AccessProfile::prepare(catalog, m, &[], &[]));
        }
        let defs = match self.kept_at(m.org_id, version) {
            Some(kept) => kept,
            // Under a write's lock: what the membership refers to, and nothing kept.
            None if reads.in_transaction() => return super::profile_for(catalog, reads, m).await,
            None => self.read(reads, m.org_id).await?,
        };
        Ok(AccessProfile::prepare(
            catalog,
            m,
            &defs.custom_roles,
            &defs.groups,
        ))
    }

    /// The organization's definitions at `version`, or as read now.
    pub async fn at(
        &self,
        reads: &mut dyn Reads,
        org: OrgId,
        version: u64,
    ) -> Result<Arc<AccessDefinitions>, StoreError> {
        match self.kept_at(org, version) {
            Some(kept) => Ok(kept),
            None => self.read(reads, org).await,
        }
    }

    /// Reads the organization's definitions, and keeps them unless read inside a write
    /// transaction.
    async fn read(
        &self,
        reads: &mut dyn Reads,
        org: OrgId,
    ) -> Result<Arc<AccessDefinitions>, StoreError> {
        let read = Arc::new(reads.access_definitions(org).await?);
        if !reads.in_transaction() {
            self.keep(org, &read);
        }
        Ok(read)
    }

    fn kept_at(&self, org: OrgId, version: u64) -> Option<Arc<AccessDefinitions>> {
        self.lock()
            .get(&org)
            .filter(|d| d.version == version)
            .cloned()
    }

    /// Keeps `read`, in place of any copy of the organization: versions are random, so
    /// none is newer than another. A slower reader finishing last costs one more read.
    fn keep(&self, org: OrgId, read: &Arc<AccessDefinitions>) {
        let mut orgs = self.lock();
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
