// A skill may implement the low-level `Guest` trait itself.
use weft_guest::bindings::{Guest, SkillError, SkillInfo};

struct Raw;

impl Guest for Raw {
    fn describe() -> SkillInfo {
        SkillInfo {
            name: "raw".into(),
            version: "0.1.0".into(),
            description: String::new(),
            input_schema: "{}".into(),
            output_schema: "{}".into(),
        }
    }

    fn run(input: String) -> Result<String, SkillError> {
        Err(weft_guest::SkillError::permanent(input).into())
    }
}

weft_guest::export!(Raw);

fn main() {}
