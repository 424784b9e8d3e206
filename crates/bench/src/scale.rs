//! Scaling out on PostgreSQL: what a second stateless `roster serve` adds.
//!
//! One instance pinned to one core is measured against two instances, each pinned to a core
//! of its own, on the same database, with every request sent to them in turn the way a
//! round-robin load balancer would. The seeded admin's session was made by another
//! instance, so every request also shows that a session is accepted wherever it lands.
//! PostgreSQL and the load generator are not pinned: on this machine they share the two
//! cores with the instances, as a database host would not.
//!
//! What each request costs the database is read from PostgreSQL's own counters
//! (`pg_stat_database`) around a fixed number of requests, less the background work
//! (outbox and digest polls) counted per second while the instance idled, before the load
//! and after it: the smaller of the two, since either window may catch work that does not
//! recur (autovacuum after the seeding, or after the sign-ins' writes).

use crate::load::{self, Target};
use crate::report::{Limit, Measured, Row};
use crate::scenarios::{self, Timing};
use crate::seed::Person;
use crate::server::{Launch, Server, StoreSpec};
use crate::step;
use anyhow::Context;
use reqwest::{header, Client};
use sqlx::{Connection, PgConnection};
use std::path::Path;
use std::time::{Duration, Instant};

/// Backends publish their counters when they go idle, at the latest this long after.
const STATS_FLUSH: Duration = Duration::from_secs(11);
/// Requests whose database work is counted.
const ME_REQUESTS: u32 = 2_000;
const SIGN_IN_REQUESTS: u32 = 100;

/// The scale rows, on PostgreSQL only (SQLite is one process's file); none on a machine
/// with fewer than two cores, where there is nothing to pin a second instance to.
pub async fn scale_rows(
    binary: &Path,
    store: &StoreSpec,
    person: &Person,
    timing: Timing,
) -> anyhow::Result<Vec<Row>> {
    let Some(url) = store.database_url() else {
        return Ok(Vec::new());
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 {
        step("scale: skipped, fewer than two cores");
        return Ok(Vec::new());
    }
    let client = load::client()?;
    let me = |base: &str| {
        Target::get(&format!("{base}/api/v1/me"))?
            .with_header(header::COOKIE, &person.session_cookie)
    };
    let sign_in = |base: &str| {
        Target::post_json(
            &format!("{base}/api/v1/auth/sign-in"),
            &serde_json::json!({ "email": person.email, "password": person.password }),
        )
    };

    step("scale: one instance on core 0: PostgreSQL's background work while it idles");
    let (one, _) = Server::start_on(binary, store, 20, Launch::OnCore(0)).await?;
    let mut pg = PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL for its counters")?;
    let idle_before = background_per_second(&mut pg).await?;
    step("scale: one instance on core 0: probing GET /api/v1/me and sign-in");
    let me_one = scenarios::probe_http(&client, &me(&one.base_url)?, timing).await?;
    let sign_in_one = scenarios::probe_sign_in(&client, &sign_in(&one.base_url)?, timing).await?;
    step("scale: counting PostgreSQL's work per request (about a minute of waiting for its counters)");
    let me_work = database_work(&mut pg, &client, &me(&one.base_url)?, ME_REQUESTS).await?;
    let sign_in_work =
        database_work(&mut pg, &client, &sign_in(&one.base_url)?, SIGN_IN_REQUESTS).await?;
    step("scale: one instance on core 0: PostgreSQL's background work while it idles again");
    let background = idle_before.least(background_per_second(&mut pg).await?);
    let me_cost = me_work.less(background);
    let sign_in_cost = sign_in_work.less(background);
    one.stop().await.context("stopping the one instance")?;

    step("scale: two instances on cores 0 and 1, requests in turn: probing the same");
    let (a, _) = Server::start_on(binary, store, 21, Launch::OnCore(0)).await?;
    let (b, _) = Server::start_on(binary, store, 22, Launch::OnCore(1)).await?;
    let other = [b.base_url.clone()];
    let me_two =
        scenarios::probe_http(&client, &me(&a.base_url)?.spread_over(&other)?, timing).await?;
    let sign_in_two =
        scenarios::probe_sign_in(&client, &sign_in(&a.base_url)?.spread_over(&other)?, timing)
            .await?;
    a.stop().await.context("stopping instance A")?;
    b.stop().await.context("stopping instance B")?;

    Ok(vec![
        one_instance("GET /api/v1/me", me_one),
        two_instances("GET /api/v1/me", me_two, me_one),
        one_instance("POST /api/v1/auth/sign-in", sign_in_one),
        two_instances("POST /api/v1/auth/sign-in", sign_in_two, sign_in_one),
        me_cost.transactions_row("GET /api/v1/me"),
        me_cost.rows_row("GET /api/v1/me"),
        sign_in_cost.transactions_row("sign-in"),
        sign_in_cost.rows_row("sign-in"),
    ])
}

fn one_instance(what: &str, per_s: f64) -> Row {
    Row {
        scenario: format!("scale: {what}, 1 instance on 1 core"),
        measured: Measured::Throughput { per_s },
        limit: None,
        ratio: None,
        goal: "—".into(),
        met: None,
    }
}

fn two_instances(what: &str, per_s: f64, one: f64) -> Row {
    Row {
        scenario: format!("scale: {what}, 2 instances on 2 cores"),
        measured: Measured::Throughput { per_s },
        limit: Some(Limit::bracketing("1 instance", one, one)),
        ratio: Some(per_s / one),
        // Not a scaling factor alone: with one instance, PostgreSQL and the load generator
        // have most of the other core; with two, everything shares both.
        goal: "— (shares cores with PostgreSQL)".into(),
        met: None,
    }
}

/// PostgreSQL's counters for the whole database.
#[derive(Clone, Copy, Debug)]
struct Counters {
    transactions: f64,
    /// Index entries and heap rows read (`tup_returned + tup_fetched`): a row found
    /// through an index counts twice.
    tuples_read: f64,
    rows_written: f64,
}

impl Counters {
    async fn read(pg: &mut PgConnection) -> anyhow::Result<Self> {
        // A new transaction each time, so the statistics snapshot is fresh.
        let (transactions, read, written): (i64, i64, i64) = sqlx::query_as(
            "SELECT (xact_commit + xact_rollback)::int8, (tup_returned + tup_fetched)::int8, \
             (tup_inserted + tup_updated + tup_deleted)::int8 \
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(pg)
        .await
        .context("reading pg_stat_database")?;
        Ok(Self {
            transactions: transactions as f64,
            tuples_read: read as f64,
            rows_written: written as f64,
        })
    }

    fn minus(self, other: Self) -> Self {
        Self {
            transactions: self.transactions - other.transactions,
            tuples_read: self.tuples_read - other.tuples_read,
            rows_written: self.rows_written - other.rows_written,
        }
    }

    /// Each counter's smaller value.
    fn least(self, other: Self) -> Self {
        Self {
            transactions: self.transactions.min(other.transactions),
            tuples_read: self.tuples_read.min(other.tuples_read),
            rows_written: self.rows_written.min(other.rows_written),
        }
    }

    fn scaled(self, by: f64) -> Self {
        Self {
            transactions: self.transactions * by,
            tuples_read: self.tuples_read * by,
            rows_written: self.rows_written * by,
        }
    }
}

/// What one request costs PostgreSQL, on average.
struct Cost {
    per_request: Counters,
    requests: u32,
    /// Whether the idle work was taken out. It is not when it would leave a count below
    /// zero: both idle windows then caught work that did not recur, and the figure would
    /// be meaningless.
    idle_subtracted: bool,
}

impl Cost {
    /// What the row's unit says about the idle work.
    fn idle_note(&self) -> &'static str {
        if self.idle_subtracted {
            ""
        } else {
            " (idle work not subtracted: it varied)"
        }
    }
}

impl Cost {
    fn transactions_row(&self, what: &str) -> Row {
        Row {
            scenario: format!("scale: PostgreSQL transactions per {what}"),
            measured: Measured::Quantity {
                value: self.per_request.transactions,
                unit: format!("(mean of {}){}", self.requests, self.idle_note()),
            },
            limit: None,
            ratio: None,
            goal: "—".into(),
            met: None,
        }
    }

    fn rows_row(&self, what: &str) -> Row {
        Row {
            scenario: format!("scale: PostgreSQL tuples read / rows written per {what}"),
            measured: Measured::Quantity {
                value: self.per_request.tuples_read,
                unit: format!("/ {:.1}{}", self.per_request.rows_written, self.idle_note()),
            },
            limit: None,
            ratio: None,
            goal: "—".into(),
            met: None,
        }
    }
}

/// PostgreSQL's counters per second while the server idles (outbox and digest polls, and
/// these reads of the counters).
async fn background_per_second(pg: &mut PgConnection) -> anyhow::Result<Counters> {
    tokio::time::sleep(STATS_FLUSH).await;
    let from = Counters::read(pg).await?;
    let started = Instant::now();
    tokio::time::sleep(STATS_FLUSH * 2).await;
    let counted = Counters::read(pg).await?.minus(from);
    Ok(counted.scaled(1.0 / started.elapsed().as_secs_f64()))
}

/// What PostgreSQL counted while `requests` requests were sent, background work included.
struct Work {
    counted: Counters,
    seconds: f64,
    requests: u32,
}

impl Work {
    /// The cost per request once `background` (per second) is taken out.
    fn less(&self, background: Counters) -> Cost {
        let corrected = self.counted.minus(background.scaled(self.seconds));
        let idle_subtracted = corrected.transactions >= 0.0
            && corrected.tuples_read >= 0.0
            && corrected.rows_written >= 0.0;
        let totals = if idle_subtracted {
            corrected
        } else {
            self.counted
        };
        Cost {
            per_request: totals.scaled(1.0 / f64::from(self.requests)),
            requests: self.requests,
            idle_subtracted,
        }
    }
}

/// Sends `target` `n` times one after another and reads what PostgreSQL counted.
async fn database_work(
    pg: &mut PgConnection,
    client: &Client,
    target: &Target,
    n: u32,
) -> anyhow::Result<Work> {
    tokio::time::sleep(STATS_FLUSH).await;
    let from = Counters::read(pg).await?;
    let started = Instant::now();
    for _ in 0..n {
        target.send(client).await?;
    }
    tokio::time::sleep(STATS_FLUSH).await;
    Ok(Work {
        counted: Counters::read(pg).await?.minus(from),
        seconds: started.elapsed().as_secs_f64(),
        requests: n,
    })
}
