//! A CEL expression (the first line) evaluated on a JSON document (the
//! rest), which is bound as `input`, as `steps` when it is an object, and as
//! `item` and `previous`.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::Arc;
use weft::engine::expr::{Expression, Scope, interpolate};

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, doc) = text.split_once('\n').unwrap_or((text, ""));
    if source.len() > 4096 {
        return;
    }
    let input: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
    let steps = match &input {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    let scope = Scope {
        input: Arc::new(input.clone()),
        steps: Arc::new(steps),
        item: Some((input.clone(), 0)),
        iteration: Some((1, input)),
    };
    if let Ok(expr) = Expression::compile(source) {
        let _ = expr.step_refs();
        let _ = expr.variables();
        let _ = expr.as_path();
        match expr.eval(&scope) {
            Ok(v) => {
                let _ = v.to_string();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
        let _ = expr.eval(&Scope::default());
    }
    // The same text as a `${{ ... }}` template (MCP server arguments).
    let _ = interpolate(source, &scope);
});
