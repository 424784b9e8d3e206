//! Tasks, task categories, notification settings and the digest schedule. The `Reads` and
//! `Tx` impls call these; every query matches on the organization.

use crate::convert::{corrupt, ms, opt_ms, opt_time, opt_uuid, parse, time, uuid};
use crate::map_err;
use crate::reads::{get, page_of};
use roster_core::clock::Timestamp;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::store::{OutboxCounts, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;
use std::collections::BTreeSet;

fn task(row: &SqliteRow) -> StoreResult<Task> {
    Ok(Task {
        id: TaskId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        category: get(row, "category")?,
        title: get(row, "title")?,
        url: get(row, "url")?,
        customer_id: opt_uuid(get(row, "customer_id")?)?.map(CustomerId::from_uuid),
        assignee_id: opt_uuid(get(row, "assignee_id")?)?.map(MembershipId::from_uuid),
        status: parse(TaskStatus::parse(&get::<String>(row, "status")?))?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
        closed_at: opt_time(get(row, "closed_at")?)?,
    })
}

fn categories_json(categories: &Option<BTreeSet<String>>) -> StoreResult<Option<String>> {
    categories
        .as_ref()
        .map(|c| serde_json::to_string(c).map_err(|e| corrupt(e.to_string())))
        .transpose()
}

pub(crate) async fn outbox_counts(c: &mut SqliteConnection) -> StoreResult<OutboxCounts> {
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending') AS pending, \
         (SELECT count(*) FROM outbox WHERE status = 'failed') AS failed, \
         (SELECT min(created_at) FROM outbox WHERE status = 'pending') AS oldest",
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
        oldest_pending_at: opt_time(get(&row, "oldest")?)?,
    })
}

pub(crate) async fn retry_outbox(
    c: &mut SqliteConnection,
    id: OutboxId,
    now: Timestamp,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?1, \
         lease_until = NULL WHERE id = ?2 AND status = 'failed' AND payload IS NOT NULL",
    )
    .bind(ms(now))
    .bind(id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn task_by_id(
    c: &mut SqliteConnection,
    org: OrgId,
    id: TaskId,
) -> StoreResult<Option<Task>> {
    sqlx::query("SELECT * FROM tasks WHERE org_id = ? AND id = ?")
        .bind(org.to_string())
        .bind(id.to_string())
        .fetch_optional(c)
        .await
        .map_err(map_err)?
        .as_ref()
        .map(task)
        .transpose()
}

pub(crate) async fn list_tasks(
    c: &mut SqliteConnection,
    org: OrgId,
    filter: &TaskFilter,
    page: PageRequest,
) -> StoreResult<Page<Task>> {
    const MATCHES: &str = "org_id = ?1 AND (?2 IS NULL OR status = ?2) \
        AND (?3 IS NULL OR category = ?3) AND (?4 IS NULL OR customer_id = ?4) \
        AND (?5 IS NULL OR assignee_id = ?5)";
    let status = filter.status.map(TaskStatus::as_str);
    let customer = filter.customer.map(|c| c.to_string());
    let assignee = filter.assignee.map(|m| m.to_string());
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tasks WHERE {MATCHES}"))
        .bind(org.to_string())
        .bind(status)
        .bind(filter.category.as_deref())
        .bind(customer.clone())
        .bind(assignee.clone())
        .fetch_one(&mut *c)
        .await
        .map_err(map_err)?;
    let items = sqlx::query(&format!(
        "SELECT * FROM tasks WHERE {MATCHES} AND (?6 IS NULL OR id > ?6) ORDER BY id LIMIT ?7"
    ))
    .bind(org.to_string())
    .bind(status)
    .bind(filter.category.as_deref())
    .bind(customer)
    .bind(assignee)
    .bind(page.after.map(|a| a.to_string()))
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
    c: &mut SqliteConnection,
    org: OrgId,
) -> StoreResult<Vec<TaskCategory>> {
    sqlx::query("SELECT key, label, created_at FROM task_categories WHERE org_id = ? ORDER BY key")
        .bind(org.to_string())
        .fetch_all(c)
        .await
        .map_err(map_err)?
        .iter()
        .map(|row| {
            Ok(TaskCategory {
                key: get(row, "key")?,
                label: get(row, "label")?,
                created_at: time(get(row, "created_at")?)?,
            })
        })
        .collect()
}

pub(crate) async fn insert_task(c: &mut SqliteConnection, t: &Task) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO tasks (id, org_id, category, title, url, customer_id, assignee_id, status, \
         created_at, updated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(t.id.to_string())
    .bind(t.org_id.to_string())
    .bind(&t.category)
    .bind(&t.title)
    .bind(t.url.as_deref())
    .bind(t.customer_id.map(|c| c.to_string()))
    .bind(t.assignee_id.map(|m| m.to_string()))
    .bind(t.status.as_str())
    .bind(ms(t.created_at))
    .bind(ms(t.updated_at))
    .bind(opt_ms(t.closed_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn update_task(c: &mut SqliteConnection, t: &Task) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE tasks SET title = ?, url = ?, status = ?, updated_at = ?, closed_at = ? \
         WHERE org_id = ? AND id = ?",
    )
    .bind(&t.title)
    .bind(t.url.as_deref())
    .bind(t.status.as_str())
    .bind(ms(t.updated_at))
    .bind(opt_ms(t.closed_at))
    .bind(t.org_id.to_string())
    .bind(t.id.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn put_task_category(
    c: &mut SqliteConnection,
    org: OrgId,
    category: &TaskCategory,
    relabel: bool,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO task_categories (org_id, key, label, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (org_id, key) DO UPDATE SET label = CASE WHEN ?5 THEN excluded.label \
         ELSE task_categories.label END",
    )
    .bind(org.to_string())
    .bind(&category.key)
    .bind(&category.label)
    .bind(ms(category.created_at))
    .bind(relabel)
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn notification_prefs(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
) -> StoreResult<Option<NotificationPrefs>> {
    let Some(row) = sqlx::query(
        "SELECT digest_frequency, digest_categories FROM memberships WHERE org_id = ? AND id = ?",
    )
    .bind(org.to_string())
    .bind(membership.to_string())
    .fetch_optional(c)
    .await
    .map_err(map_err)?
    else {
        return Ok(None);
    };
    let categories = get::<Option<String>>(&row, "digest_categories")?
        .map(|json| parse(serde_json::from_str::<BTreeSet<String>>(&json)))
        .transpose()?;
    Ok(Some(NotificationPrefs {
        frequency: parse(DigestFrequency::parse(&get::<String>(
            &row,
            "digest_frequency",
        )?))?,
        categories,
    }))
}

pub(crate) async fn set_notification_prefs(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
    prefs: &NotificationPrefs,
    now: Timestamp,
) -> StoreResult<bool> {
    let r = sqlx::query(&format!(
        "UPDATE memberships SET digest_frequency = ?, digest_categories = ?, {REPLAN} \
         WHERE org_id = ? AND id = ?"
    ))
    .bind(prefs.frequency.as_str())
    .bind(categories_json(&prefs.categories)?)
    .bind(ms(now))
    .bind(org.to_string())
    .bind(membership.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

/// Forgets a planned digest time unless it is due already (its binding is `now`): a due
/// digest is handled with the new settings rather than skipped.
const REPLAN: &str = "digest_next_at = CASE WHEN digest_next_at <= ? THEN digest_next_at END";

fn due(row: &SqliteRow, due_at: Option<Timestamp>) -> StoreResult<DigestDue> {
    Ok(DigestDue {
        membership_id: MembershipId::from_uuid(uuid(&get::<String>(row, "id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(row, "org_id")?)?),
        due_at: match due_at {
            Some(at) => at,
            None => time(get(row, "digest_next_at")?)?,
        },
    })
}

pub(crate) async fn digests_due(
    c: &mut SqliteConnection,
    now: Timestamp,
    limit: u32,
) -> StoreResult<Vec<DigestDue>> {
    sqlx::query(
        "SELECT id, org_id, digest_next_at FROM memberships \
         WHERE digest_next_at <= ? ORDER BY digest_next_at, id LIMIT ?",
    )
    .bind(ms(now))
    .bind(i64::from(limit))
    .fetch_all(c)
    .await
    .map_err(map_err)?
    .iter()
    .map(|row| due(row, None))
    .collect()
}

pub(crate) async fn digests_unplanned(
    c: &mut SqliteConnection,
    now: Timestamp,
    limit: u32,
) -> StoreResult<Vec<DigestDue>> {
    sqlx::query(
        "SELECT id, org_id FROM memberships WHERE digest_next_at IS NULL AND status = 'active' \
         ORDER BY id LIMIT ?",
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
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
    categories: Option<&BTreeSet<String>>,
    customers: &DigestCustomers,
    limit: u32,
) -> StoreResult<(Vec<DigestTask>, u64)> {
    // Sets travel as JSON arrays and open up with json_each, so one statement serves any
    // number of categories and customers.
    let categories_json = categories
        .map(|c| serde_json::to_string(c).map_err(|e| corrupt(e.to_string())))
        .transpose()?;
    let (all_customers, customers_json) = match customers {
        DigestCustomers::All => (true, "[]".to_owned()),
        DigestCustomers::Only(ids) => (
            false,
            serde_json::to_string(&ids.iter().map(|i| i.to_string()).collect::<Vec<_>>())
                .map_err(|e| corrupt(e.to_string()))?,
        ),
        DigestCustomers::None => (false, "[]".to_owned()),
    };
    const MATCHES: &str = "t.org_id = ?1 AND t.status = 'open' \
        AND (t.assignee_id IS NULL OR t.assignee_id = ?2 OR NOT EXISTS (SELECT 1 \
             FROM memberships a WHERE a.id = t.assignee_id AND a.status = 'active')) \
        AND (?3 IS NULL OR t.category IN (SELECT value FROM json_each(?3))) \
        AND (?4 OR t.customer_id IS NULL OR t.customer_id IN (SELECT value FROM json_each(?5)))";
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM tasks t WHERE {MATCHES}"))
        .bind(org.to_string())
        .bind(membership.to_string())
        .bind(categories_json.as_deref())
        .bind(all_customers)
        .bind(&customers_json)
        .fetch_one(&mut *c)
        .await
        .map_err(map_err)?;
    let rows = sqlx::query(&format!(
        "SELECT t.*, cu.name AS customer_name FROM tasks t \
         LEFT JOIN customers cu ON cu.id = t.customer_id AND cu.org_id = t.org_id \
         WHERE {MATCHES} ORDER BY t.id LIMIT ?6"
    ))
    .bind(org.to_string())
    .bind(membership.to_string())
    .bind(categories_json.as_deref())
    .bind(all_customers)
    .bind(&customers_json)
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
    c: &mut SqliteConnection,
    membership: MembershipId,
    period: &str,
) -> StoreResult<Option<DigestRecord>> {
    let Some(row) = sqlx::query("SELECT * FROM digests WHERE membership_id = ? AND period = ?")
        .bind(membership.to_string())
        .bind(period)
        .fetch_optional(c)
        .await
        .map_err(map_err)?
    else {
        return Ok(None);
    };
    let count: i64 = get(&row, "task_count")?;
    Ok(Some(DigestRecord {
        membership_id: MembershipId::from_uuid(uuid(&get::<String>(&row, "membership_id")?)?),
        org_id: OrgId::from_uuid(uuid(&get::<String>(&row, "org_id")?)?),
        period: get(&row, "period")?,
        task_count: u32::try_from(count).map_err(|_| corrupt(format!("bad task_count {count}")))?,
        outbox_id: opt_uuid(get(&row, "outbox_id")?)?.map(OutboxId::from_uuid),
        created_at: time(get(&row, "created_at")?)?,
    }))
}

pub(crate) async fn plan_digest(
    c: &mut SqliteConnection,
    org: OrgId,
    membership: MembershipId,
    expected: Option<Timestamp>,
    due_at: Option<Timestamp>,
) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE memberships SET digest_next_at = ?1 \
         WHERE org_id = ?2 AND id = ?3 AND digest_next_at IS ?4",
    )
    .bind(opt_ms(due_at))
    .bind(org.to_string())
    .bind(membership.to_string())
    .bind(opt_ms(expected))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn replan_digests_of_identity(
    c: &mut SqliteConnection,
    identity: IdentityId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "UPDATE memberships SET {REPLAN} WHERE identity_id = ?"
    ))
    .bind(ms(now))
    .bind(identity.to_string())
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn replan_digests_of_org(
    c: &mut SqliteConnection,
    org: OrgId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(&format!("UPDATE memberships SET {REPLAN} WHERE org_id = ?"))
        .bind(ms(now))
        .bind(org.to_string())
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn record_digest(c: &mut SqliteConnection, r: &DigestRecord) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO digests (membership_id, period, org_id, task_count, outbox_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (membership_id, period) DO NOTHING",
    )
    .bind(r.membership_id.to_string())
    .bind(&r.period)
    .bind(r.org_id.to_string())
    .bind(i64::from(r.task_count))
    .bind(r.outbox_id.map(|o| o.to_string()))
    .bind(ms(r.created_at))
    .execute(c)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn prune_digests(c: &mut SqliteConnection, before: Timestamp) -> StoreResult<u64> {
    let r = sqlx::query("DELETE FROM digests WHERE created_at < ?")
        .bind(ms(before))
        .execute(c)
        .await
        .map_err(map_err)?;
    Ok(r.rows_affected())
}
