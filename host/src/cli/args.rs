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

/// The input is over the size limit; found while reading, before it is read whole.
#[derive(Debug, thiserror::Error)]
#[error("the input is {size}, over the limit of {}{}", Size(*.max), flag.map(|f| format!("; {f} raises it")).unwrap_or_default())]
pub(crate) struct InputTooLarge {
    /// How large it is (`more than N` when read from a stream).
    size: String,
    /// The limit.
    pub(crate) max: u64,
    /// The flag that raises it, if any.
    flag: Option<&'static str>,
}

impl InputArgs {
    /// The input as JSON text, checked to be JSON and to be at most `max`
    /// bytes: a larger one is refused as soon as that is known (from the
    /// file's size, or after `max` bytes of stdin), never read whole.
    /// `flag` names the option that raises the limit.
    pub(crate) fn read(&self, max: u64, flag: Option<&'static str>) -> anyhow::Result<String> {
        let too_large = |size: String| InputTooLarge { size, max, flag };
        let capped = |r: &mut dyn Read, what: &str| -> anyhow::Result<String> {
            let mut bytes = Vec::new();
            r.take(max.saturating_add(1)).read_to_end(&mut bytes).with_context(|| format!("cannot read {what}"))?;
            if bytes.len() as u64 > max {
                return Err(too_large(format!("more than {}", Size(max))).into());
            }
            String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{what} is not UTF-8 text"))
        };
        let text = if self.input == "@-" {
            capped(&mut std::io::stdin().lock(), "the input from stdin")?
        } else if let Some(path) = self.input.strip_prefix('@') {
            let mut file = std::fs::File::open(path).with_context(|| format!("cannot read the input file `{path}`"))?;
            if let Ok(meta) = file.metadata()
                && meta.len() > max
            {
                return Err(too_large(Size(meta.len()).to_string()).into());
            }
            capped(&mut file, &format!("the input file `{path}`"))?
        } else if self.input.len() as u64 > max {
            return Err(too_large(Size(self.input.len() as u64).to_string()).into());
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
    /// Bytes the guest may write to files in its granted directories; past it the run ends as
    /// output_limit [default: 1GiB].
    #[arg(long, value_name = "SIZE")]
    max_disk: Option<Size>,
}

impl LimitArgs {
    /// The largest input these limits accept, before they are checked.
    pub(crate) fn max_input(&self) -> u64 {
        self.max_input.map_or(Limits::default().max_input, Size::bytes)
    }

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
            max_disk: self.max_disk,
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
