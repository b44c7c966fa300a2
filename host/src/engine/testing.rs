//! The executable testing plan: `weft test` runs each scenario of a spec in
//! isolation, with its faults injected, and judges the run's report against
//! what the scenario expects.

use super::clock::Clock;
use super::plan::Workflow;
use super::run::{Executor, Fault, MemorySink, RunRequest};
use crate::domain::OutcomeKind;
use crate::domain::events::{Recovery, Report, RunStatus};
use crate::domain::spec::{ExpectSpec, ScenarioSpec};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one scenario went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// Whether every expectation held.
    pub passed: bool,
    /// What did not hold, one sentence each.
    pub problems: Vec<String>,
    /// How long it took.
    pub duration_ms: u64,
    /// The run's report.
    pub report: Report,
}

/// The placeholders a scenario's input may use, and what they stand for.
pub struct Placeholders<'a> {
    /// `{spec_dir}`: the spec file's directory.
    pub spec_dir: &'a str,
    /// `{scenario_dir}`: an empty directory of the scenario's own, removed after it.
    pub scenario_dir: &'a str,
}

/// The scenario's input, with `{spec_dir}` and `{scenario_dir}` replaced in every string.
pub fn scenario_input(v: &Value, p: &Placeholders<'_>) -> Value {
    match v {
        Value::String(s) => {
            Value::String(s.replace("{spec_dir}", p.spec_dir).replace("{scenario_dir}", p.scenario_dir))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| scenario_input(x, p)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), scenario_input(x, p))).collect()),
        other => other.clone(),
    }
}

/// Runs one scenario in isolation: a fresh run, its own MCP servers, its
/// own empty directory (`{scenario_dir}`), no journal.
pub async fn run_scenario(
    wf: Arc<Workflow>,
    name: &str,
    scenario: &ScenarioSpec,
    clock: Arc<dyn Clock>,
) -> ScenarioResult {
    let started = Instant::now();
    let dir = std::fs::canonicalize(&wf.source.dir).unwrap_or_else(|_| wf.source.dir.clone());
    // Kept until the scenario is judged, then removed with everything in it.
    let own = match tempfile::Builder::new().prefix(&format!("weft-scenario-{name}-")).tempdir() {
        Ok(d) => d,
        Err(e) => {
            return ScenarioResult {
                name: name.to_string(),
                passed: false,
                problems: vec![format!("cannot make the scenario's directory: {e}")],
                duration_ms: Duration::as_millis(&started.elapsed()) as u64,
                report: Report::from_log("", &[]),
            };
        }
    };
    let own_dir = std::fs::canonicalize(own.path()).unwrap_or_else(|_| own.path().to_path_buf());
    let input = scenario_input(
        &scenario.input,
        &Placeholders { spec_dir: &dir.display().to_string(), scenario_dir: &own_dir.display().to_string() },
    );
    let sink = Arc::new(MemorySink::default());
    let mut req = RunRequest::new(input, sink.clone());
    for f in &scenario.faults {
        if let Some(step) = &f.step {
            req.faults.push(Fault {
                step: step.clone(),
                times: f.times.unwrap_or(u32::MAX),
                kind: f.kind.unwrap_or(OutcomeKind::Transient),
            });
        }
        if let Some(server) = &f.server
            && f.down != Some(false)
        {
            req.down_servers.push(server.clone());
        }
    }
    let outcome = Executor::new(clock).run(wf, req).await;
    let report = Report::from_log(&outcome.run_id, &sink.records());
    let problems = judge(&scenario.expect, &report);
    drop(own);
    ScenarioResult {
        name: name.to_string(),
        passed: problems.is_empty(),
        problems,
        duration_ms: Duration::as_millis(&started.elapsed()) as u64,
        report,
    }
}

fn recovery_name(r: &Recovery) -> &'static str {
    match r {
        Recovery::Retry { .. } => "retry",
        Recovery::BreakerOpened { .. } => "breaker_opened",
        Recovery::BreakerRejected { .. } => "breaker_rejected",
        Recovery::Fallback { .. } => "fallback",
        Recovery::Continued { .. } => "continued",
    }
}

/// What in `report` breaks `expect`; empty when everything holds.
pub fn judge(expect: &ExpectSpec, report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let status = match expect.status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
    };
    if report.status != status {
        let why =
            report.error.as_ref().map(|e| format!(" ({} at `{}`: {})", e.kind, e.step, e.message)).unwrap_or_default();
        out.push(format!("the run {} instead of {status}{why}", report.status));
    }
    if let Some(e) = &expect.error {
        match &report.error {
            None => out.push("the run has no error, but one was expected".into()),
            Some(got) => {
                if let Some(step) = &e.step
                    && &got.step != step
                {
                    out.push(format!("the error is at step `{}`, not `{step}`", got.step));
                }
                if let Some(kind) = e.kind
                    && got.kind != kind
                {
                    out.push(format!("the error is of kind {}, not {kind}", got.kind));
                }
                if let Some(m) = &e.message
                    && !got.message.contains(m.as_str())
                {
                    out.push(format!("the error message `{}` does not contain `{m}`", got.message));
                }
            }
        }
    }
    for (path, want) in &expect.steps {
        let Some(got) = report.steps.get(path) else {
            if want.status.as_deref() != Some("absent") {
                out.push(format!("step `{path}` never started"));
            }
            continue;
        };
        if let Some(s) = &want.status
            && got.status != s.as_str()
        {
            out.push(format!("step `{path}` is {}, not {s}", got.status));
        }
        if let Some(n) = want.attempts
            && got.attempts != n
        {
            out.push(format!("step `{path}` made {} attempt(s), not {n}", got.attempts));
        }
        if let Some(r) = &want.recovery {
            let names: Vec<&str> = got.recovery.iter().map(recovery_name).collect();
            if names != r.iter().map(String::as_str).collect::<Vec<_>>() {
                out.push(format!("step `{path}` recovered by {names:?}, not {r:?}"));
            }
        }
        if let Some(k) = want.error_kind {
            match &got.error {
                Some(e) if e.kind == k => {}
                Some(e) => out.push(format!("step `{path}` failed as {}, not {k}", e.kind)),
                None => out.push(format!("step `{path}` has no error, but {k} was expected")),
            }
        }
    }
    if let Some(want) = &expect.output {
        subset(want, &report.output, "", &mut out);
    }
    out
}

/// Checks that `want` is contained in `got`: objects may have more fields;
/// everything else must be equal.
fn subset(want: &Value, got: &Value, at: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let path = format!("{at}/{k}");
                match g.get(k) {
                    Some(gv) => subset(wv, gv, &path, out),
                    None => out.push(format!("the output has no `{path}`")),
                }
            }
        }
        _ if want == got => {}
        _ => out.push(format!("the output at `{}` is {got}, not {want}", if at.is_empty() { "/" } else { at })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{Event, Record, RunError, StepStatus};
    use crate::domain::spec::{ErrorExpect, StepExpect};
    use crate::domain::{Failure, events::FallbackSource};
    use serde_json::json;

    fn report() -> Report {
        let rec = |event| Record { at_ms: 0, event };
        Report::from_log(
            "r",
            &[
                rec(Event::RunStarted { workflow: "w".into(), input: json!({}) }),
                rec(Event::StepStarted { step: "fetch".into() }),
                rec(Event::AttemptStarted { step: "fetch".into(), attempt: 1 }),
                rec(Event::AttemptFailed {
                    step: "fetch".into(),
                    attempt: 1,
                    failure: Failure::new(OutcomeKind::Transient, "x"),
                }),
                rec(Event::RetryScheduled { step: "fetch".into(), attempt: 2, delay_ms: 5 }),
                rec(Event::AttemptStarted { step: "fetch".into(), attempt: 2 }),
                rec(Event::FallbackUsed { step: "fetch".into(), source: FallbackSource::Value }),
                rec(Event::StepFinished {
                    step: "fetch".into(),
                    status: StepStatus::Fallback,
                    output: json!(""),
                    error: Some(Failure::new(OutcomeKind::Transient, "x")),
                }),
                rec(Event::RunFinished {
                    status: RunStatus::Failed,
                    output: json!(null),
                    error: Some(RunError {
                        step: "write".into(),
                        kind: OutcomeKind::Permanent,
                        message: "disk full".into(),
                    }),
                }),
            ],
        )
    }

    fn expect(status: RunStatus) -> ExpectSpec {
        ExpectSpec { status, error: None, steps: Default::default(), output: None }
    }

    #[test]
    fn a_matching_expectation_has_no_problems() {
        let mut e = expect(RunStatus::Failed);
        e.error = Some(ErrorExpect {
            step: Some("write".into()),
            kind: Some(OutcomeKind::Permanent),
            message: Some("disk".into()),
        });
        e.steps.insert(
            "fetch".into(),
            StepExpect {
                status: Some("fallback".into()),
                attempts: Some(2),
                recovery: Some(vec!["retry".into(), "fallback".into()]),
                error_kind: Some(OutcomeKind::Transient),
            },
        );
        e.steps.insert(
            "never".into(),
            StepExpect { status: Some("absent".into()), attempts: None, recovery: None, error_kind: None },
        );
        assert_eq!(judge(&e, &report()), Vec::<String>::new());
    }

    #[test]
    fn each_broken_expectation_is_named() {
        let mut e = expect(RunStatus::Succeeded);
        e.steps.insert(
            "fetch".into(),
            StepExpect { status: None, attempts: Some(1), recovery: Some(vec![]), error_kind: None },
        );
        e.steps.insert("missing".into(), StepExpect { status: None, attempts: None, recovery: None, error_kind: None });
        let problems = judge(&e, &report());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("the run failed instead of succeeded (permanent at `write`"));
        assert!(problems.iter().any(|p| p == "step `fetch` made 2 attempt(s), not 1"));
        assert!(problems.iter().any(|p| p == "step `missing` never started"));
    }

    #[test]
    fn outputs_match_as_subsets() {
        let mut out = Vec::new();
        subset(&json!({"a": [1], "b": {"c": 2}}), &json!({"a": [1], "b": {"c": 2, "d": 3}, "e": 4}), "", &mut out);
        assert!(out.is_empty(), "{out:?}");
        subset(&json!({"a": [1, 2], "b": {"x": 1}}), &json!({"a": [1], "b": {}}), "", &mut out);
        assert_eq!(out, ["the output at `/a` is [1], not [1,2]", "the output has no `/b/x`"]);
    }

    #[test]
    fn placeholders_are_substituted_in_every_string() {
        let v = scenario_input(
            &json!({"repo": "{spec_dir}/sample", "n": [1, "{spec_dir}"], "out": {"dir": "{scenario_dir}/docs"}}),
            &Placeholders { spec_dir: "/s", scenario_dir: "/tmp/x" },
        );
        assert_eq!(v, json!({"repo": "/s/sample", "n": [1, "/s"], "out": {"dir": "/tmp/x/docs"}}));
    }
}
