//! Hostile: declares an input schema nested 100,000 levels deep
//! (`{"not": {"not": ...}}`), to overflow the host's stack while it parses,
//! compiles or drops the schema.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

const DEPTH: usize = 100_000;

struct DeepSchema;

impl Guest for DeepSchema {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "deep-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Declares a schema nested 100,000 levels deep.".into(),
            input_schema: format!("{}true{}", "{\"not\": ".repeat(DEPTH), "}".repeat(DEPTH)),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Ok(input)
    }
}

weft_guest::export!(DeepSchema);
