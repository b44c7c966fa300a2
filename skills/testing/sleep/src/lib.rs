//! Test fixture: sleeps for a while and reports the wall-clock interval it
//! was running in, so tests can see whether two steps overlapped. With `log`,
//! it first appends the idempotency key and attempt number weft gave it, so
//! tests can count from outside how often each step ran.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weft_guest::SkillError;

/// How long to sleep.
#[derive(Deserialize, JsonSchema)]
struct Nap {
    /// Milliseconds.
    ms: u64,
    /// Passed through to the output.
    #[serde(default)]
    tag: serde_json::Value,
    /// File to append `WEFT_IDEMPOTENCY_KEY WEFT_ATTEMPT` to before sleeping
    /// (in a granted, writable directory; `-` for a variable not set).
    #[serde(default)]
    log: Option<String>,
}

/// When the nap happened.
#[derive(Serialize, JsonSchema)]
struct Slept {
    /// Wall-clock start, in milliseconds since the Unix epoch.
    started_ms: u64,
    /// Wall-clock end.
    ended_ms: u64,
    /// The `tag` given.
    tag: serde_json::Value,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Sleeps `ms` milliseconds.
#[weft_guest::skill(name = "sleep")]
fn run(nap: Nap) -> Result<Slept, SkillError> {
    if let Some(path) = &nap.log {
        use std::io::Write;
        let var = |name| std::env::var(name).unwrap_or_else(|_| "-".into());
        let line = format!("{} {}\n", var("WEFT_IDEMPOTENCY_KEY"), var("WEFT_ATTEMPT"));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| SkillError::permanent(format!("cannot append to the log {path}: {e}")))?;
    }
    let started_ms = now_ms();
    std::thread::sleep(Duration::from_millis(nap.ms));
    Ok(Slept { started_ms, ended_ms: now_ms(), tag: nap.tag })
}
