use weft_guest::SkillError;

#[weft_guest::skill(name = "later")]
async fn run(input: String) -> Result<String, SkillError> {
    Ok(input)
}

fn main() {}
