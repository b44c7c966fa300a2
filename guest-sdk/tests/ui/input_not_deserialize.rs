use weft_guest::SkillError;

#[derive(schemars::JsonSchema)]
struct Text {
    text: String,
}

#[weft_guest::skill(name = "len")]
fn run(input: Text) -> Result<usize, SkillError> {
    Ok(input.text.len())
}

fn main() {}
