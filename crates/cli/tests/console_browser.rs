//! The admin console in a real headless Chromium: `roster serve` (SQLite in a temporary
//! directory, email to files), `roster setup` for the first organization, then
//! `node e2e/journey.mjs` (Playwright) walks the console by its visible labels and checks
//! each page's accessibility basics. Screenshots land in `target/screenshots`. For the
//! single sign-on step a real OpenID provider runs beside it (`node e2e/oidc-provider.mjs`,
//! the `oidc-provider` package) with one client whose redirect URI is Roster's
//! `/sso/callback`.
//!
//! It needs `node` on PATH, Chromium (`ROSTER_TEST_CHROMIUM`, else `chromium` on PATH) and
//! `e2e/node_modules` with playwright-core and oidc-provider (`npm ci --prefix e2e`).
//! Without them it skips loudly, or fails when `ROSTER_REQUIRE_BROWSER=1` (as CI sets).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the journey may take before it is stopped (it normally takes a few seconds).
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the OpenID provider may take to start (it normally takes well under a second).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);

/// The provider's one client, as the journey configures it in the console.
const OIDC_CLIENT_ID: &str = "roster-console";
const OIDC_CLIENT_SECRET: &str = "console-journey-client-secret";
/// The provider's accounts (the login is the subject): `sam` signs in and becomes a member
/// just in time; `unverified` has an address the provider has not verified, so Roster
/// refuses it (`sso_email_unverified`).
const OIDC_ACCOUNTS: &str = r#"{
  "sam": {"email": "sam@sso-acme.example", "email_verified": true, "name": "Sam Single"},
  "unverified": {"email": "una@sso-acme.example", "email_verified": false, "name": "Una Verified"}
}"#;

fn workspace() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

/// `name` in a directory of PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What the journey runs with: node, Chromium, and the e2e folder with Playwright.
struct Tools {
    node: PathBuf,
    chromium: PathBuf,
    e2e: PathBuf,
}

/// The tools, or `None` (said loudly) when the test is to be skipped.
fn tools() -> Option<Tools> {
    let e2e = workspace().join("e2e");
    let mut missing = vec![];
    let node = on_path("node");
    if node.is_none() {
        missing.push("`node` is not on PATH".to_owned());
    }
    let chromium = match std::env::var_os("ROSTER_TEST_CHROMIUM").filter(|v| !v.is_empty()) {
        Some(given) => {
            let given = PathBuf::from(given);
            let found = if given.components().count() == 1 {
                on_path(&given.to_string_lossy())
            } else {
                Some(given.clone()).filter(|p| p.is_file())
            };
            if found.is_none() {
                missing.push(format!(
                    "ROSTER_TEST_CHROMIUM={} is not a file",
                    given.display()
                ));
            }
            found
        }
        None => {
            let found = on_path("chromium");
            if found.is_none() {
                missing.push(
                    "`chromium` is not on PATH and ROSTER_TEST_CHROMIUM is not set \
                     (apt-get install chromium)"
                        .to_owned(),
                );
            }
            found
        }
    };
    for package in ["playwright-core", "oidc-provider"] {
        if !e2e
            .join(format!("node_modules/{package}/package.json"))
            .is_file()
        {
            missing.push(format!(
                "e2e/node_modules/{package} is missing (npm ci --prefix e2e)"
            ));
        }
    }
    if missing.is_empty() {
        return Some(Tools {
            node: node?,
            chromium: chromium?,
            e2e,
        });
    }
    let problem = missing.join("; ");
    if std::env::var("ROSTER_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("the browser test is required (ROSTER_REQUIRE_BROWSER=1) but {problem}");
    }
    // Straight to stderr: the harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "!!! skipping: {problem}: console browser test SKIPPED; set ROSTER_REQUIRE_BROWSER=1 \
         to make this fatal"
    );
    None
}

/// `roster` with the test's data directory, mail folder, address and public URL, and
/// nothing from the environment that could point it elsewhere.
fn roster(dir: &Path, addr: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roster"));
    cmd.current_dir(dir)
        .env_remove("ROSTER_DATABASE_URL")
        .env_remove("ROSTER_DATABASE_URL_FILE")
        .env_remove("ROSTER_DATA_DIR")
        .env_remove("ROSTER_CONFIG")
        .env_remove("ROSTER_MAIL")
        .env_remove("ROSTER_MAIL_FROM")
        .env_remove("ROSTER_PUBLIC_URL")
        .env_remove("ROSTER_LISTEN")
        .env_remove("ROSTER_LOG_FORMAT")
        .env_remove("ROSTER_TRUSTED_PROXIES");
    let mut mail = OsString::from("file:");
    mail.push(dir.join("mail"));
    cmd.arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--mail")
        .arg(mail)
        .args(["--listen", addr, "--public-url", &format!("http://{addr}")]);
    cmd
}

/// A loopback address with a free port. Links in emails need the public URL before the
/// server starts, so the port is chosen here rather than by the server.
fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// A running `roster serve` and its log.
struct Served {
    child: Child,
    log: Option<JoinHandle<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only reached with the server still running when the test panicked early.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `roster serve` and returns once it listens.
fn start_serve(dir: &Path, addr: &str) -> Served {
    let mut child = roster(dir, addr)
        .arg("serve")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = vec![];
    loop {
        let Some(line) = lines.next() else {
            let _ = child.wait();
            panic!("serve exited early:\n{}", seen.join("\n"));
        };
        let line = line.unwrap();
        let listening = line.contains("Roster listening on http://");
        seen.push(line);
        if listening {
            break;
        }
    }
    // Keep reading the log so the server never blocks on a full pipe.
    let log = std::thread::spawn(move || {
        seen.extend(lines.map_while(Result::ok));
        seen
    });
    Served {
        child,
        log: Some(log),
    }
}

/// Sends SIGTERM and waits for the exit; returns whether it stopped cleanly, and the log.
fn stop(mut served: Served) -> (bool, Vec<String>) {
    let pid = served.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = served.child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = served.child.kill();
            let _ = served.child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = served.log.take().unwrap().join().unwrap_or_default();
    (exit.is_some_and(|s| s.success()), log)
}

/// Reads a child's pipe to the end on a thread.
fn drain(pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut out = vec![];
        let _ = BufReader::new(pipe).read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
}

/// A running `e2e/oidc-provider.mjs`: its issuer, and what it prints (read on threads so
/// that it never blocks on a full pipe).
struct Provider {
    issuer: String,
    child: Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Provider {
    fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // Closing its stdin (dropping the child) would stop it too; this does not wait for
        // node to notice.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the OpenID provider on a port of its choosing (it reports it: no race) and
/// returns once it listens.
fn start_provider(tools: &Tools, redirect_uri: &str) -> Provider {
    let mut child = Command::new(&tools.node)
        .arg("oidc-provider.mjs")
        .current_dir(&tools.e2e)
        .env("PORT", "0")
        .env("CLIENT_ID", OIDC_CLIENT_ID)
        .env("CLIENT_SECRET", OIDC_CLIENT_SECRET)
        .env("REDIRECT_URI", redirect_uri)
        .env("ACCOUNTS", OIDC_ACCOUNTS)
        .env("TAMPER", "none")
        .env_remove("NODE_OPTIONS")
        .env_remove("DEBUG")
        // Kept open: the provider exits when its stdin closes (the test is gone).
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let out = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(issuer) = line.strip_prefix("listening ") {
                let _ = ready_tx.send(issuer.trim().to_owned());
            }
            if let Ok(mut out) = out.lock() {
                out.push_str(&line);
                out.push('\n');
            }
        }
        // Dropping `ready_tx` tells the waiter that the provider is gone.
    });
    let mut stderr = child.stderr.take().unwrap();
    let out = output.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut out) = out.lock() {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
    let mut provider = Provider {
        issuer: String::new(),
        child,
        output,
    };
    match ready_rx.recv_timeout(PROVIDER_TIMEOUT) {
        Ok(issuer) => provider.issuer = issuer,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let status = provider.child.wait().ok();
            panic!(
                "e2e/oidc-provider.mjs exited ({status:?}) before listening:\n{}",
                provider.output()
            );
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!(
            "e2e/oidc-provider.mjs did not listen within {PROVIDER_TIMEOUT:?}:\n{}",
            provider.output()
        ),
    }
    provider
}

/// A fresh folder for the screenshots: `target/screenshots`, emptied of earlier PNGs.
fn screenshots() -> PathBuf {
    let dir = workspace().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir
}

#[test]
fn console_journey_in_chromium() {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();

    let setup = roster(dir.path(), &addr)
        .args([
            "setup",
            "--org-name",
            "Acme",
            "--org-kind",
            "provider",
            "--admin-email",
            "admin@acme.example",
        ])
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "roster setup failed:\n{}",
        String::from_utf8_lossy(&setup.stderr)
    );

    let base = format!("http://{addr}");
    let provider = start_provider(&tools, &format!("{base}/sso/callback"));
    let served = start_serve(dir.path(), &addr);
    let shots = screenshots();
    let mut child = Command::new(&tools.node)
        .arg("journey.mjs")
        .current_dir(&tools.e2e)
        .env("ROSTER_BASE_URL", &base)
        .env("ROSTER_OIDC_ISSUER", &provider.issuer)
        .env("ROSTER_OIDC_CLIENT_ID", OIDC_CLIENT_ID)
        .env("ROSTER_OIDC_CLIENT_SECRET", OIDC_CLIENT_SECRET)
        .env("ROSTER_MAIL_DIR", dir.path().join("mail"))
        .env("ROSTER_SCREENSHOTS", &shots)
        .env("ROSTER_TEST_CHROMIUM", &tools.chromium)
        .env_remove("ROSTER_E2E_KEEP_GOING")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + JOURNEY_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let (stopped, log) = stop(served);
    let provider_output = provider.output();
    drop(provider);

    // The steps passed, straight to stderr so that a passing run shows them too.
    let _ = writeln!(
        std::io::stderr(),
        "console journey ({:.1} s):\n{}",
        started.elapsed().as_secs_f64(),
        stdout.trim_end()
    );
    let passed = status.is_some_and(|s| s.success());
    assert!(
        passed,
        "the console journey {}\n--- journey stdout ---\n{stdout}\n--- journey stderr ---\n{stderr}\n\
         --- server log ---\n{}\n--- OpenID provider output ---\n{provider_output}\n\
         (screenshots in {})",
        match status {
            Some(s) => format!("failed ({s})"),
            None => format!("did not finish within {JOURNEY_TIMEOUT:?}"),
        },
        log.join("\n"),
        shots.display()
    );
    assert!(
        stopped,
        "serve did not stop cleanly on SIGTERM:\n{}",
        log.join("\n")
    );
}
