//! Hostile: calls `std::process::exit(3)` in the middle of `run`
//! (`wasi:cli/exit`), instead of returning.

use serde_json::Value;
use weft_guest::SkillError;

/// Exits the process with status 3.
#[weft_guest::skill(name = "exits")]
fn run(_input: Value) -> Result<Value, SkillError> {
    std::process::exit(3)
}
