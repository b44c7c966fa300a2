//! The seed's job end to end: the docs-update example and its testing plan.

use crate::support::{root, weft};
use serde_json::{Value, json};
use std::sync::Mutex;

/// The example's sample repository is shared; tests that use it take turns.
static SAMPLE: Mutex<()> = Mutex::new(());

fn make_sample() {
    let dir = root().join("examples/docs-update");
    let status = std::process::Command::new(dir.join("make-sample-repo.sh")).arg(dir.join("sample")).status().unwrap();
    assert!(status.success());
}

#[test]
fn the_testing_plan_of_the_demo_passes_every_scenario() {
    let _turn = SAMPLE.lock().unwrap_or_else(|p| p.into_inner());
    make_sample();
    let spec = root().join("examples/docs-update/workflow.toml");
    let out = weft().arg("test").arg(&spec).arg("--json").output().unwrap();
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let names: Vec<&str> = r["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for seed in ["happy_path", "graceful_degradation", "error_recovery", "escalation", "convergence"] {
        assert!(names.contains(&seed), "the seed's scenario {seed} is in the plan: {names:?}");
    }
    let failed: Vec<&Value> =
        r["scenarios"].as_array().unwrap().iter().filter(|s| s["passed"] != json!(true)).collect();
    assert!(failed.is_empty(), "failed scenarios: {}", serde_json::to_string_pretty(&failed).unwrap());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_scenario_whose_expectation_is_wrong_fails_and_weft_test_exits_1() {
    let _turn = SAMPLE.lock().unwrap_or_else(|p| p.into_inner());
    make_sample();
    let dir = root().join("examples/docs-update");
    let text = std::fs::read_to_string(dir.join("workflow.toml")).unwrap();
    // The same plan, with one expectation made false.
    let wrong = text.replace(
        "faults = [{ step = \"show\", kind = \"transient\", times = 2 }]\nexpect = { status = \"succeeded\"",
        "faults = [{ step = \"show\", kind = \"transient\", times = 5 }]\nexpect = { status = \"succeeded\"",
    );
    assert_ne!(text, wrong, "the scenario to break was found");
    let spec = dir.join("wrong-expectation.toml");
    std::fs::write(&spec, wrong).unwrap();
    let out = weft().arg("test").arg(&spec).args(["--scenario", "error_recovery"]).output().unwrap();
    std::fs::remove_file(&spec).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL") && stdout.contains("the run failed instead of succeeded"), "{stdout}");
}

#[test]
fn the_demo_run_updates_degrades_and_escalates_and_writes_the_docs() {
    let _turn = SAMPLE.lock().unwrap_or_else(|p| p.into_inner());
    make_sample();
    let sample = root().join("examples/docs-update/sample");
    let db = tempfile::tempdir().unwrap();
    let input = json!({"repo": sample.join("repo"), "commit": "HEAD", "out": sample.join("out")}).to_string();
    let out = weft()
        .env("WEFT_DB", db.path().join("runs.db"))
        .arg("run")
        .arg(root().join("examples/docs-update/workflow.toml"))
        .args(["--input", &input, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["output"]["updated"], json!(["inventory/pricing.py", "inventory/report.py"]));
    assert_eq!(r["output"]["degraded"], json!(["inventory/report.py"]));
    assert_eq!(r["output"]["escalated"], json!(["inventory/legacy.py"]));
    let report_md = std::fs::read_to_string(sample.join("out/report.md")).unwrap();
    assert!(report_md.contains("## API") && report_md.contains("`low(stock, threshold)`"), "{report_md}");
    assert!(!sample.join("out/legacy.md").exists(), "the escalated module was not written");
}

#[tokio::test]
async fn the_markdown_validator_accepts_complete_docs() {
    let v = crate::support::load("validate-markdown").await;
    let doc = json!({"markdown": "# m\n\n## Overview\nText.\n\n## API\n### `f(a)`\nDoes f.\n\n```python\nf(1)\n```\n", "names": ["f"]});
    let r = v.run(&doc.to_string(), &Default::default()).await.result.unwrap();
    assert_eq!(r["valid"], json!(true), "{r}");
    assert_eq!(r["sections"], json!(["Overview", "API"]));
}

#[tokio::test]
async fn the_markdown_validator_names_each_shortcoming() {
    let v = crate::support::load("validate-markdown").await;
    let doc = json!({"markdown": "# m\n\n## Overview\nText.\n\n```python\nf(1)\n", "names": ["f"], "required_sections": ["Overview", "API"]});
    let r = v.run(&doc.to_string(), &Default::default()).await.result.unwrap();
    assert_eq!(r["valid"], json!(false));
    let complaints: Vec<&str> = r["complaints"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(
        complaints,
        [
            "the code fence opened on line 6 is never closed",
            "the required section `## API` is missing",
            "the public name `f` is not documented (give it a heading)"
        ]
    );
}
