//! Hostile: declares an input schema that compiles in milliseconds but
//! whose checking takes exponential time: 40 `$defs`, each an `anyOf` of two
//! references to the next, the last one `false`. Checking any input against
//! it would visit 2^40 subschemas on a host thread, with no deadline.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

/// How many links the chain has.
const LINKS: usize = 40;

/// `{"$defs": {"d0": {"anyOf": [{"$ref": "#/$defs/d1"}, {"$ref": "#/$defs/d1"}]}, ...,
/// "d40": false}, "$ref": "#/$defs/d0"}`.
fn input_schema() -> String {
    let links: Vec<String> = (0..LINKS)
        .map(|i| {
            let next = format!(r##"{{"$ref": "#/$defs/d{}"}}"##, i + 1);
            format!(r#""d{i}": {{"anyOf": [{next}, {next}]}}"#)
        })
        .collect();
    format!(r##"{{"$defs": {{{}, "d{LINKS}": false}}, "$ref": "#/$defs/d0"}}"##, links.join(", "))
}

struct ExponentialSchema;

impl Guest for ExponentialSchema {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "exponential-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Declares an input schema whose checking takes 2^40 steps.".into(),
            input_schema: input_schema(),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Ok(input)
    }
}

weft_guest::export!(ExponentialSchema);
