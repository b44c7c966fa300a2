//! Scale-out: many `weft worker` processes sharing a PostgreSQL journal.
//! `make test` starts a throwaway server (tools/with-postgres.sh) and passes
//! its URL in WEFT_TEST_PG; each test gets a database of its own.

use crate::support::{root, weft};
use crate::workflow::spec;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh database on the test server, or `None` when there is no server
/// (then the test is skipped, except under CI, where it fails).
fn database(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("WEFT_TEST_PG") else {
        assert!(std::env::var_os("CI").is_none(), "WEFT_TEST_PG is not set: run the tests with `make test`");
        eprintln!("skipping: no PostgreSQL (run through `make test`, which starts one)");
        return None;
    };
    let db = format!("{name}_{}", std::process::id());
    let status = Command::new("psql").arg(&base).args(["-q", "-c", &format!("CREATE DATABASE {db}")]).status().unwrap();
    assert!(status.success(), "created the test database");
    let url = base.replacen("/weft?", &format!("/{db}?"), 1);
    // Opening the journal applies its migrations, so the tests can query the
    // tables before any worker or run has touched the database.
    let out = weft().args(["runs", "--db", &url]).output().unwrap();
    assert!(out.status.success(), "migrated the test database: {}", String::from_utf8_lossy(&out.stderr));
    Some(url)
}

/// A worker process, killed when dropped.
struct WorkerProc(Child);

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(db: &str, name: &str, concurrency: usize) -> WorkerProc {
    let child = weft()
        .args(["worker", "--db", db, "--name", name, "--lease", "1500ms", "--grace", "5s"])
        .args(["--concurrency", &concurrency.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    WorkerProc(child)
}

fn run_json(db: &str, spec_path: &std::path::Path, input: &Value) -> Value {
    let out =
        weft().arg("run").arg(spec_path).args(["--db", db, "--json", "--input", &input.to_string()]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn psql(db: &str, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("psql").arg(db).args(["-At", "-F", "\t", "-c", sql]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// Which worker ran each finished attempt of a run.
fn workers_of(db: &str, run_id: &str) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for row in psql(db, &format!("SELECT worker FROM attempts WHERE run_id = '{run_id}' AND state = 'done'")) {
        *by.entry(row[0].clone()).or_insert(0) += 1;
    }
    by
}

fn no_step_finished_twice(db: &str, run_id: &str) {
    let rows = psql(
        db,
        &format!(
            "SELECT body->>'step', count(*) FROM events WHERE run_id = '{run_id}' AND body->>'type' = 'step_finished' GROUP BY 1"
        ),
    );
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row[1], "1", "step {} finished {} times", row[0], row[1]);
    }
}

const FAN_OUT: &str = r#"
name = "fan-out"
output = "steps.naps.output.map(n, n.tag)"
[steps.naps]
skill = "@skills/sleep.wasm"
for_each = "lists.range(input.n)"
concurrency = 12
input = "{'ms': input.ms, 'tag': item}"
"#;

#[test]
fn the_engine_behaves_the_same_on_postgres_as_on_sqlite() {
    let Some(db) = database("same") else { return };
    let _w1 = worker(&db, "same-a", 4);
    let _w2 = worker(&db, "same-b", 4);
    let sqlite = tempfile::tempdir().unwrap();
    let sqlite_db = sqlite.path().join("runs.db").display().to_string();
    let cases: Vec<(&str, Value)> = vec![
        (
            r#"name = "chain"
            output = "{'words': steps.count.output.words, 'ok': steps.check.output.ok}"
            [steps.count]
            skill = "@skills/word-count.wasm"
            input = { text = "input.text" }
            [steps.check]
            skill = "@skills/at-least.wasm"
            input = { value = "steps.count.output.words", min = 3 }"#,
            json!({"text": "one two three four"}),
        ),
        (
            r#"name = "retry-and-fallback"
            [steps.flaky]
            skill = "@skills/flaky.wasm"
            input = { fail_times = 2, counter = "'@dir/calls-' + input.backend" }
            grants = { write = ["@dir"] }
            retry = { max_attempts = 3, initial_interval = "10ms" }
            [steps.broken]
            skill = "@skills/guest-error.wasm"
            input = { kind = "'permanent'", message = "'no'" }
            fallback = { value = { ok = true } }"#,
            json!({}),
        ),
        (
            r#"name = "loop"
            output = "steps.refine.output"
            [steps.refine]
            repeat = { until = "steps.check.output.ok", max_iterations = 5 }
            output = "steps.gen.output.value"
            [steps.refine.steps.gen]
            skill = "@skills/echo.wasm"
            input = "{'value': iteration * 2}"
            [steps.refine.steps.check]
            skill = "@skills/at-least.wasm"
            input = { value = "steps.gen.output.value", min = 4 }"#,
            json!(null),
        ),
        (
            r#"name = "escalate"
            [steps.bad]
            skill = "@skills/guest-error.wasm"
            input = { kind = "'transient'", message = "'down'" }
            retry = { max_attempts = 2, initial_interval = "10ms" }"#,
            json!(null),
        ),
    ];
    for (text, input) in cases {
        let s = spec(text);
        let mut results = Vec::new();
        for (backend, target) in [("sqlite", sqlite_db.as_str()), ("postgres", db.as_str())] {
            let mut input = input.clone();
            if let Value::Object(o) = &mut input {
                o.insert("backend".into(), json!(backend));
            }
            let r = run_json(target, &s.path, &input);
            let steps: BTreeMap<String, (Value, Value)> = r["steps"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), (v["status"].clone(), v["attempts"].clone())))
                .collect();
            results.push((r["status"].clone(), r["output"].clone(), r["error"].clone(), steps));
        }
        assert_eq!(results[0], results[1], "the same run on SQLite and on PostgreSQL:\n{text}");
    }
}

#[test]
fn three_workers_share_a_fan_out() {
    let Some(db) = database("share") else { return };
    let workers: Vec<WorkerProc> = ["share-a", "share-b", "share-c"].iter().map(|n| worker(&db, n, 2)).collect();
    let s = spec(FAN_OUT);
    let r = run_json(&db, &s.path, &json!({"n": 12, "ms": 300}));
    assert_eq!(r["status"], json!("succeeded"), "{r}");
    assert_eq!(r["output"], json!((0..12).collect::<Vec<_>>()));
    let by = workers_of(&db, r["run_id"].as_str().unwrap());
    assert_eq!(by.values().sum::<usize>(), 12);
    assert_eq!(
        by.keys().cloned().collect::<BTreeSet<_>>(),
        ["share-a", "share-b", "share-c"].map(String::from).into(),
        "{by:?}"
    );
    drop(workers);
}

#[test]
fn a_worker_killed_mid_step_loses_its_lease_and_another_finishes_the_run() {
    let Some(db) = database("killed") else { return };
    let mut doomed = worker(&db, "doomed", 2);
    let _survivor = worker(&db, "survivor", 2);
    let s = spec(FAN_OUT);
    let path = s.path.clone();
    let db2 = db.clone();
    let run = std::thread::spawn(move || run_json(&db2, &path, &json!({"n": 6, "ms": 2000})));
    // Wait until the doomed worker holds an attempt, then kill it (SIGKILL).
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the doomed worker never claimed anything");
        if !psql(&db, "SELECT id FROM attempts WHERE state = 'claimed' AND lease_owner = 'doomed'").is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    doomed.0.kill().unwrap();
    doomed.0.wait().unwrap();
    let r = run.join().unwrap();
    assert_eq!(r["status"], json!("succeeded"), "{r}");
    assert_eq!(r["output"], json!([0, 1, 2, 3, 4, 5]));
    let run_id = r["run_id"].as_str().unwrap();
    no_step_finished_twice(&db, run_id);
    let by = workers_of(&db, run_id);
    assert!(by.get("survivor").copied().unwrap_or(0) >= 1, "{by:?}");
    assert!(by.get("doomed").copied().unwrap_or(0) < 6, "the doomed worker did not finish everything: {by:?}");
    assert!(psql(&db, &format!("SELECT id FROM attempts WHERE run_id = '{run_id}' AND state <> 'done'")).is_empty());
}

#[test]
fn a_worker_started_late_joins_the_work_in_progress() {
    let Some(db) = database("late") else { return };
    let _early = worker(&db, "early", 1);
    let s = spec(FAN_OUT);
    let path = s.path.clone();
    let db2 = db.clone();
    let run = std::thread::spawn(move || run_json(&db2, &path, &json!({"n": 8, "ms": 500})));
    std::thread::sleep(Duration::from_millis(1200));
    let _late = worker(&db, "late", 2);
    let r = run.join().unwrap();
    assert_eq!(r["status"], json!("succeeded"), "{r}");
    let by = workers_of(&db, r["run_id"].as_str().unwrap());
    assert!(by.get("late").copied().unwrap_or(0) >= 1, "the late worker joined: {by:?}");
    assert!(by.get("early").copied().unwrap_or(0) >= 1, "{by:?}");
}

#[test]
fn a_detached_run_is_orchestrated_by_a_worker_and_listed() {
    let Some(db) = database("detached") else { return };
    let s = spec(FAN_OUT);
    let out = weft()
        .arg("run")
        .arg(&s.path)
        .args(["--db", &db, "--detach", "--json", "--input", r#"{"n": 3, "ms": 50}"#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let submitted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(submitted["status"], json!("submitted"));
    let run_id = submitted["run_id"].as_str().unwrap().to_string();
    let listed: Value =
        serde_json::from_slice(&weft().args(["runs", "--db", &db, "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(listed[0]["status"], json!("running"), "nothing runs it until a worker comes");
    let _w = worker(&db, "orchestrator", 2);
    let started = Instant::now();
    loop {
        let shown: Value = serde_json::from_slice(
            &weft().args(["runs", "show", &run_id, "--db", &db, "--json"]).output().unwrap().stdout,
        )
        .unwrap();
        if shown["report"]["status"] == json!("succeeded") {
            assert_eq!(shown["report"]["output"], json!([0, 1, 2]));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the detached run finished: {shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Skills travel by content: the queue names them by digest, and the
    // digest is that of the bytes on disk.
    let digest = blake3_of(&root().join("target/skills/sleep.wasm"));
    let rows = psql(&db, &format!("SELECT DISTINCT skill FROM attempts WHERE run_id = '{run_id}'"));
    assert_eq!(rows, vec![vec![digest]]);
}

fn blake3_of(path: &std::path::Path) -> String {
    // The same digest the host computes (BLAKE3), through the host's own code path.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { crate::support::sandbox().load_file(path).await.unwrap().digest().to_string() })
}
