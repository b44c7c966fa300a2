//! Test fixture: fails with a chosen kind for its first `fail_times` calls,
//! then succeeds. Calls are counted in a file under a granted directory, so
//! the count survives the fresh sandbox each attempt gets.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::{ErrorKind, SkillError};

/// What to do.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Plan {
    /// How many calls fail before one succeeds.
    fail_times: u32,
    /// The kind of those failures: `transient`, `permanent` or `invalid-input`.
    #[serde(default = "transient")]
    kind: String,
    /// File that counts the calls (in a granted, writable directory).
    counter: String,
    /// Returned on success.
    #[serde(default)]
    value: serde_json::Value,
}

fn transient() -> String {
    "transient".into()
}

/// The result once it succeeds.
#[derive(Serialize, JsonSchema)]
struct Done {
    /// Which call succeeded (1-based).
    call: u32,
    /// The `value` given.
    value: serde_json::Value,
}

/// Fails `fail_times` times, then succeeds.
#[weft_guest::skill(name = "flaky")]
fn run(plan: Plan) -> Result<Done, SkillError> {
    let calls = std::fs::read_to_string(&plan.counter).ok().and_then(|s| s.trim().parse::<u32>().ok()).unwrap_or(0) + 1;
    std::fs::write(&plan.counter, calls.to_string())
        .map_err(|e| SkillError::permanent(format!("cannot write the counter {}: {e}", plan.counter)))?;
    if calls <= plan.fail_times {
        let kind = match plan.kind.as_str() {
            "permanent" => ErrorKind::Permanent,
            "invalid-input" => ErrorKind::InvalidInput,
            _ => ErrorKind::Transient,
        };
        return Err(SkillError::new(kind, format!("planned failure {calls} of {}", plan.fail_times)));
    }
    Ok(Done { call: calls, value: plan.value })
}
