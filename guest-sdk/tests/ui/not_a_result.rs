#[weft_guest::skill(name = "upper")]
fn run(input: String) -> String {
    input.to_uppercase()
}

fn main() {}
