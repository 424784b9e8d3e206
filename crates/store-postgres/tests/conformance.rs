//! The shared conformance suite on PostgreSQL, each test on a fresh database (see
//! `roster_store_postgres::testing`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_store_postgres::testing::fresh_database;
use roster_store_tests::{conformance_suite, TestStore};
use std::sync::Arc;

async fn make() -> Option<TestStore> {
    let (store, guard) = fresh_database().await?;
    Some(TestStore::new(Arc::new(store), guard))
}

conformance_suite!(make);

/// PostgreSQL-only: commits are durable and the audit table refuses changes even from raw SQL.
#[tokio::test]
async fn durable_commits_and_append_only_audit() {
    let Some((store, _guard)) = fresh_database().await else {
        return;
    };
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(sync, "on");
    sqlx::query("INSERT INTO audit_events (id, at, actor_kind, action, details) VALUES (gen_random_uuid(), now(), 'cli', 'a', '{}')")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(sqlx::query("UPDATE audit_events SET action = 'b'")
        .execute(store.pool())
        .await
        .is_err());
    assert!(sqlx::query("DELETE FROM audit_events")
        .execute(store.pool())
        .await
        .is_err());
    store.pool().close().await;
}
