//! A circuit breaker: a pure state machine over an injected clock.
//!
//! Closed, it counts consecutive failures; at the threshold it opens and
//! calls fail fast. After the cooldown it half-opens and lets one trial call
//! through: success closes it, failure opens it again.

use super::quantity::Span;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A breaker's settings as written in a spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerSpec {
    /// Consecutive failures that open the breaker.
    /// Example: `failure_threshold = 5`
    pub failure_threshold: u32,
    /// How long it stays open before letting a trial call through.
    /// Example: `cooldown = "30s"`
    pub cooldown: Span,
}

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls pass; `failures` consecutive failures so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When it half-opens.
        until: Instant,
    },
    /// One trial call is in flight; others fail fast.
    HalfOpen,
}

/// What the breaker says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Make the call.
    Allow,
    /// Make the call as the half-open trial.
    Trial,
    /// Do not call; fail fast (the breaker opened, or a trial is in flight).
    Reject {
        /// When a call may next be tried, if known.
        retry_at: Option<Instant>,
    },
}

/// What changed when a result was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing visible changed.
    None,
    /// The breaker opened.
    Opened,
    /// The breaker closed again after a successful trial.
    Closed,
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: BreakerState,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(spec: BreakerSpec) -> Breaker {
        Breaker {
            threshold: spec.failure_threshold.max(1),
            cooldown: spec.cooldown.get(),
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// Where it stands.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to make a call at `now`.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            BreakerState::Closed { .. } => Admission::Allow,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                Admission::Trial
            }
            BreakerState::Open { until } => Admission::Reject { retry_at: Some(until) },
            BreakerState::HalfOpen => Admission::Reject { retry_at: None },
        }
    }

    /// Records a successful call.
    pub fn succeeded(&mut self) -> Transition {
        let was_open = !matches!(self.state, BreakerState::Closed { .. });
        self.state = BreakerState::Closed { failures: 0 };
        if was_open { Transition::Closed } else { Transition::None }
    }

    /// Records a failed call at `now`.
    pub fn failed(&mut self, now: Instant) -> Transition {
        match self.state {
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                self.state = BreakerState::Closed { failures: failures + 1 };
                Transition::None
            }
            BreakerState::Open { .. } => Transition::None,
            _ => {
                self.state = BreakerState::Open { until: now + self.cooldown };
                Transition::Opened
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSpec { failure_threshold: 3, cooldown: Span(Duration::from_secs(10)) })
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert_eq!(b.failed(t0), Transition::None);
        assert_eq!(b.failed(t0), Transition::None);
        assert_eq!(b.failed(t0), Transition::Opened);
        assert_eq!(
            b.admit(t0 + Duration::from_secs(1)),
            Admission::Reject { retry_at: Some(t0 + Duration::from_secs(10)) }
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.failed(t0);
        b.failed(t0);
        b.succeeded();
        assert_eq!(b.failed(t0), Transition::None, "the count started over");
        assert_eq!(b.state(), BreakerState::Closed { failures: 1 });
    }

    #[test]
    fn half_opens_after_the_cooldown_and_a_good_trial_closes_it() {
        let t0 = Instant::now();
        let mut b = breaker();
        (0..3).for_each(|_| {
            b.failed(t0);
        });
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admission::Trial);
        assert_eq!(b.admit(later), Admission::Reject { retry_at: None }, "one trial at a time");
        assert_eq!(b.succeeded(), Transition::Closed);
        assert_eq!(b.admit(later), Admission::Allow);
    }

    #[test]
    fn a_failed_trial_opens_it_for_another_cooldown() {
        let t0 = Instant::now();
        let mut b = breaker();
        (0..3).for_each(|_| {
            b.failed(t0);
        });
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.admit(later), Admission::Trial);
        assert_eq!(b.failed(later), Transition::Opened);
        assert_eq!(b.state(), BreakerState::Open { until: later + Duration::from_secs(10) });
    }
}
