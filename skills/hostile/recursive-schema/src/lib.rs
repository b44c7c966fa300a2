//! Hostile: declares schemas that refer to themselves (`{"$ref": "#"}`, also
//! under `unevaluatedProperties`, `anyOf` and `properties`) and nest about as
//! deep as JSON text may, to make the host's schema compiler or validator
//! recurse without end. `run` returns its input, so both schemas are applied.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

/// How deep the output schema nests `items` (the host parses JSON text up to
/// 128 levels deep).
const DEPTH: usize = 100;

/// Objects whose properties are such objects, and `child` in particular.
const INPUT_SCHEMA: &str = r##"{
    "$ref": "#",
    "type": "object",
    "unevaluatedProperties": {"$ref": "#"},
    "properties": {"child": {"$ref": "#"}},
    "anyOf": [{"$ref": "#"}, {"$ref": "#/properties/child"}]
}"##;

/// The input schema again, plus `items` nested [`DEPTH`] levels deep
/// (`{"items": {"items": ... {"$ref": "#"}}}`) under `$defs`.
fn output_schema() -> String {
    let deep = format!("{}{{\"$ref\": \"#\"}}{}", "{\"items\": ".repeat(DEPTH), "}".repeat(DEPTH));
    format!(
        r##"{{"$defs": {{"deep": {deep}}}, "$ref": "#", "unevaluatedProperties": {{"$ref": "#"}},
            "properties": {{"deep": {{"$ref": "#/$defs/deep"}}}}}}"##
    )
}

struct RecursiveSchema;

impl Guest for RecursiveSchema {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "recursive-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Declares self-referencing, deeply nested schemas; returns its input.".into(),
            input_schema: INPUT_SCHEMA.into(),
            output_schema: output_schema(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Ok(input)
    }
}

weft_guest::export!(RecursiveSchema);
