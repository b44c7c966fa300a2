//! Turning whatever ended a run into exactly one [`Failure`].

use wasmtime::Trap;
use weft_domain::{Failure, OutcomeKind, Size};

/// What the sandbox knew about the run when it ended in an error.
pub(crate) struct EndState<'a> {
    /// The largest total memory the limiter refused, if any.
    pub(crate) memory_refused: Option<usize>,
    /// The memory cap in force.
    pub(crate) memory_cap: usize,
    /// The tail of the guest's stderr.
    pub(crate) stderr_tail: &'a str,
    /// The output limit in force.
    pub(crate) max_output: u64,
}

/// What wasmtime says when a host call would copy more from the guest than
/// the store's hostcall fuel allows (its error type is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// Classifies an error raised while instantiating or calling a guest.
pub(crate) fn classify(err: &wasmtime::Error, end: &EndState<'_>) -> Failure {
    let trap = err.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::Interrupt) => return Failure::new(OutcomeKind::Timeout, "the run went past its deadline"),
        Some(Trap::OutOfFuel) => return Failure::new(OutcomeKind::OutOfFuel, "the run used up its fuel"),
        Some(Trap::StackOverflow) => {
            return Failure::new(OutcomeKind::StackOverflow, "the guest exhausted its WebAssembly stack");
        }
        _ => {}
    }
    // A guest refused memory usually traps (Rust aborts on a failed
    // allocation), so the limiter's own record decides, whatever the trap.
    if let Some(asked) = end.memory_refused {
        return Failure::new(
            OutcomeKind::MemoryLimit,
            format!(
                "the guest asked for {} of memory, over its cap of {}",
                Size(asked as u64),
                Size(end.memory_cap as u64)
            ),
        );
    }
    if let Some(quota) = err.downcast_ref::<super::files::DiskQuotaExceeded>() {
        return Failure::new(OutcomeKind::OutputLimit, quota.to_string());
    }
    if format!("{err:#}").contains(HOSTCALL_FUEL_EXHAUSTED) {
        // The guest handed the host more than one call may carry: almost
        // always `run` returning an output over the limit.
        return Failure::new(
            OutcomeKind::OutputLimit,
            format!(
                "the guest handed the host more than one call may carry: its output is over the limit of {}",
                Size(end.max_output)
            ),
        );
    }
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return with_stderr(
            Failure::new(OutcomeKind::Trap, format!("the guest exited with status {} instead of returning", exit.0)),
            end,
        );
    }
    if let Some(trap) = trap {
        let mut message = trap.to_string();
        if let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() {
            let frames: Vec<String> = bt
                .frames()
                .iter()
                .take(8)
                .map(|f| match f.func_name() {
                    // `{:#}` drops the hash suffix: `std::process::abort`.
                    Some(n) => format!("{:#}", rustc_demangle::demangle(n)),
                    None => format!("func #{}", f.func_index()),
                })
                .collect();
            if !frames.is_empty() {
                message.push_str(&format!(" (in {})", frames.join(" < ")));
            }
        }
        return with_stderr(Failure::new(OutcomeKind::Trap, message), end);
    }
    let text = format!("{err:#}");
    if text.contains("maximum concurrent") || text.contains("instance allocation") {
        // The host is out of sandbox slots: worth retrying later.
        return Failure::new(OutcomeKind::Transient, format!("no sandbox slot free: {text}"));
    }
    with_stderr(Failure::new(OutcomeKind::Trap, text), end)
}

fn with_stderr(mut f: Failure, end: &EndState<'_>) -> Failure {
    if !end.stderr_tail.is_empty() {
        f.message.push_str("\nstderr: ");
        f.message.push_str(end.stderr_tail);
    }
    f
}
