//! Tasks, task categories, notification settings and the digest schedule. The `Reads` and
//! `Tx` impls call these; every query matches on the organization.

use crate::convert::{corrupt, count, get, int, parse};
use crate::map_err;
use crate::reads::page_of;
use roster_core::clock::Timestamp;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::store::{OutboxCounts, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use std::collections::BTreeSet;
use uuid::Uuid;

fn task(row: &PgRow) -> StoreResult<Task> {
    Ok(Task {
        id: TaskId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        category: get(row, "category")?,
        title: get(row, "title")?,
        url: get(row, "url")?,
        customer_id: get::<Option<Uuid>>(row, "customer_id")?.map(CustomerId::from_uuid),
        assignee_id: get::<Option<Uuid>>(row, "assignee_id")?.map(MembershipId::from_uuid),
        status: parse(TaskStatus::parse(&get::<String>(row, "status")?))?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        closed_at: get(row, "closed_at")?,
    })
}

pub(crate) async fn outbox_counts(c: &mut PgConnection) -> StoreResult<OutboxCounts> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, \
         count(*) FILTER (WHERE status = 'failed') AS failed, \
         min(created_at) FILTER (WHERE status = 'pending') AS oldest \
         FROM outbox WHERE status IN ('pending', 'failed')",
    )
    .fetch_one(c)
    .await
    .map_err(map_err)?;
    let n = |col: &str| -> StoreResult<u64> {
        let v: i64 = get(&row, col)?;
        u64::try_from(v).map_err(|_| corrupt(format!("bad {col} {v}")))
    };
    Ok(OutboxCounts {
        pending: n("pending")?,
        failed: n("failed")?,
        oldest_pending_at: get(&row, "oldest")?,
    })
}

pub(crate) async fn retry_outbox(
    c: &mut PgConnection,
    id: OutboxId,
    now: Timestamp,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         lease_until = NULL WHERE id = $2 AND status = 'failed' AND payload IS NOT NULL",
    )
    .bind(now)
    .bind(id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn task_by_id(
    c: &mut PgConnection,
    org: OrgId,
    id: TaskId,
) -> StoreResult<Option<Task>> {
    sqlx::query("SELECT * FROM tasks WHERE org_id = $1 AND id = $2")
        .bind(org.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(task)
        .transpose()
}

pub(crate) async fn list_tasks(
    c: &mut PgConnection,
    org: OrgId,
    filter: &TaskFilter,
    page: PageRequest,
) -> StoreResult<Page<Task>> {
    const MATCHES: &str = "org_id = $1 AND ($2::text IS NULL OR status = $2) \
        AND ($3::text IS NULL OR category = $3) AND ($4::uuid IS NULL OR customer_id = $4) \
        AND ($5::uuid IS NULL OR assignee_id = $5)";
    let status = filter.status.map(TaskStatus::as_str);
    let customer = filter.customer.map(|c| c.as_uuid());
    let assignee = filter.assignee.map(|m| m.as_uuid());
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tasks WHERE {MATCHES}"))
        .bind(org.as_uuid())
        .bind(status)
        .bind(filter.category.as_deref())
        .bind(customer)
        .bind(assignee)
        .fetch_one(&mut *c)
        .await
        .map_err(map_err)?;
    let items = sqlx::query(&format!(
        "SELECT * FROM tasks WHERE {MATCHES} AND ($6::uuid IS NULL OR id > $6) ORDER BY id LIMIT $7"
    ))
    .bind(org.as_uuid())
    .bind(status)
    .bind(filter.category.as_deref())
    .bind(customer)
    .bind(assignee)
    .bind(page.after)
    .bind(i64::from(page.limit) + 1)
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(task)
    .collect::<StoreResult<Vec<_>>>()?;
    Ok(page_of(items, page.limit, total, |t| t.id.as_uuid()))
}

pub(crate) async fn task_categories(
    c: &mut PgConnection,
    org: OrgId,
) -> StoreResult<Vec<TaskCategory>> {
    sqlx::query("SELECT key, label, created_at FROM task_categories WHERE org_id = $1 ORDER BY key")
        .bind(org.as_uuid())
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| {
            Ok(TaskCategory {
                key: get(row, "key")?,
                label: get(row, "label")?,
                created_at: get(row, "created_at")?,
            })
        })
        .collect()
}

pub(crate) async fn insert_task(c: &mut PgConnection, t: &Task) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tasks (id, org_id, category, title, url, customer_id, assignee_id, status, \
         created_at, updated_at, closed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(t.id.as_uuid())
    .bind(t.org_id.as_uuid())
    .bind(&t.category)
    .bind(&t.title)
    .bind(t.url.as_deref())
    .bind(t.customer_id.map(|c| c.as_uuid()))
    .bind(t.assignee_id.map(|m| m.as_uuid()))
    .bind(t.status.as_str())
    .bind(t.created_at)
    .bind(t.updated_at)
    .bind(t.closed_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_task(c: &mut PgConnection, t: &Task) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET title = $1, url = $2, status = $3, updated_at = $4, closed_at = $5 \
         WHERE org_id = $6 AND id = $7",
    )
    .bind(&t.title)
    .bind(t.url.as_deref())
    .bind(t.status.as_str())
    .bind(t.updated_at)
    .bind(t.closed_at)
    .bind(t.org_id.as_uuid())
    .bind(t.id.as_uuid())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn put_task_category(
    c: &mut PgConnection,
    org: OrgId,
    category: &TaskCategory,
    relabel: bool,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO task_categories (org_id, key, label, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, key) DO UPDATE SET label = CASE WHEN $5 THEN excluded.label \
         ELSE task_categories.label END",
    )
    .bind(org.as_uuid())
    .bind(&category.key)
    .bind(&category.label)
    .bind(category.created_at)
    .bind(relabel)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn notification_prefs(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
) -> StoreResult<Option<NotificationPrefs>> {
    let Some(row) = sqlx::query(
        "SELECT digest_frequency, digest_categories FROM memberships \
         WHERE org_id = $1 AND id = $2",
    )
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    else {
        return Ok(None);
    };
    Ok(Some(NotificationPrefs {
        frequency: parse(DigestFrequency::parse(&get::<String>(
            &row,
            "digest_frequency",
        )?))?,
        categories: get::<Option<Vec<String>>>(&row, "digest_categories")?
            .map(|v| v.into_iter().collect()),
    }))
}

pub(crate) async fn set_notification_prefs(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
    prefs: &NotificationPrefs,
    now: Timestamp,
) -> StoreResult<bool> {
    let categories: Option<Vec<String>> = prefs
        .categories
        .as_ref()
        .map(|c| c.iter().cloned().collect());
    let r = sqlx::query(
        "UPDATE memberships SET digest_frequency = $1, digest_categories = $2, \
         digest_next_at = CASE WHEN digest_next_at <= $5 THEN digest_next_at END \
         WHERE org_id = $3 AND id = $4",
    )
    .bind(prefs.frequency.as_str())
    .bind(categories)
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .bind(now)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

fn due(row: &PgRow, due_at: Option<Timestamp>) -> StoreResult<DigestDue> {
    Ok(DigestDue {
        membership_id: MembershipId::from_uuid(get(row, "id")?),
        org_id: OrgId::from_uuid(get(row, "org_id")?),
        due_at: match due_at {
            Some(at) => at,
            None => get(row, "digest_next_at")?,
        },
    })
}

pub(crate) async fn digests_due(
    c: &mut PgConnection,
    now: Timestamp,
    limit: u32,
) -> StoreResult<Vec<DigestDue>> {
    sqlx::query(
        "SELECT id, org_id, digest_next_at FROM memberships \
         WHERE digest_next_at <= $1 ORDER BY digest_next_at, id LIMIT $2",
    )
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| due(row, None))
    .collect()
}

pub(crate) async fn digests_unplanned(
    c: &mut PgConnection,
    now: Timestamp,
    limit: u32,
) -> StoreResult<Vec<DigestDue>> {
    sqlx::query(
        "SELECT id, org_id FROM memberships WHERE digest_next_at IS NULL AND status = 'active' \
         ORDER BY id LIMIT $1",
    )
    .bind(i64::from(limit))
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| due(row, Some(now)))
    .collect()
}

pub(crate) async fn digest_tasks(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
    categories: Option<&BTreeSet<String>>,
    customers: &DigestCustomers,
    limit: u32,
) -> StoreResult<(Vec<DigestTask>, u64)> {
    let categories: Option<Vec<String>> = categories.map(|c| c.iter().cloned().collect());
    let (all_customers, customer_ids): (bool, Vec<Uuid>) = match customers {
        DigestCustomers::All => (true, Vec::new()),
        DigestCustomers::Only(ids) => (false, ids.iter().map(|i| i.as_uuid()).collect()),
        DigestCustomers::None => (false, Vec::new()),
    };
    const MATCHES: &str = "t.org_id = $1 AND t.status = 'open' \
        AND (t.assignee_id IS NULL OR t.assignee_id = $2 OR NOT EXISTS (SELECT 1 \
             FROM memberships a WHERE a.id = t.assignee_id AND a.status = 'active')) \
        AND ($3::text[] IS NULL OR t.category = ANY($3)) \
        AND ($4 OR t.customer_id IS NULL OR t.customer_id = ANY($5))";
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tasks t WHERE {MATCHES}"))
        .bind(org.as_uuid())
        .bind(membership.as_uuid())
        .bind(categories.clone())
        .bind(all_customers)
        .bind(customer_ids.clone())
        .fetch_one(&mut *c)
        .await
        .map_err(map_err)?;
    let rows = sqlx::query(&format!(
        "SELECT t.*, cu.name AS customer_name FROM tasks t \
         LEFT JOIN customers cu ON cu.id = t.customer_id AND cu.org_id = t.org_id \
         WHERE {MATCHES} ORDER BY t.id LIMIT $6"
    ))
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .bind(categories)
    .bind(all_customers)
    .bind(customer_ids)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await
    .map_err(map_err)?;
    let tasks = rows
        .iter()
        .map(|row| {
            Ok(DigestTask {
                task: task(row)?,
                customer_name: get(row, "customer_name")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((tasks, u64::try_from(total).unwrap_or(0)))
}

pub(crate) async fn digest_record(
    c: &mut PgConnection,
    membership: MembershipId,
    period: &str,
) -> StoreResult<Option<DigestRecord>> {
    let Some(row) = sqlx::query("SELECT * FROM digests WHERE membership_id = $1 AND period = $2")
        .bind(membership.as_uuid())
        .bind(period)
        .fetch_optional(c)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    Ok(Some(DigestRecord {
        membership_id: MembershipId::from_uuid(get(&row, "membership_id")?),
        org_id: OrgId::from_uuid(get(&row, "org_id")?),
        period: get(&row, "period")?,
        task_count: count(get(&row, "task_count")?, "task_count")?,
        outbox_id: get::<Option<Uuid>>(&row, "outbox_id")?.map(OutboxId::from_uuid),
        created_at: get(&row, "created_at")?,
    }))
}

pub(crate) async fn plan_digest(
    c: &mut PgConnection,
    org: OrgId,
    membership: MembershipId,
    expected: Option<Timestamp>,
    due_at: Option<Timestamp>,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE memberships SET digest_next_at = $1 \
         WHERE org_id = $2 AND id = $3 AND digest_next_at IS NOT DISTINCT FROM $4",
    )
    .bind(due_at)
    .bind(org.as_uuid())
    .bind(membership.as_uuid())
    .bind(expected)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

/// Forgets planned digest times that are not due yet at `now`: a due digest is handled
/// with the new settings rather than skipped.
pub(crate) async fn replan_digests_of_identity(
    c: &mut PgConnection,
    identity: IdentityId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE memberships SET digest_next_at = NULL \
         WHERE identity_id = $1 AND digest_next_at > $2",
    )
    .bind(identity.as_uuid())
    .bind(now)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn replan_digests_of_org(
    c: &mut PgConnection,
    org: OrgId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE memberships SET digest_next_at = NULL WHERE org_id = $1 AND digest_next_at > $2",
    )
    .bind(org.as_uuid())
    .bind(now)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn record_digest(c: &mut PgConnection, r: &DigestRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO digests (membership_id, period, org_id, task_count, outbox_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (membership_id, period) DO NOTHING",
    )
    .bind(r.membership_id.as_uuid())
    .bind(&r.period)
    .bind(r.org_id.as_uuid())
    .bind(int(r.task_count, "task_count")?)
    .bind(r.outbox_id.map(|o| o.as_uuid()))
    .bind(r.created_at)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn prune_digests(c: &mut PgConnection, before: Timestamp) -> StoreResult<u64> {
    let r = sqlx::query("DELETE FROM digests WHERE created_at < $1")
        .bind(before)
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(r.rows_affected())
}
