//! The shared conformance suite on PostgreSQL, each test on a fresh database (see
//! `roster_store_postgres::testing`), dropped when the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_core::store::Store;
use roster_store_postgres::testing::fresh_database;
use roster_store_tests::{conformance_suite, TestStore};
use std::sync::Arc;

async fn make() -> Option<TestStore> {
    let (store, guard) = fresh_database().await?;
    Some(TestStore::new(Arc::new(store), guard))
}

conformance_suite!(make);

/// PostgreSQL-only: a commit is acknowledged only once it is on disk. The store does not
/// set this itself (an operator may choose a stronger level for replication), so this
/// checks what the server gives the store's connections.
#[tokio::test]
async fn commits_are_durable() {
    let Some((store, _guard)) = fresh_database().await else {
        return;
    };
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, "on");
    store.close().await;
}

/// PostgreSQL-only: the audit table refuses updates, deletes and truncation even from raw
/// SQL.
#[tokio::test]
async fn audit_events_are_append_only() {
    let Some((store, _guard)) = fresh_database().await else {
        return;
    };
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor_kind, action, details) \
         VALUES (gen_random_uuid(), now(), 'cli', 'a', '{}')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    for change in [
        "UPDATE audit_events SET action = 'b'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = sqlx::query(change)
            .execute(store.pool())
            .await
            .expect_err(change);
        assert!(err.to_string().contains("append-only"), "{change}: {err}");
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 1);
    store.close().await;
}

/// PostgreSQL-only: unique violations other than slug, email and live membership (here the
/// session token) map to `Duplicate`, by the constraint names the migration sets.
#[tokio::test]
async fn other_unique_violations_are_duplicates() {
    use roster_core::ids::{IdentityId, SessionId};
    use roster_core::model::Session;
    use roster_core::secrets::Secret;
    use roster_core::store::StoreError;
    let Some((store, _guard)) = fresh_database().await else {
        return;
    };
    let ada = roster_store_tests::fixtures::identity("ada@example.com");
    let token = Secret::generate("").unwrap();
    let t0 = roster_store_tests::fixtures::now();
    let session = |identity_id: IdentityId| Session {
        id: SessionId::new(),
        identity_id,
        token_hash: token.hash(),
        csrf_hash: Secret::generate("").unwrap().hash(),
        created_at: t0,
        last_seen_at: t0,
        expires_at: t0 + chrono::Duration::days(1),
        idle_timeout_minutes: 60,
        revoked_at: None,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_identity(&ada).await.unwrap();
    tx.insert_session(&session(ada.id)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_session(&session(ada.id)).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate), "{err:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    let err = tx.insert_identity(&ada).await.unwrap_err();
    assert!(
        matches!(err, StoreError::EmailTaken | StoreError::Duplicate),
        "{err:?}"
    );
    drop(tx);
    store.close().await;
}

/// PostgreSQL-only: connections the server dropped since their last use (a restart, an
/// operator, a proxy's idle timeout) cost no request a 500. A write transaction moves on to
/// another connection; a read on a dropped one says busy, try again, and the pool replaces
/// it. (Connections idle for a second or more are pinged before use; these are not.)
#[tokio::test]
async fn dropped_connections_are_retried_or_busy() {
    use roster_core::store::StoreError;
    use roster_store_tests::fixtures;
    let Some((store, guard)) = fresh_database().await else {
        return;
    };
    let ada = fixtures::identity("ada@example.com");

    // A write finds every pooled connection gone and goes through on a new one.
    warm_and_terminate(&store, &guard.url()).await;
    let mut tx = store
        .begin()
        .await
        .expect("a write moves on to a live connection");
    tx.insert_identity(&ada).await.unwrap();
    tx.commit().await.unwrap();

    // Reads on dropped connections say busy, one per connection, then read what was written.
    warm_and_terminate(&store, &guard.url()).await;
    let mut busy = 0;
    let found = loop {
        let read = match store.reads().await {
            Ok(mut reads) => reads.identity_by_email(&ada.email).await,
            Err(e) => Err(e),
        };
        match read {
            Ok(found) => break found,
            Err(StoreError::Busy) if busy < 4 => busy += 1,
            Err(e) => panic!("after {busy} busy answers, a read failed as {e:?}"),
        }
    };
    assert!(busy >= 1, "the reads met no dropped connection");
    assert_eq!(found.map(|i| i.id), Some(ada.id));
    store.close().await;
}

/// Puts four connections in the pool, just used, and has the server end all of them.
async fn warm_and_terminate(store: &roster_store_postgres::PostgresStore, url: &str) {
    use sqlx::Connection;
    let email = roster_core::email::Email::parse("nobody@example.com").unwrap();
    let mut in_use = vec![];
    for _ in 0..4 {
        let mut reads = store.reads().await.unwrap();
        reads.identity_by_email(&email).await.unwrap();
        in_use.push(reads);
    }
    drop(in_use);
    // Their return to the pool is a task of its own.
    for _ in 0..200 {
        if store.pool().num_idle() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mut operator = sqlx::PgConnection::connect(url).await.unwrap();
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut operator)
    .await
    .unwrap();
    assert!(ended.len() >= 4 && ended.iter().all(|e| *e), "{ended:?}");
    operator.close().await.unwrap();
}
