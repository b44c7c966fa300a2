//! Safe wrappers over the `weft:skill/host` imports: logging and tool calls.

use std::fmt;

use crate::SkillError;

/// Severity of a log line, mirroring the WIT enum `weft:skill/host.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the skill recovered from.
    Warn,
    /// A failure.
    Error,
}

impl Level {
    /// The WIT spelling of the level: `trace`, `debug`, `info`, `warn` or `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Level> for crate::bindings::weft::skill::host::Level {
    fn from(level: Level) -> Self {
        use crate::bindings::weft::skill::host::Level as Wit;
        match level {
            Level::Trace => Wit::Trace,
            Level::Debug => Wit::Debug,
            Level::Info => Wit::Info,
            Level::Warn => Wit::Warn,
            Level::Error => Wit::Error,
        }
    }
}

/// Sends one log line to the host.
///
/// Prefer the macros [`trace!`](crate::trace), [`debug!`](crate::debug),
/// [`info!`](crate::info), [`warn!`](crate::warn) and [`error!`](crate::error),
/// which take format arguments.
///
/// The host keeps lines while they fit in the run's log budget (`max_log`,
/// 1 MiB by default, each line counting its length plus one byte); a line that
/// does not fit is dropped whole, never cut, and counted in the report's
/// `logs_dropped`.
///
/// Outside WebAssembly (for example in a skill's native unit tests) there is no
/// host: the line is written to stderr instead.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::bindings::weft::skill::host::log(level.into(), message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[weft {level}] {message}");
}

/// Calls `tool` on the MCP server `server` with JSON `arguments` and returns
/// the tool's JSON result.
///
/// The workflow must have granted the server to the step; otherwise the host
/// answers with an error. Errors from the host (denied, unknown tool, tool
/// failure, timeout) keep their kind. A result that is not valid JSON is
/// reported as a [`ErrorKind::Permanent`](crate::ErrorKind::Permanent) error.
///
/// ```no_run
/// use serde_json::json;
/// # fn main() -> Result<(), weft_guest::SkillError> {
/// let found = weft_guest::call_tool("search", "query", &json!({"q": "wasm"}))?;
/// # Ok(()) }
/// ```
///
/// Outside WebAssembly there is no host: this returns a permanent error.
pub fn call_tool(server: &str, tool: &str, arguments: &serde_json::Value) -> Result<serde_json::Value, SkillError> {
    let arguments = serde_json::to_string(arguments)
        .map_err(|e| SkillError::permanent(format!("could not serialize the arguments of {server}/{tool}: {e}")))?;
    let result = call_tool_raw(server, tool, &arguments)?;
    serde_json::from_str(&result)
        .map_err(|e| SkillError::permanent(format!("tool {server}/{tool} returned a result that is not JSON: {e}")))
}

/// Like [`call_tool`], with the arguments and result as raw JSON text.
pub fn call_tool_raw(server: &str, tool: &str, arguments: &str) -> Result<String, SkillError> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::bindings::weft::skill::host::call_tool(server, tool, arguments).map_err(SkillError::from)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = arguments;
        Err(SkillError::permanent(format!("cannot call {server}/{tool}: there is no weft host outside WebAssembly")))
    }
}

/// Logs a line at a given [`Level`], with `format!` arguments.
///
/// ```
/// weft_guest::log!(weft_guest::Level::Info, "read {} bytes", 42);
/// ```
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log($level, &::std::format!($($arg)+))
    };
}

/// Logs a line at level `trace`, with `format!` arguments.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Trace, $($arg)+) };
}

/// Logs a line at level `debug`, with `format!` arguments.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Debug, $($arg)+) };
}

/// Logs a line at level `info`, with `format!` arguments.
///
/// ```
/// let words = 3;
/// weft_guest::info!("counted {words} words");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Info, $($arg)+) };
}

/// Logs a line at level `warn`, with `format!` arguments.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Warn, $($arg)+) };
}

/// Logs a line at level `error`, with `format!` arguments.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::Level::Error, $($arg)+) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn levels_spell_like_wit() {
        let all = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];
        let names: Vec<_> = all.iter().map(|l| l.to_string()).collect();
        assert_eq!(names, ["trace", "debug", "info", "warn", "error"]);
        assert!(Level::Trace < Level::Error);
    }

    #[test]
    fn logging_works_natively() {
        log(Level::Info, "plain");
        crate::trace!("trace {}", 1);
        crate::debug!("debug {}", 2);
        crate::info!("info {x}", x = 3);
        crate::warn!("warn");
        crate::error!("error {:?}", "four");
        crate::log!(Level::Warn, "via {}", "log!");
    }

    #[test]
    fn call_tool_fails_cleanly_natively() {
        let err = call_tool("srv", "tool", &serde_json::json!({"a": 1})).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Permanent);
        assert!(err.message().contains("srv/tool"), "{err}");
    }
}
