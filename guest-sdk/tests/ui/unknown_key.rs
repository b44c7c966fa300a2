use weft_guest::SkillError;

#[weft_guest::skill(name = "echo", verison = "0.1.0")]
fn run(input: String) -> Result<String, SkillError> {
    Ok(input)
}

fn main() {}
