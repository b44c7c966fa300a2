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
