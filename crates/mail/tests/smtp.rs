//! The SMTP transport against a real SMTP server: `tests/smtp_server.py` (aiosmtpd), started
//! as a child process for each test. Nothing is mocked: Roster's outbox worker delivers over
//! TCP (plain, STARTTLS or implicit TLS, with or without AUTH), and the server writes what it
//! received, with the envelope and the session's TLS and AUTH facts, to a directory the test
//! reads.
//!
//! The Python interpreter is `ROSTER_TEST_PYTHON` (a relative path is taken from the crate or
//! the workspace root), else `python3`; it needs aiosmtpd and trustme
//! (`pip install -r .ci/requirements-test.txt`). Without them the tests skip loudly, or fail
//! when `ROSTER_REQUIRE_SMTP=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use roster_core::clock::{Clock, ManualClock};
use roster_core::email::Email;
use roster_core::ids::OutboxId;
use roster_core::model::{Notice, OutboxMessage, OutboxStatus};
use roster_core::store::Store;
use roster_mail::render::message_id;
use roster_mail::worker::Pass;
use roster_mail::{MailSpec, MessageSettings, OutboxWorker, Transport, WorkerSettings};
use roster_store_sqlite::SqliteStore;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Instant;

// ---------------------------------------------------------------------------------------
// The Python interpreter

/// The interpreter that can run the server, or why none can.
fn find_python() -> Result<PathBuf, String> {
    let program = match std::env::var_os("ROSTER_TEST_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => resolve(PathBuf::from(p)),
        None => PathBuf::from("python3"),
    };
    match Command::new(&program)
        .args(["-c", "import aiosmtpd, trustme"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => Ok(program),
        Ok(out) => Err(format!(
            "{} cannot import aiosmtpd and trustme: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Err(e) => Err(format!("cannot run {}: {e}", program.display())),
    }
}

/// A relative path with a directory part is looked up from the test's working directory (the
/// crate) and then from the workspace root, where `cargo test` is usually typed. Symlinks are
/// kept: a virtualenv's `bin/python` must stay inside the virtualenv.
fn resolve(path: PathBuf) -> PathBuf {
    if path.is_absolute() || path.components().count() == 1 {
        return path;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        std::env::current_dir().unwrap_or_else(|_| crate_dir.to_owned()),
        crate_dir.join("../.."),
    ]
    .into_iter()
    .map(|base| base.join(&path))
    .find(|p| p.exists())
    .unwrap_or(path)
}

/// The interpreter, or `None` (said loudly) when the test is to be skipped.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(p) => Some(p.clone()),
        Err(problem) => {
            if std::env::var("ROSTER_REQUIRE_SMTP").as_deref() == Ok("1") {
                panic!(
                    "the SMTP tests are required (ROSTER_REQUIRE_SMTP=1) but {problem}; \
                     set ROSTER_TEST_PYTHON to a Python with .ci/requirements-test.txt installed"
                );
            }
            // Straight to stderr: the harness captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "!!! skipping: {problem}: SMTP test SKIPPED; set ROSTER_TEST_PYTHON to a Python \
                 with .ci/requirements-test.txt installed, and ROSTER_REQUIRE_SMTP=1 to make \
                 this fatal"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------
// The SMTP server

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerTls {
    None,
    /// Offers STARTTLS; `required` refuses mail before it.
    StartTls {
        required: bool,
    },
    /// TLS from the first byte.
    Implicit,
}

#[derive(Clone, Debug)]
struct ServerOptions {
    host: &'static str,
    tls: ServerTls,
    /// A user and password the server accepts.
    auth: Option<(&'static str, &'static str)>,
    require_auth: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1",
            tls: ServerTls::None,
            auth: None,
            require_auth: false,
        }
    }
}

/// A running `smtp_server.py`; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    /// The throwaway CA its certificate is signed by (with TLS).
    ca: Option<PathBuf>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// A port nothing listens on right now.
fn free_port(host: &str) -> u16 {
    std::net::TcpListener::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SmtpServer {
    /// Starts a server on a free port, writing what it receives to `maildir`.
    fn start(python: &Path, dir: &Path, maildir: &Path, options: &ServerOptions) -> Self {
        // Another process may take the port between our probe and the server's bind.
        let mut problems = Vec::new();
        for _ in 0..3 {
            match Self::start_on(python, dir, maildir, free_port(options.host), options) {
                Ok(server) => return server,
                Err(problem) => problems.push(problem),
            }
        }
        panic!("the SMTP server did not start:\n{}", problems.join("\n"));
    }

    /// Starts a server on `port`.
    fn start_on(
        python: &Path,
        dir: &Path,
        maildir: &Path,
        port: u16,
        options: &ServerOptions,
    ) -> Result<Self, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let log = dir.join(format!("smtp-server-{port}.log"));
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .args(["--host", options.host, "--port", &port.to_string()])
            .arg("--maildir")
            .arg(maildir);
        let ca = match options.tls {
            ServerTls::None => None,
            ServerTls::StartTls { .. } | ServerTls::Implicit => {
                Some(dir.join(format!("ca-{port}.pem")))
            }
        };
        match options.tls {
            ServerTls::None => {}
            ServerTls::StartTls { required } => {
                cmd.args(["--tls", "starttls"]);
                if required {
                    cmd.arg("--require-starttls");
                }
            }
            ServerTls::Implicit => {
                cmd.args(["--tls", "implicit"]);
            }
        }
        if let Some(ca) = &ca {
            cmd.arg("--ca-out").arg(ca);
        }
        if let Some((user, password)) = options.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        if options.require_auth {
            cmd.arg("--require-auth");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let stdout = child.stdout.take().unwrap();
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let server = SmtpServer { child, port, ca };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match ready.recv_timeout(left) {
                Ok(line) if line.starts_with("READY") => return Ok(server),
                Ok(_) => continue,
                // Dropping `server` kills the process.
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "not READY on port {port} within {READY_TIMEOUT:?}; its log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "exited before READY on port {port}; its log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    ))
                }
            }
        }
    }

    fn ca(&self) -> &Path {
        self.ca.as_deref().expect("a server with TLS")
    }
}

/// One message the server accepted.
#[derive(Debug)]
struct Received {
    /// The message as it arrived.
    eml: String,
    /// Envelope and session facts: `mail_from`, `rcpt_tos`, `helo`, `tls`, `starttls`,
    /// `tls_version`, `authenticated`, `auth_user`.
    session: serde_json::Value,
}

impl Received {
    /// The header's value, unfolded; `None` when the message lacks it.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.eml.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        let mut found = false;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if found {
                    if let Some(v) = value.as_mut() {
                        v.push(' ');
                        v.push_str(line.trim());
                    }
                }
                continue;
            }
            if found {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    found = true;
                    value = Some(v.trim().to_owned());
                }
            }
        }
        value
    }

    fn flag(&self, name: &str) -> bool {
        self.session[name]
            .as_bool()
            .unwrap_or_else(|| panic!("the server did not record '{name}': {}", self.session))
    }
}

/// What the server wrote to `maildir`, in arrival order.
fn received(maildir: &Path) -> Vec<Received> {
    let Ok(entries) = std::fs::read_dir(maildir) else {
        return Vec::new();
    };
    let mut numbers: Vec<u64> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".eml")?.parse().ok())
        .collect();
    numbers.sort_unstable();
    numbers
        .into_iter()
        .map(|n| Received {
            eml: std::fs::read_to_string(maildir.join(format!("{n}.eml"))).unwrap(),
            session: serde_json::from_str(
                &std::fs::read_to_string(maildir.join(format!("{n}.json"))).unwrap(),
            )
            .unwrap(),
        })
        .collect()
}

/// Waits (bounded) until the server has written `count` messages, then returns them all. The
/// server writes before it answers 250, so once a send was recorded this returns at once; the
/// wait only guards against a slow file system.
fn wait_for(maildir: &Path, count: usize) -> Vec<Received> {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = received(maildir);
        if got.len() >= count || Instant::now() >= deadline {
            return got;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Roster's side

fn settings() -> MessageSettings {
    MessageSettings {
        from: "Roster <roster@roster.test>".parse().unwrap(),
        message_id_domain: "roster.test".into(),
    }
}

const LINK: &str = "https://roster.test/sign-in";

async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    let s = SqliteStore::open(&dir.join("roster.db")).await.unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

async fn enqueue(store: &dyn Store, clock: &ManualClock, to: &str) -> OutboxMessage {
    let m = OutboxMessage::new(
        None,
        Email::parse(to).unwrap(),
        Notice::AccessGranted {
            org_name: "Acme".into(),
            inviter_name: None,
            link: LINK.into(),
        },
        clock.now(),
    );
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_outbox(&m).await.unwrap();
    tx.commit().await.unwrap();
    m
}

async fn row(store: &dyn Store, id: OutboxId) -> OutboxMessage {
    store
        .reads()
        .await
        .unwrap()
        .outbox_message(id)
        .await
        .unwrap()
        .unwrap()
}

fn transport(url: &str) -> Transport {
    let spec = MailSpec::parse(url).unwrap();
    assert!(matches!(spec, MailSpec::Smtp(_)), "{url}: {spec:?}");
    Transport::from_spec(&spec, "roster.test").unwrap()
}

fn worker(
    store: &Arc<dyn Store>,
    clock: &ManualClock,
    url: &str,
    settings: WorkerSettings,
) -> OutboxWorker {
    OutboxWorker::new(
        store.clone(),
        Arc::new(clock.clone()),
        transport(url),
        self::settings(),
        settings,
    )
}

fn ca_option(ca: &Path) -> String {
    let ca = ca.to_str().expect("a UTF-8 temporary path");
    // Only characters that need no escaping in a query value (temporary paths have none).
    assert!(
        !ca.contains(['&', '#', '%', '+', '?', ' ']),
        "unexpected character in {ca}"
    );
    format!("ca_file={ca}")
}

const SENT_ONE: Pass = Pass {
    sent: 1,
    retried: 0,
    failed: 0,
};
const RETRIED_ONE: Pass = Pass {
    sent: 0,
    retried: 1,
    failed: 0,
};

/// The message arrived whole, from Roster, to its recipient, under its stable Message-ID.
fn assert_is(got: &Received, m: &OutboxMessage) {
    assert_eq!(
        got.header("Message-ID"),
        Some(message_id(m, &settings())),
        "{}",
        got.eml
    );
    assert_eq!(got.session["mail_from"], "roster@roster.test");
    assert_eq!(
        got.session["rcpt_tos"],
        serde_json::json!([m.recipient.as_str()])
    );
    assert_eq!(
        got.session["helo"], "roster.test",
        "EHLO names the public host"
    );
    assert!(got.eml.contains(LINK), "{}", got.eml);
}

// ---------------------------------------------------------------------------------------
// Plain SMTP

#[tokio::test]
async fn plain_smtp_delivers_a_multipart_message_exactly_once() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(&python, dir.path(), &maildir, &ServerOptions::default());
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!("smtp://127.0.0.1:{}?timeout=5", server.port),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert_is(got, &m);
    assert!(!got.flag("tls"), "the server offers no STARTTLS");
    assert!(!got.flag("authenticated"));
    assert_eq!(got.header("To").as_deref(), Some("ada@example.com"));
    assert_eq!(
        got.header("From").as_deref(),
        Some("Roster <roster@roster.test>")
    );
    assert_eq!(
        got.header("Subject").as_deref(),
        Some("You now have access to Acme")
    );
    assert_eq!(got.header("MIME-Version").as_deref(), Some("1.0"));
    let date = got.header("Date").expect("a Date header");
    chrono::DateTime::parse_from_rfc2822(&date).unwrap_or_else(|e| panic!("Date {date}: {e}"));
    let content_type = got.header("Content-Type").unwrap_or_default();
    assert!(
        content_type.starts_with("multipart/alternative"),
        "{content_type}"
    );
    assert!(
        got.eml.contains("Content-Type: text/plain; charset=utf-8"),
        "{}",
        got.eml
    );
    assert!(
        got.eml.contains("Content-Type: text/html; charset=utf-8"),
        "{}",
        got.eml
    );

    let row = row(&*store, m.id).await;
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.last_error, None);
    assert!(row.sent_at.is_some());

    // Nothing more to send, now or later.
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    clock.advance(Duration::hours(1));
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    assert_eq!(received(&maildir).len(), 1, "delivered exactly once");
}

// ---------------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn starttls_required_delivers_over_tls_to_a_server_with_a_private_ca() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(
        &python,
        dir.path(),
        &maildir,
        &ServerOptions {
            // The server refuses mail before STARTTLS, too.
            tls: ServerTls::StartTls { required: true },
            ..ServerOptions::default()
        },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtp://localhost:{}?tls=required&timeout=5&{}",
            server.port,
            ca_option(server.ca())
        ),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    assert!(got[0].flag("tls"), "{}", got[0].session);
    assert!(got[0].flag("starttls"), "{}", got[0].session);
    assert_eq!(row(&*store, m.id).await.status, OutboxStatus::Sent);
}

#[tokio::test]
async fn plain_smtp_url_upgrades_with_starttls_when_the_server_offers_it() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(
        &python,
        dir.path(),
        &maildir,
        &ServerOptions {
            tls: ServerTls::StartTls { required: false },
            ..ServerOptions::default()
        },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    // No tls=required: STARTTLS because it is offered (the IP is in the certificate too).
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtp://127.0.0.1:{}?timeout=5&{}",
            server.port,
            ca_option(server.ca())
        ),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    assert!(got[0].flag("starttls"), "{}", got[0].session);
    assert_eq!(row(&*store, m.id).await.status, OutboxStatus::Sent);
}

/// Delivery that must not happen: one attempt, retried, the reason recorded, nothing at the
/// server, the content kept for the next attempt.
async fn assert_refused(
    worker: &OutboxWorker,
    store: &dyn Store,
    m: &OutboxMessage,
    maildir: &Path,
) -> String {
    assert_eq!(worker.run_once().await.unwrap(), RETRIED_ONE);
    let row = row(store, m.id).await;
    assert_eq!(row.status, OutboxStatus::Pending);
    assert_eq!(row.attempts, 1);
    assert!(row.notice.is_some(), "kept for the retry");
    assert!(received(maildir).is_empty(), "{:?}", received(maildir));
    row.last_error.expect("the reason is recorded")
}

#[tokio::test]
async fn starttls_required_refuses_a_server_that_does_not_offer_it() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(&python, dir.path(), &maildir, &ServerOptions::default());
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!("smtp://127.0.0.1:{}?tls=required&timeout=5", server.port),
        WorkerSettings::default(),
    );

    let error = assert_refused(&worker, &*store, &m, &maildir).await;
    assert!(
        error.contains(&format!("127.0.0.1:{}", server.port)) && error.contains("STARTTLS"),
        "{error}"
    );
    let wait = row(&*store, m.id).await.next_attempt_at - clock.now();
    assert!(
        wait >= Duration::seconds(30) && wait <= Duration::seconds(36),
        "{wait}"
    );
    // Still refused when it comes due again.
    clock.advance(wait);
    assert_eq!(worker.run_once().await.unwrap(), RETRIED_ONE);
    assert!(received(&maildir).is_empty());
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(
        &python,
        dir.path(),
        &maildir,
        &ServerOptions {
            tls: ServerTls::StartTls { required: false },
            ..ServerOptions::default()
        },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();

    // No ca_file: the server's CA is not trusted, with STARTTLS required or merely offered
    // (no falling back to plain text after a failed handshake).
    for url in [
        format!("smtp://localhost:{}?tls=required&timeout=5", server.port),
        format!("smtp://localhost:{}?timeout=5", server.port),
    ] {
        // A message of its own (the earlier one waits for its backoff).
        let m = enqueue(&*store, &clock, "ada@example.com").await;
        let worker = worker(&store, &clock, &url, WorkerSettings::default());
        let error = assert_refused(&worker, &*store, &m, &maildir).await;
        assert!(
            error.to_lowercase().contains("certificate"),
            "{url}: {error}"
        );
    }
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    // A loopback address the certificate (localhost, 127.0.0.1) does not name.
    let server = SmtpServer::start(
        &python,
        dir.path(),
        &maildir,
        &ServerOptions {
            host: "127.0.0.2",
            tls: ServerTls::StartTls { required: true },
            ..ServerOptions::default()
        },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtp://127.0.0.2:{}?tls=required&timeout=5&{}",
            server.port,
            ca_option(server.ca())
        ),
        WorkerSettings::default(),
    );
    let error = assert_refused(&worker, &*store, &m, &maildir).await;
    assert!(error.to_lowercase().contains("certificate"), "{error}");
}

#[tokio::test]
async fn smtps_delivers_inside_tls_from_the_first_byte() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(
        &python,
        dir.path(),
        &maildir,
        &ServerOptions {
            tls: ServerTls::Implicit,
            ..ServerOptions::default()
        },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtps://localhost:{}?timeout=5&{}",
            server.port,
            ca_option(server.ca())
        ),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    assert!(got[0].flag("tls"), "{}", got[0].session);
    assert!(!got[0].flag("starttls"), "implicit, not upgraded");
    assert_eq!(row(&*store, m.id).await.status, OutboxStatus::Sent);
}

// ---------------------------------------------------------------------------------------
// AUTH

const USER: &str = "roster-relay";
const PASSWORD: &str = "Corr3ct-h0rse-battery";

fn auth_server(python: &Path, dir: &Path, maildir: &Path, tls: ServerTls) -> SmtpServer {
    SmtpServer::start(
        python,
        dir,
        maildir,
        &ServerOptions {
            tls,
            auth: Some((USER, PASSWORD)),
            require_auth: true,
            ..ServerOptions::default()
        },
    )
}

/// Every AUTH attempt the server saw: `user`, `mechanism`, `tls`, `success`.
fn auth_attempts(maildir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(maildir.join("auth.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Exactly `count` attempts, each as `USER` inside TLS, accepted or not.
fn assert_auth_attempts(maildir: &Path, count: usize, success: bool) {
    let attempts = auth_attempts(maildir);
    assert_eq!(attempts.len(), count, "{attempts:?}");
    for a in &attempts {
        assert_eq!(a["user"], USER, "{a}");
        assert_eq!(a["tls"], true, "credentials only inside TLS: {a}");
        assert_eq!(a["success"], success, "{a}");
    }
}

#[tokio::test]
async fn auth_with_the_right_password_delivers_over_starttls() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = auth_server(
        &python,
        dir.path(),
        &maildir,
        ServerTls::StartTls { required: true },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtp://{USER}:{PASSWORD}@localhost:{}?tls=required&timeout=5&{}",
            server.port,
            ca_option(server.ca())
        ),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    assert!(got[0].flag("tls"), "{}", got[0].session);
    assert!(got[0].flag("authenticated"), "{}", got[0].session);
    assert_eq!(got[0].session["auth_user"], USER);
    assert_auth_attempts(&maildir, 1, true);
    assert_eq!(row(&*store, m.id).await.status, OutboxStatus::Sent);
}

#[tokio::test]
async fn a_password_from_a_file_authenticates_inside_the_starttls_the_server_offers() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    // STARTTLS offered, not demanded: Roster upgrades on its own because it has credentials.
    let server = auth_server(
        &python,
        dir.path(),
        &maildir,
        ServerTls::StartTls { required: false },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    // The user in the URL, the password given apart (as from ROSTER_MAIL_PASSWORD_FILE).
    let spec = MailSpec::parse(&format!(
        "smtp://{USER}@localhost:{}?timeout=5&{}",
        server.port,
        ca_option(server.ca())
    ))
    .unwrap()
    .with_password(roster_core::secrets::Secret::presented(PASSWORD))
    .unwrap();
    let worker = OutboxWorker::new(
        store.clone(),
        Arc::new(clock.clone()),
        Transport::from_spec(&spec, "roster.test").unwrap(),
        settings(),
        WorkerSettings::default(),
    );

    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    assert!(got[0].flag("starttls"), "{}", got[0].session);
    assert!(got[0].flag("authenticated"), "{}", got[0].session);
    assert_eq!(got[0].session["auth_user"], USER);
    assert_auth_attempts(&maildir, 1, true);
    assert_eq!(row(&*store, m.id).await.status, OutboxStatus::Sent);
}

#[tokio::test]
async fn credentials_are_never_sent_to_a_server_without_starttls() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    // It offers AUTH over plain text, and no STARTTLS.
    let server = auth_server(&python, dir.path(), &maildir, ServerTls::None);
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    // No tls=required in the URL: a user is enough to require it.
    let worker = worker(
        &store,
        &clock,
        &format!(
            "smtp://{USER}:{PASSWORD}@127.0.0.1:{}?timeout=5",
            server.port
        ),
        WorkerSettings::default(),
    );

    let error = assert_refused(&worker, &*store, &m, &maildir).await;
    assert!(error.contains("STARTTLS"), "{error}");
    assert!(!error.contains(PASSWORD), "{error}");
    assert_auth_attempts(&maildir, 0, false);
}

#[tokio::test]
async fn a_wrong_password_is_retried_with_backoff_then_fails_without_showing_it() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = auth_server(
        &python,
        dir.path(),
        &maildir,
        ServerTls::StartTls { required: false },
    );
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let wrong = "Wr0ng-staple-s3cret";
    let url = format!(
        "smtp://{USER}:{wrong}@localhost:{}?timeout=5&{}",
        server.port,
        ca_option(server.ca())
    );
    let worker = worker(
        &store,
        &clock,
        &url,
        WorkerSettings {
            max_attempts: 3,
            ..WorkerSettings::default()
        },
    );
    let shows_no_password = |error: &str| {
        assert!(!error.contains(wrong), "the password leaked: {error}");
        assert!(!error.contains(PASSWORD), "{error}");
    };

    // Attempt 1: refused by the server, retried after the first backoff.
    let error = assert_refused(&worker, &*store, &m, &maildir).await;
    assert!(error.contains("535"), "the server's reply: {error}");
    shows_no_password(&error);
    assert_auth_attempts(&maildir, 1, false);
    let first_wait = row(&*store, m.id).await.next_attempt_at - clock.now();
    assert!(
        first_wait >= Duration::seconds(30) && first_wait <= Duration::seconds(36),
        "{first_wait}"
    );
    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass::default(),
        "not due yet"
    );

    // Attempt 2: the backoff doubles.
    clock.advance(first_wait);
    assert_eq!(worker.run_once().await.unwrap(), RETRIED_ONE);
    let r = row(&*store, m.id).await;
    assert_eq!((r.status, r.attempts), (OutboxStatus::Pending, 2));
    let second_wait = r.next_attempt_at - clock.now();
    assert!(
        second_wait >= Duration::seconds(60) && second_wait <= Duration::seconds(72),
        "{second_wait}"
    );

    // Attempt 3 of 3: failed for good, with the server's reply and without the password.
    clock.advance(second_wait);
    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass {
            sent: 0,
            retried: 0,
            failed: 1
        }
    );
    let r = row(&*store, m.id).await;
    assert_eq!((r.status, r.attempts), (OutboxStatus::Failed, 3));
    let error = r.last_error.expect("the reason is recorded");
    assert!(error.contains("535"), "{error}");
    shows_no_password(&error);
    clock.advance(Duration::hours(2));
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    assert!(received(&maildir).is_empty());
    assert_auth_attempts(&maildir, 3, false);
    // Neither does the transport show it.
    shows_no_password(&format!("{:?}", transport(&url)));
}

// ---------------------------------------------------------------------------------------
// A server that is down

#[tokio::test]
async fn a_message_waits_for_a_server_that_is_down_and_is_then_delivered_once() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let port = free_port("127.0.0.1");
    let worker = worker(
        &store,
        &clock,
        &format!("smtp://127.0.0.1:{port}?timeout=5"),
        WorkerSettings::default(),
    );

    // Nothing listens: kept, with the reason.
    let error = assert_refused(&worker, &*store, &m, &maildir).await;
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");

    let _server = SmtpServer::start_on(
        &python,
        dir.path(),
        &maildir,
        port,
        &ServerOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        worker.run_once().await.unwrap(),
        Pass::default(),
        "not due before its backoff"
    );
    assert!(received(&maildir).is_empty());

    clock.advance(row(&*store, m.id).await.next_attempt_at - clock.now());
    assert_eq!(worker.run_once().await.unwrap(), SENT_ONE);
    let got = wait_for(&maildir, 1);
    assert_eq!(got.len(), 1);
    assert_is(&got[0], &m);
    let r = row(&*store, m.id).await;
    assert_eq!((r.status, r.attempts), (OutboxStatus::Sent, 2));
    assert_eq!(r.last_error, None);

    clock.advance(Duration::hours(1));
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    assert_eq!(received(&maildir).len(), 1, "delivered exactly once");
}

/// A server that accepts the connection and never says a word: the delivery gives up after
/// three times the timeout instead of holding the worker (and its lease) forever.
#[tokio::test]
async fn a_server_that_never_answers_does_not_hold_the_worker() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let clock = ManualClock::starting_now();
    let m = enqueue(&*store, &clock, "ada@example.com").await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    // Accepts and keeps every connection open, saying nothing.
    let held = std::thread::spawn(move || {
        let mut kept = vec![];
        for stream in silent.incoming().take(1) {
            kept.push(stream);
            std::thread::sleep(std::time::Duration::from_secs(8));
        }
    });
    let worker = worker(
        &store,
        &clock,
        &format!("smtp://127.0.0.1:{port}?timeout=1"),
        WorkerSettings::default(),
    );
    let pass = tokio::time::timeout(std::time::Duration::from_secs(20), worker.run_once())
        .await
        .expect("the worker gave up on the silent server")
        .unwrap();
    assert_eq!(pass, RETRIED_ONE);
    let r = row(&*store, m.id).await;
    assert_eq!(r.status, OutboxStatus::Pending);
    assert!(
        r.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no answer within 3 s"),
        "{r:?}"
    );
    held.join().unwrap();
}

// ---------------------------------------------------------------------------------------
// Two workers, one outbox

const MESSAGES: usize = 40;

/// Runs `worker` until the outbox has nothing pending (bounded), adding up its passes.
async fn drain(worker: OutboxWorker, store: Arc<dyn Store>) -> Pass {
    let mut total = Pass::default();
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain: {total:?}"
        );
        let pass = worker.run_once().await.unwrap();
        total.sent += pass.sent;
        total.retried += pass.retried;
        total.failed += pass.failed;
        if pass == Pass::default() {
            // Nothing claimable: done, or the other worker holds the rest.
            if store
                .reads()
                .await
                .unwrap()
                .outbox_counts()
                .await
                .unwrap()
                .pending
                == 0
            {
                return total;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Enqueues through `a`, drains with one worker on `a` and one on `b` at once, and checks
/// that the server got every message exactly once.
async fn two_workers_send_each_message_once(python: &Path, a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    let server = SmtpServer::start(python, dir.path(), &maildir, &ServerOptions::default());
    let clock = ManualClock::starting_now();
    let mut expected = BTreeSet::new();
    for i in 0..MESSAGES {
        let m = enqueue(&*a, &clock, &format!("user{i}@example.com")).await;
        expected.insert(message_id(&m, &settings()));
    }
    let url = format!("smtp://127.0.0.1:{}?timeout=5", server.port);
    let settings = WorkerSettings {
        // Small batches, so the two workers take turns.
        batch: 3,
        ..WorkerSettings::default()
    };
    let first = worker(&a, &clock, &url, settings.clone());
    let second = worker(&b, &clock, &url, settings);
    let first = tokio::spawn(drain(first, a.clone()));
    let second = tokio::spawn(drain(second, b.clone()));
    let (first, second) = (first.await.unwrap(), second.await.unwrap());

    assert_eq!(
        (
            first.sent + second.sent,
            first.retried + second.retried,
            first.failed + second.failed
        ),
        (MESSAGES, 0, 0),
        "{first:?} {second:?}"
    );
    let got = wait_for(&maildir, MESSAGES);
    assert_eq!(got.len(), MESSAGES, "one delivery per message");
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.header("Message-ID").expect("a Message-ID"))
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        MESSAGES,
        "a Message-ID arrived twice: {ids:?}"
    );
    assert_eq!(unique, expected);
    for r in &got {
        let to = r.header("To").unwrap();
        assert_eq!(r.session["rcpt_tos"], serde_json::json!([to]));
    }
    let counts = b.reads().await.unwrap().outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.failed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_database_send_each_message_once() {
    let Some(python) = python() else { return };
    let Some((store, db)) = roster_store_postgres::testing::fresh_database().await else {
        return;
    };
    // A second store, with its own connection pool, as a second Roster instance would have.
    let other = roster_store_postgres::PostgresStore::connect(&db.url())
        .await
        .unwrap();
    two_workers_send_each_message_once(&python, Arc::new(store), Arc::new(other)).await;
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_sqlite_file_send_each_message_once() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = sqlite_store(dir.path()).await;
    let b: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("roster.db"))
            .await
            .unwrap(),
    );
    two_workers_send_each_message_once(&python, a, b).await;
}
