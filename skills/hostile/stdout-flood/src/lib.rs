//! Hostile: writes 8 MiB to stdout and 8 MiB to stderr in 64 KiB chunks, then
//! returns `{"written": 16777216}` (the bytes the host accepted).

use std::io::Write;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;
use weft_guest::SkillError;

const PER_STREAM: usize = 8 << 20;
const CHUNK: usize = 64 << 10;

#[derive(Serialize, JsonSchema)]
struct Written {
    /// Bytes written to stdout and stderr together.
    written: u64,
}

/// Writes up to `total` bytes in chunks; stops at the first error (a host that
/// closes the stream) instead of panicking like `print!` would.
fn flood(mut out: impl Write, chunk: &[u8], total: usize) -> usize {
    let mut written = 0;
    while written < total {
        let n = chunk.len().min(total - written);
        if out.write_all(&chunk[..n]).is_err() {
            break;
        }
        written += n;
    }
    let _ = out.flush();
    written
}

/// Floods stdout and stderr.
#[weft_guest::skill(name = "stdout-flood")]
fn run(_input: Value) -> Result<Written, SkillError> {
    let line = b"stdout-flood: the quick brown fox jumps over the lazy dog 0123456789\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(CHUNK).collect();
    let out = flood(std::io::stdout().lock(), &chunk, PER_STREAM);
    let err = flood(std::io::stderr().lock(), &chunk, PER_STREAM);
    Ok(Written { written: (out + err) as u64 })
}
