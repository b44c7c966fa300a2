use weft_guest::SkillError;

#[weft_guest::skill(name = "add")]
fn run(a: u64, b: u64) -> Result<u64, SkillError> {
    Ok(a + b)
}

fn main() {}
