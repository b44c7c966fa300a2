//! `weft skill describe|run` through the real binary: output shapes and exit codes.

use crate::support::{fixture, weft};
use serde_json::{Value, json};

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn describe_prints_the_skill_info_with_schemas_as_objects() {
    let out = weft().args(["skill", "describe"]).arg(fixture("word-count")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info = stdout_json(&out);
    assert_eq!(info["name"], json!("word-count"));
    assert_eq!(info["version"], json!("0.1.0"));
    assert!(info["description"].as_str().unwrap().contains("Counts"), "{info}");
    assert_eq!(info["input_schema"]["type"], json!("object"));
    assert!(info["output_schema"]["properties"]["words"].is_object(), "{info}");
}

#[test]
fn run_json_success_has_the_documented_shape() {
    let out = weft()
        .args(["skill", "run"])
        .arg(fixture("word-count"))
        .args(["--input", r#"{"text": "hello there world"}"#, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(r["status"], json!("ok"));
    assert_eq!(r["output"]["words"], json!(3));
    assert!(r["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r["fuel_consumed"], Value::Null);
    assert!(r["stdout"].is_string() && r["stderr"].is_string());
}

#[test]
fn run_json_failure_names_the_kind_and_exits_1() {
    let out = weft()
        .args(["skill", "run"])
        .arg(fixture("busy-loop"))
        .args(["--timeout", "200ms", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = stdout_json(&out);
    assert_eq!(r["status"], json!("error"));
    assert_eq!(r["error"]["kind"], json!("timeout"));
}

#[test]
fn fuel_flag_meters_and_reports() {
    let out = weft()
        .args(["skill", "run"])
        .arg(fixture("echo"))
        .args(["--input", "[1,2,3]", "--fuel", "10000000", "--json"])
        .output()
        .unwrap();
    let r = stdout_json(&out);
    assert_eq!(r["output"], json!([1, 2, 3]));
    assert!(r["fuel_consumed"].as_u64().unwrap() > 0);
}

#[test]
fn input_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.json");
    std::fs::write(&file, r#"{"text": "from a file"}"#).unwrap();
    let out = weft()
        .args(["skill", "run"])
        .arg(fixture("word-count"))
        .arg("--input")
        .arg(format!("@{}", file.display()))
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(stdout_json(&out)["output"]["words"], json!(3));
}

#[test]
fn readable_mode_prints_the_output_and_a_summary() {
    let out = weft().args(["skill", "run"]).arg(fixture("echo")).args(["--input", r#"{"a": 1}"#]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stdout_json(&out), json!({"a": 1}));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ok in"));
}

#[test]
fn an_unloadable_component_exits_2_with_one_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.wasm");
    std::fs::write(&bad, b"not wasm").unwrap();
    let out = weft().args(["skill", "run"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("garbage.wasm") && err.contains("not WebAssembly"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_say_what_to_write() {
    let out = weft().args(["skill", "run"]).arg(fixture("echo")).args(["--timeout", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("250ms"));
    let out = weft().args(["skill", "run"]).arg(fixture("echo")).args(["--input", "{bad"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--input is not JSON"));
}

#[test]
fn grant_flags_reach_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), "hi").unwrap();
    let path = dir.path().canonicalize().unwrap();
    let file = path.join("f.txt").to_string_lossy().into_owned();
    let input = json!({"read": [file], "env": true}).to_string();
    let out = weft()
        .args(["skill", "run"])
        .arg(fixture("escape-probe"))
        .arg("--allow-read")
        .arg(&path)
        .args(["--allow-env", "WEFT_TEST_VALUE=42", "--input", &input, "--json"])
        .output()
        .unwrap();
    let r = stdout_json(&out);
    assert_eq!(r["output"]["read"][&file]["value"], json!("hi"), "{r}");
    assert_eq!(r["output"]["env"], json!({"WEFT_TEST_VALUE": "42"}));
}

#[test]
fn a_missing_grant_directory_is_a_usage_error() {
    let out =
        weft().args(["skill", "run"]).arg(fixture("echo")).args(["--allow-read", "/no/such/dir"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/dir"));
}

fn example() -> (std::path::PathBuf, String) {
    let dir = crate::support::root().join("examples/word-budget");
    (dir.join("workflow.toml"), format!("@{}", dir.join("input.json").display()))
}

#[test]
fn run_json_report_has_the_documented_shape_and_exit_0() {
    let (spec, input) = example();
    let out = weft().arg("run").arg(&spec).args(["--input", &input, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(r["workflow"], json!("word-budget"));
    assert_eq!(r["status"], json!("succeeded"));
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["output"]["total"], json!(45));
    assert!(r["run_id"].as_str().unwrap().len() >= 16);
    let style = &r["steps"]["style"];
    assert_eq!((style["status"].as_str(), style["attempts"].as_u64()), (Some("succeeded"), Some(1)));
    assert!(style["recovery"].as_array().unwrap().is_empty() && style["duration_ms"].is_u64());
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> =
        v.as_object().unwrap_or_else(|| panic!("an object: {v}")).keys().map(String::as_str).collect();
    k.sort();
    k
}

#[test]
fn run_json_report_has_exactly_the_documented_keys() {
    let (spec, input) = example();
    let out = weft().arg("run").arg(&spec).args(["--input", &input, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(keys(&r), ["error", "output", "run_id", "status", "steps", "workflow"]);
    for (path, step) in r["steps"].as_object().unwrap() {
        assert_eq!(keys(step), ["attempts", "duration_ms", "recovery", "status"], "step {path}: {step}");
    }
}

#[test]
fn a_failed_run_json_names_the_step_kind_and_message_and_exits_1() {
    let (spec, input) = example();
    let out = weft()
        .arg("run")
        .arg(&spec)
        .args(["--input", &input, "--json", "--fault", "total=permanent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!((r["status"].as_str(), &r["output"]), (Some("failed"), &Value::Null));
    assert_eq!(r["error"], json!({"step": "total", "kind": "permanent", "message": "injected fault: permanent"}));
    let total = &r["steps"]["total"];
    assert_eq!(keys(total), ["attempts", "duration_ms", "error", "recovery", "status"]);
    assert_eq!((total["status"].as_str(), &total["error"]["kind"]), (Some("failed"), &json!("permanent")));
}

#[test]
fn a_run_wide_failure_has_no_step_in_its_error() {
    let (spec, _) = example();
    let out = weft().arg("run").arg(&spec).args(["--input", r#"{"budget": 0}"#, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(keys(&r["error"]), ["kind", "message", "step"]);
    assert_eq!((&r["error"]["step"], &r["error"]["kind"]), (&Value::Null, &json!("invalid_input")));
    assert_eq!(r["steps"], json!({}), "no step ran");
}

#[test]
fn a_spec_error_under_run_json_prints_the_diagnostics_and_exits_2() {
    let case = crate::support::root().join("tests/scenarios/check/unknown-step/workflow.toml");
    let out = weft().arg("run").arg(&case).args(["--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let r = stdout_json(&out);
    assert_eq!(keys(&r), ["diagnostics", "ok"]);
    assert_eq!(r["ok"], json!(false));
    let d = &r["diagnostics"][0];
    assert_eq!(
        (d["severity"].as_str(), d["at"].as_str(), d["line"].as_u64()),
        (Some("error"), Some("steps.use.input"), Some(8))
    );
}

#[test]
fn run_with_a_fault_shows_retries_and_the_fallback() {
    let (spec, input) = example();
    let out = weft()
        .arg("run")
        .arg(&spec)
        .args(["--input", &input, "--json", "--fault", "style=transient:9"])
        .output()
        .unwrap();
    let r = stdout_json(&out);
    assert_eq!(r["status"], json!("succeeded"));
    let style = &r["steps"]["style"];
    assert_eq!((style["status"].as_str(), style["attempts"].as_u64()), (Some("fallback"), Some(3)));
    let actions: Vec<&str> =
        style["recovery"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["retry", "retry", "fallback"]);
    assert_eq!(r["output"]["style"]["tone"], json!("neutral"));
}

#[test]
fn a_failed_run_exits_1_naming_the_step() {
    let (spec, input) = example();
    let out = weft().arg("run").arg(&spec).args(["--input", &input, "--fault", "total=permanent"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed at step `total`: permanent: injected fault"), "{err}");
}

#[test]
fn run_usage_errors_exit_2() {
    let (spec, input) = example();
    let out = weft().arg("run").arg(&spec).args(["--input", &input, "--fault", "style=explode"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown outcome kind `explode`"));
    let out = weft().arg("run").arg("/no/such/spec.toml").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/spec.toml"));
}
