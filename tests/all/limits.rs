//! Every limit, obeyed and violated.

use crate::support::{fixture, load, weft, with_limits};
use serde_json::json;
use std::time::Duration;
use weft::domain::{Limits, OutcomeKind, Size};
use weft::sandbox::{Allocation, RunOptions, Sandbox, SandboxConfig};

#[tokio::test]
async fn timeout_obeyed() {
    let skill = load("word-count").await;
    let limits = Limits { timeout: Duration::from_millis(2_000), ..Limits::default() };
    let report = skill.run(r#"{"text": "one two three"}"#, &with_limits(limits)).await;
    assert_eq!(report.result.unwrap()["words"], json!(3));
}

#[tokio::test]
async fn timeout_violated() {
    let skill = load("busy-loop").await;
    let limits = Limits { timeout: Duration::from_millis(200), ..Limits::default() };
    let report = skill.run("null", &with_limits(limits)).await;
    assert_eq!(report.result.unwrap_err().kind, OutcomeKind::Timeout);
}

#[tokio::test]
async fn fuel_obeyed_and_reported() {
    let skill = load("word-count").await;
    let limits = Limits { fuel: Some(50_000_000), ..Limits::default() };
    let report = skill.run(r#"{"text": "a b"}"#, &with_limits(limits)).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
    let used = report.fuel_consumed.expect("a metered run reports its fuel");
    assert!(used > 0 && used < 50_000_000, "used {used}");
}

#[tokio::test]
async fn fuel_violated() {
    let skill = load("word-count").await;
    let limits = Limits { fuel: Some(1_000), ..Limits::default() };
    let report = skill.run(r#"{"text": "a b"}"#, &with_limits(limits)).await;
    assert_eq!(report.result.unwrap_err().kind, OutcomeKind::OutOfFuel);
}

#[test]
fn a_first_run_under_new_engine_settings_compiles_without_stalling_other_runs() {
    // One async thread. The first metered run of escape-probe compiles it for
    // a fuel-metering engine, which stores a third entry in the compile cache
    // when done. The compile happens off the async thread, so a run of echo
    // started next begins while it is still under way, not after it.
    let cache = tempfile::tempdir().unwrap();
    let entries = || {
        let names = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name());
        names.filter(|n| n.to_string_lossy().ends_with(".cwasm")).count()
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let config = SandboxConfig { cache_dir: Some(cache.path().to_path_buf()), allocation: Allocation::OnDemand };
        let sandbox = Sandbox::new(config).unwrap();
        let probe = sandbox.load_file(&fixture("escape-probe")).await.unwrap();
        let echo = sandbox.load_file(&fixture("echo")).await.unwrap();
        assert_eq!(entries(), 2, "both compiled for the default engine");
        let metered = with_limits(Limits { fuel: Some(1_000_000_000), ..Limits::default() });
        let unmetered = RunOptions::default();
        let echo_run = async {
            let compiled_before_echo_began = entries() == 3;
            (compiled_before_echo_began, echo.run("[1]", &unmetered).await)
        };
        let (probed, (compiled_before_echo_began, echoed)) = tokio::join!(probe.run("{}", &metered), echo_run);
        assert!(!compiled_before_echo_began, "echo waited for the metered engine's compile");
        assert!(probed.result.is_ok(), "{:?}", probed.result);
        assert_eq!(echoed.result.unwrap(), json!([1]));
    });
    assert_eq!(entries(), 3, "the metered compile was stored");
}

#[tokio::test]
async fn unmetered_runs_report_no_fuel() {
    let skill = load("echo").await;
    let report = skill.run("1", &Default::default()).await;
    assert_eq!(report.fuel_consumed, None);
}

#[tokio::test]
async fn memory_obeyed() {
    let skill = load("word-count").await;
    let limits = Limits { max_memory: 16 * Size::MIB, ..Limits::default() };
    let report = skill.run(r#"{"text": "fits"}"#, &with_limits(limits)).await;
    assert!(report.result.is_ok(), "{:?}", report.result);
}

#[tokio::test]
async fn memory_violated_at_instantiation() {
    // Even the initial memory of a component does not fit in 64KiB.
    let skill = load("word-count").await;
    let limits = Limits { max_memory: 64 * Size::KIB, ..Limits::default() };
    let report = skill.run(r#"{"text": "no room"}"#, &with_limits(limits)).await;
    assert_eq!(report.result.unwrap_err().kind, OutcomeKind::MemoryLimit);
}

#[tokio::test]
async fn output_size_obeyed() {
    let skill = load("echo").await;
    let limits = Limits { max_output: 4 * Size::KIB, ..Limits::default() };
    let input = json!("x".repeat(1000)).to_string();
    assert!(skill.run(&input, &with_limits(limits)).await.result.is_ok());
}

#[tokio::test]
async fn output_size_violated() {
    let skill = load("echo").await;
    let limits = Limits { max_output: 4 * Size::KIB, max_input: Size::MIB, ..Limits::default() };
    let input = json!("x".repeat(5000)).to_string();
    let f = skill.run(&input, &with_limits(limits)).await.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::OutputLimit, "{f}");
}

#[tokio::test]
async fn input_size_violated() {
    let skill = load("echo").await;
    let limits = Limits { max_input: Size::KIB, ..Limits::default() };
    let input = json!("x".repeat(2000)).to_string();
    let f = skill.run(&input, &with_limits(limits)).await.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::InvalidInput);
    assert!(f.message.contains("over the limit of 1KiB"), "{f}");
}

#[tokio::test]
async fn input_schema_obeyed() {
    let skill = load("word-count").await;
    let report = skill.run(r#"{"text": "two words"}"#, &Default::default()).await;
    assert_eq!(report.result.unwrap(), json!({"words": 2, "lines": 1, "chars": 9}));
}

#[tokio::test]
async fn input_schema_violated_names_the_pointer_and_never_reaches_the_guest() {
    let skill = load("word-count").await;
    let report = skill.run(r#"{"text": 42}"#, &Default::default()).await;
    let f = report.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::InvalidInput);
    assert!(f.message.contains("at /text:"), "{f}");
    assert!(report.logs.is_empty(), "the guest never ran");
}

#[tokio::test]
async fn input_that_is_not_json_is_invalid_input() {
    let skill = load("echo").await;
    let f = skill.run("{oops", &Default::default()).await.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::InvalidInput);
}

#[tokio::test]
async fn stack_obeyed() {
    let skill = load("deep-recursion").await;
    let report = skill.run(r#"{"depth": 5000}"#, &Default::default()).await;
    assert!(report.result.is_ok(), "5,000 frames fit in the default stack: {:?}", report.result);
}

#[tokio::test]
async fn stack_violated() {
    let skill = load("deep-recursion").await;
    let limits = Limits { max_stack: 16 * Size::KIB, ..Limits::default() };
    let f = skill.run(r#"{"depth": 5000}"#, &with_limits(limits)).await.result.unwrap_err();
    assert_eq!(f.kind, OutcomeKind::StackOverflow, "the same depth does not fit in 16KiB: {f}");
}

#[tokio::test]
async fn many_runs_in_parallel_each_get_a_fresh_sandbox() {
    let skill = load("word-count").await;
    let runs = (0..64).map(|i| {
        let skill = skill.clone();
        tokio::spawn(async move {
            let text = "w ".repeat(i + 1);
            let report = skill.run(&json!({"text": text}).to_string(), &Default::default()).await;
            (i, report.result.unwrap()["words"].as_u64().unwrap())
        })
    });
    for run in runs {
        let (i, words) = run.await.unwrap();
        assert_eq!(words, i as u64 + 1);
    }
}

#[path = "../../skills/testing/hash/src/work.rs"]
mod work;

#[tokio::test]
async fn cpu_bound_work_in_the_sandbox_gives_the_native_answer() {
    // The benchmark compares its speed with native code; here, its result.
    let skill = load("hash").await;
    let report = skill.run(r#"{"mib": 2}"#, &Default::default()).await;
    assert_eq!(report.result.unwrap()["sha256"], json!(work::hash_generated(2)));
}

#[test]
fn log_budget_obeyed_and_violated_from_the_command_line() {
    // log-flood logs 100,000 lines of 101 bytes, each costing 102.
    let run = |max_log: &str| -> serde_json::Value {
        let out = weft()
            .args(["skill", "run"])
            .arg(fixture("log-flood"))
            .args(["--max-log", max_log, "--json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = run("10MiB");
    assert_eq!((all["logs"].as_array().unwrap().len(), &all["logs_dropped"]), (100_000, &json!(0)));
    let capped = run("10KiB");
    let cost = capped["logs"][0]["message"].as_str().unwrap().len() + 1;
    let fit = 10 * 1024 / cost;
    assert_eq!(capped["logs"].as_array().unwrap().len(), fit);
    assert_eq!(capped["logs_dropped"], json!(100_000 - fit));
}
