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

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=link/idle.ld");
    // ELF targets only: the script is in the GNU linker script language, which lld (the
    // default linker for Linux targets) and GNU ld both read; other platforms' linkers do
    // not, and their binaries are linked as they always were.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
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
