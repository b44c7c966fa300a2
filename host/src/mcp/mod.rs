//! MCP both ways: [`client`] calls tools on MCP servers from workflows and
//! skills; [`server`] serves weft to AI agents.

pub mod client;
mod http;
pub mod server;
