//! Roster's [`Store`] on PostgreSQL, for deployments that run many Roster instances against
//! one database.
//!
//! Write transactions run at READ COMMITTED: every invariant write is a compare-and-set
//! `UPDATE ... WHERE <expected state>`, which PostgreSQL re-checks on the latest row version,
//! so two racing changes cannot both apply. Outbox claims use `FOR UPDATE SKIP LOCKED`.

mod reads;
mod rows;
#[cfg(feature = "test-support")]
pub mod testing;
mod writes;

use async_trait::async_trait;
use roster_core::store::{Readiness, Reads, Store, StoreError, StoreResult, Tx};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL. Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .acquire_timeout(Duration::from_secs(15))
            .connect(url)
            .await
            .map_err(map_err)?;
        Ok(Self { pool })
    }

    /// Applies pending migrations. sqlx holds an advisory lock meanwhile, so several
    /// instances starting at once migrate one after the other.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Maps driver errors to the store's typed errors; unique violations by constraint name.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                match db.constraint() {
                    Some("organizations_slug") => StoreError::SlugTaken,
                    Some("identities_email_key") => StoreError::EmailTaken,
                    Some("memberships_live") => StoreError::AlreadyMember,
                    _ => StoreError::Duplicate,
                }
            } else if matches!(db.code().as_deref(), Some("40001" | "40P01" | "55P03")) {
                StoreError::Busy
            } else {
                StoreError::Backend(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut => StoreError::Busy,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

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
        let tx = self.pool.begin().await.map_err(map_err)?;
        Ok(Box::new(PgConn { conn: Conn::Tx(tx) }))
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
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap_or_default();
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        Ok(Readiness {
            reachable: true,
            pending_migrations: known
                .iter()
                .copied()
                .filter(|v| !applied.contains(v))
                .collect(),
            unknown_migrations: applied.into_iter().filter(|v| !known.contains(v)).collect(),
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
