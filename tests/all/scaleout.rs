//! Scale-out: many `weft worker` processes sharing a PostgreSQL journal.
//! `make test` starts a throwaway server (tools/with-postgres.sh) and passes
//! its URL in WEFT_TEST_PG; each test gets a database of its own.

use crate::support::{fixture, root, weft};
use crate::workflow::spec;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a run or a takeover may take before the test fails instead of
/// hanging: a generous margin for a loaded machine, not a speed check.
const LIMIT: Duration = Duration::from_secs(90);

/// A fresh database on the test server, or `None` when there is no server
/// (then the test is skipped, saying so, except under CI, where it fails).
pub(crate) fn database(name: &str) -> Option<String> {
    let Ok(base) = std::env::var("WEFT_TEST_PG") else {
        assert!(std::env::var_os("CI").is_none(), "WEFT_TEST_PG is not set: run the tests with `make test`");
        // Straight to stderr, past the test harness's capture: a skipped
        // test should not pass silently.
        let test = std::thread::current().name().unwrap_or(name).to_string();
        let _ = writeln!(
            std::io::stderr(),
            "{test}: skipped, WEFT_TEST_PG is not set (`make test` or tools/with-postgres.sh starts a server)"
        );
        return None;
    };
    let db = format!("{name}_{}", std::process::id());
    let status = Command::new("psql").arg(&base).args(["-q", "-c", &format!("CREATE DATABASE {db}")]).status().unwrap();
    assert!(status.success(), "created the test database");
    // postgresql://USER@HOST:PORT/weft?PARAMS -> the same, on database `db`.
    let (head, params) = base.split_once('?').map_or((base.as_str(), None), |(h, p)| (h, Some(p)));
    let (server, _) = head.rsplit_once('/').expect("the URL names a database");
    let url = match params {
        Some(p) => format!("{server}/{db}?{p}"),
        None => format!("{server}/{db}"),
    };
    // Opening the journal applies its migrations, so the tests can query the
    // tables before any worker or run has touched the database.
    let out = weft().args(["runs", "--db", &url]).output().unwrap();
    assert!(out.status.success(), "migrated the test database: {}", String::from_utf8_lossy(&out.stderr));
    Some(url)
}

/// A worker process, killed when dropped; its stderr goes to a log file.
pub(crate) struct WorkerProc {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl WorkerProc {
    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the worker to exit.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < LIMIT, "the worker did not stop on SIGTERM:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker_with(db: &str, name: &str, concurrency: usize, grace: &str, env: &[(&str, &str)]) -> WorkerProc {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = weft()
        .args(["worker", "--db", db, "--name", name, "--lease", "1500ms", "--grace", grace])
        .args(["--concurrency", &concurrency.to_string()])
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    WorkerProc { child, log }
}

pub(crate) fn worker(db: &str, name: &str, concurrency: usize) -> WorkerProc {
    worker_with(db, name, concurrency, "5s", &[])
}

/// Runs `cmd` to the end, or kills it and fails after [`LIMIT`]: a broken
/// takeover fails the test instead of hanging it.
fn output_within(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = pipe.read_to_end(&mut v);
            v
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap();
            panic!("{cmd:?} did not end within {LIMIT:?}:\n{}", String::from_utf8_lossy(&err));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() }
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn run_json(db: &str, spec_path: &std::path::Path, input: &Value) -> Value {
    json_of(&output_within(weft().arg("run").arg(spec_path).args([
        "--db",
        db,
        "--json",
        "--input",
        &input.to_string(),
    ])))
}

/// Submits a detached run; returns its id.
fn submit(db: &str, spec_path: &std::path::Path, input: &Value) -> String {
    let out = output_within(weft().arg("run").arg(spec_path).args([
        "--db",
        db,
        "--detach",
        "--json",
        "--input",
        &input.to_string(),
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let submitted = json_of(&out);
    assert_eq!(submitted["status"], json!("submitted"));
    submitted["run_id"].as_str().unwrap().to_string()
}

fn psql(db: &str, sql: &str) -> Vec<Vec<String>> {
    // The statement goes on stdin: it may be longer than a command line.
    let mut child = Command::new("psql")
        .arg(db)
        .args(["-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(sql.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// The one value `sql` selects.
fn psql_one(db: &str, sql: &str) -> String {
    let rows = psql(db, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

/// Polls until `done` holds, failing after [`LIMIT`] with `what` and what
/// the `workers` said.
fn wait_until(what: &str, workers: &[&WorkerProc], mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > LIMIT {
            let logs: Vec<String> = workers.iter().map(|w| w.log()).collect();
            panic!("waited {LIMIT:?} for {what}; workers said:\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Connections to the test database that listen for work: one per worker
/// that is up and looking for work.
fn listening_workers(db: &str) -> usize {
    psql_one(
        db,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN weft_work%'",
    )
    .parse()
    .unwrap()
}

fn status_of(db: &str, run_id: &str) -> String {
    psql_one(db, &format!("SELECT status FROM runs WHERE id = '{run_id}'"))
}

fn wait_for_status(db: &str, run_id: &str, status: &str, workers: &[&WorkerProc]) {
    wait_until(&format!("run {run_id} to be {status}"), workers, || status_of(db, run_id) == status);
}

fn shown(db: &str, run_id: &str) -> Value {
    json_of(&output_within(weft().args(["runs", "show", run_id, "--db", db, "--json"])))
}

/// Which worker ran each finished attempt of a run.
fn workers_of(db: &str, run_id: &str) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for row in psql(db, &format!("SELECT worker FROM attempts WHERE run_id = '{run_id}' AND state = 'done'")) {
        *by.entry(row[0].clone()).or_insert(0) += 1;
    }
    by
}

/// How many times each step finished in a run's log.
fn finishes(db: &str, run_id: &str) -> BTreeMap<String, usize> {
    psql(
        db,
        &format!(
            "SELECT body->>'step', count(*) FROM events WHERE run_id = '{run_id}' AND body->>'type' = 'step_finished' GROUP BY 1"
        ),
    )
    .into_iter()
    .map(|row| (row[0].clone(), row[1].parse().unwrap()))
    .collect()
}

fn no_step_finished_twice(db: &str, run_id: &str) {
    let finished = finishes(db, run_id);
    assert!(!finished.is_empty());
    for (step, n) in finished {
        assert_eq!(n, 1, "step {step} finished {n} times");
    }
}

fn blake3_file(path: &std::path::Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap()).to_hex().to_string()
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
    // Every worker is up and looking for work before the run starts, or
    // the first ones up could drain the queue alone.
    wait_until("three workers listening", &workers.iter().collect::<Vec<_>>(), || listening_workers(&db) == 3);
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
    let claimed = "SELECT id, run_id, step, attempt FROM attempts WHERE state = 'claimed' AND lease_owner = 'doomed'";
    wait_until("the doomed worker to claim an attempt", &[&doomed], || !psql(&db, claimed).is_empty());
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    // What it held when it died (it may have claimed more in between).
    let held = psql(&db, claimed);
    assert!(!held.is_empty());
    let r = run.join().unwrap();
    assert_eq!(r["status"], json!("succeeded"), "{r}");
    assert_eq!(r["output"], json!([0, 1, 2, 3, 4, 5]));
    let run_id = r["run_id"].as_str().unwrap();
    no_step_finished_twice(&db, run_id);
    for row in held {
        let (id, step, attempt) = (&row[0], &row[2], &row[3]);
        assert_eq!(&row[1], run_id);
        // The survivor finished the very attempt the doomed worker held: the
        // same row, attempt number and idempotency key, not a retry.
        let after = psql(
            &db,
            &format!(
                "SELECT state, worker, step, attempt, options->'grants'->'env'->>'WEFT_IDEMPOTENCY_KEY' FROM attempts WHERE id = {id}"
            ),
        );
        let want =
            vec!["done".to_string(), "survivor".into(), step.clone(), attempt.clone(), format!("{run_id}/{step}")];
        assert_eq!(after, vec![want]);
        assert_eq!(
            psql_one(&db, &format!("SELECT count(*) FROM attempts WHERE run_id = '{run_id}' AND step = '{step}'")),
            "1"
        );
        assert_eq!(r["steps"][step]["attempts"], json!(1), "{step} took one attempt: {r}");
    }
    assert!(psql(&db, &format!("SELECT id FROM attempts WHERE run_id = '{run_id}' AND state <> 'done'")).is_empty());
}

#[test]
fn a_worker_stopped_with_sigterm_hands_back_its_attempt_and_its_run() {
    let Some(db) = database("sigterm") else { return };
    let s = spec(FAN_OUT);
    let run_id = submit(&db, &s.path, &json!({"n": 1, "ms": 4000}));
    let mut leaving = worker_with(&db, "leaving", 1, "200ms", &[]);
    wait_until("the worker to orchestrate the run and run its attempt", &[&leaving], || {
        !psql(&db, "SELECT id FROM attempts WHERE state = 'claimed' AND lease_owner = 'leaving'").is_empty()
    });
    assert_eq!(psql_one(&db, &format!("SELECT lease_owner FROM runs WHERE id = '{run_id}'")), "leaving");
    let status = leaving.terminate();
    assert!(status.success(), "{status:?}:\n{}", leaving.log());
    assert!(leaving.log().contains("1 attempt(s) and 1 run(s) handed back"), "{}", leaving.log());
    // Both are free at once, not after their leases run out: no other worker
    // is there to have claimed them.
    assert_eq!(
        psql(&db, &format!("SELECT state, coalesce(lease_owner, '-') FROM attempts WHERE run_id = '{run_id}'")),
        vec![vec!["ready".to_string(), "-".into()]]
    );
    assert_eq!(psql_one(&db, &format!("SELECT coalesce(lease_owner, '-') FROM runs WHERE id = '{run_id}'")), "-");
    let staying = worker(&db, "staying", 1);
    wait_for_status(&db, &run_id, "succeeded", &[&staying]);
    assert_eq!(shown(&db, &run_id)["report"]["output"], json!([0]));
    assert_eq!(workers_of(&db, &run_id), BTreeMap::from([("staying".to_string(), 1)]));
    no_step_finished_twice(&db, &run_id);
}

#[test]
fn a_worker_started_late_joins_the_work_in_progress() {
    let Some(db) = database("late") else { return };
    let early = worker(&db, "early", 1);
    let s = spec(FAN_OUT);
    let path = s.path.clone();
    let db2 = db.clone();
    let run = std::thread::spawn(move || run_json(&db2, &path, &json!({"n": 8, "ms": 500})));
    wait_until("the early worker to start on the run", &[&early], || {
        !psql(&db, "SELECT id FROM attempts WHERE lease_owner = 'early'").is_empty()
    });
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
    let run_id = submit(&db, &s.path, &json!({"n": 3, "ms": 50}));
    let listed = json_of(&output_within(weft().args(["runs", "--db", &db, "--json"])));
    assert_eq!(listed[0]["status"], json!("running"), "nothing runs it until a worker comes");
    let w = worker(&db, "orchestrator", 2);
    wait_for_status(&db, &run_id, "succeeded", &[&w]);
    let shown = shown(&db, &run_id);
    assert_eq!(shown["report"]["output"], json!([0, 1, 2]));
    // `runs show` says which worker ran each attempt.
    let ran: BTreeSet<(String, String)> = shown["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["step"].as_str().unwrap().to_string(), w["worker"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(ran, (0..3).map(|i| (format!("naps[{i}]"), "orchestrator".to_string())).collect());
    // Skills travel by content: the queue names them by digest, and the
    // digest is that of the bytes on disk.
    let digest = blake3_of(&root().join("target/skills/sleep.wasm"));
    let rows = psql(&db, &format!("SELECT DISTINCT skill FROM attempts WHERE run_id = '{run_id}'"));
    assert_eq!(rows, vec![vec![digest]]);
}

#[test]
fn a_detached_script_run_brings_its_script_and_runner_along() {
    let Some(db) = database("scripted") else { return };
    let s = spec(
        r#"
        name = "scripted"
        output = "steps.calc.output"
        [steps.calc]
        script = "calc.py"
        input = "input"
        "#,
    );
    std::fs::write(s.dir.path().join("calc.py"), "def run(input):\n    return {'n': input['n'] * 2}\n").unwrap();
    let run_id = submit(&db, &s.path, &json!({"n": 21}));
    // The script changes after submission: the run uses what was submitted.
    std::fs::write(s.dir.path().join("calc.py"), "def run(input):\n    return {'n': 0}\n").unwrap();
    // This worker has no runners of its own: it runs the submitter's.
    let w = worker_with(&db, "no-runners", 1, "5s", &[("WEFT_RUNNERS_DIR", "/nonexistent")]);
    wait_for_status(&db, &run_id, "succeeded", &[&w]);
    assert_eq!(shown(&db, &run_id)["report"]["output"], json!({"n": 42}));
    let files: Value =
        serde_json::from_str(&psql_one(&db, &format!("SELECT files FROM runs WHERE id = '{run_id}'"))).unwrap();
    assert_eq!(files["<runners>/python-runner.wasm"], json!(blake3_file(&fixture("python-runner"))), "{files}");
}

#[test]
fn a_detached_run_that_cannot_be_rebuilt_fails_instead_of_coming_back() {
    let Some(db) = database("unbuildable") else { return };
    let fan_out = spec(FAN_OUT);
    let tampered = submit(&db, &fan_out.path, &json!({"n": 1, "ms": 10}));
    psql(&db, &format!("UPDATE runs SET spec_digest = 'not-the-digest' WHERE id = '{tampered}'"));
    let echo = spec(
        r#"
        name = "echo"
        [steps.say]
        skill = "@skills/echo.wasm"
        input = "input"
        "#,
    );
    let missing = submit(&db, &echo.path, &json!({"hi": 1}));
    psql(&db, &format!("DELETE FROM blobs WHERE hash = '{}'", blake3_file(&fixture("echo"))));
    let fine = submit(&db, &fan_out.path, &json!({"n": 2, "ms": 10}));
    let w = worker(&db, "judge", 2);
    wait_for_status(&db, &fine, "succeeded", &[&w]);
    wait_for_status(&db, &tampered, "failed", &[&w]);
    wait_for_status(&db, &missing, "failed", &[&w]);
    for (run_id, why) in [(&tampered, "digest"), (&missing, "no blob")] {
        let error = &shown(&db, run_id)["report"]["error"];
        assert_eq!(error["kind"], json!("load"), "{error}");
        assert!(error["message"].as_str().unwrap().contains(why), "{error}");
        assert!(w.log().contains(&format!("run {run_id} cannot be orchestrated")), "{}", w.log());
    }
}

#[test]
fn a_skill_whose_stored_bytes_do_not_match_their_digest_is_not_run() {
    let Some(db) = database("corrupt") else { return };
    let _w = worker(&db, "careful", 1);
    let s = spec(
        r#"
        name = "echo"
        output = "steps.say.output"
        [steps.say]
        skill = "@skills/echo.wasm"
        input = "input"
        "#,
    );
    // Other bytes under the echo skill's digest (a run uploads a skill only
    // if its digest is not stored yet).
    let digest = blake3_file(&fixture("echo"));
    psql(&db, &format!("INSERT INTO blobs (hash, bytes) VALUES ('{digest}', '\\x0061736d0d000100'::bytea)"));
    let r = run_json(&db, &s.path, &json!({"hi": 1}));
    assert_eq!(r["status"], json!("failed"), "{r}");
    assert_eq!(r["steps"]["say"]["error"]["kind"], json!("load"), "{r}");
    assert!(r["steps"]["say"]["error"]["message"].as_str().unwrap().contains("does not match its hash"), "{r}");
    // With the right bytes stored, the same run works.
    let hex: String = std::fs::read(fixture("echo")).unwrap().iter().map(|b| format!("{b:02x}")).collect();
    psql(&db, &format!("UPDATE blobs SET bytes = '\\x{hex}'::bytea WHERE hash = '{digest}'"));
    let r = run_json(&db, &s.path, &json!({"hi": 1}));
    assert_eq!(r["status"], json!("succeeded"), "{r}");
    assert_eq!(r["output"], json!({"hi": 1}));
}

#[test]
fn a_worker_orchestrating_many_runs_keeps_one_listening_connection() {
    let Some(db) = database("connections") else { return };
    let w = worker(&db, "keeper", 2);
    let s = spec(FAN_OUT);
    for i in 0..12 {
        let run_id = submit(&db, &s.path, &json!({"n": 1, "ms": 1}));
        wait_for_status(&db, &run_id, "succeeded", &[&w]);
        assert_eq!(shown(&db, &run_id)["report"]["output"], json!([0]), "run {i}");
    }
    let listening = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    assert_eq!(psql_one(&db, listening), "1", "one listening connection for the worker and every run it orchestrated");
    let all: usize =
        psql_one(&db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").parse().unwrap();
    assert!(all <= 16 + 1 + 1, "{all} connections: at most its pool, its listener and this psql");
    // A listening connection that dies is opened again.
    let pid =
        psql_one(&db, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'");
    psql(&db, &format!("SELECT pg_terminate_backend({pid})"));
    wait_until("the worker to listen again", &[&w], || {
        psql(
            &db,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN weft_work%'",
        )
        .iter()
        .any(|row| row[0] != pid)
    });
    let run_id = submit(&db, &s.path, &json!({"n": 1, "ms": 1}));
    wait_for_status(&db, &run_id, "succeeded", &[&w]);
}

const TWO_PHASE: &str = r#"
name = "two-phase"
output = "steps.second.output"
[steps.first]
skill = "SKILL"
input = { fail_times = 0, counter = "'COUNTERS/first'" }
grants = { write = ["COUNTERS"] }
[steps.second]
skill = "SKILL"
input = { fail_times = 1, counter = "'COUNTERS/second'", value = "steps.first.output.call" }
grants = { write = ["COUNTERS"] }
"#;

#[test]
fn a_run_resumes_from_its_recorded_files_where_its_spec_is_gone() {
    let Some(db) = database("resume_elsewhere") else { return };
    let _w = worker(&db, "resumer", 2);
    // The spec and its skill in a directory that will be gone, as on
    // another machine; the counters elsewhere.
    let submitted = tempfile::tempdir().unwrap();
    let counters = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("flaky"), submitted.path().join("flaky.wasm")).unwrap();
    let text = TWO_PHASE.replace("SKILL", "flaky.wasm").replace("COUNTERS", &counters.path().display().to_string());
    let spec_path = submitted.path().join("workflow.toml");
    std::fs::write(&spec_path, text).unwrap();
    let out = output_within(weft().arg("run").arg(&spec_path).args(["--db", &db, "--json"]));
    assert_eq!(out.status.code(), Some(1), "the second step fails the first time");
    let run_id = json_of(&out)["run_id"].as_str().unwrap().to_string();
    drop(submitted);
    let resumed = output_within(weft().args(["resume", &run_id, "--db", &db, "--json"]));
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("files recorded with the run"));
    let report = json_of(&resumed);
    assert_eq!(report["output"], json!({"call": 2, "value": 1}));
    assert_eq!(std::fs::read_to_string(counters.path().join("first")).unwrap(), "1", "the first step ran once");
}

#[test]
fn a_detached_run_is_resumed_by_a_worker_and_not_while_one_runs_it() {
    let Some(db) = database("resume_detached") else { return };
    let s = spec(
        r#"
        name = "nap-then-flaky"
        output = "steps.second.output"
        [steps.first]
        skill = "@skills/sleep.wasm"
        input = { ms = "input.ms", tag = 1 }
        [steps.second]
        skill = "@skills/flaky.wasm"
        input = { fail_times = 1, counter = "'@dir/second'", value = "steps.first.output.tag" }
        grants = { write = ["@dir"] }
        "#,
    );
    let run_id = submit(&db, &s.path, &json!({"ms": 3000}));
    let w = worker(&db, "owner", 2);
    wait_until("the worker to run the first step", &[&w], || {
        !psql(&db, "SELECT id FROM attempts WHERE step = 'first' AND state = 'claimed'").is_empty()
    });
    // A worker is running it: resuming here would run it twice at once.
    let refused = output_within(weft().args(["resume", &run_id, "--db", &db]));
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("worker owner"), "{refused:?}");
    wait_for_status(&db, &run_id, "failed", &[&w]);
    // It resumes from what was submitted: --force cannot change that.
    let forced = output_within(weft().args(["resume", &run_id, "--db", &db, "--force"]));
    assert_eq!(forced.status.code(), Some(2), "{}", String::from_utf8_lossy(&forced.stderr));
    let requeued = output_within(weft().args(["resume", &run_id, "--db", &db, "--json"]));
    assert_eq!(requeued.status.code(), Some(0), "{}", String::from_utf8_lossy(&requeued.stderr));
    assert_eq!(json_of(&requeued), json!({"run_id": run_id, "status": "submitted"}));
    wait_for_status(&db, &run_id, "succeeded", &[&w]);
    assert_eq!(shown(&db, &run_id)["report"]["output"], json!({"call": 2, "value": 1}));
    assert_eq!(finishes(&db, &run_id)["first"], 1, "the finished step did not run again");
}

fn blake3_of(path: &std::path::Path) -> String {
    // The same digest the host computes (BLAKE3), through the host's own code path.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async { crate::support::sandbox().load_file(path).await.unwrap().digest().to_string() })
}

/// What the PostgreSQL journal does beyond the shared backend suite
/// (host/journal/tests/backends.rs): a finished run is announced on
/// `weft_run_finished`, which the orchestrating `weft run` waits on.
#[test]
fn the_postgres_journal_announces_a_finished_run_to_listeners() {
    use weft::domain::events::{Event, Record, RunStatus};
    use weft::journal::postgres::{ListenEvent, PostgresJournal};
    use weft::journal::{Journal, RunMeta};
    let Some(db) = database("journal_listen") else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let j = PostgresJournal::connect(&db).await.unwrap();
        let meta = RunMeta {
            id: "r1".into(),
            workflow: "w".into(),
            spec_path: None,
            spec_text: "name = 'w'".into(),
            spec_digest: "d".into(),
            input: json!({"x": 1}),
            created_ms: 1,
        };
        j.create_run(&meta).await.unwrap();
        let rec = |at_ms, event| Record { at_ms, event };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _listener = j.listen(&["weft_run_finished"], move |e| {
            let _ = tx.send(e);
        });
        assert_eq!(rx.recv().await, Some(ListenEvent::Listening));
        j.append("r1", 0, &[rec(2, Event::StepStarted { step: "a".into() })]).await.unwrap();
        let done = rec(5, Event::RunFinished { status: RunStatus::Failed, output: Value::Null, error: None });
        assert_eq!(j.append("r1", 1, &[done]).await.unwrap(), 2);
        let heard = tokio::time::timeout(LIMIT, rx.recv()).await.expect("the finish is announced");
        assert_eq!(
            heard,
            Some(ListenEvent::Notification { channel: "weft_run_finished".into(), payload: "r1".into() })
        );
        assert!(rx.try_recv().is_err(), "only the finish is announced, once");
        assert_eq!(psql(&db, "SELECT status, finished_ms FROM runs WHERE id = 'r1'"), [["failed", "5"]]);
    });
}
