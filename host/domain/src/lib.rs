//! The domain of weft, free of wasmtime: outcomes, limits, grants, retry and
//! breaker policies, dependency graphs and the quantities specs are written
//! in. Everything here is plain data and pure functions, testable without a
//! sandbox and without sleeping.

pub mod breaker;
pub mod dag;
pub mod events;
pub mod language;
pub mod limits;
pub mod outcome;
pub mod quantity;
pub mod retry;
pub mod spec;

pub use limits::{DirGrant, Grants, LimitError, LimitOverrides, Limits};
pub use outcome::{Failure, OutcomeKind};
pub use quantity::{Size, Span};
