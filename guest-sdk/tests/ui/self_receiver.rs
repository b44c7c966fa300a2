use weft_guest::SkillError;

struct Counter;

impl Counter {
    #[weft_guest::skill(name = "counter")]
    fn run(&self, input: u64) -> Result<u64, SkillError> {
        Ok(input)
    }
}

fn main() {}
