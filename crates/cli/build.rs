//! Links the `roster` binary with the code it runs at start-up and while idle in one place.
//!
//! `link/idle.ld` lists, by name, the functions `roster serve` ran from start-up through
//! an idle spell; the linker puts them together in a section of their own (`.text.idle`)
//! ahead of the rest of the code. The kernel maps a binary's code in blocks around each
//! page a process touches, so start-up code scattered through 15 MB kept most of it
//! resident in an idle server; grouped, an idle server holds about half as much. The list
//! is written by `roster-bench --idle-layout` (docs/benchmarks.md, *Idle code in one
//! place*). A function it does not name is linked as before, so a stale list costs memory,
//! never correctness.
//!
//! The names are Rust's legacy symbols (`_ZN…17h…E`), the default for crates built by
//! cargo; a build with `-C symbol-mangling-version=v0` matches only the C and standard
//! library functions of the list, and its binary holds more code at idle.
//!
//! `ROSTER_IDLE_LAYOUT=0` links without the script. It is also left out where the linker
//! cannot read it: gold rejects `INSERT`, and mold has no linker scripts for executables.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link/idle.ld");
    println!("cargo:rerun-if-env-changed=ROSTER_IDLE_LAYOUT");
    // ELF targets only: the script is in the GNU linker script language, which lld (the
    // default linker for x86_64 Linux) and GNU ld (for other Linux targets) both read;
    // other platforms' linkers do not, and their binaries are linked as they always were.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    if std::env::var("ROSTER_IDLE_LAYOUT").as_deref() == Ok("0") {
        skipped("ROSTER_IDLE_LAYOUT=0");
        return;
    }
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["mold", "gold"]
        .iter()
        .any(|name| linker.contains(name) || flags.contains(name))
    {
        println!(
            "cargo:warning=the configured linker (mold or gold) cannot read link/idle.ld: \
             the roster binary is linked without its idle layout"
        );
        skipped("a linker that cannot read it");
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = Path::new(&dir).join("link").join("idle.ld");
    if !script.is_file() {
        println!(
            "cargo:warning=no {}: the roster binary is linked without its idle layout",
            script.display()
        );
        return;
    }
    // Passed to the C compiler driver that links Rust binaries on Linux, which hands `-T`
    // to the linker; as two arguments, so no character of the path needs escaping.
    println!("cargo:rustc-link-arg-bin=roster=-T");
    println!("cargo:rustc-link-arg-bin=roster={}", script.display());
}

/// Tells the package's tests why the script was left out on purpose, so the test of the
/// layout skips instead of failing. A missing script is not such a reason.
fn skipped(why: &str) {
    println!("cargo:rustc-env=ROSTER_IDLE_LAYOUT_SKIPPED={why}");
}
