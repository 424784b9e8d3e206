//! Creating, reading and configuring organizations.

use super::org_target;
use crate::access::{OperatorGrant, OrgGrant, OrgView};
use crate::clock::Timestamp;
use crate::ids::OrgId;
use crate::model::Actor;
use crate::model::{
    AuditEvent, OrgKind, OrgSettings, Organization, Page, PageRequest, Permission, SettingsError,
};
use crate::names::{DisplayName, Slug, SlugError};
use crate::roster::Roster;
use crate::store::{Reads, StoreError, Tx};
use serde_json::json;

#[derive(Clone, Debug)]
pub struct NewOrg {
    pub name: DisplayName,
    /// Derived from the name when absent.
    pub slug: Option<Slug>,
    pub kind: OrgKind,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateOrgError {
    #[error("the slug '{0}' is taken by another organization")]
    SlugTaken(Slug),
    #[error("no slug can be made from this name ({0}); give one")]
    NoSlug(SlugError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves the slug of a new organization.
pub(crate) fn slug_for(new: &NewOrg) -> Result<Slug, CreateOrgError> {
    match &new.slug {
        Some(s) => Ok(s.clone()),
        None => Slug::from_name(new.name.as_str()).map_err(CreateOrgError::NoSlug),
    }
}

/// Finds an organization by id or slug on the caller's connection, so a handler can look it
/// up and check access on one connection.
pub async fn find_org(
    reads: &mut dyn Reads,
    id_or_slug: &str,
) -> Result<Option<Organization>, StoreError> {
    if let Ok(id) = id_or_slug.parse::<OrgId>() {
        return reads.org(id).await;
    }
    match Slug::parse(id_or_slug) {
        Ok(slug) => reads.org_by_slug(&slug).await,
        Err(_) => Ok(None),
    }
}

/// Writes a new organization and its audit event inside the caller's transaction.
pub(crate) async fn insert_new_org(
    tx: &mut dyn Tx,
    new: NewOrg,
    actor: Actor,
    now: Timestamp,
) -> Result<Organization, CreateOrgError> {
    let slug = slug_for(&new)?;
    let org = Organization {
        id: OrgId::new(),
        kind: new.kind,
        name: new.name,
        slug: slug.clone(),
        settings: OrgSettings::default(),
        created_at: now,
        updated_at: now,
        access_version: 0,
    };
    tx.insert_org(&org).await.map_err(|e| match e {
        StoreError::SlugTaken => CreateOrgError::SlugTaken(slug),
        e => e.into(),
    })?;
    tx.append_audit(&AuditEvent::new(
        Some(org.id),
        actor,
        "organization.created",
        org_target(&org),
        json!({ "name": org.name.as_str(), "slug": org.slug.as_str(), "kind": org.kind.as_str() }),
        now,
    ))
    .await?;
    Ok(org)
}

/// Changes to an organization; absent fields stay as they are.
#[derive(Clone, Debug, Default)]
pub struct OrgPatch {
    pub name: Option<DisplayName>,
    /// A partial settings document merged over the current settings.
    pub settings: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateOrgError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    InvalidSettings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SettingsError> for UpdateOrgError {
    fn from(e: SettingsError) -> Self {
        UpdateOrgError::InvalidSettings(e.to_string())
    }
}

impl Roster {
    pub async fn create_org(
        &self,
        grant: &OperatorGrant,
        new: NewOrg,
    ) -> Result<Organization, CreateOrgError> {
        let mut tx = self.store.begin().await?;
        let org = insert_new_org(&mut *tx, new, grant.actor(), self.clock.now()).await?;
        tx.commit().await?;
        Ok(org)
    }

    pub async fn list_orgs(
        &self,
        _grant: &OperatorGrant,
        page: PageRequest,
    ) -> Result<Page<Organization>, StoreError> {
        self.store.reads().await?.list_orgs(page).await
    }

    /// Finds an organization by id or slug, as `{org}` in a path allows.
    pub async fn find_org(&self, id_or_slug: &str) -> Result<Option<Organization>, StoreError> {
        find_org(&mut *self.store.reads().await?, id_or_slug).await
    }

    /// Members of the organization, removed ones excluded.
    pub async fn list_members(
        &self,
        view: &OrgView,
        filter: &crate::store::MemberFilter,
        page: PageRequest,
    ) -> Result<Page<crate::store::MemberView>, StoreError> {
        let mut filter = filter.clone();
        // A scoped admin's list holds only the members of their entities, totals included.
        if let Some(mine) = view.scope().entities() {
            filter.within = Some(mine.iter().copied().collect());
        }
        self.store
            .reads()
            .await?
            .list_members(view.org_id(), &filter, page)
            .await
    }

    /// One member of the organization; `None` when absent, removed or another
    /// organization's.
    pub async fn member(
        &self,
        view: &OrgView,
        id: crate::ids::MembershipId,
    ) -> Result<Option<crate::store::MemberView>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(membership) = reads
            .membership(view.org_id(), id)
            .await?
            .filter(|m| m.status != crate::model::MembershipStatus::Removed)
            .filter(|m| view.scope().admits(m))
        else {
            return Ok(None);
        };
        let Some(identity) = reads.identity(membership.identity_id).await? else {
            return Ok(None);
        };
        Ok(Some(crate::store::MemberView {
            membership,
            email: identity.email,
            name: identity.name.map(|n| n.to_string()),
        }))
    }

    pub async fn update_org(
        &self,
        grant: &OrgGrant,
        patch: OrgPatch,
    ) -> Result<Organization, UpdateOrgError> {
        debug_assert_eq!(grant.permission(), Permission::OrgSettings);
        if grant.permission() != Permission::OrgSettings {
            return Err(UpdateOrgError::NotFound);
        }
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let before = tx
            .org_for_update(grant.org_id())
            .await?
            .ok_or(UpdateOrgError::NotFound)?;
        let mut after = before.clone();
        if let Some(name) = patch.name {
            after.name = name;
        }
        if let Some(changes) = patch.settings {
            after.settings = merge_settings(&before.settings, changes)?;
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = now;
        if !tx.update_org(&after).await? {
            return Err(UpdateOrgError::NotFound);
        }
        if after.settings.timezone != before.settings.timezone {
            // Members without a zone of their own get digests at 08:00 in this one.
            tx.replan_digests_of_org(after.id, now).await?;
        }
        tx.append_audit(&AuditEvent::new(
            Some(after.id),
            grant.actor(),
            "organization.updated",
            org_target(&after),
            json!({
                "name": { "from": before.name.as_str(), "to": after.name.as_str() },
                "settings": { "from": before.settings, "to": after.settings },
            }),
            now,
        ))
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

/// Merges a partial settings document over the current settings and validates the result.
pub fn merge_settings(
    current: &OrgSettings,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<OrgSettings, UpdateOrgError> {
    let mut doc = match serde_json::to_value(current) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => {
            return Err(UpdateOrgError::InvalidSettings(
                "settings are not an object".into(),
            ))
        }
    };
    doc.extend(changes);
    let merged: OrgSettings = serde_json::from_value(serde_json::Value::Object(doc))
        .map_err(|e| UpdateOrgError::InvalidSettings(e.to_string()))?;
    merged.validate()?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn settings_merge_keeps_unmentioned_values() {
        let merged = merge_settings(
            &OrgSettings::default(),
            map(json!({ "invitation_lifetime_hours": 24 })),
        )
        .unwrap();
        assert_eq!(merged.invitation_lifetime_hours, 24);
        assert_eq!(merged.password_min_length, 12);
    }

    #[test]
    fn settings_merge_refuses_unknown_wrong_type_and_out_of_range() {
        let base = OrgSettings::default();
        for bad in [
            json!({ "no_such_setting": 1 }),
            json!({ "password_min_length": "twelve" }),
            json!({ "password_min_length": 4 }),
            json!({ "invitation_lifetime_hours": -1 }),
        ] {
            let err = merge_settings(&base, map(bad.clone())).unwrap_err();
            assert!(matches!(err, UpdateOrgError::InvalidSettings(_)), "{bad}");
        }
    }
}
