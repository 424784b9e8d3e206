//! Writes sent with the next statement: a transaction's inserts whose answer nobody waits
//! for travel to SQLite together.
//!
//! Why: sqlx runs a SQLite connection on a thread of its own, and every statement is a
//! handoff to that thread and back (a futex wake each way, a context switch on a small
//! machine). A profile of the invitation load put more than half of the server's time in
//! the kernel switching threads and under 3% in SQLite itself, while the one writer
//! connection held SQLite's write lock through a dozen such handoffs per invitation. An
//! invitation's six inserts (identity, membership, its roles, invitation, email, audit
//! event) and its `COMMIT` now cost one.
//!
//! How: a [`Deferred`] write appends its statement and values here instead of running.
//! The next statement that needs an answer on the same transaction runs them first, in
//! one call (`SqliteConn::c`), and so does the commit, with `COMMIT` at their end. SQLite
//! runs them in order and stops at the first failure, which comes back mapped as if the
//! write had run alone (a taken address is still `EmailTaken`), from that later call. The
//! transaction is then rolled back as for any failure, so nothing of it stays.
//!
//! A batch that failed may have run its first statements: the transaction then refuses
//! every later statement and its commit (`SqliteConn::c`), so it can only be rolled back.
//! The same holds when a batch's caller went away while it ran.
//!
//! Only writes that return nothing are deferred, and their statements use plain `?`
//! parameters: sqlx numbers `?NNN` across the whole batch, plain ones statement by
//! statement. Several statements with values in one query is something sqlx still runs
//! on SQLite but calls deprecated; the conformance suite and the tests below fail if an
//! upgrade drops it.

use roster_core::store::{StoreError, StoreResult};
use sqlx::sqlite::{Sqlite, SqliteArguments};
use sqlx::{Arguments, Encode, Type};

/// Statements waiting to be sent, with their values in order.
#[derive(Default)]
pub(crate) struct Deferred {
    sql: String,
    args: SqliteArguments<'static>,
    /// Parameters the statements name, and values bound. sqlx binds a batch's values
    /// statement by statement until they run out, so one missing value would shift the
    /// next statement's into the wrong columns: a batch whose counts differ is refused.
    parameters: usize,
    bound: usize,
    /// A value that could not be encoded; reported when the batch would be sent.
    failed: Option<String>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Appends one statement; its values follow with [`Self::bind`], in order. The
    /// statement names its parameters with plain `?` and holds no `?` otherwise.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.parameters += sql.matches('?').count();
        self.sql.push_str(sql);
        self.sql.push_str(";\n");
        self
    }

    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'static, Sqlite> + Type<Sqlite> + 'static,
    {
        self.bound += 1;
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        self
    }

    /// The batch to send, `then` appended (`COMMIT`, or nothing), leaving this empty.
    pub fn take(&mut self, then: &str) -> StoreResult<(String, SqliteArguments<'static>)> {
        let Deferred {
            mut sql,
            args,
            parameters,
            bound,
            failed,
        } = std::mem::take(self);
        if let Some(e) = failed {
            return Err(StoreError::Backend(format!("cannot encode a value: {e}")));
        }
        if parameters != bound {
            return Err(StoreError::Backend(format!(
                "a batch of writes names {parameters} parameters and binds {bound} values"
            )));
        }
        sql.push_str(then);
        Ok((sql, args))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::Deferred;
    use crate::SqliteStore;
    use roster_core::email::Email;
    use roster_core::model::{Actor, AuditEvent, Identity};
    use roster_core::store::{Reads, Store, StoreError, Tx};

    /// A migrated store whose audit log refuses events named `boom`, so a batch can fail
    /// in its middle through a real constraint.
    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roster.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        sqlx::query(
            "CREATE TRIGGER boom BEFORE INSERT ON audit_events WHEN NEW.action = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        (store, dir)
    }

    fn person(email: &str) -> Identity {
        Identity::new(Email::parse(email).unwrap(), None, chrono::Utc::now())
    }

    fn event(action: &str) -> AuditEvent {
        AuditEvent::new(
            None,
            Actor::System,
            action,
            None,
            serde_json::json!({}),
            chrono::Utc::now(),
        )
    }

    async fn found(store: &SqliteStore, who: &Identity) -> bool {
        let mut reads = store.reads().await.unwrap();
        reads.identity(who.id).await.unwrap().is_some()
    }

    /// The batch's first insert ran before its second failed: the transaction must not
    /// commit it, whatever the caller does next.
    #[tokio::test]
    async fn a_batch_failing_half_way_leaves_nothing() {
        let (store, _dir) = store().await;
        let ada = person("ada@example.com");
        let mut tx = store.begin().await.unwrap();
        tx.insert_identity(&ada).await.unwrap();
        tx.append_audit(&event("boom")).await.unwrap();
        assert!(
            tx.identity(ada.id).await.is_err(),
            "the read that sends the batch reports its failure"
        );
        assert!(
            tx.identity(ada.id).await.is_err(),
            "and so does every later one"
        );
        assert!(tx.commit().await.is_err(), "no commit of half a batch");
        assert!(!found(&store, &ada).await);

        // The writer is free and whole for the next transaction.
        let bob = person("bob@example.com");
        let mut tx = store.begin().await.unwrap();
        tx.insert_identity(&bob).await.unwrap();
        tx.append_audit(&event("ok")).await.unwrap();
        tx.commit().await.unwrap();
        assert!(found(&store, &bob).await);
    }

    #[tokio::test]
    async fn a_batch_failing_at_commit_leaves_nothing() {
        let (store, _dir) = store().await;
        let ada = person("ada@example.com");
        let mut tx = store.begin().await.unwrap();
        tx.insert_identity(&ada).await.unwrap();
        tx.append_audit(&event("boom")).await.unwrap();
        assert!(tx.commit().await.is_err());
        assert!(!found(&store, &ada).await);
        let mut tx = store.begin().await.unwrap();
        tx.insert_identity(&ada).await.unwrap();
        tx.commit().await.unwrap();
        assert!(found(&store, &ada).await);
    }

    /// A batch refused before it was sent is lost, so its transaction must not commit
    /// what came before it either.
    #[tokio::test]
    async fn a_refused_batch_leaves_its_transaction_unable_to_commit() {
        let (store, _dir) = store().await;
        let ada = person("ada@example.com");
        let mut conn =
            crate::SqliteConn::new(crate::Conn::Write(store.writer.begin().await.unwrap()));
        // Sent and run: the write the transaction must not commit alone.
        conn.insert_identity(&ada).await.unwrap();
        assert!(conn.identity(ada.id).await.unwrap().is_some());
        conn.defer("INSERT INTO identities (id, email) VALUES (?, ?)")
            .bind(ada.id.to_string());
        assert!(conn.c().await.is_err(), "one value for two parameters");
        assert!(conn.c().await.is_err(), "and nothing after it");
        let tx: Box<dyn Tx> = Box::new(conn);
        assert!(tx.commit().await.is_err());
        assert!(!found(&store, &ada).await);
    }

    /// sqlx would bind a missing value's neighbour in its place; the batch is refused.
    #[test]
    fn a_batch_with_a_value_missing_is_refused() {
        let mut batch = Deferred::default();
        batch
            .push("INSERT INTO t (a, b) VALUES (?, ?)")
            .bind(1_i64)
            .bind(2_i64);
        batch.push("INSERT INTO t (a, b) VALUES (?, ?)").bind(3_i64);
        assert!(matches!(batch.take(""), Err(StoreError::Backend(_))));
        assert!(batch.is_empty());
        batch.push("INSERT INTO t (a) VALUES (?)").bind(1_i64);
        let (sql, _) = batch.take("COMMIT").unwrap();
        assert_eq!(sql, "INSERT INTO t (a) VALUES (?);\nCOMMIT");
    }
}
