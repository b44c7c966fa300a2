//! The per-run state held in a store, and the one place that builds a store
//! from [`Limits`] and [`Grants`]: deny by default, grant by declaration.

use super::capture::Capture;
use super::files::DiskQuota;
use super::host::ToolAccess;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use weft_domain::{Grants, Limits};

/// Severity of a guest log line (mirrors the WIT `level` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Finest detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line a guest logged through the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

/// Guest log lines, kept up to a byte budget; the rest are counted.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    pub(crate) lines: Vec<LogLine>,
    budget: u64,
    pub(crate) dropped: u64,
}

impl LogBuffer {
    pub(crate) fn new(budget: u64) -> Self {
        LogBuffer { lines: Vec::new(), budget, dropped: 0 }
    }

    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
        let cost = message.len() as u64 + 1;
        if cost > self.budget {
            self.dropped += 1;
            return;
        }
        self.budget -= cost;
        self.lines.push(LogLine { level, message });
    }
}

/// Caps the memory of all of a store's linear memories and tables together,
/// and remembers whether it ever refused, because a guest that is refused
/// memory usually traps rather than reporting it.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    cap: usize,
    in_use: usize,
    /// The largest total that was asked for and refused.
    pub(crate) refused: Option<usize>,
}

impl MemoryCap {
    pub(crate) fn new(cap: u64) -> Self {
        MemoryCap { cap: usize::try_from(cap).unwrap_or(usize::MAX), in_use: 0, refused: None }
    }

    fn grow(&mut self, current: usize, desired: usize) -> bool {
        let total = self.in_use.saturating_sub(current).saturating_add(desired);
        if total > self.cap {
            self.refused = Some(self.refused.map_or(total, |r| r.max(total)));
            false
        } else {
            self.in_use = total;
            true
        }
    }

    pub(crate) fn cap(&self) -> usize {
        self.cap
    }
}

/// Bytes a table element takes, per wasmtime's own accounting.
const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(self.grow(current, desired))
    }

    fn table_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(self.grow(current.saturating_mul(TABLE_ELEMENT_BYTES), desired.saturating_mul(TABLE_ELEMENT_BYTES)))
    }

    fn instances(&self) -> usize {
        1_000
    }
    fn tables(&self) -> usize {
        1_000
    }
    fn memories(&self) -> usize {
        100
    }
}

/// Everything one run's store holds.
pub(crate) struct RunState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
    pub(crate) logs: LogBuffer,
    pub(crate) tools: ToolAccess,
    /// What the run may still write to files (see `files.rs`).
    pub(crate) disk: Arc<DiskQuota>,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A grant that cannot be honoured.
#[derive(Debug, thiserror::Error)]
#[error("cannot grant directory `{path}`: {source}")]
pub struct GrantError {
    /// The directory asked for.
    pub path: String,
    /// Why it cannot be opened.
    #[source]
    pub source: std::io::Error,
}

/// The handles a caller keeps to read what the guest wrote.
pub(crate) struct Captures {
    pub(crate) stdout: Capture,
    pub(crate) stderr: Capture,
}

/// Builds the store for one run. This is the only place that turns limits and
/// grants into wasmtime and WASI settings.
pub(crate) fn new_store(
    engine: &Engine,
    limits: &Limits,
    grants: &Grants,
    tools: ToolAccess,
    deadline: Instant,
) -> Result<(Store<RunState>, Captures), GrantError> {
    let stdout = Capture::new(limits.max_stdout);
    let stderr = Capture::new(limits.max_stderr);

    // WasiCtxBuilder starts from nothing: stdin closed, no environment, no
    // arguments, no preopens. Sockets are switched off outright, not merely
    // left without allowed addresses.
    let mut wasi = WasiCtxBuilder::new();
    wasi.stdout(stdout.clone())
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    for (name, value) in &grants.env {
        wasi.env(name, value);
    }
    for dir in &grants.dirs {
        let perms = if dir.writable { FsPerms::ReadWrite } else { FsPerms::ReadOnly };
        wasi.preopened_dir(&dir.host, &dir.guest, perms).map_err(|e| GrantError {
            path: dir.host.display().to_string(),
            source: e.downcast::<std::io::Error>().unwrap_or_else(|e| std::io::Error::other(e.to_string())),
        })?;
    }

    let state = RunState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        memory: MemoryCap::new(limits.max_memory),
        logs: LogBuffer::new(limits.max_log),
        tools,
        disk: DiskQuota::new(limits.max_disk),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.memory);
    // The most one call may carry from the guest to the host: the output
    // (returned from `run`), a log line or a tool call's arguments. Past it
    // wasmtime refuses to copy the data, and the run ends as `output_limit`
    // (see `classify.rs`), before a huge string is copied at all.
    store.set_hostcall_fuel(hostcall_budget(limits));
    if let Some(fuel) = limits.fuel {
        // The engine for this run meters fuel (see `EngineProfile`).
        store.set_fuel(fuel).expect("fuel engine selected for a fuelled run");
    }
    // Each epoch tick yields to the executor, so the outer timeout can fire
    // and other runs make progress; past the deadline the guest is stopped.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if Instant::now() >= deadline { Ok(UpdateDeadline::Interrupt) } else { Ok(UpdateDeadline::Yield(1)) }
    });
    Ok((store, Captures { stdout, stderr }))
}

/// Bytes one host call may take from the guest: the larger of the output
/// and log limits, and at least 1 MiB (for tool calls' arguments), with room
/// for the call's other arguments.
pub(crate) fn hostcall_budget(limits: &Limits) -> usize {
    let bytes = limits.max_output.max(limits.max_log).max(weft_domain::Size::MIB) + 64 * weft_domain::Size::KIB;
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cap_counts_all_memories_together() {
        let mut cap = MemoryCap::new(100);
        assert!(cap.grow(0, 60));
        assert!(cap.grow(0, 40), "a second memory fits in what is left");
        assert!(!cap.grow(40, 41), "one byte over the cap is refused");
        assert_eq!(cap.refused, Some(101));
        assert!(cap.grow(60, 10), "shrinking the first makes room");
    }

    #[test]
    fn log_budget_drops_and_counts_the_excess() {
        let mut logs = LogBuffer::new(12);
        logs.push(LogLevel::Info, "hello".into());
        logs.push(LogLevel::Info, "world".into());
        logs.push(LogLevel::Warn, "over".into());
        assert_eq!(logs.lines.len(), 2);
        assert_eq!(logs.dropped, 1);
    }
}
