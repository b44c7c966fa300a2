//! Generated scripts in Python and JavaScript, through their runners: every
//! script under `tests/scripts/` says in its header what must happen
//! (`tests/scripts/README.md`), and this module checks it.

use crate::support::{fixture, root, sandbox, weft};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use weft::domain::{Grants, Limits, OutcomeKind, Size};
use weft::sandbox::{RunOptions, Skill};
use weft::scripts::runner_input;

struct Case {
    input: Value,
    limits: Limits,
    grants: Grants,
    expect: String,
    output: Option<Value>,
    /// Every `message:` line: each must be in the message.
    messages: Vec<String>,
    /// The exact captured stdout.
    stdout: Option<String>,
    /// The exact host log, as `[level, message]` pairs.
    logs: Option<Vec<(String, String)>>,
}

fn parse(path: &Path, granted: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let mut case = Case {
        input: Value::Null,
        limits: Limits::default(),
        grants: Grants::default(),
        expect: String::new(),
        output: None,
        messages: Vec::new(),
        stdout: None,
        logs: None,
    };
    let granted = granted.display().to_string();
    for line in text.lines() {
        let Some(header) = line.strip_prefix("# ").or_else(|| line.strip_prefix("// ")) else { continue };
        let Some((key, value)) = header.split_once(": ") else { continue };
        let value = value.replace("GRANTED_DIR", &granted);
        match key {
            "input" => case.input = serde_json::from_str(&value).unwrap(),
            "expect" => case.expect = value.trim().to_string(),
            "output" => case.output = Some(serde_json::from_str(&value).unwrap()),
            "message" => case.messages.push(value.trim().to_string()),
            "stdout" => case.stdout = Some(serde_json::from_str(&value).unwrap()),
            "logs" => case.logs = Some(serde_json::from_str(&value).unwrap()),
            "flags" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                for pair in words.chunks(2) {
                    match pair {
                        ["--timeout", t] => case.limits.timeout = t.parse::<weft::domain::Span>().unwrap().get(),
                        ["--max-output", s] => case.limits.max_output = s.parse::<Size>().unwrap().bytes(),
                        ["--max-memory", s] => case.limits.max_memory = s.parse::<Size>().unwrap().bytes(),
                        ["--max-disk", s] => case.limits.max_disk = s.parse::<Size>().unwrap().bytes(),
                        ["--allow-read", d] => case.grants = std::mem::take(&mut case.grants).read_dir(*d),
                        ["--allow-write", d] => case.grants = std::mem::take(&mut case.grants).write_dir(*d),
                        other => panic!("{}: unknown flags {other:?}", path.display()),
                    }
                }
            }
            _ => {}
        }
    }
    assert!(!case.expect.is_empty(), "{} has no `expect:` header", path.display());
    case
}

async fn check_all(lang_dir: &str, runner: &str) {
    let runner: Skill = sandbox().load_file(&fixture(runner)).await.unwrap();
    let granted = tempfile::tempdir().unwrap();
    std::fs::write(granted.path().join("hello.txt"), "hello\n").unwrap();
    crate::support::mkfifo(&granted.path().join("fifo"));
    let granted_path = granted.path().canonicalize().unwrap();
    let dir = root().join("tests/scripts").join(lang_dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 20, "scripts found in {}", dir.display());
    let mut failures = Vec::new();
    for file in files {
        let case = parse(&file, &granted_path);
        let source = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let opts = RunOptions { limits: case.limits.clone(), grants: case.grants.clone(), tools: None };
        let report = runner.run(&runner_input(&source, &case.input, &name), &opts).await;
        let (kind, text) = match &report.result {
            Ok(v) => ("ok".to_string(), v.to_string()),
            Err(f) => (f.kind.to_string(), f.message.clone()),
        };
        let mut wrong = Vec::new();
        if kind != case.expect {
            wrong.push(format!("ended as {kind}, expected {}", case.expect));
        }
        if let (Some(want), Ok(got)) = (&case.output, &report.result)
            && want != got
        {
            wrong.push(format!("output {got}, expected {want}"));
        }
        // For an output, the header writes JSON with spaces (`"a": 1`); compare compactly.
        let compact = |t: &str| t.replace("\": ", "\":").replace(", ", ",");
        for m in &case.messages {
            let found = text.contains(m.as_str()) || (kind == "ok" && compact(&text).contains(&compact(m)));
            if !found {
                wrong.push(format!("message lacks `{m}`"));
            }
        }
        if let Some(want) = &case.stdout
            && *want != report.stdout.text
        {
            wrong.push(format!("stdout {:?}, expected {want:?}", report.stdout.text));
        }
        if let Some(want) = &case.logs {
            let got: Vec<(String, String)> =
                report.logs.iter().map(|l| (l.level.as_str().to_string(), l.message.clone())).collect();
            if *want != got {
                wrong.push(format!("logs {got:?}, expected {want:?}"));
            }
        }
        if report.duration > case.limits.timeout + Duration::from_secs(3) {
            wrong.push(format!("took {:?}", report.duration));
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{name}: {} — got: {}",
                wrong.join("; "),
                text.chars().take(300).collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{} script(s) misbehaved:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn every_python_test_script_ends_as_its_header_says() {
    check_all("python", "python-runner").await;
}

#[tokio::test]
async fn every_javascript_test_script_ends_as_its_header_says() {
    check_all("js", "js-runner").await;
}

#[test]
fn weft_script_run_has_the_skill_run_shape_and_exit_codes() {
    let ok = root().join("tests/scripts/python/ok_double.py");
    let out = weft().args(["script", "run"]).arg(&ok).args(["--input", r#"{"n": 21}"#, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["status"].as_str(), &r["output"]), (Some("ok"), &json!({"n": 42})));

    let bad = root().join("tests/scripts/js/raises.js");
    let out = weft().args(["script", "run"]).arg(&bad).args(["--input", "{}", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["error"]["kind"], json!("permanent"));

    let loop_js = root().join("tests/scripts/js/infinite_loop.js");
    let out = weft().args(["script", "run"]).arg(&loop_js).args(["--timeout", "300ms", "--json"]).output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["error"]["kind"], json!(OutcomeKind::Timeout.as_str()));

    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("script.rb");
    std::fs::write(&unknown, "puts 1").unwrap();
    let out = weft().args(["script", "run"]).arg(&unknown).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--language"));
}

#[test]
fn weft_script_run_keeps_logs_up_to_max_log() {
    // ok_logging.py logs lines of 13, 17 and 38 bytes (plus one each): with
    // 40 bytes, the first two fit and the third is dropped whole.
    let script = root().join("tests/scripts/python/ok_logging.py");
    let mut cmd = weft();
    cmd.args(["script", "run"]).arg(&script).args(["--input", r#"{"name": "weft"}"#, "--max-log", "40", "--json"]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let kept: Vec<&str> = r["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(kept, ["greeting weft", "this is a warning"]);
    assert_eq!(r["logs_dropped"], json!(1));
}

#[tokio::test]
async fn skills_written_in_python_and_javascript_run_like_any_other() {
    let slugify = sandbox().load_file(&fixture("slugify")).await.unwrap();
    assert_eq!(slugify.info().name, "slugify");
    let r = slugify.run(r#"{"text": "Hello, Wörld! 2024"}"#, &Default::default()).await;
    assert_eq!(r.result.unwrap(), json!({"slug": "hello-world-2024"}));
    let bad = slugify.run(r#"{"txt": 1}"#, &Default::default()).await;
    assert_eq!(bad.result.unwrap_err().kind, OutcomeKind::InvalidInput);

    let title = sandbox().load_file(&fixture("title-case")).await.unwrap();
    let r = title.run(r#"{"text": "the lord of the rings"}"#, &Default::default()).await;
    assert_eq!(r.result.unwrap(), json!({"title": "The Lord of the Rings"}));
}
