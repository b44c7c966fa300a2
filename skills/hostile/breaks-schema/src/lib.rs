//! Hostile: declares an output schema, then returns output that breaks it.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

struct BreaksSchema;

impl Guest for BreaksSchema {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "breaks-schema".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Promises an integer `count`, returns a string.".into(),
            input_schema: "{}".into(),
            output_schema: r#"{"type":"object","properties":{"count":{"type":"integer"}},"required":["count"]}"#.into(),
        }
    }

    fn run(_input: String) -> Result<String, SkillError> {
        Ok(r#"{"count": "many"}"#.into())
    }
}

weft_guest::export!(BreaksSchema);
