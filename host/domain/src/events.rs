//! A run is an append-only log of events. Everything else about a run — its
//! state, its report — is derived from the log by pure functions here.

use super::outcome::{Failure, OutcomeKind};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

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

/// Where a run stands, as its log says: finished as [`RunStatus`] says, or
/// still `running` (also a run whose process died, until it is resumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Its log has no end yet.
    Running,
    /// It finished and succeeded.
    Succeeded,
    /// It finished and failed.
    Failed,
}

impl RunState {
    /// The `snake_case` name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
        }
    }
}

impl From<RunStatus> for RunState {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Succeeded => RunState::Succeeded,
            RunStatus::Failed => RunState::Failed,
        }
    }
}

impl std::str::FromStr for RunState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "running" => Ok(RunState::Running),
            "succeeded" => Ok(RunState::Succeeded),
            "failed" => Ok(RunState::Failed),
            other => Err(format!("`{other}` is not a run status (running, succeeded, failed)")),
        }
    }
}

/// Compares with the JSON name (`"succeeded"`, ...).
impl PartialEq<&str> for RunState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a step stands in a report: finished as [`StepStatus`] says, still
/// `running` when the log ends before it did, or `cancelled` when the run
/// ended before it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// It produced its output.
    Succeeded,
    /// It failed for good, and the failure was escalated.
    Failed,
    /// It did not run, or failed and the run went on without it.
    Skipped,
    /// It failed for good and its fallback provided the output.
    Fallback,
    /// The log ends before it did.
    Running,
    /// The run ended before it did (a sibling escalated, or the deadline passed).
    Cancelled,
}

impl StepState {
    /// The `snake_case` name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Succeeded => "succeeded",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Fallback => "fallback",
            StepState::Running => "running",
            StepState::Cancelled => "cancelled",
        }
    }
}

impl From<StepStatus> for StepState {
    fn from(s: StepStatus) -> Self {
        match s {
            StepStatus::Succeeded => StepState::Succeeded,
            StepStatus::Failed => StepState::Failed,
            StepStatus::Skipped => StepState::Skipped,
            StepStatus::Fallback => StepState::Fallback,
        }
    }
}

/// Compares with the JSON name (`"succeeded"`, ...).
impl PartialEq<&str> for StepState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// A retry was scheduled after a backoff. It is recorded as the wait
    /// begins, so the retry is due at the record's `at_ms` plus `delay_ms`:
    /// a resumed run waits only what remains of it.
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
    pub status: StepState,
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
    pub status: RunState,
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
        let mut status = RunState::Running;
        let mut output = Value::Null;
        let mut error = None;
        let mut steps: IndexMap<String, StepAcc> = IndexMap::new();
        let last_at = log.last().map_or(0, |r| r.at_ms);
        for r in log {
            match &r.event {
                Event::RunStarted { workflow: w, .. } => workflow = w.clone(),
                Event::RunResumed { .. } => {
                    status = RunState::Running;
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
                    status = RunState::from(*s);
                    output = o.clone();
                    error = e.clone();
                }
            }
        }
        // A step that never finished in a run that did was cancelled (a
        // sibling escalated, or the deadline passed).
        let unfinished = if status == RunState::Running { StepState::Running } else { StepState::Cancelled };
        let steps = steps
            .into_iter()
            .map(|(path, a)| {
                let report = StepReport {
                    status: a.status.map_or(unfinished, StepState::from),
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

/// Where a step that was under way when its run's process stopped had got to.
#[derive(Debug, Clone, PartialEq)]
pub enum Underway {
    /// Attempt `attempt` had started (none had, when 0) and no failure of it
    /// was recorded: it runs again under the same number (at least once).
    Attempting {
        /// The attempt in flight.
        attempt: u32,
    },
    /// Attempt `attempt` failed, and whether to retry was not recorded yet.
    Failed {
        /// The attempt that failed.
        attempt: u32,
        /// How.
        failure: Failure,
    },
    /// Attempt `attempt` was scheduled to start at `due_ms`.
    Waiting {
        /// The attempt to make.
        attempt: u32,
        /// When the backoff ends, in ms since the Unix epoch.
        due_ms: u64,
    },
}

/// What a resumed run carries over from the lives it had since it last
/// ended: a crash does not reset its retries, its attempt budget or its
/// deadline. A run that ended (failed) and is resumed starts them afresh.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CarryOver {
    /// Steps that started and did not finish, by path, with their progress.
    pub underway: IndexMap<String, Underway>,
    /// Attempts started, counted against the run's attempt budget.
    pub attempts: u32,
    /// How long the earlier lives ran (from their first event to their
    /// last), counted against the run's deadline.
    pub elapsed_ms: u64,
}

/// Derives what a run resumed after `log` carries over; works on a log cut off anywhere.
pub fn carry_over(log: &[Record]) -> CarryOver {
    let mut c = CarryOver::default();
    let mut life: Option<(u64, u64)> = None; // (first, last) event of the current life
    for r in log {
        match &r.event {
            Event::RunStarted { .. } | Event::RunResumed { .. } => {
                if let Some((first, last)) = life.take() {
                    c.elapsed_ms += last.saturating_sub(first);
                }
                life = Some((r.at_ms, r.at_ms));
            }
            Event::RunFinished { .. } => {
                // A resume after the run ended is a new try: nothing carries over.
                c = CarryOver::default();
                life = None;
                continue;
            }
            Event::StepStarted { step } => {
                c.underway.entry(step.clone()).or_insert(Underway::Attempting { attempt: 0 });
            }
            Event::AttemptStarted { step, attempt } => {
                c.attempts += 1;
                c.underway.insert(step.clone(), Underway::Attempting { attempt: *attempt });
            }
            Event::AttemptFailed { step, attempt, failure } => {
                c.underway.insert(step.clone(), Underway::Failed { attempt: *attempt, failure: failure.clone() });
            }
            Event::RetryScheduled { step, attempt, delay_ms } => {
                let due_ms = r.at_ms.saturating_add(*delay_ms);
                c.underway.insert(step.clone(), Underway::Waiting { attempt: *attempt, due_ms });
            }
            Event::StepFinished { step, .. } => {
                c.underway.shift_remove(step);
            }
            Event::BreakerOpened { .. } | Event::BreakerRejected { .. } | Event::FallbackUsed { .. } => {}
        }
        if let Some((_, last)) = &mut life {
            *last = r.at_ms;
        }
    }
    if let Some((first, last)) = life {
        c.elapsed_ms += last.saturating_sub(first);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

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

    fn started(at: u64, step: &str) -> Record {
        rec(at, Event::StepStarted { step: step.into() })
    }

    fn attempt(at: u64, step: &str, attempt: u32) -> Record {
        rec(at, Event::AttemptStarted { step: step.into(), attempt })
    }

    fn failed(at: u64, step: &str, attempt: u32, failure: Failure) -> Record {
        rec(at, Event::AttemptFailed { step: step.into(), attempt, failure })
    }

    fn finished(at: u64, step: &str, status: StepStatus, output: Value, error: Option<Failure>) -> Record {
        rec(at, Event::StepFinished { step: step.into(), status, output, error })
    }

    fn permanent(message: &str) -> Failure {
        Failure::new(OutcomeKind::Permanent, message)
    }

    /// Three lives of one run. The first retries `fetch`, continues past a
    /// failed `opt`, and dies in a fan-out with `fan[0]` done and `fan[1]`
    /// waiting for its retry. The second resumes, finishes the fan-out, and
    /// fails in the second round of a loop while `slow` runs beside it (so
    /// `slow` is cancelled). The third resumes the failed run and dies while
    /// the loop's second round runs again.
    fn three_lives() -> Vec<Record> {
        let ok = |tag: &str| json!({ "tag": tag });
        vec![
            rec(0, Event::RunStarted { workflow: "w".into(), input: json!({"n": 1}) }),
            started(1, "fetch"),
            attempt(1, "fetch", 1),
            failed(5, "fetch", 1, transient("flaky")),
            rec(5, Event::RetryScheduled { step: "fetch".into(), attempt: 2, delay_ms: 100 }),
            attempt(105, "fetch", 2),
            finished(110, "fetch", StepStatus::Succeeded, ok("fetch"), None),
            started(111, "opt"),
            attempt(111, "opt", 1),
            failed(115, "opt", 1, permanent("not today")),
            finished(115, "opt", StepStatus::Skipped, Value::Null, Some(permanent("not today"))),
            started(120, "fan"),
            started(120, "fan[0]"),
            attempt(121, "fan[0]", 1),
            started(121, "fan[1]"),
            attempt(122, "fan[1]", 1),
            finished(130, "fan[0]", StepStatus::Succeeded, ok("x"), None),
            failed(131, "fan[1]", 1, transient("busy")),
            rec(131, Event::RetryScheduled { step: "fan[1]".into(), attempt: 2, delay_ms: 500 }),
            // The process dies here.
            rec(10_000, Event::RunResumed { forced: false }),
            started(10_001, "fan"),
            started(10_001, "fan[1]"),
            attempt(10_001, "fan[1]", 2),
            finished(10_010, "fan[1]", StepStatus::Succeeded, ok("y"), None),
            finished(10_010, "fan", StepStatus::Succeeded, json!([ok("x"), ok("y")]), None),
            started(10_011, "slow"),
            attempt(10_011, "slow", 1),
            started(10_011, "loop"),
            started(10_011, "loop#1.check"),
            attempt(10_011, "loop#1.check", 1),
            finished(10_015, "loop#1.check", StepStatus::Succeeded, json!({"ok": false}), None),
            started(10_016, "loop#2.check"),
            attempt(10_016, "loop#2.check", 1),
            failed(10_020, "loop#2.check", 1, permanent("broken")),
            finished(10_020, "loop#2.check", StepStatus::Failed, Value::Null, Some(permanent("broken"))),
            finished(10_021, "loop", StepStatus::Failed, Value::Null, Some(permanent("broken"))),
            rec(
                10_022,
                Event::RunFinished {
                    status: RunStatus::Failed,
                    output: Value::Null,
                    error: Some(RunError {
                        step: "loop#2.check".into(),
                        kind: OutcomeKind::Permanent,
                        message: "broken".into(),
                    }),
                },
            ),
            rec(20_000, Event::RunResumed { forced: false }),
            started(20_001, "slow"),
            attempt(20_001, "slow", 1),
            started(20_001, "loop"),
            started(20_002, "loop#2.check"),
            attempt(20_002, "loop#2.check", 1),
            // The process dies again.
        ]
    }

    /// What a log prefix says, worked out independently of the code under test.
    #[derive(Default)]
    struct Model {
        run_ended: bool,
        since_end: usize, // index of the first event after the last RunFinished
        started: BTreeMap<String, usize>,
        finished: BTreeMap<String, (usize, StepStatus, Value)>,
    }

    fn model(log: &[Record]) -> Model {
        let mut m = Model::default();
        for (i, r) in log.iter().enumerate() {
            match &r.event {
                Event::RunStarted { .. } | Event::RunResumed { .. } => m.run_ended = false,
                Event::RunFinished { .. } => (m.run_ended, m.since_end) = (true, i + 1),
                Event::StepStarted { step } => {
                    m.started.insert(step.clone(), i);
                }
                Event::StepFinished { step, status, output, .. } => {
                    m.finished.insert(step.clone(), (i, *status, output.clone()));
                }
                _ => {}
            }
        }
        m
    }

    #[test]
    fn every_cut_of_a_log_of_three_lives_derives_a_consistent_state() {
        let log = three_lives();
        for cut in 0..=log.len() {
            let part = &log[..cut];
            let (r, done, carry, m) =
                (Report::from_log("run-1", part), finished_steps(part), carry_over(part), model(part));
            // The run is running until its log ends with it finished; a resume makes it running again.
            assert_eq!(r.status == "running", !m.run_ended, "cut at {cut}");
            for (path, &started) in &m.started {
                let step = &r.steps[path];
                match m.finished.get(path) {
                    // Finished since it last started: the status it finished with.
                    Some((at, status, _)) if *at > started => {
                        assert_eq!(step.status, status.as_str(), "cut {cut} {path}")
                    }
                    // Not finished: running while the run is, cancelled once it has ended.
                    _ => {
                        let expected = if m.run_ended { "cancelled" } else { "running" };
                        assert_eq!(step.status, expected, "cut {cut} {path}");
                    }
                }
            }
            // Reused on resume: exactly the steps whose last end was not a failure, with their outputs.
            let reusable: BTreeMap<&String, &Value> = m
                .finished
                .iter()
                .filter(|(_, (_, s, _))| *s != StepStatus::Failed)
                .map(|(p, (_, _, o))| (p, o))
                .collect();
            let reused: BTreeMap<&String, &Value> = done.iter().map(|(p, (_, o, _))| (p, o)).collect();
            assert_eq!(reused, reusable, "cut at {cut}");
            for (path, step) in &r.steps {
                let final_ok = matches!(step.status.as_str(), "succeeded" | "fallback" | "skipped");
                assert_eq!(final_ok, done.contains_key(path), "cut {cut}: {path} is {}", step.status);
            }
            // Carried over: the steps started since the run last ended and not finished since.
            let underway: Vec<&String> = m
                .started
                .iter()
                .filter(|(p, s)| **s >= m.since_end && m.finished.get(*p).is_none_or(|(at, _, _)| at < s))
                .map(|(p, _)| p)
                .collect();
            let mut carried: Vec<&String> = carry.underway.keys().collect();
            carried.sort();
            assert_eq!(carried, underway, "cut at {cut}");
            let attempts =
                part[m.since_end..].iter().filter(|r| matches!(r.event, Event::AttemptStarted { .. })).count();
            assert_eq!(carry.attempts as usize, attempts, "cut at {cut}");
        }
    }

    #[test]
    fn a_failed_step_is_not_reused_and_a_resumed_run_reports_running_again() {
        let log = three_lives();
        let end_of_life_2 = log.iter().position(|r| matches!(r.event, Event::RunFinished { .. })).unwrap() + 1;
        let reusable = |part: &[Record]| finished_steps(part).into_keys().collect::<Vec<_>>();
        let expected = ["fetch", "opt", "fan[0]", "fan[1]", "fan", "loop#1.check"];
        assert_eq!(reusable(&log[..end_of_life_2]), expected, "neither the failed check nor its loop");
        assert_eq!(reusable(&log[..end_of_life_2 + 1]), expected, "resuming changes nothing that finished");
        assert_eq!(reusable(&log), expected);
        assert_eq!(finished_steps(&log)["opt"].2, Some(permanent("not today")), "a continued step keeps its error");

        let ended = Report::from_log("run-1", &log[..end_of_life_2]);
        assert_eq!((ended.status.as_str(), ended.steps["slow"].status.as_str()), ("failed", "cancelled"));
        assert_eq!(ended.error.as_ref().and_then(RunError::step_path), Some("loop#2.check"));
        let resumed = Report::from_log("run-1", &log[..end_of_life_2 + 1]);
        assert_eq!((resumed.status.as_str(), resumed.error.as_ref()), ("running", None));
        assert_eq!(resumed.steps["loop#2.check"].status, "failed", "until it starts again");
        let r = Report::from_log("run-1", &log);
        assert_eq!(r.steps["loop#2.check"].status, "running");
        assert_eq!(r.steps["fan[1]"].attempts, 2, "the attempt numbers go on across lives");
        assert_eq!(
            r.steps["opt"].recovery,
            [Recovery::Continued { kind: OutcomeKind::Permanent, message: "not today".into() }]
        );
    }

    #[test]
    fn a_crash_carries_over_retries_attempts_and_time_but_a_finished_run_starts_afresh() {
        let log = three_lives();
        let at = |pred: &dyn Fn(&Event) -> bool| log.iter().position(|r| pred(&r.event)).unwrap();
        let resumed = at(&|e| matches!(e, Event::RunResumed { .. }));

        // Died while fan[1] waited for its second attempt: due 500 ms after it was scheduled at 131.
        let c = carry_over(&log[..resumed]);
        assert_eq!(c.underway["fan[1]"], Underway::Waiting { attempt: 2, due_ms: 631 });
        assert_eq!(c.underway["fan"], Underway::Attempting { attempt: 0 }, "a fan-out has no attempts of its own");
        assert_eq!(c.underway.len(), 2);
        assert_eq!((c.attempts, c.elapsed_ms), (5, 131));
        // Died between a failure and the decision about it: decided on resume.
        let c = carry_over(&log[..resumed - 1]);
        assert_eq!(c.underway["fan[1]"], Underway::Failed { attempt: 1, failure: transient("busy") });
        // Died in the middle of an attempt: it runs again under its number.
        let c = carry_over(&log[..resumed - 2]);
        assert_eq!(c.underway["fan[1]"], Underway::Attempting { attempt: 1 });
        // Its re-announcement in the next life keeps where it had got to.
        let c = carry_over(&log[..resumed + 3]);
        assert_eq!(c.underway["fan[1]"], Underway::Waiting { attempt: 2, due_ms: 631 });
        // The second life's own time adds to the first's, and the gap between them does not count.
        let c = carry_over(&log[..resumed + 4]);
        assert_eq!((c.attempts, c.elapsed_ms), (6, 131 + 1));

        // The run ended (failed): resuming it is a new try with nothing carried over.
        let ended = at(&|e| matches!(e, Event::RunFinished { .. })) + 1;
        assert_eq!(carry_over(&log[..ended]), CarryOver::default());
        assert_eq!(carry_over(&log[..ended + 1]), CarryOver::default());
        // The third life counts only itself.
        let c = carry_over(&log);
        assert_eq!(c.underway.keys().collect::<Vec<_>>(), ["slow", "loop", "loop#2.check"]);
        assert_eq!(c.underway["loop#2.check"], Underway::Attempting { attempt: 1 });
        assert_eq!((c.attempts, c.elapsed_ms), (2, 2));
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
