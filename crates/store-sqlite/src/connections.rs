//! The SQLite store's connections: a few for reads, handed out in turn, and one for write
//! transactions.
//!
//! Not sqlx's `Pool`. sqlx runs each SQLite connection on a thread of its own and hands it
//! every statement through channels, so each statement costs a round trip between threads
//! whatever it does (see `docs/benchmarks.md`, *Where `GET /api/v1/me` spends its time*).
//! sqlx's pool adds one more to every checkout: a connection coming back is pinged before
//! another caller may take it. That test is for network connections, which a cancelled
//! request can leave half-way through a reply; a SQLite connection is a file handle in this
//! process, and a statement whose caller went away still finishes on the connection's
//! thread before the next one starts, so the ping has nothing to find. On the writer it
//! sat between one write transaction and the next. sqlx's transactions also ask the thread
//! a second time, after a custom `BEGIN`, whether it opened one; the writer here says
//! `BEGIN IMMEDIATE` and keeps track of that itself.

use crate::deferred::Deferred;
use crate::inline;
use crate::map_err;
use roster_core::store::{StoreError, StoreResult};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedMappedMutexGuard, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

/// A read connection unused for this long is closed, so the connections (and their page
/// caches) a burst opened do not stay forever. Looked for at most once a minute.
const IDLE_CLOSE: Duration = Duration::from_secs(600);
const IDLE_LOOK: Duration = Duration::from_secs(60);

fn closed() -> StoreError {
    StoreError::Backend("the store is closed".into())
}

/// An open read connection, its handle for reads on the caller's thread (see
/// [`crate::inline`]; none for a store that is not a file), and when its last lease ended.
struct Open {
    conn: SqliteConnection,
    inline: Option<rusqlite::Connection>,
    returned: Instant,
}

/// A read connection's place: empty until a lease needs it open.
type Slot = Option<Open>;

/// Connections whose thread has ended, as sqlx reports it (`WorkerCrashed`: a panic in
/// sqlx's worker), counted by `map_err` for every store of the process. Such a connection
/// fails every statement at once; sqlx's pool used to find it with its ping on return.
static ENDED: AtomicU64 = AtomicU64::new(0);

/// Called by `map_err` when a connection's thread has ended.
pub(crate) fn note_ended() {
    ENDED.fetch_add(1, Ordering::Relaxed);
}

/// Connections for reads: at most one per slot, a caller at a time on each. A lease takes
/// the first free slot, so under light load the first connections (with the warmest page
/// caches) serve and the others stay closed.
pub(crate) struct Readers {
    options: SqliteConnectOptions,
    /// Whether each connection also gets a handle for reads on the caller's thread.
    inline: bool,
    slots: Vec<Arc<tokio::sync::Mutex<Slot>>>,
    /// As many as slots: a permit guarantees a free slot, and waiting for one is fair.
    permits: Arc<Semaphore>,
    wait: Duration,
    started: Instant,
    /// When idle connections were last looked for, in milliseconds since `started`.
    looked: AtomicU64,
    /// [`ENDED`] when these slots were last checked for connections whose thread ended.
    ended_seen: AtomicU64,
}

impl Readers {
    /// `inline`: give each connection a handle for reads on the caller's thread (see
    /// [`crate::inline`]), for a store opened on a plain file.
    pub fn new(options: SqliteConnectOptions, inline: bool, max: usize, wait: Duration) -> Self {
        Self {
            options,
            inline,
            slots: (0..max).map(|_| Arc::default()).collect(),
            permits: Arc::new(Semaphore::new(max)),
            wait,
            started: Instant::now(),
            looked: AtomicU64::new(0),
            ended_seen: AtomicU64::new(ENDED.load(Ordering::Relaxed)),
        }
    }

    /// A connection of its own for the caller, waiting in turn for at most `wait`, then
    /// [`StoreError::Busy`].
    pub async fn lease(&self) -> StoreResult<ReadLease> {
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Err(_) => return Err(StoreError::Busy),
                Ok(Err(_)) => return Err(closed()),
                Ok(Ok(permit)) => permit,
            };
        self.close_idle();
        self.close_ended().await;
        // The permit leaves a slot free; one may be held for an instant by `close_idle`
        // or `close_ended`.
        let mut slot = loop {
            if let Some(slot) = self
                .slots
                .iter()
                .find_map(|slot| Arc::clone(slot).try_lock_owned().ok())
            {
                break slot;
            }
            tokio::task::yield_now().await;
        };
        // `close` may have emptied this slot since the permit was given.
        if self.permits.is_closed() {
            return Err(closed());
        }
        if slot.is_none() {
            let conn = self.options.connect().await.map_err(map_err)?;
            // sqlx has created the file by now; an in-memory store has none. A handle that
            // cannot be opened leaves these reads on the connection's thread.
            let path = self.options.get_filename();
            let inline = match self.inline && path.is_file() {
                true => inline::open(path)
                    .inspect_err(|e| {
                        tracing::warn!(error = %e, "no handle for reads on the caller's thread");
                    })
                    .ok(),
                false => None,
            };
            *slot = Some(Open {
                conn,
                inline,
                returned: Instant::now(),
            });
        }
        let open = OwnedMutexGuard::try_map(slot, Option::as_mut).map_err(|_| closed())?;
        Ok(ReadLease {
            open,
            _permit: permit,
        })
    }

    /// Closes connections unused for [`IDLE_CLOSE`], at most once per [`IDLE_LOOK`]; a
    /// slot in use is left alone.
    fn close_idle(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.looked.load(Ordering::Relaxed);
        if now.saturating_sub(last) < IDLE_LOOK.as_millis() as u64
            || self
                .looked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        for slot in &self.slots {
            if let Ok(mut slot) = slot.try_lock() {
                if slot
                    .as_ref()
                    .is_some_and(|open| open.returned.elapsed() > IDLE_CLOSE)
                {
                    // Dropping a connection ends its thread, which closes the file.
                    *slot = None;
                }
            }
        }
    }

    /// After a connection's thread has ended anywhere in the process, pings the idle
    /// connections here once and empties the slots of those that do not answer; a slot in
    /// use is checked after its own statement fails and counts again.
    async fn close_ended(&self) {
        let ended = ENDED.load(Ordering::Relaxed);
        // A load first: every lease passes here, and a swap would write the shared line.
        if self.ended_seen.load(Ordering::Relaxed) == ended
            || self.ended_seen.swap(ended, Ordering::Relaxed) == ended
        {
            return;
        }
        for slot in &self.slots {
            let Ok(mut slot) = Arc::clone(slot).try_lock_owned() else {
                continue;
            };
            if let Some(open) = slot.as_mut() {
                if open.conn.ping().await.is_err() {
                    *slot = None;
                }
            }
        }
    }

    /// Refuses new leases, waits for those under way and closes every connection.
    pub async fn close(&self) {
        self.permits.close();
        for slot in &self.slots {
            if let Some(open) = slot.lock().await.take() {
                open.conn.close().await.ok();
            }
        }
    }
}

/// A read connection, free for the next caller when dropped.
pub(crate) struct ReadLease {
    open: OwnedMappedMutexGuard<Slot, Open>,
    /// Released after the slot (fields drop in order).
    _permit: OwnedSemaphorePermit,
}

impl ReadLease {
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.open.conn
    }

    /// The handle for reads on the caller's thread, if the store is a file.
    pub fn inline(&self) -> Option<&rusqlite::Connection> {
        self.open.inline.as_ref()
    }

    /// Puts another handle in the slot, for tests that need one in a given state.
    #[cfg(test)]
    pub fn replace_inline(&mut self, handle: rusqlite::Connection) {
        self.open.inline = Some(handle);
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        self.open.returned = Instant::now();
    }
}

/// The writer's connection, and whether a transaction may be open on it.
struct WriterState {
    conn: SqliteConnection,
    /// Set before `BEGIN IMMEDIATE` is sent and cleared once `COMMIT` or `ROLLBACK` went
    /// through: a transaction whose caller went away half-way (a cancelled request, an error
    /// returned early) leaves it set, and the next transaction rolls that one back first.
    open: bool,
}

/// The one connection write transactions use, one after the other in the order they asked
/// (tokio's mutex is fair). Opened on the first write.
pub(crate) struct Writer {
    options: SqliteConnectOptions,
    state: Arc<tokio::sync::Mutex<Option<WriterState>>>,
    wait: Duration,
    closed: AtomicBool,
}

impl Writer {
    pub fn new(options: SqliteConnectOptions, wait: Duration) -> Self {
        Self {
            options,
            state: Arc::new(tokio::sync::Mutex::new(None)),
            wait,
            closed: AtomicBool::new(false),
        }
    }

    /// Waits for the writer (at most `wait`, then [`StoreError::Busy`]) and begins a write
    /// transaction on it, taking SQLite's write lock (`BEGIN IMMEDIATE`: its busy timeout
    /// covers another process holding it).
    pub async fn begin(&self) -> StoreResult<WriteLease> {
        let mut guard = tokio::time::timeout(self.wait, Arc::clone(&self.state).lock_owned())
            .await
            .map_err(|_| StoreError::Busy)?;
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        end_abandoned(&mut guard).await;
        if guard.is_none() {
            let conn = self.options.connect().await.map_err(map_err)?;
            *guard = Some(WriterState { conn, open: false });
        }
        let mut state = OwnedMutexGuard::try_map(guard, Option::as_mut).map_err(|_| closed())?;
        state.open = true;
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut state.conn)
            .await
        {
            // Busy: the lock was not taken, so nothing began. Anything else may have left
            // the connection in a transaction or without its thread: the next `begin`
            // rolls back first, or reconnects.
            let e = map_err(e);
            if matches!(e, StoreError::Busy) {
                state.open = false;
            }
            return Err(e);
        }
        Ok(WriteLease {
            state,
            writer: Arc::clone(&self.state),
        })
    }

    /// Waits for the transaction under way, then closes the connection and refuses new
    /// transactions.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let mut state = self.state.lock().await;
        end_abandoned(&mut state).await;
        if let Some(state) = state.take() {
            state.conn.close().await.ok();
        }
    }
}

/// Rolls back what a transaction left open, if one may be. "No transaction is active"
/// (it ended after all, or its `BEGIN` never ran) is as good as done. Any other failure
/// leaves the transaction's fate unknown, so the connection is closed, which ends it, and
/// the next transaction opens a new one.
async fn end_abandoned(state: &mut Option<WriterState>) {
    let Some(writer) = state.as_mut().filter(|w| w.open) else {
        return;
    };
    match sqlx::query("ROLLBACK").execute(&mut writer.conn).await {
        Ok(_) => writer.open = false,
        Err(e) if no_transaction(&e) => writer.open = false,
        Err(e) => {
            tracing::warn!(error = %e, "rolling back an abandoned write transaction failed; reconnecting");
            *state = None;
        }
    }
}

/// SQLite's answer to `ROLLBACK` when nothing is open: the transaction had ended (SQLite
/// rolls back by itself after some failed statements), which is what was asked.
fn no_transaction(e: &sqlx::Error) -> bool {
    e.to_string().contains("no transaction is active")
}

/// A write transaction on the writer's connection, which it holds until it ends.
pub(crate) struct WriteLease {
    state: OwnedMappedMutexGuard<Option<WriterState>, WriterState>,
    writer: Arc<tokio::sync::Mutex<Option<WriterState>>>,
}

impl WriteLease {
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }

    /// Commits, running `deferred` writes first in the same call: if one of them fails,
    /// `COMMIT` is not reached and the transaction stays open, to be rolled back.
    pub async fn commit(mut self, deferred: &mut Deferred) -> StoreResult<()> {
        let (sql, args) = deferred.take("COMMIT")?;
        sqlx::query_with(&sql, args)
            .execute(&mut self.state.conn)
            .await
            .map_err(map_err)?;
        self.state.open = false;
        Ok(())
    }

    pub async fn rollback(mut self) -> StoreResult<()> {
        match sqlx::query("ROLLBACK").execute(&mut self.state.conn).await {
            Ok(_) => {}
            Err(e) if no_transaction(&e) => {}
            Err(e) => return Err(map_err(e)),
        }
        self.state.open = false;
        Ok(())
    }
}

impl Drop for WriteLease {
    /// A transaction dropped without `commit` or `rollback` still holds SQLite's write lock,
    /// which another process (the CLI) may be waiting for: roll it back as soon as the
    /// writer is free, unless the next transaction has done so first.
    fn drop(&mut self) {
        if !self.state.open {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = Arc::clone(&self.writer);
            runtime.spawn(async move {
                end_abandoned(&mut *writer.lock().await).await;
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Deferred, Readers};
    use crate::SqliteStore;
    use roster_core::store::{Store, StoreError};
    use std::time::Duration;

    /// A store on a new file with one table, `t`, empty.
    pub(crate) async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("roster.db"))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(store.pool())
            .await
            .unwrap();
        (store, dir)
    }

    async fn count(store: &SqliteStore) -> i64 {
        let mut lease = store.readers.lease().await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(lease.conn())
            .await
            .unwrap()
    }

    /// Inserts a row in a write transaction and drops it, as a use case returning early
    /// with an error does.
    async fn insert_and_drop(store: &SqliteStore) {
        let mut tx = store.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(tx.conn())
            .await
            .unwrap();
    }

    /// The durability settings hold on the connections the store reads and writes with,
    /// not only on sqlx's pool beside them.
    #[tokio::test]
    async fn the_store_s_own_connections_are_durable() {
        let (store, _dir) = store().await;
        let mut read = store.readers.lease().await.unwrap();
        let mut write = store.writer.begin().await.unwrap();
        for conn in [read.conn(), write.conn()] {
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!((journal.as_str(), sync, fk), ("wal", 2, 1));
            assert_eq!(busy, crate::WRITE_WAIT.as_millis() as i64);
        }
    }

    /// Nothing of a transaction dropped without `commit` stays, and the next one begins at
    /// once, before the rollback the drop spawned has had a turn.
    #[tokio::test]
    async fn a_dropped_transaction_is_rolled_back_before_the_next_begins() {
        let (store, _dir) = store().await;
        insert_and_drop(&store).await;
        let mut tx = store.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit(&mut Deferred::default()).await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, [2]);
    }

    /// A transaction that may be open but is not (its `COMMIT` went through, its caller
    /// went away before hearing so) costs the writer nothing: "no transaction is active"
    /// keeps the connection, as the temporary table only it can see shows.
    #[tokio::test]
    async fn a_transaction_that_ended_after_all_keeps_the_writer() {
        let (store, _dir) = store().await;
        let mut tx = store.writer.begin().await.unwrap();
        sqlx::query("CREATE TEMP TABLE marker (x INTEGER)")
            .execute(tx.conn())
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(tx.conn()).await.unwrap();
        drop(tx);
        let mut tx = store.writer.begin().await.unwrap();
        let marked: i64 = sqlx::query_scalar("SELECT count(*) FROM temp.marker")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(marked, 0);
        tx.commit(&mut Deferred::default()).await.unwrap();
    }

    /// A dropped transaction lets go of SQLite's write lock with no other write of this
    /// store to come: another process (the CLI) may be waiting for it.
    #[tokio::test]
    async fn a_dropped_transaction_frees_the_write_lock_for_others() {
        let (store, _dir) = store().await;
        insert_and_drop(&store).await;
        let mut other = store.pool().acquire().await.unwrap();
        // Waits in SQLite's busy handler until the spawned rollback has run; without it,
        // this fails with "database is locked" when the busy timeout ends.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *other)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (3)")
            .execute(&mut *other)
            .await
            .unwrap();
        sqlx::query("COMMIT").execute(&mut *other).await.unwrap();
        assert_eq!(count(&store).await, 1);
    }

    /// Past the number of read connections a reader waits for one to come back and then
    /// gets that one, rather than a connection more; one that waits too long is told the
    /// store is busy.
    #[tokio::test]
    async fn readers_wait_for_a_free_connection() {
        let (store, _dir) = store().await;
        let readers = Readers::new(
            store.readers.options.clone(),
            true,
            2,
            Duration::from_millis(20),
        );
        let _first = readers.lease().await.unwrap();
        let mut second = readers.lease().await.unwrap();
        assert!(matches!(readers.lease().await, Err(StoreError::Busy)));
        let mut waiting = Box::pin(readers.lease());
        // `timeout` polls once before it looks at the clock.
        assert!(
            tokio::time::timeout(Duration::ZERO, &mut waiting)
                .await
                .is_err(),
            "a reader past the limit got a connection"
        );
        sqlx::query("CREATE TEMP TABLE marker (x INTEGER)")
            .execute(second.conn())
            .await
            .unwrap();
        drop(second);
        let mut third = waiting.await.unwrap();
        let marked: i64 = sqlx::query_scalar("SELECT count(*) FROM temp.marker")
            .fetch_one(third.conn())
            .await
            .unwrap();
        assert_eq!(marked, 0, "the connection given back is the one reused");
    }

    /// A `COMMIT` that fails leaves nothing behind: here a deferred foreign key, after which
    /// SQLite keeps the transaction open; the next transaction begins on a clean writer.
    #[tokio::test]
    async fn a_failed_commit_changes_nothing() {
        let (store, _dir) = store().await;
        sqlx::query("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE child (parent INTEGER REFERENCES parent (id))")
            .execute(store.pool())
            .await
            .unwrap();
        let mut tx = store.writer.begin().await.unwrap();
        sqlx::query("PRAGMA defer_foreign_keys = ON")
            .execute(tx.conn())
            .await
            .unwrap();
        sqlx::query("INSERT INTO child VALUES (5)")
            .execute(tx.conn())
            .await
            .unwrap();
        assert!(tx.commit(&mut Deferred::default()).await.is_err());
        let mut tx = store.writer.begin().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit(&mut Deferred::default()).await.unwrap();
        let children: i64 = sqlx::query_scalar("SELECT count(*) FROM child")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!((children, count(&store).await), (0, 1));
    }

    /// A closed store refuses reads and writes instead of opening the file again.
    #[tokio::test]
    async fn a_closed_store_refuses_reads_and_writes() {
        let (store, _dir) = store().await;
        store.close().await;
        assert!(matches!(store.reads().await, Err(StoreError::Backend(_))));
        assert!(matches!(store.begin().await, Err(StoreError::Backend(_))));
    }
}
