//! Roster's [`Store`] on PostgreSQL, for deployments that run many Roster instances against
//! one database.
//!
//! Write transactions run at READ COMMITTED: every invariant write is a compare-and-set
//! `UPDATE ... WHERE <expected state>`, which PostgreSQL re-checks on the latest row version,
//! so two racing changes cannot both apply, and no caller has to retry serialization
//! failures. Read-modify-writes lock their row first (`FOR UPDATE`); outbox claims use
//! `FOR UPDATE SKIP LOCKED`, so several workers share the queue without overlap.

mod access;
mod convert;
mod reads;
mod sign_in;
mod sso;
mod tasks;
#[cfg(feature = "test-support")]
pub mod testing;
mod writes;

use async_trait::async_trait;
use roster_core::store::{Readiness, Reads, Store, StoreError, StoreResult, Tx};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub(crate) use convert::map_err;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How many connections one instance keeps to the server at most.
const MAX_CONNECTIONS: u32 = 10;

/// A pooled connection idle this long is pinged before it is handed out again.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url).map_err(map_err)?;
        Self::connect_with(options).await
    }

    /// Connects with options already parsed (tests derive them from another URL; a URL
    /// printed back from options loses some parameters).
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        // Opens one connection at once, so a wrong URL or password fails at start-up rather
        // than at the first request. The acquire timeout turns an exhausted pool into
        // `StoreError::Busy` (try again) instead of a request that hangs.
        //
        // sqlx pings a connection when it comes back to the pool; by default it pings it again
        // before each checkout, a round trip to the server for every use case. Only a
        // connection that sat idle long enough for the server or the network to have dropped
        // it (a restart, a proxy's idle timeout) is pinged now; one in steady use was pinged
        // moments ago on its way back. One the server dropped within that second is found
        // out by its first statement instead: a write transaction's BEGIN moves on to another
        // connection (see `begin`), a read answers `Busy` (try again), and sqlx closes it.
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(options)
            .await
            .map_err(map_err)?;
        // With synchronous_commit=off PostgreSQL may lose commits it has acknowledged. Roster
        // does not override the server (an operator may have chosen a stricter setting for
        // replication), but it says so.
        let sync: Option<String> = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_optional(&pool)
            .await
            .ok()
            .flatten();
        if sync.as_deref() == Some("off") {
            tracing::warn!(
                "PostgreSQL runs with synchronous_commit=off: acknowledged writes can be lost on a crash"
            );
        }
        Ok(Self { pool })
    }

    /// Applies the migrations this build carries that the database has not seen. sqlx holds
    /// an advisory lock meanwhile, so several instances starting at once against one
    /// database migrate one after the other instead of tripping over each other.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    /// The pool, for tests that inspect the database directly (settings, raw rows).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A connection, plain for reads or inside a write transaction.
enum Conn {
    Plain(PoolConnection<Postgres>),
    Tx(Transaction<'static, Postgres>),
}

pub struct PgConn {
    conn: Conn,
}

impl PgConn {
    fn c(&mut self) -> &mut PgConnection {
        match &mut self.conn {
            Conn::Plain(c) => c,
            Conn::Tx(t) => t,
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn reads(&self) -> StoreResult<Box<dyn Reads>> {
        let conn = self.pool.acquire().await.map_err(map_err)?;
        Ok(Box::new(PgConn {
            conn: Conn::Plain(conn),
        }))
    }

    async fn begin(&self) -> StoreResult<Box<dyn Tx>> {
        // The server's default isolation (READ COMMITTED) on purpose: see the crate docs.
        //
        // A pooled connection the server dropped since its last use (a restart) is found out
        // by its BEGIN, before anything happened on it; sqlx closes it on its way back, and
        // the next one is tried, up to once per connection the pool can hold. Only while
        // the pool has idle connections: a failure to open a new one (the server is down)
        // is not retried here, so an outage costs each write one attempt, not eleven.
        let mut lost = 0;
        loop {
            let pooled = self.pool.num_idle() > 0;
            match self.pool.begin().await {
                Ok(tx) => return Ok(Box::new(PgConn { conn: Conn::Tx(tx) })),
                Err(e) if pooled && lost < MAX_CONNECTIONS && convert::connection_lost(&e) => {
                    lost += 1
                }
                Err(e) => return Err(map_err(e)),
            }
        }
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
        // No migrations table yet means nothing applied: every migration is pending.
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
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
