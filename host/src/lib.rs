//! weft runs untrusted WebAssembly skills in a sandbox with hard limits and
//! composes them into workflows that always finish.
//!
//! - [`domain`] (crate `weft-domain`): specs, outcomes, limits, grants,
//!   policies, events, the clock and the event sink: plain data, no wasmtime.
//! - [`contract`]: JSON Schema data contracts (in `weft-domain`).
//! - [`sandbox`] (crate `weft-sandbox`): loading and running skill
//!   components; [`scripts`]: the script runners' host side.
//! - [`engine`]: checking and running workflows.
//! - [`journal`] (crate `weft-journal`): durable run logs, SQLite and PostgreSQL.
//! - [`distributed`]: workers sharing a PostgreSQL queue.
//! - [`mcp`]: MCP client and server.
//! - [`cli`]: the `weft` command line.
#![deny(missing_docs)]

pub mod cli;
pub use weft_domain::contract;
pub mod distributed;
pub use weft_domain as domain;
pub mod engine;
pub use weft_journal as journal;
pub mod mcp;
pub use weft_sandbox as sandbox;
pub use weft_sandbox::scripts;
