//! Same-run limits that are not HTTP scenarios themselves.

use anyhow::{anyhow, bail};
use roster_core::passwords::{PasswordPolicy, Passwords, PolicyContext};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Raw argon2id verifications per second on all cores, in this process: the most password
/// sign-ins this machine could ever do. It uses `roster_core`'s own `Passwords` with the
/// server's parameters and one hasher per core (as the server has), so the only difference
/// from a sign-in is everything around the hash: HTTP, the store, the session it creates.
pub async fn argon2_verifications_per_second(
    password: &str,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let passwords = Passwords::new(cores);
    let accepted = PasswordPolicy::default()
        .check(password, &PolicyContext::default())
        .map_err(|v| anyhow!("the bench password breaks the policy: {v:?}"))?;
    let hash = passwords.hash(accepted).await?;

    let counted = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut callers = tokio::task::JoinSet::new();
    // Twice as many callers as hashers, so a hasher never waits for its next caller.
    for _ in 0..cores * 2 {
        let (passwords, hash, counted) = (passwords.clone(), hash.clone(), counted.clone());
        let password = password.to_owned();
        callers.spawn(async move {
            while Instant::now() < until {
                if !passwords.verify(&password, &hash).await? {
                    bail!("argon2id did not verify its own hash");
                }
                let done = Instant::now();
                if done >= from && done <= until {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = callers.join_next().await {
        joined??;
    }
    Ok(counted.load(Ordering::Relaxed) as f64 / duration.as_secs_f64())
}

/// Single-row insert transactions per second, each committed durably, on the same storage
/// the server uses: the most write transactions it could ever commit. SQLite: one writer at
/// a time on a file beside the server's, in WAL mode with `synchronous=FULL` as the store
/// opens it. PostgreSQL: the same database, from as many connections as the invitation
/// load uses, into a scratch table dropped afterwards.
pub async fn raw_insert_transactions_per_second(
    store: &crate::server::StoreSpec,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<f64> {
    use sqlx::{ConnectOptions, Connection, Executor};
    let counted = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + duration;
    match store.database_url() {
        None => {
            // In the data directory, on the same file system as the server's file.
            let file = store.dir().join("raw-insert-limit.db");
            let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
                .connect()
                .await?;
            conn.execute(
                "CREATE TABLE IF NOT EXISTS raw (id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
            )
            .await?;
            while Instant::now() < until {
                conn.execute("BEGIN IMMEDIATE").await?;
                sqlx::query("INSERT INTO raw (v) VALUES (?)")
                    .bind("a single row, as long as an email address")
                    .execute(&mut conn)
                    .await?;
                conn.execute("COMMIT").await?;
                let done = Instant::now();
                if done >= from && done <= until {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
            conn.close().await?;
        }
        Some(url) => {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(u32::try_from(connections).unwrap_or(32))
                .connect(url)
                .await?;
            pool.execute(
                "CREATE TABLE IF NOT EXISTS roster_bench_raw (id bigserial PRIMARY KEY, v text NOT NULL)",
            )
            .await?;
            let mut callers = tokio::task::JoinSet::new();
            for _ in 0..connections.max(1) {
                let (pool, counted) = (pool.clone(), counted.clone());
                callers.spawn(async move {
                    while Instant::now() < until {
                        let mut tx = pool.begin().await?;
                        sqlx::query("INSERT INTO roster_bench_raw (v) VALUES ($1)")
                            .bind("a single row, as long as an email address")
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        let done = Instant::now();
                        if done >= from && done <= until {
                            counted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    anyhow::Ok(())
                });
            }
            while let Some(joined) = callers.join_next().await {
                joined??;
            }
            pool.execute("DROP TABLE roster_bench_raw").await?;
            pool.close().await;
        }
    }
    Ok(counted.load(Ordering::Relaxed) as f64 / duration.as_secs_f64())
}

/// What a point-read probe saw: reads per second, and each read's duration.
pub struct PointReads {
    pub per_s: f64,
    /// Nanoseconds per read, counted after the warm-up.
    pub latency: hdrhistogram::Histogram<u64>,
}

/// One connection to the server's store, of either kind.
enum Conn {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Connections of the point-read limit: as many as the server's SQLite pool holds, each
/// read by its own caller, so no caller waits for another's connection.
const POINT_READ_CONNECTIONS: usize = 8;

/// Primary-key point reads per second on the server's own store while it runs: one random
/// membership row by id (`SELECT * FROM memberships WHERE id = ?`), from
/// `POINT_READ_CONNECTIONS` connections of this process. The cheapest read the store can
/// answer about a member, so the most any member-list request could ever reach; the ratio
/// is what the page's other work costs (its count, its 50 rows and their joins, HTTP).
pub async fn point_reads(
    store: &crate::server::StoreSpec,
    ids: Arc<Vec<roster_core::ids::MembershipId>>,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<PointReads> {
    use sqlx::{ConnectOptions, Connection};
    anyhow::ensure!(!ids.is_empty(), "no membership to read");
    let counted = Arc::new(AtomicU64::new(0));
    let from = Instant::now() + warmup;
    let until = from + duration;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..POINT_READ_CONNECTIONS {
        let (ids, counted) = (ids.clone(), counted.clone());
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| anyhow!("no randomness: {e}"))?;
        let mut random = u64::from_le_bytes(seed) | 1;
        // xorshift64: cheap, and spread enough to pick ids all over the b-tree.
        let mut pick = move || {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            ids[(random % ids.len() as u64) as usize]
        };
        let mut conn = match store.database_url() {
            None => Conn::Sqlite(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(store.sqlite_file())
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await?,
            ),
            Some(url) => Conn::Postgres(sqlx::PgConnection::connect(url).await?),
        };
        callers.spawn(async move {
            let mut latency =
                hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
            while Instant::now() < until {
                let id = pick();
                let t = Instant::now();
                let found = match &mut conn {
                    Conn::Sqlite(c) => sqlx::query("SELECT * FROM memberships WHERE id = ?")
                        .bind(id.to_string())
                        .fetch_optional(&mut *c)
                        .await?
                        .is_some(),
                    Conn::Postgres(c) => sqlx::query("SELECT * FROM memberships WHERE id = $1")
                        .bind(id.as_uuid())
                        .fetch_optional(&mut *c)
                        .await?
                        .is_some(),
                };
                let done = Instant::now();
                if !found {
                    bail!("membership {id} is not in the store");
                }
                if done >= from && done <= until {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let nanos = u64::try_from((done - t).as_nanos()).unwrap_or(u64::MAX);
                    latency.saturating_record(nanos.max(1));
                }
            }
            match conn {
                Conn::Sqlite(c) => c.close().await?,
                Conn::Postgres(c) => c.close().await?,
            }
            anyhow::Ok(latency)
        });
    }
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    while let Some(joined) = callers.join_next().await {
        latency.add(joined??)?;
    }
    Ok(PointReads {
        per_s: counted.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(),
        latency,
    })
}

/// The point-read limit as a row of its own: the bracketed rate, and each read's time.
pub fn point_read_row(
    scenario: &str,
    limit: &crate::report::Limit,
    latency: &hdrhistogram::Histogram<u64>,
) -> crate::report::Row {
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    crate::report::Row {
        scenario: scenario.into(),
        measured: crate::report::Measured::InProcess {
            per_s: limit.per_s,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            samples: latency.len(),
        },
        limit: None,
        ratio: None,
        goal: "the limit".into(),
        met: None,
    }
}
