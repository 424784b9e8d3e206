//! `--idle-layout FILE`: writes the linker script that groups the code `roster serve` runs
//! at start-up and while idle (`crates/cli/link/idle.ld`, read by `crates/cli/build.rs`).
//!
//! The kernel maps a binary's code in blocks around every page a process touches. Start-up
//! code is spread through the whole binary (the runtime, the store, the router, SQLite),
//! so an idle server kept most of its 15 MB of code resident. This runs the server under
//! callgrind, which counts every function that runs, and names those functions in a
//! section of their own, so the linker puts them side by side.
//!
//! Names are written with the parts that change from build to build left open: the hash
//! at the end of a Rust symbol (`17h…E`), a crate's disambiguator in Rust's v0 symbols
//! (`Cs…_`) and LLVM's `.llvm.…` suffix. So the list survives a new compiler or new
//! dependency versions, at the price of also grouping the other instances of a generic
//! function that ran. A function that appears later links where it always did: a stale
//! list costs memory, never correctness.

use crate::server::{Launch, Server, StoreSpec};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// How long the server runs idle under callgrind after `/readyz` answers: long enough for
/// the outbox worker's polls and the digest scheduler's first pass.
const IDLE: Duration = Duration::from_secs(20);

/// Runs `binary` under callgrind twice (on a new store, which creates the schema, then on
/// the same store again), and writes the functions of `binary` that ran to `out`.
pub async fn write(binary: &Path, out: &Path) -> anyhow::Result<()> {
    let binary = binary
        .canonicalize()
        .with_context(|| format!("{}", binary.display()))?;
    let store = StoreSpec::new(None)?;
    let mut names = BTreeSet::new();
    for run in 1..=2 {
        let profile = store.dir().join(format!("callgrind-{run}.out"));
        run_idle(&binary, &store, run, &profile).await?;
        let text = std::fs::read_to_string(&profile)
            .with_context(|| format!("callgrind wrote no profile to {}", profile.display()))?;
        names.extend(functions_of(&text, &binary.to_string_lossy()));
    }
    if names.len() < 100 {
        // valgrind names no object for code in a section the linker script added, so a
        // binary linked with the layout shows almost nothing of its own.
        bail!(
            "callgrind saw only {} functions of {}; is it a release build with symbols, \
             linked without the idle layout (ROSTER_IDLE_LAYOUT=0 cargo build --release -p roster)?",
            names.len(),
            binary.display()
        );
    }
    let patterns: BTreeSet<String> = names.iter().filter_map(|n| pattern(n)).collect();
    std::fs::write(out, script(&patterns)).with_context(|| format!("{}", out.display()))?;
    eprintln!(
        "roster-bench: {} functions ran; wrote {} patterns to {}",
        names.len(),
        patterns.len(),
        out.display()
    );
    Ok(())
}

/// Starts `roster serve` under callgrind, waits for `/readyz`, lets it idle, stops it
/// with SIGTERM (callgrind writes its profile at exit).
async fn run_idle(
    binary: &Path,
    store: &StoreSpec,
    run: u32,
    profile: &Path,
) -> anyhow::Result<()> {
    let (server, _) = Server::start_on(binary, store, run, Launch::Callgrind { profile })
        .await
        .context("roster serve under callgrind (Debian: apt-get install valgrind)")?;
    tokio::time::sleep(IDLE).await;
    server.stop().await
}

/// The names of the functions of `object` in a callgrind profile written with
/// `--compress-strings=no`: each `fn=` line names a function of the object named by the
/// `ob=` line before it. A recursion marker (`'2`) is dropped.
fn functions_of(profile: &str, object: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut in_object = false;
    for line in profile.lines() {
        if let Some(ob) = line.strip_prefix("ob=") {
            in_object = ob == object;
        } else if let Some(name) = line.strip_prefix("fn=") {
            if in_object {
                let name = name.split_once('\'').map_or(name, |(name, _)| name);
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// The section-name pattern for a function: its name with the parts that change between
/// builds left open. `None` for a name the script language could misread (only symbol
/// characters are written, so no quoting is needed), and for code callgrind found no
/// symbol for (named by its address, `0x…`).
fn pattern(name: &str) -> Option<String> {
    if name.is_empty()
        || name.starts_with("0x")
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_$.".contains(&b))
    {
        return None;
    }
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("17h") {
            // A legacy Rust symbol's hash: `17h` and 16 hex digits, then `E`.
            let hash = after.get(..16);
            if hash.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                && after[16..].starts_with('E')
            {
                out.push_str("17h*E");
                rest = &after[17..];
                continue;
            }
        }
        if let Some(after) = rest.strip_prefix(".llvm.") {
            // LLVM's suffix for a local symbol made global by LTO.
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                out.push_str(".llvm.*");
                rest = &after[digits..];
                continue;
            }
        }
        if name.starts_with("_ZN") || name.starts_with("_R") {
            if let Some(after) = rest.strip_prefix('.') {
                // A number LLVM gives a local copy of a Rust function (`…E.4037`); it
                // changes whenever code elsewhere in the binary does.
                if !after.is_empty() && after.bytes().all(|b| b.is_ascii_digit()) {
                    out.push('*');
                    break;
                }
            }
        }
        if name.starts_with("_R") {
            if let Some(after) = rest.strip_prefix("Cs") {
                // A crate's disambiguator in a v0 symbol: `Cs`, base-62 digits, `_`.
                let digits = after.bytes().take_while(u8::is_ascii_alphanumeric).count();
                if digits > 0 && after[digits..].starts_with('_') {
                    out.push_str("Cs*_");
                    rest = &after[digits + 1..];
                    continue;
                }
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The linker script: one output section, `.text.idle`, holding the named functions,
/// inserted before `.text` so the default layout stays as it is for everything else.
fn script(patterns: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "/* The code `roster serve` runs at start-up and while idle, in one place.\n   \
         Written by `roster-bench --idle-layout`; see crates/cli/build.rs and\n   \
         docs/benchmarks.md, *Idle code in one place*. Do not edit by hand. */\n\
         SECTIONS {\n  .text.idle : {\n",
    );
    for p in patterns {
        // LLVM puts a function it deems cold in `.text.unlikely.NAME`; `roster::main`, which
        // runs once, is one of them.
        out.push_str(&format!("    *(.text.{p} .text.unlikely.{p})\n"));
    }
    out.push_str("  }\n} INSERT BEFORE .text;\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_read_for_the_object_only() {
        let profile = "ob=/bin/roster\nfn=main\ncfn=sqlite3_step\nfn=sqlite3_step'2\n\
                       ob=/lib/libc.so.6\nfn=malloc\nob=/bin/roster\nfn=_start\n";
        let names: Vec<_> = functions_of(profile, "/bin/roster").into_iter().collect();
        assert_eq!(names, ["_start", "main", "sqlite3_step"]);
    }

    #[test]
    fn build_specific_parts_of_names_are_left_open() {
        assert_eq!(
            pattern("_ZN6roster4main17h84b63778a356b882E").as_deref(),
            Some("_ZN6roster4main17h*E")
        );
        assert_eq!(
            pattern("_ZN4core3ptr13drop_in_place17h0123456789abcdefE.llvm.1234567").as_deref(),
            Some("_ZN4core3ptr13drop_in_place17h*E.llvm.*")
        );
        assert_eq!(
            pattern("_RNvNtCsjrHSEGnQ3l9_3std6thread5spawn").as_deref(),
            Some("_RNvNtCs*_3std6thread5spawn")
        );
        // A local copy's number is left open too, on Rust symbols of both manglings.
        assert_eq!(
            pattern("_ZN4http6header4name14StandardHeader6as_str17h0123456789abcdefE.4037")
                .as_deref(),
            Some("_ZN4http6header4name14StandardHeader6as_str17h*E*")
        );
        assert_eq!(
            pattern("_RNvMs0_NtCsjrHSEGnQ3l9_3std5waker10disconnect.4865").as_deref(),
            Some("_RNvMs0_NtCs*_3std5waker10disconnect*")
        );
        // C functions keep their names, GCC's clone suffixes included.
        assert_eq!(
            pattern("sqlite3LockAndPrepare.part.0").as_deref(),
            Some("sqlite3LockAndPrepare.part.0")
        );
        // A hash-like run that is not one stays as it is.
        assert_eq!(pattern("_ZN3foo17hxyzE").as_deref(), Some("_ZN3foo17hxyzE"));
        // Names the script language could misread are left out.
        assert_eq!(pattern("(below main)"), None);
        assert_eq!(pattern("0x00000000005795f0"), None);
        assert_eq!(pattern("a*b"), None);
    }

    #[test]
    fn the_script_inserts_one_section_before_text() {
        let patterns: BTreeSet<String> = ["main".to_owned(), "_ZN1a17h*E".to_owned()].into();
        let script = script(&patterns);
        assert!(script.contains(
            "  .text.idle : {\n    *(.text._ZN1a17h*E .text.unlikely._ZN1a17h*E)\n    \
             *(.text.main .text.unlikely.main)\n  }\n"
        ));
        assert!(script.ends_with("} INSERT BEFORE .text;\n"));
    }
}
