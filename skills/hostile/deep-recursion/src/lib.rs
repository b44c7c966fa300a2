//! Hostile: unbounded, non-tail recursion that exhausts the *wasm* stack (the
//! engine's native stack, which the host limits), not Rust's shadow stack in
//! linear memory.
//!
//! `recurse` keeps everything in wasm locals (no address-taken locals, so no
//! shadow-stack frame at all), and the work after the call keeps it from being
//! turned into a loop.

use serde_json::Value;
use std::hint::black_box;
use weft_guest::SkillError;

#[inline(never)]
fn recurse(depth: u64, limit: u64) -> u64 {
    if depth >= limit {
        return depth;
    }
    // Not a tail call, and not a simple accumulator that LLVM could rewrite.
    recurse(depth + 1, limit).wrapping_mul(31).wrapping_add(depth)
}

/// Recurses `{"depth": n}` levels deep, or until the stack overflows when
/// no depth is given.
#[weft_guest::skill(name = "deep-recursion")]
fn run(input: Value) -> Result<Value, SkillError> {
    // Opaque to the optimiser, so the base case cannot be ruled out or
    // precomputed.
    let limit = black_box(input.get("depth").and_then(Value::as_u64).unwrap_or(u64::MAX));
    Ok(Value::from(recurse(0, limit)))
}
