#[weft_guest::skill(name = "quiet")]
fn run(input: String) {
    let _ = input;
}

fn main() {}
