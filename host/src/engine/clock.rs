//! Time, injected: the engine asks a [`Clock`] for the time and for sleeps,
//! so tests of backoff and breakers run without waiting.

use futures::future::BoxFuture;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where the engine gets time from.
pub trait Clock: Send + Sync {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Milliseconds since the Unix epoch, for event records.
    fn wall_ms(&self) -> u64;
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// A clock whose sleeps return at once and move its time forward; it
/// remembers every sleep asked for.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    wall_start: u64,
    state: Mutex<(Duration, Vec<Duration>)>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            wall_start: SystemClock.wall_ms(),
            state: Mutex::new((Duration::ZERO, Vec::new())),
        }
    }
}

impl ManualClock {
    /// A clock whose wall time starts at `wall_ms` (ms since the Unix epoch),
    /// for tests that need to know what time events are recorded at.
    pub fn starting_at(wall_ms: u64) -> Self {
        ManualClock { wall_start: wall_ms, ..ManualClock::default() }
    }

    /// Every sleep asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    /// Moves time forward by `d` without a sleep.
    pub fn advance(&self, d: Duration) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0 += d;
    }

    fn elapsed(&self) -> Duration {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn wall_ms(&self) -> u64 {
        self.wall_start + self.elapsed().as_millis() as u64
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += d;
        s.1.push(d);
        Box::pin(async {})
    }
}
