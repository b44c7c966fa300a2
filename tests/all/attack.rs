//! The holes an attack on weft found (issue 15), each closed and kept closed,
//! through the real `weft` binary: a blocked host call outliving the
//! deadline, a fan-out that ignored the deadline and memory, endings
//! misclassified as `trap`, no disk quota, a script writing to the
//! terminal, oversized input read whole, and a closed stdout that panicked.

use crate::support::{MARGIN, mkfifo, root, weft};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn script(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Runs `cmd` to the end and returns its output, how long it took, and the
/// most memory (RSS) it held, sampled every 20 ms from /proc.
fn run_measured(cmd: &mut Command) -> (Output, Duration, u64) {
    let started = Instant::now();
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("weft starts");
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let sampler = std::thread::spawn(move || {
        let mut peak = 0u64;
        loop {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kb) = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
            if done_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                return peak;
            }
        }
    });
    let out = child.wait_with_output().expect("weft ends");
    let took = started.elapsed();
    let _ = done_tx.send(());
    (out, took, sampler.join().unwrap())
}

const MIB: u64 = 1024 * 1024;

// ---- 1. a blocked host call outlives the deadline ------------------------------

#[test]
fn a_fifo_in_a_grant_is_refused_and_the_process_ends_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    mkfifo(&data.join("pipe"));
    std::os::unix::fs::symlink(data.join("pipe"), data.join("link-to-pipe")).unwrap();
    let s =
        script(dir.path(), "fifo.py", "def run(input):\n    with open(input['path']) as f:\n        return f.read()\n");
    for target in ["pipe", "link-to-pipe"] {
        let path = data.join(target).display().to_string();
        let (out, took, _) = run_measured(
            weft()
                .args(["script", "run"])
                .arg(&s)
                .arg("--allow-read")
                .arg(&data)
                .args(["--timeout", "2s", "--json", "--input"])
                .arg(json!({ "path": path }).to_string()),
        );
        assert!(took < Duration::from_secs(3), "{target}: the process took {took:?}, past its 2s timeout plus 1s");
        let r = json_of(&out);
        assert_eq!(r["error"]["kind"], "permanent", "{target}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("PermissionError"), "{target}: {r}");
    }
}

#[test]
fn a_character_device_in_a_grant_is_refused_but_regular_files_still_open() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "dev.py",
        "def run(input):\n    with open(input['path'], 'rb') as f:\n        return len(f.read(16))\n",
    );
    let run = |grant: &str, path: &str| {
        json_of(
            &weft()
                .args(["script", "run"])
                .arg(&s)
                .args(["--allow-read", grant, "--timeout", "5s", "--json", "--input"])
                .arg(json!({ "path": path }).to_string())
                .output()
                .unwrap(),
        )
    };
    let zero = run("/dev", "/dev/zero");
    assert_eq!(zero["error"]["kind"], "permanent", "{zero}");
    assert!(zero["error"]["message"].as_str().unwrap().contains("PermissionError"), "{zero}");
    let readme = root().join("README.md");
    let ok = run(&root().display().to_string(), &readme.display().to_string());
    assert_eq!(ok["output"], json!(16), "{ok}");
}

// ---- 2. fan-out ignores the deadline and memory -------------------------------

fn fan_out_spec(dir: &std::path::Path, run_extra: &str) -> std::path::PathBuf {
    let echo = root().join("target/skills/echo.wasm");
    let text = format!(
        "name = \"wide\"\n\n[run]\ndeadline = \"3s\"\nconcurrency = 1000\n{run_extra}\n\n\
         [steps.each]\nskill = {echo:?}\nfor_each = \"lists.range(1000000)\"\ninput = {{ n = \"item\" }}\n",
        echo = echo.display().to_string()
    );
    script(dir, "workflow.toml", &text)
}

#[test]
fn a_fan_out_over_more_than_max_items_fails_at_once_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fan_out_spec(dir.path(), "");
    let (out, took, _) =
        run_measured(weft().arg("run").arg(&spec).arg("--json").env("WEFT_DB", dir.path().join("runs.db")));
    let r = json_of(&out);
    assert_eq!(r["status"], "failed", "{}", r["error"]);
    let message = r["error"]["message"].as_str().unwrap();
    assert!(message.contains("1000000 elements, over the limit of 10000"), "{message}");
    assert!(message.contains("max_items"), "{message}");
    assert!(took < Duration::from_secs(3) + MARGIN, "took {took:?}");
}

#[test]
fn a_million_item_fan_out_ends_at_the_run_deadline_with_memory_bounded_by_its_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let spec = fan_out_spec(dir.path(), "max_items = 2000000\nmax_attempts = 10000000");
    let (out, took, peak) =
        run_measured(weft().arg("run").arg(&spec).arg("--json").env("WEFT_DB", dir.path().join("runs.db")));
    let r = json_of(&out);
    assert_eq!(r["status"], "failed", "{}", r["error"]);
    assert_eq!(r["error"]["kind"], "timeout", "{}", r["error"]);
    assert!(took < Duration::from_secs(3) + MARGIN, "the run's deadline is 3s; it took {took:?}");
    // Before the fix this reached 7 GiB: every element was scheduled at once.
    assert!(peak < 1024 * MIB, "peak RSS {} MiB", peak / MIB);
}

// ---- 3. endings misclassified as trap ------------------------------------------

#[test]
fn a_python_output_too_large_to_cross_is_output_limit_not_trap() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "huge.py", "def run(input):\n    return 'x' * (300 * 1024 * 1024)\n");
    let out = weft().args(["script", "run"]).arg(&s).args(["--max-memory", "2GiB", "--json"]).output().unwrap();
    let r = json_of(&out);
    assert_eq!(r["error"]["kind"], "output_limit", "{r}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn outputs_that_cannot_be_json_are_contract_violations_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("surrogate.py", "def run(input):\n    return {'s': '\\udc80'}\n"),
        ("getter.js", "function run(input) { return { get x() { throw new Error('no'); } }; }\n"),
        (
            "proxy.js",
            "function run(input) { const t = () => { throw new Error('t'); };\n  \
             return new Proxy({}, { get: t, ownKeys: t, getPrototypeOf: t }); }\n",
        ),
        ("surrogate.js", "function run(input) { return { s: '\\uDC80' }; }\n"),
    ];
    for (name, text) in cases {
        let s = script(dir.path(), name, text);
        let r = json_of(&weft().args(["script", "run"]).arg(&s).arg("--json").output().unwrap());
        assert_eq!(r["error"]["kind"], "contract_violation", "{name}: {r}");
    }
}

// ---- 4. no disk quota ---------------------------------------------------------------

#[test]
fn writes_past_max_disk_end_as_output_limit_and_stop_there() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let s = script(
        dir.path(),
        "fill.py",
        "def run(input):\n    chunk = b'x' * (1 << 20)\n    with open(input['file'], 'wb') as f:\n        \
         for _ in range(64):\n            f.write(chunk)\n    return 'done'\n",
    );
    let file = out_dir.join("big.bin");
    let run = |max_disk: &str| {
        json_of(
            &weft()
                .args(["script", "run"])
                .arg(&s)
                .arg("--allow-write")
                .arg(&out_dir)
                .args(["--max-disk", max_disk, "--json", "--input"])
                .arg(json!({ "file": file.display().to_string() }).to_string())
                .output()
                .unwrap(),
        )
    };
    let over = run("16MiB");
    assert_eq!(over["error"]["kind"], "output_limit", "{over}");
    assert!(over["error"]["message"].as_str().unwrap().contains("max_disk"), "{over}");
    let written = std::fs::metadata(&file).unwrap().len();
    assert!(written <= 16 * MIB, "{written} bytes reached the disk, over the 16 MiB quota");
    let within = run("128MiB");
    assert_eq!(within["output"], "done", "{within}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 64 * MIB);
}

#[test]
fn weft_check_shows_max_disk_for_steps_that_may_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let s = script(dir.path(), "w.py", "def run(input):\n    return 1\n");
    let spec = script(
        dir.path(),
        "workflow.toml",
        &format!(
            "name = \"w\"\n\n[steps.write]\nscript = {:?}\ngrants = {{ write = [\"out\"] }}\nlimits = {{ max_disk = \"5MiB\" }}\n\n\
             [steps.read]\nscript = {:?}\nneeds = [\"write\"]\n",
            s.display().to_string(),
            s.display().to_string()
        ),
    );
    let out = weft().arg("check").arg(&spec).arg("--json").output().unwrap();
    let r = json_of(&out);
    assert_eq!(r["steps"][0]["max_disk"], "5MiB", "{r}");
    assert_eq!(r["steps"][1]["max_disk"], Value::Null, "{r}");
    let human = weft().arg("check").arg(&spec).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stderr).contains("disk writes 5MiB"), "{human:?}");
}

// ---- 7. a script can write to the user's terminal ---------------------------------

#[test]
fn what_a_script_prints_reaches_a_person_escaped_and_json_exact() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(
        dir.path(),
        "tty.py",
        "import sys\n\
         def run(input):\n    \
             print('\\x1b[2J\\x1b]0;owned\\x07')\n    \
             print('\\x1b]52;c;aGVsbG8=\\x07', file=sys.stderr)\n    \
             weft.info('log \\x1b[31mred\\x1b[0m')\n    \
             raise ValueError('bad\\rok in 1 ms\\nok in 1 ms')\n",
    );
    let human = weft().args(["script", "run"]).arg(&s).output().unwrap();
    for (name, bytes) in [("stdout", &human.stdout), ("stderr", &human.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "an escape byte reached the terminal on {name}: {:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(!bytes.contains(&0x07) && !bytes.contains(&b'\r'), "a control byte reached {name}");
    }
    let err = String::from_utf8_lossy(&human.stderr);
    assert!(err.contains("\\u{1b}[2J") && err.contains("\\u{1b}]52;c;aGVsbG8="), "{err}");
    assert!(err.contains("bad\\rok in 1 ms"), "{err}");
    assert!(!err.lines().any(|l| l.starts_with("ok in")), "a line passing for weft's own: {err}");

    let json = json_of(&weft().args(["script", "run"]).arg(&s).arg("--json").output().unwrap());
    assert_eq!(json["stdout"], "\u{1b}[2J\u{1b}]0;owned\u{7}\n");
    assert_eq!(json["logs"][0]["message"], "log \u{1b}[31mred\u{1b}[0m");
    assert!(json["error"]["message"].as_str().unwrap().contains("bad\rok in 1 ms\nok in 1 ms"), "{json}");
}

// ---- 8. oversized input is read whole before it is refused ------------------------

#[test]
fn an_input_file_over_max_input_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(200 * MIB).unwrap();
    let s = script(dir.path(), "ok.py", "def run(input):\n    return input\n");
    let (out, _, peak) = run_measured(
        weft().args(["script", "run"]).arg(&s).arg("--input").arg(format!("@{}", big.display())).arg("--json"),
    );
    let r = json_of(&out);
    assert_eq!(r["error"]["kind"], "invalid_input", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("200MiB, over the limit of 16MiB"), "{r}");
    assert!(peak < 200 * MIB, "peak RSS {} MiB: the input was read", peak / MIB);
}

#[test]
fn input_on_stdin_is_cut_off_at_max_input() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "ok.py", "def run(input):\n    return input\n");
    let mut child = weft()
        .args(["script", "run"])
        .arg(&s)
        .args(["--input", "@-", "--max-input", "1MiB", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 64 MiB offered; weft stops reading after 1 MiB, so the writer sees a closed pipe.
    let writer = std::thread::spawn(move || {
        let chunk = vec![b' '; MIB as usize];
        let mut sent = 0u64;
        while sent < 64 * MIB && stdin.write_all(&chunk).is_ok() {
            sent += MIB;
        }
        sent
    });
    let out = child.wait_with_output().unwrap();
    let sent = writer.join().unwrap();
    let r = json_of(&out);
    assert_eq!(r["error"]["kind"], "invalid_input", "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("more than 1MiB"), "{r}");
    assert!(sent < 64 * MIB, "weft read all {sent} bytes");
}

#[test]
fn a_spec_over_the_size_limit_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("huge.toml");
    let mut text = String::from("name = \"huge\"\n");
    while text.len() < 5 * MIB as usize {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&spec, text).unwrap();
    let out = weft().arg("check").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("huge.toml") && err.contains("over the limit of 4MiB"), "{err}");
}

// ---- 10. a closed stdout is a panic ------------------------------------------------

#[test]
fn a_closed_stdout_ends_weft_quietly_with_exit_code_141() {
    let dir = tempfile::tempdir().unwrap();
    let s = script(dir.path(), "ok.py", "def run(input):\n    return {'n': 1}\n");
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    let db = dir.path().join("runs.db");
    let cases: [Vec<String>; 3] = [
        vec!["script".into(), "run".into(), s.display().to_string(), "--json".into()],
        vec!["script".into(), "run".into(), s.display().to_string()],
        vec!["runs".into(), "--json".into()],
    ];
    for args in cases {
        let out = weft().args(&args).env("WEFT_DB", &db).stdout(closed()).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
    }
}

// ---- found by reading while fuzzing: a skill path that is not a file --------

#[test]
fn a_skill_named_by_a_device_or_a_fifo_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("skill.wasm");
    mkfifo(&fifo);
    for path in [std::path::PathBuf::from("/dev/zero"), fifo] {
        let started = Instant::now();
        let (out, _, peak) = run_measured(weft().args(["skill", "describe"]).arg(&path));
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a regular file"), "{}: {err}", path.display());
        assert!(started.elapsed() < MARGIN, "{}: took {:?}", path.display(), started.elapsed());
        assert!(peak < 512 * MIB, "{}: peak RSS {} MiB", path.display(), peak / MIB);
    }
}
