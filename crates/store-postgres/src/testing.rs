//! Fresh PostgreSQL databases for tests, one per test, from `ROSTER_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`). An unreachable server skips
//! loudly, or panics when `ROSTER_REQUIRE_POSTGRES=1` (as CI sets).
//!
//! Behind the `test-support` feature; never part of the served binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Test databases are named `roster_test_<unix seconds>_<random>`, so a later run can tell
/// how old a leftover is.
const PREFIX: &str = "roster_test_";
/// Leftovers older than this are from runs that died; younger ones may be in use.
const STALE_AFTER_SECS: u64 = 3600;

pub fn admin_url() -> String {
    std::env::var("ROSTER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Drops its test database when it goes out of scope (even when the test panicked).
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// A URL that reaches this database (for other processes, e.g. the `roster` binary).
    /// Printed back from parsed options, so host, port, credentials and TLS settings carry
    /// over but free-form `options` in the admin URL do not.
    pub fn url(&self) -> String {
        PgConnectOptions::from_str(&admin_url())
            .map(|o| o.database(&self.name).to_url_lossy().to_string())
            .unwrap_or_default()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ = admin
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                }
            });
        })
        .join();
    }
}

/// Drops databases left behind by runs that were killed before cleaning up.
async fn drop_stale(admin: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *admin)
            .await
            .unwrap();
    for name in names {
        let created: Option<u64> = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse().ok());
        if created.is_some_and(|t| t + STALE_AFTER_SECS < now_secs()) {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str())
                .await;
        }
    }
}

/// A migrated store on a new database, and the guard that drops the database when it goes
/// out of scope. `None` when PostgreSQL is unreachable and not required (said loudly).
pub async fn fresh_database() -> Option<(PostgresStore, TestDatabase)> {
    let url = admin_url();
    let mut admin = match PgConnection::connect(&url).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("ROSTER_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (ROSTER_REQUIRE_POSTGRES=1) but {url} is unreachable: {e}");
            }
            // Straight to stderr: the test harness captures `eprintln!` of passing tests,
            // and a skip must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "!!! PostgreSQL unreachable at {url} ({e}): PostgreSQL test SKIPPED; \
                 set ROSTER_REQUIRE_POSTGRES=1 to make this fatal"
            );
            return None;
        }
    };
    drop_stale(&mut admin).await;
    let name = format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap();
    // The guard exists before anything else can fail, so a failing setup still drops the
    // database.
    let guard = TestDatabase { name: name.clone() };
    let options = PgConnectOptions::from_str(&url).unwrap().database(&name);
    let store = PostgresStore::connect_with(options).await.unwrap();
    store.migrate().await.unwrap();
    Some((store, guard))
}
