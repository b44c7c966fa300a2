//! Test fixture: a validator. Says whether a number reaches a minimum, and
//! complains in words when it does not.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::SkillError;

/// The number and the bar.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Claim {
    /// The number to check.
    value: f64,
    /// The least acceptable value.
    min: f64,
}

/// The verdict.
#[derive(Serialize, JsonSchema)]
struct Verdict {
    /// Whether `value >= min`.
    ok: bool,
    /// What is wrong, if anything.
    complaints: Vec<String>,
}

/// Checks that `value` is at least `min`.
#[weft_guest::skill(name = "at-least")]
fn run(claim: Claim) -> Result<Verdict, SkillError> {
    let ok = claim.value >= claim.min;
    let complaints = if ok { vec![] } else { vec![format!("{} is below {}", claim.value, claim.min)] };
    Ok(Verdict { ok, complaints })
}
