//! Everything the command line writes, in one place.
//!
//! - [`outln!`] writes a line for a person to stdout, and [`json_line`] one
//!   JSON document (`--json`), exactly as serialised. A closed stdout (`weft
//!   runs --json | head -1`) is not a crash: the write returns
//!   [`StdoutError`], and `main` ends quietly with [`CLOSED_STDOUT`].
//! - [`errln!`] writes a line for a person to stderr; if stderr is closed
//!   there is nobody left to tell, and the line is dropped.
//! - Text for a person goes through [`safe`]: what a guest wrote (its output,
//!   logs, error messages, skill names) may hold terminal control sequences
//!   that clear the screen, set the title or write the clipboard (OSC 52).
//!   Every control character but newline and tab is shown escaped, as
//!   `\u{1b}`; so are the bidirectional overrides that reorder what a line
//!   seems to say. [`indented`] also indents the continuation lines of a
//!   guest's multi-line text, so it cannot pass for a line weft printed.
//!   `--json` output is never changed.

use std::fmt::{self, Write as _};
use std::io::Write;

/// The exit code when stdout is closed before weft has written everything
/// (128 + SIGPIPE, what a shell reports for a tool a closed pipe stopped).
pub(crate) const CLOSED_STDOUT: u8 = 141;

/// Writing to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout: {0}")]
pub(crate) struct StdoutError(#[source] pub(crate) std::io::Error);

impl StdoutError {
    /// Whether the reader went away (a closed pipe), which ends weft quietly.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes `text` and a newline to stdout, flushed.
fn write_stdout(text: &str) -> Result<(), StdoutError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes()).and_then(|()| o.write_all(b"\n")).and_then(|()| o.flush()).map_err(StdoutError)
}

/// Writes one line for a person to stdout, control characters escaped.
pub(crate) fn line(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let text = args.to_string();
    write_stdout(&safe(&text))
}

/// Writes one line for a person to stderr, control characters escaped; a
/// closed stderr drops it.
pub(crate) fn err_line(args: fmt::Arguments<'_>) {
    let text = args.to_string();
    let text = safe(&text);
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes()).and_then(|()| e.write_all(b"\n"));
}

/// Writes `value` to stdout as one line of JSON, exactly as serialised.
pub(crate) fn json_line(value: &impl serde::Serialize) -> Result<(), StdoutError> {
    let text = serde_json::to_string(value).map_err(|e| StdoutError(std::io::Error::other(e)))?;
    write_stdout(&text)
}

/// Writes `value` to stdout as indented JSON for a person to read: still
/// valid JSON with the same value, but the characters [`safe`] escapes are
/// written as `\uXXXX` escapes.
pub(crate) fn json_pretty(value: &impl serde::Serialize) -> Result<(), StdoutError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| StdoutError(std::io::Error::other(e)))?;
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if needs_escape(c) && c != '\n' {
            // Raw control characters below 0x20 cannot occur inside a JSON
            // string; those outside strings are the layout's newlines.
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(shown, "\\u{u:04x}");
            }
        } else {
            shown.push(c);
        }
    }
    write_stdout(&shown)
}

/// Writes a line for a person to stdout (see the module docs); returns
/// `Result<(), StdoutError>`.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::out::line(format_args!($($arg)*)) };
}

/// Writes a line for a person to stderr (see the module docs).
macro_rules! errln {
    () => { $crate::cli::out::err_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::cli::out::err_line(format_args!($($arg)*)) };
}

/// Whether `c` is shown escaped: C0 controls (newline and tab excepted), DEL,
/// C1 controls, and the Unicode bidirectional embeddings, overrides and
/// isolates.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every character that could drive a terminal shown as
/// `\u{XX}`, and a carriage return as `\r`. Newlines and tabs stay.
pub(crate) fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Guest text for a person: [`safe`], with every line after the first
/// indented by `indent`, so that none of it starts where weft's own lines do.
pub(crate) fn indented(text: &str, indent: &str) -> String {
    let safe = safe(text);
    let mut lines = safe.split('\n');
    let mut out = lines.next().unwrap_or_default().to_string();
    for l in lines {
        out.push('\n');
        out.push_str(indent);
        out.push_str(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_shown_escaped() {
        assert_eq!(safe("\u{1b}[2J\u{1b}]0;title\u{7}"), "\\u{1b}[2J\\u{1b}]0;title\\u{7}");
        assert_eq!(safe("osc52 \u{1b}]52;c;aGk=\u{9c} done"), "osc52 \\u{1b}]52;c;aGk=\\u{9c} done");
        assert_eq!(safe("back\roverwrite"), "back\\roverwrite");
        assert_eq!(safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(safe("del\u{7f} csi\u{9b}"), "del\\u{7f} csi\\u{9b}");
    }

    #[test]
    fn plain_text_newlines_and_tabs_are_kept() {
        assert!(matches!(safe("a plain line\twith a tab\nand a second"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(safe("héllo wörld ✓"), "héllo wörld ✓");
    }

    #[test]
    fn guest_lines_after_the_first_are_indented() {
        assert_eq!(indented("boom\nok in 1 ms", "    "), "boom\n    ok in 1 ms");
        assert_eq!(indented("one line", "  "), "one line");
    }
}
