//! `make bench`: how fast weft is, each figure beside a baseline measured in
//! the same run, so a ratio survives a noisy machine.
//!
//! Writes `target/bench/results.json` (a list of `{name, median, p99, unit,
//! target, baseline, ratio, met}`) and `target/bench/results.md`.
//! `WEFT_BENCH_QUICK=1` takes fewer samples; naming groups after `--`
//! (`workflows`, `scripts`, `cpu`, `timeouts`, `memory`, `start`,
//! `scaleout`) runs only
//! those, printing their figures without writing the results files.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::engine::{Executor, MemorySink, RunRequest, SpecSource, SystemClock, Tee, Workflow};
use weft::journal::sink::JournalSink;
use weft::journal::sqlite::SqliteJournal;
use weft::journal::{Journal, RunMeta};
use weft::sandbox::{RunOptions, Sandbox, SandboxConfig};

/// A target as text (`p50 ≤ 20 µs`) and the test it means.
type Target = (String, Box<dyn Fn(f64) -> bool>);

/// One figure of the table.
struct Figure {
    name: String,
    unit: &'static str,
    median: f64,
    p99: Option<f64>,
    target: Option<Target>,
    baseline: Option<(String, f64)>,
}

impl Figure {
    fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(_, b)| if *b > 0.0 { self.median / b } else { f64::NAN })
    }
    fn met(&self) -> Option<bool> {
        self.target.as_ref().map(|(_, t)| t(self.median))
    }
    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "median": round(self.median),
            "p99": self.p99.map(round),
            "unit": self.unit,
            "target": self.target.as_ref().map(|(t, _)| t.clone()),
            "baseline": self.baseline.as_ref().map(|(n, v)| json!({"name": n, "median": round(*v)})),
            "ratio": self.ratio().map(round),
            "met": self.met(),
        })
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn quick() -> bool {
    std::env::var_os("WEFT_BENCH_QUICK").is_some()
}

/// Median and 99th percentile of `samples`.
fn stats(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn skill(name: &str) -> PathBuf {
    let p = root().join("target/skills").join(format!("{name}.wasm"));
    assert!(p.exists(), "{} is missing: run `make skills`", p.display());
    p
}

fn sandbox() -> Sandbox {
    Sandbox::new(SandboxConfig { cache_dir: Some(root().join("target/bench/cache")), ..SandboxConfig::default() })
        .unwrap()
}

async fn trivial_call(sb: &Sandbox, figures: &mut Vec<Figure>) {
    let echo = sb.load_file(&skill("echo")).await.unwrap();
    let input = r#"{"n": 1}"#;
    let opts = RunOptions::default();
    let n = if quick() { 500 } else { 5000 };
    for _ in 0..200 {
        echo.run(input, &opts).await.result.unwrap();
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = echo.run(input, &opts).await;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        r.result.unwrap();
    }
    let (median, p99) = stats(samples);
    // Baseline: the same function called natively — parse the input and serialise it back.
    let mut native = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let v: Value = serde_json::from_str(std::hint::black_box(input)).unwrap();
        let out = serde_json::to_string(&v).unwrap();
        std::hint::black_box(out);
        native.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (native_median, _) = stats(native);
    figures.push(Figure {
        name: "fresh instance + call of a trivial Rust skill (echo), in-process".into(),
        unit: "µs",
        median,
        p99: Some(p99),
        target: Some(("p50 ≤ 20 µs".into(), Box::new(|m| m <= 20.0))),
        baseline: Some(("native call of the same function".into(), native_median)),
    });
}

/// A spec of `n` sequential echo steps.
fn chain_spec(dir: &Path, n: usize) -> PathBuf {
    let mut text =
        format!("name = \"chain-{n}\"\noutput = \"steps.s{}.output\"\nrun = {{ max_attempts = {} }}\n", n - 1, n * 2);
    let echo = skill("echo");
    for i in 0..n {
        text.push_str(&format!("[steps.s{i}]\nskill = \"{}\"\n", echo.display()));
        if i > 0 {
            text.push_str(&format!("input = \"steps.s{}.output\"\n", i - 1));
        }
    }
    let path = dir.join(format!("chain-{n}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

async fn run_workflow(wf: &Arc<Workflow>, journal: Option<Arc<dyn Journal>>) -> Duration {
    let memory = Arc::new(MemorySink::default());
    let mut req = RunRequest::new(json!({"n": 1}), memory.clone());
    if let Some(j) = journal {
        j.create_run(&RunMeta {
            id: req.run_id.clone(),
            workflow: wf.spec.name.clone(),
            spec_path: None,
            spec_text: wf.source.text.clone(),
            spec_digest: wf.digest.clone(),
            input: json!({"n": 1}),
            created_ms: 0,
        })
        .await
        .unwrap();
        req.sink = Arc::new(Tee(vec![Arc::new(JournalSink::new(j, 0)), memory]));
    }
    let t = Instant::now();
    let out = Executor::new(Arc::new(SystemClock)).run(wf.clone(), req).await;
    let took = t.elapsed();
    assert_eq!(out.status, weft::domain::events::RunStatus::Succeeded, "{:?}", out.error);
    took
}

async fn workflows(sb: &Sandbox, figures: &mut Vec<Figure>, trivial: f64) {
    let dir = root().join("target/bench");
    let steps = 1000;
    let path = chain_spec(&dir, steps);
    let wf = Arc::new(Workflow::check(sb, SpecSource::read(&path).unwrap()).await.unwrap());
    let samples = if quick() { 3 } else { 7 };
    run_workflow(&wf, None).await;
    let mem: Vec<f64> = {
        let mut v = Vec::new();
        for _ in 0..samples {
            v.push(run_workflow(&wf, None).await.as_secs_f64() * 1e6 / steps as f64);
        }
        v
    };
    let (mem_median, mem_p99) = stats(mem);
    figures.push(Figure {
        name: format!("per-step time of a {steps}-step sequential workflow, in-memory journal"),
        unit: "µs/step",
        median: mem_median,
        p99: Some(mem_p99),
        target: Some(("≤ 50 µs/step".into(), Box::new(|m| m <= 50.0))),
        baseline: Some(("the trivial skill call alone".into(), trivial)),
    });

    let db = dir.join("journal-bench.db");
    let _ = std::fs::remove_file(&db);
    let journal: Arc<dyn Journal> = Arc::new(SqliteJournal::open(&db).unwrap());
    let mut sq = Vec::new();
    for _ in 0..samples.min(5) {
        sq.push(run_workflow(&wf, Some(journal.clone())).await.as_secs_f64() * 1e6 / steps as f64);
    }
    let (sq_median, sq_p99) = stats(sq);
    figures.push(Figure {
        name: format!("per-step time of the same {steps}-step workflow, SQLite journal with full sync"),
        unit: "µs/step",
        median: sq_median,
        p99: Some(sq_p99),
        target: Some(("≤ 1 ms/step".into(), Box::new(|m| m <= 1000.0))),
        baseline: Some(("the same run in memory".into(), mem_median)),
    });

    // Wide and parallel: one fan-out of many trivial steps.
    let items = if quick() { 2000 } else { 10_000 };
    let wide = dir.join("wide.toml");
    std::fs::write(
        &wide,
        format!(
            "name = \"wide\"\noutput = \"size(steps.all.output)\"\nrun = {{ concurrency = 64, max_attempts = {} }}\n[steps.all]\nskill = \"{}\"\nfor_each = \"lists.range({items})\"\ninput = \"item\"\nconcurrency = 64\n",
            items * 2,
            skill("echo").display()
        ),
    )
    .unwrap();
    let wf = Arc::new(Workflow::check(sb, SpecSource::read(&wide).unwrap()).await.unwrap());
    run_workflow(&wf, None).await;
    let mut rates = Vec::new();
    for _ in 0..3 {
        rates.push(items as f64 / run_workflow(&wf, None).await.as_secs_f64());
    }
    let (rate, _) = stats(rates);
    figures.push(Figure {
        name: format!("trivial steps per second, one fan-out of {items} steps, {} cores", num_cpus()),
        unit: "steps/s",
        median: rate,
        p99: None,
        target: Some(("≥ 20,000/s".into(), Box::new(|m| m >= 20_000.0))),
        baseline: None,
    });
}

#[path = "../../skills/testing/hash/src/work.rs"]
mod work;

/// Times `n` runs of `f` after a warm-up, in µs.
async fn sample<F, Fut>(n: usize, warm: usize, mut f: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..warm {
        f().await;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out
}

/// The interpreter `program` (`python3`, `node`) really runs, so that a
/// version manager's shim on PATH (pyenv's is a shell script) is not timed
/// as part of the baseline.
fn interpreter(program: &str) -> String {
    let ask: &[&str] = match program {
        "python3" => &["-c", "import sys; print(sys.executable)"],
        "node" => &["-p", "process.execPath"],
        _ => return program.to_string(),
    };
    std::process::Command::new(program)
        .args(ask)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| program.to_string())
}

/// Times a plain process, `n` times, in µs.
fn process_samples(n: usize, program: &str, args: &[&str]) -> Option<Vec<f64>> {
    let program = interpreter(program);
    let mut out = Vec::with_capacity(n);
    for i in 0..n + 2 {
        let t = Instant::now();
        let status = std::process::Command::new(&program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        if i >= 2 {
            out.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    Some(out)
}

const PY_SCRIPT: &str = "def run(input):\n    words = input['text'].split()\n    return {'words': len(words), 'longest': max(words, key=len)}\n";
const JS_SCRIPT: &str = "function run(input) {\n  const words = input.text.split(/\\s+/);\n  return { words: words.length, longest: words.reduce((a, b) => (b.length > a.length ? b : a)) };\n}\n";

async fn scripts(sb: &Sandbox, figures: &mut Vec<Figure>) {
    let input = json!({"text": "the quick brown fox jumps over the lazy dog"});
    let n = if quick() { 100 } else { 500 };
    let dir = root().join("target/bench");
    for (lang, runner, source, program, harness, target_ms) in [
        (
            "Python",
            "python-runner",
            PY_SCRIPT,
            "python3",
            "\nimport json, sys\nprint(json.dumps(run(json.loads(sys.argv[1]))))\n",
            2.0,
        ),
        (
            "JavaScript",
            "js-runner",
            JS_SCRIPT,
            "node",
            "\nconsole.log(JSON.stringify(run(JSON.parse(process.argv[2]))));\n",
            1.0,
        ),
    ] {
        let runner = sb.load_file(&skill(runner)).await.unwrap_or_else(|e| panic!("the {lang} runner: {e}"));
        let wrapped = weft::scripts::runner_input(source, &input, "bench");
        let opts = RunOptions::default();
        let samples = sample(n, 20, || async {
            let r = runner.run(&wrapped, &opts).await;
            r.result.expect("the benchmark script runs");
        })
        .await;
        let (median, p99) = stats(samples);
        let ext = if lang == "Python" { "py" } else { "js" };
        let file = dir.join(format!("script.{ext}"));
        std::fs::write(&file, format!("{source}{harness}")).unwrap();
        let arg = input.to_string();
        let baseline = process_samples(if quick() { 10 } else { 30 }, program, &[file.to_str().unwrap(), &arg])
            .map(|s| (format!("`{program} script.{ext}` as a plain process"), stats(s).0 / 1000.0));
        figures.push(Figure {
            name: format!("a generated {lang} script, fresh sandbox per run"),
            unit: "ms",
            median: median / 1000.0,
            p99: Some(p99 / 1000.0),
            target: Some((format!("p50 ≤ {target_ms} ms"), Box::new(move |m| m <= target_ms))),
            baseline,
        });
    }
}

async fn cpu_bound(sb: &Sandbox, figures: &mut Vec<Figure>) {
    let hash = sb.load_file(&skill("hash")).await.unwrap();
    let mib = if quick() { 16 } else { 64 };
    let input = format!("{{\"mib\": {mib}}}");
    let samples = if quick() { 3 } else { 7 };
    let opts = RunOptions {
        limits: weft::domain::Limits { timeout: Duration::from_secs(120), ..Default::default() },
        ..Default::default()
    };
    let sandboxed = sample(samples, 1, || async {
        hash.run(&input, &opts).await.result.unwrap();
    })
    .await;
    let native = sample(samples, 1, || async {
        std::hint::black_box(work::hash_generated(mib));
    })
    .await;
    let (native_median, _) = stats(native);
    let (median, _) = stats(sandboxed);
    figures.push(Figure {
        name: format!("CPU-bound skill: SHA-256 of {mib} MiB, default limits (no fuel)"),
        unit: "ms",
        median: median / 1000.0,
        p99: None,
        target: Some(("≤ 1.2× native".into(), Box::new(move |m| m <= 1.2 * native_median / 1000.0))),
        baseline: Some(("the same code built natively".into(), native_median / 1000.0)),
    });
    let fuelled = RunOptions {
        limits: weft::domain::Limits {
            timeout: Duration::from_secs(120),
            fuel: Some(u64::MAX / 2),
            ..Default::default()
        },
        ..Default::default()
    };
    let metered = sample(samples, 1, || async {
        hash.run(&input, &fuelled).await.result.unwrap();
    })
    .await;
    figures.push(Figure {
        name: "the same skill with fuel metering on (the cost of fuel, reported separately)".into(),
        unit: "ms",
        median: stats(metered).0 / 1000.0,
        p99: None,
        target: None,
        baseline: Some(("the same skill without fuel".into(), median / 1000.0)),
    });
}

async fn timeout_latency(sb: &Sandbox, figures: &mut Vec<Figure>) {
    let n = if quick() { 5 } else { 20 };
    let deadline = Duration::from_millis(100);
    let opts =
        RunOptions { limits: weft::domain::Limits { timeout: deadline, ..Default::default() }, ..Default::default() };
    for (fixture, what) in [("busy-loop", "a busy loop"), ("sleep-forever", "a guest blocked in a host call")] {
        let s = sb.load_file(&skill(fixture)).await.unwrap();
        let mut late = Vec::new();
        for _ in 0..n {
            let t = Instant::now();
            let r = s.run("null", &opts).await;
            assert_eq!(r.result.unwrap_err().kind, weft::domain::OutcomeKind::Timeout);
            late.push((t.elapsed().saturating_sub(deadline)).as_secs_f64() * 1000.0);
        }
        let (median, p99) = stats(late);
        figures.push(Figure {
            name: format!("time from a timeout's deadline to the run ending, {what}"),
            unit: "ms",
            median,
            p99: Some(p99),
            target: Some(("≤ 10 ms past the deadline".into(), Box::new(|m| m <= 10.0))),
            baseline: None,
        });
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

async fn concurrent_memory(sb: &Sandbox, figures: &mut Vec<Figure>) {
    let sleeper = sb.load_file(&skill("sleep")).await.unwrap();
    let n = 1000;
    let before = rss_bytes();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(before));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let s = sleeper.clone();
        tasks.spawn(async move { s.run(r#"{"ms": 1500}"#, &RunOptions::default()).await.result.is_ok() });
    }
    // Sample RSS while they all sleep.
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap_or(false));
    }
    let _ = sampler.await;
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    figures.push(Figure {
        name: format!("host memory (RSS) with {n} concurrent sandboxes of a small skill ({ok} ran)"),
        unit: "MiB",
        median: peak as f64 / (1024.0 * 1024.0),
        p99: None,
        // Met only if every sandbox ran: fewer would use less memory.
        target: Some(("≤ 1 GiB RSS".into(), Box::new(move |m| ok == n && m <= 1024.0))),
        baseline: Some(("the process before".into(), before as f64 / (1024.0 * 1024.0))),
    });
}

fn process_start(figures: &mut Vec<Figure>) {
    let weft_bin = root().join("target/release/weft");
    if !weft_bin.exists() {
        eprintln!("skipping the process-start figure: build target/release/weft first (`make build`)");
        return;
    }
    let echo = skill("echo");
    let n = if quick() { 10 } else { 50 };
    // The compile cache is warm after the first (discarded) runs.
    let Some(runs) = process_samples(
        n,
        weft_bin.to_str().unwrap(),
        &["skill", "run", echo.to_str().unwrap(), "--input", "1", "--json"],
    ) else {
        eprintln!("skipping the process-start figure: weft skill run failed");
        return;
    };
    let baseline = process_samples(n, "python3", &["-I", "-S", "-c", "pass"])
        .map(|s| ("`python3 -I -S -c pass` as a plain process".to_string(), stats(s).0 / 1000.0));
    let (median, p99) = stats(runs);
    figures.push(Figure {
        name: "process start to result: `weft skill run` of a trivial skill, compile cache warm".into(),
        unit: "ms",
        median: median / 1000.0,
        p99: Some(p99 / 1000.0),
        target: Some(("≤ 10 ms".into(), Box::new(|m| m <= 10.0))),
        baseline,
    });
}

/// A fresh database on the bench's PostgreSQL server (`WEFT_TEST_PG`).
fn pg_database(name: &str) -> Option<String> {
    let base = std::env::var("WEFT_TEST_PG").ok()?;
    let db = format!("{name}_{}", std::process::id());
    let ok = std::process::Command::new("psql")
        .arg(&base)
        .args(["-q", "-c", &format!("CREATE DATABASE {db}")])
        .status()
        .ok()?
        .success();
    ok.then(|| base.replacen("/weft?", &format!("/{db}?"), 1))
}

fn scaleout(figures: &mut Vec<Figure>) {
    let weft_bin = root().join("target/release/weft");
    if !weft_bin.exists() || std::env::var_os("WEFT_TEST_PG").is_none() {
        eprintln!(
            "skipping the scale-out figures: they need target/release/weft and WEFT_TEST_PG (`make bench` provides both)"
        );
        return;
    }
    let dir = root().join("target/bench");
    let echo = skill("echo");
    let steps = if quick() { 100 } else { 400 };
    let wide = dir.join("scaleout-wide.toml");
    std::fs::write(
        &wide,
        format!(
            "name = \"scaleout\"\noutput = \"size(steps.all.output)\"\nrun = {{ concurrency = 64, max_attempts = {} }}\n[steps.all]\nskill = \"{}\"\nfor_each = \"lists.range({steps})\"\ninput = \"item\"\nconcurrency = 64\n",
            steps * 2,
            echo.display()
        ),
    )
    .unwrap();
    let chain = chain_spec(&dir, 50);
    let time_run = |db: &str, spec: &Path| -> f64 {
        let t = Instant::now();
        let out = std::process::Command::new(&weft_bin)
            .arg("run")
            .arg(spec)
            .args(["--db", db, "--json", "--input", r#"{"n": 1}"#])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        t.elapsed().as_secs_f64()
    };
    let mut one_worker_rate = None;
    for workers in [1usize, 2, 4] {
        let Some(db) = pg_database(&format!("bench{workers}")) else { return };
        let mut procs: Vec<std::process::Child> = (0..workers)
            .map(|i| {
                std::process::Command::new(&weft_bin)
                    .args(["worker", "--db", &db, "--concurrency", "4", "--name", &format!("bench-{i}")])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        time_run(&db, &wide); // warm: compile caches, skill blobs, connections
        let rate = steps as f64 / time_run(&db, &wide);
        if workers == 1 {
            let per_step = (time_run(&db, &chain) / 50.0) * 1000.0;
            figures.push(Figure {
                name: "per-step time of a 50-step sequential workflow through the PostgreSQL queue, 1 worker".into(),
                unit: "ms/step",
                median: per_step,
                p99: None,
                target: None,
                baseline: None,
            });
            one_worker_rate = Some(rate);
        }
        figures.push(Figure {
            name: format!(
                "trivial steps per second through the PostgreSQL queue, {workers} worker(s), fan-out of {steps}"
            ),
            unit: "steps/s",
            median: rate,
            p99: None,
            target: None,
            baseline: one_worker_rate.filter(|_| workers > 1).map(|r| ("1 worker".to_string(), r)),
        });
        for p in &mut procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// The CPU's model name, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.to_string()))
        .and_then(|l| l.split_once(':').map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "an unknown CPU".into())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn write(figures: &[Figure]) {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let json: Vec<Value> = figures.iter().map(Figure::json).collect();
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let mut md =
        String::from("| figure | median | p99 | target | baseline | ratio | met |\n|---|---|---|---|---|---|---|\n");
    for f in figures {
        let p99 = f.p99.map(|p| format!("{} {}", fmt(p), f.unit)).unwrap_or_else(|| "—".into());
        let target = f.target.as_ref().map_or("—".to_string(), |(t, _)| t.clone());
        let baseline = f.baseline.as_ref().map_or("—".to_string(), |(n, v)| format!("{n}: {} {}", fmt(*v), f.unit));
        let ratio = f.ratio().map_or("—".to_string(), |r| format!("{r:.2}×"));
        let met = match f.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        md.push_str(&format!(
            "| {} | {} {} | {p99} | {target} | {baseline} | {ratio} | {met} |\n",
            f.name,
            fmt(f.median),
            f.unit
        ));
    }
    md.push_str(&format!(
        "\nMachine: {}, {} cores, {}, Linux {}; measured {}. The PostgreSQL figures use a throwaway \
         server on a Unix socket with fsync off (tools/with-postgres.sh).\n",
        cpu_model(),
        num_cpus(),
        std::env::consts::ARCH,
        std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        humantime::format_rfc3339_seconds(std::time::SystemTime::now())
    ));
    std::fs::write(dir.join("results.md"), &md).unwrap();
    println!("{md}");
}

fn fmt(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        std::fs::create_dir_all(root().join("target/bench")).unwrap();
        // `cargo bench -p weft --bench weft -- workflows scripts` runs only those groups.
        let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
        let wants = |g: &str| only.is_empty() || only.iter().any(|o| o == g);
        let sb = sandbox();
        let mut figures = Vec::new();
        trivial_call(&sb, &mut figures).await;
        let trivial = figures[0].median;
        if wants("workflows") {
            workflows(&sb, &mut figures, trivial).await;
        }
        if wants("scripts") {
            scripts(&sb, &mut figures).await;
        }
        if wants("cpu") {
            cpu_bound(&sb, &mut figures).await;
        }
        if wants("timeouts") {
            timeout_latency(&sb, &mut figures).await;
        }
        if wants("memory") {
            concurrent_memory(&sb, &mut figures).await;
        }
        if wants("start") {
            process_start(&mut figures);
        }
        if wants("scaleout") {
            scaleout(&mut figures);
        }
        if only.is_empty() {
            write(&figures);
        } else {
            for f in &figures {
                println!("{}: {} {} (p99 {:?})", f.name, fmt(f.median), f.unit, f.p99.map(fmt));
            }
        }
    });
}
