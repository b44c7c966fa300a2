//! What crosses the guest boundary: guest output text parsed as JSON,
//! checked against fixed contracts, wrapped as a script runner's input and
//! round-tripped; and the same value taken as a schema someone else chose
//! (`Contract::guarded`, as for a skill's declared schema).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;
use weft::contract::Contract;
use weft::scripts::runner_input;

fn contracts() -> &'static [Contract] {
    static C: OnceLock<Vec<Contract>> = OnceLock::new();
    C.get_or_init(|| {
        [
            json!(true),
            // The word-count skill's output.
            json!({"type": "object", "required": ["words"], "properties": {"words": {"type": "integer", "minimum": 0}}}),
            // A spec's input schema (docs-update).
            json!({"type": "object", "required": ["repo", "commit", "out"], "properties": {
                "repo": {"type": "string"}, "commit": {"type": "string", "pattern": "^[A-Za-z0-9_./-]+$"},
                "out": {"type": "string"},
                "required_sections": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}}),
            // Nested arrays, combinators and formats.
            json!({"type": "array", "maxItems": 100, "items": {"anyOf": [
                {"type": "string", "maxLength": 64},
                {"type": "number", "multipleOf": 0.5},
                {"type": "object", "additionalProperties": {"$ref": "#"}},
                {"type": "null"}]}}),
        ]
        .into_iter()
        .map(|s| Contract::guarded(s).expect("the fixed schemas compile"))
        .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() > common::MAX_INPUT {
        return;
    }
    let text = String::from_utf8_lossy(data);
    let Ok(value) = serde_json::from_str::<Value>(&text) else { return };
    for c in contracts() {
        if let Err(v) = c.check(&value) {
            assert!(!v.0.is_empty(), "a refusal names a violation");
            let _ = v.to_string();
        }
    }
    // Wrapping and round-tripping keeps the value.
    let wrapped = runner_input(&text, &value, "script.py");
    let back: Value = serde_json::from_str(&wrapped).expect("runner_input is JSON");
    assert_eq!(back["input"], value, "the input survives wrapping");
    assert_eq!(back["source"].as_str(), Some(&*text), "the source survives wrapping");
    let again: Value = serde_json::from_str(&value.to_string()).expect("serialised JSON parses");
    assert_eq!(again, value, "JSON round-trips");
    // The value as a schema a skill declared.
    if let Ok(c) = Contract::guarded(value.clone()) {
        let _ = c.accepts_anything();
        if let Err(v) = c.check(&value) {
            let _ = v.to_string();
        }
    }
});
