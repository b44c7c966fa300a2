//! The seed's job end to end: the docs-update example and its testing plan.

use crate::support::{root, weft};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

/// The example's sample repository is shared; tests that use it take turns.
static SAMPLE: Mutex<()> = Mutex::new(());

fn make_sample() {
    let dir = root().join("examples/docs-update");
    let status = std::process::Command::new(dir.join("make-sample-repo.sh")).arg(dir.join("sample")).status().unwrap();
    assert!(status.success());
}

/// A sample repository of the test's own (in `DIR/repo`, with `DIR/out`),
/// for tests that need not take turns on the example's.
fn own_sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = root().join("examples/docs-update/make-sample-repo.sh");
    let status = std::process::Command::new(script).arg(dir.path()).status().unwrap();
    assert!(status.success());
    dir
}

fn demo_spec() -> PathBuf {
    root().join("examples/docs-update/workflow.toml")
}

fn demo_input(sample: &Path, commit: &str, out: &Path) -> String {
    json!({"repo": sample.join("repo"), "commit": commit, "out": out}).to_string()
}

/// The files of `dir`, by name, with their contents.
fn files_of(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

#[test]
fn the_testing_plan_of_the_demo_passes_every_scenario() {
    let _turn = SAMPLE.lock().unwrap_or_else(|p| p.into_inner());
    make_sample();
    let spec = demo_spec();
    let out = weft().arg("test").arg(&spec).arg("--json").output().unwrap();
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let names: Vec<&str> = r["scenarios"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    for seed in
        ["happy_path", "graceful_degradation", "error_recovery", "generation_timeout", "escalation", "convergence"]
    {
        assert!(names.contains(&seed), "the seed's scenario {seed} is in the plan: {names:?}");
    }
    let failed: Vec<&Value> =
        r["scenarios"].as_array().unwrap().iter().filter(|s| s["passed"] != json!(true)).collect();
    assert!(failed.is_empty(), "failed scenarios: {}", serde_json::to_string_pretty(&failed).unwrap());
    assert_eq!(out.status.code(), Some(0));
    // Each scenario wrote its docs to a directory of its own, not the demo's.
    let demo_out = root().join("examples/docs-update/sample/out");
    assert_eq!(files_of(&demo_out).len(), 0, "{:?}", files_of(&demo_out).keys());
}

#[test]
fn every_scenario_gets_an_empty_directory_of_its_own_removed_after_it() {
    let dir = tempfile::tempdir().unwrap();
    // `flaky` counts its calls in a file: each scenario's first call is call 1
    // only if no other scenario's counter is in its directory.
    let scenario = |name: &str, at: &str| {
        format!(
            "[scenarios.{name}]\ninput = {{ dir = \"{at}\" }}\nexpect = {{ status = \"succeeded\", output = {{ count = {{ call = 1 }} }} }}\n"
        )
    };
    let steps = format!(
        "name = \"isolated\"\noutput = \"{{'count': steps.count.output, 'dir': input.dir}}\"\n[steps.count]\nskill = \"{}\"\ninput = {{ fail_times = 0, counter = \"input.dir + '/calls'\" }}\ngrants = {{ write = [\"${{{{ input.dir }}}}\"] }}\n",
        crate::support::fixture("flaky").display()
    );
    let write = |text: String| {
        let path = dir.path().join("workflow.toml");
        std::fs::write(&path, text).unwrap();
        path
    };
    let own = write(format!("{steps}{}{}", scenario("first", "{scenario_dir}"), scenario("second", "{scenario_dir}")));
    let out = weft().arg("test").arg(&own).arg("--json").output().unwrap();
    let r: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(0), "{r}");
    let dirs: Vec<&str> =
        r["scenarios"].as_array().unwrap().iter().map(|s| s["report"]["output"]["dir"].as_str().unwrap()).collect();
    assert_ne!(dirs[0], dirs[1]);
    for d in dirs {
        assert!(!Path::new(d).exists(), "{d} is removed after its scenario");
    }

    // The violated case: a directory the scenarios share, and the second sees the first's count.
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    let shared =
        write(format!("{steps}{}{}", scenario("first", "{spec_dir}/shared"), scenario("second", "{spec_dir}/shared")));
    let out = weft().arg("test").arg(&shared).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("the output at `/count/call` is 2, not 1"), "{stdout}");
}

#[test]
fn weft_test_without_scenarios_points_to_the_testing_plan_docs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workflow.toml");
    std::fs::write(
        &path,
        format!("name = \"none\"\n[steps.a]\nskill = \"{}\"\n", crate::support::fixture("echo").display()),
    )
    .unwrap();
    let out = weft().arg("test").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("declares no [scenarios]; see docs/workflows.md#testing-plan"), "{stderr}");
    assert!(root().join("docs/workflows.md").exists());
}

#[test]
fn rehearsing_a_hung_step_waits_out_its_timeout_and_retries() {
    // The tutorial's `weft run ... --fault show=timeout`.
    let sample = own_sample();
    let out = weft()
        .env("WEFT_DB", sample.path().join("runs.db"))
        .arg("run")
        .arg(demo_spec())
        .args(["--input", &demo_input(sample.path(), "happy-path", &sample.path().join("out"))])
        .args(["--fault", "show=timeout", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let show = &r["steps"]["show"];
    assert_eq!(show["attempts"], json!(2), "{show}");
    let retry = &show["recovery"][0];
    assert_eq!((retry["action"].as_str(), retry["kind"].as_str()), (Some("retry"), Some("timeout")), "{show}");
    assert!(show["duration_ms"].as_u64().unwrap() >= 20_000, "the hang lasted the step's 20 s timeout: {show}");
    assert_eq!(r["output"]["updated"], json!(["inventory/stock.py"]));
}

#[test]
fn a_fault_or_a_down_server_that_names_nothing_in_the_spec_is_refused_with_a_suggestion() {
    let sample = own_sample();
    let input = demo_input(sample.path(), "HEAD", &sample.path().join("out"));
    for (flag, value, says) in [
        ("--fault", "shwo=timeout", "--fault shwo=timeout: the spec has no step `shwo`; did you mean `show`?"),
        (
            "--fault",
            "modules[0].fetch_dcs=transient",
            "there is no step `fetch_dcs` inside `modules[0]`; did you mean `fetch_docs`?",
        ),
        ("--server-down", "gti", "--server-down gti: the spec has no MCP server `gti`; did you mean `git`?"),
    ] {
        let out = weft()
            .env("WEFT_DB", sample.path().join("runs.db"))
            .arg("run")
            .arg(demo_spec())
            .args(["--input", &input, flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(says), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("started"), "nothing ran: {stderr}");
    }
    assert!(files_of(&sample.path().join("out")).is_empty());
}

#[test]
fn a_demo_run_killed_mid_run_resumes_to_the_output_of_an_uninterrupted_one() {
    let sample = own_sample();
    let out_dir = sample.path().join("out");
    let input = demo_input(sample.path(), "HEAD", &out_dir);
    let run = |db: &str| {
        let mut c = weft();
        c.env("WEFT_DB", sample.path().join(db)).arg("run").arg(demo_spec()).args(["--input", &input]);
        c
    };
    let clean = run("clean.db").arg("--json").output().unwrap();
    assert_eq!(clean.status.code(), Some(0), "{}", String::from_utf8_lossy(&clean.stderr));
    let clean: Value = serde_json::from_slice(&clean.stdout).unwrap();
    let clean_files = files_of(&out_dir);
    assert_eq!(clean_files.len(), 2, "{:?}", clean_files.keys());
    std::fs::remove_dir_all(&out_dir).unwrap();
    std::fs::create_dir(&out_dir).unwrap();

    // As in the tutorial: every `generate` hangs (for its 10 s timeout), and
    // the run is killed (SIGKILL) while one does; `show` and `changes` have
    // finished and are in the journal, `write` has not run.
    let mut child = run("crash.db")
        .args(["--fault", "generate=timeout"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("started   modules[") && line.contains(".document#1.generate") {
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(seen.contains(".document#1.generate"), "the run reached `generate` before it ended:\n{seen}");
    assert!(files_of(&out_dir).is_empty(), "killed before `write`");

    let db = sample.path().join("crash.db");
    let with_db = |args: &[&str]| weft().env("WEFT_DB", &db).args(args).output().unwrap();
    let runs: Value = serde_json::from_slice(&with_db(&["runs", "--json"]).stdout).unwrap();
    assert_eq!(runs[0]["status"], json!("running"), "{runs}");
    let id = runs[0]["id"].as_str().unwrap();

    let resumed = with_db(&["resume", &id[..8], "--json"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let resumed: Value = serde_json::from_slice(&resumed.stdout).unwrap();
    assert_eq!(resumed["output"], clean["output"]);
    assert_eq!(files_of(&out_dir), clean_files, "the same docs were written");

    // `show` and `changes` finished before the kill: the resumed run did not
    // call them again. The fault was the killed process's: `generate` ran for real.
    let shown: Value = serde_json::from_slice(&with_db(&["runs", "show", id, "--json"]).stdout).unwrap();
    let events = shown["events"].as_array().unwrap();
    let resumed_at = events.iter().position(|e| e["type"] == "run_resumed").expect("a run_resumed event");
    for step in ["show", "changes"] {
        let again = events[resumed_at..].iter().filter(|e| e["type"] == "attempt_started" && e["step"] == step).count();
        assert_eq!(again, 0, "`{step}` ran again after the resume");
    }
    let generated = |e: &&Value| e["step"].as_str().is_some_and(|s| s.ends_with(".generate"));
    let templates = events[resumed_at..].iter().filter(generated).filter(|e| e["type"] == "fallback_used").count();
    let succeeded = events[resumed_at..]
        .iter()
        .filter(generated)
        .filter(|e| e["type"] == "step_finished" && e["status"] == "succeeded");
    assert_eq!(templates, 0, "no template stood in for a hung `generate` after the resume");
    assert!(succeeded.count() >= 2, "both documented modules were generated after the resume");
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
    let input = demo_input(&sample, "HEAD", &sample.join("out"));
    let out = weft()
        .env("WEFT_DB", db.path().join("runs.db"))
        .arg("run")
        .arg(demo_spec())
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

#[tokio::test]
async fn the_docs_template_documents_every_public_name_so_the_validator_accepts_it() {
    let template = crate::support::load("docs-template").await;
    let api = json!({
        "dotted": "inventory.stock", "doc": "Stock levels.", "names": ["total", "Stock"],
        "functions": [{"name": "total", "signature": "total(stock)", "doc": ""}],
        "classes": [{"name": "Stock", "doc": "Counts.", "methods": [{"name": "add", "signature": "add(sku, quantity)", "doc": "Adds."}]}],
    });
    let input = json!({"api": api, "existing": "", "complaints": []});
    let r = template.run(&input.to_string(), &Default::default()).await.result.unwrap();
    let markdown = r["markdown"].as_str().unwrap();
    assert!(markdown.starts_with("# inventory.stock\n\n## Overview\n\nStock levels.\n\n## API\n"), "{markdown}");
    assert!(markdown.contains("### `total(stock)`\n\n_Not documented yet._"), "{markdown}");
    assert!(markdown.contains("### `Stock.add(sku, quantity)`\n\nAdds."), "{markdown}");

    let v = crate::support::load("validate-markdown").await;
    let doc = json!({"markdown": markdown, "names": api["names"]});
    let verdict = v.run(&doc.to_string(), &Default::default()).await.result.unwrap();
    assert_eq!(verdict["valid"], json!(true), "{verdict}");
}
