//! Durable runs: the journal, run history, resume, and crashes at any point.

use crate::support::weft;
use crate::workflow::spec;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use weft::journal::Journal;
use weft::journal::sqlite::SqliteJournal;

fn with_db(db: &Path) -> Command {
    let mut c = weft();
    c.env("WEFT_DB", db);
    c
}

pub(crate) fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON on stdout ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A workflow of sequential and parallel steps, slow enough to be killed in
/// the middle, whose output does not depend on timing. Each step, as it
/// starts, appends `RUN_ID/STEP_PATH ATTEMPT` to `ran` in the spec's directory.
const CHAIN: &str = r#"
name = "chain"
output = "[steps.a.output.tag, steps.b.output.tag, steps.fan.output.map(x, x.tag), steps.c.output.tag, steps.d.output.tag]"

[defaults]
limits = { timeout = "20s" }

[steps.a]
skill = "@skills/sleep.wasm"
input = { ms = 60, tag = "'a'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.b]
skill = "@skills/sleep.wasm"
input = { ms = 60, tag = "steps.a.output.tag + 'b'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.fan]
skill = "@skills/sleep.wasm"
for_each = "['x', 'y', 'z']"
concurrency = 2
input = { ms = 60, tag = "steps.b.output.tag + item", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.c]
skill = "@skills/sleep.wasm"
input = { ms = 60, tag = "steps.fan.output[2].tag + 'c'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.d]
skill = "@skills/sleep.wasm"
input = { ms = 60, tag = "steps.c.output.tag + 'd'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }
"#;

/// The steps of CHAIN that run a skill.
const CHAIN_STEPS: [&str; 7] = ["a", "b", "fan[0]", "fan[1]", "fan[2]", "c", "d"];

/// How many times each step of run `run_id` started its skill, by path, as
/// the skill itself recorded it (outside the engine and its journal). Also
/// checks that every time it saw the step's idempotency key.
pub(crate) fn times_ran(dir: &Path, run_id: &str) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("ran")).unwrap_or_default();
    let mut ran = BTreeMap::new();
    for line in text.lines() {
        let (key, attempt) = line.split_once(' ').unwrap_or_else(|| panic!("a key and an attempt: {line:?}"));
        if let Some(path) = key.strip_prefix(&format!("{run_id}/")) {
            assert_eq!(attempt, "1", "{path}: a step that never fails makes one attempt, in every life");
            *ran.entry(path.to_string()).or_default() += 1;
        }
    }
    ran
}

/// The steps the journal of run `run_id` has as finished (reused on resume).
fn finished_in(journal: &SqliteJournal, run_id: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let run = rt.block_on(journal.load(run_id)).unwrap();
    weft::domain::events::finished_steps(&run.records).into_keys().collect()
}

#[test]
fn runs_are_journaled_and_listed_with_their_steps_and_events() {
    let s = spec(CHAIN);
    let db = s.dir.path().join("runs.db");
    let out = with_db(&db).arg("run").arg(&s.path).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let run_id = json_of(&out)["run_id"].as_str().unwrap().to_string();

    let list = json_of(&with_db(&db).args(["runs", "--json"]).output().unwrap());
    assert_eq!(list[0]["id"], json!(run_id));
    assert_eq!((list[0]["status"].as_str(), list[0]["workflow"].as_str()), (Some("succeeded"), Some("chain")));
    assert!(list[0]["finished_ms"].as_u64().unwrap() >= list[0]["started_ms"].as_u64().unwrap());

    let shown = json_of(&with_db(&db).args(["runs", "show", &run_id[..12], "--json"]).output().unwrap());
    assert_eq!(shown["report"]["status"], json!("succeeded"));
    assert_eq!(shown["report"]["steps"]["fan[1]"]["status"], json!("succeeded"));
    let kinds: Vec<&str> = shown["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));

    let table = with_db(&db).args(["runs"]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains(&run_id));
    let missing = with_db(&db).args(["runs", "show", "nope"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("weft runs"));
}

#[test]
fn a_succeeded_run_is_not_resumed() {
    let s = spec(CHAIN);
    let db = s.dir.path().join("runs.db");
    let out = with_db(&db).arg("run").arg(&s.path).arg("--json").output().unwrap();
    let run_id = json_of(&out)["run_id"].as_str().unwrap().to_string();
    let again = with_db(&db).args(["resume", &run_id]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already succeeded"));
}

#[test]
fn a_failed_run_resumes_without_redoing_finished_steps_and_refuses_a_changed_spec_unless_forced() {
    let s = spec(
        r#"
        name = "two-phase"
        [steps.first]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 0, counter = "'@dir/first'" }
        grants = { write = ["@dir"] }
        [steps.second]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 1, counter = "'@dir/second'", value = "steps.first.output.call", log = "'@dir/keys'" }
        grants = { write = ["@dir"] }
        "#,
    );
    let db = s.dir.path().join("runs.db");
    let out = with_db(&db).arg("run").arg(&s.path).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the second step fails the first time");
    let run_id = json_of(&out)["run_id"].as_str().unwrap().to_string();

    // Changing the spec makes a resume mix two versions: refused unless forced.
    let text = std::fs::read_to_string(&s.path).unwrap();
    std::fs::write(&s.path, format!("{text}\n# an edit\n")).unwrap();
    let refused = with_db(&db).args(["resume", &run_id]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let resumed = with_db(&db).args(["resume", &run_id, "--force", "--json"]).output().unwrap();
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    let report = json_of(&resumed);
    assert_eq!(report["status"], json!("succeeded"));
    assert_eq!(report["output"]["second"], json!({"call": 2, "value": 1}));
    assert_eq!(
        std::fs::read_to_string(s.dir.path().join("first")).unwrap(),
        "1",
        "the finished step did not run again"
    );
    // The step that ran in both lives saw the same idempotency key in each.
    let key = format!("{run_id}/second");
    assert_eq!(std::fs::read_to_string(s.dir.path().join("keys")).unwrap(), format!("{key} 1\n{key} 1\n"));
    let list = json_of(&with_db(&db).args(["runs", "--json"]).output().unwrap());
    assert_eq!(list[0]["status"], json!("succeeded"));
}

/// Each step path finished exactly once across every life of the run, and
/// no attempt of it started after it had finished.
pub(crate) fn no_finished_step_ran_again(events: &[Value]) {
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let step = e["step"].as_str().unwrap_or_default().to_string();
        match e["type"].as_str().unwrap() {
            "step_finished" => *finished.entry(step).or_default() += 1,
            "attempt_started" => {
                assert!(!finished.contains_key(&step), "{step} started an attempt after it had finished")
            }
            _ => {}
        }
    }
    for (step, n) in finished {
        assert_eq!(n, 1, "{step} finished {n} times");
    }
}

#[test]
fn killed_at_any_point_a_run_resumes_to_the_same_output_without_redoing_finished_steps() {
    let s = spec(CHAIN);
    let clean_db = s.dir.path().join("clean.db");
    let clean = json_of(&with_db(&clean_db).arg("run").arg(&s.path).arg("--json").output().unwrap());
    assert_eq!(clean["status"], json!("succeeded"));
    let expected = clean["output"].clone();

    let clean_ran = times_ran(s.dir.path(), clean["run_id"].as_str().unwrap());
    assert_eq!(clean_ran, CHAIN_STEPS.iter().map(|p| (p.to_string(), 1)).collect(), "each step ran once");

    let mut interrupted = 0;
    for (i, kill_after) in [40u64, 90, 140, 190, 240, 290, 340, 390, 440, 520].into_iter().enumerate() {
        let db = s.dir.path().join(format!("crash-{i}.db"));
        let mut child = with_db(&db)
            .arg("run")
            .arg(&s.path)
            .arg("--json")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        let journal = SqliteJournal::open(&db).unwrap();
        journal.integrity_check().unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let Some(run) = rt.block_on(journal.list(1)).unwrap().into_iter().next() else {
            continue; // killed before the run was created
        };
        // After each kill: which steps the journal has as done, and how often each had run by then.
        let mut kills = vec![(finished_in(&journal, &run.id), times_ran(s.dir.path(), &run.id))];
        let mut lives = 1;
        if run.status == "running" {
            interrupted += 1;
            // Every other time, crash the resumed run too before resuming again.
            if i % 2 == 1 {
                let mut again =
                    with_db(&db).args(["resume", &run.id]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
                std::thread::sleep(Duration::from_millis(120));
                again.kill().unwrap();
                again.wait().unwrap();
                lives += 1;
                kills.push((finished_in(&journal, &run.id), times_ran(s.dir.path(), &run.id)));
            }
            // Resume to the end, unless the second life got there before its kill.
            let stored = rt.block_on(journal.load(&run.id)).unwrap();
            if stored.finished() != Some(weft::domain::events::RunStatus::Succeeded) {
                let out = with_db(&db).args(["resume", &run.id, "--json"]).output().unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "kill after {kill_after} ms: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                lives += 1;
            }
        }

        // However the lives went, the run ends as a clean run does ...
        let shown = json_of(&with_db(&db).args(["runs", "show", &run.id, "--json"]).output().unwrap());
        assert_eq!(shown["report"]["status"], json!("succeeded"), "kill after {kill_after} ms: {shown}");
        assert_eq!(shown["report"]["output"], expected, "kill after {kill_after} ms");
        no_finished_step_ran_again(shown["events"].as_array().unwrap());
        journal.integrity_check().unwrap();
        // ... and, as the steps themselves saw it: each ran at least once and
        // at most once per life; one that had finished before a kill never ran
        // again; one that finished in the first life ran exactly once.
        let ran = times_ran(s.dir.path(), &run.id);
        for path in CHAIN_STEPS {
            let n = ran.get(path).copied().unwrap_or(0);
            assert!((1..=lives).contains(&n), "kill after {kill_after} ms: {path} ran {n} times in {lives} lives");
        }
        for (done, ran_then) in &kills {
            for path in done.iter().filter(|p| CHAIN_STEPS.contains(&p.as_str())) {
                assert_eq!(ran[path], ran_then[path], "kill after {kill_after} ms: {path} had finished, and ran again");
            }
        }
        for path in kills[0].0.iter().filter(|p| CHAIN_STEPS.contains(&p.as_str())) {
            assert_eq!(ran[path], 1, "kill after {kill_after} ms: {path} finished in the first life");
        }
    }
    eprintln!("{interrupted} of 10 kills landed mid-run");
    assert!(interrupted >= 5, "most kills landed mid-run ({interrupted} of 10)");
}

#[test]
fn many_processes_can_open_a_new_journal_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let children: Vec<_> = (0..6)
        .map(|_| with_db(&db).args(["runs", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(json_of(&out), json!([]));
    }
}

#[test]
fn resuming_after_a_script_file_changed_is_refused_unless_forced() {
    let s = spec(
        r#"
        name = "scripted"
        output = "steps.calc.output"
        [steps.calc]
        script = "calc.py"
        input = "input"
        "#,
    );
    let script = s.dir.path().join("calc.py");
    std::fs::write(&script, "def run(input):\n    raise weft.PermanentError('not yet')\n").unwrap();
    let db = s.dir.path().join("runs.db");
    let out = with_db(&db).arg("run").arg(&s.path).args(["--json", "--input", r#"{"n": 21}"#]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let run_id = json_of(&out)["run_id"].as_str().unwrap().to_string();

    // Unchanged, it resumes (and fails the same way).
    let again = with_db(&db).args(["resume", &run_id, "--json"]).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(json_of(&again)["steps"]["calc"]["error"]["kind"], json!("permanent"));

    // The spec text is the same, but the script it names changed.
    std::fs::write(&script, "def run(input):\n    return {'n': input['n'] * 2}\n").unwrap();
    let refused = with_db(&db).args(["resume", &run_id]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scripts") && stderr.contains("--force"), "{stderr}");

    let forced = with_db(&db).args(["resume", &run_id, "--force", "--json"]).output().unwrap();
    assert_eq!(forced.status.code(), Some(0), "{}", String::from_utf8_lossy(&forced.stderr));
    assert_eq!(json_of(&forced)["output"], json!({"n": 42}));
}
