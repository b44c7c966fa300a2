//! Test fixture: sleeps for a while and reports the wall-clock interval it
//! was running in, so tests can see whether two steps overlapped.

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
    let started_ms = now_ms();
    std::thread::sleep(Duration::from_millis(nap.ms));
    Ok(Slept { started_ms, ended_ms: now_ms(), tag: nap.tag })
}
