//! `weft skill describe|run`.

use super::Exit;
use super::args::{GrantArgs, InputArgs, InputTooLarge, LimitArgs};
use super::out;
use crate::domain::{Failure, OutcomeKind};
use crate::sandbox::{LoadError, RunOptions, RunReport, Sandbox, SandboxConfig, Skill};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum SkillCommand {
    /// Print what a skill says about itself (name, version, schemas) as JSON.
    Describe {
        /// The skill component (`.wasm`).
        path: PathBuf,
    },
    /// Run a skill once on an input, in a fresh sandbox.
    Run(Box<RunArgs>),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The skill component (`.wasm`).
    path: PathBuf,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grants: GrantArgs,
    /// Print one JSON object on stdout instead of a readable summary.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn run(cmd: SkillCommand) -> anyhow::Result<u8> {
    match cmd {
        SkillCommand::Describe { path } => {
            let skill = load(&path, false).await?;
            out::json_pretty(skill.info())?;
            Ok(0)
        }
        SkillCommand::Run(args) => {
            let RunArgs { path, input, limits, grants, json } = *args;
            let input = match read_input(&input, &limits, json)? {
                Ok(text) => text,
                Err(code) => return Ok(code),
            };
            let opts = RunOptions { limits: limits.limits()?, grants: grants.grants()?, tools: None };
            let skill = load(&path, json).await?;
            let report = skill.run(&input, &opts).await;
            Ok(print_report(&report, json)?)
        }
    }
}

/// Reads the input of a run under `limits`. An input over `--max-input` is
/// refused as the run's `invalid_input` outcome (printed; `Err(exit code)`),
/// as soon as its size is known: it is never read whole.
pub(crate) fn read_input(input: &InputArgs, limits: &LimitArgs, json: bool) -> anyhow::Result<Result<String, u8>> {
    match input.read(limits.max_input(), Some("--max-input")) {
        Ok(text) => Ok(Ok(text)),
        Err(e) => match e.downcast::<InputTooLarge>() {
            Ok(big) => {
                let report = RunReport::refused(Failure::new(OutcomeKind::InvalidInput, big.to_string()));
                Ok(Err(print_report(&report, json)?))
            }
            Err(e) => Err(e),
        },
    }
}

/// Loads a skill; an unloadable component is a usage error (exit 2) with one
/// line naming the file, and with `--json` also a JSON error on stdout.
pub(crate) async fn load(path: &Path, json: bool) -> anyhow::Result<Skill> {
    let sandbox = Sandbox::new(SandboxConfig::one_shot())?;
    sandbox.load_file(path).await.map_err(|e: LoadError| {
        if json {
            let _ = out::json_line(&json!({"status": "error", "error": {"kind": "load", "message": e.to_string()}}));
        }
        Exit { code: Exit::USAGE, message: e.to_string() }.into()
    })
}

/// Prints a run report; returns the exit code (0 ok, 1 failed). What the
/// guest wrote is shown escaped and indented (see [`out`]).
pub(crate) fn print_report(r: &RunReport, json: bool) -> Result<u8, out::StdoutError> {
    if json {
        out::json_line(&r.to_json())?;
    } else {
        for line in &r.logs {
            errln!("guest {}: {}", line.level.as_str(), out::indented(&line.message, "    "));
        }
        if r.logs_dropped > 0 {
            errln!("({} more log lines dropped: over the log budget)", r.logs_dropped);
        }
        for (name, c) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            if !c.text.is_empty() {
                errln!("--- guest {name}{} ---", if c.truncated() { " (truncated)" } else { "" });
                errln!("  {}", out::indented(c.tail(4096), "  "));
            }
        }
        let fuel = r.fuel_consumed.map(|f| format!(", {f} fuel")).unwrap_or_default();
        match &r.result {
            Ok(output) => {
                errln!("ok in {:.1} ms{fuel}", r.duration.as_secs_f64() * 1000.0);
                out::json_pretty(output)?;
            }
            Err(f) => {
                errln!(
                    "failed after {:.1} ms{fuel}: {}: {}",
                    r.duration.as_secs_f64() * 1000.0,
                    f.kind,
                    out::indented(&f.message, "    ")
                )
            }
        }
    }
    Ok(if r.result.is_ok() { 0 } else { Exit::FAILED })
}
