//! `weft skill describe|run`.

use super::Exit;
use super::args::{GrantArgs, InputArgs, LimitArgs};
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
            println!("{}", serde_json::to_string_pretty(skill.info())?);
            Ok(0)
        }
        SkillCommand::Run(args) => {
            let RunArgs { path, input, limits, grants, json } = *args;
            let input = input.read()?;
            let opts = RunOptions { limits: limits.limits()?, grants: grants.grants()?, tools: None };
            let skill = load(&path, json).await?;
            let report = skill.run(&input, &opts).await;
            Ok(print_report(&report, json))
        }
    }
}

/// Loads a skill; an unloadable component is a usage error (exit 2) with one
/// line naming the file, and with `--json` also a JSON error on stdout.
pub(crate) async fn load(path: &Path, json: bool) -> anyhow::Result<Skill> {
    let sandbox = Sandbox::new(SandboxConfig::one_shot())?;
    sandbox.load_file(path).await.map_err(|e: LoadError| {
        if json {
            println!("{}", json!({"status": "error", "error": {"kind": "load", "message": e.to_string()}}));
        }
        Exit { code: Exit::USAGE, message: e.to_string() }.into()
    })
}

/// Prints a run report; returns the exit code (0 ok, 1 failed).
pub(crate) fn print_report(r: &RunReport, json: bool) -> u8 {
    if json {
        println!("{}", r.to_json());
    } else {
        for line in &r.logs {
            eprintln!("guest {}: {}", line.level.as_str(), line.message);
        }
        if r.logs_dropped > 0 {
            eprintln!("({} more log lines dropped: over the log budget)", r.logs_dropped);
        }
        for (name, c) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            if !c.text.is_empty() {
                eprintln!("--- guest {name}{} ---", if c.truncated() { " (truncated)" } else { "" });
                eprintln!("{}", c.tail(4096));
            }
        }
        let fuel = r.fuel_consumed.map(|f| format!(", {f} fuel")).unwrap_or_default();
        match &r.result {
            Ok(output) => {
                eprintln!("ok in {:.1} ms{fuel}", r.duration.as_secs_f64() * 1000.0);
                println!("{}", serde_json::to_string_pretty(output).unwrap_or_default());
            }
            Err(f) => {
                eprintln!("failed after {:.1} ms{fuel}: {}: {}", r.duration.as_secs_f64() * 1000.0, f.kind, f.message)
            }
        }
    }
    if r.result.is_ok() { 0 } else { Exit::FAILED }
}
