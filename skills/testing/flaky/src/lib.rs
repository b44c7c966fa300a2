//! Test fixture: fails with a chosen kind for its first `fail_times` calls,
//! then succeeds. Calls are counted in a file under a granted directory, so
//! the count survives the fresh sandbox each attempt gets. With `log`, each
//! call also appends the idempotency key and attempt number weft gave it.

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
    /// File to append `WEFT_IDEMPOTENCY_KEY WEFT_ATTEMPT` to, a line per call
    /// (in a granted, writable directory; `-` for a variable not set).
    #[serde(default)]
    log: Option<String>,
}

fn transient() -> String {
    "transient".into()
}

/// Appends the key and attempt this call was given to `path`.
fn log_call(path: &str) -> Result<(), SkillError> {
    use std::io::Write;
    let var = |name| std::env::var(name).unwrap_or_else(|_| "-".into());
    let line = format!("{} {}\n", var("WEFT_IDEMPOTENCY_KEY"), var("WEFT_ATTEMPT"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| SkillError::permanent(format!("cannot append to the log {path}: {e}")))
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
    if let Some(log) = &plan.log {
        log_call(log)?;
    }
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
