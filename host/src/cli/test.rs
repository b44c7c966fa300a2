//! `weft test`: runs the testing plan of a spec — every scenario, each in
//! isolation — and prints a pass/fail table.

use super::Exit;
use super::out;
use super::workflow::{load_workflow, sandbox};
use crate::engine::SystemClock;
use crate::engine::testing::{ScenarioResult, run_scenario};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// The workflow spec, with its `[scenarios]`.
    spec: PathBuf,
    /// Run only these scenarios (repeatable).
    #[arg(long = "scenario", value_name = "NAME")]
    only: Vec<String>,
    /// Print the results as JSON (with each scenario's report).
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(args: TestArgs) -> anyhow::Result<u8> {
    let sandbox = sandbox()?;
    let wf = Arc::new(load_workflow(&sandbox, &args.spec, args.json).await?);
    let scenarios: Vec<_> =
        wf.spec.scenarios.iter().filter(|(n, _)| args.only.is_empty() || args.only.contains(n)).collect();
    if scenarios.is_empty() {
        let why = if wf.spec.scenarios.is_empty() {
            format!("{} declares no [scenarios]; see docs/workflows.md#testing-plan", args.spec.display())
        } else {
            format!("no scenario is named {}", args.only.join(", "))
        };
        return Err(Exit { code: Exit::USAGE, message: why }.into());
    }
    let mut results: Vec<ScenarioResult> = Vec::new();
    for (name, scenario) in scenarios {
        if !args.json {
            errln!("  running {name}…");
        }
        results.push(run_scenario(wf.clone(), name, scenario, Arc::new(SystemClock)).await);
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    if args.json {
        out::json_line(&json!({"workflow": wf.spec.name, "passed": failed == 0, "scenarios": results}))?;
    } else {
        let width = results.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
        outln!("{:width$}  {:6}  {:10}  {:>8}  description", "scenario", "result", "run", "time")?;
        for r in &results {
            let desc = wf.spec.scenarios.get(&r.name).and_then(|s| s.description.clone()).unwrap_or_default();
            outln!(
                "{:width$}  {:6}  {:10}  {:>6} ms  {desc}",
                r.name,
                if r.passed { "pass" } else { "FAIL" },
                r.report.status,
                r.duration_ms
            )?;
            for p in &r.problems {
                outln!("{:width$}    - {p}", "")?;
            }
        }
        outln!("\n{} of {} scenario(s) passed", results.len() - failed, results.len())?;
    }
    Ok(if failed == 0 { 0 } else { Exit::FAILED })
}
