//! The access model's own records: custom roles, groups, customers and entities of an
//! organization, created, renamed and deleted by its admins.
//!
//! Each change runs under the organization's lock (like every member change), so a role
//! being deleted and the same role being handed to a member serialise, and the "still in
//! use" checks hold until commit. A role never holds a permission its author does not hold.

use super::members::{limit_of_reach, lock_holding, Locked, MemberError};
use super::target;
use crate::access::{Caller, OrgGrant, OrgView, PermissionCode};
use crate::ids::{CustomerId, EntityId, GroupId, RoleId};
use crate::model::{
    AuditEvent, BuiltinRole, CustomRole, Customer, Entity, Group, Page, PageRequest, Permission,
};
use crate::names::DisplayName;
use crate::roster::Roster;
use crate::store::{StoreError, Tx};
use serde_json::json;
use std::collections::BTreeSet;

/// A custom role as created or edited; absent fields of an edit stay as they are.
#[derive(Clone, Debug, Default)]
pub struct RoleInput {
    pub name: Option<DisplayName>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub customer_scoped: Option<bool>,
}

/// A group as created or edited; absent fields of an edit stay as they are.
#[derive(Clone, Debug, Default)]
pub struct GroupInput {
    pub name: Option<DisplayName>,
    pub description: Option<String>,
    /// Built-in role names (user, marketing) and custom role ids.
    pub roles: Option<Vec<String>>,
}

/// A customer as created or edited; absent fields of an edit stay as they are.
#[derive(Clone, Debug, Default)]
pub struct CustomerInput {
    pub name: Option<DisplayName>,
    /// `Some(None)` clears it.
    pub external_id: Option<Option<String>>,
}

fn name_taken(what: &'static str) -> impl Fn(StoreError) -> MemberError {
    move |e| match e {
        StoreError::NameTaken => MemberError::NameTaken { what },
        e => MemberError::Store(e),
    }
}

fn clean_description(d: Option<String>) -> Result<Option<String>, MemberError> {
    match d.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()) {
        Some(d) if d.chars().count() > 500 => Err(MemberError::Invalid(
            "a description has at most 500 characters".into(),
        )),
        d => Ok(d),
    }
}

fn clean_external_id(id: Option<String>) -> Result<Option<String>, MemberError> {
    match id.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()) {
        Some(d) if d.chars().count() > 200 || d.chars().any(char::is_control) => Err(
            MemberError::Invalid("an external id has at most 200 printable characters".into()),
        ),
        d => Ok(d),
    }
}

impl Roster {
    async fn lock_for(
        &self,
        tx: &mut dyn Tx,
        grant: &OrgGrant,
        caller: &Caller,
        permission: Permission,
    ) -> Result<Locked, MemberError> {
        let locked = lock_holding(self, tx, grant, caller, permission).await?;
        // Roles and groups decide access across every customer: changing them takes a
        // caller who reaches every customer.
        if permission == Permission::RolesManage && locked.customers.is_some() {
            return Err(MemberError::Forbidden);
        }
        Ok(locked)
    }

    /// Permission codes for a role: each from the catalog, each held by the author.
    fn role_codes(
        &self,
        locked: &Locked,
        codes: &[String],
    ) -> Result<BTreeSet<PermissionCode>, MemberError> {
        let codes = self
            .catalog
            .parse_codes(codes)
            .map_err(MemberError::UnknownPermission)?;
        if let Some(held) = &locked.access.codes {
            let missing: Vec<&str> = codes
                .iter()
                .filter(|c| !held.contains(*c))
                .map(PermissionCode::as_str)
                .collect();
            if !missing.is_empty() {
                return Err(MemberError::BeyondOwn(missing.join(", ")));
            }
        }
        Ok(codes)
    }

    pub async fn custom_roles(&self, view: &OrgView) -> Result<Vec<CustomRole>, StoreError> {
        self.store.reads().await?.custom_roles(view.org_id()).await
    }

    pub async fn custom_role(
        &self,
        view: &OrgView,
        id: RoleId,
    ) -> Result<Option<CustomRole>, StoreError> {
        self.store
            .reads()
            .await?
            .custom_role(view.org_id(), id)
            .await
    }

    /// Creates a custom role (`roles.manage`). Deny by default: with no permissions given
    /// it holds none.
    pub async fn create_custom_role(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        input: RoleInput,
    ) -> Result<CustomRole, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let name = input
            .name
            .ok_or_else(|| MemberError::Invalid("give the role a name".into()))?;
        if BuiltinRole::parse(&name.as_str().to_lowercase()).is_ok() {
            return Err(MemberError::NameTaken { what: "role" });
        }
        let customer_scoped = input.customer_scoped.unwrap_or(true);
        if !customer_scoped && locked.customers.is_some() {
            return Err(MemberError::BeyondOwn("customer_scoped: false".into()));
        }
        let role = CustomRole {
            id: RoleId::new(),
            org_id: locked.org.id,
            name,
            description: clean_description(input.description)?,
            permissions: self.role_codes(&locked, &input.permissions.unwrap_or_default())?,
            customer_scoped,
            created_at: now,
            updated_at: now,
        };
        tx.insert_custom_role(&role)
            .await
            .map_err(name_taken("role"))?;
        audit_role(&mut *tx, grant, "role.created", &role, None, now).await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Renames a custom role or replaces its permissions; every holder's next request sees
    /// the change.
    pub async fn update_custom_role(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: RoleId,
        input: RoleInput,
    ) -> Result<CustomRole, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let before = tx
            .custom_role(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        if let Some(name) = &input.name {
            if BuiltinRole::parse(&name.as_str().to_lowercase()).is_ok() {
                return Err(MemberError::NameTaken { what: "role" });
            }
        }
        let after = CustomRole {
            name: input.name.unwrap_or_else(|| before.name.clone()),
            description: match input.description {
                Some(d) => clean_description(Some(d))?,
                None => before.description.clone(),
            },
            permissions: match &input.permissions {
                Some(codes) => self.role_codes(&locked, codes)?,
                None => before.permissions.clone(),
            },
            customer_scoped: input.customer_scoped.unwrap_or(before.customer_scoped),
            updated_at: now,
            ..before.clone()
        };
        if !after.customer_scoped && before.customer_scoped && locked.customers.is_some() {
            return Err(MemberError::BeyondOwn("customer_scoped: false".into()));
        }
        if !tx
            .update_custom_role(&after)
            .await
            .map_err(name_taken("role"))?
        {
            return Err(MemberError::NotFound);
        }
        audit_role(&mut *tx, grant, "role.updated", &after, Some(&before), now).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a custom role nobody holds: 409 `role_in_use` while a member or a group
    /// holds it (reassign them first).
    pub async fn delete_custom_role(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: RoleId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let before = tx
            .custom_role(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let usage = tx.role_usage(locked.org.id, id).await?;
        if usage.members > 0 || usage.groups > 0 {
            return Err(MemberError::InUse {
                what: "role",
                detail: format!(
                    "{} member(s) and {} group(s) hold this role; give them another role first",
                    usage.members, usage.groups
                ),
            });
        }
        if !tx.delete_custom_role(locked.org.id, id).await? {
            return Err(MemberError::NotFound);
        }
        audit_role(&mut *tx, grant, "role.deleted", &before, None, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn groups(&self, view: &OrgView) -> Result<Vec<Group>, StoreError> {
        self.store.reads().await?.groups(view.org_id()).await
    }

    pub async fn group(&self, view: &OrgView, id: GroupId) -> Result<Option<Group>, StoreError> {
        self.store.reads().await?.group(view.org_id(), id).await
    }

    /// The roles a group may grant: User, Marketing and custom roles of the organization,
    /// each held by the caller.
    async fn group_roles(
        &self,
        tx: &mut dyn Tx,
        locked: &Locked,
        names: &[String],
    ) -> Result<(Vec<BuiltinRole>, Vec<RoleId>), MemberError> {
        let mut builtin = BTreeSet::new();
        let mut custom = BTreeSet::new();
        for name in names {
            match BuiltinRole::parse(name) {
                Ok(r) if Group::may_hold(r) => {
                    builtin.insert(r);
                }
                Ok(r) => {
                    return Err(MemberError::InvalidRole(format!(
                        "a group cannot grant the {} role; give it to people directly",
                        r.as_str()
                    )))
                }
                Err(_) => match name.parse::<RoleId>() {
                    Ok(id) => {
                        custom.insert(id);
                    }
                    Err(_) => {
                        return Err(MemberError::InvalidRole(format!(
                            "unknown role {name}; a group grants user, marketing or custom roles (by id)"
                        )))
                    }
                },
            }
        }
        let custom: Vec<RoleId> = custom.into_iter().collect();
        let defs = super::members::custom_roles_named(tx, locked.org.id, &custom).await?;
        let builtin: Vec<BuiltinRole> = builtin.into_iter().collect();
        super::members::may_grant(locked, &builtin)?;
        super::members::may_grant_custom(locked, &defs)?;
        Ok((builtin, custom))
    }

    pub async fn create_group(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        input: GroupInput,
    ) -> Result<Group, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let name = input
            .name
            .ok_or_else(|| MemberError::Invalid("give the group a name".into()))?;
        let (roles, custom_roles) = self
            .group_roles(&mut *tx, &locked, &input.roles.unwrap_or_default())
            .await?;
        let group = Group {
            id: GroupId::new(),
            org_id: locked.org.id,
            name,
            description: clean_description(input.description)?,
            roles,
            custom_roles,
            members: 0,
            created_at: now,
            updated_at: now,
        };
        tx.insert_group(&group).await.map_err(name_taken("group"))?;
        audit_named(
            &mut *tx,
            grant,
            "group.created",
            "group",
            group.id.as_uuid(),
            json!({
                "name": group.name.as_str(),
                "roles": group.roles,
                "custom_roles": group.custom_roles,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    pub async fn update_group(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: GroupId,
        input: GroupInput,
    ) -> Result<Group, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let before = tx
            .group(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let (roles, custom_roles) = match &input.roles {
            Some(names) => self.group_roles(&mut *tx, &locked, names).await?,
            None => (before.roles.clone(), before.custom_roles.clone()),
        };
        let after = Group {
            name: input.name.unwrap_or_else(|| before.name.clone()),
            description: match input.description {
                Some(d) => clean_description(Some(d))?,
                None => before.description.clone(),
            },
            roles,
            custom_roles,
            updated_at: now,
            ..before.clone()
        };
        if !tx.update_group(&after).await.map_err(name_taken("group"))? {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "group.updated",
            "group",
            id.as_uuid(),
            json!({
                "name": { "from": before.name.as_str(), "to": after.name.as_str() },
                "roles": { "from": before.roles, "to": after.roles },
                "custom_roles": { "from": before.custom_roles, "to": after.custom_roles },
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a group: its members leave it and lose what it granted, at their next
    /// request.
    pub async fn delete_group(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: GroupId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::RolesManage)
            .await?;
        let before = tx
            .group(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        if !tx.delete_group(locked.org.id, id).await? {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "group.deleted",
            "group",
            id.as_uuid(),
            json!({
                "name": before.name.as_str(),
                "members": before.members,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The customers the caller may see (`customers.read`, seed 002): all of them, or only
    /// those assigned to them when their access is limited to their assignments. Totals
    /// count only what they see.
    pub async fn list_customers(
        &self,
        grant: &OrgGrant,
        page: PageRequest,
    ) -> Result<Page<Customer>, StoreError> {
        let mut reads = self.store.reads().await?;
        let limit = limit_of_reach(&mut *reads, grant.org_id(), grant.customer_reach()).await?;
        reads
            .list_customers(grant.org_id(), limit.map(|l| l.member), page)
            .await
    }

    /// One customer the caller may see; `None` when absent or beyond their assignments.
    pub async fn customer(
        &self,
        grant: &OrgGrant,
        id: CustomerId,
    ) -> Result<Option<Customer>, StoreError> {
        let mut reads = self.store.reads().await?;
        let Some(customer) = reads.customer(grant.org_id(), id).await? else {
            return Ok(None);
        };
        let limit = limit_of_reach(&mut *reads, grant.org_id(), grant.customer_reach()).await?;
        if limit.is_some_and(|l| !l.customers.contains(&id)) {
            return Ok(None);
        }
        Ok(Some(customer))
    }

    pub async fn create_customer(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        input: CustomerInput,
    ) -> Result<Customer, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::CustomersManage)
            .await?;
        let customer = Customer {
            id: CustomerId::new(),
            org_id: locked.org.id,
            name: input
                .name
                .ok_or_else(|| MemberError::Invalid("give the customer a name".into()))?,
            external_id: clean_external_id(input.external_id.flatten())?,
            assigned: 0,
            created_at: now,
            updated_at: now,
        };
        tx.insert_customer(&customer)
            .await
            .map_err(name_taken("customer"))?;
        audit_named(
            &mut *tx,
            grant,
            "customer.created",
            "customer",
            customer.id.as_uuid(),
            json!({
                "name": customer.name.as_str(),
                "external_id": customer.external_id,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(customer)
    }

    pub async fn update_customer(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: CustomerId,
        input: CustomerInput,
    ) -> Result<Customer, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::CustomersManage)
            .await?;
        let before = tx
            .customer(locked.org.id, id)
            .await?
            .filter(|_| {
                locked
                    .customers
                    .as_ref()
                    .is_none_or(|mine| mine.contains(&id))
            })
            .ok_or(MemberError::NotFound)?;
        let after = Customer {
            name: input.name.unwrap_or_else(|| before.name.clone()),
            external_id: match input.external_id {
                Some(e) => clean_external_id(e)?,
                None => before.external_id.clone(),
            },
            updated_at: now,
            ..before.clone()
        };
        if !tx
            .update_customer(&after)
            .await
            .map_err(name_taken("customer"))?
        {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "customer.updated",
            "customer",
            id.as_uuid(),
            json!({
                "name": { "from": before.name.as_str(), "to": after.name.as_str() },
                "external_id": { "from": before.external_id, "to": after.external_id },
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes a customer assigned to nobody: 409 `customer_in_use` otherwise, because a
    /// member whose last assignment vanished would suddenly see every customer.
    pub async fn delete_customer(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: CustomerId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::CustomersManage)
            .await?;
        let before = tx
            .customer(locked.org.id, id)
            .await?
            .filter(|_| {
                locked
                    .customers
                    .as_ref()
                    .is_none_or(|mine| mine.contains(&id))
            })
            .ok_or(MemberError::NotFound)?;
        if before.assigned > 0 {
            return Err(MemberError::InUse {
                what: "customer",
                detail: format!(
                    "the customer is assigned to {} member(s); change their customer selection first",
                    before.assigned
                ),
            });
        }
        if !tx.delete_customer(locked.org.id, id).await? {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "customer.deleted",
            "customer",
            id.as_uuid(),
            json!({
                "name": before.name.as_str(),
                "external_id": before.external_id,
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn entities(&self, view: &OrgView) -> Result<Vec<Entity>, StoreError> {
        self.store.reads().await?.entities(view.org_id()).await
    }

    pub async fn entity(&self, view: &OrgView, id: EntityId) -> Result<Option<Entity>, StoreError> {
        self.store.reads().await?.entity(view.org_id(), id).await
    }

    pub async fn create_entity(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        name: Option<DisplayName>,
    ) -> Result<Entity, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::OrgSettings)
            .await?;
        let entity = Entity {
            id: EntityId::new(),
            org_id: locked.org.id,
            name: name.ok_or_else(|| MemberError::Invalid("give the entity a name".into()))?,
            members: 0,
            created_at: now,
            updated_at: now,
        };
        tx.insert_entity(&entity)
            .await
            .map_err(name_taken("entity"))?;
        audit_named(
            &mut *tx,
            grant,
            "entity.created",
            "entity",
            entity.id.as_uuid(),
            json!({
                "name": entity.name.as_str(),
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(entity)
    }

    pub async fn rename_entity(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: EntityId,
        name: Option<DisplayName>,
    ) -> Result<Entity, MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::OrgSettings)
            .await?;
        let before = tx
            .entity(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let Some(name) = name else {
            return Ok(before);
        };
        let after = Entity {
            name,
            updated_at: now,
            ..before.clone()
        };
        if !tx
            .update_entity(&after)
            .await
            .map_err(name_taken("entity"))?
        {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "entity.updated",
            "entity",
            id.as_uuid(),
            json!({
                "name": { "from": before.name.as_str(), "to": after.name.as_str() },
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Deletes an entity no member is in and no admin scope names: 409 `entity_in_use`
    /// otherwise, because a scope that lost its last entity would widen to the whole
    /// organization.
    pub async fn delete_entity(
        &self,
        grant: &OrgGrant,
        caller: &Caller,
        id: EntityId,
    ) -> Result<(), MemberError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let locked = self
            .lock_for(&mut *tx, grant, caller, Permission::OrgSettings)
            .await?;
        let before = tx
            .entity(locked.org.id, id)
            .await?
            .ok_or(MemberError::NotFound)?;
        let scopes = tx.entity_in_scopes(locked.org.id, id).await?;
        if before.members > 0 || scopes > 0 {
            return Err(MemberError::InUse {
                what: "entity",
                detail: format!(
                    "{} member(s) are in this entity and {} admin scope(s) name it; move them first",
                    before.members, scopes
                ),
            });
        }
        if !tx.delete_entity(locked.org.id, id).await? {
            return Err(MemberError::NotFound);
        }
        audit_named(
            &mut *tx,
            grant,
            "entity.deleted",
            "entity",
            id.as_uuid(),
            json!({
                "name": before.name.as_str(),
            }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn audit_role(
    tx: &mut dyn Tx,
    grant: &OrgGrant,
    action: &'static str,
    role: &CustomRole,
    before: Option<&CustomRole>,
    now: crate::clock::Timestamp,
) -> Result<(), MemberError> {
    let details = json!({
        "name": role.name.as_str(),
        "permissions": role.permissions,
        "customer_scoped": role.customer_scoped,
        "before": before.map(|b| json!({
            "name": b.name.as_str(),
            "permissions": b.permissions,
            "customer_scoped": b.customer_scoped,
        })),
    });
    audit_named(tx, grant, action, "role", role.id.as_uuid(), details, now).await
}

async fn audit_named(
    tx: &mut dyn Tx,
    grant: &OrgGrant,
    action: &'static str,
    kind: &str,
    id: uuid::Uuid,
    details: serde_json::Value,
    now: crate::clock::Timestamp,
) -> Result<(), MemberError> {
    tx.append_audit(&AuditEvent::new(
        Some(grant.org_id()),
        grant.actor(),
        action,
        target(kind, id),
        details,
        now,
    ))
    .await?;
    Ok(())
}
