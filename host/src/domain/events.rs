//! A run is an append-only log of events. Everything else about a run — its
//! state, its report — is derived from the log by pure functions here.

use super::outcome::{Failure, OutcomeKind};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// It produced its output.
    Succeeded,
    /// It failed for good, and the failure was escalated.
    Failed,
    /// It did not run (`when` was false), or it failed and `on_failure = "continue"` let the run go on.
    Skipped,
    /// It failed for good and its fallback provided the output.
    Fallback,
}

impl StepStatus {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::Fallback => "fallback",
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every step that had to succeed did, and the output was built.
    Succeeded,
    /// A step failed for good and escalated, or a run-wide limit was hit.
    Failed,
}

/// Where a fallback's output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FallbackSource {
    /// A static value in the spec.
    Value,
    /// Another skill, given the same input.
    Skill,
}

/// The error a failed run reports: which step, what kind, what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunError {
    /// Path of the step that failed; empty for a run-wide failure (the run's
    /// input or output breaking its schema, the deadline passing with no step
    /// running, the journal failing), which JSON shows as `null`.
    #[serde(with = "run_wide")]
    #[schemars(with = "Option<String>")]
    pub step: String,
    /// The outcome kind.
    pub kind: OutcomeKind,
    /// What happened.
    pub message: String,
}

impl RunError {
    /// The path of the step that failed, or `None` for a run-wide failure.
    pub fn step_path(&self) -> Option<&str> {
        (!self.step.is_empty()).then_some(self.step.as_str())
    }
}

/// `RunError::step` in JSON: `null` for a run-wide failure (an empty path).
/// An empty string, as older journals recorded it, reads back the same.
mod run_wide {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(step: &str, s: S) -> Result<S::Ok, S::Error> {
        if step.is_empty() { s.serialize_none() } else { s.serialize_some(step) }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
    }
}

/// Something that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The run was created.
    RunStarted {
        /// The workflow's name.
        workflow: String,
        /// The run's input.
        input: Value,
    },
    /// The run was picked up again after its process stopped (or after it failed).
    RunResumed {
        /// Whether a changed spec or skill was accepted with `--force`.
        forced: bool,
    },
    /// A step (or one element of a fan-out, or a step inside a group) began.
    StepStarted {
        /// Its path, such as `fetch`, `docs[2]` or `docs[2]#1.validate`.
        step: String,
    },
    /// An attempt of a step began.
    AttemptStarted {
        /// The step's path.
        step: String,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// An attempt failed.
    AttemptFailed {
        /// The step's path.
        step: String,
        /// 1-based attempt number.
        attempt: u32,
        /// The failure.
        failure: Failure,
    },
    /// A retry was scheduled after a backoff.
    RetryScheduled {
        /// The step's path.
        step: String,
        /// The attempt that will run after the wait.
        attempt: u32,
        /// The wait, in milliseconds.
        delay_ms: u64,
    },
    /// A circuit breaker opened for a skill.
    BreakerOpened {
        /// The step whose failure opened it.
        step: String,
        /// The skill it guards.
        skill: String,
    },
    /// A call was refused because the skill's breaker is open.
    BreakerRejected {
        /// The step's path.
        step: String,
        /// The skill.
        skill: String,
    },
    /// A fallback provided the output of a step that failed for good.
    FallbackUsed {
        /// The step's path.
        step: String,
        /// Where the output came from.
        source: FallbackSource,
    },
    /// A step ended.
    StepFinished {
        /// Its path.
        step: String,
        /// How it ended.
        status: StepStatus,
        /// Its output (`null` when skipped or failed).
        output: Value,
        /// Why it failed, when it did (also for `skipped` after `on_failure = "continue"`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<Failure>,
    },
    /// The run ended.
    RunFinished {
        /// How.
        status: RunStatus,
        /// Its output (`null` when it failed).
        output: Value,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<RunError>,
    },
}

/// An event with the time it was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// One recovery action taken for a step, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Recovery {
    /// Attempt `attempt` failed with `kind` and was retried after `delay_ms`.
    Retry {
        /// The attempt that failed.
        attempt: u32,
        /// How it failed.
        kind: OutcomeKind,
        /// The failure's message.
        message: String,
        /// The backoff before the next attempt.
        delay_ms: u64,
    },
    /// The skill's circuit breaker opened after this step's failure.
    BreakerOpened {
        /// The skill.
        skill: String,
    },
    /// A call was refused by an open breaker.
    BreakerRejected {
        /// The skill.
        skill: String,
    },
    /// The fallback gave the output.
    Fallback {
        /// From where.
        source: FallbackSource,
    },
    /// The step failed for good and the run went on without it.
    Continued {
        /// How it failed.
        kind: OutcomeKind,
        /// The failure's message.
        message: String,
    },
}

/// One step's line in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepReport {
    /// `succeeded`, `failed`, `skipped`, `fallback`; `running` if the log ends
    /// before it did, `cancelled` if the run ended before it did.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Recovery actions, in order.
    pub recovery: Vec<Recovery>,
    /// From start to end (to the last event if it has not ended).
    pub duration_ms: u64,
    /// The failure, when it failed or was skipped after failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// What happened in a run, derived from its log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Report {
    /// The run's id.
    pub run_id: String,
    /// The workflow's name.
    pub workflow: String,
    /// `succeeded`, `failed`, or `running` if the log has no end yet.
    pub status: String,
    /// The output (`null` unless it succeeded).
    pub output: Value,
    /// Why it failed.
    pub error: Option<RunError>,
    /// Each step by path, in the order they started.
    pub steps: IndexMap<String, StepReport>,
}

#[derive(Default)]
struct StepAcc {
    started: u64,
    ended: Option<u64>,
    status: Option<StepStatus>,
    attempts: u32,
    recovery: Vec<Recovery>,
    error: Option<Failure>,
    last_failure: Option<(u32, Failure)>,
}

impl Report {
    /// Derives the report of run `run_id` from its log; works on a log cut off anywhere.
    pub fn from_log(run_id: &str, log: &[Record]) -> Report {
        let mut workflow = String::new();
        let mut status = "running".to_string();
        let mut output = Value::Null;
        let mut error = None;
        let mut steps: IndexMap<String, StepAcc> = IndexMap::new();
        let last_at = log.last().map_or(0, |r| r.at_ms);
        for r in log {
            match &r.event {
                Event::RunStarted { workflow: w, .. } => workflow = w.clone(),
                Event::RunResumed { .. } => {
                    status = "running".to_string();
                    output = Value::Null;
                    error = None;
                }
                Event::StepStarted { step } => {
                    steps.insert(step.clone(), StepAcc { started: r.at_ms, ..StepAcc::default() });
                }
                Event::AttemptStarted { step, attempt } => {
                    steps.entry(step.clone()).or_default().attempts = *attempt;
                }
                Event::AttemptFailed { step, attempt, failure } => {
                    steps.entry(step.clone()).or_default().last_failure = Some((*attempt, failure.clone()));
                }
                Event::RetryScheduled { step, delay_ms, .. } => {
                    let acc = steps.entry(step.clone()).or_default();
                    if let Some((attempt, f)) = acc.last_failure.take() {
                        acc.recovery.push(Recovery::Retry {
                            attempt,
                            kind: f.kind,
                            message: f.message,
                            delay_ms: *delay_ms,
                        });
                    }
                }
                Event::BreakerOpened { step, skill } => {
                    steps
                        .entry(step.clone())
                        .or_default()
                        .recovery
                        .push(Recovery::BreakerOpened { skill: skill.clone() });
                }
                Event::BreakerRejected { step, skill } => {
                    steps
                        .entry(step.clone())
                        .or_default()
                        .recovery
                        .push(Recovery::BreakerRejected { skill: skill.clone() });
                }
                Event::FallbackUsed { step, source } => {
                    steps.entry(step.clone()).or_default().recovery.push(Recovery::Fallback { source: *source });
                }
                Event::StepFinished { step, status, error, .. } => {
                    let acc = steps.entry(step.clone()).or_default();
                    acc.ended = Some(r.at_ms);
                    acc.status = Some(*status);
                    acc.error = error.clone();
                    if *status == StepStatus::Skipped
                        && let Some(f) = error
                    {
                        acc.recovery.push(Recovery::Continued { kind: f.kind, message: f.message.clone() });
                    }
                }
                Event::RunFinished { status: s, output: o, error: e } => {
                    status = match s {
                        RunStatus::Succeeded => "succeeded",
                        RunStatus::Failed => "failed",
                    }
                    .to_string();
                    output = o.clone();
                    error = e.clone();
                }
            }
        }
        // A step that never finished in a run that did was cancelled (a
        // sibling escalated, or the deadline passed).
        let unfinished = if status == "running" { "running" } else { "cancelled" };
        let steps = steps
            .into_iter()
            .map(|(path, a)| {
                let report = StepReport {
                    status: a.status.map_or(unfinished, StepStatus::as_str).to_string(),
                    attempts: a.attempts,
                    recovery: a.recovery,
                    duration_ms: a.ended.unwrap_or(last_at).saturating_sub(a.started),
                    error: a.error,
                };
                (path, report)
            })
            .collect();
        Report { run_id: run_id.to_string(), workflow, status, output, error, steps }
    }
}

/// What a resumed run may reuse: every step that finished without failing,
/// with its result. Failed steps (and so the groups and fan-outs around
/// them) run again.
pub fn finished_steps(log: &[Record]) -> IndexMap<String, (StepStatus, Value, Option<Failure>)> {
    let mut out = IndexMap::new();
    for r in log {
        if let Event::StepFinished { step, status, output, error } = &r.event {
            if *status == StepStatus::Failed {
                out.shift_remove(step);
            } else {
                out.insert(step.clone(), (*status, output.clone(), error.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(at_ms: u64, event: Event) -> Record {
        Record { at_ms, event }
    }

    fn transient(message: &str) -> Failure {
        Failure::new(OutcomeKind::Transient, message)
    }

    fn sample() -> Vec<Record> {
        vec![
            rec(0, Event::RunStarted { workflow: "w".into(), input: json!({}) }),
            rec(1, Event::StepStarted { step: "fetch".into() }),
            rec(1, Event::AttemptStarted { step: "fetch".into(), attempt: 1 }),
            rec(5, Event::AttemptFailed { step: "fetch".into(), attempt: 1, failure: transient("flaky") }),
            rec(5, Event::RetryScheduled { step: "fetch".into(), attempt: 2, delay_ms: 100 }),
            rec(105, Event::AttemptStarted { step: "fetch".into(), attempt: 2 }),
            rec(
                110,
                Event::StepFinished {
                    step: "fetch".into(),
                    status: StepStatus::Succeeded,
                    output: json!({"body": "x"}),
                    error: None,
                },
            ),
            rec(111, Event::StepStarted { step: "docs".into() }),
            rec(111, Event::AttemptStarted { step: "docs".into(), attempt: 1 }),
            rec(115, Event::AttemptFailed { step: "docs".into(), attempt: 1, failure: transient("down") }),
            rec(115, Event::FallbackUsed { step: "docs".into(), source: FallbackSource::Value }),
            rec(
                115,
                Event::StepFinished {
                    step: "docs".into(),
                    status: StepStatus::Fallback,
                    output: json!(""),
                    error: Some(transient("down")),
                },
            ),
            rec(120, Event::RunFinished { status: RunStatus::Succeeded, output: json!({"ok": true}), error: None }),
        ]
    }

    #[test]
    fn the_report_shows_retries_fallbacks_and_durations() {
        let r = Report::from_log("run-1", &sample());
        assert_eq!(r.status, "succeeded");
        assert_eq!(r.output, json!({"ok": true}));
        let fetch = &r.steps["fetch"];
        assert_eq!((fetch.status.as_str(), fetch.attempts, fetch.duration_ms), ("succeeded", 2, 109));
        assert_eq!(
            fetch.recovery,
            [Recovery::Retry { attempt: 1, kind: OutcomeKind::Transient, message: "flaky".into(), delay_ms: 100 }]
        );
        assert_eq!(r.steps["docs"].recovery, [Recovery::Fallback { source: FallbackSource::Value }]);
    }

    #[test]
    fn a_log_cut_off_at_any_event_still_derives_a_consistent_state() {
        let log = sample();
        for cut in 0..=log.len() {
            let part = &log[..cut];
            let r = Report::from_log("run-1", part);
            let done = finished_steps(part);
            let finished_run = part.iter().any(|e| matches!(e.event, Event::RunFinished { .. }));
            assert_eq!(r.status == "running", !finished_run, "cut at {cut}");
            for (path, step) in &r.steps {
                assert_eq!(step.status != "running", done.contains_key(path), "cut at {cut}, step {path}");
            }
            // Only finished steps can be reused on resume, and each with the output it recorded.
            if cut >= 7 {
                assert_eq!(done["fetch"].1, json!({"body": "x"}));
            } else {
                assert!(!done.contains_key("fetch"), "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_run_wide_failure_names_no_step() {
        let wide = RunError { step: String::new(), kind: OutcomeKind::InvalidInput, message: "bad input".into() };
        let v = serde_json::to_value(&wide).unwrap();
        assert_eq!(v, json!({"step": null, "kind": "invalid_input", "message": "bad input"}));
        assert_eq!(serde_json::from_value::<RunError>(v).unwrap(), wide);
        assert_eq!(wide.step_path(), None);
        // Journals written before `null` recorded an empty string; it reads back the same.
        let old: RunError = serde_json::from_value(json!({"step": "", "kind": "timeout", "message": "late"})).unwrap();
        assert_eq!(old.step_path(), None);
        let at_step = RunError { step: "fetch".into(), ..wide };
        assert_eq!(serde_json::to_value(&at_step).unwrap()["step"], json!("fetch"));
        assert_eq!(at_step.step_path(), Some("fetch"));
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let r = rec(7, Event::StepStarted { step: "a".into() });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v, json!({"at_ms": 7, "type": "step_started", "step": "a"}));
        assert_eq!(serde_json::from_value::<Record>(v).unwrap(), r);
    }
}
