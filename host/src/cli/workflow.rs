//! `weft run`, `weft check` and `weft schema`.

use super::Exit;
use super::args::InputArgs;
use super::out;
use crate::domain::OutcomeKind;
use crate::domain::events::Report;
use crate::engine::SpecErrors;
use crate::engine::load::{Severity, SpecSource};
use crate::engine::plan::{StepKind, StepPlan, Workflow, unknown_fault_step, unknown_server};
use crate::engine::run::Fault;
use crate::sandbox::{Sandbox, SandboxConfig};
use anyhow::{Context, bail};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The workflow spec (`.toml`, or `.json`).
    spec: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    /// Print one JSON report on stdout instead of progress and a summary.
    #[arg(long)]
    json: bool,
    /// Rehearse a failure: the first N attempts of STEP fail with KIND
    /// (`STEP=KIND` or `STEP=KIND:N`, N defaults to 1; `timeout` hangs until
    /// the step's timeout). STEP is a step's name or path
    /// (`modules[1].fetch_docs`); one the spec does not have is refused. Repeatable.
    #[arg(long = "fault", value_name = "STEP=KIND[:N]")]
    faults: Vec<String>,
    /// Submit the run to the shared journal (`--db postgres://...`), print its
    /// id and return at once: `weft worker`s run it.
    #[arg(long)]
    detach: bool,
    /// Rehearse an MCP server being down: every call to it fails as `transient`. SERVER must be
    /// declared in the spec. Repeatable.
    #[arg(long = "server-down", value_name = "SERVER")]
    down: Vec<String>,
    /// Largest run input accepted; a larger one is refused before it is read whole [default: 16MiB].
    #[arg(long, value_name = "SIZE")]
    max_input: Option<crate::domain::Size>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The workflow spec (`.toml`, or `.json`).
    spec: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Parses `STEP=KIND[:N]`.
pub(crate) fn parse_fault(text: &str) -> anyhow::Result<Fault> {
    let (step, rest) =
        text.split_once('=').with_context(|| format!("--fault {text}: write it as STEP=KIND or STEP=KIND:N"))?;
    let (kind, times) = match rest.split_once(':') {
        Some((k, n)) => (k, n.parse::<u32>().with_context(|| format!("--fault {text}: `{n}` is not a count"))?),
        None => (rest, 1),
    };
    let kind: OutcomeKind = kind.parse().map_err(|e: String| anyhow::anyhow!("--fault {text}: {e}"))?;
    if step.is_empty() {
        bail!("--fault {text}: name the step");
    }
    Ok(Fault { step: step.to_string(), times, kind })
}

pub(crate) fn sandbox() -> anyhow::Result<Sandbox> {
    Ok(Sandbox::new(SandboxConfig::default())?)
}

/// Checks a spec; spec errors become a usage exit (2) after printing them.
pub(crate) async fn load_workflow(sandbox: &Sandbox, spec: &Path, json: bool) -> anyhow::Result<Workflow> {
    let checked = match SpecSource::read(spec) {
        Ok(src) => Workflow::check(sandbox, src).await,
        Err(e) => Err(e),
    };
    match checked {
        Ok(wf) => {
            if !json {
                for w in &wf.warnings {
                    errln!("{w}");
                }
            }
            Ok(wf)
        }
        Err(SpecErrors(diags)) => {
            if json {
                out::json_line(&json!({"ok": false, "diagnostics": diags}))?;
            } else {
                for d in &diags {
                    errln!("{d}");
                }
            }
            let n = diags.iter().filter(|d| d.severity == Severity::Error).count();
            Err(Exit { code: Exit::USAGE, message: format!("{} has {n} error(s)", spec.display()) }.into())
        }
    }
}

pub(crate) async fn run(args: RunArgs, db: &super::runs::DbArgs) -> anyhow::Result<u8> {
    let max_input = args.max_input.map_or(crate::domain::Limits::default().max_input, crate::domain::Size::bytes);
    let input: serde_json::Value = serde_json::from_str(&args.input.read(max_input, Some("--max-input"))?)?;
    let faults = args.faults.iter().map(|f| parse_fault(f)).collect::<anyhow::Result<Vec<_>>>()?;
    let db = db.open().await?;
    let sandbox = sandbox()?;
    let wf = Arc::new(load_workflow(&sandbox, &args.spec, args.json).await?);
    rehearsal_targets_exist(&wf, &args.faults, &args.down)?;
    super::runs::run_journaled(db, wf, input, faults, args.down, args.detach, args.json).await
}

/// A `--fault` or `--server-down` that names nothing in the spec would
/// silently rehearse nothing: refused like a scenario's fault (exit 2).
fn rehearsal_targets_exist(wf: &Workflow, faults: &[String], down: &[String]) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for text in faults {
        let step = text.split_once('=').map_or(text.as_str(), |(s, _)| s);
        if let Some((p, hint)) = unknown_fault_step(&wf.spec, step) {
            let hint = hint.map(|h| format!("; {h}")).unwrap_or_default();
            problems.push(format!("--fault {text}: {p}{hint}"));
        }
    }
    for server in down {
        if let Some(p) = unknown_server(&wf.spec, server) {
            problems.push(format!("--server-down {server}: {p}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Exit { code: Exit::USAGE, message: problems.join("\nerror: ") }.into())
}

/// Prints a run report: one JSON object, or a table and the output.
pub(crate) fn print_run_report(report: &Report, json: bool) -> Result<(), out::StdoutError> {
    if json {
        return out::json_line(report);
    }
    let width = report.steps.keys().map(String::len).max().unwrap_or(4).max(4);
    errln!();
    errln!("{:width$}  {:9}  {:>8}  {:>9}  recovery", "step", "status", "attempts", "duration");
    for (path, s) in &report.steps {
        let recovery: Vec<String> = s
            .recovery
            .iter()
            .map(|r| match r {
                crate::domain::events::Recovery::Retry { attempt, kind, delay_ms, .. } => {
                    format!("retry after {kind} on attempt {attempt} (waited {delay_ms} ms)")
                }
                crate::domain::events::Recovery::BreakerOpened { .. } => "breaker opened".to_string(),
                crate::domain::events::Recovery::BreakerRejected { .. } => "breaker open: failed fast".to_string(),
                crate::domain::events::Recovery::Fallback { source } => format!("fallback ({source:?})").to_lowercase(),
                crate::domain::events::Recovery::Continued { kind, .. } => format!("continued without it ({kind})"),
            })
            .collect();
        errln!("{path:width$}  {:9}  {:>8}  {:>6} ms  {}", s.status, s.attempts, s.duration_ms, recovery.join("; "));
    }
    errln!();
    match &report.error {
        None => {
            errln!("run {} of {}: {}", report.run_id, report.workflow, report.status);
            out::json_pretty(&report.output)?;
        }
        Some(e) => {
            let at = if e.step.is_empty() { String::new() } else { format!(" at step `{}`", e.step) };
            errln!(
                "run {} of {}: failed{at}: {}: {}",
                report.run_id,
                report.workflow,
                e.kind,
                out::indented(&e.message, "    ")
            );
            if let Some(s) = report.steps.get(&e.step) {
                errln!(
                    "  after {} attempt(s){}",
                    s.attempts,
                    if s.recovery.is_empty() { "; no recovery was configured" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn describe_step(prefix: &str, name: &str, step: &StepPlan, dir: &Path, out: &mut Vec<serde_json::Value>) {
    let path = format!("{prefix}{name}");
    let what = match &step.kind {
        StepKind::Skill(s) => {
            let rel = Path::new(s.origin())
                .strip_prefix(dir)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| s.origin().to_string());
            format!("skill {rel} ({} {})", s.info().name, s.info().version)
        }
        StepKind::Script(sc) => {
            format!("{} script {} (runner {})", sc.language.as_str(), sc.filename, sc.runner.info().version)
        }
        StepKind::Tool(t) => format!("tool {} on MCP server {}", t.tool, t.server),
        StepKind::Group(g) => match &g.repeat {
            Some((until, n)) => format!("group, repeated until `{}` (at most {n} times)", until.source()),
            None => "group".to_string(),
        },
    };
    let g = &step.grants;
    let mut grants: Vec<String> = Vec::new();
    grants.extend(g.read.iter().map(|d| format!("read {d}")));
    grants.extend(g.write.iter().map(|d| format!("write {d}")));
    grants.extend(g.env.keys().map(|k| format!("env {k}")));
    grants.extend(g.inherit_env.iter().map(|k| format!("env {k} (from host)")));
    grants.extend(g.servers.iter().map(|k| format!("MCP server {k}")));
    out.push(json!({
        "step": path,
        "runs": what,
        "for_each": step.for_each.as_ref().map(|e| e.source().to_string()),
        "grants": grants,
        "timeout": crate::domain::Span(step.limits.timeout).to_string(),
        "max_memory": crate::domain::Size(step.limits.max_memory).to_string(),
        "max_disk": (!g.write.is_empty()).then(|| crate::domain::Size(step.limits.max_disk).to_string()),
        "retry": (step.retry.max_attempts > 1).then(|| format!("{} attempts on {}", step.retry.max_attempts,
            step.retry.retry_on.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))),
        "on_failure": match (&step.fallback, step.on_failure) {
            (Some(_), _) => "fallback",
            (None, crate::domain::spec::OnFailure::Continue) => "continue",
            (None, crate::domain::spec::OnFailure::Escalate) => "escalate",
        },
    }));
    if let StepKind::Group(g) = &step.kind {
        for (n, s) in &g.scope.steps {
            describe_step(&format!("{path}."), n, s, dir, out);
        }
    }
}

pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let sandbox = sandbox()?;
    let wf = load_workflow(&sandbox, &args.spec, args.json).await?;
    let dir = std::fs::canonicalize(&wf.source.dir).unwrap_or_else(|_| wf.source.dir.clone());
    let mut steps = Vec::new();
    for (n, s) in &wf.root.steps {
        describe_step("", n, s, &dir, &mut steps);
    }
    if args.json {
        out::json_line(&json!({"ok": true, "workflow": wf.spec.name, "diagnostics": wf.warnings, "steps": steps}))?;
    } else {
        for s in &steps {
            let grants = s["grants"]
                .as_array()
                .map(|g| g.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            errln!(
                "  {:24} {}{}; timeout {}, memory {}{}; grants: {}; on failure: {}{}",
                s["step"].as_str().unwrap_or_default(),
                s["runs"].as_str().unwrap_or_default(),
                s["for_each"].as_str().map(|f| format!(", for each of `{f}`")).unwrap_or_default(),
                s["timeout"].as_str().unwrap_or_default(),
                s["max_memory"].as_str().unwrap_or_default(),
                s["max_disk"].as_str().map(|d| format!(", disk writes {d}")).unwrap_or_default(),
                if grants.is_empty() { "none".to_string() } else { grants },
                s["on_failure"].as_str().unwrap_or_default(),
                s["retry"].as_str().map(|r| format!("; retry: {r}")).unwrap_or_default(),
            );
        }
        outln!("ok: {} ({} step(s)) is valid", args.spec.display(), steps.len())?;
    }
    Ok(0)
}

/// Prints the JSON Schema of the spec format.
pub(crate) fn schema() -> anyhow::Result<u8> {
    out::json_pretty(&crate::domain::spec::json_schema())?;
    Ok(0)
}
