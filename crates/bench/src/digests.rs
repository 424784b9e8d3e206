//! The digest scheduler's throughput, in process, on the same kind of store the server uses:
//! members with a daily digest of open tasks (some limited to an assigned customer) are
//! planned, then the clock is set to 08:00 and passes run until every digest is queued.
//! Each digest is one write transaction (the period's record, the email, the next plan),
//! so the raw insert transaction rate of the same run is its limit.

use crate::report::{Limit, Measured, Row};
use crate::server::StoreSpec;
use anyhow::Context;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use roster_core::clock::ManualClock;
use roster_core::email::Email;
use roster_core::ids::{CustomerId, OrgId, TaskId};
use roster_core::model::{
    BuiltinRole, Customer, DigestFrequency, Identity, Membership, MembershipStatus,
    NotificationPrefs, OrgKind, OrgSettings, Organization, Task, TaskCategory, TaskStatus,
};
use roster_core::names::{DisplayName, Slug};
use roster_core::store::Store;
use roster_core::{Links, Roster};
use std::sync::Arc;
use std::time::Instant;

/// Memberships a pass handles, as `roster serve` runs it.
const BATCH: u32 = 200;
/// 100,000 members' daily digests within ten minutes.
const GOAL_PER_S: f64 = 170.0;

async fn open(spec: &StoreSpec) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match spec.database_url() {
        None => {
            let store =
                roster_store_sqlite::SqliteStore::open(&spec.dir().join("digest-bench.db")).await?;
            store.migrate().await?;
            Arc::new(store)
        }
        Some(url) => {
            let store = roster_store_postgres::PostgresStore::connect(url).await?;
            store.migrate().await?;
            Arc::new(store)
        }
    })
}

fn at(s: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(s)?.with_timezone(&Utc))
}

/// Seeds an organization with `members` active members on a daily digest and 30 open tasks
/// in three categories, ten of them about a customer that every tenth member is assigned.
async fn seed(store: &dyn Store, members: usize, now: DateTime<Utc>) -> anyhow::Result<()> {
    let slug = format!("digests-{}", now.timestamp_millis());
    let org = Organization {
        id: OrgId::new(),
        kind: OrgKind::Provider,
        name: DisplayName::parse("Digest bench")?,
        slug: Slug::parse(&slug)?,
        settings: OrgSettings::default(),
        created_at: now,
        updated_at: now,
        access_version: 0,
    };
    let customer = Customer {
        id: CustomerId::new(),
        org_id: org.id,
        name: DisplayName::parse("Initech")?,
        external_id: None,
        assigned: 0,
        created_at: now,
        updated_at: now,
    };
    let mut tx = store.begin().await?;
    tx.insert_org(&org).await?;
    tx.insert_customer(&customer).await?;
    for (i, key) in ["renewals", "onboarding", "sla"].iter().enumerate() {
        tx.put_task_category(
            org.id,
            &TaskCategory {
                key: (*key).to_owned(),
                label: key.to_uppercase(),
                created_at: now,
            },
            false,
        )
        .await?;
        for n in 0..10 {
            tx.insert_task(&Task {
                id: TaskId::new(),
                org_id: org.id,
                category: (*key).to_owned(),
                title: format!("Task {n} of {key}"),
                url: Some(format!("https://portal.example/tasks/{i}-{n}")),
                customer_id: (i == 0).then_some(customer.id),
                assignee_id: None,
                status: TaskStatus::Open,
                created_at: now,
                updated_at: now,
                closed_at: None,
            })
            .await?;
        }
    }
    tx.commit().await?;
    let daily = NotificationPrefs {
        frequency: DigestFrequency::Daily,
        categories: None,
    };
    for chunk in (0..members).collect::<Vec<_>>().chunks(500) {
        let mut tx = store.begin().await?;
        for i in chunk {
            let identity = Identity::new(
                Email::parse(&format!("member-{i}@{slug}.example"))?,
                None,
                now,
            );
            let membership = Membership::new(
                org.id,
                identity.id,
                MembershipStatus::Active,
                [BuiltinRole::User],
                now,
            );
            tx.insert_identity(&identity).await?;
            tx.insert_membership(&membership).await?;
            tx.set_notification_prefs(org.id, membership.id, &daily, now)
                .await?;
            if i % 10 == 0 {
                tx.set_customer_assignments(org.id, membership.id, &[customer.id], now)
                    .await?;
            }
        }
        tx.commit().await?;
    }
    Ok(())
}

pub async fn digest_row(spec: &StoreSpec, members: usize, raw: Limit) -> anyhow::Result<Row> {
    let store = open(spec).await.context("opening the digest bench store")?;
    // A Tuesday far enough ahead that no real clock reaches it while the bench runs.
    let clock = ManualClock::starting_now();
    clock.set(at("2031-01-07T06:00:00Z")?);
    seed(&*store, members, at("2031-01-07T06:00:00Z")?).await?;
    let roster = Roster::new(
        store.clone(),
        Arc::new(clock.clone()),
        Links::new("https://roster.example"),
    );
    while roster.run_digests(1000).await?.planned > 0 {}

    clock.set(at("2031-01-07T08:00:00Z")?);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut queued = 0usize;
    let started = Instant::now();
    loop {
        let t = Instant::now();
        let pass = roster.run_digests(BATCH).await?;
        let handled = pass.queued + pass.empty + pass.skipped + pass.failed;
        if handled == 0 {
            break;
        }
        anyhow::ensure!(pass.failed == 0, "digests failed in the bench: {pass:?}");
        queued += pass.queued;
        // Each digest's share of its pass, one sample per digest.
        let each = (t.elapsed().as_micros() as u64 / handled as u64).max(1);
        histogram.record_n(each, handled as u64)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        queued >= members,
        "only {queued} of {members} digests were queued"
    );
    store.close().await;
    let per_s = queued as f64 / elapsed;
    let us = |q: f64| histogram.value_at_quantile(q) as f64;
    let ratio = per_s / raw.per_s;
    Ok(Row {
        scenario: format!("digests queued ({members} members, in process)"),
        measured: Measured::InProcess {
            per_s,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            samples: histogram.len(),
        },
        limit: Some(raw),
        ratio: Some(ratio),
        goal: format!("≥ {GOAL_PER_S:.0}/s (100k daily in 10 min)"),
        met: Some(per_s >= GOAL_PER_S),
    })
}

/// Members in the digest scenario.
pub fn members(quick: bool) -> usize {
    if quick {
        300
    } else {
        10_000
    }
}
