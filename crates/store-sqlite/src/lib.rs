//! Roster's [`Store`] on an embedded SQLite file: the default, zero-setup backend.
//!
//! Durability first: WAL, `synchronous=FULL` (WAL with NORMAL may roll back acknowledged
//! writes after a power loss), foreign keys on, a busy timeout so writers queue instead of
//! failing. Write transactions start with `BEGIN IMMEDIATE`, taking SQLite's single write
//! lock up front, so a check made inside a transaction still holds at commit.
//!
//! Write transactions have one connection of their own ([`SqliteStore::begin`]): writers of
//! this process queue for it in order, and its page cache stays valid between them.

mod access;
mod convert;
mod reads;
mod sign_in;
mod sso;
mod tasks;
mod writes;

use async_trait::async_trait;
use roster_core::store::{Readiness, Reads, Store, StoreError, StoreResult, Tx};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub(crate) use convert::map_err;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a write waits for its turn, in this process and then in SQLite, before it
/// gives up with [`StoreError::Busy`].
const WRITE_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Connections for reads.
    pool: SqlitePool,
    /// The one connection write transactions use, in turn. SQLite lets one writer in at a
    /// time, and two things made many writer connections slow (invitations: the server
    /// half idle, 130 page reads per invitation, a p99.9 of hundreds of milliseconds):
    /// a writer that finds the lock taken waits in SQLite's busy handler, which sleeps 1,
    /// 2, 5 ... 100 ms between tries while the lock may sit free; and a connection drops
    /// its page cache whenever another connection has written, so every transaction read
    /// its tables' pages again. Queued for one connection (the pool is fair), the next
    /// writer starts when the last one is done, with the pages it left. Another process
    /// writing the same file (the CLI) still meets SQLite's own lock and busy timeout.
    writes: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`. Does not migrate.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::open_with(options).await
    }

    /// Opens a `sqlite:` URL.
    pub async fn open_url(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true);
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(WRITE_WAIT)
            .pragma("temp_store", "memory");
        // No ping before each checkout: a SQLite connection is a file handle and a thread in
        // this process, with nothing between them to break while it sits idle, and sqlx
        // already pings it when it comes back. The ping was a third of `GET /api/v1/me`'s
        // handoffs to the connection's thread.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options.clone())
            .await
            .map_err(map_err)?;
        let writes = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(WRITE_WAIT)
            .connect_lazy_with(options);
        Ok(Self { pool, writes })
    }

    /// Applies the migrations this build carries that the file has not seen.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    /// The pool, for tests that inspect the file directly (PRAGMAs, raw rows).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A connection, plain for reads or inside a write transaction.
enum Conn {
    Plain(PoolConnection<Sqlite>),
    Tx(Transaction<'static, Sqlite>),
}

pub struct SqliteConn {
    conn: Conn,
}

impl SqliteConn {
    fn c(&mut self) -> &mut SqliteConnection {
        match &mut self.conn {
            Conn::Plain(c) => c,
            Conn::Tx(t) => t,
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn reads(&self) -> StoreResult<Box<dyn Reads>> {
        let conn = self.pool.acquire().await.map_err(map_err)?;
        Ok(Box::new(SqliteConn {
            conn: Conn::Plain(conn),
        }))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        let tx = self
            .writes
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        Ok(Box::new(SqliteConn { conn: Conn::Tx(tx) }))
    }

    async fn readiness(&self) -> StoreResult<Readiness> {
        let reachable = sqlx::query("SELECT 1").execute(&self.pool).await.is_ok();
        if !reachable {
            return Ok(Readiness {
                reachable,
                pending_migrations: vec![],
                unknown_migrations: vec![],
            });
        }
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = 1 ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        Ok(convert::readiness(&MIGRATOR, applied))
    }

    async fn close(&self) {
        self.writes.close().await;
        self.pool.close().await;
    }
}
