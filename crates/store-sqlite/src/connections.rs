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
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{
    oneshot, OwnedMappedMutexGuard, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore,
};

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

/// How long after the first transaction is released into an open one the writer commits
/// that one if no transaction has ended it: the one expected to (queued for the writer)
/// went away before its turn.
const GROUP_WAIT: Duration = Duration::from_millis(20);

/// An open transaction older than this is committed by the next transaction to end, even
/// with others queued, so a steady queue does not hold those released into it for long.
/// (They still wait for that transaction to end, however long it takes.)
const GROUP_AGE: Duration = Duration::from_millis(5);

/// At most this many transactions share one commit.
const GROUP_MAX: usize = 64;

/// What a transaction released into the open one hears once that one has ended: committed,
/// or why not.
type Committed = Result<(), String>;

/// The writer's connection and the transaction open on it.
///
/// Write transactions share commits (group commit). Each runs inside a savepoint (`tx`)
/// of a transaction begun with `BEGIN IMMEDIATE`. One that ends well while others wait for
/// the writer releases its savepoint, leaves the transaction open and lets the next in; it
/// hears it is durable only after the `COMMIT` that the last of them sends. One that fails
/// is rolled back to its savepoint, and the others' work stays. So a queue of write
/// transactions pays for one `COMMIT`, and SQLite's write-ahead log writes each page
/// they share once, instead of one `fsync` and a copy of those pages each, while
/// `synchronous = FULL` still holds for every transaction before it hears "committed".
/// Alone, a transaction commits in the call that ends it, as before. See
/// `docs/benchmarks.md`, *Invitations committed together*.
///
/// Every statement that changes this state (begin, release, commit, rollback) runs in a
/// task of its own, so a caller going away never cuts one short: the flags are set
/// before a statement is sent and cleared only once it went through, and a flag left set
/// by a failure is settled by whoever holds the writer next.
struct WriterState {
    conn: SqliteConnection,
    /// `BEGIN IMMEDIATE` has been sent, and neither `COMMIT` nor `ROLLBACK` has gone
    /// through since: a transaction may be open.
    open: bool,
    /// The transaction holding the writer has sent its `SAVEPOINT`, and neither its release
    /// nor its rollback has gone through: one dropped half-way leaves it set, and whoever
    /// holds the writer next rolls that one back to its savepoint.
    current: bool,
    /// Transactions released into the open one, waiting for its end.
    waiting: Vec<oneshot::Sender<Committed>>,
    /// When the open transaction began.
    began: Instant,
    /// Which `BEGIN IMMEDIATE` of the writer's (counted across its connections) opened the
    /// transaction, so a late [`GROUP_WAIT`] knows its transaction ended.
    generation: u64,
    /// The connection failed to roll back: it must be closed, which rolls back whatever
    /// is still open on it, and those released into the transaction were told "not
    /// committed". Whoever holds the writer next closes it and opens a new one.
    dead: bool,
}

/// Why those released into a transaction hear "not committed" when a savepoint could not
/// be rolled back to.
const SAVEPOINT_LOST: &str =
    "a write transaction committed together with it could not be rolled back on its own";

impl WriterState {
    fn new(conn: SqliteConnection) -> Self {
        Self {
            conn,
            open: false,
            current: false,
            waiting: Vec::new(),
            began: Instant::now(),
            generation: 0,
            dead: false,
        }
    }

    /// Rolls back what the transaction holding the writer left of its own, keeping the
    /// work of those released before it. If its savepoint is not there to roll back to
    /// (SQLite rolled the whole transaction back after an I/O error, or a `COMMIT` after
    /// it failed) or the rollback fails, the whole open transaction is rolled back and
    /// those released into it hear `why`.
    async fn end_current(&mut self, why: &str) {
        if !self.current || self.dead {
            return;
        }
        match sqlx::query("ROLLBACK TO tx; RELEASE tx")
            .execute(&mut self.conn)
            .await
        {
            Ok(_) => self.current = false,
            Err(e) => {
                tracing::warn!(error = %e, "rolling back a write transaction's savepoint failed; rolling back the transaction it was part of");
                self.abort(why).await;
            }
        }
    }

    /// Rolls back the whole open transaction and tells those released into it why.
    async fn abort(&mut self, why: &str) {
        if (self.open || self.current) && !self.dead {
            match sqlx::query("ROLLBACK").execute(&mut self.conn).await {
                Ok(_) => {}
                Err(e) if no_transaction(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "rolling back the open write transaction failed; reconnecting");
                    self.dead = true;
                }
            }
        }
        if !self.dead {
            self.open = false;
            self.current = false;
        }
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(Err(why.to_owned()));
        }
    }

    /// Ends the open transaction: commits it for those released into it, or rolls it back
    /// when none was.
    async fn finish(&mut self) {
        self.end_current(SAVEPOINT_LOST).await;
        if !self.open || self.dead {
            return;
        }
        if self.waiting.is_empty() {
            return self.abort("").await;
        }
        match sqlx::query("COMMIT").execute(&mut self.conn).await {
            Ok(_) => {
                self.open = false;
                self.tell_committed();
            }
            Err(e) => {
                let why = format!("its commit failed: {}", map_err(e));
                self.abort(&why).await;
            }
        }
    }

    fn tell_committed(&mut self) {
        for waiting in self.waiting.drain(..) {
            let _ = waiting.send(Ok(()));
        }
    }
}

/// Brings the writer to rest for a caller holding it outside a transaction: what a
/// transaction left is rolled back to its savepoint; the open transaction is ended if
/// `end_open` or if nobody was released into it (an empty transaction would only hold
/// SQLite's write lock); a dead connection is closed.
async fn settle(state: &mut Option<WriterState>, end_open: bool) {
    if let Some(writer) = state.as_mut() {
        writer.end_current(SAVEPOINT_LOST).await;
        if end_open || writer.waiting.is_empty() {
            writer.finish().await;
        }
    }
    if state.as_ref().is_some_and(|w| w.dead) {
        *state = None;
    }
}

/// A caller's place in the queue for the writer, counted while it waits: a transaction
/// that ends while one waits leaves the transaction open for it.
struct Turn<'a>(&'a AtomicUsize);

impl<'a> Turn<'a> {
    fn take(queued: &'a AtomicUsize) -> Self {
        queued.fetch_add(1, Ordering::AcqRel);
        Self(queued)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

type WriterSlot = Arc<tokio::sync::Mutex<Option<WriterState>>>;

fn task_failed(e: tokio::task::JoinError) -> StoreError {
    StoreError::Backend(format!("a write transaction's task failed: {e}"))
}

/// The one connection write transactions use, one after the other in the order they asked
/// (tokio's mutex is fair). Opened on the first write.
pub(crate) struct Writer {
    options: Arc<SqliteConnectOptions>,
    state: WriterSlot,
    /// Callers waiting for the writer in [`Writer::begin`].
    queued: Arc<AtomicUsize>,
    /// Transactions begun, for [`WriterState::generation`].
    generations: Arc<AtomicU64>,
    /// [`GROUP_AGE`] and [`GROUP_WAIT`], in microseconds; tests set them otherwise.
    group_age: AtomicU64,
    group_wait: AtomicU64,
    wait: Duration,
    closed: AtomicBool,
}

impl Writer {
    pub fn new(options: SqliteConnectOptions, wait: Duration) -> Self {
        Self {
            options: Arc::new(options),
            state: Arc::new(tokio::sync::Mutex::new(None)),
            queued: Arc::new(AtomicUsize::new(0)),
            generations: Arc::new(AtomicU64::new(0)),
            group_age: AtomicU64::new(GROUP_AGE.as_micros() as u64),
            group_wait: AtomicU64::new(GROUP_WAIT.as_micros() as u64),
            wait,
            closed: AtomicBool::new(false),
        }
    }

    /// Waits for the writer (at most `wait`, then [`StoreError::Busy`]) and begins a write
    /// transaction on it: a savepoint in the open transaction, or in a new one that takes
    /// SQLite's write lock (`BEGIN IMMEDIATE`: its busy timeout covers another process
    /// holding it).
    pub async fn begin(&self) -> StoreResult<WriteLease> {
        let turn = Turn::take(&self.queued);
        let guard = tokio::time::timeout(self.wait, Arc::clone(&self.state).lock_owned())
            .await
            .map_err(|_| StoreError::Busy)?;
        drop(turn);
        if self.closed.load(Ordering::Acquire) {
            return Err(closed());
        }
        let micros = |d: &AtomicU64| Duration::from_micros(d.load(Ordering::Relaxed));
        let lease = Lease {
            writer: Arc::clone(&self.state),
            queued: Arc::clone(&self.queued),
            generations: Arc::clone(&self.generations),
            group_age: micros(&self.group_age),
            group_wait: micros(&self.group_wait),
        };
        tokio::spawn(start(guard, Arc::clone(&self.options), lease))
            .await
            .map_err(task_failed)?
    }

    /// Waits for the transaction under way, ends the open one, then closes the connection
    /// and refuses new transactions. In a task of its own, as every statement that changes
    /// the writer's state.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let writer = Arc::clone(&self.state);
        let closing = tokio::spawn(async move {
            let mut state = writer.lock_owned().await;
            settle(&mut state, true).await;
            if let Some(state) = state.take() {
                state.conn.close().await.ok();
            }
        });
        if let Err(e) = closing.await {
            tracing::warn!(error = %e, "closing the writer failed");
        }
    }
}

/// What a [`WriteLease`] keeps of its [`Writer`].
struct Lease {
    writer: WriterSlot,
    queued: Arc<AtomicUsize>,
    generations: Arc<AtomicU64>,
    group_age: Duration,
    group_wait: Duration,
}

/// [`Writer::begin`]'s work once it holds the writer, in a task of its own.
async fn start(
    mut guard: OwnedMutexGuard<Option<WriterState>>,
    options: Arc<SqliteConnectOptions>,
    lease: Lease,
) -> StoreResult<WriteLease> {
    // Rolls back what a transaction dropped half-way left; an open transaction others
    // were released into stays for this one to join.
    settle(&mut guard, false).await;
    if guard.is_none() {
        let conn = options.connect().await.map_err(map_err)?;
        *guard = Some(WriterState::new(conn));
    }
    let mut state = OwnedMutexGuard::try_map(guard, Option::as_mut).map_err(|_| closed())?;
    let joining = state.open;
    if !joining {
        state.open = true;
        state.began = Instant::now();
        state.generation = lease.generations.fetch_add(1, Ordering::Relaxed) + 1;
    }
    state.current = true;
    let mut lease = WriteLease { state, lease };
    let sql = if joining {
        "SAVEPOINT tx"
    } else {
        "BEGIN IMMEDIATE; SAVEPOINT tx"
    };
    if let Err(e) = sqlx::query(sql).execute(&mut lease.state.conn).await {
        // Busy: the lock was not taken, so nothing began. Anything else leaves the
        // savepoint's fate unknown; dropping the lease settles it.
        let e = map_err(e);
        if !joining && matches!(e, StoreError::Busy) {
            lease.state.open = false;
            lease.state.current = false;
        }
        return Err(e);
    }
    Ok(lease)
}

/// SQLite's answer to `ROLLBACK` when nothing is open: the transaction had ended (SQLite
/// rolls back by itself after some failed statements), which is what was asked.
fn no_transaction(e: &sqlx::Error) -> bool {
    e.to_string().contains("no transaction is active")
}

/// A write transaction on the writer's connection, which it holds until it ends.
pub(crate) struct WriteLease {
    state: OwnedMappedMutexGuard<Option<WriterState>, WriterState>,
    lease: Lease,
}

impl WriteLease {
    pub fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.state.conn
    }

    /// Commits, running `deferred` writes first in the same call; if one of them fails,
    /// this transaction is rolled back to its savepoint and the error returned. With other
    /// transactions queued for the writer (and the open transaction young and not full),
    /// it is released into the open transaction instead, and this waits for the `COMMIT`
    /// the last of them sends. A caller that goes away meanwhile leaves the commit to go
    /// through or not, as a `COMMIT` already sent would.
    pub async fn commit(self, deferred: &mut Deferred) -> StoreResult<()> {
        let join = self.lease.queued.load(Ordering::Acquire) > 0
            && self.state.waiting.len() + 1 < GROUP_MAX
            && self.state.began.elapsed() < self.lease.group_age;
        let (sql, args) = deferred.take(if join {
            "RELEASE tx"
        } else {
            "RELEASE tx; COMMIT"
        })?;
        let released = tokio::spawn(self.end(sql, args, join))
            .await
            .map_err(task_failed)??;
        let Some(committed) = released else {
            return Ok(());
        };
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(StoreError::Backend(format!(
                "not committed: a write transaction was committed together with others and {why}"
            ))),
            // The connection went away with the transaction open, which rolls it back.
            Err(_) => Err(StoreError::Backend(
                "not committed: the write transaction it was part of ended without a commit".into(),
            )),
        }
    }

    /// [`Self::commit`]'s statements, in a task of its own: the batch ending with its
    /// release (and `COMMIT` unless `join`); released into the open transaction, what
    /// will tell when it ends.
    async fn end(
        mut self,
        sql: String,
        args: sqlx::sqlite::SqliteArguments<'static>,
        join: bool,
    ) -> StoreResult<Option<oneshot::Receiver<Committed>>> {
        if let Err(e) = sqlx::query_with(&sql, args)
            .execute(&mut self.state.conn)
            .await
        {
            let e = map_err(e);
            // A failed write of this transaction: its savepoint is there, and the others'
            // work stays (committed now, unless this one was to join). A failed `COMMIT`:
            // it is not, and all of it is rolled back.
            self.state
                .end_current(&format!("its commit, or a write sent with it, failed: {e}"))
                .await;
            if !join {
                self.state.finish().await;
            }
            return Err(e);
        }
        self.state.current = false;
        if !join {
            self.state.open = false;
            self.state.tell_committed();
            return Ok(None);
        }
        let (told, committed) = oneshot::channel();
        self.state.waiting.push(told);
        if self.state.waiting.len() == 1 {
            // The first released into this transaction: should the transaction expected to
            // end it go away before its turn, the writer ends it itself.
            let writer = Arc::clone(&self.lease.writer);
            let (generation, after) = (self.state.generation, self.lease.group_wait);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let mut state = writer.lock_owned().await;
                if state
                    .as_ref()
                    .is_some_and(|w| w.open && w.generation == generation)
                {
                    settle(&mut state, true).await;
                }
            });
        }
        Ok(Some(committed))
    }

    /// Rolls back this transaction: the whole open one if nobody was released into it,
    /// else to its savepoint.
    pub async fn rollback(self) -> StoreResult<()> {
        tokio::spawn(async move {
            let mut this = self;
            if this.state.waiting.is_empty() {
                match sqlx::query("ROLLBACK").execute(&mut this.state.conn).await {
                    Ok(_) => {}
                    Err(e) if no_transaction(&e) => {}
                    Err(e) => return Err(map_err(e)),
                }
                this.state.open = false;
            } else {
                sqlx::query("ROLLBACK TO tx; RELEASE tx")
                    .execute(&mut this.state.conn)
                    .await
                    .map_err(map_err)?;
            }
            this.state.current = false;
            Ok(())
        })
        .await
        .map_err(task_failed)?
    }
}

impl Drop for WriteLease {
    /// A transaction dropped without `commit` or `rollback` still holds SQLite's write lock,
    /// which another process (the CLI) may be waiting for, and the last transaction to end
    /// leaves the open one to commit for those released into it: settle the writer as soon
    /// as it is free, unless a transaction queued for it will.
    fn drop(&mut self) {
        let state = &self.state;
        let nobody_next = self.lease.queued.load(Ordering::Acquire) == 0;
        let unsettled = state.current
            || state.dead
            || (state.open && (nobody_next || state.waiting.is_empty()));
        if !unsettled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let writer = Arc::clone(&self.lease.writer);
            let queued = Arc::clone(&self.lease.queued);
            runtime.spawn(async move {
                let mut state = writer.lock().await;
                // A transaction queued for the writer joins the open one and ends it later.
                let end_open = queued.load(Ordering::Acquire) == 0;
                settle(&mut state, end_open).await;
            });
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::{Deferred, Readers, Turn, WriteLease};
    use crate::SqliteStore;
    use roster_core::store::{Store, StoreError};
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::task::Poll;
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

    /// Open transactions take others in for a minute, so a slow test run still groups,
    /// and the writer does not end one by itself meanwhile: what a test sees is what the
    /// transactions did.
    fn grouping(store: &SqliteStore) {
        store.writer.group_age.store(60_000_000, Ordering::Relaxed);
        store.writer.group_wait.store(60_000_000, Ordering::Relaxed);
    }

    /// Begins a write transaction in a task of its own and returns once it waits for the
    /// writer.
    async fn queue_begin(store: &SqliteStore) -> tokio::task::JoinHandle<WriteLease> {
        let writer = Arc::clone(&store.writer);
        let queued = store.writer.queued.load(Ordering::Acquire);
        let task = tokio::spawn(async move { writer.begin().await.unwrap() });
        while store.writer.queued.load(Ordering::Acquire) == queued {
            tokio::task::yield_now().await;
        }
        task
    }

    /// A transaction that inserts `x` into `t`, begun with the writer free.
    async fn inserting(store: &SqliteStore, x: i64) -> WriteLease {
        let mut tx = store.writer.begin().await.unwrap();
        insert(&mut tx, x).await;
        tx
    }

    async fn insert(tx: &mut WriteLease, x: i64) {
        sqlx::query("INSERT INTO t VALUES (?)")
            .bind(x)
            .execute(tx.conn())
            .await
            .unwrap();
    }

    async fn rows(store: &SqliteStore) -> Vec<i64> {
        let mut lease = store.readers.lease().await.unwrap();
        sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(lease.conn())
            .await
            .unwrap()
    }

    /// Commits in a task of its own; the handle answers once the commit is durable.
    fn committing(tx: WriteLease) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        tokio::spawn(async move { tx.commit(&mut Deferred::default()).await })
    }

    /// A transaction that inserted 1 and was released into the open transaction because
    /// another waited, and that other, now holding the writer: the first has not heard yet.
    async fn released_then_next(
        store: &SqliteStore,
    ) -> (tokio::task::JoinHandle<Result<(), StoreError>>, WriteLease) {
        grouping(store);
        let first = inserting(store, 1).await;
        let second = queue_begin(store).await;
        let first = committing(first);
        let second = second.await.unwrap();
        assert!(!first.is_finished(), "released into the open transaction");
        (first, second)
    }

    /// What a committing transaction heard, failing the test rather than hanging it if it
    /// never hears.
    async fn heard(
        commit: tokio::task::JoinHandle<Result<(), StoreError>>,
    ) -> Result<(), StoreError> {
        tokio::time::timeout(Duration::from_secs(10), commit)
            .await
            .expect("a released transaction never heard whether it committed")
            .unwrap()
    }

    /// A transaction that ends while another waits for the writer is committed with that
    /// one: until then no other connection sees its row and its commit has not answered.
    #[tokio::test]
    async fn a_transaction_ending_while_another_waits_shares_its_commit() {
        let (store, _dir) = store().await;
        grouping(&store);
        let first = inserting(&store, 1).await;
        let second = queue_begin(&store).await;
        let first = committing(first);
        let mut second = second.await.unwrap();
        assert_eq!(rows(&store).await, Vec::<i64>::new());
        assert!(!first.is_finished());
        insert(&mut second, 2).await;
        second.commit(&mut Deferred::default()).await.unwrap();
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1, 2]);
    }

    /// Many transactions at once all commit, whatever groups they fall into.
    #[tokio::test]
    async fn concurrent_transactions_all_commit() {
        let (store, _dir) = store().await;
        let tasks: Vec<_> = (0..40)
            .map(|x| {
                let writer = Arc::clone(&store.writer);
                tokio::spawn(async move {
                    let mut tx = writer.begin().await.unwrap();
                    insert(&mut tx, x).await;
                    tx.commit(&mut Deferred::default()).await
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("a transaction never heard whether it committed")
                .unwrap()
                .unwrap();
        }
        assert_eq!(rows(&store).await, (0..40).collect::<Vec<i64>>());
    }

    /// A transaction rolled back after others were released into the open transaction
    /// takes only its own work with it.
    #[tokio::test]
    async fn a_rollback_in_a_group_keeps_the_others_work() {
        let (store, _dir) = store().await;
        let (first, mut second) = released_then_next(&store).await;
        insert(&mut second, 2).await;
        second.rollback().await.unwrap();
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1]);
    }

    /// The same for one whose caller went away half-way.
    #[tokio::test]
    async fn a_transaction_dropped_in_a_group_keeps_the_others_work() {
        let (store, _dir) = store().await;
        let (first, mut second) = released_then_next(&store).await;
        insert(&mut second, 2).await;
        drop(second);
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1]);
    }

    /// A transaction whose writes sent with its commit fail (a taken unique value) is
    /// rolled back to its savepoint, and the `COMMIT` it was to send still goes out for
    /// the others: its first write is gone, theirs stay.
    #[tokio::test]
    async fn a_failed_batch_in_a_group_keeps_the_others_work() {
        let (store, _dir) = store().await;
        sqlx::query("CREATE TABLE u (x INTEGER UNIQUE); INSERT INTO u VALUES (7)")
            .execute(store.pool())
            .await
            .unwrap();
        let (first, second) = released_then_next(&store).await;
        let mut batch = Deferred::default();
        batch.push("INSERT INTO t VALUES (?)").bind(2_i64);
        batch.push("INSERT INTO u VALUES (?)").bind(7_i64);
        assert!(second.commit(&mut batch).await.is_err());
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1]);
    }

    /// A `COMMIT` that fails (a deferred foreign key of the last transaction) is reported
    /// to every transaction released into it, none of whose work stays.
    #[tokio::test]
    async fn a_failed_group_commit_fails_every_transaction_in_it() {
        let (store, _dir) = store().await;
        sqlx::query(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE child (parent INTEGER REFERENCES parent (id))",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let (first, mut second) = released_then_next(&store).await;
        sqlx::query("PRAGMA defer_foreign_keys = ON")
            .execute(second.conn())
            .await
            .unwrap();
        sqlx::query("INSERT INTO child VALUES (5)")
            .execute(second.conn())
            .await
            .unwrap();
        assert!(second.commit(&mut Deferred::default()).await.is_err());
        let first = heard(first).await;
        assert!(
            matches!(first, Err(StoreError::Backend(ref m))
                if m.contains("not committed") && m.contains("its commit, or a write sent with it, failed")),
            "{first:?}"
        );
        let children: i64 = sqlx::query_scalar("SELECT count(*) FROM child")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!((rows(&store).await, children), (vec![], 0));
        // The writer goes on.
        let third = inserting(&store, 3).await;
        third.commit(&mut Deferred::default()).await.unwrap();
        assert_eq!(rows(&store).await, [3]);
    }

    /// A caller that goes away while its commit runs leaves it to go through, and those
    /// released into the transaction hear "committed" all the same.
    #[tokio::test]
    async fn a_commit_whose_caller_went_away_still_answers_the_others() {
        let (store, _dir) = store().await;
        let (first, mut second) = released_then_next(&store).await;
        insert(&mut second, 2).await;
        let mut batch = Deferred::default();
        let mut commit = Box::pin(second.commit(&mut batch));
        // Polled once, then dropped: its statements are still on their way to SQLite.
        let polled = std::future::poll_fn(|cx| Poll::Ready(commit.as_mut().poll(cx))).await;
        assert!(polled.is_pending(), "the commit was still under way");
        drop(commit);
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1, 2]);
    }

    /// A transaction older than the group's age commits by itself even with another
    /// queued, so the one queued behind it does not hold its answer back.
    #[tokio::test]
    async fn an_old_transaction_commits_without_waiting_for_the_queue() {
        let (store, _dir) = store().await;
        grouping(&store);
        store.writer.group_age.store(0, Ordering::Relaxed);
        let first = inserting(&store, 1).await;
        let second = queue_begin(&store).await;
        first.commit(&mut Deferred::default()).await.unwrap();
        assert_eq!(rows(&store).await, [1]);
        second.await.unwrap().rollback().await.unwrap();
        assert_eq!(rows(&store).await, [1]);
    }

    /// A transaction released into the open one because another waited, which then gave
    /// up before its turn, is committed all the same: nobody else is left to do it.
    #[tokio::test]
    async fn a_released_transaction_is_committed_when_the_one_waiting_gives_up() {
        let (store, _dir) = store().await;
        // Grouping however slow the run, and the writer's own commit after the default wait.
        store.writer.group_age.store(60_000_000, Ordering::Relaxed);
        let first = inserting(&store, 1).await;
        // As a caller counted in the queue would, without ever taking its turn.
        let waiting = Turn::take(&store.writer.queued);
        let first = committing(first);
        let released = async {
            loop {
                if let Ok(state) = store.writer.state.try_lock() {
                    // Released, or already committed by the writer if this test was held
                    // up past the writer's wait.
                    if state
                        .as_ref()
                        .is_some_and(|w| w.waiting.len() == 1 || !w.open)
                    {
                        return;
                    }
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), released)
            .await
            .expect("the transaction was never released into the open one");
        drop(waiting);
        heard(first).await.unwrap();
        assert_eq!(rows(&store).await, [1]);
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
