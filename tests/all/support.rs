//! Shared helpers: where fixtures are, one sandbox per test process, and
//! running the real `weft` binary.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use weft::domain::Limits;
use weft::sandbox::{RunOptions, RunReport, Sandbox, SandboxConfig, Skill};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ has a parent").to_path_buf()
}

/// The built fixture `name` (`target/skills/NAME.wasm`).
pub fn fixture(name: &str) -> PathBuf {
    let dir = std::env::var_os("WEFT_SKILLS_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target/skills"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(path.exists(), "fixture {} is missing: run `make skills` first", path.display());
    path
}

/// One sandbox for the whole test process, with its own compile cache.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let config = SandboxConfig { cache_dir: Some(root().join("target/test-cache")), ..SandboxConfig::default() };
        Sandbox::new(config).expect("the sandbox starts")
    })
}

/// Loads the fixture `name`.
pub async fn load(name: &str) -> Skill {
    sandbox().load_file(&fixture(name)).await.unwrap_or_else(|e| panic!("fixture {name} loads: {e}"))
}

/// Options with these limits and no grants.
pub fn with_limits(limits: Limits) -> RunOptions {
    RunOptions { limits, ..RunOptions::default() }
}

/// Runs `skill` on `input`, returning the report and how long the call took.
pub async fn run_timed(skill: &Skill, input: &str, opts: &RunOptions) -> (RunReport, Duration) {
    let started = Instant::now();
    let report = skill.run(input, opts).await;
    (report, started.elapsed())
}

/// Asserts the sandbox still works after something hostile: a friendly skill
/// runs and gives the right answer.
pub async fn host_is_unharmed() {
    let echo = load("echo").await;
    let report = echo.run(r#"{"still": "alive"}"#, &RunOptions::default()).await;
    assert_eq!(report.result.expect("echo still runs"), serde_json::json!({"still": "alive"}));
}

/// The `weft` binary built for these tests.
pub fn weft() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_weft"));
    cmd.env("WEFT_CACHE_DIR", root().join("target/test-cache"));
    cmd.env("WEFT_DB", root().join("target/test-runs.db"));
    cmd
}

/// Generous slack over a timeout for a loaded CI machine; the point is that
/// the run ends near its deadline, not how fast (speed is for `make bench`).
pub const MARGIN: Duration = Duration::from_secs(3);

/// Makes a FIFO (a named pipe) at `path`.
pub fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
}
