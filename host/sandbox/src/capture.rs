//! Bounded capture of a guest's stdout and stderr.
//!
//! A guest never sees the host's own stdio. What it writes is kept up to a
//! cap; the rest is counted and dropped, and the capture is marked truncated.
//! Writing never fails and never blocks, so a flood cannot stall or trap the
//! guest: it only ends up truncated.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Largest write the guest is offered at once.
const WRITE_BUDGET: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: u64,
}

/// One bounded stream (stdout or stderr) of one run.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    cap: usize,
    buf: Arc<Mutex<Buffer>>,
}

/// What a guest wrote to one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Captured {
    /// What was kept, as text (invalid UTF-8 replaced).
    pub text: String,
    /// Bytes written past the cap and dropped.
    pub dropped_bytes: u64,
}

impl Captured {
    /// Whether anything was dropped.
    pub fn truncated(&self) -> bool {
        self.dropped_bytes > 0
    }

    /// The last `max` bytes of the text, on a character boundary.
    pub fn tail(&self, max: usize) -> &str {
        let t = self.text.trim_end();
        if t.len() <= max {
            return t;
        }
        let mut start = t.len() - max;
        while !t.is_char_boundary(start) {
            start += 1;
        }
        &t[start..]
    }
}

impl Capture {
    pub(crate) fn new(cap: u64) -> Capture {
        Capture { cap: usize::try_from(cap).unwrap_or(usize::MAX), buf: Arc::default() }
    }

    fn push(&self, bytes: &[u8]) {
        let mut b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.cap.saturating_sub(b.kept.len());
        let keep = room.min(bytes.len());
        b.kept.extend_from_slice(&bytes[..keep]);
        b.dropped += (bytes.len() - keep) as u64;
    }

    /// What was written so far.
    pub(crate) fn snapshot(&self) -> Captured {
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        Captured { text: String::from_utf8_lossy(&b.kept).into_owned(), dropped_bytes: b.dropped }
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_up_to_the_cap_and_counts_the_rest() {
        let mut c = Capture::new(10);
        c.write(Bytes::from_static(b"hello ")).unwrap();
        c.write(Bytes::from_static(b"world, again")).unwrap();
        let got = c.snapshot();
        assert_eq!(got.text, "hello worl");
        assert_eq!(got.dropped_bytes, 8);
        assert!(got.truncated());
        assert!(c.check_write().unwrap() > 0, "a full capture still accepts writes");
    }

    #[test]
    fn tail_respects_character_boundaries() {
        let c = Captured { text: "ééééé".into(), dropped_bytes: 0 };
        assert_eq!(c.tail(3), "é");
        assert_eq!(c.tail(100), "ééééé");
    }
}
