//! The built `roster` binary, run the way an operator runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn roster(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.current_dir(dir)
        .env_remove("ROSTER_DATABASE_URL")
        .env_remove("ROSTER_DATA_DIR")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_MAIL")
        .env_remove("ROSTER_PUBLIC_URL")
        .env_remove("ROSTER_LISTEN")
        .env_remove("ROSTER_DATABASE_URL_FILE")
        .env_remove("ROSTER_MAIL_FROM")
        .env_remove("ROSTER_LOG_FORMAT");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    roster(dir).args(args).output().unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn setup_refuses_bad_input_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--org-name",
                "Acme",
                "--org-kind",
                "customer",
                "--admin-email",
                "a@acme.example",
            ],
            "--org-kind",
        ),
        (
            &[
                "--org-name",
                "Acme",
                "--org-kind",
                "vendor",
                "--admin-email",
                "not-an-email",
            ],
            "--admin-email",
        ),
        (
            &[
                "--org-name",
                "  ",
                "--org-kind",
                "vendor",
                "--admin-email",
                "a@acme.example",
            ],
            "--org-name",
        ),
        (
            &[
                "--org-name",
                "Acme",
                "--org-kind",
                "vendor",
                "--admin-email",
                "a@acme.example",
                "--org-slug",
                "Bad Slug",
            ],
            "--org-slug",
        ),
    ];
    for (args, names) in cases {
        let out = run(dir.path(), &[&["setup"], args].concat());
        assert!(!out.status.success(), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains(names), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(
            !dir.path().join("roster-data").exists(),
            "{args:?} wrote something"
        );
    }
    let out = run(dir.path(), &["setup", "--org-name", "Acme"]);
    assert!(!out.status.success(), "missing flags");
    assert!(!dir.path().join("roster-data").exists());
}

#[test]
fn bad_configuration_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--listen", "nowhere", "serve"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );
    let out = roster(dir.path())
        .env("ROSTER_PUBLIC_URL", "ftp://x")
        .args(["org", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("public_url"));
    std::fs::write(dir.path().join("roster.toml"), "mail = \"pigeon\"\n").unwrap();
    let out = run(dir.path(), &["org", "list"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("mail"));
    assert!(!dir.path().join("roster-data").exists());
    let example = run(dir.path(), &["config", "example"]);
    assert!(example.status.success());
    assert!(text(&example.stdout).contains("# public_url"));
}

#[test]
fn setup_then_operator_commands_share_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--public-url",
        "https://accounts.example.com",
        "setup",
        "--org-name",
        "Acme Supplies",
        "--org-kind",
        "vendor",
        "--admin-email",
        "admin@acme.example",
    ];
    let out = run(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let link = stdout
        .lines()
        .find(|l| l.starts_with("https://"))
        .expect("the link");
    assert!(
        link.starts_with("https://accounts.example.com/invitations/inv_"),
        "{stdout}"
    );
    assert!(dir.path().join("roster-data/roster.db").exists());

    let again = run(dir.path(), &args);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already"),
        "{}",
        text(&again.stderr)
    );

    let orgs = text(&run(dir.path(), &["org", "list"]).stdout);
    assert!(
        orgs.contains("acme-supplies\tvendor\tAcme Supplies"),
        "{orgs}"
    );
    let members = text(&run(dir.path(), &["member", "list", "--org", "acme-supplies"]).stdout);
    assert!(
        members.contains("admin@acme.example\tinvited\tadmin"),
        "{members}"
    );
    let mail = text(&run(dir.path(), &["mail", "list"]).stdout);
    assert!(
        mail.contains("pending") && mail.contains("invitation"),
        "{mail}"
    );
    let token = run(dir.path(), &["token", "create", "--operator"]);
    assert!(token.status.success());
    assert!(text(&token.stdout).trim().starts_with("roster_op_"));
    let created = run(
        dir.path(),
        &["org", "create", "--name", "Globex", "--kind", "company"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let dup = run(
        dir.path(),
        &["org", "create", "--name", "Globex", "--kind", "company"],
    );
    assert!(text(&dup.stderr).contains("taken"));
}

/// `roster serve` with only a free port chosen: creates the SQLite file in ./roster-data,
/// logs the URL, delivers mail to files, and stops cleanly on SIGTERM.
#[test]
fn serve_starts_delivers_mail_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "setup",
            "--org-name",
            "Acme",
            "--org-kind",
            "company",
            "--admin-email",
            "admin@acme.example",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let served = start_serve(dir.path(), &[]);
    assert!(http_get(&served.addr, "/readyz", None).contains("\"status\":\"ready\""));
    // The worker delivers the queued invitation to ./roster-data/mail.
    let mail_dir = dir.path().join("roster-data/mail");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no mail delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (exit, log) = stop(served);
    assert!(exit.success(), "{exit:?}");
    assert!(
        log.iter().any(|l| l.contains("outbox worker stopped")),
        "{log:?}"
    );
    assert!(log.last().is_some_and(|l| l.contains("stopped")), "{log:?}");
    let id = std::fs::read_dir(&mail_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let id = id.file_stem().unwrap().to_str().unwrap().to_owned();
    let shown = text(&run(dir.path(), &["mail", "show", &id]).stdout);
    assert!(shown.contains("Subject: Join the Acme team"), "{shown}");
}

/// Secrets such as a database URL with a password can come from a file (`*_FILE`).
#[test]
fn the_database_url_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere.db");
    let secret = dir.path().join("database-url");
    std::fs::write(&secret, format!("sqlite:{}\n", db.display())).unwrap();
    let out = roster(dir.path())
        .env("ROSTER_DATABASE_URL_FILE", &secret)
        .args(["org", "create", "--name", "Acme", "--kind", "vendor"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(db.exists(), "the URL from the file was used");
    assert!(!dir.path().join("roster-data/roster.db").exists());
    let out = roster(dir.path())
        .env("ROSTER_DATABASE_URL_FILE", dir.path().join("missing"))
        .args(["org", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("ROSTER_DATABASE_URL_FILE"));
}

/// A running `roster serve` and its log.
struct Served {
    child: std::process::Child,
    addr: String,
    log: std::thread::JoinHandle<Vec<String>>,
}

/// Starts `roster serve` on a free port and returns once it listens.
fn start_serve(dir: &Path, envs: &[(&str, &str)]) -> Served {
    let mut cmd = roster(dir);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args([
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "http://roster.test",
            "serve",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = vec![];
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        let found = line.find("Roster listening on http://").map(|i| {
            line[i + "Roster listening on http://".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        });
        seen.push(line);
        if let Some(addr) = found {
            break addr;
        }
    };
    // Keep reading the log so the server never blocks on a full pipe.
    let log = std::thread::spawn(move || {
        seen.extend(lines.map_while(Result::ok));
        seen
    });
    Served { child, addr, log }
}

/// Sends SIGTERM and waits for the exit; returns the status and the whole log.
fn stop(mut served: Served) -> (std::process::ExitStatus, Vec<String>) {
    let pid = served.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = served.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    (exit, served.log.join().unwrap())
}

fn http_get(addr: &str, path: &str, bearer: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// Several instances share one PostgreSQL database: both migrate at start without tripping
/// over each other, and what one command writes every instance serves.
#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_postgres_database() {
    let Some((store, database)) = roster_store_postgres::testing::fresh_database().await else {
        return;
    };
    // Start from an empty, unmigrated database so both instances race to migrate it.
    sqlx_reset(&store).await;
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let envs = [("ROSTER_DATABASE_URL", url.as_str())];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start_serve(dir.path(), &envs));
        let b = s.spawn(|| start_serve(dir.path(), &envs));
        (a.join().unwrap(), b.join().unwrap())
    });
    for addr in [&a.addr, &b.addr] {
        assert!(http_get(addr, "/readyz", None).contains("\"backend\":\"postgres\""));
    }
    let token = roster(dir.path())
        .env("ROSTER_DATABASE_URL", &url)
        .args(["token", "create", "--operator"])
        .output()
        .unwrap();
    let token = text(&token.stdout).trim().to_owned();
    let created = roster(dir.path())
        .env("ROSTER_DATABASE_URL", &url)
        .args(["org", "create", "--name", "Shared", "--kind", "company"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    for addr in [&a.addr, &b.addr] {
        let body = http_get(addr, "/api/v1/orgs/shared", Some(&token));
        assert!(body.contains("\"slug\":\"shared\""), "{body}");
    }
    for served in [a, b] {
        assert!(stop(served).0.success());
    }
    store.pool().close().await;
    drop(database);
}

/// Drops everything the harness migrated, leaving an empty database.
async fn sqlx_reset(store: &roster_store_postgres::PostgresStore) {
    use sqlx::Executor;
    store
        .pool()
        .execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .await
        .unwrap();
}

/// Puts a message in the outbox of the SQLite file under `dir` and fails it for good, as
/// the worker would after its last attempt.
async fn failed_message(dir: &Path, notice: roster_core::model::Notice) -> String {
    use roster_core::model::OutboxMessage;
    let store = roster_store_sqlite::SqliteStore::open(&dir.join("roster-data/roster.db"))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let scrub = notice.holds_live_token();
    let m = OutboxMessage::new(
        None,
        roster_core::email::Email::parse("ada@example.com").unwrap(),
        notice,
        now - chrono::Duration::hours(1),
    );
    let mut tx = roster_core::store::Store::begin(&store).await.unwrap();
    tx.enqueue_outbox(&m).await.unwrap();
    let lease = now + chrono::Duration::minutes(5);
    let claimed = tx.claim_outbox(now, lease, 100).await.unwrap();
    assert!(claimed.iter().any(|c| c.id == m.id));
    for c in claimed.into_iter().filter(|c| c.id == m.id) {
        assert!(tx
            .outbox_failed(c.id, lease, "535 authentication failed", None, scrub)
            .await
            .unwrap());
    }
    tx.commit().await.unwrap();
    roster_core::store::Store::close(&store).await;
    m.id.to_string()
}

#[tokio::test]
async fn mail_retry_sends_failed_messages_again_but_never_a_dead_link() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &["migrate"]).status.success());
    let granted = failed_message(
        dir.path(),
        roster_core::model::Notice::AccessGranted {
            org_name: "Acme".into(),
            inviter_name: None,
            link: "https://roster.test/sign-in".into(),
        },
    )
    .await;
    let failed = text(&run(dir.path(), &["mail", "list", "--status", "failed"]).stdout);
    assert!(
        failed.contains(&granted) && failed.contains("535 authentication failed"),
        "{failed}"
    );

    let out = run(dir.path(), &["mail", "retry", &granted]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pending again"));
    let pending = text(&run(dir.path(), &["mail", "list", "--status", "pending"]).stdout);
    assert!(pending.contains(&granted), "{pending}");
    // Pending now: a second retry is refused and says why.
    let again = run(dir.path(), &["mail", "retry", &granted]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("only failed messages can be retried"),
        "{}",
        text(&again.stderr)
    );

    // A reset link that died is gone with its content: the person gets a new one instead.
    let reset = failed_message(
        dir.path(),
        roster_core::model::Notice::PasswordReset {
            org_name: None,
            link: "https://roster.test/reset-password#rst_secret".into(),
            expires_at: chrono::Utc::now(),
        },
    )
    .await;
    let refused = run(dir.path(), &["mail", "retry", &reset]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("single-use link"),
        "{}",
        text(&refused.stderr)
    );
    let unknown = run(
        dir.path(),
        &["mail", "retry", "0190a0a0-0000-7000-8000-000000000000"],
    );
    assert!(text(&unknown.stderr).contains("no message"));
    let garbage = run(dir.path(), &["mail", "retry", "../etc"]);
    assert!(text(&garbage.stderr).contains("not a message id"));
}

/// `build.rs` links the code `roster serve` runs at start-up and idle into one section,
/// `.text.idle`, from the list in `link/idle.ld`: the binary has that section, and the
/// start-up's own entry point, `roster::main`, is in it (read with binutils' `readelf` and
/// `nm`, which come with the C compiler that builds SQLite). Skipped only when the build
/// left the script out on purpose (`ROSTER_IDLE_LAYOUT=0`, or mold or gold as linker).
#[cfg(target_os = "linux")]
#[test]
fn start_up_code_is_linked_in_one_place() {
    if let Some(why) = option_env!("ROSTER_IDLE_LAYOUT_SKIPPED") {
        eprintln!("skipped: the binary was linked without link/idle.ld ({why})");
        return;
    }
    let binary = env!("CARGO_BIN_EXE_roster");
    let sections = text(
        &Command::new("readelf")
            .args(["-SW", binary])
            .output()
            .unwrap()
            .stdout,
    );
    let idle = sections
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(']').nth(1)?.split_whitespace().collect();
            (fields.first() == Some(&".text.idle")).then(|| {
                let start = u64::from_str_radix(fields[2], 16).unwrap();
                let size = u64::from_str_radix(fields[4], 16).unwrap();
                start..start + size
            })
        })
        .expect("the binary has no .text.idle section");
    assert!(
        idle.end - idle.start > 1 << 20,
        "{idle:x?} holds under 1 MB"
    );
    let symbols = text(&Command::new("nm").arg(binary).output().unwrap().stdout);
    let main = symbols
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?;
            let name = fields.nth(1)?;
            // `roster::main`: legacy (`_ZN6roster4main17h` + 16 hex digits + `E`) or v0
            // (`_RNvCs` + the crate's disambiguator + `_6roster4main`).
            let legacy = name
                .strip_prefix("_ZN6roster4main17h")
                .is_some_and(|hash| hash.len() == 17 && hash.ends_with('E'));
            let v0 = name.starts_with("_RNvCs") && name.ends_with("_6roster4main");
            (legacy || v0).then(|| u64::from_str_radix(address, 16).unwrap())
        })
        .expect("no roster::main in the symbol table");
    assert!(
        idle.contains(&main),
        "roster::main at {main:x} is outside {idle:x?}"
    );
}
