//! Hostile: `describe` returns a description of 20 MiB, which the host must
//! refuse to keep, list or print.

use weft_guest::bindings::{Guest, SkillError, SkillInfo};

struct HugeDescribe;

impl Guest for HugeDescribe {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "huge-describe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "x".repeat(20 << 20),
            input_schema: "{}".into(),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Ok(input)
    }
}

weft_guest::export!(HugeDescribe);
