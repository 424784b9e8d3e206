//! The access model's tables: custom roles, groups, customers, entities, and the links of
//! a membership to them. The `Reads` and `Tx` impls call these.
//!
//! Every link row carries the organization and the schema's composite foreign keys refuse
//! a link to another organization's row; every query here matches on the organization too.

use crate::convert::{corrupt, get, parse};
use crate::map_err;
use crate::reads::page_of;
use roster_core::access::PermissionCode;
use roster_core::clock::Timestamp;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{search_key, DisplayName};
use roster_core::store::{
    AccessDefinitions, AccessSources, CustomerAssignment, MemberAccess, RoleUsage, StoreResult,
};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use std::collections::BTreeSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// Ids read as a `uuid[]` (from `ARRAY(SELECT ...)`) to typed ids, sorted and without
/// duplicates.
pub(crate) fn id_list<T: Ord>(v: Vec<Uuid>, make: fn(Uuid) -> T) -> Vec<T> {
    let mut ids: Vec<T> = v.into_iter().map(make).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A `count(*)` (BIGINT) back to the model's `u64`.
fn tally(row: &PgRow, col: &str) -> StoreResult<u64> {
    let n: i64 = get(row, col)?;
    u64::try_from(n).map_err(|_| corrupt(format!("bad {col} {n}")))
}

fn name(row: &PgRow) -> StoreResult<DisplayName> {
    parse(DisplayName::parse(&get::<String>(row, "name")?))
}

fn custom_role(row: &PgRow) -> StoreResult<CustomRole> {
    let codes: Vec<String> = parse(serde_json::from_str(&get::<String>(row, "permissions")?))?;
    Ok(CustomRole {
        id: RoleId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        name: name(row)?,
        description: get(row, "description")?,
        permissions: codes
            .iter()
            .map(|c| parse(PermissionCode::parse(c)))
            .collect::<StoreResult<BTreeSet<_>>>()?,
        customer_scoped: get(row, "customer_scoped")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn group(row: &PgRow) -> StoreResult<Group> {
    let mut roles = get::<Vec<String>>(row, "builtins")?
        .iter()
        .map(|r| parse(BuiltinRole::parse(r)))
        .collect::<StoreResult<Vec<_>>>()?;
    roles.sort();
    roles.dedup();
    Ok(Group {
        id: GroupId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        name: name(row)?,
        description: get(row, "description")?,
        roles,
        custom_roles: id_list(get(row, "custom_roles")?, RoleId::from_uuid),
        members: tally(row, "members")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn customer(row: &PgRow) -> StoreResult<Customer> {
    Ok(Customer {
        id: CustomerId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        name: name(row)?,
        external_id: get(row, "external_id")?,
        assigned: tally(row, "assigned")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn entity(row: &PgRow) -> StoreResult<Entity> {
    Ok(Entity {
        id: EntityId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        name: name(row)?,
        members: tally(row, "members")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

/// Live members only: removed memberships keep their links for the record, but count for
/// nothing.
const LIVE: &str = "EXISTS (SELECT 1 FROM memberships m WHERE m.id = l.membership_id \
    AND m.org_id = l.org_id AND m.status <> 'removed')";

fn group_select() -> String {
    format!(
        "SELECT g.*, \
         ARRAY(SELECT r.builtin FROM group_roles r WHERE r.group_id = g.id AND r.org_id = g.org_id \
               AND r.builtin IS NOT NULL ORDER BY r.builtin) AS builtins, \
         ARRAY(SELECT r.role_id FROM group_roles r WHERE r.group_id = g.id AND r.org_id = g.org_id \
               AND r.role_id IS NOT NULL ORDER BY r.role_id) AS custom_roles, \
         (SELECT count(*) FROM group_members l WHERE l.group_id = g.id AND l.org_id = g.org_id \
          AND {LIVE}) AS members \
         FROM member_groups g"
    )
}

fn customer_select() -> String {
    format!(
        "SELECT c.*, (SELECT count(*) FROM customer_assignments l WHERE l.customer_id = c.id \
         AND l.org_id = c.org_id AND {LIVE}) AS assigned \
         FROM customers c"
    )
}

fn entity_select() -> String {
    format!(
        "SELECT e.*, (SELECT count(*) FROM membership_entities l WHERE l.entity_id = e.id \
         AND l.org_id = e.org_id AND {LIVE}) AS members \
         FROM entities e"
    )
}

/// The statement behind `Reads::access_sources` and `Reads::access_definitions`, two kinds
/// of rows told apart by `source`: the organization's (`$1`) groups that `groups` admits,
/// then its custom roles that `roles` admits or that those groups hold. Each kind leaves
/// the other's columns NULL. `more` adds rows of another kind (the same columns, `UNION
/// ALL` first).
fn sources_sql(roles: &str, groups: &str, more: &str) -> String {
    format!(
        "WITH g AS (SELECT * FROM member_groups WHERE org_id = $1 AND {groups}) \
         SELECT 'group' AS source, g.id, g.org_id, g.name, g.name_key, g.description, \
           g.created_at, g.updated_at, \
           ARRAY(SELECT r.builtin FROM group_roles r WHERE r.group_id = g.id \
                 AND r.org_id = g.org_id AND r.builtin IS NOT NULL ORDER BY r.builtin) AS builtins, \
           ARRAY(SELECT r.role_id FROM group_roles r WHERE r.group_id = g.id \
                 AND r.org_id = g.org_id AND r.role_id IS NOT NULL ORDER BY r.role_id) AS custom_roles, \
           0::bigint AS members, NULL::text AS permissions, NULL::boolean AS customer_scoped, \
           NULL::bigint AS version \
         FROM g \
         UNION ALL \
         SELECT 'role', r.id, r.org_id, r.name, r.name_key, r.description, \
           r.created_at, r.updated_at, NULL, NULL, NULL, r.permissions, r.customer_scoped, NULL \
         FROM roles r \
         WHERE r.org_id = $1 AND ({roles} \
           OR r.id IN (SELECT l.role_id FROM group_roles l \
                       WHERE l.org_id = $1 AND l.group_id IN (SELECT id FROM g))) \
         {more} \
         ORDER BY source, name_key, id"
    )
}

/// Adds a row of [`sources_sql`] to `sources`; false for a row of another kind.
fn add_source(sources: &mut AccessSources, kind: &str, row: &PgRow) -> StoreResult<bool> {
    match kind {
        "group" => sources.groups.push(group(row)?),
        "role" => sources.custom_roles.push(custom_role(row)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// See `Reads::access_sources`: the groups asked for, then the custom roles asked for or
/// held by those groups.
pub(crate) async fn access_sources(
    c: &mut PgConnection,
    org: OrgId,
    roles: &[RoleId],
    groups: &[GroupId],
) -> StoreResult<AccessSources> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| sources_sql("r.id = ANY($2)", "id = ANY($3)", ""));
    let rows = sqlx::query(&SQL)
        .bind(org.as_uuid())
        .bind(roles.iter().map(|r| r.as_uuid()).collect::<Vec<Uuid>>())
        .bind(groups.iter().map(|g| g.as_uuid()).collect::<Vec<Uuid>>())
        .fetch_all(c)
        .await
        .map_err(map_err)?;
    let mut sources = AccessSources::default();
    for row in &rows {
        let kind = get::<String>(row, "source")?;
        if !add_source(&mut sources, &kind, row)? {
            return Err(corrupt(format!("unexpected access source {kind}")));
        }
    }
    Ok(sources)
}

/// See `Reads::access_definitions`: every group and custom role of the organization, and
/// its `access_version` as one more row, in one statement, so the version is the one the
/// rows were read at. No row at all: there is no such organization.
pub(crate) async fn access_definitions(
    c: &mut PgConnection,
    org: OrgId,
) -> StoreResult<AccessDefinitions> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        sources_sql(
            "TRUE",
            "TRUE",
            "UNION ALL \
             SELECT 'version', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
               NULL, NULL, o.access_version FROM organizations o WHERE o.id = $1",
        )
    });
    let rows = sqlx::query(&SQL)
        .bind(org.as_uuid())
        .fetch_all(c)
        .await
        .map_err(map_err)?;
    let mut sources = AccessSources::default();
    let mut version = 0;
    for row in &rows {
        let kind = get::<String>(row, "source")?;
        if kind == "version" {
            version = crate::reads::version(get(row, "version")?)?;
        } else if !add_source(&mut sources, &kind, row)? {
            return Err(corrupt(format!("unexpected access source {kind}")));
        }
    }
    Ok(AccessDefinitions {
        version,
        custom_roles: sources.custom_roles,
        groups: sources.groups,
    })
}

/// See `Reads::member_access`: the columns of the membership `x` with its organization's
/// `access_version` and, for a customer (`$3`, or NULL), whether the organization has it
/// (`customer_exists`), whether it is assigned to the membership and how many are; each
/// named with `prefix`, so they can stand beside another membership's columns in one row
/// (`Reads::token_check`: the token's creator and the member asked about). The statement
/// binds the customer as its third parameter.
pub(crate) fn member_access_columns(prefix: &str) -> String {
    let p = prefix;
    format!(
        "{}, \
           (SELECT o.access_version FROM organizations o WHERE o.id = x.org_id) \
             AS {p}access_version, \
           CASE WHEN $3::uuid IS NULL THEN NULL ELSE EXISTS \
             (SELECT 1 FROM customers c WHERE c.org_id = x.org_id AND c.id = $3) END \
             AS {p}customer_exists, \
           EXISTS (SELECT 1 FROM customer_assignments a WHERE a.org_id = x.org_id \
                   AND a.membership_id = x.id AND a.customer_id = $3) AS {p}assigned, \
           CASE WHEN $3::uuid IS NULL THEN 0::bigint ELSE \
             (SELECT count(*) FROM customer_assignments a WHERE a.org_id = x.org_id \
              AND a.membership_id = x.id) END AS {p}assigned_total",
        crate::reads::membership_columns_as("x", prefix)
    )
}

/// See `Reads::member_access`: one statement.
pub(crate) async fn member_access(
    c: &mut PgConnection,
    org: OrgId,
    identity: IdentityId,
    customer: Option<CustomerId>,
) -> StoreResult<Option<MemberAccess>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM memberships x \
             WHERE x.org_id = $1 AND x.identity_id = $2 AND x.status <> 'removed'",
            member_access_columns("")
        )
    });
    let row = sqlx::query(&SQL)
        .bind(org.as_uuid())
        .bind(identity.as_uuid())
        .bind(customer.map(|c| c.as_uuid()))
        .fetch_optional(c)
        .await
        .map_err(map_err)?;
    row.map(|row| member_access_from(&row, "")).transpose()
}

/// A member's access from [`member_access_columns`] named with `prefix`.
pub(crate) fn member_access_from(row: &PgRow, prefix: &str) -> StoreResult<MemberAccess> {
    let col = |c| crate::convert::prefixed(prefix, c);
    Ok(MemberAccess {
        membership: crate::reads::membership_with(row, prefix)?,
        access_version: crate::reads::version(get(row, &col("access_version"))?)?,
        customer: match get::<Option<bool>>(row, &col("customer_exists"))? {
            Some(true) => Some(CustomerAssignment {
                assigned: get(row, &col("assigned"))?,
                assigned_total: tally(row, &col("assigned_total"))?,
            }),
            _ => None,
        },
    })
}

pub(crate) async fn custom_roles(c: &mut PgConnection, org: OrgId) -> StoreResult<Vec<CustomRole>> {
    sqlx::query("SELECT * FROM roles WHERE org_id = $1 ORDER BY name_key, id")
        .bind(org.as_uuid())
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(custom_role)
        .collect()
}

pub(crate) async fn custom_role_by_id(
    c: &mut PgConnection,
    org: OrgId,
    id: RoleId,
) -> StoreResult<Option<CustomRole>> {
    sqlx::query("SELECT * FROM roles WHERE org_id = $1 AND id = $2")
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(custom_role)
        .transpose()
}

pub(crate) async fn role_usage(
    c: &mut PgConnection,
    org: OrgId,
    id: RoleId,
) -> StoreResult<RoleUsage> {
    let row = sqlx::query(&format!(
        "SELECT (SELECT count(*) FROM membership_custom_roles l \
                 WHERE l.org_id = $1 AND l.role_id = $2 AND {LIVE}) AS members, \
                (SELECT count(*) FROM group_roles r \
                 WHERE r.org_id = $1 AND r.role_id = $2) AS groups_n"
    ))
    .bind(org.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    Ok(RoleUsage {
        members: tally(&row, "members")?,
        groups: tally(&row, "groups_n")?,
    })
}

pub(crate) async fn groups(c: &mut PgConnection, org: OrgId) -> StoreResult<Vec<Group>> {
    sqlx::query(&format!(
        "{} WHERE g.org_id = $1 ORDER BY g.name_key, g.id",
        group_select()
    ))
    .bind(org.as_uuid())
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(group)
    .collect()
}

pub(crate) async fn group_by_id(
    c: &mut PgConnection,
    org: OrgId,
    id: GroupId,
) -> StoreResult<Option<Group>> {
    sqlx::query(&format!(
        "{} WHERE g.org_id = $1 AND g.id = $2",
        group_select()
    ))
    .bind(org.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(group)
    .transpose()
}

pub(crate) async fn list_customers(
    c: &mut PgConnection,
    org: OrgId,
    assigned_to: Option<MembershipId>,
    page: PageRequest,
) -> StoreResult<Page<Customer>> {
    // $1 org, $2 the membership the customers must be assigned to.
    const MATCHES: &str = "c.org_id = $1 AND ($2::uuid IS NULL OR EXISTS \
        (SELECT 1 FROM customer_assignments a \
         WHERE a.org_id = $1 AND a.customer_id = c.id AND a.membership_id = $2))";
    let assigned = assigned_to.map(|m| m.as_uuid());
    let total: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM customers c WHERE {MATCHES}"))
            .bind(org.as_uuid())
            .bind(assigned)
            .fetch_one(&mut *c)
            .await
            .map_err(map_err)?;
    let items = sqlx::query(&format!(
        "{} WHERE {MATCHES} AND ($3::uuid IS NULL OR c.id > $3) ORDER BY c.id LIMIT $4",
        customer_select()
    ))
    .bind(org.as_uuid())
    .bind(assigned)
    .bind(page.after)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(customer)
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(page_of(items, page.limit, total, |c| c.id.as_uuid()))
}

pub(crate) async fn customer_by_id(
    c: &mut PgConnection,
    org: OrgId,
    id: CustomerId,
) -> StoreResult<Option<Customer>> {
    sqlx::query(&format!(
        "{} WHERE c.org_id = $1 AND c.id = $2",
        customer_select()
    ))
    .bind(org.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(customer)
    .transpose()
}

pub(crate) async fn customer_assignments(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
) -> StoreResult<Vec<CustomerId>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT customer_id FROM customer_assignments WHERE org_id = $1 AND membership_id = $2 \
         ORDER BY customer_id",
    )
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .fetch_all(c)
    .await
    .map_err(map_err)?;
    Ok(id_list(ids, CustomerId::from_uuid))
}

pub(crate) async fn customer_assignment(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
    customer: CustomerId,
) -> StoreResult<Option<CustomerAssignment>> {
    let row = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM customer_assignments a WHERE a.org_id = $1 \
                        AND a.membership_id = $2 AND a.customer_id = $3) AS assigned, \
                (SELECT count(*) FROM customer_assignments a WHERE a.org_id = $1 \
                 AND a.membership_id = $2) AS assigned_total \
         FROM customers c WHERE c.org_id = $1 AND c.id = $3",
    )
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .bind(customer.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?;
    row.map(|row| {
        let total: i64 = get(&row, "assigned_total")?;
        Ok(CustomerAssignment {
            assigned: get(&row, "assigned")?,
            assigned_total: u64::try_from(total)
                .map_err(|_| corrupt(format!("bad assignment count {total}")))?,
        })
    })
    .transpose()
}

pub(crate) async fn entities(c: &mut PgConnection, org: OrgId) -> StoreResult<Vec<Entity>> {
    sqlx::query(&format!(
        "{} WHERE e.org_id = $1 ORDER BY e.name_key, e.id",
        entity_select()
    ))
    .bind(org.as_uuid())
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(entity)
    .collect()
}

pub(crate) async fn entity_by_id(
    c: &mut PgConnection,
    org: OrgId,
    id: EntityId,
) -> StoreResult<Option<Entity>> {
    sqlx::query(&format!(
        "{} WHERE e.org_id = $1 AND e.id = $2",
        entity_select()
    ))
    .bind(org.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(entity)
    .transpose()
}

pub(crate) async fn entity_in_scopes(
    c: &mut PgConnection,
    org: OrgId,
    id: EntityId,
) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM admin_scopes l WHERE l.org_id = $1 AND l.entity_id = $2 AND {LIVE}"
    ))
    .bind(org.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    u64::try_from(n).map_err(|_| corrupt(format!("bad scope count {n}")))
}

/// Which table links a membership to what.
#[derive(Clone, Copy)]
pub(crate) enum Link {
    CustomRoles,
    Groups,
    Entity,
    AdminScope,
    Customers,
}

impl Link {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            Link::CustomRoles => ("membership_custom_roles", "role_id"),
            Link::Groups => ("group_members", "group_id"),
            Link::Entity => ("membership_entities", "entity_id"),
            Link::AdminScope => ("admin_scopes", "entity_id"),
            Link::Customers => ("customer_assignments", "customer_id"),
        }
    }
}

/// Replaces a membership's links of one kind. With `at`, first touches the membership:
/// that checks it (this organization, not removed; false otherwise) and takes its row
/// lock, so two concurrent replacements of one membership's links apply one after the
/// other and the links end up exactly as one of them set. Without `at` (a membership this
/// transaction has just inserted), only writes the links.
pub(crate) async fn replace_links(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
    link: Link,
    ids: &[Uuid],
    at: Option<Timestamp>,
) -> StoreResult<bool> {
    if let Some(at) = at {
        let r = sqlx::query(
            "UPDATE memberships SET updated_at = $1 WHERE org_id = $2 AND id = $3 \
             AND status <> 'removed'",
        )
        .bind(at)
        .bind(org.as_uuid())
        .bind(membership.as_uuid())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
    }
    let (table, column) = link.table_and_column();
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE org_id = $1 AND membership_id = $2"
    ))
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    let ids: Vec<Uuid> = ids
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !ids.is_empty() {
        sqlx::query(&format!(
            "INSERT INTO {table} (membership_id, org_id, {column}) \
             SELECT $1::uuid, $2::uuid, x FROM unnest($3::uuid[]) AS x"
        ))
        .bind(membership.as_uuid())
        .bind(org.as_uuid())
        .bind(ids)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    }
    Ok(true)
}

fn codes_json(codes: &BTreeSet<PermissionCode>) -> StoreResult<String> {
    serde_json::to_string(&codes.iter().map(PermissionCode::as_str).collect::<Vec<_>>())
        .map_err(|e| corrupt(e.to_string()))
}

pub(crate) async fn insert_custom_role(c: &mut PgConnection, r: &CustomRole) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO roles (id, org_id, name, name_key, description, permissions, customer_scoped, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(r.id.as_uuid())
    .bind(r.org_id.as_uuid())
    .bind(r.name.as_str())
    .bind(search_key(r.name.as_str()))
    .bind(r.description.as_deref())
    .bind(codes_json(&r.permissions)?)
    .bind(r.customer_scoped)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_custom_role(c: &mut PgConnection, r: &CustomRole) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE roles SET name = $1, name_key = $2, description = $3, permissions = $4, \
         customer_scoped = $5, updated_at = $6 WHERE org_id = $7 AND id = $8",
    )
    .bind(r.name.as_str())
    .bind(search_key(r.name.as_str()))
    .bind(r.description.as_deref())
    .bind(codes_json(&r.permissions)?)
    .bind(r.customer_scoped)
    .bind(r.updated_at)
    .bind(r.org_id.as_uuid())
    .bind(r.id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Runs `DELETE FROM {link_table} WHERE org_id = $1 AND {column} = $2` for each link
/// table, then deletes the row itself.
async fn delete_with_links(
    c: &mut PgConnection,
    org: OrgId,
    id: Uuid,
    links: &[(&str, &str)],
    table: &str,
) -> StoreResult<bool> {
    for (link_table, column) in links {
        sqlx::query(&format!(
            "DELETE FROM {link_table} WHERE org_id = $1 AND {column} = $2"
        ))
        .bind(org.as_uuid())
        .bind(id)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    }
    let r = sqlx::query(&format!(
        "DELETE FROM {table} WHERE org_id = $1 AND id = $2"
    ))
    .bind(org.as_uuid())
    .bind(id)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_custom_role(
    c: &mut PgConnection,
    org: OrgId,
    id: RoleId,
) -> StoreResult<bool> {
    delete_with_links(
        c,
        org,
        id.as_uuid(),
        &[
            ("membership_custom_roles", "role_id"),
            ("group_roles", "role_id"),
        ],
        "roles",
    )
    .await
}

async fn write_group_roles(c: &mut PgConnection, g: &Group) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_roles WHERE org_id = $1 AND group_id = $2")
        .bind(g.org_id.as_uuid())
        .bind(g.id.as_uuid())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    let builtins: Vec<&str> = g
        .roles
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|r| r.as_str())
        .collect();
    if !builtins.is_empty() {
        sqlx::query(
            "INSERT INTO group_roles (group_id, org_id, builtin) \
             SELECT $1::uuid, $2::uuid, x FROM unnest($3::text[]) AS x",
        )
        .bind(g.id.as_uuid())
        .bind(g.org_id.as_uuid())
        .bind(builtins)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    }
    let custom: Vec<Uuid> = g
        .custom_roles
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|r| r.as_uuid())
        .collect();
    if !custom.is_empty() {
        sqlx::query(
            "INSERT INTO group_roles (group_id, org_id, role_id) \
             SELECT $1::uuid, $2::uuid, x FROM unnest($3::uuid[]) AS x",
        )
        .bind(g.id.as_uuid())
        .bind(g.org_id.as_uuid())
        .bind(custom)
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) async fn insert_group(c: &mut PgConnection, g: &Group) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO member_groups (id, org_id, name, name_key, description, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(g.id.as_uuid())
    .bind(g.org_id.as_uuid())
    .bind(g.name.as_str())
    .bind(search_key(g.name.as_str()))
    .bind(g.description.as_deref())
    .bind(g.created_at)
    .bind(g.updated_at)
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    write_group_roles(c, g).await
}

pub(crate) async fn update_group(c: &mut PgConnection, g: &Group) -> StoreResult<bool> {
    // The UPDATE takes the group's row lock, so two concurrent changes of one group's
    // roles apply one after the other.
    let r = sqlx::query(
        "UPDATE member_groups SET name = $1, name_key = $2, description = $3, updated_at = $4 \
         WHERE org_id = $5 AND id = $6",
    )
    .bind(g.name.as_str())
    .bind(search_key(g.name.as_str()))
    .bind(g.description.as_deref())
    .bind(g.updated_at)
    .bind(g.org_id.as_uuid())
    .bind(g.id.as_uuid())
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    if r.rows_affected() == 0 {
        return Ok(false);
    }
    write_group_roles(c, g).await?;
    Ok(true)
}

pub(crate) async fn delete_group(
    c: &mut PgConnection,
    org: OrgId,
    id: GroupId,
) -> StoreResult<bool> {
    delete_with_links(
        c,
        org,
        id.as_uuid(),
        &[("group_members", "group_id"), ("group_roles", "group_id")],
        "member_groups",
    )
    .await
}

pub(crate) async fn insert_customer(c: &mut PgConnection, x: &Customer) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO customers (id, org_id, name, external_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(x.id.as_uuid())
    .bind(x.org_id.as_uuid())
    .bind(x.name.as_str())
    .bind(x.external_id.as_deref())
    .bind(x.created_at)
    .bind(x.updated_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_customer(c: &mut PgConnection, x: &Customer) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE customers SET name = $1, external_id = $2, updated_at = $3 \
         WHERE org_id = $4 AND id = $5",
    )
    .bind(x.name.as_str())
    .bind(x.external_id.as_deref())
    .bind(x.updated_at)
    .bind(x.org_id.as_uuid())
    .bind(x.id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_customer(
    c: &mut PgConnection,
    org: OrgId,
    id: CustomerId,
) -> StoreResult<bool> {
    delete_with_links(
        c,
        org,
        id.as_uuid(),
        &[("customer_assignments", "customer_id")],
        "customers",
    )
    .await
}

pub(crate) async fn insert_entity(c: &mut PgConnection, e: &Entity) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO entities (id, org_id, name, name_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.id.as_uuid())
    .bind(e.org_id.as_uuid())
    .bind(e.name.as_str())
    .bind(search_key(e.name.as_str()))
    .bind(e.created_at)
    .bind(e.updated_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_entity(c: &mut PgConnection, e: &Entity) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE entities SET name = $1, name_key = $2, updated_at = $3 \
         WHERE org_id = $4 AND id = $5",
    )
    .bind(e.name.as_str())
    .bind(search_key(e.name.as_str()))
    .bind(e.updated_at)
    .bind(e.org_id.as_uuid())
    .bind(e.id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_entity(
    c: &mut PgConnection,
    org: OrgId,
    id: EntityId,
) -> StoreResult<bool> {
    delete_with_links(
        c,
        org,
        id.as_uuid(),
        &[
            ("membership_entities", "entity_id"),
            ("admin_scopes", "entity_id"),
        ],
        "entities",
    )
    .await
}
