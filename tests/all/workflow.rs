//! The workflow engine on real skill components: data flow, recovery,
//! convergence and parallelism.

use crate::support::{MARGIN, root, sandbox};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weft::domain::OutcomeKind;
use weft::domain::events::{
    CarryOver, Event, FallbackSource, Record, Recovery, Report, RunStatus, carry_over, finished_steps,
};
use weft::engine::run::SinkError;
use weft::engine::{
    EventSink, Executor, Finished, ManualClock, MemorySink, RunOutcome, RunRequest, SpecSource, Workflow,
};

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

/// Records a run's events until one matches `dies_after`, then refuses every
/// later one: as if the run's process died right after that event was on disk.
struct DiesAfter {
    log: MemorySink,
    dies_after: fn(&Event) -> bool,
    dead: AtomicBool,
}

impl DiesAfter {
    fn new(dies_after: fn(&Event) -> bool) -> Self {
        DiesAfter { log: MemorySink::default(), dies_after, dead: AtomicBool::new(false) }
    }
}

impl EventSink for DiesAfter {
    fn record<'a>(&'a self, run_id: &'a str, record: &'a Record) -> BoxFuture<'a, Result<(), SinkError>> {
        if self.dead.load(Ordering::SeqCst) {
            return Box::pin(async { Err(SinkError("the process died".into())) });
        }
        if (self.dies_after)(&record.event) {
            self.dead.store(true, Ordering::SeqCst);
        }
        self.log.record(run_id, record)
    }
}

/// A request that resumes run `run_id` after `log`: its finished steps are reused.
fn resume_request(run_id: &str, log: &[Record], sink: Arc<dyn EventSink>) -> RunRequest {
    let mut req = RunRequest::new(json!(null), sink);
    req.run_id = run_id.to_string();
    req.resumed = true;
    req.prior = finished_steps(log)
        .into_iter()
        .map(|(path, (status, output, error))| (path, Finished { status, output, error }))
        .collect();
    req
}

fn attempts_started(log: &[Record]) -> Vec<u32> {
    log.iter()
        .filter_map(|r| match r.event {
            Event::AttemptStarted { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect()
}

/// An arbitrary wall-clock origin, so the times of events are known.
const T0: u64 = 1_700_000_000_000;

#[tokio::test]
async fn a_run_resumed_after_a_crash_goes_on_with_its_attempt_numbers_backoff_and_budget() {
    let s = spec(
        r#"
        name = "resumable"
        run = { max_attempts = 3 }
        [steps.fetch]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 3, counter = "'@dir/calls'", log = "'@dir/keys'" }
        grants = { write = ["@dir"] }
        retry = { max_attempts = 5, initial_interval = "5s", backoff_coefficient = 2.0, jitter = "none" }
        "#,
    );
    let wf = Arc::new(check(&s).await.unwrap());
    // First life: attempts 1 and 2 fail; it dies once the 10 s backoff before attempt 3 is recorded.
    let first = Arc::new(DiesAfter::new(|e| matches!(e, Event::RetryScheduled { attempt: 3, .. })));
    let req = RunRequest::new(json!(null), first.clone());
    let run_id = req.run_id.clone();
    Executor::new(Arc::new(ManualClock::starting_at(T0))).run(wf.clone(), req).await;
    let log = first.log.records();
    assert_eq!(attempts_started(&log), [1, 2]);

    // Second life, 14 s after the first began: 1 s of the backoff is left.
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(ManualClock::starting_at(T0 + 14_000));
    let req = resume_request(&run_id, &log, sink.clone());
    let outcome = Executor::new(clock.clone()).continue_run(wf, req, carry_over(&log)).await;
    let second = sink.records();
    assert_eq!(attempts_started(&second), [3], "the numbers go on, and the budget of 3 allows one more");
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(1), Duration::from_secs(20)],
        "the rest of the backoff, then the next"
    );
    let e = outcome.error.expect("the run fails");
    assert!(e.message.contains("budget of 3 attempts is spent"), "{}", e.message);
    assert_eq!(std::fs::read_to_string(s.dir.path().join("calls")).unwrap(), "3", "the skill ran three times in all");
    // The step saw the same idempotency key in both lives, and the attempt numbers in order.
    let key = format!("{run_id}/fetch");
    assert_eq!(std::fs::read_to_string(s.dir.path().join("keys")).unwrap(), format!("{key} 1\n{key} 2\n{key} 3\n"));
}

#[tokio::test]
async fn an_attempt_in_flight_at_a_crash_runs_again_under_its_number() {
    let s = spec(
        r#"
        name = "in-flight"
        [steps.fetch]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 0, counter = "'@dir/calls'", log = "'@dir/keys'" }
        grants = { write = ["@dir"] }
        retry = { max_attempts = 3 }
        "#,
    );
    let wf = Arc::new(check(&s).await.unwrap());
    // The skill ran, but the process died before its end was recorded.
    let first = Arc::new(DiesAfter::new(|e| matches!(e, Event::AttemptStarted { .. })));
    let req = RunRequest::new(json!(null), first.clone());
    let run_id = req.run_id.clone();
    Executor::new(Arc::new(ManualClock::default())).run(wf.clone(), req).await;
    let log = first.log.records();

    let sink = Arc::new(MemorySink::default());
    let req = resume_request(&run_id, &log, sink.clone());
    let outcome = Executor::new(Arc::new(ManualClock::default())).continue_run(wf, req, carry_over(&log)).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    assert_eq!(attempts_started(&sink.records()), [1], "delivered again, at least once, not a new attempt");
    let key = format!("{run_id}/fetch");
    assert_eq!(std::fs::read_to_string(s.dir.path().join("keys")).unwrap(), format!("{key} 1\n{key} 1\n"));
}

#[tokio::test]
async fn a_resumed_run_counts_the_time_of_its_earlier_lives_against_its_deadline() {
    let s = spec("name = \"timed\"\nrun = { deadline = \"10s\" }\n[steps.a]\nskill = \"@skills/echo.wasm\"\n");
    let wf = Arc::new(check(&s).await.unwrap());
    let earlier_life = |ran_ms: u64| {
        vec![
            Record { at_ms: T0, event: Event::RunStarted { workflow: "timed".into(), input: json!(null) } },
            Record { at_ms: T0 + ran_ms, event: Event::StepStarted { step: "a".into() } },
        ]
    };
    let resume = |log: Vec<Record>| {
        let wf = wf.clone();
        async move {
            let sink = Arc::new(MemorySink::default());
            let req = resume_request("timed-run", &log, sink.clone());
            let outcome = Executor::new(Arc::new(ManualClock::default())).continue_run(wf, req, carry_over(&log)).await;
            (outcome, Report::from_log("timed-run", &sink.records()))
        }
    };
    // Obeyed: 4 of the 10 s were spent; the rest is enough.
    let (outcome, _) = resume(earlier_life(4_000)).await;
    assert_eq!(outcome.status, RunStatus::Succeeded, "{:?}", outcome.error);
    // Violated: the earlier life ran past the deadline; nothing runs, and no step is to blame.
    let (outcome, report) = resume(earlier_life(12_000)).await;
    let e = outcome.error.expect("the deadline has passed");
    assert_eq!((e.step_path(), e.kind), (None, OutcomeKind::Timeout));
    assert!(e.message.contains("deadline of 10s passed (12s of it in earlier lives"), "{}", e.message);
    assert!(report.steps.is_empty(), "no step started: {:?}", report.steps.keys());
    // A run that ended and is resumed gets its whole deadline again.
    let mut ended = earlier_life(12_000);
    ended.push(Record {
        at_ms: T0 + 12_001,
        event: Event::RunFinished { status: RunStatus::Failed, output: Value::Null, error: None },
    });
    assert_eq!(carry_over(&ended), CarryOver::default());
    assert_eq!(resume(ended).await.0.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn an_injected_hang_ends_as_a_timeout_after_the_steps_timeout_on_the_runs_clock() {
    let s = spec(
        r#"
        name = "hangs"
        [steps.a]
        skill = "@skills/echo.wasm"
        limits = { timeout = "1h" }
        retry = { max_attempts = 2, initial_interval = "1s", jitter = "none" }
        "#,
    );
    let fault = weft::engine::Fault { step: "a".into(), times: 1, kind: OutcomeKind::Timeout };
    let r = tokio::time::timeout(MARGIN, run_with(&s, json!("x"), vec![fault])).await.expect("no real hour passes");
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(retries(&r, "a"), [(1, OutcomeKind::Timeout, 1000)]);
    assert_eq!(r.clock.sleeps(), [Duration::from_secs(3600), Duration::from_secs(1)], "the hang, then the backoff");
}

/// A step that fails for good (its first call, permanently) and falls back to another skill.
fn falls_back_to(fallback: &str, on_failure: &str) -> Spec {
    spec(&format!(
        r#"
        name = "fallback-skill"
        [steps.fetch]
        skill = "@skills/flaky.wasm"
        input = {{ fail_times = 99, kind = "'permanent'", counter = "'@dir/calls'" }}
        grants = {{ write = ["@dir"] }}
        fallback = {{ skill = "@skills/{fallback}.wasm" }}
        on_failure = "{on_failure}"

        [steps.use]
        skill = "@skills/echo.wasm"
        input = {{ got = "steps.fetch.output", how = "steps.fetch.status" }}
        "#
    ))
}

#[tokio::test]
async fn a_fallback_skill_gets_the_same_input_and_stands_in_for_the_step() {
    let s = falls_back_to("echo", "escalate");
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let fetch = &r.report.steps["fetch"];
    assert_eq!((fetch.status.as_str(), fetch.attempts), ("fallback", 1));
    assert_eq!(fetch.recovery, [Recovery::Fallback { source: FallbackSource::Skill }]);
    assert_eq!(fetch.error.as_ref().map(|e| e.kind), Some(OutcomeKind::Permanent), "the step's own failure is kept");
    let input = json!({"fail_times": 99, "kind": "permanent", "counter": format!("{}/calls", s.dir.path().display())});
    assert_eq!(r.outcome.output["use"], json!({"got": input, "how": "fallback"}), "echo gave back the step's input");
    assert_eq!(std::fs::read_to_string(s.dir.path().join("calls")).unwrap(), "1");
}

#[tokio::test]
async fn when_the_fallback_skill_fails_too_the_step_fails_with_both_failures() {
    let s = falls_back_to("panic", "escalate");
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap();
    assert_eq!((e.step.as_str(), e.kind), ("fetch", OutcomeKind::Trap), "the fallback's failure is the last word");
    assert!(e.message.starts_with("planned failure 1 of 99 (and its fallback skill failed too: "), "{}", e.message);
    assert_eq!(r.report.steps["fetch"].status, "failed");
    assert!(r.report.steps["fetch"].recovery.is_empty(), "no fallback was used");
    assert!(!r.report.steps.contains_key("use"));

    // With on_failure = "continue" the run goes on without it.
    let s = falls_back_to("panic", "continue");
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    assert_eq!(r.report.steps["fetch"].status, "skipped");
    assert!(matches!(r.report.steps["fetch"].recovery[..], [Recovery::Continued { kind: OutcomeKind::Trap, .. }]));
    assert_eq!(r.outcome.output["use"], json!({"got": null, "how": "skipped"}));
}

#[tokio::test]
async fn a_fallback_skill_sees_its_own_stable_idempotency_key() {
    let s = spec(
        r#"
        name = "fallback-key"
        [steps.probe]
        skill = "@skills/escape-probe.wasm"
        input = { env = true }
        fallback = { skill = "@skills/escape-probe.wasm" }
        "#,
    );
    let fault = weft::engine::Fault { step: "probe".into(), times: 1, kind: OutcomeKind::Permanent };
    let r = run_with(&s, json!(null), vec![fault]).await;
    assert_eq!(r.report.steps["probe"].status, "fallback");
    let key = format!("{}/probe/fallback", r.outcome.run_id);
    assert_eq!(r.outcome.output["probe"]["env"], json!({"WEFT_IDEMPOTENCY_KEY": key}), "and nothing else");
}

/// The most intervals `[start, end)` that hold one instant.
fn peak_overlap(intervals: &[(u64, u64)]) -> usize {
    let mut edges: Vec<(u64, i32)> = intervals.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    edges.sort(); // at the same instant an end (-1) comes before a start (+1)
    let (mut now, mut peak) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    peak as usize
}

fn intervals(outputs: &[&Value]) -> Vec<(u64, u64)> {
    outputs.iter().map(|o| (o["started_ms"].as_u64().unwrap(), o["ended_ms"].as_u64().unwrap())).collect()
}

#[test]
fn peak_overlap_counts_what_runs_at_once() {
    assert_eq!(peak_overlap(&[(0, 10), (10, 20), (20, 30)]), 1, "one after the other");
    assert_eq!(peak_overlap(&[(0, 10), (5, 20), (6, 7), (19, 30)]), 3);
}

#[tokio::test]
async fn the_run_wide_concurrency_bounds_the_skill_runs_in_flight() {
    let mut text = "name = \"bounded\"\nrun = { concurrency = 2 }\n".to_string();
    for i in 0..5 {
        text += &format!("[steps.s{i}]\nskill = \"@skills/sleep.wasm\"\ninput = {{ ms = 300 }}\n");
    }
    let r = run(&spec(&text), json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let naps: Vec<&Value> = r.outcome.output.as_object().unwrap().values().collect();
    assert_eq!(naps.len(), 5);
    assert_eq!(peak_overlap(&intervals(&naps)), 2, "never more than 2 at once, and 2 did run together");
}

#[tokio::test]
async fn a_fan_out_concurrency_bounds_its_elements_in_flight() {
    let s = spec(
        r#"
        name = "fan-bounded"
        [steps.naps]
        skill = "@skills/sleep.wasm"
        for_each = "[1, 2, 3, 4, 5, 6]"
        concurrency = 3
        input = { ms = 300, tag = "item" }
        "#,
    );
    let r = run(&s, json!(null)).await;
    assert_eq!(r.outcome.status, RunStatus::Succeeded, "{:?}", r.outcome.error);
    let naps: Vec<&Value> = r.outcome.output["naps"].as_array().unwrap().iter().collect();
    assert_eq!(naps.iter().map(|n| n["tag"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(peak_overlap(&intervals(&naps)), 3, "never more than 3 at once (the run allows 8)");
}
