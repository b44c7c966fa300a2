//! Hostile: declares an input schema that stays under the per-value bound
//! (about half a million evaluations for a value that is not an integer) so
//! that it loads, then relies on a wide input to multiply that cost: an
//! array of many strings would take billions of evaluations to check.
//!
//! The items are `{"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/d0"}]}`:
//! an integer passes at once, anything else walks a chain of 17 `$defs`,
//! each an `anyOf` of two references to the next, ending in `false`.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

/// How many links the chain has: 2^17 subschemas for one non-integer.
const LINKS: usize = 17;

fn input_schema() -> String {
    let links: Vec<String> = (0..LINKS)
        .map(|i| {
            let next = format!(r##"{{"$ref": "#/$defs/d{}"}}"##, i + 1);
            format!(r#""d{i}": {{"anyOf": [{next}, {next}]}}"#)
        })
        .collect();
    format!(
        r##"{{"$defs": {{{}, "d{LINKS}": false}}, "type": "array", "items": {{"anyOf": [{{"type": "integer"}}, {{"$ref": "#/$defs/d0"}}]}}}}"##,
        links.join(", ")
    )
}

struct CostlySchema;

impl Guest for CostlySchema {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "costly-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Takes an array of integers, through a schema that costs about 2^19 evaluations per other value.".into(),
            input_schema: input_schema(),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Ok(input)
    }
}

weft_guest::export!(CostlySchema);
