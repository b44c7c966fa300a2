//! The domain of weft, free of wasmtime, storage and protocols: outcomes,
//! limits, grants, data contracts (JSON Schema), retry and breaker policies, dependency graphs, specs,
//! events and the reports folded from them, the quantities specs are written
//! in, and the two seams every layer shares: the [`clock::Clock`] time comes
//! from and the [`sink::EventSink`] events go to. Everything here is plain
//! data and pure functions, testable without a sandbox and without sleeping.
#![deny(missing_docs)]

pub mod breaker;
pub mod clock;
pub mod contract;
pub mod dag;
pub mod events;
pub mod language;
pub mod limits;
pub mod outcome;
pub mod quantity;
pub mod retry;
pub mod sink;
pub mod spec;

pub use limits::{DirGrant, Grants, LimitError, LimitOverrides, Limits};
pub use outcome::{Failure, OutcomeKind};
pub use quantity::{Size, Span};
