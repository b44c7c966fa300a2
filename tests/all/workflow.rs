//! The workflow engine on real skill components: data flow, recovery,
//! convergence and parallelism.

use crate::support::{MARGIN, root, sandbox};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::domain::OutcomeKind;
use weft::domain::events::{Recovery, Report, RunStatus};
use weft::engine::{Executor, ManualClock, MemorySink, RunOutcome, RunRequest, SpecSource, Workflow};

/// A spec in a fresh directory; `@skills` in the text is the fixtures directory
/// and `@dir` the spec's own directory.
pub struct Spec {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn spec(text: &str) -> Spec {
    let dir = tempfile::tempdir().unwrap();
    let skills = root().join("target/skills");
    let text =
        text.replace("@skills", &skills.display().to_string()).replace("@dir", &dir.path().display().to_string());
    let path = dir.path().join("workflow.toml");
    std::fs::write(&path, text).unwrap();
    Spec { dir, path }
}

pub async fn check(s: &Spec) -> Result<Workflow, weft::engine::SpecErrors> {
    Workflow::check(sandbox(), SpecSource::read(&s.path).unwrap()).await
}

pub struct Ran {
    pub outcome: RunOutcome,
    pub report: Report,
    pub clock: Arc<ManualClock>,
    pub took: Duration,
}

pub async fn run_with(s: &Spec, input: Value, faults: Vec<weft::engine::Fault>) -> Ran {
    let wf = Arc::new(check(s).await.unwrap_or_else(|e| panic!("the spec checks:\n{e}")));
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(ManualClock::default());
    let mut req = RunRequest::new(input, sink.clone());
    req.faults = faults;
    let started = Instant::now();
    let outcome = Executor::new(clock.clone()).with_seed(7).run(wf, req).await;
    let took = started.elapsed();
    let report = Report::from_log(&outcome.run_id, &sink.records());
    Ran { outcome, report, clock, took }
}

pub async fn run(s: &Spec, input: Value) -> Ran {
    run_with(s, input, Vec::new()).await
}

fn retries(r: &Ran, step: &str) -> Vec<(u32, OutcomeKind, u64)> {
    r.report.steps[step]
        .recovery
        .iter()
        .filter_map(|x| match x {
            Recovery::Retry { attempt, kind, delay_ms, .. } => Some((*attempt, *kind, *delay_ms)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn happy_path_passes_data_along_the_contracts() {
    let s = spec(
        r#"
        name = "count-and-check"
        input_schema = { type = "object", required = ["text"] }
        output = "{'words': steps.count.output.words, 'enough': steps.check.output.ok}"

        [steps.count]
        skill = "@skills/word-count.wasm"
        input = { text = "input.text" }

        [steps.check]
        skill = "@skills/at-least.wasm"
        input = { value = "steps.count.output.words", min = 3 }
        "#,
    );
    let r = run(&s, json!({"text": "one two three four"})).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.outcome.output, json!({"words": 4, "enough": true}));
    assert_eq!(r.report.steps["count"].status, "succeeded");
    assert_eq!(r.report.steps["check"].attempts, 1);
    let order: Vec<&String> = r.report.steps.keys().collect();
    assert_eq!(order, ["count", "check"], "check waits for the count it reads");
}

fn flaky(fail_times: u32, kind: &str, retry: &str, extra: &str) -> Spec {
    spec(&format!(
        r#"
        name = "flaky"
        [steps.fetch]
        skill = "@skills/flaky.wasm"
        input = {{ fail_times = {fail_times}, kind = "'{kind}'", counter = "'@dir/calls'", value = "'fetched'" }}
        grants = {{ write = ["@dir"] }}
        retry = {retry}
        {extra}
        "#
    ))
}

#[tokio::test]
async fn a_transient_failure_is_recovered_by_retry_with_the_right_number_of_attempts() {
    let s = flaky(
        2,
        "transient",
        r#"{ max_attempts = 4, initial_interval = "100ms", backoff_coefficient = 3.0, jitter = "none" }"#,
        "",
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.outcome.output, json!({"fetch": {"call": 3, "value": "fetched"}}));
    let fetch = &r.report.steps["fetch"];
    assert_eq!(fetch.attempts, 3);
    assert_eq!(retries(&r, "fetch"), [(1, OutcomeKind::Transient, 100), (2, OutcomeKind::Transient, 300)]);
    assert_eq!(
        r.clock.sleeps(),
        [Duration::from_millis(100), Duration::from_millis(300)],
        "backoff waited on the injected clock"
    );
}

#[tokio::test]
async fn retries_stop_at_max_attempts_and_the_run_fails_naming_the_step() {
    let s = flaky(9, "transient", r#"{ max_attempts = 3, initial_interval = "10ms" }"#, "");
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("fetch", OutcomeKind::Transient));
    assert_eq!(r.report.steps["fetch"].attempts, 3);
    assert_eq!(retries(&r, "fetch").len(), 2);
    let full_jitter_bound = [10, 20];
    for ((_, _, delay), bound) in retries(&r, "fetch").iter().zip(full_jitter_bound) {
        assert!(*delay <= bound, "full jitter waits at most the computed delay: {delay} > {bound}");
    }
}

#[tokio::test]
async fn invalid_input_is_never_retried() {
    let s = flaky(1, "invalid-input", r#"{ max_attempts = 5 }"#, "");
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.error.unwrap().kind, OutcomeKind::InvalidInput);
    assert_eq!(r.report.steps["fetch"].attempts, 1);
}

#[tokio::test]
async fn a_fallback_value_degrades_gracefully_and_dependents_see_it() {
    let s = spec(
        r#"
        name = "degrade"
        [steps.docs]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 99, kind = "'permanent'", counter = "'@dir/calls'" }
        grants = { write = ["@dir"] }
        fallback = { value = { call = 0, value = "no docs yet" } }

        [steps.use]
        skill = "@skills/echo.wasm"
        input = { docs = "steps.docs.output.value", how = "steps.docs.status" }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.report.steps["docs"].status, "fallback");
    assert!(
        r.report.steps["docs"]
            .recovery
            .contains(&Recovery::Fallback { source: weft::domain::events::FallbackSource::Value })
    );
    assert_eq!(r.outcome.output["use"], json!({"docs": "no docs yet", "how": "fallback"}));
}

#[tokio::test]
async fn continue_skips_a_failed_step_and_the_run_goes_on() {
    let s = spec(
        r#"
        name = "continue"
        [steps.optional]
        skill = "@skills/guest-error.wasm"
        input = { kind = "'permanent'", message = "'not today'" }
        on_failure = "continue"

        [steps.after]
        skill = "@skills/echo.wasm"
        input = { saw = "steps.optional.status", why = "steps.optional.error.message" }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded);
    assert_eq!(r.report.steps["optional"].status, "skipped");
    assert_eq!(r.outcome.output["after"], json!({"saw": "skipped", "why": "not today"}));
}

#[tokio::test]
async fn escalation_fails_the_run_naming_the_failing_step_and_stops_what_follows() {
    let s = spec(
        r#"
        name = "escalate"
        [steps.first]
        skill = "@skills/echo.wasm"
        [steps.broken]
        skill = "@skills/guest-error.wasm"
        input = { kind = "'permanent'", message = "'the database is gone'" }
        needs = ["first"]
        [steps.never]
        skill = "@skills/echo.wasm"
        needs = ["broken"]
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.unwrap();
    assert_eq!(
        (e.step.as_str(), e.kind, e.message.as_str()),
        ("broken", OutcomeKind::Permanent, "the database is gone")
    );
    assert_eq!(r.report.steps["broken"].status, "failed");
    assert!(!r.report.steps.contains_key("never"), "nothing after the failed step ran");
}

#[tokio::test]
async fn a_contract_violation_between_two_steps_is_caught_with_its_pointer() {
    let s = spec(
        r#"
        name = "mismatch"
        [steps.produce]
        skill = "@skills/echo.wasm"
        input = { text = 42 }
        [steps.consume]
        skill = "@skills/word-count.wasm"
        input = "steps.produce.output"
        "#,
    );
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("consume", OutcomeKind::InvalidInput));
    assert!(e.message.contains("at /text:"), "{}", e.message);
}

#[tokio::test]
async fn an_output_that_breaks_its_schema_is_a_contract_violation_of_that_step() {
    let s = spec("name = \"bad-output\"\n[steps.liar]\nskill = \"@skills/breaks-schema.wasm\"\n");
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("liar", OutcomeKind::ContractViolation));
}

fn refine(min: u32, max_iterations: u32, on_failure: &str) -> Spec {
    spec(&format!(
        r#"
        name = "refine"
        output = "steps.refine.output"

        [steps.refine]
        repeat = {{ until = "steps.check.output.ok", max_iterations = {max_iterations} }}
        output = "{{'value': steps.generate.output.value, 'complaints_seen': steps.generate.output.complaints}}"
        on_failure = "{on_failure}"

        [steps.refine.steps.generate]
        skill = "@skills/echo.wasm"
        input = "{{'value': iteration * 2, 'complaints': previous == null ? [] : previous.check.output.complaints}}"

        [steps.refine.steps.check]
        skill = "@skills/at-least.wasm"
        input = {{ value = "steps.generate.output.value", min = {min} }}
        "#
    ))
}

#[tokio::test]
async fn a_validation_loop_converges_feeding_back_the_complaints() {
    let r = run(&refine(4, 5, "escalate"), json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.outcome.output, json!({"value": 4, "complaints_seen": ["2 is below 4"]}));
    assert!(r.report.steps.contains_key("refine#3.check"), "three iterations ran: {:?}", r.report.steps.keys());
    assert!(!r.report.steps.contains_key("refine#4.generate"), "and no fourth");
}

#[tokio::test]
async fn a_loop_that_never_converges_stops_at_max_iterations() {
    let r = run(&refine(100, 3, "escalate"), json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("refine", OutcomeKind::Permanent));
    assert!(e.message.contains("after 3 iterations"), "{}", e.message);
    assert!(r.report.steps.contains_key("refine#3.check") && !r.report.steps.contains_key("refine#4.check"));
}

#[tokio::test]
async fn a_run_deadline_fires_and_names_what_was_running() {
    let s = spec(
        r#"
        name = "slow"
        run = { deadline = "300ms" }
        [steps.nap]
        skill = "@skills/sleep.wasm"
        input = { ms = 60000 }
        limits = { timeout = "120s" }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("nap", OutcomeKind::Timeout));
    assert!(e.message.contains("deadline of 300ms"), "{}", e.message);
    assert!(r.took < Duration::from_millis(300) + MARGIN, "the run ended near its deadline: {:?}", r.took);
}

#[tokio::test]
async fn a_diamond_runs_its_two_middle_steps_at_the_same_time() {
    let s = spec(
        r#"
        name = "diamond"
        [steps.top]
        skill = "@skills/echo.wasm"
        input = { ms = 400 }
        [steps.left]
        skill = "@skills/sleep.wasm"
        input = { ms = "steps.top.output.ms", tag = "'left'" }
        [steps.right]
        skill = "@skills/sleep.wasm"
        input = { ms = "steps.top.output.ms", tag = "'right'" }
        [steps.bottom]
        skill = "@skills/echo.wasm"
        input = { left = "steps.left.output", right = "steps.right.output" }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let b = &r.outcome.output["bottom"];
    let (l0, l1) = (b["left"]["started_ms"].as_u64().unwrap(), b["left"]["ended_ms"].as_u64().unwrap());
    let (r0, r1) = (b["right"]["started_ms"].as_u64().unwrap(), b["right"]["ended_ms"].as_u64().unwrap());
    assert!(l0 < r1 && r0 < l1, "left {l0}..{l1} and right {r0}..{r1} overlap");
}

#[tokio::test]
async fn fan_out_runs_once_per_element_and_collects_the_results_in_order() {
    let s = spec(
        r#"
        name = "fan-out"
        [steps.count]
        skill = "@skills/word-count.wasm"
        for_each = "input.texts"
        input = { text = "item" }
        concurrency = 2
        item_failure = "continue"
        "#,
    );
    let r = run(&s, json!({"texts": ["a", "b c", 7, "d e f"]})).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let words: Vec<Value> = r.outcome.output["count"].as_array().unwrap().iter().map(|c| c["words"].clone()).collect();
    assert_eq!(words, [json!(1), json!(2), Value::Null, json!(3)], "the bad element is null, the others in order");
    assert_eq!(r.report.steps["count[2]"].status, "failed");
    assert_eq!(r.report.steps["count[2]"].error.as_ref().unwrap().kind, OutcomeKind::InvalidInput);
}

#[tokio::test]
async fn a_fan_out_fails_on_the_first_failed_element_by_default() {
    let s = spec(
        "name = \"strict\"\n[steps.count]\nskill = \"@skills/word-count.wasm\"\nfor_each = \"input\"\ninput = { text = \"item\" }\n",
    );
    let r = run(&s, json!(["fine", 1])).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("count[1]", OutcomeKind::InvalidInput));
}

#[tokio::test]
async fn an_open_circuit_breaker_fails_fast_to_the_fallback() {
    let s = spec(
        r#"
        name = "breaker"
        [steps.call]
        skill = "@skills/flaky.wasm"
        for_each = "[1, 2, 3, 4, 5]"
        concurrency = 1
        input = { fail_times = 99, counter = "'@dir/calls'" }
        grants = { write = ["@dir"] }
        breaker = { failure_threshold = 2, cooldown = "1h" }
        fallback = { value = { call = 0, value = "cached" } }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(std::fs::read_to_string(s.dir.path().join("calls")).unwrap(), "2", "only two calls reached the skill");
    let rejected = r
        .report
        .steps
        .values()
        .filter(|s| s.recovery.iter().any(|x| matches!(x, Recovery::BreakerRejected { .. })))
        .count();
    assert_eq!(rejected, 3);
    assert!(r.report.steps["call[1]"].recovery.iter().any(|x| matches!(x, Recovery::BreakerOpened { .. })));
    assert!(r.outcome.output["call"].as_array().unwrap().iter().all(|o| o["value"] == json!("cached")));
}

#[tokio::test]
async fn the_run_attempt_budget_bounds_retries() {
    let s = flaky(99, "transient", r#"{ max_attempts = 50, initial_interval = "1ms" }"#, "");
    let text = std::fs::read_to_string(&s.path)
        .unwrap()
        .replace("name = \"flaky\"", "name = \"flaky\"\nrun = { max_attempts = 4 }");
    std::fs::write(&s.path, text).unwrap();
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert!(e.message.contains("budget of 4 attempts"), "{}", e.message);
    assert_eq!(std::fs::read_to_string(s.dir.path().join("calls")).unwrap(), "4");
}

#[tokio::test]
async fn an_injected_fault_is_recovered_like_a_real_one() {
    let s = spec(
        "name = \"faulty\"\n[steps.a]\nskill = \"@skills/echo.wasm\"\nretry = { max_attempts = 3, initial_interval = \"1ms\" }\n",
    );
    let fault = weft::engine::Fault { step: "a".into(), times: 2, kind: OutcomeKind::Transient };
    let r = run_with(&s, json!("x"), vec![fault]).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded);
    assert_eq!(r.report.steps["a"].attempts, 3);
}

#[tokio::test]
async fn when_false_skips_a_step_and_later_steps_see_it() {
    let s = spec(
        r#"
        name = "conditional"
        [steps.maybe]
        skill = "@skills/echo.wasm"
        when = "input.go"
        [steps.report]
        skill = "@skills/echo.wasm"
        input = "{'ran': steps.maybe.status}"
        "#,
    );
    let r = run(&s, json!({"go": false})).await;
    assert_eq!(r.report.steps["maybe"].status, "skipped");
    assert_eq!(r.outcome.output["report"], json!({"ran": "skipped"}));
}

#[tokio::test]
async fn the_run_input_is_checked_against_the_input_schema() {
    let s = spec(
        "name = \"typed\"\ninput_schema = { type = \"object\", required = [\"text\"] }\n[steps.a]\nskill = \"@skills/echo.wasm\"\n",
    );
    let r = run(&s, json!({"txt": "typo"})).await;
    let e = r.outcome.error.unwrap();
    assert_eq!(e.kind, OutcomeKind::InvalidInput);
    assert!(e.message.contains("\"text\" is a required property"), "{}", e.message);
    assert!(r.report.steps.is_empty(), "no step ran");
}

#[tokio::test]
async fn script_steps_run_files_and_inline_source_with_their_contracts() {
    let s = spec(
        r#"
        name = "scripts"
        output = "{'py': steps.py.output, 'js': steps.js.output}"

        [steps.py]
        script = "double.py"
        input = { n = 21 }
        input_schema = { type = "object", required = ["n"], properties = { n = { type = "integer" } } }
        output_schema = { type = "object", required = ["n"] }

        [steps.js]
        script_inline = "function run(input) { return { shout: input.word.toUpperCase() }; }"
        language = "javascript"
        input = { word = "'quiet'" }
        "#,
    );
    std::fs::write(s.dir.path().join("double.py"), "def run(input):\n    return {\"n\": input[\"n\"] * 2}\n").unwrap();
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.outcome.output, json!({"py": {"n": 42}, "js": {"shout": "QUIET"}}));
}

#[tokio::test]
async fn a_script_steps_contracts_are_enforced() {
    let s = spec(
        r#"
        name = "script-contracts"
        [steps.wrong_output]
        script_inline = "def run(input):\n    return {'n': 'not a number'}"
        language = "python"
        output_schema = { type = "object", properties = { n = { type = "integer" } } }
        "#,
    );
    let r = run(&s, json!(null)).await;
    let e = r.outcome.error.unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("wrong_output", OutcomeKind::ContractViolation));
    assert!(e.message.contains("at /n:"), "{}", e.message);

    let s = spec(
        "name = \"bad-input\"\n[steps.s]\nscript_inline = \"def run(i): return i\"\nlanguage = \"python\"\ninput = { x = 1 }\ninput_schema = { type = \"object\", required = [\"y\"] }\n",
    );
    let err = check(&s).await.err().expect("the mapping cannot satisfy the script's input_schema");
    assert!(err.to_string().contains("the mapping gives no `y`"), "{err}");
}
