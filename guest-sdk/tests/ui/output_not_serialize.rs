use weft_guest::SkillError;

#[derive(schemars::JsonSchema)]
struct Count {
    words: u64,
}

#[weft_guest::skill(name = "count")]
fn run(input: String) -> Result<Count, SkillError> {
    Ok(Count { words: input.split_whitespace().count() as u64 })
}

fn main() {}
