//! `weft script run`: a generated Python or JavaScript script, in a fresh
//! sandbox, as easily as running it with `python3` or `node`.

use super::Exit;
use super::args::{GrantArgs, InputArgs, LimitArgs};
use super::out;
use super::skill::print_report;
use crate::sandbox::{RunOptions, Sandbox, SandboxConfig};
use crate::scripts::{Language, load_runner, runner_input};
use anyhow::Context;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ScriptCommand {
    /// Run a script's `run(input)` once in a fresh sandbox.
    Run(Box<ScriptRunArgs>),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ScriptRunArgs {
    /// The script (`.py`, or `.js`/`.mjs`), defining `run(input)`.
    file: PathBuf,
    /// The language, when the extension does not say.
    #[arg(long, value_name = "python|javascript")]
    language: Option<Language>,
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

pub(crate) async fn run(cmd: ScriptCommand) -> anyhow::Result<u8> {
    let ScriptCommand::Run(args) = cmd;
    let ScriptRunArgs { file, language, input, limits, grants, json } = *args;
    let lang = match language.or_else(|| Language::of_path(&file)) {
        Some(l) => l,
        None => {
            return Err(Exit {
                code: Exit::USAGE,
                message: format!(
                    "{}: cannot tell the language from the extension; use .py or .js, or --language",
                    file.display()
                ),
            }
            .into());
        }
    };
    let source =
        std::fs::read_to_string(&file).with_context(|| format!("cannot read the script {}", file.display()))?;
    let input: serde_json::Value = match super::skill::read_input(&input, &limits, json)? {
        Ok(text) => serde_json::from_str(&text)?,
        Err(code) => return Ok(code),
    };
    let opts = RunOptions { limits: limits.limits()?, grants: grants.grants()?, tools: None };
    let sandbox = Sandbox::new(SandboxConfig::one_shot())?;
    let runner = load_runner(&sandbox, lang).await.map_err(|e| {
        if json {
            let _ = out::json_line(&json!({"status": "error", "error": {"kind": "load", "message": e.to_string()}}));
        }
        Exit { code: Exit::USAGE, message: e.to_string() }
    })?;
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into());
    let report = runner.run(&runner_input(&source, &input, &name), &opts).await;
    Ok(print_report(&report, json)?)
}
