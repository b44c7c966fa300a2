//! `make bench`: how fast weft is, each figure beside a baseline measured in
//! the same run, so a ratio survives a noisy machine.
//!
//! Writes `target/bench/results.json` (a list of `{name, median, p99, unit,
//! target, baseline, ratio, met}`) and `target/bench/results.md`.
//! `WEFT_BENCH_QUICK=1` takes fewer samples.

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
        "\nMachine: {} cores, {}; measured {}.\n",
        num_cpus(),
        std::env::consts::ARCH,
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
        let sb = sandbox();
        let mut figures = Vec::new();
        trivial_call(&sb, &mut figures).await;
        let trivial = figures[0].median;
        workflows(&sb, &mut figures, trivial).await;
        write(&figures);
    });
}
