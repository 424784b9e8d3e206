//! The scenarios of issue 9, each with its same-run limit and goal (the member list at
//! scale seeds its own data: `members.rs`).

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
    /// A quick run: smaller data sets too.
    pub quick: bool,
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
                quick,
            }
        } else {
            Self {
                warmup: Duration::from_secs(2),
                probe: Duration::from_secs(5),
                measure: Duration::from_secs(20),
                argon2: Duration::from_secs(8),
                sign_in_measure: Duration::from_secs(60),
                settle: Duration::from_secs(1),
                quick,
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

/// Requests of a probe of slow requests: it goes on past its time until this many have
/// completed, within `SLOW_PROBE_MAX`.
const SLOW_PROBE_COMPLETIONS: u64 = 20;
const SLOW_PROBE_MAX: Duration = Duration::from_secs(120);

/// The most requests per second `connections` callers get back to back, for requests that
/// may take seconds: the probe lasts its usual time and until `SLOW_PROBE_COMPLETIONS`
/// requests have completed.
pub async fn probe_http_with(
    client: &Client,
    target: &Target,
    timing: Timing,
    connections: usize,
) -> anyhow::Result<f64> {
    load::closed_loop_until(
        client,
        target,
        connections,
        timing.warmup,
        timing.probe,
        SLOW_PROBE_COMPLETIONS,
        SLOW_PROBE_MAX,
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
    http_latency_with(client, target, max, timing, HTTP_CONNECTIONS, 0).await
}

/// [`http_latency`] over `connections` callers, the number its probe used, and long enough
/// for `min_samples` requests in the run (a sixth of that in each trial) when the rate is
/// low: a request that takes seconds gets a few per second at most.
pub async fn http_latency_with(
    client: &Client,
    target: &Target,
    max: f64,
    timing: Timing,
    connections: usize,
    min_samples: u32,
) -> anyhow::Result<OpenRun> {
    let saturated_micros = connections as f64 / max * 1e6;
    let at_least = |d: Duration, samples: u32, rate: f64| {
        d.max(Duration::from_secs_f64(f64::from(samples) / rate))
    };
    let mut rate = max * LATENCY_LOAD;
    for _ in 1..MAX_TRIALS {
        let trial_time = at_least(timing.probe, min_samples / 6, rate);
        let trial = load::open_model(client, target, rate, trial_time, connections).await?;
        if trial.kept_up() && (trial.latency.value_at_quantile(0.5) as f64) < saturated_micros {
            break;
        }
        rate *= STEP_DOWN;
    }
    let measure = at_least(timing.measure, min_samples, rate);
    load::open_model(client, target, rate, measure, connections).await
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

/// The console's *System > Users* page for a signed-in admin: the session, the person's
/// organizations and permissions, the member list (count and first page of 50), the
/// names of roles, groups, customers and entities for the filters and the invite dialog,
/// and the template, all read afresh per request like every API call.
pub fn console_users_row(throughput: f64, run: &OpenRun, healthz: Limit) -> Row {
    let ratio = throughput / healthz.per_s;
    let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Row {
        scenario: "GET /orgs/{org}/users (console page)".into(),
        measured: load_measured(throughput, run),
        limit: Some(healthz),
        ratio: Some(ratio),
        goal: "≥ 5%, p99 ≤ 25 ms".into(),
        met: Some(ratio >= 0.05 && p99 <= 25.0),
    }
}

/// A page of `GET /api/v1/orgs/{org}/members` in an organization of N members, compared
/// with primary-key point reads on the same store; the goal is the p99 alone.
pub fn member_list_row(
    scenario: &str,
    throughput: f64,
    run: &OpenRun,
    point_reads: Limit,
    goal_p99_ms: f64,
) -> Row {
    let ratio = throughput / point_reads.per_s;
    let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Row {
        scenario: scenario.into(),
        measured: load_measured(throughput, run),
        limit: Some(point_reads),
        ratio: Some(ratio),
        goal: format!("p99 ≤ {goal_p99_ms:.0} ms"),
        met: Some(p99 <= goal_p99_ms),
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

/// `POST /api/v1/orgs/{org}/check` by a host product's token: the member, their custom
/// role through a group, the customer and the member's assignments, read fresh from the
/// store on every call (nothing is cached, so nothing is stale), then evaluated.
pub fn check_row(throughput: f64, run: &OpenRun, healthz: Limit) -> Row {
    let ratio = throughput / healthz.per_s;
    Row {
        scenario: "POST /api/v1/orgs/{org}/check".into(),
        measured: load_measured(throughput, run),
        limit: Some(healthz),
        ratio: Some(ratio),
        goal: "≥ 50%".into(),
        met: Some(ratio >= 0.5),
    }
}

/// The evaluation behind a check, in process: a prepared member (User, a custom role held
/// through a group, an assigned customer among 50) against a catalog with host codes, asked about
/// one customer. Each call is timed on its own.
pub fn evaluation_row(timing: Timing) -> Row {
    use roster_core::access::{
        AccessProfile, Catalog, CustomerArg, HostPermission, PermissionCode,
    };
    use roster_core::ids::{CustomerId, GroupId, IdentityId, OrgId, RoleId};
    use roster_core::model::{BuiltinRole, CustomRole, Group, Membership, MembershipStatus};
    use roster_core::names::DisplayName;
    use std::hint::black_box;
    use std::time::Instant;

    let host: Vec<HostPermission> = (0..40)
        .map(|i| HostPermission {
            code: format!("host.area{}.action{i}", i % 5),
            label: format!("Host action {i}"),
            area: format!("Area {}", i % 5),
            roles: if i % 2 == 0 {
                vec!["user".into()]
            } else {
                vec![]
            },
        })
        .collect();
    let Ok(catalog) = Catalog::with_host(&host).map(std::sync::Arc::new) else {
        return unavailable("in-process check evaluation");
    };
    let now = chrono::Utc::now();
    let org = OrgId::new();
    let name = |s: &str| DisplayName::parse(s).ok();
    let (Some(role_name), Some(group_name)) = (name("Account reader"), name("Accounts")) else {
        return unavailable("in-process check evaluation");
    };
    let role = CustomRole {
        id: RoleId::new(),
        org_id: org,
        name: role_name,
        description: None,
        permissions: ["customers.read", "host.area1.action1", "host.area3.action3"]
            .iter()
            .filter_map(|c| PermissionCode::parse(c).ok())
            .collect(),
        customer_scoped: true,
        created_at: now,
        updated_at: now,
    };
    let group = Group {
        id: GroupId::new(),
        org_id: org,
        name: group_name,
        description: None,
        roles: vec![BuiltinRole::Marketing],
        custom_roles: vec![role.id],
        members: 1,
        created_at: now,
        updated_at: now,
    };
    let mut member = Membership::new(
        org,
        IdentityId::new(),
        MembershipStatus::Active,
        [BuiltinRole::User],
        now,
    );
    member.groups = vec![group.id];
    let profile = AccessProfile::prepare(&catalog, &member, &[role], &[group]);
    // The store answers whether the customer is assigned, and to how many in all, in one
    // query; the evaluation gets those two facts.
    let customer = CustomerArg {
        id: CustomerId::new(),
        exists: true,
        assigned: true,
        assigned_total: 50,
    };

    let Ok(mut histogram) = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
    else {
        return unavailable("in-process check evaluation");
    };
    let started = Instant::now();
    let mut allowed = 0u64;
    while started.elapsed() < timing.probe {
        for _ in 0..1000 {
            let t = Instant::now();
            let reason = black_box(&profile).check(black_box("customers.read"), Some(&customer));
            let took = t.elapsed().as_nanos();
            allowed += u64::from(reason.allowed());
            let _ = histogram.record(u64::try_from(took).unwrap_or(u64::MAX).max(1));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let us = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    let p99 = us(0.99);
    Row {
        scenario: "check evaluation (in process)".into(),
        measured: Measured::InProcess {
            per_s: histogram.len() as f64 / elapsed,
            p50_us: us(0.5),
            p99_us: p99,
            p999_us: us(0.999),
            samples: histogram.len(),
        },
        limit: None,
        ratio: None,
        goal: "p99 ≤ 10 µs".into(),
        // A check that was not allowed measured the wrong path.
        met: Some(p99 <= 10.0 && allowed == histogram.len()),
    }
}

fn unavailable(scenario: &str) -> Row {
    Row {
        scenario: scenario.into(),
        measured: Measured::Unavailable,
        limit: None,
        ratio: None,
        goal: String::new(),
        met: None,
    }
}
