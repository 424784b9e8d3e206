//! Roster's [`Store`] on an embedded SQLite file: the default, zero-setup backend.
//!
//! Durability first: WAL, `synchronous=FULL` (WAL with NORMAL may roll back acknowledged
//! writes after a power loss), foreign keys on, a busy timeout so writers queue instead of
//! failing. Write transactions start with `BEGIN IMMEDIATE`, taking SQLite's single write
//! lock up front, so a check made inside a transaction still holds at commit.
//!
//! Write transactions have one connection of their own ([`SqliteStore::begin`]): writers of
//! this process queue for it in order, its page cache stays valid between them, and those
//! that end while others wait share one `COMMIT` (see [`connections`]).

mod access;
mod columns;
mod connections;
mod convert;
mod deferred;
mod inline;
mod reads;
mod sign_in;
mod sso;
mod tasks;
mod writes;

use async_trait::async_trait;
use connections::{ReadLease, Readers, WriteLease, Writer};
use deferred::Deferred;
use inline::{Fold, Statements};
use roster_core::store::{Readiness, Reads, Store, StoreError, StoreResult, Tx};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use convert::map_err;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a write waits for its turn, in this process and then in SQLite, before it
/// gives up with [`StoreError::Busy`].
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// Prepared statements the writer connection keeps (sqlx's default is 100).
const WRITER_STATEMENTS: usize = 300;

/// How many connections read at once.
const READERS: usize = 8;
/// How long a read waits for a connection before it gives up with [`StoreError::Busy`].
const READ_WAIT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct SqliteStore {
    /// Connections for reads (see [`connections`] for why not sqlx's pool).
    readers: Arc<Readers>,
    /// The one connection write transactions use, in turn. SQLite lets one writer in at a
    /// time, and two things made many writer connections slow (invitations: the server
    /// half idle, 130 page reads per invitation, a p99.9 of hundreds of milliseconds):
    /// a writer that finds the lock taken waits in SQLite's busy handler, which sleeps 1,
    /// 2, 5 ... 100 ms between tries while the lock may sit free; and a connection drops
    /// its page cache whenever another connection has written, so every transaction read
    /// its tables' pages again. Queued for one connection (in order), the next writer
    /// starts when the last one is done, with the pages it left. Another process writing
    /// the same file (the CLI) still meets SQLite's own lock and busy timeout. Queued
    /// transactions also share commits: one durable `COMMIT` for the lot.
    writer: Arc<Writer>,
    /// sqlx's pool on the same file, opened only when asked for: tests inspect the file
    /// through it.
    pool: SqlitePool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`. Does not migrate.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open_with(options, true).await
    }

    /// Opens a `sqlite:` URL. One with options (`?mode=...`, `?vfs=...`) is opened only as
    /// sqlx reads it: the reads on the caller's thread (see [`inline`]) open the file by
    /// its name alone, and would not honour them.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true);
        Self::open_with(options, !url.contains('?')).await
    }

    async fn open_with(options: SqliteConnectOptions, inline: bool) -> StoreResult<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(WRITE_WAIT)
            .pragma("temp_store", "memory");
        let readers = Arc::new(Readers::new(options.clone(), inline, READERS, READ_WAIT));
        // Opens the file now, so a path that cannot be opened fails here, as before.
        drop(readers.lease().await?);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_lazy_with(options.clone());
        Ok(Self {
            readers,
            // Batches of deferred writes are prepared statements of their own, one per
            // shape (an invitation's, a sign-in's ...); room for them beside the writer's
            // single statements, so neither pushes the other out.
            writer: Arc::new(Writer::new(
                options.statement_cache_capacity(WRITER_STATEMENTS),
                WRITE_WAIT,
            )),
            pool,
        })
    }

    /// Applies the migrations this build carries that the file has not seen.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut lease = self.readers.lease().await?;
        MIGRATOR
            .run(lease.conn())
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    /// A pool on the file, for tests that inspect it directly (PRAGMAs, raw rows).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A connection, plain for reads or inside a write transaction.
enum Conn {
    Read(ReadLease),
    Write(WriteLease),
}

pub struct SqliteConn {
    conn: Conn,
    /// Writes not sent yet (see [`deferred`]).
    deferred: Deferred,
    /// A batch of deferred writes failed or was cut off: some of it may have run, so the
    /// transaction takes no further statement and no commit, only its rollback.
    broken: bool,
}

impl SqliteConn {
    fn new(conn: Conn) -> Self {
        Self {
            conn,
            deferred: Deferred::default(),
            broken: false,
        }
    }

    fn raw(&mut self) -> &mut SqliteConnection {
        match &mut self.conn {
            Conn::Read(c) => c.conn(),
            Conn::Write(t) => t.conn(),
        }
    }

    /// The connection for a statement that needs its answer, once the writes deferred
    /// before it have run.
    async fn c(&mut self) -> StoreResult<&mut SqliteConnection> {
        if self.broken {
            return Err(broken());
        }
        if !self.deferred.is_empty() {
            // Set before the batch is taken (a refused batch is lost) and across the await
            // (a caller that goes away mid-batch leaves it set).
            self.broken = true;
            let (sql, args) = self.deferred.take("")?;
            sqlx::query_with(&sql, args)
                .execute(self.raw())
                .await
                .map_err(map_err)?;
            self.broken = false;
        }
        Ok(self.raw())
    }

    /// Runs a read's `statements` with `params` and gives their rows to an `A`: on the
    /// caller's own thread outside a write transaction (see [`inline`]); else, or if that
    /// finds the file busy, in one call to the connection's thread.
    async fn fold<A: Fold>(
        &mut self,
        statements: &Statements,
        params: &[Option<&str>],
    ) -> StoreResult<A> {
        if let Conn::Read(lease) = &self.conn {
            if let Some(handle) = lease.inline() {
                match inline::fold(handle, statements, params) {
                    Err(StoreError::Busy) => {}
                    done => return done,
                }
            }
        }
        let mut query = sqlx::query(statements.joined());
        for value in params {
            query = query.bind(*value);
        }
        let rows = query.fetch_all(self.c().await?).await.map_err(map_err)?;
        let mut acc = A::default();
        for row in &rows {
            acc.add(row)?;
        }
        Ok(acc)
    }

    /// Queues a write whose answer nobody needs (see [`deferred`]).
    fn defer(&mut self, sql: &str) -> &mut Deferred {
        self.deferred.push(sql)
    }
}

/// What a transaction whose deferred writes failed answers to anything but its rollback.
fn broken() -> StoreError {
    StoreError::Backend(
        "an earlier write of this transaction failed; it can only be rolled back".into(),
    )
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn reads(&self) -> StoreResult<Box<dyn Reads>> {
        Ok(Box::new(SqliteConn::new(Conn::Read(
            self.readers.lease().await?,
        ))))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        Ok(Box::new(SqliteConn::new(Conn::Write(
            self.writer.begin().await?,
        ))))
    }

    async fn readiness(&self) -> StoreResult<Readiness> {
        let unreachable = Readiness {
            reachable: false,
            pending_migrations: vec![],
            unknown_migrations: vec![],
        };
        let Ok(mut lease) = self.readers.lease().await else {
            return Ok(unreachable);
        };
        if sqlx::query("SELECT 1").execute(lease.conn()).await.is_err() {
            return Ok(unreachable);
        }
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version",
        )
        .fetch_all(lease.conn())
        .await
        .unwrap_or_default();
        Ok(convert::readiness(&MIGRATOR, applied))
    }

    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        self.pool.close().await;
    }
}
