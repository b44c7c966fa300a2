//! weft's integration tests: one binary, a module per topic. Tests run real
//! skill components built from `skills/` (`make skills` builds them into
//! `target/skills/`), read like a specification, and pair the obeyed case
//! with the violated one.

mod support;
mod workflow;

mod attack;
mod check;
mod cli;
mod crash;
mod demo;
mod fixtures;
mod grants;
mod hostile;
mod journal;
mod limits;
mod load;
mod mcp_client;
mod mcp_server;
mod scaleout;
mod scripts;
