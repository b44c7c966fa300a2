//! weft runs untrusted WebAssembly skills in a sandbox with hard limits and
//! composes them into workflows that always finish.
//!
//! - [`domain`]: outcomes, limits, grants: plain data, no wasmtime.
//! - [`contract`]: JSON Schema data contracts.
//! - [`sandbox`]: loading and running skill components.
//! - [`engine`]: checking and running workflows.
//! - [`journal`]: durable run logs, resume, run history.
//! - [`distributed`]: workers sharing a PostgreSQL queue.
//! - [`mcp`]: MCP client and server.
//! - [`cli`]: the `weft` command line.
#![deny(missing_docs)]

pub mod cli;
pub mod contract;
pub mod distributed;
pub use weft_domain as domain;
pub mod engine;
pub use weft_journal as journal;
pub mod mcp;
pub mod sandbox;
pub mod scripts;
