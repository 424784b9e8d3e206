//! `roster-bench`: measures a release `roster serve` against this machine's own limits in
//! one run, and prints one table (see `docs/benchmarks.md`).
//!
//! Every figure is compared with a limit measured in the same run on the same machine
//! (`/healthz` for HTTP requests, raw argon2id for sign-ins), so the ratios mean something
//! on a small, noisy machine where absolute numbers do not.
//!
//! Exit status: 0 when the harness ran, whether or not goals were met; 1 when it could not
//! (the server did not start, a request got an unexpected answer).

mod digests;
mod layout;
mod limits;
mod load;
mod members;
mod report;
mod scale;
mod scenarios;
mod seed;
mod server;

use anyhow::{bail, Context};
use clap::Parser;
use report::{Limit, Report, Row};
use scenarios::Timing;
use server::{Server, StoreSpec};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "roster-bench",
    about = "Benchmarks a release roster binary against this machine's own limits."
)]
struct Args {
    /// Short phases: checks that the harness works (seconds, not minutes); figures are not
    /// meant to be judged.
    #[arg(long)]
    quick: bool,
    /// postgres://… of a fresh, empty database to run on PostgreSQL [default: SQLite in a
    /// temporary directory]
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The roster binary to measure [default: `roster` beside this program]
    #[arg(long, value_name = "FILE")]
    roster_bin: Option<PathBuf>,
    /// Members seeded for the member-list scenarios [default: 1000000; 20000 with --quick]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1000..))]
    members: Option<u32>,
    /// Instead of benchmarking: run the binary under callgrind at start-up and idle, and
    /// write the linker script that groups the code it ran (crates/cli/link/idle.ld);
    /// needs valgrind
    #[arg(long, value_name = "FILE", conflicts_with_all = ["quick", "database_url", "members"])]
    idle_layout: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Progress on stderr, so stdout holds only the table.
fn step(what: &str) {
    eprintln!("roster-bench: {what}");
}

async fn run(args: Args) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        bail!(
            "roster-bench is a debug build; run it in release: {} && cargo run --release -p roster-bench",
            server::BUILD_COMMAND
        );
    }
    let binary = server::locate_binary(args.roster_bin)?;
    if let Some(out) = args.idle_layout {
        return layout::write(&binary, &out).await;
    }
    let timing = Timing::new(args.quick);
    let store = StoreSpec::new(args.database_url)?;
    let started_at = chrono::Utc::now();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mode = if args.quick { "quick" } else { "full" };
    step(&format!(
        "{mode} run on {} with {cores} cores, measuring {}",
        store.backend(),
        binary.display()
    ));

    let mut rows: Vec<Row> = Vec::new();
    step("start-up on a new store (creates the schema)");
    let (first, elapsed) = Server::start(&binary, &store, 1).await?;
    first
        .stop()
        .await
        .context("stopping after the first start")?;
    rows.push(scenarios::startup_row(
        "start-up to /readyz (new store)",
        elapsed,
        None,
    ));

    step("start-up on the empty store");
    let (server, elapsed) = Server::start(&binary, &store, 2).await?;
    rows.push(scenarios::startup_row(
        "start-up to /readyz (empty store)",
        elapsed,
        Some(100.0),
    ));
    tokio::time::sleep(timing.settle).await;
    rows.push(scenarios::memory_row(
        "memory: idle RSS after start-up",
        server.memory().map(|m| m.rss_bytes),
        Some(20.0),
    ));

    let person = match measure_load(&binary, &store, &server, timing).await {
        Ok((load_rows, person)) => {
            rows.extend(load_rows);
            person
        }
        Err(e) => {
            return Err(e.context(format!(
                "during the load scenarios; the server log ends:\n{}\n",
                server.log_tail()
            )))
        }
    };
    let memory = server.memory();
    rows.push(scenarios::memory_row(
        "memory: RSS after the load",
        memory.map(|m| m.rss_bytes),
        None,
    ));
    rows.push(scenarios::memory_row(
        "memory: peak RSS (VmHWM)",
        memory.map(|m| m.peak_bytes),
        None,
    ));
    server.stop().await.context("stopping the server")?;

    match scale::scale_rows(&binary, &store, &person, timing).await {
        Ok(scale_rows) => rows.extend(scale_rows),
        Err(e) => {
            println!("\nroster-bench stopped in the scale scenarios; what it measured before:");
            print!("{}", report::table(&rows));
            return Err(e);
        }
    }

    let members = args
        .members
        .map_or_else(|| members::count(args.quick), |n| n as usize);
    match member_list(&binary, &store, &person, members, timing).await {
        Ok(list_rows) => rows.extend(list_rows),
        Err(e) => {
            // The rows so far took minutes; they are worth keeping even so.
            println!("\nroster-bench stopped in the member list; what it measured before:");
            print!("{}", report::table(&rows));
            return Err(e);
        }
    }

    let report = Report {
        started_at: started_at.to_rfc3339(),
        mode,
        backend: store.backend(),
        cores,
        rows,
    };
    println!(
        "\nroster-bench {mode} run, {}, {cores} cores, {}",
        report.backend,
        started_at.format("%Y-%m-%d %H:%M UTC")
    );
    if args.quick {
        println!("(quick: short phases that check the harness; do not judge goals by them)");
    }
    print!("{}", report::table(&report.rows));
    let stamp = started_at.format("%Y%m%dT%H%M%SZ").to_string();
    let written = report::write_json(&output_dir()?, &stamp, &report)?;
    println!("rows written to {}", written.display());
    Ok(())
}

/// The HTTP scenarios and the argon2id limit, against a seeded server; the seeded admin
/// comes back for the member-list scenarios.
async fn measure_load(
    binary: &Path,
    store: &StoreSpec,
    server: &Server,
    timing: Timing,
) -> anyhow::Result<(Vec<Row>, seed::Person)> {
    let base = &server.base_url;
    let client = load::client()?;
    step("seeding: roster setup, accept the invitation, sign in");
    let person = seed::seed(binary, store, &client, base).await?;
    step("seeding the access model: a customer, a custom role through a group, a host token");
    let access = seed::seed_access(&client, base, &person).await?;

    let healthz = load::Target::get(&format!("{base}/healthz"))?;
    let me = load::Target::get(&format!("{base}/api/v1/me"))?
        .with_header(reqwest::header::COOKIE, &person.session_cookie)?;
    let sign_in = load::Target::post_json(
        &format!("{base}/api/v1/auth/sign-in"),
        &serde_json::json!({ "email": person.email, "password": person.password }),
    )?;

    let check = load::Target::post_json(&format!("{base}/api/v1/orgs/bench/check"), &access.body)?
        .with_header(
            reqwest::header::AUTHORIZATION,
            &format!("Bearer {}", access.token),
        )?;

    // The console's System > Users page, as a signed-in admin's browser asks for it.
    let users_page = load::Target::get(&format!("{base}/orgs/bench/users"))?
        .with_header(reqwest::header::COOKIE, &person.session_cookie)?;

    // Each throughput probe sits between two probes of its limit.
    step(
        "probing GET /healthz, GET /api/v1/me, POST .../check, GET /orgs/bench/users, GET /healthz",
    );
    let healthz_before = scenarios::probe_http(&client, &healthz, timing).await?;
    let me_max = scenarios::probe_http(&client, &me, timing).await?;
    let check_max = scenarios::probe_http(&client, &check, timing).await?;
    let users_page_max = scenarios::probe_http(&client, &users_page, timing).await?;
    let healthz_after = scenarios::probe_http(&client, &healthz, timing).await?;
    let healthz_limit = Limit::bracketing("/healthz", healthz_before, healthz_after);

    step("latency of GET /healthz");
    let healthz_run =
        scenarios::http_latency(&client, &healthz, healthz_limit.per_s, timing).await?;
    step("latency of GET /api/v1/me");
    let me_run = scenarios::http_latency(&client, &me, me_max, timing).await?;
    step("latency of POST .../check");
    let check_run = scenarios::http_latency(&client, &check, check_max, timing).await?;
    step("latency of GET /orgs/bench/users");
    let users_page_run =
        scenarios::http_latency(&client, &users_page, users_page_max, timing).await?;
    step("check evaluation in process");
    let evaluation = scenarios::evaluation_row(timing);

    step("probing argon2id in-process, POST /api/v1/auth/sign-in, argon2id in-process");
    let argon2_before =
        limits::argon2_verifications_per_second(&person.password, timing.warmup, timing.argon2)
            .await?;
    let sign_in_max = scenarios::probe_sign_in(&client, &sign_in, timing).await?;
    let argon2_after =
        limits::argon2_verifications_per_second(&person.password, timing.warmup, timing.argon2)
            .await?;
    let argon2_limit = Limit::bracketing("argon2id", argon2_before, argon2_after);

    step("latency of POST /api/v1/auth/sign-in");
    let sign_in_run =
        scenarios::sign_in_latency(&client, &sign_in, argon2_limit.per_s, timing).await?;

    // Invitations, each to a new address, by the seeded admin's session.
    let invite = load::Target::post_json(
        &format!("{base}/api/v1/orgs/bench/invitations"),
        &serde_json::json!({ "email": "invitee-{n}@bench.example", "roles": ["user"] }),
    )?
    .expecting(reqwest::StatusCode::CREATED)
    .with_header(reqwest::header::COOKIE, &person.session_cookie)?
    .with_header(
        reqwest::header::HeaderName::from_static("x-csrf-token"),
        &person.csrf_token,
    )?;
    step("probing raw insert transactions, POST .../invitations, raw insert transactions");
    let raw = |t: Timing| {
        limits::raw_insert_transactions_per_second(
            store,
            scenarios::HTTP_CONNECTIONS,
            t.warmup,
            t.probe,
        )
    };
    let raw_before = raw(timing).await?;
    let invite_max = scenarios::probe_http(&client, &invite, timing).await?;
    let raw_after = raw(timing).await?;
    let raw_limit = Limit::bracketing("raw insert txn", raw_before, raw_after);
    step("latency of POST .../invitations");
    let invite_run = scenarios::http_latency(&client, &invite, invite_max, timing).await?;
    let digest_members = digests::members(timing.quick);
    step(&format!(
        "digest scheduler in process: {digest_members} members with a daily digest"
    ));
    let digests = digests::digest_row(store, digest_members, raw_limit.clone()).await?;

    let rows = vec![
        scenarios::healthz_row(&healthz_limit, &healthz_run),
        scenarios::me_row(me_max, &me_run, healthz_limit.clone()),
        scenarios::check_row(check_max, &check_run, healthz_limit.clone()),
        scenarios::console_users_row(users_page_max, &users_page_run, healthz_limit),
        evaluation,
        scenarios::sign_in_row(sign_in_max, &sign_in_run, argon2_limit),
        scenarios::invitations_row(invite_max, &invite_run, raw_limit),
        digests,
    ];
    Ok((rows, person))
}

/// The member list at scale, on the same store with the server stopped: N members (and a
/// session for every tenth) seeded with SQL, then a start timed with them, the list's
/// pages measured, every seeded session used once, and the memory read.
async fn member_list(
    binary: &Path,
    store: &StoreSpec,
    person: &seed::Person,
    n: usize,
    timing: Timing,
) -> anyhow::Result<Vec<Row>> {
    let label = members::thousands(n);
    step(&format!(
        "member list: seeding {label} members and {} sessions with SQL, the server stopped",
        members::thousands(n / 10)
    ));
    let seeded = members::seed(store, n)
        .await
        .context("seeding the member list")?;
    step(&format!(
        "  seeded in {:.1} s; start-up with {label} members",
        seeded.took.as_secs_f64()
    ));
    let mut rows = Vec::new();
    let (server, elapsed) = Server::start(binary, store, 3).await?;
    rows.push(scenarios::startup_row(
        &format!("start-up to /readyz ({label} members)"),
        elapsed,
        Some(300.0),
    ));
    let pending = members::wait_for_outbox(store, std::time::Duration::from_secs(120))
        .await
        .context("waiting for the outbox to empty")?;
    step(&format!(
        "  the outbox worker sent the {pending} emails left by the invitation scenario"
    ));
    tokio::time::sleep(timing.settle).await;
    rows.push(scenarios::memory_row(
        &format!("memory: idle RSS, {label} members"),
        server.memory().map(|m| m.rss_bytes),
        None,
    ));
    let client = load::client()?;
    let measured = async {
        let list_rows =
            members::measure(&client, &server.base_url, store, person, &seeded, timing).await?;
        step(&format!(
            "GET /api/v1/me once with each of the {} seeded sessions",
            members::thousands(seeded.session_tokens.len())
        ));
        let took = members::use_sessions(&client, &server.base_url, person, &seeded).await?;
        step(&format!(
            "  {:.1} s ({:.0}/s)",
            took.as_secs_f64(),
            seeded.session_tokens.len() as f64 / took.as_secs_f64()
        ));
        anyhow::Ok(list_rows)
    }
    .await;
    match measured {
        Ok(list_rows) => rows.extend(list_rows),
        Err(e) => {
            return Err(e.context(format!(
                "during the member-list scenarios; the server log ends:\n{}\n",
                server.log_tail()
            )))
        }
    }
    let memory = server.memory();
    rows.push(scenarios::memory_row(
        &format!(
            "memory: RSS, {label} members + {} sessions used",
            members::thousands(seeded.session_tokens.len())
        ),
        memory.map(|m| m.rss_bytes),
        Some(150.0),
    ));
    rows.push(scenarios::memory_row(
        &format!("memory: peak RSS (VmHWM), {label} members"),
        memory.map(|m| m.peak_bytes),
        None,
    ));
    server
        .stop()
        .await
        .context("stopping the server after the member list")?;
    Ok(rows)
}

/// `target/bench/`: beside the profile directory this program was built into, so it
/// follows `CARGO_TARGET_DIR` too.
fn output_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot tell where roster-bench runs from")?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .context("roster-bench is not inside a cargo target directory")?;
    Ok(target.join("bench"))
}
