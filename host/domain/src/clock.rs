//! Time, injected: whatever waits or stamps asks a [`Clock`] for the time
//! and for sleeps, so tests of deadlines, backoff and breakers run on a
//! [`ManualClock`] without waiting. The real clock lives with the runtime
//! that sleeps (`weft::engine::SystemClock`).

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
            wall_start: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
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
