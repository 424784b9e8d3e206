//! Queries, on a plain connection or inside a transaction.

use crate::access::{self, id_list};
use crate::convert::{corrupt, count, get, parse, permissions};
use crate::{map_err, sign_in, sso, tasks, PgConn};
use async_trait::async_trait;
use roster_core::clock::Timestamp;
use roster_core::email::Email;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::{DisplayName, Slug};
use roster_core::secrets::SecretHash;
use roster_core::store::{
    AccessDefinitions, AccessSources, CustomerAssignment, MemberAccess, MemberFilter, MemberView,
    OutboxCounts, OutboxFilter, Reads, RoleUsage, SessionHolder, StoreResult, TokenCheck,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::BTreeSet;
use std::sync::LazyLock;
use uuid::Uuid;

pub(crate) fn org(row: &PgRow) -> StoreResult<Organization> {
    org_with(row, "")
}

/// An organization from columns named with `prefix` (`o_id`, `o_name`, …) beside others.
fn org_with(row: &PgRow, prefix: &str) -> StoreResult<Organization> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Organization {
        id: OrgId::from_uuid(get(row, &col("id"))?),
        kind: parse(OrgKind::parse(&get::<String>(row, &col("kind"))?))?,
        name: parse(DisplayName::parse(&get::<String>(row, &col("name"))?))?,
        slug: parse(Slug::parse(&get::<String>(row, &col("slug"))?))?,
        settings: parse(serde_json::from_value(get(row, &col("settings"))?))?,
        created_at: get(row, &col("created_at"))?,
        updated_at: get(row, &col("updated_at"))?,
        access_version: version(get(row, &col("access_version"))?)?,
    })
}

/// An `access_version` column back to the model's `u64`.
pub(crate) fn version(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| corrupt(format!("bad access_version {v}")))
}

pub(crate) fn identity(row: &PgRow) -> StoreResult<Identity> {
    identity_with(row, "")
}

/// An identity from columns named with `prefix` (a join's `i_id`, `i_email`, ...).
fn identity_with(row: &PgRow, prefix: &str) -> StoreResult<Identity> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Identity {
        id: IdentityId::from_uuid(get(row, &col("id"))?),
        email: parse(Email::parse(&get::<String>(row, &col("email"))?))?,
        name: get::<Option<String>>(row, &col("name"))?
            .map(|n| parse(DisplayName::parse(&n)))
            .transpose()?,
        password_hash: get(row, &col("password_hash"))?,
        email_verified_at: get(row, &col("email_verified_at"))?,
        timezone: get(row, &col("timezone"))?,
        locale: get(row, &col("locale"))?,
        created_at: get(row, &col("created_at"))?,
        updated_at: get(row, &col("updated_at"))?,
    })
}

/// The identity's columns as [`identity_with`] reads them with the prefix `i_`.
const IDENTITY_AS_I: &str = "i.id AS i_id, i.email AS i_email, i.name AS i_name, \
    i.password_hash AS i_password_hash, i.email_verified_at AS i_email_verified_at, \
    i.timezone AS i_timezone, i.locale AS i_locale, i.created_at AS i_created_at, \
    i.updated_at AS i_updated_at";

/// Expects the membership columns plus `roles`, a comma-separated list, the arrays
/// `custom_role_ids`, `group_ids` and `admin_scope_ids`, and `entity_id` (see
/// [`MEMBERSHIP_SELECT`]).
pub(crate) fn membership(row: &PgRow) -> StoreResult<Membership> {
    membership_with(row, "")
}

/// A membership from columns named with `prefix` (see [`membership_columns_as`]).
pub(crate) fn membership_with(row: &PgRow, prefix: &str) -> StoreResult<Membership> {
    let col = |c| crate::convert::prefixed(prefix, c);
    let roles = get::<Option<String>>(row, &col("roles"))?.unwrap_or_default();
    let mut roles = roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| parse(BuiltinRole::parse(r)))
        .collect::<StoreResult<Vec<_>>>()?;
    roles.sort();
    Ok(Membership {
        id: MembershipId::from_uuid(get(row, &col("id"))?),
        org_id: OrgId::from_uuid(get(row, &col("org_id"))?),
        identity_id: IdentityId::from_uuid(get(row, &col("identity_id"))?),
        status: parse(MembershipStatus::parse(&get::<String>(
            row,
            &col("status"),
        )?))?,
        roles,
        custom_roles: id_list(get(row, &col("custom_role_ids"))?, RoleId::from_uuid),
        groups: id_list(get(row, &col("group_ids"))?, GroupId::from_uuid),
        entity: get::<Option<Uuid>>(row, &col("entity_id"))?.map(EntityId::from_uuid),
        admin_scope: id_list(get(row, &col("admin_scope_ids"))?, EntityId::from_uuid),
        created_at: get(row, &col("created_at"))?,
        updated_at: get(row, &col("updated_at"))?,
        removed_at: get(row, &col("removed_at"))?,
    })
}

pub(crate) fn invitation(row: &PgRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: InvitationId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        membership_id: MembershipId::from_uuid(get(row, "membership_id")?),
        identity_id: IdentityId::from_uuid(get(row, "identity_id")?),
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        invited_by: parse(Actor::from_parts(
            &get::<String>(row, "invited_by_kind")?,
            get::<Option<Uuid>>(row, "invited_by_id")?,
        ))?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        accepted_at: get(row, "accepted_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

pub(crate) fn session(row: &PgRow) -> StoreResult<Session> {
    session_with(row, "")
}

/// A session from columns named with `prefix` (a join's `s_id`, `s_token_hash`, ...).
fn session_with(row: &PgRow, prefix: &str) -> StoreResult<Session> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Session {
        id: SessionId::from_uuid(get(row, &col("id"))?),
        identity_id: IdentityId::from_uuid(get(row, &col("identity_id"))?),
        token_hash: SecretHash::from_stored(get::<String>(row, &col("token_hash"))?),
        csrf_hash: SecretHash::from_stored(get::<String>(row, &col("csrf_hash"))?),
        created_at: get(row, &col("created_at"))?,
        last_seen_at: get(row, &col("last_seen_at"))?,
        expires_at: get(row, &col("expires_at"))?,
        idle_timeout_minutes: count(
            get(row, &col("idle_timeout_minutes"))?,
            "idle_timeout_minutes",
        )?,
        revoked_at: get(row, &col("revoked_at"))?,
    })
}

/// The session's columns as [`session_with`] reads them with the prefix `s_`.
const SESSION_AS_S: &str = "s.id AS s_id, s.identity_id AS s_identity_id, \
    s.token_hash AS s_token_hash, s.csrf_hash AS s_csrf_hash, s.created_at AS s_created_at, \
    s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, \
    s.idle_timeout_minutes AS s_idle_timeout_minutes, s.revoked_at AS s_revoked_at";

/// The organization's columns as [`org_with`] reads them with the prefix `o_`.
const ORG_AS_O: &str = "o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.slug AS o_slug, \
    o.settings AS o_settings, o.created_at AS o_created_at, o.updated_at AS o_updated_at, \
    o.access_version AS o_access_version";

pub(crate) fn api_token(row: &PgRow) -> StoreResult<ApiToken> {
    api_token_with(row, "")
}

/// A token from columns named with `prefix` (a join's `t_id`, `t_token_hash`, ...).
fn api_token_with(row: &PgRow, prefix: &str) -> StoreResult<ApiToken> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(get(row, &col("id"))?),
        kind: parse(ApiTokenKind::parse(&get::<String>(row, &col("kind"))?))?,
        org_id: get::<Option<Uuid>>(row, &col("org_id"))?.map(OrgId::from_uuid),
        name: get(row, &col("name"))?,
        token_hash: SecretHash::from_stored(get::<String>(row, &col("token_hash"))?),
        created_by: get::<Option<Uuid>>(row, &col("created_by"))?.map(IdentityId::from_uuid),
        permissions: permissions(get(row, &col("permissions"))?)?,
        created_at: get(row, &col("created_at"))?,
        expires_at: get(row, &col("expires_at"))?,
        revoked_at: get(row, &col("revoked_at"))?,
        last_used_at: get(row, &col("last_used_at"))?,
    })
}

/// The token's columns as [`api_token_with`] reads them with the prefix `t_`.
const TOKEN_AS_T: &str = "t.id AS t_id, t.kind AS t_kind, t.org_id AS t_org_id, \
    t.name AS t_name, t.token_hash AS t_token_hash, t.created_by AS t_created_by, \
    t.permissions AS t_permissions, t.created_at AS t_created_at, \
    t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at, \
    t.last_used_at AS t_last_used_at";

pub(crate) fn audit(row: &PgRow) -> StoreResult<AuditEvent> {
    let target_kind: Option<String> = get(row, "target_kind")?;
    let target_id: Option<Uuid> = get(row, "target_id")?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(get(row, "id")?),
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        at: get(row, "at")?,
        actor: parse(Actor::from_parts(
            &get::<String>(row, "actor_kind")?,
            get::<Option<Uuid>>(row, "actor_id")?,
        ))?,
        action: get(row, "action")?,
        target: match (target_kind, target_id) {
            (Some(kind), Some(id)) => Some(AuditTarget { kind, id }),
            _ => None,
        },
        details: get(row, "details")?,
    })
}

pub(crate) fn outbox(row: &PgRow) -> StoreResult<OutboxMessage> {
    Ok(OutboxMessage {
        id: OutboxId::from_uuid(get(row, "id")?),
        org_id: get::<Option<Uuid>>(row, "org_id")?.map(OrgId::from_uuid),
        recipient: parse(Email::parse(&get::<String>(row, "recipient")?))?,
        kind: get(row, "kind")?,
        notice: get::<Option<serde_json::Value>>(row, "payload")?
            .map(|p| parse(serde_json::from_value(p)))
            .transpose()?,
        status: parse(OutboxStatus::parse(&get::<String>(row, "status")?))?,
        attempts: count(get(row, "attempts")?, "attempts")?,
        next_attempt_at: get(row, "next_attempt_at")?,
        lease_until: get(row, "lease_until")?,
        last_error: get(row, "last_error")?,
        created_at: get(row, "created_at")?,
        sent_at: get(row, "sent_at")?,
    })
}

/// A membership's columns (from `m`) as [`membership`] reads them, without `FROM`.
macro_rules! membership_columns {
    () => {
        "SELECT m.*, \
    (SELECT string_agg(r.role, ',') FROM membership_roles r WHERE r.membership_id = m.id) AS roles, \
    ARRAY(SELECT c.role_id FROM membership_custom_roles c \
          WHERE c.membership_id = m.id AND c.org_id = m.org_id ORDER BY c.role_id) AS custom_role_ids, \
    ARRAY(SELECT g.group_id FROM group_members g \
          WHERE g.membership_id = m.id AND g.org_id = m.org_id ORDER BY g.group_id) AS group_ids, \
    (SELECT e.entity_id FROM membership_entities e \
     WHERE e.membership_id = m.id AND e.org_id = m.org_id) AS entity_id, \
    ARRAY(SELECT s.entity_id FROM admin_scopes s \
          WHERE s.membership_id = m.id AND s.org_id = m.org_id ORDER BY s.entity_id) AS admin_scope_ids"
    };
}

pub(crate) const MEMBERSHIP_SELECT: &str = concat!(membership_columns!(), " FROM memberships m");

/// A token (`t_` columns) with its creator's live membership (unprefixed, NULL when
/// there is none) and that organization (`o_`), as `Reads::api_token_with_creator` answers.
fn token_with_creator(row: &PgRow) -> StoreResult<(ApiToken, Option<(Membership, Organization)>)> {
    let creator = match get::<Option<Uuid>>(row, "id")? {
        Some(_) => Some((membership(row)?, org_with(row, "o_")?)),
        None => None,
    };
    Ok((api_token_with(row, "t_")?, creator))
}

/// A membership's columns as [`membership_with`] reads them, of the membership `alias`,
/// each named with `prefix`: for a row that holds two memberships. `membership_columns!`
/// is the same for `m` without a prefix, as a literal for `concat!`, and with the table's
/// other columns. `alias` must not be one its subqueries use (`r`, `c`, `g`, `e`, `s`).
pub(crate) fn membership_columns_as(alias: &str, prefix: &str) -> String {
    let (a, p) = (alias, prefix);
    format!(
        "{a}.id AS {p}id, {a}.org_id AS {p}org_id, {a}.identity_id AS {p}identity_id, \
         {a}.status AS {p}status, {a}.created_at AS {p}created_at, \
         {a}.updated_at AS {p}updated_at, {a}.removed_at AS {p}removed_at, \
         (SELECT string_agg(r.role, ',') FROM membership_roles r \
           WHERE r.membership_id = {a}.id) AS {p}roles, \
         ARRAY(SELECT c.role_id FROM membership_custom_roles c \
           WHERE c.membership_id = {a}.id AND c.org_id = {a}.org_id ORDER BY c.role_id) \
           AS {p}custom_role_ids, \
         ARRAY(SELECT g.group_id FROM group_members g \
           WHERE g.membership_id = {a}.id AND g.org_id = {a}.org_id ORDER BY g.group_id) \
           AS {p}group_ids, \
         (SELECT e.entity_id FROM membership_entities e \
           WHERE e.membership_id = {a}.id AND e.org_id = {a}.org_id) AS {p}entity_id, \
         ARRAY(SELECT s.entity_id FROM admin_scopes s \
           WHERE s.membership_id = {a}.id AND s.org_id = {a}.org_id ORDER BY s.entity_id) \
           AS {p}admin_scope_ids"
    )
}

pub(crate) fn page_of<T>(
    mut items: Vec<T>,
    limit: u32,
    total: i64,
    id: impl Fn(&T) -> Uuid,
) -> Page<T> {
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    Page {
        next_after: if more { items.last().map(id) } else { None },
        items,
        total: u64::try_from(total).unwrap_or(0),
        total_capped: false,
    }
}

/// The conditions of a member list (after `WHERE`, over `memberships m` joined with
/// `identities i`), only those the filter sets, so each statement's plan, generic or not,
/// is the one its filters need.
fn push_member_matches(b: &mut QueryBuilder<'_, Postgres>, org: OrgId, filter: &MemberFilter) {
    b.push("m.org_id = ")
        .push_bind(org.as_uuid())
        .push(" AND m.status <> 'removed'");
    if let Some(status) = filter.status {
        b.push(" AND m.status = ").push_bind(status.as_str());
    }
    if let Some(role) = filter.role {
        b.push(" AND EXISTS (SELECT 1 FROM membership_roles x WHERE x.membership_id = m.id AND x.org_id = ")
            .push_bind(org.as_uuid())
            .push(" AND x.role = ")
            .push_bind(role.as_str())
            .push(")");
    }
    let mut exists = |table: &str, column: &str, value: Uuid| {
        b.push(format!(
            " AND EXISTS (SELECT 1 FROM {table} x WHERE x.membership_id = m.id AND x.org_id = "
        ))
        .push_bind(org.as_uuid())
        .push(format!(" AND x.{column} = "))
        .push_bind(value)
        .push(")");
    };
    if let Some(role) = filter.custom_role {
        exists("membership_custom_roles", "role_id", role.as_uuid());
    }
    if let Some(group) = filter.group {
        exists("group_members", "group_id", group.as_uuid());
    }
    if let Some(entity) = filter.entity {
        exists("membership_entities", "entity_id", entity.as_uuid());
    }
    if let Some(customer) = filter.customer {
        exists("customer_assignments", "customer_id", customer.as_uuid());
    }
    if let Some(within) = &filter.within {
        let within: Vec<Uuid> = within.iter().map(|e| e.as_uuid()).collect();
        b.push(" AND EXISTS (SELECT 1 FROM membership_entities e WHERE e.membership_id = m.id AND e.org_id = ")
            .push_bind(org.as_uuid())
            .push(" AND e.entity_id = ANY(")
            .push_bind(within)
            .push("))");
    }
    if let Some(q) = &filter.q {
        if q.chars().count() < 3 {
            // One or two characters hold no trigram: such a pattern would scan the whole
            // index, every organization's identities; reading this list's members is less.
            b.push(" AND (strpos(i.email_key, ")
                .push_bind(q.clone())
                .push(") > 0 OR strpos(coalesce(i.name_key, ''), ")
                .push_bind(q.clone())
                .push(") > 0)");
            return;
        }
        // `LIKE '%q%'`, which the trigram indexes of migration 0009 serve (`strpos` would
        // read every member); the text's own wildcards are escaped.
        let escaped = q
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        b.push(" AND (i.email_key LIKE ")
            .push_bind(pattern.clone())
            .push(" OR i.name_key LIKE ")
            .push_bind(pattern)
            .push(")");
    }
}

/// Members with their identity's email and name, from rows of a member list.
fn member_views(rows: Vec<PgRow>) -> StoreResult<Vec<MemberView>> {
    rows.iter()
        .map(|row| {
            Ok(MemberView {
                membership: membership(row)?,
                email: parse(Email::parse(&get::<String>(row, "identity_email")?))?,
                name: get(row, "identity_name")?,
            })
        })
        .collect()
}

/// An organization's members in `status`, or in every status but removed, from the counts
/// the membership trigger keeps (migration 0009).
async fn member_count(
    c: &mut PgConnection,
    org: OrgId,
    status: Option<MembershipStatus>,
) -> StoreResult<i64> {
    let column = match status {
        None => "invited + active + deactivated",
        Some(MembershipStatus::Invited) => "invited",
        Some(MembershipStatus::Active) => "active",
        Some(MembershipStatus::Deactivated) => "deactivated",
        Some(MembershipStatus::Removed) => return Ok(0),
    };
    let n: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT {column} FROM member_counts WHERE org_id = $1"
    ))
    .bind(org.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?;
    Ok(n.unwrap_or(0))
}

#[async_trait]
impl Reads for PgConn {
    fn in_transaction(&self) -> bool {
        matches!(self.conn, crate::Conn::Tx(_))
    }

    async fn org(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn org_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn list_orgs(&mut self, page: PageRequest) -> StoreResult<Page<Organization>> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
            .fetch_one(self.c())
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT * FROM organizations WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(page.after)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.c())
        .await
        .map_err(map_err)?;
        let items = rows.iter().map(org).collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, total, |o| o.id.as_uuid()))
    }

    async fn identity(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn identity_by_email(&mut self, email: &Email) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE email_key = $1")
            .bind(email.key())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn membership(
        &mut self,
        org: OrgId,
        id: MembershipId,
    ) -> StoreResult<Option<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.id = $2"
        ))
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?
        .as_ref()
        .map(membership)
        .transpose()
    }

    async fn membership_of(
        &mut self,
        org: OrgId,
        identity: IdentityId,
    ) -> StoreResult<Option<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.identity_id = $2 AND m.status <> 'removed'"
        ))
        .bind(org.as_uuid())
        .bind(identity.as_uuid())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?
        .as_ref()
        .map(membership)
        .transpose()
    }

    async fn memberships_of_identity(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<Membership>> {
        sqlx::query(&format!(
            "{MEMBERSHIP_SELECT} WHERE m.identity_id = $1 AND m.status <> 'removed' ORDER BY m.id"
        ))
        .bind(identity.as_uuid())
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(membership)
        .collect()
    }

    async fn memberships_with_orgs(
        &mut self,
        identity: IdentityId,
    ) -> StoreResult<Vec<(Membership, Organization)>> {
        sqlx::query(&format!(
            "SELECT x.*, {ORG_AS_O} \
             FROM ({MEMBERSHIP_SELECT} WHERE m.identity_id = $1 AND m.status <> 'removed') x \
             JOIN organizations o ON o.id = x.org_id ORDER BY x.id"
        ))
        .bind(identity.as_uuid())
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| Ok((membership(row)?, org_with(row, "o_")?)))
        .collect()
    }

    async fn count_active_admins(&mut self, org: OrgId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memberships m WHERE m.org_id = $1 AND m.status = 'active' \
             AND EXISTS (SELECT 1 FROM membership_roles r \
                         WHERE r.membership_id = m.id AND r.org_id = $1 AND r.role = 'admin') \
             AND NOT EXISTS (SELECT 1 FROM admin_scopes s \
                             WHERE s.membership_id = m.id AND s.org_id = $1)",
        )
        .bind(org.as_uuid())
        .fetch_one(self.c())
        .await
        .map_err(map_err)?;
        u64::try_from(n).map_err(|_| corrupt(format!("bad admin count {n}")))
    }

    async fn list_members(
        &mut self,
        org: OrgId,
        filter: &MemberFilter,
        page: PageRequest,
    ) -> StoreResult<Page<MemberView>> {
        let cap = MemberFilter::COUNT_CAP as i64;
        if filter.q.is_some() {
            // One pass through the trigram indexes gathers every match up to the cap; when
            // that is all of them, they are counted and paged here and the page is read by
            // id, instead of searching once to count and again for the page.
            let mut matches = QueryBuilder::<Postgres>::new(
                "SELECT m.id FROM memberships m JOIN identities i ON i.id = m.identity_id WHERE ",
            );
            push_member_matches(&mut matches, org, filter);
            matches.push(" LIMIT ").push_bind(cap + 1);
            let mut ids: Vec<Uuid> = matches
                .build_query_scalar()
                .fetch_all(self.c())
                .await
                .map_err(map_err)?;
            if ids.len() as i64 <= cap {
                // Uuid order is PostgreSQL's order of `m.id`.
                ids.sort_unstable();
                let total = ids.len() as i64;
                let chosen: Vec<Uuid> = ids
                    .into_iter()
                    .filter(|id| page.after.is_none_or(|a| *id > a))
                    .take(page.limit as usize + 1)
                    .collect();
                let rows = sqlx::query(&format!(
                    "SELECT x.*, i.email AS identity_email, i.name AS identity_name FROM \
                     ({MEMBERSHIP_SELECT} WHERE m.org_id = $1 AND m.id = ANY($2)) x \
                     JOIN identities i ON i.id = x.identity_id ORDER BY x.id"
                ))
                .bind(org.as_uuid())
                .bind(chosen)
                .fetch_all(self.c())
                .await
                .map_err(map_err)?;
                let items = member_views(rows)?;
                return Ok(page_of(items, page.limit, total, |m| {
                    m.membership.id.as_uuid()
                }));
            }
        }
        let (total, total_capped) = if filter.q.is_some() {
            (cap, true)
        } else if filter.narrows_beyond_status() {
            let mut count = QueryBuilder::<Postgres>::new(
                "SELECT count(*) FROM (SELECT 1 FROM memberships m \
                 JOIN identities i ON i.id = m.identity_id WHERE ",
            );
            push_member_matches(&mut count, org, filter);
            count.push(" LIMIT ").push_bind(cap + 1).push(") c");
            let n: i64 = count
                .build_query_scalar()
                .fetch_one(self.c())
                .await
                .map_err(map_err)?;
            (n.min(cap), n > cap)
        } else {
            (member_count(self.c(), org, filter.status).await?, false)
        };
        let mut rows = QueryBuilder::<Postgres>::new(format!(
            "SELECT x.*, i.email AS identity_email, i.name AS identity_name FROM \
             ({MEMBERSHIP_SELECT} JOIN identities i ON i.id = m.identity_id WHERE "
        ));
        push_member_matches(&mut rows, org, filter);
        // Only a cursor that is there joins the statement: with `($n IS NULL OR m.id > $n)`
        // PostgreSQL's generic plan, used after a few executions, filters every member.
        if let Some(after) = page.after {
            rows.push(" AND m.id > ").push_bind(after);
        }
        rows.push(" ORDER BY m.id LIMIT ")
            .push_bind(i64::from(page.limit) + 1)
            .push(") x JOIN identities i ON i.id = x.identity_id ORDER BY x.id");
        let items = member_views(rows.build().fetch_all(self.c()).await.map_err(map_err)?)?;
        let mut page = page_of(items, page.limit, total, |m| m.membership.id.as_uuid());
        page.total_capped = total_capped;
        Ok(page)
    }

    async fn latest_invitation_of(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<Invitation>> {
        sqlx::query(
            "SELECT * FROM invitations WHERE org_id = $1 AND membership_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(org.as_uuid())
        .bind(membership.as_uuid())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?
        .as_ref()
        .map(invitation)
        .transpose()
    }

    async fn custom_roles(&mut self, org: OrgId) -> StoreResult<Vec<CustomRole>> {
        access::custom_roles(self.c(), org).await
    }

    async fn custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<Option<CustomRole>> {
        access::custom_role_by_id(self.c(), org, id).await
    }

    async fn role_usage(&mut self, org: OrgId, id: RoleId) -> StoreResult<RoleUsage> {
        access::role_usage(self.c(), org, id).await
    }

    async fn groups(&mut self, org: OrgId) -> StoreResult<Vec<Group>> {
        access::groups(self.c(), org).await
    }

    async fn group(&mut self, org: OrgId, id: GroupId) -> StoreResult<Option<Group>> {
        access::group_by_id(self.c(), org, id).await
    }
    async fn access_sources(
        &mut self,
        org: OrgId,
        roles: &[RoleId],
        groups: &[GroupId],
    ) -> StoreResult<AccessSources> {
        access::access_sources(self.c(), org, roles, groups).await
    }
    async fn member_access(
        &mut self,
        org: OrgId,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<MemberAccess>> {
        access::member_access(self.c(), org, identity, customer).await
    }
    async fn access_definitions(&mut self, org: OrgId) -> StoreResult<AccessDefinitions> {
        access::access_definitions(self.c(), org).await
    }

    async fn list_customers(
        &mut self,
        org: OrgId,
        assigned_to: Option<MembershipId>,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        access::list_customers(self.c(), org, assigned_to, page).await
    }

    async fn customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<Option<Customer>> {
        access::customer_by_id(self.c(), org, id).await
    }

    async fn customer_assignments(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Vec<CustomerId>> {
        access::customer_assignments(self.c(), org, membership).await
    }

    async fn customer_assignment(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        customer: CustomerId,
    ) -> StoreResult<Option<CustomerAssignment>> {
        access::customer_assignment(self.c(), org, membership, customer).await
    }
    async fn entities(&mut self, org: OrgId) -> StoreResult<Vec<Entity>> {
        access::entities(self.c(), org).await
    }

    async fn entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<Option<Entity>> {
        access::entity_by_id(self.c(), org, id).await
    }

    async fn entity_in_scopes(&mut self, org: OrgId, id: EntityId) -> StoreResult<u64> {
        access::entity_in_scopes(self.c(), org, id).await
    }

    async fn last_sign_in_at(&mut self, identity: IdentityId) -> StoreResult<Option<Timestamp>> {
        sqlx::query_scalar(
            "SELECT max(at) FROM sign_in_attempts WHERE identity_id = $1 AND code = 'succeeded'",
        )
        .bind(identity.as_uuid())
        .fetch_one(self.c())
        .await
        .map_err(map_err)
    }

    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>> {
        sqlx::query("SELECT * FROM invitations WHERE token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(invitation)
            .transpose()
    }

    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE token_hash = $1")
            .bind(hash.as_str())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(session)
            .transpose()
    }

    async fn session_with_holder(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<SessionHolder>> {
        // One row per live membership, or one with the membership's columns NULL when
        // there is none; the session and identity repeat on each.
        let rows = sqlx::query(&format!(
            "{}, {ORG_AS_O}, {SESSION_AS_S}, {IDENTITY_AS_I} FROM sessions s \
             JOIN identities i ON i.id = s.identity_id \
             LEFT JOIN memberships m ON m.identity_id = i.id AND m.status <> 'removed' \
             LEFT JOIN organizations o ON o.id = m.org_id \
             WHERE s.token_hash = $1 ORDER BY m.id",
            membership_columns!()
        ))
        .bind(hash.as_str())
        .fetch_all(self.c())
        .await
        .map_err(map_err)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut memberships = Vec::with_capacity(rows.len());
        for row in &rows {
            if get::<Option<Uuid>>(row, "id")?.is_some() {
                memberships.push((membership(row)?, org_with(row, "o_")?));
            }
        }
        Ok(Some(SessionHolder {
            session: session_with(first, "s_")?,
            identity: identity_with(first, "i_")?,
            memberships,
        }))
    }

    async fn sessions_of_identity(&mut self, identity: IdentityId) -> StoreResult<Vec<Session>> {
        sqlx::query(
            "SELECT * FROM sessions WHERE identity_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(identity.as_uuid())
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(session)
        .collect()
    }

    async fn api_token_with_creator(
        &mut self,
        hash: &SecretHash,
    ) -> StoreResult<Option<(ApiToken, Option<(Membership, Organization)>)>> {
        // At most one live membership per organization and identity: one row.
        let row = sqlx::query(&format!(
            "{}, {ORG_AS_O}, {TOKEN_AS_T} FROM api_tokens t \
             LEFT JOIN memberships m ON m.identity_id = t.created_by AND m.org_id = t.org_id \
             AND m.status <> 'removed' \
             LEFT JOIN organizations o ON o.id = m.org_id \
             WHERE t.token_hash = $1",
            membership_columns!()
        ))
        .bind(hash.as_str())
        .fetch_optional(self.c())
        .await
        .map_err(map_err)?;
        row.as_ref().map(token_with_creator).transpose()
    }

    async fn token_check(
        &mut self,
        hash: &SecretHash,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<TokenCheck>> {
        // One statement, one round trip: the token's row as `api_token_with_creator` reads
        // it, joined with the member's as `member_access` reads it, named with `a_`. At
        // most one live membership per organization and identity: one row.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "{}, {ORG_AS_O}, {TOKEN_AS_T}, {} FROM api_tokens t \
                 LEFT JOIN memberships m ON m.identity_id = t.created_by \
                 AND m.org_id = t.org_id AND m.status <> 'removed' \
                 LEFT JOIN organizations o ON o.id = m.org_id \
                 LEFT JOIN memberships x ON x.org_id = t.org_id AND x.identity_id = $2 \
                 AND x.status <> 'removed' \
                 WHERE t.token_hash = $1",
                membership_columns!(),
                access::member_access_columns("a_")
            )
        });
        let row = sqlx::query(&SQL)
            .bind(hash.as_str())
            .bind(identity.as_uuid())
            .bind(customer.map(|c| c.as_uuid()))
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (token, creator) = token_with_creator(&row)?;
        let member = match get::<Option<Uuid>>(&row, "a_id")? {
            Some(_) => Some(access::member_access_from(&row, "a_")?),
            None => None,
        };
        Ok(Some(TokenCheck {
            token,
            creator,
            member,
        }))
    }

    async fn api_token(&mut self, org: OrgId, id: ApiTokenId) -> StoreResult<Option<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE org_id = $1 AND id = $2")
            .bind(org.as_uuid())
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(api_token)
            .transpose()
    }

    async fn list_api_tokens(&mut self, org: OrgId) -> StoreResult<Vec<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE org_id = $1 ORDER BY created_at DESC, id DESC")
            .bind(org.as_uuid())
            .fetch_all(self.c())
            .await
            .map_err(map_err)?
            .iter()
            .map(api_token)
            .collect()
    }

    async fn identity_token_by_hash(
        &mut self,
        hash: &SecretHash,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>> {
        sign_in::identity_token_by_hash(self.c(), hash, purpose).await
    }

    async fn latest_identity_token(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>> {
        sign_in::latest_identity_token(self.c(), identity, purpose).await
    }

    async fn throttle(&mut self, scope: &str, key: &str) -> StoreResult<Option<ThrottleState>> {
        sign_in::throttle_state(self.c(), scope, key).await
    }

    async fn sign_in_attempts_of(
        &mut self,
        identity: IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<SignInAttempt>> {
        sign_in::attempts_of(self.c(), identity, limit).await
    }

    async fn list_audit(&mut self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let limit = q.limit.clamp(1, 1000);
        sqlx::query(
            "SELECT * FROM audit_events WHERE org_id IS NOT DISTINCT FROM $1 \
             AND ($2::text IS NULL OR actor_kind = $2) AND ($3::uuid IS NULL OR actor_id = $3) \
             AND ($4::uuid IS NULL OR target_id = $4) AND ($5::text IS NULL OR action = $5) \
             AND ($6::timestamptz IS NULL OR at >= $6) AND ($7::timestamptz IS NULL OR at < $7) \
             AND ($8::uuid IS NULL OR id < $8) ORDER BY id DESC LIMIT $9",
        )
        .bind(q.org_id.map(|o| o.as_uuid()))
        .bind(q.actor.map(|a| a.kind()))
        .bind(q.actor.and_then(|a| a.id()))
        .bind(q.target_id)
        .bind(q.action.as_deref())
        .bind(q.since)
        .bind(q.until)
        .bind(q.before.map(|b| b.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(audit)
        .collect()
    }

    async fn outbox_message(&mut self, id: OutboxId) -> StoreResult<Option<OutboxMessage>> {
        sqlx::query("SELECT * FROM outbox WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_optional(self.c())
            .await
            .map_err(map_err)?
            .as_ref()
            .map(outbox)
            .transpose()
    }

    async fn list_outbox(&mut self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxMessage>> {
        sqlx::query(
            "SELECT * FROM outbox WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(filter.status.map(|s| s.as_str()))
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(self.c())
        .await
        .map_err(map_err)?
        .iter()
        .map(outbox)
        .collect()
    }

    async fn outbox_counts(&mut self) -> StoreResult<OutboxCounts> {
        tasks::outbox_counts(self.c()).await
    }
    async fn task(&mut self, org: OrgId, id: TaskId) -> StoreResult<Option<Task>> {
        tasks::task_by_id(self.c(), org, id).await
    }
    async fn list_tasks(
        &mut self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Task>> {
        tasks::list_tasks(self.c(), org, filter, page).await
    }
    async fn task_categories(&mut self, org: OrgId) -> StoreResult<Vec<TaskCategory>> {
        tasks::task_categories(self.c(), org).await
    }
    async fn notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<NotificationPrefs>> {
        tasks::notification_prefs(self.c(), org, membership).await
    }
    async fn digests_due(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<DigestDue>> {
        tasks::digests_due(self.c(), now, limit).await
    }
    async fn digests_unplanned(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        tasks::digests_unplanned(self.c(), now, limit).await
    }
    async fn digest_tasks(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        categories: Option<&BTreeSet<String>>,
        customers: &DigestCustomers,
        limit: u32,
    ) -> StoreResult<(Vec<DigestTask>, u64)> {
        tasks::digest_tasks(self.c(), org, membership, categories, customers, limit).await
    }
    async fn digest_record(
        &mut self,
        membership: MembershipId,
        period: &str,
    ) -> StoreResult<Option<DigestRecord>> {
        tasks::digest_record(self.c(), membership, period).await
    }
    async fn sso_connection(&mut self, org: OrgId) -> StoreResult<Option<SsoConnection>> {
        sso::connection_of(self.c(), org).await
    }
    async fn sso_connection_for_domain(
        &mut self,
        domain: &str,
    ) -> StoreResult<Option<SsoConnection>> {
        sso::connection_for_domain(self.c(), domain).await
    }
    async fn sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityId>> {
        sso::subject(self.c(), org, issuer, subject).await
    }
}
