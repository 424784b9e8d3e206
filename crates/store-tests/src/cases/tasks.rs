//! Tasks, task categories, notification settings and the digest schedule: written, read
//! back, filtered, kept inside their organization, and each digest period handled once.

use super::S;
use crate::fixtures::{self, now, tenant};
use chrono::Duration;
use roster_core::clock::Timestamp;
use roster_core::ids::*;
use roster_core::model::*;
use roster_core::names::DisplayName;
use roster_core::store::{StoreError, Tx};
use std::collections::BTreeSet;

fn category(key: &str, label: &str) -> TaskCategory {
    TaskCategory {
        key: key.into(),
        label: label.into(),
        created_at: now(),
    }
}

fn task(org: OrgId, category: &str, title: &str) -> Task {
    Task {
        id: TaskId::new(),
        org_id: org,
        category: category.into(),
        title: title.into(),
        url: None,
        customer_id: None,
        assignee_id: None,
        status: TaskStatus::Open,
        created_at: now(),
        updated_at: now(),
        closed_at: None,
    }
}

fn customer(org: OrgId, name: &str) -> Customer {
    Customer {
        id: CustomerId::new(),
        org_id: org,
        name: DisplayName::parse(name).unwrap(),
        external_id: None,
        assigned: 0,
        created_at: now(),
        updated_at: now(),
    }
}

async fn add(tx: &mut dyn Tx, t: &Task) {
    tx.put_task_category(t.org_id, &category(&t.category, &t.category), false)
        .await
        .unwrap();
    tx.insert_task(t).await.unwrap();
}

pub async fn tasks_are_kept_per_organization_listed_and_closed(store: S) {
    let acme = tenant(&*store, "acme").await;
    let globex = tenant(&*store, "globex").await;
    let initech = customer(acme.org.id, "Initech");
    let foreign = customer(globex.org.id, "Umbrella");
    let mut renew = task(acme.org.id, "renewals", "Renew Initech");
    renew.customer_id = Some(initech.id);
    renew.url = Some("https://portal.example/t/1".into());
    let mut welcome = task(acme.org.id, "onboarding", "Welcome call");
    welcome.assignee_id = Some(acme.membership.id);
    let theirs = task(globex.org.id, "renewals", "Their task");

    let mut tx = store.begin().await.unwrap();
    tx.insert_customer(&initech).await.unwrap();
    tx.insert_customer(&foreign).await.unwrap();
    for t in [&renew, &welcome, &theirs] {
        add(&mut *tx, t).await;
    }
    // A label given later replaces the key; one not asked for does not.
    tx.put_task_category(
        acme.org.id,
        &category("renewals", "Contract renewals"),
        true,
    )
    .await
    .unwrap();
    tx.put_task_category(acme.org.id, &category("renewals", "ignored"), false)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.task(acme.org.id, renew.id).await.unwrap(),
        Some(renew.clone())
    );
    assert_eq!(r.task(globex.org.id, renew.id).await.unwrap(), None);
    let labels: Vec<(String, String)> = r
        .task_categories(acme.org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.key, c.label))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("onboarding".into(), "onboarding".into()),
            ("renewals".into(), "Contract renewals".into()),
        ]
    );
    let all = r
        .list_tasks(
            acme.org.id,
            &TaskFilter::default(),
            PageRequest::new(Some(1), None),
        )
        .await
        .unwrap();
    assert_eq!((all.total, all.items.len()), (2, 1));
    assert_eq!(all.items[0].id, renew.id, "oldest first");
    let rest = r
        .list_tasks(
            acme.org.id,
            &TaskFilter::default(),
            PageRequest::new(Some(1), all.next_after),
        )
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![welcome.id]
    );
    assert_eq!(rest.next_after, None);
    for (filter, want) in [
        (
            TaskFilter {
                category: Some("onboarding".into()),
                ..TaskFilter::default()
            },
            vec![welcome.id],
        ),
        (
            TaskFilter {
                customer: Some(initech.id),
                ..TaskFilter::default()
            },
            vec![renew.id],
        ),
        (
            TaskFilter {
                assignee: Some(acme.membership.id),
                ..TaskFilter::default()
            },
            vec![welcome.id],
        ),
        (
            TaskFilter {
                status: Some(TaskStatus::Done),
                ..TaskFilter::default()
            },
            vec![],
        ),
    ] {
        let page = r
            .list_tasks(acme.org.id, &filter, PageRequest::default())
            .await
            .unwrap();
        assert_eq!(
            page.items.iter().map(|t| t.id).collect::<Vec<_>>(),
            want,
            "{filter:?}"
        );
        assert_eq!(page.total, want.len() as u64);
    }
    drop(r);

    // Closing: status and times change; the organization, category and links do not.
    let mut done = renew.clone();
    done.status = TaskStatus::Done;
    done.closed_at = Some(now() + Duration::minutes(5));
    done.updated_at = now() + Duration::minutes(5);
    done.title = "Renewed Initech".into();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_task(&done).await.unwrap());
    let mut elsewhere = done.clone();
    elsewhere.org_id = globex.org.id;
    assert!(
        !tx.update_task(&elsewhere).await.unwrap(),
        "not globex's task"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .reads()
            .await
            .unwrap()
            .task(acme.org.id, renew.id)
            .await
            .unwrap(),
        Some(done)
    );

    // The database keeps a task, its customer and its assignee in one organization, and a
    // task's category must exist.
    let mut tx = store.begin().await.unwrap();
    let mut cross = task(acme.org.id, "renewals", "Cross");
    cross.customer_id = Some(foreign.id);
    assert!(tx.insert_task(&cross).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let mut cross = task(acme.org.id, "renewals", "Cross");
    cross.assignee_id = Some(globex.membership.id);
    assert!(tx.insert_task(&cross).await.is_err());
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .insert_task(&task(acme.org.id, "never-registered", "x"))
        .await
        .is_err());
    drop(tx);

    // A deleted customer takes its tasks along.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.delete_customer(acme.org.id, initech.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(r.task(acme.org.id, renew.id).await.unwrap(), None);
    assert!(r.task(acme.org.id, welcome.id).await.unwrap().is_some());
}

/// Makes the tenant's admin active (digests go to active members only).
async fn activate(store: &S, m: &Membership) {
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_membership_status(
            m.org_id,
            m.id,
            MembershipStatus::Invited,
            MembershipStatus::Active,
            now()
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
}

async fn unplanned(store: &S) -> Vec<MembershipId> {
    store
        .reads()
        .await
        .unwrap()
        .digests_unplanned(now(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.membership_id)
        .collect()
}

async fn due(store: &S, at: Timestamp) -> Vec<(MembershipId, Timestamp)> {
    store
        .reads()
        .await
        .unwrap()
        .digests_due(at, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.membership_id, d.due_at))
        .collect()
}

pub async fn notification_settings_round_trip_and_clear_the_digest_plan(store: S) {
    let acme = tenant(&*store, "acme").await;
    let globex = tenant(&*store, "globex").await;
    let m = acme.membership.id;
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.notification_prefs(acme.org.id, m).await.unwrap(),
        Some(NotificationPrefs::default()),
        "weekly, every category, until the member chooses"
    );
    assert_eq!(r.notification_prefs(globex.org.id, m).await.unwrap(), None);
    drop(r);

    // Only active members are planned.
    assert!(unplanned(&store).await.is_empty());
    activate(&store, &acme.membership).await;
    activate(&store, &globex.membership).await;
    let mut both = vec![m, globex.membership.id];
    both.sort();
    assert_eq!(unplanned(&store).await, both);

    let t0 = now();
    let (a, g) = (acme.org.id, globex.org.id);
    let gm = globex.membership.id;
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .plan_digest(a, m, None, Some(t0 + Duration::hours(1)))
        .await
        .unwrap());
    assert!(tx
        .plan_digest(g, gm, None, Some(t0 + Duration::hours(2)))
        .await
        .unwrap());
    // Compare-and-set: a plan read before another moved it changes nothing; another
    // organization's id neither.
    assert!(!tx.plan_digest(a, m, None, Some(t0)).await.unwrap());
    assert!(!tx
        .plan_digest(g, m, Some(t0 + Duration::hours(1)), Some(t0))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert!(unplanned(&store).await.is_empty());
    assert!(due(&store, t0).await.is_empty());
    assert_eq!(
        due(&store, t0 + Duration::hours(1)).await,
        vec![(m, t0 + Duration::hours(1))]
    );
    assert_eq!(due(&store, t0 + Duration::hours(3)).await.len(), 2);

    // New settings: stored, and a plan not yet due is cleared so the scheduler plans again.
    let chosen = NotificationPrefs {
        frequency: DigestFrequency::Daily,
        categories: Some(BTreeSet::from(["renewals".to_owned(), "sla".to_owned()])),
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.set_notification_prefs(a, m, &chosen, t0).await.unwrap());
    assert!(
        !tx.set_notification_prefs(g, m, &chosen, t0).await.unwrap(),
        "not globex's member"
    );
    tx.commit().await.unwrap();
    let read = |org| {
        let store = store.clone();
        async move {
            store
                .reads()
                .await
                .unwrap()
                .notification_prefs(org, m)
                .await
                .unwrap()
        }
    };
    assert_eq!(read(a).await, Some(chosen.clone()));
    assert_eq!(unplanned(&store).await, vec![m]);
    // A plan already due stays: that digest is handled with the new settings.
    let none = NotificationPrefs {
        frequency: DigestFrequency::Weekly,
        categories: Some(BTreeSet::new()),
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.plan_digest(a, m, None, Some(t0)).await.unwrap());
    assert!(tx
        .set_notification_prefs(a, m, &none, t0 + Duration::minutes(1))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        read(a).await,
        Some(none),
        "no category is not every category"
    );
    assert!(unplanned(&store).await.is_empty());
    assert_eq!(due(&store, t0).await, vec![(m, t0)]);

    // A time zone change plans again the plans not yet due, of that person or organization
    // only.
    let later = t0 + Duration::hours(5);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.plan_digest(a, m, Some(t0), Some(later)).await.unwrap());
    tx.replan_digests_of_identity(globex.identity.id, t0)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(unplanned(&store).await, vec![gm]);
    let mut tx = store.begin().await.unwrap();
    assert!(tx.plan_digest(g, gm, None, Some(later)).await.unwrap());
    tx.replan_digests_of_org(a, later).await.unwrap();
    tx.commit().await.unwrap();
    assert!(unplanned(&store).await.is_empty(), "due at `later`: kept");
    let mut tx = store.begin().await.unwrap();
    tx.replan_digests_of_org(a, t0).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(unplanned(&store).await, vec![m]);
}

pub async fn digest_tasks_follow_categories_customers_and_assignees(store: S) {
    let acme = tenant(&*store, "acme").await;
    let globex = tenant(&*store, "globex").await;
    let me = acme.membership.id;
    let other = fixtures::identity("other@acme.example");
    let mut colleague = fixtures::membership(&acme.org, &other, &[BuiltinRole::User]);
    colleague.status = MembershipStatus::Active;
    // A task assigned to someone who is not active (here: still invited) reaches everyone
    // rather than nobody.
    let pending = fixtures::identity("pending@acme.example");
    let invitee = fixtures::membership(&acme.org, &pending, &[BuiltinRole::User]);
    let initech = customer(acme.org.id, "Initech");
    let hooli = customer(acme.org.id, "Hooli");
    let mut general = task(acme.org.id, "renewals", "General");
    general.url = Some("https://portal.example/general".into());
    let mut of_initech = task(acme.org.id, "renewals", "For Initech");
    of_initech.customer_id = Some(initech.id);
    let mut of_hooli = task(acme.org.id, "renewals", "For Hooli");
    of_hooli.customer_id = Some(hooli.id);
    let mut mine = task(acme.org.id, "onboarding", "Mine");
    mine.assignee_id = Some(me);
    let mut theirs = task(acme.org.id, "onboarding", "Assigned to a colleague");
    theirs.assignee_id = Some(colleague.id);
    let mut stranded = task(acme.org.id, "onboarding", "Assigned to an invitee");
    stranded.assignee_id = Some(invitee.id);
    let mut closed = task(acme.org.id, "renewals", "Closed");
    closed.status = TaskStatus::Done;
    let foreign = task(globex.org.id, "renewals", "Globex's");
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&other).await.unwrap();
    tx.insert_membership(&colleague).await.unwrap();
    tx.insert_identity(&pending).await.unwrap();
    tx.insert_membership(&invitee).await.unwrap();
    assert!(tx
        .set_membership_status(
            acme.org.id,
            me,
            MembershipStatus::Invited,
            MembershipStatus::Active,
            now()
        )
        .await
        .unwrap());
    tx.insert_customer(&initech).await.unwrap();
    tx.insert_customer(&hooli).await.unwrap();
    for t in [
        &general,
        &of_initech,
        &of_hooli,
        &mine,
        &theirs,
        &stranded,
        &closed,
        &foreign,
    ] {
        add(&mut *tx, t).await;
    }
    tx.commit().await.unwrap();

    let titles = |(tasks, total): (Vec<DigestTask>, u64)| {
        assert_eq!(total as usize, tasks.len());
        tasks.into_iter().map(|t| t.task.title).collect::<Vec<_>>()
    };
    let mut r = store.reads().await.unwrap();
    let all = DigestCustomers::All;
    assert_eq!(
        titles(
            r.digest_tasks(acme.org.id, me, None, &all, 50)
                .await
                .unwrap()
        ),
        vec![
            "General",
            "For Initech",
            "For Hooli",
            "Mine",
            "Assigned to an invitee"
        ],
        "open, unassigned or mine, every category, oldest first"
    );
    let renewals = BTreeSet::from(["renewals".to_owned()]);
    let only_initech = DigestCustomers::Only(BTreeSet::from([initech.id]));
    assert_eq!(
        titles(
            r.digest_tasks(acme.org.id, me, Some(&renewals), &only_initech, 50)
                .await
                .unwrap()
        ),
        vec!["General", "For Initech"]
    );
    assert_eq!(
        titles(
            r.digest_tasks(acme.org.id, me, None, &DigestCustomers::None, 50)
                .await
                .unwrap()
        ),
        vec!["General", "Mine", "Assigned to an invitee"],
        "no customer data: only tasks of no customer"
    );
    assert!(titles(
        r.digest_tasks(acme.org.id, me, Some(&BTreeSet::new()), &all, 50)
            .await
            .unwrap()
    )
    .is_empty());
    assert_eq!(
        titles(
            r.digest_tasks(acme.org.id, colleague.id, None, &all, 50)
                .await
                .unwrap()
        ),
        vec![
            "General",
            "For Initech",
            "For Hooli",
            "Assigned to a colleague",
            "Assigned to an invitee"
        ]
    );
    // The customer's name comes along; a bounded page still counts them all.
    let (listed, total) = r
        .digest_tasks(acme.org.id, me, Some(&renewals), &all, 2)
        .await
        .unwrap();
    assert_eq!((listed.len(), total), (2, 3));
    assert_eq!(listed[0].task, general);
    assert_eq!(listed[0].customer_name, None);
    assert_eq!(listed[1].customer_name.as_deref(), Some("Initech"));
    // Another organization's id finds only that organization's tasks.
    assert_eq!(
        titles(
            r.digest_tasks(globex.org.id, me, None, &all, 50)
                .await
                .unwrap()
        ),
        vec!["Globex's"]
    );
}

fn record(m: &Membership, period: &str, outbox: Option<OutboxId>) -> DigestRecord {
    DigestRecord {
        membership_id: m.id,
        org_id: m.org_id,
        period: period.into(),
        task_count: 3,
        outbox_id: outbox,
        created_at: now(),
    }
}

pub async fn digest_records_are_unique_per_membership_and_period(store: S) {
    let acme = tenant(&*store, "acme").await;
    let m = &acme.membership;
    let first = record(m, "weekly:2026-11-23", Some(OutboxId::new()));
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_digest(&first).await.unwrap());
    assert!(
        !tx.record_digest(&record(m, "weekly:2026-11-23", None))
            .await
            .unwrap(),
        "the period is handled"
    );
    assert!(tx
        .record_digest(&record(m, "weekly:2026-11-30", None))
        .await
        .unwrap());
    assert!(tx
        .record_digest(&record(m, "daily:2026-11-23", None))
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.digest_record(m.id, "weekly:2026-11-23").await.unwrap(),
        Some(first)
    );
    assert_eq!(
        r.digest_record(m.id, "weekly:2026-12-07").await.unwrap(),
        None
    );
    drop(r);
    // Records are pruned by age: none younger than the cut, all older.
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.prune_digests(now() - Duration::days(1)).await.unwrap(),
        0
    );
    tx.commit().await.unwrap();
    assert!(store
        .reads()
        .await
        .unwrap()
        .digest_record(m.id, "weekly:2026-11-30")
        .await
        .unwrap()
        .is_some());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.prune_digests(now() + Duration::minutes(1))
            .await
            .unwrap(),
        3
    );
    tx.commit().await.unwrap();
    assert_eq!(
        store
            .reads()
            .await
            .unwrap()
            .digest_record(m.id, "weekly:2026-11-23")
            .await
            .unwrap(),
        None
    );
    // A rolled-back record was never made.
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .record_digest(&record(m, "weekly:2026-12-07", None))
        .await
        .unwrap());
    drop(tx);
    assert_eq!(
        store
            .reads()
            .await
            .unwrap()
            .digest_record(m.id, "weekly:2026-12-07")
            .await
            .unwrap(),
        None
    );
}

pub async fn concurrent_digest_records_let_exactly_one_win(store: S) {
    let acme = tenant(&*store, "acme").await;
    let mut handles = vec![];
    for _ in 0..8 {
        let store = store.clone();
        let r = record(&acme.membership, "daily:2026-11-23", Some(OutboxId::new()));
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let won = tx.record_digest(&r).await?;
            tx.commit().await?;
            Ok::<(bool, Option<OutboxId>), StoreError>((won, r.outbox_id))
        }));
    }
    let mut winners = vec![];
    for h in handles {
        // A backend may refuse a racing writer (busy); it must never let two in.
        if let Ok((true, outbox)) = h.await.unwrap() {
            winners.push(outbox);
        }
    }
    assert_eq!(winners.len(), 1);
    let kept = store
        .reads()
        .await
        .unwrap()
        .digest_record(acme.membership.id, "daily:2026-11-23")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.outbox_id, winners[0]);
}

/// A digest whose email cannot be queued leaves no record (so the period is not lost), does
/// not stop the pass for the members after it, and goes out when tried again.
pub async fn a_failed_digest_is_rolled_back_and_tried_again(store: S) {
    use crate::failing::{FailOn, FailingStore};
    use roster_core::clock::ManualClock;
    use roster_core::{Links, Roster};
    use std::sync::Arc;

    let acme = tenant(&*store, "acme").await;
    activate(&store, &acme.membership).await;
    let mut tx = store.begin().await.unwrap();
    add(&mut *tx, &task(acme.org.id, "renewals", "Renew Initech")).await;
    tx.commit().await.unwrap();
    let clock = ManualClock::starting_now();
    // Tuesday 24 November 2026, before 08:00 UTC (the organization's default zone).
    clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-11-24T06:00:00Z")
            .unwrap()
            .into(),
    );
    let make = |store: S| {
        Roster::new(
            store,
            Arc::new(clock.clone()),
            Links::new("https://roster.test"),
        )
    };
    let daily = NotificationPrefs {
        frequency: DigestFrequency::Daily,
        categories: None,
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx
        .set_notification_prefs(acme.org.id, acme.membership.id, &daily, now())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        make(store.clone()).run_digests(10).await.unwrap().planned,
        1
    );

    clock.advance(Duration::hours(2));
    let failing: S = Arc::new(FailingStore::new(store.clone(), FailOn::EnqueueOutbox));
    let pass = make(failing).run_digests(10).await.unwrap();
    assert_eq!((pass.failed, pass.queued), (1, 0), "{pass:?}");
    let mut r = store.reads().await.unwrap();
    assert_eq!(
        r.digest_record(acme.membership.id, "daily:2026-11-24")
            .await
            .unwrap(),
        None,
        "rolled back with the email"
    );
    assert_eq!(r.outbox_counts().await.unwrap().pending, 0);
    drop(r);

    // Not before its retry time; then once.
    let healthy = make(store.clone());
    assert_eq!(healthy.run_digests(10).await.unwrap(), Default::default());
    clock.advance(Duration::minutes(15));
    assert_eq!(healthy.run_digests(10).await.unwrap().queued, 1);
    let record = store
        .reads()
        .await
        .unwrap()
        .digest_record(acme.membership.id, "daily:2026-11-24")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.task_count, 1);
    assert!(record.outbox_id.is_some());
    clock.advance(Duration::hours(1));
    assert_eq!(healthy.run_digests(10).await.unwrap().queued, 0);
}
