//! The scenarios of issue 9 that exist today, each with its same-run limit and goal. More
//! come with the features they measure (member list at 1M, permission checks, invitations).

use crate::load::{self, OpenRun, Target};
use crate::report::{Limit, Measured, Row};
use reqwest::Client;
use roster_core::usecases::sign_in::MAX_FAILURES;
use std::time::Duration;

/// How long each phase runs. `--quick` only shows that the harness works; its figures are
/// too short to judge goals by.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Before each probe, not counted: connections open, caches and the allocator warm up.
    pub warmup: Duration,
    /// The closed-loop probe of an HTTP scenario.
    pub probe: Duration,
    /// The open-model latency run of an HTTP scenario.
    pub measure: Duration,
    /// The in-process argon2id limit and the sign-in probe (a few dozen per second, so
    /// longer than the HTTP probes for the same precision).
    pub argon2: Duration,
    /// The sign-in latency run: long enough for a few thousand samples in a full run.
    pub sign_in_measure: Duration,
    /// From `/readyz` to reading the idle RSS, so start-up work that is still finishing
    /// (the outbox worker's first poll) is counted.
    pub settle: Duration,
}

impl Timing {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: Duration::from_millis(300),
                probe: Duration::from_secs(1),
                measure: Duration::from_secs(2),
                argon2: Duration::from_secs(1),
                sign_in_measure: Duration::from_secs(3),
                settle: Duration::from_millis(200),
            }
        } else {
            Self {
                warmup: Duration::from_secs(2),
                probe: Duration::from_secs(5),
                measure: Duration::from_secs(20),
                argon2: Duration::from_secs(8),
                sign_in_measure: Duration::from_secs(60),
                settle: Duration::from_secs(1),
            }
        }
    }
}

/// Connections of an HTTP scenario, in the probe and in the latency run alike: enough to
/// keep both sides busy on a small machine without measuring connection juggling.
pub const HTTP_CONNECTIONS: usize = 32;
/// The latency run goes at this share of the probed maximum at most: busy, but sustained.
const LATENCY_LOAD: f64 = 0.8;
/// When a trial at the latency rate cannot keep up, the next tries this share of it.
const STEP_DOWN: f64 = 0.85;
/// Trials before the latency run goes ahead at the last rate tried, kept up with or not.
const MAX_TRIALS: usize = 6;

/// Sign-ins in flight at once, in the probe and in the latency run. The throttle counts an
/// attempt *before* verifying it and gives a correct one back only once it has succeeded,
/// so one person at one address with more than `MAX_FAILURES` sign-ins in flight is
/// refused (429) even with the right password. All the load here is one person at one
/// address, so it stays below that; a request waiting for room still counts its wait, so
/// the latencies are those of a server-side queue. Eight keep a few hashers busy; a machine
/// with many more cores needs more people and client addresses to be saturated.
pub const SIGN_IN_IN_FLIGHT: usize = MAX_FAILURES as usize - 2;

/// The most requests per second `HTTP_CONNECTIONS` callers get back to back.
pub async fn probe_http(client: &Client, target: &Target, timing: Timing) -> anyhow::Result<f64> {
    load::closed_loop(
        client,
        target,
        HTTP_CONNECTIONS,
        timing.warmup,
        timing.probe,
    )
    .await
}

/// The most sign-ins per second `SIGN_IN_IN_FLIGHT` callers get back to back.
pub async fn probe_sign_in(
    client: &Client,
    target: &Target,
    timing: Timing,
) -> anyhow::Result<f64> {
    load::closed_loop(
        client,
        target,
        SIGN_IN_IN_FLIGHT,
        timing.warmup,
        timing.argon2,
    )
    .await
}

/// Latencies at a rate the server sustains: `LATENCY_LOAD` of the probed maximum, or less.
/// An open-model generator costs more per request than a closed loop, and it shares the
/// cores with the server, so a trial at that rate can be saturated. A trial counts as
/// sustained when it kept up and its median latency is below the mean latency of the
/// saturated probe (connections / rate, by Little's law): a median as bad as saturation's
/// means a standing queue. Otherwise short trials step the rate down until one holds, and
/// the long run goes at that rate.
pub async fn http_latency(
    client: &Client,
    target: &Target,
    max: f64,
    timing: Timing,
) -> anyhow::Result<OpenRun> {
    let saturated_micros = HTTP_CONNECTIONS as f64 / max * 1e6;
    let mut rate = max * LATENCY_LOAD;
    for _ in 1..MAX_TRIALS {
        let trial = load::open_model(client, target, rate, timing.probe, HTTP_CONNECTIONS).await?;
        if trial.kept_up() && (trial.latency.value_at_quantile(0.5) as f64) < saturated_micros {
            break;
        }
        rate *= STEP_DOWN;
    }
    load::open_model(client, target, rate, timing.measure, HTTP_CONNECTIONS).await
}

/// Sign-in latencies at `LATENCY_LOAD` of the argon2id limit, the rate the goal names;
/// whether the server keeps up with it is part of the result.
pub async fn sign_in_latency(
    client: &Client,
    target: &Target,
    argon2_limit: f64,
    timing: Timing,
) -> anyhow::Result<OpenRun> {
    load::open_model(
        client,
        target,
        argon2_limit * LATENCY_LOAD,
        timing.sign_in_measure,
        SIGN_IN_IN_FLIGHT,
    )
    .await
}

fn load_measured(throughput: f64, run: &OpenRun) -> Measured {
    let at = |q: f64| run.latency.value_at_quantile(q) as f64 / 1000.0;
    Measured::Load {
        throughput_per_s: throughput,
        latency_at_per_s: run.offered,
        achieved_per_s: run.achieved,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: run.latency.max() as f64 / 1000.0,
        samples: run.latency.len(),
    }
}

/// `/healthz`: the cheapest request the server answers, so the most requests per second
/// this machine's HTTP stack, loopback and load generator manage together. It is the limit
/// of the other HTTP scenarios and has no goal of its own.
pub fn healthz_row(limit: &Limit, run: &OpenRun) -> Row {
    Row {
        scenario: "GET /healthz".into(),
        measured: load_measured(limit.per_s, run),
        limit: None,
        ratio: None,
        goal: "the limit".into(),
        met: None,
    }
}

/// `GET /api/v1/me` with a session cookie: what an authenticated request costs (session,
/// identity and memberships read on every request; no cache).
pub fn me_row(throughput: f64, run: &OpenRun, healthz: Limit) -> Row {
    let ratio = throughput / healthz.per_s;
    let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Row {
        scenario: "GET /api/v1/me (session)".into(),
        measured: load_measured(throughput, run),
        limit: Some(healthz),
        ratio: Some(ratio),
        goal: "≥ 50%, p99 ≤ 2 ms".into(),
        met: Some(ratio >= 0.5 && p99 <= 2.0),
    }
}

/// Password sign-in: one argon2id verification plus the store work of a sign-in
/// (throttle count and take-back, attempt record, new session).
pub fn sign_in_row(throughput: f64, run: &OpenRun, argon2: Limit) -> Row {
    let ratio = throughput / argon2.per_s;
    let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Row {
        scenario: "POST /api/v1/auth/sign-in".into(),
        measured: load_measured(throughput, run),
        limit: Some(argon2),
        ratio: Some(ratio),
        goal: "≥ 90%, p99 ≤ 60 ms at 80% of limit".into(),
        met: Some(ratio >= 0.9 && p99 <= 60.0),
    }
}

/// `POST .../invitations`, each to a new address: the permission check, then one
/// transaction that writes the identity, the membership and its roles, the invitation, its
/// outbox email and the audit event, committed durably. Compared with the most single-row
/// transactions the same storage commits.
pub fn invitations_row(throughput: f64, run: &OpenRun, raw: Limit) -> Row {
    let ratio = throughput / raw.per_s;
    Row {
        scenario: "POST .../invitations (new address)".into(),
        measured: load_measured(throughput, run),
        limit: Some(raw),
        ratio: Some(ratio),
        goal: "≥ 2,000/s and ≥ 50%".into(),
        met: Some(throughput >= 2000.0 && ratio >= 0.5),
    }
}

/// From spawning `roster serve` to the first 200 on `/readyz`. `goal_ms` is `None` for the
/// first start of a new store, which also creates the schema (once per deployment).
pub fn startup_row(scenario: &str, elapsed: Duration, goal_ms: Option<f64>) -> Row {
    let ms = elapsed.as_secs_f64() * 1000.0;
    Row {
        scenario: scenario.into(),
        measured: Measured::Millis { ms },
        limit: None,
        ratio: None,
        goal: goal_ms.map_or_else(|| "— (once)".to_owned(), |g| format!("≤ {g:.0} ms")),
        met: goal_ms.map(|g| ms <= g),
    }
}

/// Resident memory of the server; `goal_mb` where the issue sets one.
pub fn memory_row(scenario: &str, bytes: Option<u64>, goal_mb: Option<f64>) -> Row {
    let (measured, met) = match bytes {
        Some(b) => {
            let mb = b as f64 / 1e6;
            (Measured::Megabytes { mb }, goal_mb.map(|g| mb <= g))
        }
        None => (Measured::Unavailable, None),
    };
    Row {
        scenario: scenario.into(),
        measured,
        limit: None,
        ratio: None,
        goal: goal_mb.map_or_else(|| "—".to_owned(), |g| format!("≤ {g:.0} MB")),
        met,
    }
}
