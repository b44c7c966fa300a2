//! Hostile: panics. On wasm32-wasip2 a panic prints its message to stderr and
//! aborts: the host sees a trap.

use serde_json::Value;
use weft_guest::SkillError;

/// Panics.
#[weft_guest::skill(name = "panic")]
fn run(_input: Value) -> Result<Value, SkillError> {
    panic!("hostile panic: the guest gave up");
}
