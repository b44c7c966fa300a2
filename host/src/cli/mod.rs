//! The `weft` command line: argument parsing, one module per subcommand, and
//! the one place that prints errors and picks the exit code.
//!
//! Exit codes: 0 success, 1 the skill or workflow failed, 2 usage errors,
//! spec errors and components that cannot be loaded, 141 stdout was closed
//! before weft had written everything (see `out.rs`).

#[macro_use]
mod out;
mod args;
mod mcp;
mod progress;
mod runs;
mod script;
mod skill;
mod test;
mod worker;
mod workflow;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Runs untrusted WebAssembly skills in a sandbox and composes them into
/// workflows that always finish.
#[derive(Debug, Parser)]
#[command(name = "weft", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    db: runs::DbArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow spec to the end and report what happened.
    Run(workflow::RunArgs),
    /// Continue an interrupted (or failed) run: finished steps are not run again.
    Resume(runs::ResumeArgs),
    /// List journaled runs, newest first; `weft runs show ID` shows one.
    Runs(runs::RunsArgs),
    /// Check a workflow spec without running it.
    Check(workflow::CheckArgs),
    /// Run queued attempts and detached runs from a shared PostgreSQL journal.
    Worker(worker::WorkerArgs),
    /// Run a spec's testing plan: every scenario, with its faults, judged against what it expects.
    Test(test::TestArgs),
    /// Print the JSON Schema of the workflow spec format.
    Schema,
    /// Run generated Python or JavaScript scripts in the sandbox.
    #[command(subcommand)]
    Script(script::ScriptCommand),
    /// Inspect and run skill components.
    #[command(subcommand)]
    Skill(skill::SkillCommand),
    /// Serve weft to AI agents over MCP: run_script, run_workflow and the skills as tools (stdio,
    /// or streamable HTTP with --http).
    Mcp(mcp::McpArgs),
}

/// An error that ends the process with a chosen exit code. Anything else
/// that reaches `main` is a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Exit {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Exit {
    /// The skill or workflow ran and failed; its report is already printed.
    pub(crate) const FAILED: u8 = 1;
    /// Bad usage, a bad spec, or a component that cannot be loaded.
    pub(crate) const USAGE: u8 = 2;
}

/// How long, once a command has finished, weft waits for work still on the
/// async runtime's blocking threads. A guest's file operation can hang there
/// past the run that made it (the run itself ended at its deadline): the
/// process does not wait for it.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(Exit::USAGE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => workflow::run(args, &cli.db).await,
            Command::Resume(args) => runs::resume(args, &cli.db).await,
            Command::Runs(args) => runs::runs(args, &cli.db).await,
            Command::Check(args) => workflow::check(args).await,
            Command::Test(args) => test::run(args).await,
            Command::Worker(args) => worker::run(args, &cli.db).await,
            Command::Schema => workflow::schema(),
            Command::Script(cmd) => script::run(cmd).await,
            Command::Skill(cmd) => skill::run(cmd).await,
            Command::Mcp(args) => mcp::run(args).await,
        }
    });
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    exit_code(result)
}

/// The one place that turns a command's result into an exit code and prints
/// its error, with the chain of causes.
fn exit_code(result: anyhow::Result<u8>) -> ExitCode {
    let err = match result {
        Ok(code) => return ExitCode::from(code),
        Err(err) => err,
    };
    if let Some(exit) = err.downcast_ref::<Exit>() {
        if !exit.message.is_empty() {
            errln!("error: {}", exit.message);
        }
        return ExitCode::from(exit.code);
    }
    // The reader of stdout went away (`weft runs --json | head -1`): what
    // weft did is done (a run is journaled before it is printed), and there
    // is nobody to tell.
    if let Some(closed) = err.chain().find_map(|c| c.downcast_ref::<out::StdoutError>())
        && closed.is_closed()
    {
        return ExitCode::from(out::CLOSED_STDOUT);
    }
    errln!("error: {err}");
    for cause in err.chain().skip(1) {
        errln!("  caused by: {cause}");
    }
    ExitCode::from(Exit::USAGE)
}
