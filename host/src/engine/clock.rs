//! The real clock. The [`Clock`] trait and the [`ManualClock`] of tests are
//! in the domain crate ([`weft_domain::clock`]).

use futures::future::BoxFuture;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
pub use weft_domain::clock::{Clock, ManualClock};

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
