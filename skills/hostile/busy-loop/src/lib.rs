//! Hostile: spins forever doing arithmetic, never calling the host. Only
//! preemption (epoch interruption or fuel) can stop it.

use serde_json::Value;
use std::hint::black_box;
use weft_guest::SkillError;

/// Loops forever.
#[weft_guest::skill(name = "busy-loop")]
fn run(_input: Value) -> Result<Value, SkillError> {
    let mut x: u64 = black_box(1);
    loop {
        // A linear congruential step; black_box keeps the optimiser from
        // proving anything about `x` and deleting the loop.
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
    }
}
