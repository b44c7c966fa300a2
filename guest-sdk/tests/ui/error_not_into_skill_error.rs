struct MyError;

#[weft_guest::skill(name = "fails")]
fn run(input: String) -> Result<String, MyError> {
    let _ = input;
    Err(MyError)
}

fn main() {}
