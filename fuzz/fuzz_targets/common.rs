//! Shared by the fuzz targets: one sandbox and one current-thread runtime per
//! process, made on first use.
#![allow(dead_code)]

use std::path::Path;
use std::sync::OnceLock;
use weft::sandbox::{Allocation, Sandbox, SandboxConfig};

/// Specs resolve relative paths against this directory, which does not
/// exist: a spec naming `skill.wasm` fails to load it instead of compiling
/// whatever happens to be on the disk.
pub const SPEC_DIR: &str = "/nonexistent/weft-fuzz";

/// Inputs above this are skipped by the targets that do real work per input.
pub const MAX_INPUT: usize = 64 * 1024;

pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        // No runner components: `run_script` and `script_inline` steps fail
        // to load them instead of starting CPython or QuickJS per input.
        // SAFETY: set before the runtime (and so any other thread) starts.
        unsafe { std::env::set_var("WEFT_RUNNERS_DIR", "/nonexistent/weft-fuzz-runners") };
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
    })
}

pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let _guard = runtime().enter();
        Sandbox::new(SandboxConfig { cache_dir: None, allocation: Allocation::OnDemand }).expect("a sandbox")
    })
}

pub fn spec_dir() -> &'static Path {
    Path::new(SPEC_DIR)
}
