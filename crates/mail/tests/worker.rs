//! The outbox worker against a real store and the file transport.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use roster_core::clock::{Clock, ManualClock};
use roster_core::email::Email;
use roster_core::model::{Notice, OutboxMessage, OutboxStatus};
use roster_core::store::Store;
use roster_mail::transport::eml_path;
use roster_mail::worker::Pass;
use roster_mail::{MessageSettings, OutboxWorker, Transport, WorkerSettings};
use roster_store_sqlite::SqliteStore;
use std::sync::Arc;

async fn store(dir: &std::path::Path) -> Arc<dyn Store> {
    let s = SqliteStore::open(&dir.join("roster.db")).await.unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

fn settings() -> MessageSettings {
    MessageSettings {
        from: "Roster <roster@roster.test>".parse().unwrap(),
        message_id_domain: "roster.test".into(),
    }
}

fn access_granted(clock: &ManualClock, to: &str) -> OutboxMessage {
    OutboxMessage::new(
        None,
        Email::parse(to).unwrap(),
        Notice::AccessGranted {
            org_name: "Acme".into(),
            inviter_name: None,
            link: "https://roster.test/sign-in".into(),
        },
        clock.now(),
    )
}

async fn put(store: &dyn Store, m: &OutboxMessage) {
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_outbox(m).await.unwrap();
    tx.commit().await.unwrap();
}

/// A worker with default settings delivering into `mail_dir`.
fn file_worker(
    store: &Arc<dyn Store>,
    clock: &ManualClock,
    mail_dir: &std::path::Path,
) -> OutboxWorker {
    OutboxWorker::new(
        store.clone(),
        Arc::new(clock.clone()),
        Transport::File(mail_dir.to_path_buf()),
        settings(),
        WorkerSettings::default(),
    )
}

async fn enqueue(store: &dyn Store, clock: &ManualClock, to: &str) -> OutboxMessage {
    let m = access_granted(clock, to);
    put(store, &m).await;
    m
}

#[tokio::test]
async fn delivers_each_message_once_to_a_file_named_by_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let mail_dir = dir.path().join("mail");
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = file_worker(&store, &clock, &mail_dir);

    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass {
            sent: 1,
            retried: 0,
            failed: 0
        }
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass::default(),
        "never sent twice"
    );
    let eml = std::fs::read_to_string(eml_path(&mail_dir, m.id)).unwrap();
    assert!(eml.contains("To: ada@example.com"));
    assert!(eml.contains("Subject: You now have access to Acme"));
    assert_eq!(std::fs::read_dir(&mail_dir).unwrap().count(), 1);
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.notice, None);
}

#[tokio::test]
async fn a_failing_transport_retries_with_backoff_then_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let clock = ManualClock::starting_now();
    // A file where the mail directory should be: every delivery fails.
    let blocked = dir.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let settings = WorkerSettings {
        max_attempts: 3,
        ..WorkerSettings::default()
    };
    let worker = OutboxWorker::new(
        store.clone(),
        Arc::new(clock.clone()),
        Transport::File(blocked.clone()),
        self::settings(),
        settings,
    );

    assert_eq!(worker.run_once().await.unwrap().retried, 1);
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Pending);
    assert!(row.last_error.is_some());
    let first_wait = row.next_attempt_at - clock.now();
    assert!(
        first_wait >= Duration::seconds(30) && first_wait <= Duration::seconds(36),
        "{first_wait}"
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass::default(),
        "not due yet"
    );

    clock.advance(first_wait);
    assert_eq!(worker.run_once().await.unwrap().retried, 1);
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    let second_wait = row.next_attempt_at - clock.now();
    assert!(
        second_wait >= Duration::seconds(60) && second_wait <= Duration::seconds(72),
        "doubles: {second_wait}"
    );

    clock.advance(second_wait);
    assert_eq!(worker.run_once().await.unwrap().failed, 1);
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutboxStatus::Failed);
    assert_eq!(row.attempts, 3);
    assert!(row.notice.is_some(), "kept, so an operator can retry it");
    assert!(row.last_error.is_some());

    // Nothing was lost, and nothing more is tried on its own.
    clock.advance(Duration::hours(2));
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());

    // `roster mail retry`: due now, attempts counted afresh; a working transport sends it.
    let mut tx = store.begin().await.unwrap();
    assert!(tx.retry_outbox(m.id, clock.now()).await.unwrap());
    tx.commit().await.unwrap();
    let mail_dir = dir.path().join("mail");
    let fixed = OutboxWorker::new(
        store.clone(),
        Arc::new(clock.clone()),
        Transport::File(mail_dir.clone()),
        self::settings(),
        WorkerSettings::default(),
    );
    assert_eq!(fixed.run_once().await.unwrap().sent, 1);
    assert!(eml_path(&mail_dir, m.id).exists());
    let row = store
        .reads()
        .await
        .unwrap()
        .outbox_message(m.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.status, row.attempts), (OutboxStatus::Sent, 1));
    assert_eq!(row.notice, None, "a sent message keeps no live link");

    // Only a failed message can be retried: a sent one stays sent.
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.retry_outbox(m.id, clock.now()).await.unwrap());
}

/// A batch's outcomes are recorded as they gather; each message still gets its own: sent,
/// or failed for good when it cannot be built.
#[tokio::test]
async fn a_batch_records_each_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let mail_dir = dir.path().join("mail");
    let first = enqueue(&*store, &clock, "ada@example.com").await;
    // No content: it can never be built, so it fails for good without a retry.
    let empty = OutboxMessage {
        notice: None,
        ..access_granted(&clock, "bob@example.com")
    };
    put(&*store, &empty).await;
    let last = enqueue(&*store, &clock, "cy@example.com").await;
    let worker = file_worker(&store, &clock, &mail_dir);

    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass {
            sent: 2,
            retried: 0,
            failed: 1
        }
    );
    let mut reads = store.reads().await.unwrap();
    for (id, status) in [
        (first.id, OutboxStatus::Sent),
        (empty.id, OutboxStatus::Failed),
        (last.id, OutboxStatus::Sent),
    ] {
        let row = reads.outbox_message(id).await.unwrap().unwrap();
        assert_eq!(row.status, status);
    }
    drop(reads);
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    assert_eq!(std::fs::read_dir(&mail_dir).unwrap().count(), 2);
}

#[tokio::test]
async fn a_stopping_worker_gives_back_what_it_did_not_send() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let mail_dir = dir.path().join("mail");
    let a = enqueue(&*store, &clock, "ada@example.com").await;
    let b = enqueue(&*store, &clock, "bob@example.com").await;
    let worker = file_worker(&store, &clock, &mail_dir);

    // Stopped between its claim and its first delivery.
    let (_stopping, stop) = tokio::sync::watch::channel(true);
    assert_eq!(worker.run_once_until(&stop).await.unwrap(), Pass::default());
    let mut reads = store.reads().await.unwrap();
    for m in [&a, &b] {
        let row = reads.outbox_message(m.id).await.unwrap().unwrap();
        assert_eq!(
            (row.status, row.attempts, row.lease_until),
            (OutboxStatus::Pending, 0, None),
            "given back, its attempt uncounted"
        );
    }
    drop(reads);
    assert!(!mail_dir.exists() || std::fs::read_dir(&mail_dir).unwrap().count() == 0);

    // The next start sends them at once, not when the stopped worker's lease would have
    // run out.
    let restarted = file_worker(&store, &clock, &mail_dir);
    assert_eq!(
        restarted.run_once().await.unwrap(),
        Pass {
            sent: 2,
            retried: 0,
            failed: 0
        }
    );
    assert_eq!(std::fs::read_dir(&mail_dir).unwrap().count(), 2);
}
