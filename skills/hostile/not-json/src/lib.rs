//! Hostile: `run` succeeds with text that is not JSON.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

struct NotJson;

impl Guest for NotJson {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "not-json".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns text that is not JSON.".into(),
            input_schema: "{}".into(),
            output_schema: "{}".into(),
        }
    }

    fn run(_input: String) -> Result<String, SkillError> {
        Ok("this is not json".into())
    }
}

weft_guest::export!(NotJson);
