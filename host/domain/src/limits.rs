//! What one sandboxed run may use, and what it is granted.
//!
//! [`Limits`] is complete: every field has a default. [`LimitOverrides`] is
//! what a spec, a step or a command line says, layered over the defaults with
//! [`Limits::apply`].

use super::quantity::{Size, Span};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Hard limits on one run of a skill. Every limit has a default; see [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Wall-clock time for one call, including time blocked in host calls. Default: 10s.
    pub timeout: Duration,
    /// Fuel (roughly, WebAssembly instructions) for one call. Default: none (unmetered).
    pub fuel: Option<u64>,
    /// Memory across all of the store's linear memories and tables. Default: 128MiB.
    pub max_memory: u64,
    /// WebAssembly stack size. Default: 1MiB.
    pub max_stack: u64,
    /// Largest input accepted. Default: 16MiB.
    pub max_input: u64,
    /// Largest output accepted. Default: 16MiB.
    pub max_output: u64,
    /// Captured standard output; the rest is dropped and marked truncated. Default: 1MiB.
    pub max_stdout: u64,
    /// Captured standard error; the rest is dropped and marked truncated. Default: 1MiB.
    pub max_stderr: u64,
    /// Bytes of host `log` messages kept; the rest are counted and dropped. Default: 1MiB.
    pub max_log: u64,
    /// Bytes the guest may write to files in its granted directories; a
    /// write past it ends the run as `output_limit`. Default: 1GiB.
    pub max_disk: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            fuel: None,
            max_memory: 128 * Size::MIB,
            max_stack: Size::MIB,
            max_input: 16 * Size::MIB,
            max_output: 16 * Size::MIB,
            max_stdout: Size::MIB,
            max_stderr: Size::MIB,
            max_log: Size::MIB,
            max_disk: Size::GIB,
        }
    }
}

/// The largest WebAssembly stack a run may ask for.
pub const MAX_STACK_CEILING: u64 = 64 * Size::MIB;
/// The largest memory cap a run may ask for (the 32-bit address space).
pub const MAX_MEMORY_CEILING: u64 = 4 * Size::GIB;

/// Limits as written in a spec or on a command line: every field optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// Wall-clock time for one attempt, including time blocked in host calls.
    /// Example: `timeout = "5s"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Span>,
    /// Fuel for one attempt (roughly, WebAssembly instructions); unmetered when absent.
    /// Example: `fuel = 50_000_000`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Memory cap across all linear memories and tables.
    /// Example: `max_memory = "64MiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<Size>,
    /// WebAssembly stack size.
    /// Example: `max_stack = "2MiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stack: Option<Size>,
    /// Largest input accepted.
    /// Example: `max_input = "1MiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input: Option<Size>,
    /// Largest output accepted.
    /// Example: `max_output = "1MiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<Size>,
    /// Captured standard output kept.
    /// Example: `max_stdout = "64KiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stdout: Option<Size>,
    /// Captured standard error kept.
    /// Example: `max_stderr = "64KiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stderr: Option<Size>,
    /// Bytes of host log messages kept.
    /// Example: `max_log = "256KiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log: Option<Size>,
    /// Bytes the step may write to files in its granted directories, per
    /// attempt; past it the attempt ends as `output_limit`.
    /// Example: `max_disk = "100MiB"`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk: Option<Size>,
}

impl LimitOverrides {
    /// `self`, with the fields it leaves open taken from `lower`.
    pub fn or(&self, lower: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            timeout: self.timeout.or(lower.timeout),
            fuel: self.fuel.or(lower.fuel),
            max_memory: self.max_memory.or(lower.max_memory),
            max_stack: self.max_stack.or(lower.max_stack),
            max_input: self.max_input.or(lower.max_input),
            max_output: self.max_output.or(lower.max_output),
            max_stdout: self.max_stdout.or(lower.max_stdout),
            max_stderr: self.max_stderr.or(lower.max_stderr),
            max_log: self.max_log.or(lower.max_log),
            max_disk: self.max_disk.or(lower.max_disk),
        }
    }
}

/// Why a set of limits cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A limit is zero where zero makes no sense.
    #[error("`{0}` must be greater than zero")]
    Zero(&'static str),
    /// A limit is over what the sandbox supports.
    #[error("`{name}` is {value}, over the most the sandbox supports ({max})")]
    TooLarge {
        /// The limit's name.
        name: &'static str,
        /// What was asked for.
        value: Size,
        /// The most allowed.
        max: Size,
    },
}

impl Limits {
    /// These limits with every field that `o` sets replaced, then checked.
    pub fn apply(&self, o: &LimitOverrides) -> Result<Limits, LimitError> {
        let l = Limits {
            timeout: o.timeout.map_or(self.timeout, Span::get),
            fuel: o.fuel.or(self.fuel),
            max_memory: o.max_memory.map_or(self.max_memory, Size::bytes),
            max_stack: o.max_stack.map_or(self.max_stack, Size::bytes),
            max_input: o.max_input.map_or(self.max_input, Size::bytes),
            max_output: o.max_output.map_or(self.max_output, Size::bytes),
            max_stdout: o.max_stdout.map_or(self.max_stdout, Size::bytes),
            max_stderr: o.max_stderr.map_or(self.max_stderr, Size::bytes),
            max_log: o.max_log.map_or(self.max_log, Size::bytes),
            max_disk: o.max_disk.map_or(self.max_disk, Size::bytes),
        };
        l.check()?;
        Ok(l)
    }

    /// Checks that the limits are usable.
    pub fn check(&self) -> Result<(), LimitError> {
        if self.timeout.is_zero() {
            return Err(LimitError::Zero("timeout"));
        }
        if self.fuel == Some(0) {
            return Err(LimitError::Zero("fuel"));
        }
        if self.max_memory == 0 {
            return Err(LimitError::Zero("max_memory"));
        }
        if self.max_stack == 0 {
            return Err(LimitError::Zero("max_stack"));
        }
        for (name, value, max) in
            [("max_memory", self.max_memory, MAX_MEMORY_CEILING), ("max_stack", self.max_stack, MAX_STACK_CEILING)]
        {
            if value > max {
                return Err(LimitError::TooLarge { name, value: Size(value), max: Size(max) });
            }
        }
        Ok(())
    }

    /// `self` lowered to `ceiling` on every limit (so a caller cannot raise
    /// limits past what an operator allowed).
    pub fn clamp_to(&self, ceiling: &Limits) -> Limits {
        Limits {
            timeout: self.timeout.min(ceiling.timeout),
            fuel: match (self.fuel, ceiling.fuel) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (None, b) => b,
                (a, None) => a,
            },
            max_memory: self.max_memory.min(ceiling.max_memory),
            max_stack: self.max_stack.min(ceiling.max_stack),
            max_input: self.max_input.min(ceiling.max_input),
            max_output: self.max_output.min(ceiling.max_output),
            max_stdout: self.max_stdout.min(ceiling.max_stdout),
            max_stderr: self.max_stderr.min(ceiling.max_stderr),
            max_log: self.max_log.min(ceiling.max_log),
            max_disk: self.max_disk.min(ceiling.max_disk),
        }
    }
}

/// A host directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (an absolute path inside the sandbox).
    pub guest: String,
    /// Whether the guest may create, change and delete files in it.
    pub writable: bool,
}

/// What a run is granted beyond computing. The default grants nothing: no
/// files, no environment, no network, no MCP servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// Directories, each read-only or read-write.
    pub dirs: Vec<DirGrant>,
    /// Environment variables, with the values the guest sees.
    pub env: BTreeMap<String, String>,
    /// MCP servers whose tools the guest may call through `call-tool`.
    pub mcp_servers: Vec<String>,
}

impl Grants {
    /// Grants read access to `host`, seen by the guest at the same path.
    pub fn read_dir(mut self, host: impl Into<PathBuf>) -> Self {
        let host = host.into();
        let guest = host.to_string_lossy().into_owned();
        self.dirs.push(DirGrant { host, guest, writable: false });
        self
    }

    /// Grants read and write access to `host`, seen by the guest at the same path.
    pub fn write_dir(mut self, host: impl Into<PathBuf>) -> Self {
        let host = host.into();
        let guest = host.to_string_lossy().into_owned();
        self.dirs.push(DirGrant { host, guest, writable: true });
        self
    }

    /// Grants the environment variable `name` with `value`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let o = LimitOverrides {
            timeout: Some("250ms".parse().unwrap()),
            max_memory: Some("8MiB".parse().unwrap()),
            ..Default::default()
        };
        let l = Limits::default().apply(&o).unwrap();
        assert_eq!(l.timeout, Duration::from_millis(250));
        assert_eq!(l.max_memory, 8 * Size::MIB);
        assert_eq!(l.max_output, Limits::default().max_output);
    }

    #[test]
    fn zero_and_oversized_limits_are_refused() {
        let zero = LimitOverrides { timeout: Some(Span(Duration::ZERO)), ..Default::default() };
        assert_eq!(Limits::default().apply(&zero).unwrap_err(), LimitError::Zero("timeout"));
        let huge = LimitOverrides { max_memory: Some(Size(8 * Size::GIB)), ..Default::default() };
        assert!(matches!(Limits::default().apply(&huge).unwrap_err(), LimitError::TooLarge { name: "max_memory", .. }));
    }

    #[test]
    fn layered_overrides_prefer_the_upper_layer() {
        let step = LimitOverrides { fuel: Some(5), ..Default::default() };
        let workflow = LimitOverrides { fuel: Some(9), timeout: Some("1s".parse().unwrap()), ..Default::default() };
        let merged = step.or(&workflow);
        assert_eq!(merged.fuel, Some(5));
        assert_eq!(merged.timeout.unwrap().get(), Duration::from_secs(1));
    }

    #[test]
    fn clamping_never_raises_a_limit() {
        let ceiling = Limits { timeout: Duration::from_secs(2), fuel: Some(100), ..Limits::default() };
        let asked = Limits { timeout: Duration::from_secs(60), fuel: None, ..Limits::default() };
        let got = asked.clamp_to(&ceiling);
        assert_eq!(got.timeout, Duration::from_secs(2));
        assert_eq!(got.fuel, Some(100));
    }

    #[test]
    fn nothing_is_granted_by_default() {
        let g = Grants::default();
        assert!(g.dirs.is_empty() && g.env.is_empty() && g.mcp_servers.is_empty());
    }
}
