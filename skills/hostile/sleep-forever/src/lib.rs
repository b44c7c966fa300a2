//! Hostile: blocks forever inside a WASI host call (a monotonic-clock sleep),
//! where fuel and epoch checks in guest code never run.

use serde_json::Value;
use std::time::Duration;
use weft_guest::SkillError;

/// Sleeps forever.
#[weft_guest::skill(name = "sleep-forever")]
fn run(_input: Value) -> Result<Value, SkillError> {
    loop {
        std::thread::sleep(Duration::from_secs(24 * 60 * 60));
    }
}
