use weft_guest::{skill, SkillError};

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Count {
    words: u64,
}

/// Counts the words of a text.
///
/// Words are separated by whitespace.
#[skill(name = "word-count", version = "0.1.0")]
fn count_words(input: Text) -> Result<Count, SkillError> {
    weft_guest::info!("counting {} bytes", input.text.len());
    Ok(Count { words: input.text.split_whitespace().count() as u64 })
}

fn main() {
    // The function is kept as written and can be called (and tested) natively.
    let count = count_words(Text { text: "a b c".into() }).unwrap();
    assert_eq!(count.words, 3);
}
