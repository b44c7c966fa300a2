//! Hostile: returns a valid JSON string of 20 MiB (`"aaaa…"`).
//!
//! Hand-written (no serde round trip) so the guest holds a single copy of the
//! output: the point is to stress the host's output limit, not the guest's
//! memory.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

/// Length of the string, without its quotes.
const DEFAULT_BYTES: usize = 20 << 20;

struct HugeOutput;

impl Guest for HugeOutput {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "huge-output".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns a JSON string of 20 MiB, or of `bytes` bytes if the input is {\"bytes\": n}.".into(),
            input_schema: "{}".into(),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        let bytes = serde_json::from_str::<serde_json::Value>(&input)
            .ok()
            .and_then(|v| v.get("bytes")?.as_u64())
            .map_or(DEFAULT_BYTES, |n| n as usize);
        let mut out = String::with_capacity(bytes + 2);
        out.push('"');
        out.extend(std::iter::repeat_n('a', bytes));
        out.push('"');
        Ok(out)
    }
}

weft_guest::export!(HugeOutput);
