//! Queries, on a plain connection or inside a transaction.

use crate::access::{self, id_list};
use crate::columns::{Columns, Prefixed};
use crate::convert::{corrupt, ms, opt_time, opt_uuid, parse, permissions, time, uuid};
use crate::inline::{Fold, Statements};
use crate::{map_err, sign_in, sso, tasks, SqliteConn};
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
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::BTreeSet;
use std::sync::LazyLock;

pub(crate) use crate::columns::get;

pub(crate) fn org(row: &SqliteRow) -> StoreResult<Organization> {
    org_with(row, "")
}

/// An organization from columns named with `prefix` (`o_id`, `o_name`, …) beside others.
pub(crate) fn org_with<R: Columns>(row: &R, prefix: &str) -> StoreResult<Organization> {
    let row = &Prefixed::new(row, prefix);
    Ok(Organization {
        id: OrgId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        kind: parse(OrgKind::parse(&get::<String>(row, "kind")?))?,
        name: parse(DisplayName::parse(&get::<String>(row, "name")?))?,
        slug: parse(Slug::parse(&get::<String>(row, "slug")?))?,
        settings: parse(serde_json::from_str(&get::<String>(row, "settings")?))?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
        access_version: version(get(row, "access_version")?)?,
    })
}

/// An `access_version` column back to the model's `u64`.
pub(crate) fn version(v: i64) -> StoreResult<u64> {
    u64::try_from(v).map_err(|_| corrupt(format!("bad access_version {v}")))
}

pub(crate) fn identity(row: &SqliteRow) -> StoreResult<Identity> {
    identity_with(row, "")
}

/// An identity from columns named with `prefix` (a join's `i_id`, `i_email`, ...).
pub(crate) fn identity_with<R: Columns>(row: &R, prefix: &str) -> StoreResult<Identity> {
    let row = &Prefixed::new(row, prefix);
    Ok(Identity {
        id: IdentityId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        email: parse(Email::parse(&get::<String>(row, "email")?))?,
        name: get::<Option<String>>(row, "name")?
            .map(|n| parse(DisplayName::parse(&n)))
            .transpose()?,
        password_hash: get(row, "password_hash")?,
        email_verified_at: opt_time(get(row, "email_verified_at")?)?,
        timezone: get(row, "timezone")?,
        locale: get(row, "locale")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

/// The identity's columns as [`identity_with`] reads them with the prefix `i_`.
pub(crate) const IDENTITY_AS_I: &str = "i.id AS i_id, i.email AS i_email, i.name AS i_name, \
    i.password_hash AS i_password_hash, i.email_verified_at AS i_email_verified_at, \
    i.timezone AS i_timezone, i.locale AS i_locale, i.created_at AS i_created_at, \
    i.updated_at AS i_updated_at";

/// Expects the membership columns plus `roles`, a comma-separated list.
pub(crate) fn membership<R: Columns>(row: &R) -> StoreResult<Membership> {
    let roles = get::<Option<String>>(row, "roles")?.unwrap_or_default();
    let mut roles = roles
        .split(',')
        .filter(|r| !r.is_empty())
        .map(|r| parse(BuiltinRole::parse(r)))
        .collect::<StoreResult<Vec<_>>>()?;
    roles.sort();
    Ok(Membership {
        id: MembershipId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        identity_id: IdentityId::from_uuid(uuid(&get::<String>(row, "identity_id")?)?),
        status: parse(MembershipStatus::parse(&get::<String>(row, "status")?))?,
        roles,
        custom_roles: id_list(get(row, "custom_role_ids")?, RoleId::from_uuid)?,
        groups: id_list(get(row, "group_ids")?, GroupId::from_uuid)?,
        entity: opt_uuid(get(row, "entity_id")?)?.map(EntityId::from_uuid),
        admin_scope: id_list(get(row, "admin_scope_ids")?, EntityId::from_uuid)?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
        removed_at: opt_time(get(row, "removed_at")?)?,
    })
}

pub(crate) fn invitation(row: &SqliteRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: InvitationId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        membership_id: MembershipId::from_uuid(uuid(&get::<String>(row, "membership_id")?)?),
        identity_id: IdentityId::from_uuid(uuid(&get::<String>(row, "identity_id")?)?),
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        invited_by: parse(Actor::from_parts(
            &get::<String>(row, "invited_by_kind")?,
            opt_uuid(get(row, "invited_by_id")?)?,
        ))?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
        accepted_at: opt_time(get(row, "accepted_at")?)?,
        revoked_at: opt_time(get(row, "revoked_at")?)?,
    })
}

pub(crate) fn session(row: &SqliteRow) -> StoreResult<Session> {
    session_with(row, "")
}

/// A session from columns named with `prefix` (a join's `s_id`, `s_token_hash`, ...).
fn session_with<R: Columns>(row: &R, prefix: &str) -> StoreResult<Session> {
    let row = &Prefixed::new(row, prefix);
    Ok(Session {
        id: SessionId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        identity_id: IdentityId::from_uuid(uuid(&get::<String>(row, "identity_id")?)?),
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        csrf_hash: SecretHash::from_stored(get::<String>(row, "csrf_hash")?),
        created_at: time(get(row, "created_at")?)?,
        last_seen_at: time(get(row, "last_seen_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
        idle_timeout_minutes: u32::try_from(get::<i64>(row, "idle_timeout_minutes")?)
            .map_err(|_| corrupt("idle_timeout_minutes"))?,
        revoked_at: opt_time(get(row, "revoked_at")?)?,
    })
}

/// The session's columns as [`session_with`] reads them with the prefix `s_`.
const SESSION_AS_S: &str = "s.id AS s_id, s.identity_id AS s_identity_id, \
    s.token_hash AS s_token_hash, s.csrf_hash AS s_csrf_hash, s.created_at AS s_created_at, \
    s.last_seen_at AS s_last_seen_at, s.expires_at AS s_expires_at, \
    s.idle_timeout_minutes AS s_idle_timeout_minutes, s.revoked_at AS s_revoked_at";

/// The organization's columns as [`org_with`] reads them with the prefix `o_`.
pub(crate) const ORG_AS_O: &str =
    "o.id AS o_id, o.kind AS o_kind, o.name AS o_name, o.slug AS o_slug, \
    o.settings AS o_settings, o.created_at AS o_created_at, o.updated_at AS o_updated_at, \
    o.access_version AS o_access_version";

pub(crate) fn api_token(row: &SqliteRow) -> StoreResult<ApiToken> {
    api_token_with(row, "")
}

/// A token from columns named with `prefix` (a join's `t_id`, `t_token_hash`, ...).
fn api_token_with<R: Columns>(row: &R, prefix: &str) -> StoreResult<ApiToken> {
    let row = &Prefixed::new(row, prefix);
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        kind: parse(ApiTokenKind::parse(&get::<String>(row, "kind")?))?,
        org_id: opt_uuid(get(row, "org_id")?)?.map(OrgId::from_uuid),
        name: get(row, "name")?,
        token_hash: SecretHash::from_stored(get::<String>(row, "token_hash")?),
        created_by: opt_uuid(get(row, "created_by")?)?.map(IdentityId::from_uuid),
        permissions: permissions(&get::<String>(row, "permissions")?)?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: opt_time(get(row, "expires_at")?)?,
        revoked_at: opt_time(get(row, "revoked_at")?)?,
        last_used_at: opt_time(get(row, "last_used_at")?)?,
    })
}

/// The token's columns as [`api_token_with`] reads them with the prefix `t_`.
const TOKEN_AS_T: &str = "t.id AS t_id, t.kind AS t_kind, t.org_id AS t_org_id, \
    t.name AS t_name, t.token_hash AS t_token_hash, t.created_by AS t_created_by, \
    t.permissions AS t_permissions, t.created_at AS t_created_at, \
    t.expires_at AS t_expires_at, t.revoked_at AS t_revoked_at, \
    t.last_used_at AS t_last_used_at";

pub(crate) fn audit(row: &SqliteRow) -> StoreResult<AuditEvent> {
    let target_kind: Option<String> = get(row, "target_kind")?;
    let target_id = opt_uuid(get(row, "target_id")?)?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: opt_uuid(get(row, "org_id")?)?.map(OrgId::from_uuid),
        at: time(get(row, "at")?)?,
        actor: parse(Actor::from_parts(
            &get::<String>(row, "actor_kind")?,
            opt_uuid(get(row, "actor_id")?)?,
        ))?,
        action: get(row, "action")?,
        target: match (target_kind, target_id) {
            (Some(kind), Some(id)) => Some(AuditTarget { kind, id }),
            _ => None,
        },
        details: parse(serde_json::from_str(&get::<String>(row, "details")?))?,
    })
}

pub(crate) fn outbox(row: &SqliteRow) -> StoreResult<OutboxMessage> {
    Ok(OutboxMessage {
        id: OutboxId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: opt_uuid(get(row, "org_id")?)?.map(OrgId::from_uuid),
        recipient: parse(Email::parse(&get::<String>(row, "recipient")?))?,
        kind: get(row, "kind")?,
        notice: get::<Option<String>>(row, "payload")?
            .map(|p| parse(serde_json::from_str(&p)))
            .transpose()?,
        status: parse(OutboxStatus::parse(&get::<String>(row, "status")?))?,
        attempts: u32::try_from(get::<i64>(row, "attempts")?).map_err(|_| corrupt("attempts"))?,
        next_attempt_at: time(get(row, "next_attempt_at")?)?,
        lease_until: opt_time(get(row, "lease_until")?)?,
        last_error: get(row, "last_error")?,
        created_at: time(get(row, "created_at")?)?,
        sent_at: opt_time(get(row, "sent_at")?)?,
    })
}

/// The columns of a membership read, over `memberships m`, with its roles, groups, entity
/// and scopes gathered.
macro_rules! membership_columns {
    () => {
        "SELECT m.*, \
    (SELECT group_concat(r.role, ',') FROM membership_roles r WHERE r.membership_id = m.id) AS roles, \
    (SELECT group_concat(c.role_id, ',') FROM membership_custom_roles c WHERE c.membership_id = m.id) AS custom_role_ids, \
    (SELECT group_concat(g.group_id, ',') FROM group_members g WHERE g.membership_id = m.id) AS group_ids, \
    (SELECT e.entity_id FROM membership_entities e WHERE e.membership_id = m.id) AS entity_id, \
    (SELECT group_concat(s.entity_id, ',') FROM admin_scopes s WHERE s.membership_id = m.id) AS admin_scope_ids"
    };
}

pub(crate) const MEMBERSHIP_SELECT: &str = concat!(membership_columns!(), " FROM memberships m");

/// A membership's columns as [`membership`] reads them, of the membership `alias`, each
/// named with `prefix`: for a row that holds two memberships, and for the reads on the
/// inline handle, whose column names must follow from their text alone (no `m.*`; see
/// [`crate::inline::Statements`]). `membership_columns!` is the same for `m` without a
/// prefix, as a literal for `concat!`, and with the table's other columns. `alias` must
/// not be one its subqueries use (`r`, `c`, `g`, `e`, `s`).
pub(crate) fn membership_columns_as(alias: &str, prefix: &str) -> String {
    let (a, p) = (alias, prefix);
    format!(
        "{a}.id AS {p}id, {a}.org_id AS {p}org_id, {a}.identity_id AS {p}identity_id, \
         {a}.status AS {p}status, {a}.created_at AS {p}created_at, \
         {a}.updated_at AS {p}updated_at, {a}.removed_at AS {p}removed_at, \
         (SELECT group_concat(r.role, ',') FROM membership_roles r \
           WHERE r.membership_id = {a}.id) AS {p}roles, \
         (SELECT group_concat(c.role_id, ',') FROM membership_custom_roles c \
           WHERE c.membership_id = {a}.id) AS {p}custom_role_ids, \
         (SELECT group_concat(g.group_id, ',') FROM group_members g \
           WHERE g.membership_id = {a}.id) AS {p}group_ids, \
         (SELECT e.entity_id FROM membership_entities e \
           WHERE e.membership_id = {a}.id) AS {p}entity_id, \
         (SELECT group_concat(s.entity_id, ',') FROM admin_scopes s \
           WHERE s.membership_id = {a}.id) AS {p}admin_scope_ids"
    )
}

/// [`Reads::session_with_holder`]'s rows: the session and its identity on each, and one
/// live membership with its organization on each (none on the one row of a person
/// without any).
#[derive(Default)]
struct HolderRows {
    holder: Option<SessionHolder>,
}

impl Fold for HolderRows {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        let holder = match &mut self.holder {
            Some(holder) => holder,
            None => self.holder.insert(SessionHolder {
                session: session_with(row, "s_")?,
                identity: identity_with(row, "i_")?,
                memberships: Vec::new(),
            }),
        };
        if get::<Option<String>>(row, "id")?.is_some() {
            holder
                .memberships
                .push((membership(row)?, org_with(row, "o_")?));
        }
        Ok(())
    }
}

/// [`Reads::api_token_with_creator`]'s one row: the token, and its creator's live
/// membership in the token's organization, if any.
#[derive(Default)]
struct TokenRow {
    token: Option<(ApiToken, Option<(Membership, Organization)>)>,
}

impl Fold for TokenRow {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        let creator = match get::<Option<String>>(row, "id")? {
            Some(_) => Some((membership(row)?, org_with(row, "o_")?)),
            None => None,
        };
        self.token = Some((api_token_with(row, "t_")?, creator));
        Ok(())
    }
}

/// [`Reads::token_check`]'s one row: the token with its creator's membership, as
/// [`TokenRow`] reads it, and the member asked about, named with `a_`.
#[derive(Default)]
struct TokenCheckRow {
    token: TokenRow,
    member: crate::access::AccessRow,
}

impl Fold for TokenCheckRow {
    fn add<R: Columns>(&mut self, row: &R) -> StoreResult<()> {
        self.token.add(row)?;
        let member = Prefixed::new(row, "a_");
        if get::<Option<String>>(&member, "id")?.is_some() {
            self.member.add(&member)?;
        }
        Ok(())
    }
}

pub(crate) fn page_of<T>(
    mut items: Vec<T>,
    limit: u32,
    total: i64,
    id: impl Fn(&T) -> uuid::Uuid,
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

/// Where a member list's rows come from ([`member_source`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The organization's members in id order, each with its identity; a search reads
    /// each one's email and name.
    Members,
    /// The trigram index's matches (migration 0008) as [`search_matches`] kept them
    /// (`hits`), each with its identity and its membership.
    Hits,
    /// The trigram index's matches as it streams them, the same way, with the search's
    /// `MATCH` among the conditions: a search that stops at the cap without counting.
    Index,
}

/// The rows a member list reads, from `source`. `CROSS JOIN` keeps SQLite to the index's
/// order: left to itself it walks the organization's members and probes the index's
/// matches for each. `INDEXED BY` names the indexes that hold every column the search
/// reads (migration 0010), so a match costs two index reads and no row of either table;
/// left to itself SQLite takes the unique `memberships_live` and then reads each
/// membership's row for its id.
fn member_source(source: Source) -> &'static str {
    match source {
        Source::Members => "memberships m JOIN identities i ON i.id = m.identity_id",
        Source::Hits => {
            "hits \
             CROSS JOIN identities i INDEXED BY identities_search_row_id ON i.search_row = hits.r \
             CROSS JOIN memberships m INDEXED BY memberships_identity ON m.identity_id = i.id"
        }
        Source::Index => {
            "identity_search \
             CROSS JOIN identities i INDEXED BY identities_search_row_id \
               ON i.search_row = identity_search.rowid \
             CROSS JOIN memberships m INDEXED BY memberships_identity ON m.identity_id = i.id"
        }
    }
}

/// A search as an FTS5 query: a quoted string is one phrase of consecutive trigrams, that
/// is a substring; inside it only `"` is special, and doubled.
fn phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

/// The conditions of a member list over [`member_source`], only those the filter sets, so
/// each plan is the one its filters need. A search (`q`) reads each member's email and
/// name from [`Source::Members`], is the index's `MATCH` in [`Source::Index`], and is
/// already in the matches of [`Source::Hits`].
fn push_member_matches(
    b: &mut QueryBuilder<'_, Sqlite>,
    org: OrgId,
    filter: &MemberFilter,
    source: Source,
) -> StoreResult<()> {
    b.push("m.org_id = ")
        .push_bind(org.to_string())
        .push(" AND m.status <> 'removed'");
    if let Some(status) = filter.status {
        b.push(" AND m.status = ").push_bind(status.as_str());
    }
    let mut exists = |table: &str, column: &str, value: String| {
        b.push(format!(
            " AND EXISTS (SELECT 1 FROM {table} x WHERE x.membership_id = m.id AND x.{column} = "
        ))
        .push_bind(value)
        .push(")");
    };
    if let Some(role) = filter.role {
        exists("membership_roles", "role", role.as_str().to_owned());
    }
    if let Some(role) = filter.custom_role {
        exists("membership_custom_roles", "role_id", role.to_string());
    }
    if let Some(group) = filter.group {
        exists("group_members", "group_id", group.to_string());
    }
    if let Some(entity) = filter.entity {
        exists("membership_entities", "entity_id", entity.to_string());
    }
    if let Some(customer) = filter.customer {
        exists("customer_assignments", "customer_id", customer.to_string());
    }
    if let Some(within) = &filter.within {
        let within =
            serde_json::to_string(&within.iter().map(|e| e.to_string()).collect::<Vec<_>>())
                .map_err(|e| corrupt(e.to_string()))?;
        b.push(
            " AND EXISTS (SELECT 1 FROM membership_entities e WHERE e.membership_id = m.id \
             AND e.entity_id IN (SELECT value FROM json_each(",
        )
        .push_bind(within)
        .push(")))");
    }
    match (&filter.q, source) {
        (Some(q), Source::Members) => {
            b.push(" AND (instr(i.email_key, ")
                .push_bind(q.clone())
                .push(") > 0 OR instr(coalesce(i.name_key, ''), ")
                .push_bind(q.clone())
                .push(") > 0)");
        }
        (Some(q), Source::Index) => {
            b.push(" AND identity_search MATCH ").push_bind(phrase(q));
        }
        (Some(_), Source::Hits) | (None, _) => {}
    }
    Ok(())
}

/// How [`search_matches`] found a search's matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SearchWay {
    /// Every match was counted and kept: the organization's members among them are the
    /// ids it gives.
    Hits,
    /// The deployment holds more matches than the organization's rows are worth: its
    /// members are read instead.
    Members,
    /// More than `counted` matches in an organization whose rows are worth more: the ids
    /// it gives are the organization's members among the first `counted` and one. When
    /// they are not more than the cap, [`search_ids`] counts the rest without keeping
    /// them ([`outnumbered`]), and then reads the members or streams the index to the
    /// cap ([`Source::Index`]).
    Index,
}

impl SearchWay {
    fn from_code(code: i64) -> StoreResult<Self> {
        match code {
            0 => Ok(Self::Hits),
            1 => Ok(Self::Members),
            2 => Ok(Self::Index),
            _ => Err(corrupt(format!("no search way {code}"))),
        }
    }
}

/// The most matches a search keeps before it chooses its way: the cap of a filtered
/// count, so that a common part of a name in a large organization, whose members are
/// found past the cap among the first matches, keeps no more than that.
const MATCHES_KEPT: i64 = MemberFilter::COUNT_CAP as i64;

/// The most matches [`outnumbered`] counts, without keeping them: a hundred times the
/// cap, a few milliseconds of the index. An organization whose rows are worth more and a
/// search with more matches than this stream the index to the cap, as before the count.
const MATCHES_COUNTED: i64 = 100 * MemberFilter::COUNT_CAP as i64;

/// How many of the trigram index's matches one membership row is worth. A match costs two
/// reads of compact index entries; a row read instead costs an identity's row, several
/// times the bytes: on a copy of the harness's file, streaming 50,000 matches took 15 ms
/// and reading 13,000 members 17–19 ms. So the index is kept while the deployment's
/// matches are no more than four times the organization's rows.
const MATCHES_PER_ROW: i64 = 4;

/// What the trigram index finds for a search of three characters or more, as one row:
/// the [`SearchWay`], as its code, and but for [`SearchWay::Members`] the organization's
/// members among the matches kept (comma-separated, up to `cap` and one more).
///
/// The index's matches are the whole deployment's, and each one costs two index reads to
/// place in the organization; reading the organization's own members costs one row each.
/// So a small organization on a large deployment, or a common part of a name, is searched
/// faster by reading the members. The matches are counted and kept (`hits`) up to one more
/// than what the organization's membership rows (removed ones included) are worth
/// ([`MATCHES_PER_ROW`]), and never more than `counted` and one. More matches than that
/// sends the search to the members; past `counted`, see [`SearchWay::Index`].
fn search_matches<'a>(
    org: OrgId,
    filter: &MemberFilter,
    cap: i64,
    counted: i64,
) -> StoreResult<QueryBuilder<'a, Sqlite>> {
    let mut b = QueryBuilder::<Sqlite>::new(budget());
    b.push_bind(org.to_string())
        .push(format!(
            "), 0) AS worth, {counted} AS counted), \
             hits AS MATERIALIZED (SELECT rowid AS r FROM identity_search \
             WHERE identity_search MATCH "
        ))
        .push_bind(phrase(filter.q.as_deref().unwrap_or_default()))
        .push(
            " LIMIT (SELECT min(worth, counted) FROM budget) + 1) \
             SELECT way, CASE way WHEN 1 THEN NULL ELSE \
             (SELECT group_concat(id, ',') FROM (SELECT m.id FROM ",
        )
        .push(member_source(Source::Hits))
        .push(" WHERE ");
    push_member_matches(&mut b, org, filter, Source::Hits)?;
    b.push(" LIMIT ").push_bind(cap + 1).push(
        ")) END AS ids \
         FROM (SELECT CASE WHEN n <= min(worth, counted) THEN 0 WHEN worth <= counted THEN 1 \
           ELSE 2 END AS way \
         FROM (SELECT (SELECT count(*) FROM hits) AS n, worth, counted FROM budget))",
    );
    Ok(b)
}

/// The start of a statement about the matches an organization's membership rows, removed
/// ones included, are worth ([`MATCHES_PER_ROW`]): `budget.worth`, once the organization's
/// id is bound after it and the expression closed with `), 0) AS worth`.
fn budget() -> String {
    format!(
        "WITH budget AS (SELECT {MATCHES_PER_ROW} * coalesce((SELECT invited + active \
         + deactivated + removed FROM member_counts WHERE org_id = "
    )
}

/// Whether the trigram index holds more matches of a search than the organization's rows
/// are worth: its matches counted as the index streams them, none kept, up to one more,
/// and never more than [`MATCHES_COUNTED`] and one.
fn outnumbered<'a>(org: OrgId, filter: &MemberFilter) -> QueryBuilder<'a, Sqlite> {
    let mut b = QueryBuilder::<Sqlite>::new(budget());
    b.push_bind(org.to_string())
        .push(
            "), 0) AS worth) SELECT (SELECT count(*) FROM (SELECT 1 FROM identity_search \
             WHERE identity_search MATCH ",
        )
        .push_bind(phrase(filter.q.as_deref().unwrap_or_default()))
        .push(format!(
            " LIMIT (SELECT min(worth, {MATCHES_COUNTED}) FROM budget) + 1)) \
             > (SELECT worth FROM budget)"
        ));
    b
}

/// The ids of an organization's members that a search of three characters or more
/// matches through the trigram index, up to `cap` and one more; or `None` where the
/// deployment holds more matches than the organization's rows are worth (counted up to
/// [`MATCHES_COUNTED`]), and reading its members costs less (see [`search_matches`],
/// which keeps at most `counted`).
async fn search_ids(
    c: &mut SqliteConnection,
    org: OrgId,
    filter: &MemberFilter,
    cap: i64,
    counted: i64,
) -> StoreResult<Option<Vec<String>>> {
    let (way, ids): (i64, Option<String>) = search_matches(org, filter, cap, counted)?
        .build_query_as()
        .fetch_one(&mut *c)
        .await
        .map_err(map_err)?;
    let kept: Vec<String> = ids
        .iter()
        .flat_map(|ids| ids.split(','))
        .map(str::to_owned)
        .collect();
    Ok(match SearchWay::from_code(way)? {
        SearchWay::Hits => Some(kept),
        SearchWay::Members => None,
        // Past the cap among the matches kept is past it among them all.
        SearchWay::Index if kept.len() as i64 > cap => Some(kept),
        // Few of its members among the first matches: the rest are counted, not kept, up
        // to what the organization's rows are worth, and streamed only if they are not
        // more than that.
        SearchWay::Index => {
            let more: bool = outnumbered(org, filter)
                .build_query_scalar()
                .fetch_one(&mut *c)
                .await
                .map_err(map_err)?;
            if more {
                None
            } else {
                Some(
                    streamed_matches(org, filter, cap)?
                        .build_query_scalar()
                        .fetch_all(&mut *c)
                        .await
                        .map_err(map_err)?,
                )
            }
        }
    })
}

/// The ids of an organization's members that a search matches, as the trigram index
/// streams them ([`Source::Index`]), up to `cap` and one more.
fn streamed_matches<'a>(
    org: OrgId,
    filter: &MemberFilter,
    cap: i64,
) -> StoreResult<QueryBuilder<'a, Sqlite>> {
    let mut b = QueryBuilder::<Sqlite>::new(format!(
        "SELECT m.id FROM {} WHERE ",
        member_source(Source::Index)
    ));
    push_member_matches(&mut b, org, filter, Source::Index)?;
    b.push(" LIMIT ").push_bind(cap + 1);
    Ok(b)
}

/// Members with their identity's email and name, from rows of a member list.
fn member_views(rows: Vec<SqliteRow>) -> StoreResult<Vec<MemberView>> {
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
/// the membership triggers keep (migration 0008).
async fn member_count(
    c: &mut SqliteConnection,
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
        "SELECT {column} FROM member_counts WHERE org_id = ?"
    ))
    .bind(org.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?;
    Ok(n.unwrap_or(0))
}

#[async_trait]
impl Reads for SqliteConn {
    fn in_transaction(&self) -> bool {
        matches!(self.conn, crate::Conn::Write(_))
    }

    async fn org(&mut self, id: OrgId) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn org_by_slug(&mut self, slug: &Slug) -> StoreResult<Option<Organization>> {
        sqlx::query("SELECT * FROM organizations WHERE slug = ?")
            .bind(slug.as_str())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(org)
            .transpose()
    }

    async fn list_orgs(&mut self, page: PageRequest) -> StoreResult<Page<Organization>> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM organizations")
            .fetch_one(self.c().await?)
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT * FROM organizations WHERE (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
        )
        .bind(page.after.map(|a| a.to_string()))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(self.c().await?)
        .await
        .map_err(map_err)?;
        let items = rows.iter().map(org).collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, total, |o| o.id.as_uuid()))
    }

    async fn identity(&mut self, id: IdentityId) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(identity)
            .transpose()
    }

    async fn identity_by_email(&mut self, email: &Email) -> StoreResult<Option<Identity>> {
        sqlx::query("SELECT * FROM identities WHERE email_key = ?")
            .bind(email.key())
            .fetch_optional(self.c().await?)
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
            "{MEMBERSHIP_SELECT} WHERE m.org_id = ? AND m.id = ?"
        ))
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(self.c().await?)
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
            "{MEMBERSHIP_SELECT} WHERE m.org_id = ? AND m.identity_id = ? AND m.status <> 'removed'"
        ))
        .bind(org.to_string())
        .bind(identity.to_string())
        .fetch_optional(self.c().await?)
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
            "{MEMBERSHIP_SELECT} WHERE m.identity_id = ? AND m.status <> 'removed' ORDER BY m.id"
        ))
        .bind(identity.to_string())
        .fetch_all(self.c().await?)
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
             FROM ({MEMBERSHIP_SELECT} WHERE m.identity_id = ? AND m.status <> 'removed') x \
             JOIN organizations o ON o.id = x.org_id ORDER BY x.id"
        ))
        .bind(identity.to_string())
        .fetch_all(self.c().await?)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| Ok((membership(row)?, org_with(row, "o_")?)))
        .collect()
    }

    async fn count_active_admins(&mut self, org: OrgId) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM memberships m WHERE m.org_id = ?1 AND m.status = 'active' \
             AND EXISTS (SELECT 1 FROM membership_roles r \
                         WHERE r.membership_id = m.id AND r.org_id = ?1 AND r.role = 'admin') \
             AND NOT EXISTS (SELECT 1 FROM admin_scopes s WHERE s.membership_id = m.id)",
        )
        .bind(org.to_string())
        .fetch_one(self.c().await?)
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
        let mut indexed = filter.q.as_ref().is_some_and(|q| q.chars().count() >= 3);
        if indexed {
            // The trigram index gathers the organization's matches up to the cap (see
            // `search_ids` and `search_matches` for when the members are read instead);
            // when that is all of them, they are counted and paged here and the page is
            // read by id. Beyond the cap a match is common enough that reading members in
            // id order finds a page sooner than sorting every match of the index.
            let found = search_ids(self.c().await?, org, filter, cap, MATCHES_KEPT).await?;
            indexed = found.is_some();
            let mut ids = found.unwrap_or_default();
            if indexed && ids.len() as i64 <= cap {
                // Ids are UUIDv7 text: byte order is SQLite's order of `m.id`.
                ids.sort_unstable();
                let total = ids.len() as i64;
                let after = page.after.map(|a| a.to_string());
                let chosen: Vec<String> = ids
                    .into_iter()
                    .filter(|id| after.as_ref().is_none_or(|a| id > a))
                    .take(page.limit as usize + 1)
                    .collect();
                if chosen.is_empty() {
                    return Ok(page_of(Vec::new(), page.limit, total, |m: &MemberView| {
                        m.membership.id.as_uuid()
                    }));
                }
                let mut rows = QueryBuilder::<Sqlite>::new(format!(
                    "SELECT x.*, i.email AS identity_email, i.name AS identity_name FROM \
                     ({MEMBERSHIP_SELECT} WHERE m.org_id = "
                ));
                rows.push_bind(org.to_string()).push(" AND m.id IN (");
                let mut list = rows.separated(", ");
                for id in chosen {
                    list.push_bind(id);
                }
                rows.push(")) x JOIN identities i ON i.id = x.identity_id ORDER BY x.id");
                let items = member_views(
                    rows.build()
                        .fetch_all(self.c().await?)
                        .await
                        .map_err(map_err)?,
                )?;
                return Ok(page_of(items, page.limit, total, |m| {
                    m.membership.id.as_uuid()
                }));
            }
        }
        let (total, total_capped) = if indexed {
            (cap, true)
        } else if filter.narrows_beyond_status() {
            let mut count = QueryBuilder::<Sqlite>::new(format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} WHERE ",
                member_source(Source::Members)
            ));
            push_member_matches(&mut count, org, filter, Source::Members)?;
            count.push(" LIMIT ").push_bind(cap + 1).push(")");
            let n: i64 = count
                .build_query_scalar()
                .fetch_one(self.c().await?)
                .await
                .map_err(map_err)?;
            (n.min(cap), n > cap)
        } else {
            (
                member_count(self.c().await?, org, filter.status).await?,
                false,
            )
        };
        let mut rows = QueryBuilder::<Sqlite>::new(format!(
            "SELECT x.*, i.email AS identity_email, i.name AS identity_name FROM \
             ({} FROM {} WHERE ",
            membership_columns!(),
            member_source(Source::Members)
        ));
        push_member_matches(&mut rows, org, filter, Source::Members)?;
        // Only a cursor that is there bounds the index range: `(? IS NULL OR m.id > ?)`
        // would walk the organization's members from its first to the cursor.
        if let Some(after) = page.after {
            rows.push(" AND m.id > ").push_bind(after.to_string());
        }
        rows.push(" ORDER BY m.id LIMIT ")
            .push_bind(i64::from(page.limit) + 1)
            .push(") x JOIN identities i ON i.id = x.identity_id ORDER BY x.id");
        let items = member_views(
            rows.build()
                .fetch_all(self.c().await?)
                .await
                .map_err(map_err)?,
        )?;
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
            "SELECT * FROM invitations WHERE org_id = ? AND membership_id = ? \
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(org.to_string())
        .bind(membership.to_string())
        .fetch_optional(self.c().await?)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(invitation)
        .transpose()
    }

    async fn custom_roles(&mut self, org: OrgId) -> StoreResult<Vec<CustomRole>> {
        access::custom_roles(self.c().await?, org).await
    }
    async fn custom_role(&mut self, org: OrgId, id: RoleId) -> StoreResult<Option<CustomRole>> {
        access::custom_role_by_id(self.c().await?, org, id).await
    }
    async fn role_usage(&mut self, org: OrgId, id: RoleId) -> StoreResult<RoleUsage> {
        access::role_usage(self.c().await?, org, id).await
    }
    async fn groups(&mut self, org: OrgId) -> StoreResult<Vec<Group>> {
        access::groups(self.c().await?, org).await
    }
    async fn group(&mut self, org: OrgId, id: GroupId) -> StoreResult<Option<Group>> {
        access::group_by_id(self.c().await?, org, id).await
    }
    async fn access_sources(
        &mut self,
        org: OrgId,
        roles: &[RoleId],
        groups: &[GroupId],
    ) -> StoreResult<AccessSources> {
        access::access_sources(self, org, roles, groups).await
    }
    async fn list_customers(
        &mut self,
        org: OrgId,
        assigned_to: Option<MembershipId>,
        page: PageRequest,
    ) -> StoreResult<Page<Customer>> {
        access::list_customers(self.c().await?, org, assigned_to, page).await
    }
    async fn customer(&mut self, org: OrgId, id: CustomerId) -> StoreResult<Option<Customer>> {
        access::customer_by_id(self.c().await?, org, id).await
    }
    async fn customer_assignments(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Vec<CustomerId>> {
        access::customer_assignments(self.c().await?, org, membership).await
    }
    async fn member_access(
        &mut self,
        org: OrgId,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<MemberAccess>> {
        access::member_access(self, org, identity, customer).await
    }
    async fn access_definitions(&mut self, org: OrgId) -> StoreResult<AccessDefinitions> {
        access::access_definitions(self.c().await?, org).await
    }

    async fn customer_assignment(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        customer: CustomerId,
    ) -> StoreResult<Option<CustomerAssignment>> {
        access::customer_assignment(self.c().await?, org, membership, customer).await
    }
    async fn entities(&mut self, org: OrgId) -> StoreResult<Vec<Entity>> {
        access::entities(self.c().await?, org).await
    }
    async fn entity(&mut self, org: OrgId, id: EntityId) -> StoreResult<Option<Entity>> {
        access::entity_by_id(self.c().await?, org, id).await
    }
    async fn entity_in_scopes(&mut self, org: OrgId, id: EntityId) -> StoreResult<u64> {
        access::entity_in_scopes(self.c().await?, org, id).await
    }

    async fn last_sign_in_at(&mut self, identity: IdentityId) -> StoreResult<Option<Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT max(at) FROM sign_in_attempts WHERE identity_id = ? AND code = 'succeeded'",
        )
        .bind(identity.to_string())
        .fetch_one(self.c().await?)
        .await
        .map_err(map_err)?;
        opt_time(at)
    }

    async fn invitation_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Invitation>> {
        sqlx::query("SELECT * FROM invitations WHERE token_hash = ?")
            .bind(hash.as_str())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(invitation)
            .transpose()
    }

    async fn session_by_token(&mut self, hash: &SecretHash) -> StoreResult<Option<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE token_hash = ?")
            .bind(hash.as_str())
            .fetch_optional(self.c().await?)
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
        static SQL: LazyLock<Statements> = LazyLock::new(|| {
            // One row per live membership, or one with the membership's columns NULL when
            // there is none; the session and identity repeat on each.
            Statements::new(vec![format!(
                "SELECT {}, {ORG_AS_O}, {SESSION_AS_S}, {IDENTITY_AS_I} FROM sessions s \
                 JOIN identities i ON i.id = s.identity_id \
                 LEFT JOIN memberships m ON m.identity_id = i.id AND m.status <> 'removed' \
                 LEFT JOIN organizations o ON o.id = m.org_id \
                 WHERE s.token_hash = ?1 ORDER BY m.id",
                membership_columns_as("m", "")
            )])
        });
        Ok(self
            .fold::<HolderRows>(&SQL, &[Some(hash.as_str())])
            .await?
            .holder)
    }

    async fn sessions_of_identity(&mut self, identity: IdentityId) -> StoreResult<Vec<Session>> {
        sqlx::query(
            "SELECT * FROM sessions WHERE identity_id = ? AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(identity.to_string())
        .fetch_all(self.c().await?)
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
        static SQL: LazyLock<Statements> = LazyLock::new(|| {
            // At most one live membership per organization and identity: one row.
            Statements::new(vec![format!(
                "SELECT {}, {ORG_AS_O}, {TOKEN_AS_T} FROM api_tokens t \
                 LEFT JOIN memberships m ON m.identity_id = t.created_by AND m.org_id = t.org_id \
                 AND m.status <> 'removed' \
                 LEFT JOIN organizations o ON o.id = m.org_id \
                 WHERE t.token_hash = ?1",
                membership_columns_as("m", "")
            )])
        });
        Ok(self
            .fold::<TokenRow>(&SQL, &[Some(hash.as_str())])
            .await?
            .token)
    }

    async fn token_check(
        &mut self,
        hash: &SecretHash,
        identity: IdentityId,
        customer: Option<CustomerId>,
    ) -> StoreResult<Option<TokenCheck>> {
        // One statement, the token's row joined with the member's: SQLite takes its
        // shared-memory read lock once (two statements alone took it twice, a tenth of a
        // check's time; in one read transaction, `BEGIN` and `COMMIT` cost as much again),
        // and finds the token by its hash once. At most one live membership per
        // organization and identity: one row.
        static SQL: LazyLock<Statements> = LazyLock::new(|| {
            Statements::new(vec![format!(
                "SELECT {}, {ORG_AS_O}, {TOKEN_AS_T}, {} FROM api_tokens t \
                 LEFT JOIN memberships m ON m.identity_id = t.created_by \
                 AND m.org_id = t.org_id AND m.status <> 'removed' \
                 LEFT JOIN organizations o ON o.id = m.org_id \
                 LEFT JOIN memberships x ON x.org_id = t.org_id AND x.identity_id = ?2 \
                 AND x.status <> 'removed' \
                 WHERE t.token_hash = ?1",
                membership_columns_as("m", ""),
                crate::access::member_access_columns("a_")
            )])
        });
        let (identity, customer) = (identity.to_string(), customer.map(|c| c.to_string()));
        let rows: TokenCheckRow = self
            .fold(
                &SQL,
                &[Some(hash.as_str()), Some(&identity), customer.as_deref()],
            )
            .await?;
        Ok(rows.token.token.map(|(token, creator)| TokenCheck {
            member: token.org_id.and(rows.member.0),
            token,
            creator,
        }))
    }

    async fn api_token(&mut self, org: OrgId, id: ApiTokenId) -> StoreResult<Option<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE org_id = ? AND id = ?")
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(api_token)
            .transpose()
    }

    async fn list_api_tokens(&mut self, org: OrgId) -> StoreResult<Vec<ApiToken>> {
        sqlx::query("SELECT * FROM api_tokens WHERE org_id = ? ORDER BY created_at DESC, id DESC")
            .bind(org.to_string())
            .fetch_all(self.c().await?)
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
        sign_in::identity_token_by_hash(self.c().await?, hash, purpose).await
    }

    async fn latest_identity_token(
        &mut self,
        identity: IdentityId,
        purpose: TokenPurpose,
    ) -> StoreResult<Option<IdentityToken>> {
        sign_in::latest_identity_token(self.c().await?, identity, purpose).await
    }

    async fn throttle(&mut self, scope: &str, key: &str) -> StoreResult<Option<ThrottleState>> {
        sign_in::throttle_state(self.c().await?, scope, key).await
    }

    async fn sign_in_attempts_of(
        &mut self,
        identity: IdentityId,
        limit: u32,
    ) -> StoreResult<Vec<SignInAttempt>> {
        sign_in::attempts_of(self.c().await?, identity, limit).await
    }

    async fn list_audit(&mut self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let limit = q.limit.clamp(1, 1000);
        sqlx::query(
            "SELECT * FROM audit_events WHERE org_id IS ?1 \
             AND (?2 IS NULL OR actor_kind = ?2) AND (?3 IS NULL OR actor_id = ?3) \
             AND (?4 IS NULL OR target_id = ?4) AND (?5 IS NULL OR action = ?5) \
             AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7) \
             AND (?8 IS NULL OR id < ?8) ORDER BY id DESC LIMIT ?9",
        )
        .bind(q.org_id.map(|o| o.to_string()))
        .bind(q.actor.map(|a| a.kind()))
        .bind(q.actor.and_then(|a| a.id()).map(|i| i.to_string()))
        .bind(q.target_id.map(|t| t.to_string()))
        .bind(q.action.as_deref())
        .bind(q.since.map(ms))
        .bind(q.until.map(ms))
        .bind(q.before.map(|b| b.to_string()))
        .bind(i64::from(limit))
        .fetch_all(self.c().await?)
        .await
        .map_err(map_err)?
        .iter()
        .map(audit)
        .collect()
    }

    async fn outbox_message(&mut self, id: OutboxId) -> StoreResult<Option<OutboxMessage>> {
        sqlx::query("SELECT * FROM outbox WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(self.c().await?)
            .await
            .map_err(map_err)?
            .as_ref()
            .map(outbox)
            .transpose()
    }

    async fn list_outbox(&mut self, filter: &OutboxFilter) -> StoreResult<Vec<OutboxMessage>> {
        sqlx::query(
            "SELECT * FROM outbox WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(filter.status.map(|s| s.as_str()))
        .bind(i64::from(filter.limit.clamp(1, 1000)))
        .fetch_all(self.c().await?)
        .await
        .map_err(map_err)?
        .iter()
        .map(outbox)
        .collect()
    }

    async fn outbox_counts(&mut self) -> StoreResult<OutboxCounts> {
        tasks::outbox_counts(self.c().await?).await
    }
    async fn task(&mut self, org: OrgId, id: TaskId) -> StoreResult<Option<Task>> {
        tasks::task_by_id(self.c().await?, org, id).await
    }
    async fn list_tasks(
        &mut self,
        org: OrgId,
        filter: &TaskFilter,
        page: PageRequest,
    ) -> StoreResult<Page<Task>> {
        tasks::list_tasks(self.c().await?, org, filter, page).await
    }
    async fn task_categories(&mut self, org: OrgId) -> StoreResult<Vec<TaskCategory>> {
        tasks::task_categories(self.c().await?, org).await
    }
    async fn notification_prefs(
        &mut self,
        org: OrgId,
        membership: MembershipId,
    ) -> StoreResult<Option<NotificationPrefs>> {
        tasks::notification_prefs(self.c().await?, org, membership).await
    }
    async fn digests_due(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<DigestDue>> {
        tasks::digests_due(self.c().await?, now, limit).await
    }
    async fn digests_unplanned(
        &mut self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        tasks::digests_unplanned(self.c().await?, now, limit).await
    }
    async fn digest_tasks(
        &mut self,
        org: OrgId,
        membership: MembershipId,
        categories: Option<&BTreeSet<String>>,
        customers: &DigestCustomers,
        limit: u32,
    ) -> StoreResult<(Vec<DigestTask>, u64)> {
        tasks::digest_tasks(
            self.c().await?,
            org,
            membership,
            categories,
            customers,
            limit,
        )
        .await
    }
    async fn digest_record(
        &mut self,
        membership: MembershipId,
        period: &str,
    ) -> StoreResult<Option<DigestRecord>> {
        tasks::digest_record(self.c().await?, membership, period).await
    }
    async fn sso_connection(&mut self, org: OrgId) -> StoreResult<Option<SsoConnection>> {
        sso::connection_of(self.c().await?, org).await
    }
    async fn sso_connection_for_domain(
        &mut self,
        domain: &str,
    ) -> StoreResult<Option<SsoConnection>> {
        sso::connection_for_domain(self.c().await?, domain).await
    }
    async fn identity_and_sso_by_email(
        &mut self,
        email: &Email,
    ) -> StoreResult<(Option<Identity>, Option<SsoConnection>)> {
        sso::identity_and_connection(self, email).await
    }
    async fn sso_subject(
        &mut self,
        org: OrgId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<IdentityId>> {
        sso::subject(self.c().await?, org, issuer, subject).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{search_ids, search_matches, streamed_matches, SearchWay};
    use crate::SqliteStore;
    use roster_core::ids::{OrgId, RoleId};
    use roster_core::model::{BuiltinRole, Membership, MembershipStatus};
    use roster_core::store::{MemberFilter, Store};
    use roster_store_tests::fixtures::{self, now};

    fn search(q: &str) -> MemberFilter {
        MemberFilter {
            q: Some(q.to_owned()),
            ..MemberFilter::default()
        }
    }

    /// What [`search_matches`] answers, counting at most `counted` matches: its way, and
    /// the members it found (sorted).
    async fn matches(
        store: &SqliteStore,
        org: OrgId,
        q: &str,
        counted: i64,
    ) -> (SearchWay, Vec<String>) {
        let (way, ids): (i64, Option<String>) = search_matches(org, &search(q), 1_000, counted)
            .unwrap()
            .build_query_as()
            .fetch_one(store.pool())
            .await
            .unwrap();
        let ids = ids.iter().flat_map(|i| i.split(',')).map(str::to_owned);
        let mut ids: Vec<String> = ids.collect();
        ids.sort();
        (SearchWay::from_code(way).unwrap(), ids)
    }

    /// A search goes through the trigram index while the deployment holds no more matches
    /// than the organization's membership rows are worth, removed ones included (each is a
    /// row the other way reads), and is told to read the members once it holds more. Past
    /// the matches it keeps, where the rows are worth more, the rest are counted and then
    /// streamed or left for the members to be read.
    #[tokio::test]
    async fn a_search_is_told_to_read_the_members_when_matches_outnumber_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roster.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let (a, b) = (fixtures::org("tenant-a"), fixtures::org("tenant-b"));
        let c = fixtures::org("tenant-c");
        let many: Vec<_> = ["dan", "eve", "fay"]
            .map(|n| fixtures::identity(&format!("{n}@many.example")))
            .into();
        let in_c: Vec<_> = many
            .iter()
            .map(|i| fixtures::membership(&c, i, &[BuiltinRole::User]))
            .collect();
        let ada = fixtures::identity("ada@love.example");
        let bob = fixtures::identity("bob@love.example");
        let cy = fixtures::identity("cy@hate.example");
        let gil = fixtures::identity("gil@lace.example");
        let gone = fixtures::membership(&a, &bob, &[BuiltinRole::User]);
        let cy_in_b = fixtures::membership(&b, &cy, &[BuiltinRole::User]);
        let mut tx = store.begin().await.unwrap();
        tx.insert_org(&a).await.unwrap();
        tx.insert_org(&b).await.unwrap();
        tx.insert_org(&c).await.unwrap();
        for i in [&ada, &bob, &cy].into_iter().chain(&many).chain([&gil]) {
            tx.insert_identity(i).await.unwrap();
        }
        for m in &in_c {
            tx.insert_membership(m).await.unwrap();
        }
        let ada_in_a = fixtures::membership(&a, &ada, &[BuiltinRole::User]);
        tx.insert_membership(&ada_in_a).await.unwrap();
        tx.insert_membership(&gone).await.unwrap();
        tx.insert_membership(&cy_in_b).await.unwrap();
        tx.commit().await.unwrap();

        // Worth four matches a row: A has two rows (8), B one (4), C three (12). Matches:
        // `ada@` 1, `love.example` 2, `many.example` 3, `e.example` 4 (ada, bob, cy, gil),
        // `.example` 7.
        let ids = |ms: &[&Membership]| {
            let mut ids: Vec<String> = ms.iter().map(|m| m.id.to_string()).collect();
            ids.sort();
            ids
        };
        use SearchWay::*;
        let all = 10;
        let both = ids(&[&ada_in_a, &gone]);
        let three = ids(&[&in_c[0], &in_c[1], &in_c[2]]);
        let cases = [
            (a.id, "ada@", all, Hits, ids(&[&ada_in_a])),
            (a.id, "love.example", all, Hits, both.clone()),
            (b.id, "e.example", all, Hits, ids(&[&cy_in_b])),
            (b.id, ".example", all, Members, vec![]),
            (OrgId::new(), "ada@", all, Members, vec![]),
            (c.id, "many.example", all, Hits, three.clone()),
            // Keeping one match: past it, where the rows are worth more than that.
            (a.id, "love.example", 1, Index, both.clone()),
            (a.id, "ada@", 1, Hits, ids(&[&ada_in_a])),
            (b.id, ".example", 1, Index, vec![]),
            (OrgId::new(), "ada@", 1, Members, vec![]),
        ];
        for (org, q, counted, way, found) in cases {
            assert_eq!(
                matches(&store, org, q, counted).await,
                (way, found),
                "{q} {counted}"
            );
        }
        // Three match `many.example` in C: two are kept, and so found.
        let (way, found) = matches(&store, c.id, "many.example", 1).await;
        assert_eq!((way, found.len()), (Index, 2), "{found:?}");

        let streamed = |org: OrgId, q: &'static str| {
            let store = &store;
            async move {
                let mut ids: Vec<String> = streamed_matches(org, &search(q), 1_000)
                    .unwrap()
                    .build_query_scalar()
                    .fetch_all(store.pool())
                    .await
                    .unwrap();
                ids.sort();
                ids
            }
        };
        assert_eq!(streamed(a.id, "love.example").await, both);
        assert_eq!(streamed(b.id, "love.example").await, Vec::<String>::new());

        // What the search reads, keeping one match: past it, the rest are counted and
        // streamed (no more than the rows are worth) or left for the members to be read.
        let found = |org: OrgId, q: &'static str, cap: i64| {
            let store = &store;
            async move {
                let mut c = store.pool().acquire().await.unwrap();
                let ids = search_ids(&mut c, org, &search(q), cap, 1).await.unwrap();
                ids.map(|mut ids| {
                    ids.sort();
                    ids
                })
            }
        };
        assert_eq!(found(c.id, "many.example", 1_000).await, Some(three));
        assert_eq!(
            found(c.id, "many.example", 1).await.map(|i| i.len()),
            Some(2),
            "past the cap among those kept"
        );
        assert_eq!(
            found(c.id, "many.example", 2).await.map(|i| i.len()),
            Some(3),
            "as many kept as the cap: the rest are streamed"
        );
        assert_eq!(found(a.id, "love.example", 1_000).await, Some(both));
        assert_eq!(found(a.id, "ada@", 1_000).await, Some(ids(&[&ada_in_a])));
        assert_eq!(
            found(b.id, "e.example", 1_000).await,
            Some(ids(&[&cy_in_b]))
        );
        assert_eq!(
            found(b.id, ".example", 1_000).await,
            None,
            "seven, worth four"
        );

        let mut tx = store.begin().await.unwrap();
        let removed = MembershipStatus::Removed;
        assert!(tx
            .set_membership_status(a.id, gone.id, gone.status, removed, now())
            .await
            .unwrap());
        tx.commit().await.unwrap();
        assert_eq!(
            matches(&store, a.id, ".example", all).await,
            (Hits, ids(&[&ada_in_a])),
            "a removed member's row still counts, and is not found"
        );
        assert_eq!(streamed(a.id, "love.example").await, ids(&[&ada_in_a]));
    }

    /// SQLite's plan for a search's matches, one line per step, on a migrated file.
    async fn plan(statement: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.db");
        SqliteStore::open(&path)
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {statement}");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut statement = conn.prepare(&sql).unwrap();
        // The plan does not depend on the values, so the parameters stay unbound.
        let mut rows = statement.raw_query();
        let mut steps = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            steps.push(row.get::<_, String>(3).unwrap());
        }
        steps
    }

    /// A search reaches each match's identity and membership through indexes that hold
    /// every column it reads (migration 0010), whether it keeps the index's matches or
    /// streams them: with any filter, no step reads a row of
    /// `identities` or `memberships`, and neither table is scanned. At a million members
    /// a row read is a page read, and this is what keeps a search's cost to its matches.
    #[tokio::test]
    async fn a_search_reads_its_matches_from_indexes_alone() {
        let q = Some("xiomar".to_owned());
        let filters = [
            MemberFilter {
                q: q.clone(),
                ..MemberFilter::default()
            },
            MemberFilter {
                q: q.clone(),
                status: Some(MembershipStatus::Active),
                role: Some(BuiltinRole::Admin),
                custom_role: Some(RoleId::new()),
                ..MemberFilter::default()
            },
        ];
        let org = OrgId::new();
        let statements = filters.iter().flat_map(|filter| {
            [
                search_matches(org, filter, 1_000, 10_000)
                    .unwrap()
                    .sql()
                    .to_owned(),
                streamed_matches(org, filter, 1_000)
                    .unwrap()
                    .sql()
                    .to_owned(),
            ]
        });
        for statement in statements {
            let steps = plan(&statement).await;
            let on = |alias: &str| {
                steps
                    .iter()
                    .filter(|s| s.contains(&format!(" {alias} ")))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                on("i"),
                ["SEARCH i USING COVERING INDEX identities_search_row_id (search_row=?)"],
                "{steps:?}"
            );
            // With a status filter the index answers that too (`... AND status=?)`).
            let m = on("m");
            assert_eq!(m.len(), 1, "{steps:?}");
            assert!(
                m[0].starts_with(
                    "SEARCH m USING COVERING INDEX memberships_identity (identity_id=? AND org_id=?"
                ),
                "{steps:?}"
            );
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with("SCAN identity_search VIRTUAL TABLE")),
                "{steps:?}"
            );
        }
    }
}
