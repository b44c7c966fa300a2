//! Counts the words, lines and characters of a text.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_guest::SkillError;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Text {
    /// The text to count.
    text: String,
}

#[derive(Serialize, JsonSchema)]
struct Count {
    /// Runs of non-whitespace characters.
    words: u64,
    /// Lines, as `str::lines` counts them (a final line break opens no new line).
    lines: u64,
    /// Unicode scalar values.
    chars: u64,
}

/// Counts the words, lines and characters of a text.
#[weft_guest::skill(name = "word-count", version = "0.1.0")]
fn run(input: Text) -> Result<Count, SkillError> {
    let count = Count {
        words: input.text.split_whitespace().count() as u64,
        lines: input.text.lines().count() as u64,
        chars: input.text.chars().count() as u64,
    };
    weft_guest::info!("counted {} words, {} lines, {} chars", count.words, count.lines, count.chars);
    Ok(count)
}
