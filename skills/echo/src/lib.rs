//! The simplest skill: returns its input unchanged.

use serde_json::Value;
use weft_guest::SkillError;

/// Returns its input unchanged. Accepts any JSON value.
#[weft_guest::skill] // name and version default to the crate's: "echo", "0.1.0"
fn run(input: Value) -> Result<Value, SkillError> {
    Ok(input)
}
