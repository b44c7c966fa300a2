//! One JSON-RPC line as `weft mcp` reads it from a client; a tools/call
//! request goes to `WeftMcp::call`. Any other JSON object is also used as the
//! arguments of each built-in tool. The server exposes no directories and has
//! no runners, so nothing reaches a sandbox run: inline specs can only run
//! steps that need no component.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonObject, JsonRpcMessage};
use serde_json::Value;
use std::sync::OnceLock;
use weft::mcp::server::{McpServerConfig, WeftMcp};

fn server() -> &'static WeftMcp {
    static S: OnceLock<WeftMcp> = OnceLock::new();
    S.get_or_init(|| {
        let sandbox = common::sandbox().clone();
        common::runtime()
            .block_on(WeftMcp::start(sandbox, McpServerConfig::default()))
            .expect("the MCP server starts with no directories")
    })
}

fn call(name: &str, args: Option<JsonObject>) {
    let server = server();
    match common::runtime().block_on(server.call(name, args)) {
        Ok(result) => {
            let _ = serde_json::to_string(&result).expect("a tool result serialises");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let line = match data.iter().position(|&b| b == b'\n') {
        Some(i) => &data[..i],
        None => data,
    };
    if let Ok(msg) = serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        let _ = serde_json::to_string(&msg).expect("a parsed message serialises");
        if let JsonRpcMessage::Request(req) = msg
            && let ClientRequest::CallToolRequest(r) = req.request
        {
            call(&r.params.name, r.params.arguments);
        }
        return;
    }
    let Ok(Value::Object(args)) = serde_json::from_slice::<Value>(line) else {
        // Not JSON: the bytes as an inline spec.
        if let Ok(text) = std::str::from_utf8(data) {
            let mut args = JsonObject::new();
            args.insert("spec".into(), Value::String(text.to_string()));
            call("run_workflow", Some(args));
        }
        return;
    };
    for tool in ["list_skills", "run_workflow", "run_script"] {
        call(tool, Some(args.clone()));
    }
});
