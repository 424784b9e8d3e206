//! The shared conformance suite on SQLite, each test on its own temporary file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster_store_sqlite::SqliteStore;
use roster_store_tests::{conformance_suite, TestStore};
use std::sync::Arc;

async fn make() -> Option<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roster.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    Some(TestStore::new(Arc::new(store), dir))
}

conformance_suite!(make);

// The durability settings of the store's own connections are checked beside them, in
// `src/connections.rs`.

/// SQLite-only: the audit table refuses updates and deletes even from raw SQL.
#[tokio::test]
async fn audit_events_are_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("roster.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    sqlx::query("INSERT INTO audit_events (id, at, actor_kind, action, details) VALUES ('x', 0, 'cli', 'a', '{}')")
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
}
