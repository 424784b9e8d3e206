//! What a member is given besides roles: groups, customers (seed 002), an entity and, for
//! an admin, an admin scope (seed 004). Each is set on invitation or replaced as a whole
//! later (`PUT .../members/{member}/groups`, `/customers`, `/entity`, `/admin-scope`).
//!
//! Like every member change these run under the organization's lock with the caller's
//! permissions re-read there, and only within the caller's reach: a scoped admin sees and
//! changes only members of their entities, moves them only between those entities, and
//! can neither widen their own scope nor make anyone an admin of the whole organization.

use super::members::{
    keep_an_admin, live_member, lock_as_manager, may_manage, view, Locked, MemberError,
};
use super::target;
use crate::access::{Caller, OrgGrant};
use crate::ids::{CustomerId, EntityId, GroupId, MembershipId};
use crate::model::{AuditEvent, Group, Membership};
use crate::roster::Roster;
use crate::store::{MemberView, Tx};
use serde_json::json;
use std::collections::BTreeSet;

fn sorted<T: Ord + Copy>(ids: &[T]) -> Vec<T> {
    ids.iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The organization's groups named by `ids`; the caller must be able to hand out each
/// group's roles, since joining a group grants them.
pub(crate) async fn groups_to_grant(
    tx: &mut dyn Tx,
    locked: &Locked,
    ids: &[GroupId],
    already: &[GroupId],
) -> Result<Vec<GroupId>, MemberError> {
    let ids = sorted(ids);
    if ids.is_empty() {
        return Ok(ids);
    }
    let all = tx.groups(locked.org.id).await?;
    let custom = tx.custom_roles(locked.org.id).await?;
    for id in &ids {
        let group: &Group =
            all.iter()
                .find(|g| g.id == *id)
                .ok_or(MemberError::UnknownReference {
                    what: "group",
                    id: id.to_string(),
                })?;
        if already.contains(id) {
            continue;
        }
        super::members::may_grant(locked, &group.roles)?;
        super::members::may_grant_custom(
            locked,
            custom.iter().filter(|r| group.custom_roles.contains(&r.id)),
        )?;
    }
    Ok(ids)
}

/// The organization's customers named by `ids`. A caller whose own customer data is
/// limited to some customers assigns only among those, and never none (which would mean
/// all of them).
pub(crate) async fn customers_to_assign(
    tx: &mut dyn Tx,
    locked: &Locked,
    ids: &[CustomerId],
) -> Result<Vec<CustomerId>, MemberError> {
    let ids = sorted(ids);
    if let Some(mine) = &locked.customers {
        if ids.is_empty() || ids.iter().any(|id| !mine.contains(id)) {
            return Err(MemberError::OutsideCustomers);
        }
    }
    for id in &ids {
        if tx.customer(locked.org.id, *id).await?.is_none() {
            return Err(MemberError::UnknownReference {
                what: "customer",
                id: id.to_string(),
            });
        }
    }
    Ok(ids)
}

/// An entity of the organization the caller may put a member into: within a scoped
/// admin's scope (where a member must have one), anywhere for everyone else.
pub(crate) async fn entity_to_set(
    tx: &mut dyn Tx,
    locked: &Locked,
    entity: Option<EntityId>,
) -> Result<Option<EntityId>, MemberError> {
    if let Some(id) = entity {
        if tx.entity(locked.org.id, id).await?.is_none() {
            return Err(MemberError::UnknownReference {
                what: "entity",
                id: id.to_string(),
            });
        }
    }
    let within = match (locked.scope().entities(), entity) {
        (None, _) => true,
        (Some(mine), Some(id)) => mine.contains(&id),
        (Some(_), None) => false,
    };
    if within {
        Ok(entity)
    } else {
        Err(MemberError::OutsideScope)
    }
}

impl Roster {
    /// Replaces the groups a member is in.
    pub async fn set_member_groups(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        groups: &[GroupId],
    ) -> Result<MemberView, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        let groups = groups_to_grant(&mut *tx, &locked, groups, &before.groups).await?;
        if groups == before.groups {
            return view(&mut *tx, locked.org.id, member).await;
        }
        super::members::stays_within_customers(
            &mut *tx,
            &locked,
            &Membership {
                groups: groups.clone(),
                ..before.clone()
            },
        )
        .await?;
        if !tx
            .set_membership_groups(locked.org.id, member, &groups, now)
            .await?
        {
            return Err(MemberError::NotFound);
        }
        record(
            &mut *tx,
            grant,
            &before,
            "membership.groups_changed",
            json!({ "groups": { "from": before.groups, "to": groups } }),
            now,
        )
        .await?;
        let after = view(&mut *tx, locked.org.id, member).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Replaces the customers assigned to a member (seed 002, *Confirm selection*). None
    /// assigned means all of the organization's customers for customer-scoped roles.
    pub async fn set_member_customers(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        customers: &[CustomerId],
    ) -> Result<Vec<CustomerId>, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        let customers = customers_to_assign(&mut *tx, &locked, customers).await?;
        let previous = tx.customer_assignments(locked.org.id, member).await?;
        if customers == previous {
            return Ok(customers);
        }
        if !tx
            .set_customer_assignments(locked.org.id, member, &customers, now)
            .await?
        {
            return Err(MemberError::NotFound);
        }
        record(
            &mut *tx,
            grant,
            &before,
            "membership.customers_changed",
            json!({ "customers": { "from": previous, "to": customers } }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(customers)
    }

    /// Sets or clears a member's entity (seed 004, *Edit information*).
    pub async fn set_member_entity(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        entity: Option<EntityId>,
    ) -> Result<MemberView, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        may_manage(&mut *tx, &locked, &before).await?;
        let entity = entity_to_set(&mut *tx, &locked, entity).await?;
        if entity == before.entity {
            return view(&mut *tx, locked.org.id, member).await;
        }
        if !tx
            .set_membership_entity(locked.org.id, member, entity, now)
            .await?
        {
            return Err(MemberError::NotFound);
        }
        record(
            &mut *tx,
            grant,
            &before,
            "membership.entity_changed",
            json!({ "entity": { "from": before.entity, "to": entity } }),
            now,
        )
        .await?;
        let after = view(&mut *tx, locked.org.id, member).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Replaces a member's admin scope (seed 004, *Define the admin scope*): the entities
    /// whose members they manage as an admin; empty for the whole organization. Only an
    /// admin of the whole organization (or an operator) sets it, never for themselves
    /// into a narrower scope when they are the last one.
    pub async fn set_member_admin_scope(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        member: MembershipId,
        entities: &[EntityId],
    ) -> Result<MemberView, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = lock_as_manager(self, &mut *tx, grant, caller).await?;
        let before = live_member(&mut *tx, &locked, member).await?;
        if !locked.is_full_admin() {
            // A scoped admin may neither widen their own scope nor shape anyone else's.
            return Err(MemberError::Forbidden);
        }
        if !before.is_admin() {
            return Err(MemberError::Invalid(
                "an admin scope is for admins: give the member the Admin role first".into(),
            ));
        }
        let entities = sorted(entities);
        for id in &entities {
            if tx.entity(locked.org.id, *id).await?.is_none() {
                return Err(MemberError::UnknownReference {
                    what: "entity",
                    id: id.to_string(),
                });
            }
        }
        if entities == before.admin_scope {
            return view(&mut *tx, locked.org.id, member).await;
        }
        // Narrowing the last admin of the whole organization would leave nobody who can
        // manage everything.
        let after_scope = Membership {
            admin_scope: entities.clone(),
            ..before.clone()
        };
        keep_an_admin(&mut *tx, &before, after_scope.is_unscoped_admin()).await?;
        if !tx
            .set_admin_scope(locked.org.id, member, &entities, now)
            .await?
        {
            return Err(MemberError::NotFound);
        }
        record(
            &mut *tx,
            grant,
            &before,
            "membership.admin_scope_changed",
            json!({ "admin_scope": { "from": before.admin_scope, "to": entities } }),
            now,
        )
        .await?;
        let after = view(&mut *tx, locked.org.id, member).await?;
        tx.commit().await?;
        Ok(after)
    }
}

async fn record(
    tx: &mut dyn Tx,
    grant: &OrgGrant,
    before: &Membership,
    action: &'static str,
    mut details: serde_json::Value,
    now: crate::clock::Timestamp,
) -> Result<(), MemberError> {
    let person = view(tx, before.org_id, before.id).await?;
    if let Some(map) = details.as_object_mut() {
        map.insert("email".into(), json!(person.email.as_str()));
        map.insert("status".into(), json!(before.status.as_str()));
    }
    tx.append_audit(&AuditEvent::new(
        Some(before.org_id),
        grant.actor(),
        action,
        target("membership", before.id.as_uuid()),
        details,
        now,
    ))
    .await?;
    Ok(())
}
