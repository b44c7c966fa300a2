//! The workflow engine: specs in, runs that always end out.
//!
//! - [`load`]: reading spec files, diagnostics with file, line and column.
//! - [`plan`]: checking a spec and compiling it ([`plan::Workflow::check`]).
//! - [`expr`]: CEL expressions and mappings.
//! - [`run`]: the executor.
//! - [`clock`]: injected time.
//! - [`testing`]: scenarios of a spec's testing plan (`weft test`).

mod cel_cost;
pub mod clock;
pub mod expr;
pub mod load;
pub mod plan;
pub mod run;
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use load::{Diagnostic, SpecErrors, SpecSource};
pub use plan::Workflow;
pub use run::{EventSink, Executor, Fault, Finished, MemorySink, RunOutcome, RunRequest, Tee};
