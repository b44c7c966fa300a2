// Name and version default to the crate's; any `Into<SkillError>` error
// works; a `Result` alias is fine; `serde_json::Value` accepts any JSON.

type Result<T> = std::result::Result<T, std::io::Error>;

#[weft_guest::skill(description = "Echoes its input.")]
pub fn echo(input: serde_json::Value) -> Result<serde_json::Value> {
    Ok(input)
}

fn main() {}
