//! Hostile: calls the host's `log` 100 000 times with 101-byte lines, then
//! returns `{"logged": 100000}`.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use weft_guest::SkillError;

const LINES: u64 = 100_000;

#[derive(Serialize, JsonSchema)]
struct Logged {
    logged: u64,
}

/// Floods the host log.
#[weft_guest::skill(name = "log-flood")]
fn run(_input: Value) -> Result<Logged, SkillError> {
    for i in 0..LINES {
        // 101 bytes: "log-flood line 000042 " (22) + 79 bytes of padding.
        weft_guest::info!(
            "log-flood line {i:06} {}",
            "the quick brown fox jumps over the lazy dog, again and again and again, forever"
        );
    }
    Ok(Logged { logged: LINES })
}
