use weft_guest::SkillError;

#[weft_guest::skill(name = "nothing")]
fn run() -> Result<u64, SkillError> {
    Ok(1)
}

fn main() {}
