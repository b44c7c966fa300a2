//! Crashes at random moments of a fan-out workflow, on both journals: each
//! time `weft run` is killed (SIGKILL) at a random point, and sometimes the
//! `weft resume` after it too; resumed to the end, the run has the output of
//! an uninterrupted run, and no step that had finished ran again.
//!
//! The kill points come from a seed printed on stderr; `WEFT_CRASH_SEED=N`
//! replays them.

use crate::journal::{json_of, no_finished_step_ran_again, times_ran};
use crate::workflow::spec;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fan-out of 10 elements, 3 at a time, between two sequential steps.
/// Each step appends `RUN_ID/STEP_PATH ATTEMPT` to `ran` as it starts.
const FAN: &str = r#"
name = "fan"
output = "[steps.first.output.tag, steps.each.output.map(x, x.tag), steps.last.output.tag]"

[defaults]
limits = { timeout = "20s" }

[steps.first]
skill = "@skills/sleep.wasm"
input = { ms = 50, tag = "'first'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.each]
skill = "@skills/sleep.wasm"
for_each = "lists.range(10)"
concurrency = 3
input = { ms = 70, tag = "steps.first.output.tag + '-' + string(item)", log = "'@dir/ran'" }
grants = { write = ["@dir"] }

[steps.last]
skill = "@skills/sleep.wasm"
needs = ["each"]
input = { ms = 50, tag = "'last'", log = "'@dir/ran'" }
grants = { write = ["@dir"] }
"#;

fn fan_steps() -> Vec<String> {
    let mut steps = vec!["first".to_string()];
    steps.extend((0..10).map(|i| format!("each[{i}]")));
    steps.push("last".to_string());
    steps
}

fn seeded() -> rand::rngs::StdRng {
    let seed = std::env::var("WEFT_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random::<u64>);
    let test = std::thread::current().name().unwrap_or("crash").to_string();
    let _ = writeln!(std::io::stderr(), "{test}: kill points from WEFT_CRASH_SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn weft_on(db: &str) -> Command {
    let mut c = crate::support::weft();
    c.args(["--db", db]);
    c
}

/// The newest run in `db`, if any, with its status.
fn newest_run(db: &str) -> Option<(String, String)> {
    let list = json_of(&weft_on(db).args(["runs", "--json"]).output().unwrap());
    let run = list.as_array()?.first()?;
    Some((run["id"].as_str()?.to_string(), run["status"].as_str()?.to_string()))
}

fn kill_after(mut cmd: Command, after: Duration) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Lines in the `ran` log of `dir`: one per step started, by every run.
fn started_steps(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("ran")).map(|t| t.lines().count()).unwrap_or(0)
}

/// Runs `cmd` and kills it (SIGKILL) `jitter` after the `started`-th step
/// of its run has begun (or when it ends on its own first). Kill points
/// set by the run's progress, not by the wall clock, land mid-run however
/// loaded the machine is.
fn kill_at_step(mut cmd: Command, dir: &Path, started: usize, jitter: Duration) {
    let before = started_steps(dir);
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let give_up = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() && Instant::now() < give_up {
        if started_steps(dir) >= before + started {
            std::thread::sleep(jitter);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill(); // SIGKILL; it may have ended already
    child.wait().unwrap();
}

/// `kills` runs of FAN on the journals `db_for(i)`, each killed at a random
/// point and resumed (some killed again while resuming); each must end as
/// the uninterrupted run does.
fn crash_at_random_points(kills: usize, db_for: &mut dyn FnMut(usize) -> String) {
    let s = spec(FAN);
    let clean_db = db_for(usize::MAX);
    let clean = json_of(&weft_on(&clean_db).arg("run").arg(&s.path).arg("--json").output().unwrap());
    assert_eq!(clean["status"], json!("succeeded"), "{}", clean["error"]);
    let expected = clean["output"].clone();
    assert_eq!(expected[1].as_array().map(Vec::len), Some(10), "{expected}");

    let mut rng = seeded();
    let mut mid_run = 0;
    for i in 0..kills {
        let db = db_for(i);
        // After 1 to 12 of the 12 steps have started, and up to a step's
        // time (50-70 ms) later: anywhere from mid-`first` to mid-`last`.
        let at = (rng.random_range(1..=fan_steps().len()), Duration::from_millis(rng.random_range(0..70)));
        let mut run = weft_on(&db);
        run.arg("run").arg(&s.path).arg("--json");
        kill_at_step(run, s.dir.path(), at.0, at.1);
        let Some((id, status)) = newest_run(&db) else { continue }; // killed before the run was created
        let first_life = times_ran(s.dir.path(), &id);
        let mut lives = 1;
        if status == "running" {
            mid_run += 1;
            if rng.random_bool(0.5) {
                let mut again = weft_on(&db);
                again.args(["resume", &id]);
                kill_after(again, Duration::from_millis(rng.random_range(20..200)));
                lives += 1;
            }
            let shown = json_of(&weft_on(&db).args(["runs", "show", &id, "--json"]).output().unwrap());
            if shown["report"]["status"] != json!("succeeded") {
                let out = weft_on(&db).args(["resume", &id, "--json"]).output().unwrap();
                assert_eq!(out.status.code(), Some(0), "kill {i} at {at:?}: {}", String::from_utf8_lossy(&out.stderr));
                lives += 1;
            }
        }
        let shown = json_of(&weft_on(&db).args(["runs", "show", &id, "--json"]).output().unwrap());
        assert_eq!(shown["report"]["status"], json!("succeeded"), "kill {i} at {at:?}: {}", shown["report"]["error"]);
        assert_eq!(shown["report"]["output"], expected, "kill {i} at {at:?}: the output differs from a clean run's");
        let events: Vec<Value> = shown["events"].as_array().unwrap().clone();
        no_finished_step_ran_again(&events);
        // As the skills saw it: every step ran, at most once per life.
        let ran = times_ran(s.dir.path(), &id);
        for step in fan_steps() {
            let n = ran.get(&step).copied().unwrap_or(0);
            assert!((1..=lives).contains(&n), "kill {i} at {at:?}: {step} ran {n} times in {lives} lives");
        }
        // A step the first life had both started and finished (it is in the
        // journal as done, see no_finished_step_ran_again) never ran again:
        // it ran as often in the end as when the first life was killed, or
        // one more time only if it had not finished then.
        for (step, n) in &first_life {
            assert!(ran[step] < n + lives, "kill {i} at {at:?}: {step} ran {} times", ran[step]);
        }
    }
    let _ = writeln!(std::io::stderr(), "{mid_run} of {kills} kills landed mid-run");
    assert!(mid_run * 3 >= kills, "a third of the kills at least landed mid-run ({mid_run} of {kills})");
}

#[test]
fn killed_at_random_points_a_fan_out_resumes_to_a_clean_runs_output_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_at_random_points(8, &mut |i| dir.path().join(format!("crash-{i}.db")).display().to_string());
}

#[test]
fn killed_at_random_points_a_fan_out_resumes_to_a_clean_runs_output_on_postgres() {
    let Some(db) = crate::scaleout::database("crash_fan") else { return };
    // The attempts run on a worker, which lives on through every kill of
    // the orchestrating `weft run` (and works for every run in the database).
    let _worker = crate::scaleout::worker(&db, "crash-worker", 4);
    crash_at_random_points(6, &mut |_| db.clone());
}
