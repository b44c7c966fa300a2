//! The closed set of ways a skill run can end.
//!
//! Every trap, guest error and host failure is classified once, into
//! [`OutcomeKind`]; recovery policies match on the kind and nothing else.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a run ended when it did not succeed.
///
/// The set is closed: adding a kind is a breaking change for every recovery
/// policy and every consumer of the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The skill reported a failure that may go away on a retry.
    Transient,
    /// The skill reported a failure that a retry will not fix.
    Permanent,
    /// The input was refused: by the skill, or by its declared input schema.
    InvalidInput,
    /// The output was not JSON, or did not match the declared output schema.
    ContractViolation,
    /// The run went past its wall-clock deadline (also while blocked in a host call).
    Timeout,
    /// The run used up its fuel.
    OutOfFuel,
    /// The run asked for more memory than its cap allows.
    MemoryLimit,
    /// The guest exhausted its WebAssembly stack.
    StackOverflow,
    /// The guest trapped: a panic, `unreachable`, an out-of-bounds access, an exit.
    Trap,
    /// The output crossing the boundary was larger than allowed.
    OutputLimit,
    /// The component could not be loaded: unreadable, not a component, wrong world.
    Load,
}

impl OutcomeKind {
    /// Every kind, in declaration order.
    pub const ALL: [OutcomeKind; 11] = [
        OutcomeKind::Transient,
        OutcomeKind::Permanent,
        OutcomeKind::InvalidInput,
        OutcomeKind::ContractViolation,
        OutcomeKind::Timeout,
        OutcomeKind::OutOfFuel,
        OutcomeKind::MemoryLimit,
        OutcomeKind::StackOverflow,
        OutcomeKind::Trap,
        OutcomeKind::OutputLimit,
        OutcomeKind::Load,
    ];

    /// The name used in specs, reports and JSON (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Transient => "transient",
            OutcomeKind::Permanent => "permanent",
            OutcomeKind::InvalidInput => "invalid_input",
            OutcomeKind::ContractViolation => "contract_violation",
            OutcomeKind::Timeout => "timeout",
            OutcomeKind::OutOfFuel => "out_of_fuel",
            OutcomeKind::MemoryLimit => "memory_limit",
            OutcomeKind::StackOverflow => "stack_overflow",
            OutcomeKind::Trap => "trap",
            OutcomeKind::OutputLimit => "output_limit",
            OutcomeKind::Load => "load",
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for OutcomeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutcomeKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = OutcomeKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("unknown outcome kind `{s}`; expected one of {}", names.join(", "))
        })
    }
}

/// A classified failure: its kind and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Failure {
    /// What kind of failure this is.
    pub kind: OutcomeKind,
    /// What happened, for people; for contract errors it names the JSON pointer.
    pub message: String,
}

impl Failure {
    /// A failure of `kind` with `message`.
    pub fn new(kind: OutcomeKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_str_and_serde() {
        for kind in OutcomeKind::ALL {
            assert_eq!(kind.as_str().parse::<OutcomeKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn unknown_kind_lists_the_known_ones() {
        let err = "explode".parse::<OutcomeKind>().unwrap_err();
        assert!(err.contains("out_of_fuel"), "{err}");
    }
}
