//! Flags shared by the commands that run code: input, limits and grants.

use crate::domain::{Grants, LimitOverrides, Limits, Size, Span};
use anyhow::{Context, bail};
use std::io::Read;
use std::path::PathBuf;

/// `--input JSON|@FILE|@-`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InputArgs {
    /// The input as JSON text, `@FILE` to read it from a file, or `@-` for stdin.
    #[arg(long, short, value_name = "JSON|@FILE", default_value = "null")]
    pub(crate) input: String,
}

impl InputArgs {
    /// The input as JSON text, checked to be JSON.
    pub(crate) fn read(&self) -> anyhow::Result<String> {
        let text = if self.input == "@-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read the input from stdin")?;
            s
        } else if let Some(path) = self.input.strip_prefix('@') {
            std::fs::read_to_string(path).with_context(|| format!("cannot read the input file `{path}`"))?
        } else {
            self.input.clone()
        };
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            bail!("--input is not JSON: {e}; quote it for the shell, e.g. --input '{{\"text\": \"hi\"}}'");
        }
        Ok(text)
    }
}

/// Limits for one run; each defaults as in [`Limits::default`].
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LimitArgs {
    /// Wall-clock limit, including time blocked in host calls [default: 10s].
    #[arg(long, value_name = "DURATION")]
    timeout: Option<Span>,
    /// Fuel limit (roughly, WebAssembly instructions) [default: unmetered].
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Memory cap across all memories and tables [default: 128MiB].
    #[arg(long, value_name = "SIZE")]
    max_memory: Option<Size>,
    /// WebAssembly stack size [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    max_stack: Option<Size>,
    /// Largest output accepted [default: 16MiB].
    #[arg(long, value_name = "SIZE")]
    max_output: Option<Size>,
    /// Largest input accepted [default: 16MiB].
    #[arg(long, value_name = "SIZE")]
    max_input: Option<Size>,
    /// Captured stdout and stderr kept, each [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    max_stdio: Option<Size>,
    /// Host log messages kept; a line that does not fit is dropped whole and counted [default: 1MiB].
    #[arg(long, value_name = "SIZE")]
    max_log: Option<Size>,
}

impl LimitArgs {
    pub(crate) fn limits(&self) -> anyhow::Result<Limits> {
        let o = LimitOverrides {
            timeout: self.timeout,
            fuel: self.fuel,
            max_memory: self.max_memory,
            max_stack: self.max_stack,
            max_input: self.max_input,
            max_output: self.max_output,
            max_stdout: self.max_stdio,
            max_stderr: self.max_stdio,
            max_log: self.max_log,
        };
        Limits::default().apply(&o).context("bad limit flag")
    }
}

/// What the guest may touch; nothing unless granted.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GrantArgs {
    /// Grant read-only access to a directory (seen by the guest at the same path).
    #[arg(long = "allow-read", value_name = "DIR")]
    read: Vec<PathBuf>,
    /// Grant read-write access to a directory (seen by the guest at the same path).
    #[arg(long = "allow-write", value_name = "DIR")]
    write: Vec<PathBuf>,
    /// Pass an environment variable: `NAME` takes the host's value, `NAME=VALUE` sets one.
    #[arg(long = "allow-env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
}

impl GrantArgs {
    pub(crate) fn grants(&self) -> anyhow::Result<Grants> {
        let mut g = Grants::default();
        for (dirs, writable) in [(&self.read, false), (&self.write, true)] {
            for dir in dirs {
                let flag = if writable { "--allow-write" } else { "--allow-read" };
                let abs = std::fs::canonicalize(dir)
                    .with_context(|| format!("{flag} {}: no such directory", dir.display()))?;
                if !abs.is_dir() {
                    bail!("{flag} {}: not a directory", dir.display());
                }
                g = if writable { g.write_dir(abs) } else { g.read_dir(abs) };
            }
        }
        for spec in &self.env {
            let (name, value) = match spec.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let v = std::env::var(spec).with_context(|| {
                        format!(
                            "--allow-env {spec}: `{spec}` is not set in this environment; use {spec}=VALUE to set it"
                        )
                    })?;
                    (spec.clone(), v)
                }
            };
            if name.is_empty() {
                bail!("--allow-env {spec}: the variable needs a name");
            }
            g = g.env(name, value);
        }
        Ok(g)
    }
}
