//! The workflow engine: specs in, runs that always end out.

pub mod expr;
