//! Roster's [`Store`] on an embedded SQLite file: the default, zero-setup backend.
//!
//! Durability first: WAL, `synchronous=FULL` (WAL with NORMAL may roll back acknowledged
//! writes after a power loss), foreign keys on, a busy timeout so writers queue instead of
//! failing. Write transactions start with `BEGIN IMMEDIATE`, taking SQLite's single write
//! lock up front, so a check made inside a transaction still holds at commit.

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

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
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
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        // No ping before each checkout: a SQLite connection is a file handle and a thread in
        // this process, with nothing between them to break while it sits idle, and sqlx
        // already pings it when it comes back. The ping was a third of `GET /api/v1/me`'s
        // handoffs to the connection's thread.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
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
            .pool
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
        self.pool.close().await;
    }
}
