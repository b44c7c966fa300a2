//! Retry with exponential backoff and jitter: a pure schedule.
//!
//! Field names follow Temporal's retry policy (`initial_interval`,
//! `backoff_coefficient`, `max_interval`, `max_attempts`) so they read the
//! same to people who know it.

use super::OutcomeKind;
use super::quantity::Span;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How much randomness to add to a backoff delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Wait exactly the computed delay.
    None,
    /// Wait a uniformly random time between zero and the computed delay
    /// ("full jitter"), so retries from many runs do not stampede together.
    #[default]
    Full,
}

/// A complete retry policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included: 1 means no retry.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_interval: Duration,
    /// Each delay is the previous one times this.
    pub backoff_coefficient: f64,
    /// No delay is longer than this.
    pub max_interval: Duration,
    /// Randomness added to each delay.
    pub jitter: Jitter,
    /// Outcome kinds that are retried.
    pub retry_on: BTreeSet<OutcomeKind>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_interval: Duration::from_millis(200),
            backoff_coefficient: 2.0,
            max_interval: Duration::from_secs(30),
            jitter: Jitter::Full,
            retry_on: [OutcomeKind::Transient, OutcomeKind::Timeout].into(),
        }
    }
}

/// A retry policy as written in a spec: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included; 1 means no retry. Default: 1 (3 when a `retry` table is given).
    /// Example: `max_attempts = 3`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Delay before the second attempt. Default: `200ms`.
    /// Example: `initial_interval = "500ms"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_interval: Option<Span>,
    /// Each delay is the previous one times this (at least 1). Default: 2.0.
    /// Example: `backoff_coefficient = 1.5`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_coefficient: Option<f64>,
    /// No delay is longer than this. Default: `30s`.
    /// Example: `max_interval = "10s"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<Span>,
    /// `none` or `full` (a random delay between zero and the computed one). Default: `full`.
    /// Example: `jitter = "none"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// Outcome kinds that are retried. Default: `["transient", "timeout"]`. `invalid_input` is never retried.
    /// Example: `retry_on = ["transient", "timeout", "contract_violation"]`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<BTreeSet<OutcomeKind>>,
}

/// A retry spec that cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryError {
    /// `max_attempts = 0`.
    #[error("max_attempts must be at least 1 (1 means no retry)")]
    NoAttempts,
    /// A coefficient below 1 would shrink delays.
    #[error("backoff_coefficient must be at least 1.0, not {0}")]
    Coefficient(f64),
    /// `invalid_input` listed in `retry_on`.
    #[error("retry_on lists invalid_input, which is never retried: the same input fails the same way")]
    RetriesInvalidInput,
    /// The interval bounds are reversed.
    #[error("initial_interval is longer than max_interval")]
    Intervals,
}

impl RetrySpec {
    /// `self` with open fields taken from `lower`.
    pub fn or(&self, lower: &RetrySpec) -> RetrySpec {
        RetrySpec {
            max_attempts: self.max_attempts.or(lower.max_attempts),
            initial_interval: self.initial_interval.or(lower.initial_interval),
            backoff_coefficient: self.backoff_coefficient.or(lower.backoff_coefficient),
            max_interval: self.max_interval.or(lower.max_interval),
            jitter: self.jitter.or(lower.jitter),
            retry_on: self.retry_on.clone().or_else(|| lower.retry_on.clone()),
        }
    }

    /// The complete policy; a `retry` table without `max_attempts` means 3.
    pub fn resolve(&self) -> Result<RetryPolicy, RetryError> {
        let d = RetryPolicy::default();
        let p = RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(3),
            initial_interval: self.initial_interval.map_or(d.initial_interval, Span::get),
            backoff_coefficient: self.backoff_coefficient.unwrap_or(d.backoff_coefficient),
            max_interval: self.max_interval.map_or(d.max_interval, Span::get),
            jitter: self.jitter.unwrap_or(d.jitter),
            retry_on: self.retry_on.clone().unwrap_or(d.retry_on),
        };
        p.check()?;
        Ok(p)
    }
}

impl RetryPolicy {
    /// No retry at all.
    pub fn none() -> Self {
        RetryPolicy::default()
    }

    /// Checks the policy can work.
    pub fn check(&self) -> Result<(), RetryError> {
        if self.max_attempts == 0 {
            return Err(RetryError::NoAttempts);
        }
        if self.backoff_coefficient.is_nan() || self.backoff_coefficient < 1.0 {
            return Err(RetryError::Coefficient(self.backoff_coefficient));
        }
        if self.retry_on.contains(&OutcomeKind::InvalidInput) {
            return Err(RetryError::RetriesInvalidInput);
        }
        if self.initial_interval > self.max_interval {
            return Err(RetryError::Intervals);
        }
        Ok(())
    }

    /// Whether a failure of `kind` on attempt number `attempt` (1-based) is retried.
    pub fn retries(&self, kind: OutcomeKind, attempt: u32) -> bool {
        attempt < self.max_attempts && kind != OutcomeKind::InvalidInput && self.retry_on.contains(&kind)
    }

    /// The delay after failed attempt number `attempt` (1-based), before the
    /// next one. `unit` is a random number in `[0, 1)`, used for jitter, so
    /// the schedule is a pure function of its inputs.
    pub fn delay_after(&self, attempt: u32, unit: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let base = self.initial_interval.as_secs_f64() * self.backoff_coefficient.powi(exp);
        let capped = base.min(self.max_interval.as_secs_f64());
        let secs = match self.jitter {
            Jitter::None => capped,
            Jitter::Full => capped * unit.clamp(0.0, 1.0),
        };
        Duration::from_secs_f64(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: Jitter) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 6,
            initial_interval: Duration::from_millis(100),
            backoff_coefficient: 2.0,
            max_interval: Duration::from_millis(500),
            jitter,
            retry_on: [OutcomeKind::Transient].into(),
        }
    }

    #[test]
    fn delays_grow_by_the_coefficient_up_to_the_cap() {
        let p = policy(Jitter::None);
        let delays: Vec<u128> = (1..=5).map(|a| p.delay_after(a, 0.7).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn full_jitter_scales_the_delay_by_the_random_unit() {
        let p = policy(Jitter::Full);
        assert_eq!(p.delay_after(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.delay_after(3, 0.0), Duration::ZERO);
        assert!(p.delay_after(3, 0.999) < Duration::from_millis(400));
    }

    #[test]
    fn only_listed_kinds_are_retried_and_only_while_attempts_remain() {
        let p = policy(Jitter::None);
        assert!(p.retries(OutcomeKind::Transient, 1));
        assert!(p.retries(OutcomeKind::Transient, 5));
        assert!(!p.retries(OutcomeKind::Transient, 6), "the sixth attempt was the last");
        assert!(!p.retries(OutcomeKind::Permanent, 1));
    }

    #[test]
    fn invalid_input_is_never_retried() {
        let spec = RetrySpec { retry_on: Some([OutcomeKind::InvalidInput].into()), ..Default::default() };
        assert_eq!(spec.resolve().unwrap_err(), RetryError::RetriesInvalidInput);
        let mut p = policy(Jitter::None);
        p.retry_on.insert(OutcomeKind::InvalidInput);
        assert!(!p.retries(OutcomeKind::InvalidInput, 1));
    }

    #[test]
    fn a_retry_table_defaults_to_three_attempts_and_a_step_without_one_to_one() {
        assert_eq!(RetrySpec::default().resolve().unwrap().max_attempts, 3);
        assert_eq!(RetryPolicy::default().max_attempts, 1);
    }

    #[test]
    fn nonsense_policies_are_refused() {
        let zero = RetrySpec { max_attempts: Some(0), ..Default::default() };
        assert_eq!(zero.resolve().unwrap_err(), RetryError::NoAttempts);
        let shrink = RetrySpec { backoff_coefficient: Some(0.5), ..Default::default() };
        assert_eq!(shrink.resolve().unwrap_err(), RetryError::Coefficient(0.5));
    }

    #[test]
    fn step_settings_layer_over_workflow_defaults() {
        let workflow = RetrySpec { max_attempts: Some(5), jitter: Some(Jitter::None), ..Default::default() };
        let step = RetrySpec { max_attempts: Some(2), ..Default::default() };
        let p = step.or(&workflow).resolve().unwrap();
        assert_eq!((p.max_attempts, p.jitter), (2, Jitter::None));
    }
}
