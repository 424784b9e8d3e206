//! The access model's tables: custom roles, groups, customers, entities, and the links of
//! a membership to them. The `Reads` and `Tx` impls call these.
//!
//! Every link row carries the organization and the schema's composite foreign keys refuse
//! a link to another organization's row; every query here matches on the organization too.

use crate::columns::Columns;
use crate::convert::{corrupt, ms, parse, time, uuid};
use crate::inline::{Fold, Statements};
use crate::reads::{get, page_of};
use crate::{map_err, SqliteConn};
use roster_core::access::PermissionCode;
use roster_core::clock::Timestamp;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{search_key, DisplayName};
use roster_core::store::{
    AccessDefinitions, AccessSources, CustomerAssignment, MemberAccess, RoleUsage, StoreResult,
};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Comma-separated ids (from `group_concat`) back to typed ids, sorted.
pub(crate) fn id_list<T: Ord>(v: Option<String>, make: fn(uuid::Uuid) -> T) -> StoreResult<Vec<T>> {
    let mut ids = v
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| uuid(s).map(make))
        .collect::<StoreResult<Vec<T>>>()?;
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn count<R: Columns>(row: &R, col: &str) -> StoreResult<u64> {
    let n: i64 = get(row, col)?;
    u64::try_from(n).map_err(|_| corrupt(format!("bad {col} {n}")))
}

fn name<R: Columns>(row: &R) -> StoreResult<DisplayName> {
    parse(DisplayName::parse(&get::<String>(row, "name")?))
}

fn custom_role<R: Columns>(row: &R) -> StoreResult<CustomRole> {
    let codes: Vec<String> = parse(serde_json::from_str(&get::<String>(row, "permissions")?))?;
    Ok(CustomRole {
        id: RoleId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        name: name(row)?,
        description: get(row, "description")?,
        permissions: codes
            .iter()
            .map(|c| parse(PermissionCode::parse(c)))
            .collect::<StoreResult<BTreeSet<_>>>()?,
        customer_scoped: get::<i64>(row, "customer_scoped")? != 0,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

fn group<R: Columns>(row: &R) -> StoreResult<Group> {
    let mut roles = get::<Option<String>>(row, "builtins")?
        .unwrap_or_default()
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| parse(BuiltinRole::parse(r)))
        .collect::<StoreResult<Vec<_>>>()?;
    roles.sort();
    Ok(Group {
        id: GroupId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        name: name(row)?,
        description: get(row, "description")?,
        roles,
        custom_roles: id_list(get(row, "custom_roles")?, RoleId::from_uuid)?,
        members: count(row, "members")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

fn customer(row: &SqliteRow) -> StoreResult<Customer> {
    Ok(Customer {
        id: CustomerId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        name: name(row)?,
        external_id: get(row, "external_id")?,
        assigned: count(row, "assigned")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

fn entity(row: &SqliteRow) -> StoreResult<Entity> {
    Ok(Entity {
        id: EntityId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        name: name(row)?,
        members: count(row, "members")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

/// Live members only: removed memberships keep their links for the record, but count for
/// nothing.
const LIVE: &str =
    "EXISTS (SELECT 1 FROM memberships m WHERE m.id = l.membership_id AND m.status <> 'removed')";

fn group_select() -> String {
    format!(
        "SELECT g.*, \
         (SELECT group_concat(r.builtin, ',') FROM group_roles r WHERE r.group_id = g.id AND r.builtin IS NOT NULL) AS builtins, \
         (SELECT group_concat(r.role_id, ',') FROM group_roles r WHERE r.group_id = g.id AND r.role_id IS NOT NULL) AS custom_roles, \
         (SELECT count(*) FROM group_members l WHERE l.group_id = g.id AND {LIVE}) AS members \
         FROM member_groups g"
    )
}

fn customer_select() -> String {
    format!(
        "SELECT c.*, (SELECT count(*) FROM customer_assignments l WHERE l.customer_id = c.id AND {LIVE}) AS assigned \
         FROM customers c"
    )
}

fn entity_select() -> String {
    format!(
        "SELECT e.*, (SELECT count(*) FROM membership_entities l WHERE l.entity_id = e.id AND {LIVE}) AS members \
         FROM entities e"
    )
}

pub(crate) async fn custom_roles(
    c: &mut SqliteConnection,
    org: OrgId,
) -> StoreResult<Vec<CustomRole>> {
    sqlx::query("SELECT * FROM roles WHERE org_id = ? ORDER BY name_key, id")
        .bind(org.to_string())
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(custom_role)
        .collect()
}

/// The statement behind `Reads::access_sources` and `Reads::access_definitions`, two kinds
/// of rows told apart by `source`: the groups whose ids `groups` selects, then the custom
/// roles whose ids `roles` selects or that those groups hold. Each kind leaves the other's
/// columns NULL. `?1` is the organization. `more` adds rows of another kind (the same
/// columns, `UNION ALL` first).
fn sources_sql(roles: &str, groups: &str, more: &str) -> String {
    format!(
        "WITH g AS (SELECT * FROM member_groups WHERE org_id = ?1 AND id IN ({groups})) \
         SELECT 'group' AS source, g.id, g.org_id, g.name, g.name_key, g.description, \
           g.created_at, g.updated_at, \
           (SELECT group_concat(r.builtin, ',') FROM group_roles r \
             WHERE r.group_id = g.id AND r.builtin IS NOT NULL) AS builtins, \
           (SELECT group_concat(r.role_id, ',') FROM group_roles r \
             WHERE r.group_id = g.id AND r.role_id IS NOT NULL) AS custom_roles, \
           0 AS members, NULL AS permissions, NULL AS customer_scoped, NULL AS version \
         FROM g \
         UNION ALL \
         SELECT 'role', r.id, r.org_id, r.name, r.name_key, r.description, \
           r.created_at, r.updated_at, NULL, NULL, NULL, r.permissions, r.customer_scoped, NULL \
         FROM roles r \
         WHERE r.org_id = ?1 AND (r.id IN ({roles}) \
           OR r.id IN (SELECT l.role_id FROM group_roles l \
                       WHERE l.group_id IN (SELECT id FROM g) AND l.role_id IS NOT NULL)) \
         {more} \
         ORDER BY source, name_key, id"
    )
}

/// Adds a row of [`sources_sql`] to `sources`; false for a row of another kind.
fn add_source<R: Columns>(sources: &mut AccessSources, kind: &str, row: &R) -> StoreResult<bool> {
    match kind {
        "group" => sources.groups.push(group(row)?),
        "role" => sources.custom_roles.push(custom_role(row)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// See `Reads::access_sources`: the ids asked for travel as JSON arrays.
pub(crate) async fn access_sources(
    c: &mut SqliteConn,
    org: OrgId,
    roles: &[RoleId],
    groups: &[GroupId],
) -> StoreResult<AccessSources> {
    static SQL: LazyLock<Statements> = LazyLock::new(|| {
        Statements::new(vec![sources_sql(
            "SELECT value FROM json_each(?2)",
            "SELECT value FROM json_each(?3)",
            "",
        )])
    });
    let ids = |ids: Vec<String>| serde_json::to_string(&ids).map_err(|e| corrupt(e.to_string()));
    let org = org.to_string();
    let roles = ids(roles.iter().map(ToString::to_string).collect())?;
    let groups = ids(groups.iter().map(ToString::to_string).collect())?;
    let rows: SourceRows = c
        .fold(&SQL, &[Some(&org), Some(&roles), Some(&groups)])
        .await?;
    Ok(rows.0)
}

/// [`access_sources`]'s rows.
#[derive(Default)]
struct SourceRows(AccessSources);

impl Fold for SourceRows {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        let kind: String = get(row, "source")?;
        if !add_source(&mut self.0, &kind, row)? {
            return Err(corrupt(format!("unexpected access source {kind}")));
        }
        Ok(())
    }
}

/// See `Reads::access_definitions`: every group and custom role of the organization, and
/// its `access_version` as one more row, in one statement, so the version is the one the
/// rows were read at. No row at all: there is no such organization. Read through sqlx's
/// connection thread, not inline: an organization may have many roles and groups, and
/// this runs once per change and instance, not per request.
pub(crate) async fn access_definitions(
    c: &mut SqliteConnection,
    org: OrgId,
) -> StoreResult<AccessDefinitions> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        sources_sql(
            "SELECT id FROM roles WHERE org_id = ?1",
            "SELECT id FROM member_groups WHERE org_id = ?1",
            "UNION ALL \
             SELECT 'version', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
               NULL, NULL, o.access_version FROM organizations o WHERE o.id = ?1",
        )
    });
    let rows = sqlx::query(&SQL)
        .bind(org.to_string())
        .fetch_all(c)
        .await
        .map_err(map_err)?;
    let mut read = DefinitionRows::default();
    for row in &rows {
        read.add(row)?;
    }
    Ok(AccessDefinitions {
        version: read.version.unwrap_or(0),
        custom_roles: read.sources.custom_roles,
        groups: read.sources.groups,
    })
}

/// [`access_definitions`]'s rows.
#[derive(Default)]
struct DefinitionRows {
    sources: AccessSources,
    version: Option<u64>,
}

impl Fold for DefinitionRows {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        let kind: String = get(row, "source")?;
        if kind == "version" {
            self.version = Some(crate::reads::version(get(row, "version")?)?);
        } else if !add_source(&mut self.sources, &kind, row)? {
            return Err(corrupt(format!("unexpected access source {kind}")));
        }
        Ok(())
    }
}

/// See `Reads::member_access`: the columns of the membership `x` with its organization's
/// `access_version` and, for a customer (`?3`, or NULL), whether the organization has it
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
           CASE WHEN ?3 IS NULL THEN NULL ELSE EXISTS \
             (SELECT 1 FROM customers c WHERE c.org_id = x.org_id AND c.id = ?3) END \
             AS {p}customer_exists, \
           EXISTS (SELECT 1 FROM customer_assignments a WHERE a.org_id = x.org_id \
                   AND a.membership_id = x.id AND a.customer_id = ?3) AS {p}assigned, \
           CASE WHEN ?3 IS NULL THEN 0 ELSE (SELECT count(*) FROM customer_assignments a \
             WHERE a.org_id = x.org_id AND a.membership_id = x.id) END AS {p}assigned_total",
        crate::reads::membership_columns_as("x", prefix)
    )
}

pub(crate) async fn member_access(
    c: &mut SqliteConn,
    org: OrgId,
    identity: IdentityId,
    customer: Option<CustomerId>,
) -> StoreResult<Option<MemberAccess>> {
    static SQL: LazyLock<Statements> = LazyLock::new(|| {
        Statements::new(vec![format!(
            "SELECT {} FROM memberships x \
             WHERE x.org_id = ?1 AND x.identity_id = ?2 AND x.status <> 'removed'",
            member_access_columns("")
        )])
    });
    let (org, identity) = (org.to_string(), identity.to_string());
    let customer = customer.map(|c| c.to_string());
    let rows: AccessRow = c
        .fold(&SQL, &[Some(&org), Some(&identity), customer.as_deref()])
        .await?;
    Ok(rows.0)
}

/// See `Tx::org_for_update_with_access`: the organization, then `identity`'s access in it,
/// in one call to the connection's thread instead of two. Every use case that changes an
/// organization's members begins so, holding the one writer, where each call is a handoff
/// of tens of microseconds under load (see `docs/benchmarks.md`, *The writer's time, call
/// by call*). The rows of the two statements are told apart by `row_kind`.
pub(crate) async fn org_with_access(
    c: &mut SqliteConn,
    org: OrgId,
    identity: Option<IdentityId>,
) -> StoreResult<(Option<Organization>, Option<MemberAccess>)> {
    static SQL: LazyLock<Statements> = LazyLock::new(|| {
        Statements::new(vec![
            format!(
                "SELECT 'org' AS row_kind, {} FROM organizations o WHERE o.id = ?1",
                crate::reads::ORG_AS_O
            ),
            format!(
                "SELECT 'access' AS row_kind, {} FROM memberships x \
                 WHERE x.org_id = ?1 AND x.identity_id = ?2 AND x.status <> 'removed'",
                member_access_columns("")
            ),
        ])
    });
    let (org, identity) = (org.to_string(), identity.map(|i| i.to_string()));
    let rows: OrgAndAccess = c
        .fold(&SQL, &[Some(&org), identity.as_deref(), None])
        .await?;
    Ok((rows.org, rows.access.0))
}

/// [`org_with_access`]'s rows.
#[derive(Default)]
struct OrgAndAccess {
    org: Option<Organization>,
    access: AccessRow,
}

impl Fold for OrgAndAccess {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        match get::<String>(row, "row_kind")?.as_str() {
            "org" => self.org = Some(crate::reads::org_with(row, "o_")?),
            "access" => self.access.add(row)?,
            other => return Err(corrupt(format!("a row of unknown kind {other}"))),
        }
        Ok(())
    }
}

/// [`member_access`]'s row, if any (at most one membership per organization and identity
/// is not removed).
#[derive(Default)]
pub(crate) struct AccessRow(pub Option<MemberAccess>);

impl Fold for AccessRow {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        let exists: Option<i64> = get(row, "customer_exists")?;
        self.0 = Some(MemberAccess {
            membership: crate::reads::membership(row)?,
            access_version: crate::reads::version(get(row, "access_version")?)?,
            customer: match exists {
                Some(1) => Some(CustomerAssignment {
                    assigned: get::<i64>(row, "assigned")? != 0,
                    assigned_total: count(row, "assigned_total")?,
                }),
                _ => None,
            },
        });
        Ok(())
    }
}

pub(crate) async fn custom_role_by_id(
    c: &mut SqliteConnection,
    org: OrgId,
    id: RoleId,
) -> StoreResult<Option<CustomRole>> {
    sqlx::query("SELECT * FROM roles WHERE org_id = ? AND id = ?")
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(custom_role)
        .transpose()
}

pub(crate) async fn role_usage(
    c: &mut SqliteConnection,
    org: OrgId,
    id: RoleId,
) -> StoreResult<RoleUsage> {
    let row = sqlx::query(&format!(
        "SELECT (SELECT count(*) FROM membership_custom_roles l WHERE l.org_id = ?1 AND l.role_id = ?2 AND {LIVE}) AS members, \
                (SELECT count(*) FROM group_roles r WHERE r.org_id = ?1 AND r.role_id = ?2) AS groups_n"
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    Ok(RoleUsage {
        members: count(&row, "members")?,
        groups: count(&row, "groups_n")?,
    })
}

pub(crate) async fn groups(c: &mut SqliteConnection, org: OrgId) -> StoreResult<Vec<Group>> {
    sqlx::query(&format!(
        "{} WHERE g.org_id = ? ORDER BY g.name_key, g.id",
        group_select()
    ))
    .bind(org.to_string())
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(group)
    .collect()
}

pub(crate) async fn group_by_id(
    c: &mut SqliteConnection,
    org: OrgId,
    id: GroupId,
) -> StoreResult<Option<Group>> {
    sqlx::query(&format!(
        "{} WHERE g.org_id = ? AND g.id = ?",
        group_select()
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(group)
    .transpose()
}

pub(crate) async fn list_customers(
    c: &mut SqliteConnection,
    org: OrgId,
    assigned_to: Option<MembershipId>,
    page: PageRequest,
) -> StoreResult<Page<Customer>> {
    const MATCHES: &str =
        "c.org_id = ?1 AND (?2 IS NULL OR EXISTS (SELECT 1 FROM customer_assignments a \
        WHERE a.org_id = ?1 AND a.customer_id = c.id AND a.membership_id = ?2))";
    let assigned = assigned_to.map(|m| m.to_string());
    let total: i64 =
        sqlx::query_scalar(&format!("SELECT count(*) FROM customers c WHERE {MATCHES}"))
            .bind(org.to_string())
            .bind(assigned.clone())
            .fetch_one(&mut *c)
            .await
            .map_err(map_err)?;
    let items = sqlx::query(&format!(
        "{} WHERE {MATCHES} AND (?3 IS NULL OR c.id > ?3) ORDER BY c.id LIMIT ?4",
        customer_select()
    ))
    .bind(org.to_string())
    .bind(assigned)
    .bind(page.after.map(|a| a.to_string()))
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
    c: &mut SqliteConnection,
    org: OrgId,
    id: CustomerId,
) -> StoreResult<Option<Customer>> {
    sqlx::query(&format!(
        "{} WHERE c.org_id = ? AND c.id = ?",
        customer_select()
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(customer)
    .transpose()
}

pub(crate) async fn customer_assignments(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
) -> StoreResult<Vec<CustomerId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT customer_id FROM customer_assignments WHERE org_id = ? AND membership_id = ? ORDER BY customer_id",
    )
    .bind(org.to_string())
    .bind(membership.to_string())
    .fetch_all(c)
    .await
    .map_err(map_err)?;
    ids.iter()
        .map(|s| uuid(s).map(CustomerId::from_uuid))
        .collect()
}

pub(crate) async fn customer_assignment(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
    customer: CustomerId,
) -> StoreResult<Option<CustomerAssignment>> {
    let row = sqlx::query(
        "SELECT EXISTS (SELECT 1 FROM customer_assignments a WHERE a.org_id = ?1 \
                        AND a.membership_id = ?2 AND a.customer_id = ?3) AS assigned, \
                (SELECT count(*) FROM customer_assignments a WHERE a.org_id = ?1 \
                 AND a.membership_id = ?2) AS assigned_total \
         FROM customers c WHERE c.org_id = ?1 AND c.id = ?3",
    )
    .bind(org.to_string())
    .bind(membership.to_string())
    .bind(customer.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?;
    row.map(|row| {
        Ok(CustomerAssignment {
            assigned: get::<i64>(&row, "assigned")? != 0,
            assigned_total: count(&row, "assigned_total")?,
        })
    })
    .transpose()
}

pub(crate) async fn entities(c: &mut SqliteConnection, org: OrgId) -> StoreResult<Vec<Entity>> {
    sqlx::query(&format!(
        "{} WHERE e.org_id = ? ORDER BY e.name_key, e.id",
        entity_select()
    ))
    .bind(org.to_string())
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(entity)
    .collect()
}

pub(crate) async fn entity_by_id(
    c: &mut SqliteConnection,
    org: OrgId,
    id: EntityId,
) -> StoreResult<Option<Entity>> {
    sqlx::query(&format!(
        "{} WHERE e.org_id = ? AND e.id = ?",
        entity_select()
    ))
    .bind(org.to_string())
    .bind(id.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    .as_ref()
    .map(entity)
    .transpose()
}

pub(crate) async fn entity_in_scopes(
    c: &mut SqliteConnection,
    org: OrgId,
    id: EntityId,
) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM admin_scopes l WHERE l.org_id = ? AND l.entity_id = ? AND {LIVE}"
    ))
    .bind(org.to_string())
    .bind(id.to_string())
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

/// Replaces a membership's links of one kind. False when the membership is absent,
/// another organization's, or removed. The write lock of `BEGIN IMMEDIATE` keeps the
/// delete-and-insert from interleaving with another writer.
pub(crate) async fn replace_links(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
    link: Link,
    ids: &[uuid::Uuid],
    at: Option<Timestamp>,
) -> StoreResult<bool> {
    if let Some(at) = at {
        let r = sqlx::query(
            "UPDATE memberships SET updated_at = ? WHERE org_id = ? AND id = ? AND status <> 'removed'",
        )
        .bind(ms(at))
        .bind(org.to_string())
        .bind(membership.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
    }
    let (table, column) = link.table_and_column();
    sqlx::query(&format!(
        "DELETE FROM {table} WHERE org_id = ? AND membership_id = ?"
    ))
    .bind(org.to_string())
    .bind(membership.to_string())
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    for id in ids.iter().collect::<BTreeSet<_>>() {
        sqlx::query(&format!(
            "INSERT INTO {table} (membership_id, org_id, {column}) VALUES (?, ?, ?)"
        ))
        .bind(membership.to_string())
        .bind(org.to_string())
        .bind(id.to_string())
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

pub(crate) async fn insert_custom_role(
    c: &mut SqliteConnection,
    r: &CustomRole,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO roles (id, org_id, name, name_key, description, permissions, customer_scoped, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.id.to_string())
    .bind(r.org_id.to_string())
    .bind(r.name.as_str())
    .bind(search_key(r.name.as_str()))
    .bind(r.description.as_deref())
    .bind(codes_json(&r.permissions)?)
    .bind(i64::from(r.customer_scoped))
    .bind(ms(r.created_at))
    .bind(ms(r.updated_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_custom_role(
    c: &mut SqliteConnection,
    r: &CustomRole,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE roles SET name = ?, name_key = ?, description = ?, permissions = ?, customer_scoped = ?, \
         updated_at = ? WHERE org_id = ? AND id = ?",
    )
    .bind(r.name.as_str())
    .bind(search_key(r.name.as_str()))
    .bind(r.description.as_deref())
    .bind(codes_json(&r.permissions)?)
    .bind(i64::from(r.customer_scoped))
    .bind(ms(r.updated_at))
    .bind(r.org_id.to_string())
    .bind(r.id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes `DELETE FROM {table} WHERE org_id = ? AND {column} = ?` for each link table,
/// then the row itself.
async fn delete_with_links(
    c: &mut SqliteConnection,
    org: OrgId,
    id: uuid::Uuid,
    links: &[(&str, &str)],
    table: &str,
) -> StoreResult<bool> {
    for (link_table, column) in links {
        sqlx::query(&format!(
            "DELETE FROM {link_table} WHERE org_id = ? AND {column} = ?"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    }
    let r = sqlx::query(&format!("DELETE FROM {table} WHERE org_id = ? AND id = ?"))
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_custom_role(
    c: &mut SqliteConnection,
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

async fn write_group_roles(c: &mut SqliteConnection, g: &Group) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_roles WHERE org_id = ? AND group_id = ?")
        .bind(g.org_id.to_string())
        .bind(g.id.to_string())
        .execute(&mut *c)
        .await
        .map_err(map_err)?;
    for role in g.roles.iter().collect::<BTreeSet<_>>() {
        sqlx::query("INSERT INTO group_roles (group_id, org_id, builtin) VALUES (?, ?, ?)")
            .bind(g.id.to_string())
            .bind(g.org_id.to_string())
            .bind(role.as_str())
            .execute(&mut *c)
            .await
            .map_err(map_err)?;
    }
    for role in g.custom_roles.iter().collect::<BTreeSet<_>>() {
        sqlx::query("INSERT INTO group_roles (group_id, org_id, role_id) VALUES (?, ?, ?)")
            .bind(g.id.to_string())
            .bind(g.org_id.to_string())
            .bind(role.to_string())
            .execute(&mut *c)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

pub(crate) async fn insert_group(c: &mut SqliteConnection, g: &Group) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO member_groups (id, org_id, name, name_key, description, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(g.id.to_string())
    .bind(g.org_id.to_string())
    .bind(g.name.as_str())
    .bind(search_key(g.name.as_str()))
    .bind(g.description.as_deref())
    .bind(ms(g.created_at))
    .bind(ms(g.updated_at))
    .execute(&mut *c)
    .await
    .map_err(map_err)?;
    write_group_roles(c, g).await
}

pub(crate) async fn update_group(c: &mut SqliteConnection, g: &Group) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE member_groups SET name = ?, name_key = ?, description = ?, updated_at = ? \
         WHERE org_id = ? AND id = ?",
    )
    .bind(g.name.as_str())
    .bind(search_key(g.name.as_str()))
    .bind(g.description.as_deref())
    .bind(ms(g.updated_at))
    .bind(g.org_id.to_string())
    .bind(g.id.to_string())
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
    c: &mut SqliteConnection,
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

pub(crate) async fn insert_customer(c: &mut SqliteConnection, x: &Customer) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO customers (id, org_id, name, external_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(x.id.to_string())
    .bind(x.org_id.to_string())
    .bind(x.name.as_str())
    .bind(x.external_id.as_deref())
    .bind(ms(x.created_at))
    .bind(ms(x.updated_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_customer(c: &mut SqliteConnection, x: &Customer) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE customers SET name = ?, external_id = ?, updated_at = ? WHERE org_id = ? AND id = ?",
    )
    .bind(x.name.as_str())
    .bind(x.external_id.as_deref())
    .bind(ms(x.updated_at))
    .bind(x.org_id.to_string())
    .bind(x.id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_customer(
    c: &mut SqliteConnection,
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

pub(crate) async fn insert_entity(c: &mut SqliteConnection, e: &Entity) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO entities (id, org_id, name, name_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.to_string())
    .bind(e.org_id.to_string())
    .bind(e.name.as_str())
    .bind(search_key(e.name.as_str()))
    .bind(ms(e.created_at))
    .bind(ms(e.updated_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_entity(c: &mut SqliteConnection, e: &Entity) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE entities SET name = ?, name_key = ?, updated_at = ? WHERE org_id = ? AND id = ?",
    )
    .bind(e.name.as_str())
    .bind(search_key(e.name.as_str()))
    .bind(ms(e.updated_at))
    .bind(e.org_id.to_string())
    .bind(e.id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() > 0)
}

pub(crate) async fn delete_entity(
    c: &mut SqliteConnection,
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
