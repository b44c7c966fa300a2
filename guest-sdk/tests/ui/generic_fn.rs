use weft_guest::SkillError;

#[weft_guest::skill(name = "any")]
fn run<T: serde::de::DeserializeOwned>(input: T) -> Result<u8, SkillError> {
    let _ = input;
    Ok(0)
}

fn main() {}
