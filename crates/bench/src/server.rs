//! The server under test: a release `roster` binary run as a child process, exactly as an
//! operator runs it, so the numbers include everything a deployment pays (process start,
//! migrations, the HTTP stack, the store in another process or file).

use anyhow::{anyhow, bail, Context};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The command that builds the binary this harness drives; named in every error about it.
pub const BUILD_COMMAND: &str = "cargo build --release -p roster";

/// How long a start may take before the harness gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Finds the `roster` binary: the one given, or the one cargo put beside this program.
/// Building it from here would hide a slow build inside the first measurement and would
/// need cargo at run time, so the harness asks for it instead.
pub fn locate_binary(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path);
        }
        bail!("--roster-bin {}: no such file", path.display());
    }
    let exe = std::env::current_exe().context("cannot tell where roster-bench runs from")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("roster-bench has no parent directory"))?;
    let candidate = dir.join(format!("roster{}", std::env::consts::EXE_SUFFIX));
    if candidate.is_file() {
        Ok(candidate)
    } else {
        bail!(
            "the release roster binary is missing (looked for {}); build it first: {BUILD_COMMAND}",
            candidate.display()
        )
    }
}

/// Where the server keeps its data, shared by `serve` and `setup` so both act on one store.
pub struct StoreSpec {
    /// The data directory (the SQLite file, when no URL is given); removed on drop.
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl StoreSpec {
    pub fn new(database_url: Option<String>) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("roster-bench-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        Ok(Self {
            data_dir,
            database_url,
        })
    }

    pub fn backend(&self) -> &'static str {
        if self.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    /// The PostgreSQL URL; `None` for SQLite.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    pub fn dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The SQLite file `roster serve` keeps in the data directory by default
    /// (`DATA_DIR/roster.db`), for the harness's direct reads and seeding.
    pub fn sqlite_file(&self) -> PathBuf {
        self.dir().join("roster.db")
    }

    /// A `roster` command on this store. It runs in the data directory with no `ROSTER_*`
    /// or `RUST_LOG` variables, so a `roster.toml` or an environment meant for another
    /// Roster cannot change what is measured; mail goes to the log, not to disk.
    pub fn command(&self, binary: &Path) -> Command {
        self.command_on(binary, Launch::Direct)
    }

    /// [`Self::command`], launched as `launch` says.
    pub fn command_on(&self, binary: &Path, launch: Launch<'_>) -> Command {
        let mut cmd = match launch {
            Launch::Direct => Command::new(binary),
            Launch::OnCore(core) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(core.to_string()).arg(binary);
                taskset
            }
            Launch::Callgrind { profile } => {
                let mut valgrind = Command::new("valgrind");
                valgrind
                    .arg("--tool=callgrind")
                    .arg("--compress-strings=no")
                    .arg("--compress-pos=no")
                    .arg("--demangle=no")
                    .arg(format!("--callgrind-out-file={}", profile.display()))
                    .arg(binary);
                valgrind
            }
        };
        for (key, _) in std::env::vars_os() {
            let name = key.to_string_lossy();
            if name.starts_with("ROSTER_") || name == "RUST_LOG" {
                cmd.env_remove(&key);
            }
        }
        cmd.current_dir(self.dir());
        let mut args: Vec<OsString> = vec![
            "--data-dir".into(),
            self.dir().into(),
            "--mail".into(),
            "log".into(),
        ];
        if let Some(url) = &self.database_url {
            args.push("--database-url".into());
            args.push(url.into());
        }
        cmd.args(args);
        cmd
    }
}

/// How the server process is started.
#[derive(Clone, Copy)]
pub enum Launch<'a> {
    Direct,
    /// Only on this CPU (`taskset -c`), so the runtime sizes itself to that core as it
    /// would on a one-core machine.
    OnCore(usize),
    /// Under callgrind (`--idle-layout`), which writes the functions that ran to `profile`
    /// as the process exits.
    Callgrind {
        profile: &'a Path,
    },
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_bytes: u64,
    /// VmHWM: the most ever resident.
    pub peak_bytes: u64,
}

/// A running `roster serve`. Dropping it kills the process, so a failed run leaves no
/// server behind.
pub struct Server {
    child: Child,
    pub base_url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `roster serve` on a free loopback port and waits until `/readyz` answers 200.
    /// Returns the server and the time from spawning the process to that answer.
    pub async fn start(
        binary: &Path,
        store: &StoreSpec,
        run: u32,
    ) -> anyhow::Result<(Self, Duration)> {
        Self::start_on(binary, store, run, Launch::Direct).await
    }

    /// [`Self::start`], launched as `launch` says.
    pub async fn start_on(
        binary: &Path,
        store: &StoreSpec,
        run: u32,
        launch: Launch<'_>,
    ) -> anyhow::Result<(Self, Duration)> {
        let port = free_port()?;
        let log = store.dir().join(format!("serve-{run}.log"));
        let out = File::create(&log).context("cannot create the server log")?;
        let err = out.try_clone().context("cannot share the server log")?;
        let mut cmd = store.command_on(binary, launch);
        cmd.arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let poller = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", binary.display()))?;
        let mut server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready_url = format!("{}/readyz", server.base_url);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "roster serve exited during start-up ({status}); its log ends:\n{}",
                    server.log_tail()
                );
            }
            if let Ok(resp) = poller.get(&ready_url).send().await {
                if resp.status() == reqwest::StatusCode::OK {
                    return Ok((server, started.elapsed()));
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "roster serve did not answer 200 on /readyz within {START_TIMEOUT:?}; its log ends:\n{}",
                    server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// The server's resident memory, where the platform tells it (Linux `/proc`).
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<u64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        };
        Some(Memory {
            rss_bytes: field("VmRSS:")?,
            peak_bytes: field("VmHWM:")?,
        })
    }

    /// The last lines of the server's log, without terminal colours, for error messages.
    pub fn log_tail(&self) -> String {
        let text = strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default());
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server the way an orchestrator does (SIGTERM) and waits for it; kills it
    /// when it does not stop in time. A server that stops uncleanly is reported, because
    /// it means requests may have been cut off.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if signalled {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Some(status) = self.child.try_wait()? {
                    if status.success() {
                        return Ok(());
                    }
                    bail!(
                        "roster serve stopped with {status}; its log ends:\n{}",
                        self.log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.child.kill()?;
        self.child.wait()?;
        bail!("roster serve did not stop on SIGTERM and was killed")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port nobody listens on right now. Another process could take it before the
/// server binds it; on a bench machine that is rare enough, and a failed start says so.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Drops ANSI colour sequences (`ESC [ … letter`), which the server's text log carries.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_dropped_from_log_lines() {
        let line = "\u{1b}[2m2026-01-01T00:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening";
        assert_eq!(strip_ansi(line), "2026-01-01T00:00:00Z  INFO listening");
    }

    #[test]
    fn commands_run_on_the_store_without_the_callers_roster_settings() {
        let store = StoreSpec::new(None).unwrap();
        let cmd = store.command(Path::new("roster"));
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "--data-dir");
        assert_eq!(args[2..], ["--mail", "log"]);
        assert_eq!(cmd.get_current_dir(), Some(store.dir()));
        assert_eq!(store.backend(), "sqlite");
    }
}
